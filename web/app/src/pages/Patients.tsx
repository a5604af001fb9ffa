// Clinicians: the patients of their care teams (admins: everyone), each opening their chart; and
// today's appointments in the clinician's own agenda.
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';

import { locale } from '../i18n';
import { Link } from 'react-router';

import { chartName, usePatients } from '../queries';
import { api, data } from '../api';
import { Empty, ErrorMessage, Loading } from '../components/Status';

export function Patients() {
  const { t } = useTranslation();
  const [today] = useState(() => {
    const start = new Date();
    start.setHours(0, 0, 0, 0);
    return { from: start.toISOString(), to: new Date(start.getTime() + 86_400_000).toISOString() };
  });
  const patients = usePatients();
  const agenda = useQuery({
    queryKey: ['agenda', today.from],
    queryFn: async () =>
      data(await api.bookings.GET('/v1/appointments', { params: { query: { from: today.from, to: today.to, limit: 200 } } })).items,
  });
  const names = new Map((patients.data ?? []).map((p) => [p.id, chartName(p.identity)]));
  const time = new Intl.DateTimeFormat(locale(), { timeStyle: 'short' });
  return (
    <>
      <h1 className="mb-4 text-2xl font-bold">{t('patients.title')}</h1>
      <section className="mb-6">
        <h2 className="mb-2 text-xl font-semibold">{t('patients.today')}</h2>
        {agenda.isPending && <Loading />}
        {agenda.error && <ErrorMessage error={agenda.error} />}
        {agenda.data && agenda.data.length === 0 && <Empty>{t('patients.noAppointments')}</Empty>}
        <ul className="flex flex-col gap-1">
          {(agenda.data ?? []).map((a) => (
            <li key={a.id} className="rounded bg-white p-2 shadow-sm">
              <span className="font-semibold">{time.format(new Date(a.starts_at))}</span> — {a.specialty} —{' '}
              {t(`appointments.status.${a.status}`)}
            </li>
          ))}
        </ul>
      </section>
      <section>
        <h2 className="mb-2 text-xl font-semibold">{t('patients.inCare')}</h2>
        {patients.isPending && <Loading />}
        {patients.error && <ErrorMessage error={patients.error} onRetry={() => void patients.refetch()} />}
        {patients.data && patients.data.length === 0 && <Empty />}
        <ul className="grid grid-cols-1 gap-2 sm:grid-cols-2">
          {(patients.data ?? []).map((p) => (
            <li key={p.id}>
              <Link to={`/patients/${p.id}`} className="block rounded bg-white p-3 shadow-sm hover:bg-blue-50">
                <span className="font-semibold">{names.get(p.id)}</span>
                <span className="block text-sm text-slate-700">{p.identity.birth_date}</span>
              </Link>
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}
