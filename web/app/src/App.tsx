// Routes by role: patients book and see their appointments, clinicians watch the board, admins
// run the fleet. Not logged in: the login page.
import { Navigate, Route, Routes } from 'react-router';

import { Layout } from './components/Layout';
import { Loading } from './components/Status';
import { AlertsBoard } from './pages/AlertsBoard';
import { Deliveries } from './pages/Deliveries';
import { Notifications } from './pages/Notifications';
import { AuditVerify } from './pages/AuditVerify';
import { CareTeams } from './pages/CareTeams';
import { Chart } from './pages/Chart';
import { Appointments } from './pages/Appointments';
import { Book } from './pages/Book';
import { Devices } from './pages/Devices';
import { Login } from './pages/Login';
import { MyRecord } from './pages/MyRecord';
import { Patients } from './pages/Patients';
import { Practitioners } from './pages/Practitioners';
import { Reschedule } from './pages/Reschedule';
import { SignUp } from './pages/SignUp';
import { Users } from './pages/Users';
import { useSession, type Role } from './session';

const HOME: Record<Role, string> = {
  patient: '/appointments',
  clinician: '/board',
  admin: '/devices',
  service: '/',
  device: '/',
};

export function App() {
  const { me, loading } = useSession();
  if (loading) return <Loading />;
  if (!me) {
    return (
      <Routes>
        <Route path="/signup" element={<SignUp />} />
        <Route path="*" element={<Login />} />
      </Routes>
    );
  }
  return (
    <Routes>
      <Route element={<Layout />}>
        {me.role === 'patient' && <Route path="/appointments" element={<Appointments />} />}
        {me.role === 'patient' && <Route path="/book" element={<Book />} />}
        {me.role === 'patient' && <Route path="/signup" element={<SignUp />} />}
        {me.role === 'patient' && <Route path="/record" element={<MyRecord />} />}
        {me.role === 'patient' && <Route path="/appointments/:id/reschedule" element={<Reschedule />} />}
        {(me.role === 'clinician' || me.role === 'admin') && <Route path="/board" element={<AlertsBoard />} />}
        {(me.role === 'clinician' || me.role === 'admin') && <Route path="/patients" element={<Patients />} />}
        {(me.role === 'clinician' || me.role === 'admin') && <Route path="/patients/:id" element={<Chart />} />}
        {me.role === 'admin' && <Route path="/devices" element={<Devices />} />}
        {me.role === 'admin' && <Route path="/users" element={<Users />} />}
        {me.role === 'admin' && <Route path="/teams" element={<CareTeams />} />}
        {me.role === 'admin' && <Route path="/practitioners" element={<Practitioners />} />}
        {me.role === 'admin' && <Route path="/audit" element={<AuditVerify />} />}
        {me.role === 'admin' && <Route path="/deliveries" element={<Deliveries />} />}
        {me.user && <Route path="/notifications" element={<Notifications />} />}
        <Route path="*" element={<Navigate to={HOME[me.role]} replace />} />
      </Route>
    </Routes>
  );
}
