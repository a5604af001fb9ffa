// Smoke test through the generated client, against a running platform's gateway:
// log in, create a patient, open a practice, book its first free slot, list alerts.
//   GATEWAY=http://127.0.0.1:80 ADMIN_EMAIL=… ADMIN_PASSWORD=… node build/smoke/smoke.js
// Prints one JSON line of what it did; exits non-zero at the first unexpected answer.
import { api } from '../src/api/index.js';

function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** The data of a successful call, or an error naming the step and the problem. */
function ok<T>(step: string, result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data === undefined || !result.response.ok) {
    throw new Error(`${step}: HTTP ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

// eslint-disable-next-line prefer-const -- assigned after login, read by the client's closure
let token: string | undefined;
const client = api(need('GATEWAY'), () => token);
const stamp = Date.now().toString(36);

const login = ok(
  'login',
  await client.auth.POST('/v1/auth/login', {
    body: { email: need('ADMIN_EMAIL'), password: need('ADMIN_PASSWORD') },
  }),
);
token = login.access_token;

const patient = ok(
  'create patient',
  await client.records.POST('/v1/patients', {
    body: { given_names: ['Ada'], family_name: 'Lovelace', birth_date: '1985-12-10', sex: 'female' },
    headers: { 'X-Purpose-Of-Use': 'TREAT' },
  }),
);

const clinician = ok(
  'create clinician',
  await client.auth.POST('/v1/auth/users', {
    body: {
      email: `dr.smoke.${stamp}@example.org`,
      display_name: 'Dr Smoke',
      role: 'clinician',
      password: `smoke-test-password-${stamp}`,
    },
  }),
);
const practitioner = ok(
  'create practitioner',
  await client.bookings.POST('/v1/practitioners', {
    body: {
      user_id: clinician.id,
      display_name: 'Dr Smoke',
      specialty: 'cardiology',
      location: 'Paris',
      languages: ['fr', 'en'],
      time_zone: 'UTC',
    },
  }),
);
const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
ok(
  'set availability',
  await client.bookings.PUT('/v1/practitioners/{id}/availability', {
    params: { path: { id: practitioner.id } },
    body: { weekly: days.map((weekday) => ({ weekday, start: '00:00', end: '23:30' })), exceptions: [] },
  }),
);
const kind = ok(
  'create appointment type',
  await client.bookings.POST('/v1/appointment-types', {
    body: { name: `smoke-${stamp}`, duration_minutes: 30 },
  }),
);
const today = new Date();
const date = (d: Date) => d.toISOString().slice(0, 10);
const slots = ok(
  'search slots',
  await client.bookings.GET('/v1/slots', {
    params: {
      query: {
        appointment_type_id: kind.id,
        practitioner_id: practitioner.id,
        from: date(today),
        to: date(new Date(today.getTime() + 2 * 86_400_000)),
      },
    },
  }),
);
const slot = slots.items[0];
if (!slot) throw new Error('search slots: no free slot in two days of 23.5 open hours');
const appointment = ok(
  'book',
  await client.bookings.POST('/v1/appointments', {
    params: { header: { 'Idempotency-Key': `smoke-${stamp}` } },
    body: {
      patient_id: patient.id,
      practitioner_id: practitioner.id,
      appointment_type_id: kind.id,
      starts_at: slot.starts_at,
    },
  }),
);
const alerts = ok('list alerts', await client.alerts.GET('/v1/alerts', { params: { query: {} } }));

console.log(
  JSON.stringify({
    patient: patient.id,
    appointment: appointment.id,
    status: appointment.status,
    starts_at: appointment.starts_at,
    alerts: alerts.alerts.length,
  }),
);
