// A patient's own record: contact details they can change, their vital signs over 24 h, 7 days
// or 30 days, the whole record as a FHIR R4 Bundle to download, and who accessed it and why
// (records' audit trail, which neither Doctolib nor Foo Medical shows a patient).
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { lazy, Suspense, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';

import { locale } from '../i18n';

import { api, data, type Records } from '../api';
import { download } from '../download';
import { recordBundle, vitalLines, type Bundle, type Observation } from '../fhir';
import { RangePicker, type Range } from '../components/RangePicker';
import { Empty, ErrorMessage, Loading } from '../components/Status';
import { QueryTable } from '../components/Table';

const VitalsChart = lazy(() => import('../components/VitalsChart'));
type Patient = Records['schemas']['Patient'];
const DAYS_BACK = { '24h': 1, '7d': 7, '30d': 30 } as const;

function since(days: number): string {
  return new Date(Date.now() - days * 86_400_000).toISOString();
}

function Contact({ patient }: { patient: Patient }) {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const [email, setEmail] = useState(patient.identity.email ?? '');
  const [phone, setPhone] = useState(patient.identity.phone ?? '');
  const save = useMutation({
    mutationFn: async () =>
      data(
        await api.records.PATCH('/v1/patients/{id}', {
          params: { path: { id: patient.id } },
          body: { email: email || null, phone: phone || null },
        }),
      ),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ['my-record'] }),
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    save.mutate();
  }
  return (
    <section className="mb-6 rounded bg-white p-4 shadow-sm">
      <h2 className="mb-2 text-xl font-semibold">{t('record.contact')}</h2>
      <form onSubmit={submit} className="flex flex-wrap items-end gap-3">
        <label className="flex flex-col">
          {t('login.email')}
          <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} className="rounded border border-slate-400 p-2" />
        </label>
        <label className="flex flex-col">
          {t('signup.phone')}
          <input type="tel" value={phone} onChange={(e) => setPhone(e.target.value)} className="rounded border border-slate-400 p-2" />
        </label>
        <button type="submit" className="rounded bg-blue-800 px-3 py-2 text-white">
          {t('record.save')}
        </button>
      </form>
      {save.error && <ErrorMessage error={save.error} />}
      {save.isSuccess && (
        <p role="status" className="mt-2 text-green-900">
          {t('record.saved')}
        </p>
      )}
    </section>
  );
}

function Vitals({ patient }: { patient: Patient }) {
  const { t } = useTranslation();
  const [range, setRange] = useState<Range>('24h');
  const observations = useQuery({
    queryKey: ['my-vitals', patient.id, range],
    queryFn: async () => {
      const result = await api.records.GET('/v1/fhir/Observation', {
        params: { query: { patient: patient.id, date: [`ge${since(DAYS_BACK[range])}`] } },
      });
      return data(result as { data?: unknown; error?: unknown; response: Response }) as Bundle<Observation>;
    },
  });
  const lines = observations.data ? vitalLines(observations.data) : [];
  return (
    <section className="mb-6">
      <RangePicker title={t('record.vitals')} range={range} onChange={setRange} />
      {observations.isPending && <Loading />}
      {observations.error && <ErrorMessage error={observations.error} onRetry={() => void observations.refetch()} />}
      {observations.data && lines.length === 0 && <Empty>{t('record.noVitals')}</Empty>}
      <Suspense fallback={<Loading />}>
        {lines.map((line) => (
          <VitalsChart key={line.key} line={line} />
        ))}
      </Suspense>
    </section>
  );
}

function AccessLog({ patient }: { patient: Patient }) {
  const { t } = useTranslation();
  const log = useQuery({
    queryKey: ['my-audit', patient.id],
    queryFn: async () => data(await api.records.GET('/v1/audit', { params: { query: { patient_id: patient.id, limit: 200 } } })),
  });
  const when = new Intl.DateTimeFormat(locale(), { dateStyle: 'short', timeStyle: 'medium' });
  return (
    <section className="mb-6">
      <h2 className="mb-2 text-xl font-semibold">{t('record.accesses')}</h2>
      <QueryTable
        query={log}
        headers={[t('record.when'), t('record.who'), t('record.what'), t('record.why')]}
        small
        row={(e) => (
              <tr key={e.seq}>
                <td className="border-b p-2">{when.format(new Date(e.at))}</td>
                <td className="border-b p-2">
                  {e.actor_role === 'patient' ? t('record.you') : `${e.actor_role} ${e.actor.slice(0, 8)}`}
                </td>
                <td className="border-b p-2">
                  {e.action} ({e.service})
                </td>
                <td className="border-b p-2">{e.purpose}</td>
              </tr>
            )}
      />
    </section>
  );
}

export function MyRecord() {
  const { t } = useTranslation();
  const record = useQuery({
    queryKey: ['my-record'],
    queryFn: async () => data(await api.records.GET('/v1/patients', { params: { query: { limit: 1 } } })).patients[0] ?? null,
  });
  const [exporting, setExporting] = useState<unknown>(null);

  async function exportRecord(patient: Patient) {
    setExporting(null);
    try {
      const resource = data(await api.records.GET('/v1/fhir/Patient/{id}', { params: { path: { id: patient.id } } }));
      const observations = data(
        await api.records.GET('/v1/fhir/Observation', { params: { query: { patient: patient.id, date: [`ge${since(30)}`] } } }),
      ) as Bundle;
      const appointments = data(await api.bookings.GET('/v1/fhir/Appointment', {})) as Bundle;
      const bundle = recordBundle([
        resource,
        ...(observations.entry ?? []).map((e) => e.resource),
        ...(appointments.entry ?? []).map((e) => e.resource),
      ]);
      download(`episante-record-${patient.id}.json`, JSON.stringify(bundle, null, 2), 'application/fhir+json');
    } catch (e) {
      setExporting(e);
    }
  }

  if (record.isPending) return <Loading />;
  if (record.error) return <ErrorMessage error={record.error} onRetry={() => void record.refetch()} />;
  if (!record.data) return <Empty>{t('record.none')}</Empty>;
  const patient = record.data;
  return (
    <>
      <div className="mb-4 flex flex-wrap items-center gap-3">
        <h1 className="text-2xl font-bold">{t('record.title')}</h1>
        <button type="button" className="ml-auto rounded border border-blue-800 px-3 py-1 text-blue-900" onClick={() => void exportRecord(patient)}>
          {t('record.download')}
        </button>
      </div>
      {exporting !== null && <ErrorMessage error={exporting} />}
      <Contact patient={patient} />
      <Vitals patient={patient} />
      <AccessLog patient={patient} />
    </>
  );
}
