// A patient's chart for their clinicians: identity, history, devices, vital signs with the alert
// episodes shaded on them, and the alert timeline.
import { useQuery } from '@tanstack/react-query';
import { lazy, Suspense, useState } from 'react';
import { useTranslation } from 'react-i18next';

import { locale } from '../i18n';
import { useParams } from 'react-router';

import { chartName } from '../queries';
import { api, data } from '../api';
import type { VitalLine } from '../fhir';
import { RangePicker, type Range } from '../components/RangePicker';
import { Empty, ErrorMessage, Loading } from '../components/Status';

const VitalsChart = lazy(() => import('../components/VitalsChart'));
const WINDOWS = { '24h': [1, '1m'], '7d': [7, '5m'], '30d': [30, '15m'] } as const;

export function Chart() {
  const { t } = useTranslation();
  const { id = '' } = useParams();
  const [range, setRange] = useState<Range>('24h');
  const [now] = useState(() => Date.now());
  const path = { params: { path: { id } } };
  const patient = useQuery({ queryKey: ['patient', id], queryFn: async () => data(await api.records.GET('/v1/patients/{id}', path)) });
  const history = useQuery({ queryKey: ['history', id], queryFn: async () => data(await api.records.GET('/v1/patients/{id}/history', path)) });
  const devices = useQuery({ queryKey: ['devices-of', id], queryFn: async () => data(await api.records.GET('/v1/patients/{id}/devices', path)) });
  const alerts = useQuery({
    queryKey: ['alerts-of', id],
    queryFn: async () => data(await api.alerts.GET('/v1/alerts', { params: { query: { patient_id: id, state: 'all', limit: 1000 } } })).alerts,
  });
  const vitals = useQuery({
    queryKey: ['vitals-of', id, range],
    queryFn: async () =>
      data(
        await api.alerts.GET('/v1/patients/{id}/vitals', {
          params: {
            path: { id },
            query: { from: new Date(now - WINDOWS[range][0] * 86_400_000).toISOString(), resolution: WINDOWS[range][1] },
          },
        }),
      ),
  });
  const when = new Intl.DateTimeFormat(locale(), { dateStyle: 'short', timeStyle: 'short' });

  if (patient.error) return <ErrorMessage error={patient.error} />;
  if (!patient.data) return <Loading />;
  const identity = patient.data.identity;
  const lines: VitalLine[] = (vitals.data?.series ?? []).map((s) => ({
    key: s.vital,
    label: s.vital,
    unit: s.unit,
    points: s.points.map((p) => ({ t: Date.parse(p.t), value: p.avg })),
  }));
  const episodesOf = (vital: string) =>
    (alerts.data ?? [])
      .filter((a) => a.vital === vital)
      .map((a) => ({ start: Date.parse(a.triggered_at), end: a.resolved_at ? Date.parse(a.resolved_at) : now }));

  return (
    <>
      <h1 className="mb-1 text-2xl font-bold">
        {chartName(identity)}
      </h1>
      <p className="mb-4 text-slate-700">
        {identity.birth_date} · {t(`signup.sexes.${identity.sex}`)} {identity.phone ? `· ${identity.phone}` : ''}
      </p>
      <div className="grid grid-cols-1 gap-4 md:grid-cols-2">
        <section>
          <h2 className="mb-2 text-xl font-semibold">{t('chart.history')}</h2>
          {history.error && <ErrorMessage error={history.error} />}
          {history.data && history.data.length === 0 && <Empty />}
          <ul className="flex flex-col gap-1">
            {(history.data ?? []).map((h) => (
              <li key={h.id} className="rounded bg-white p-2 shadow-sm">
                <span className="font-semibold">{h.kind}</span>: {h.text}
              </li>
            ))}
          </ul>
        </section>
        <section>
          <h2 className="mb-2 text-xl font-semibold">{t('chart.devices')}</h2>
          {devices.error && <ErrorMessage error={devices.error} />}
          {devices.data && devices.data.length === 0 && <Empty />}
          <ul className="flex flex-col gap-1">
            {(devices.data ?? []).map((d) => (
              <li key={d.device_id} className="rounded bg-white p-2 font-mono shadow-sm">
                {d.device_id}
              </li>
            ))}
          </ul>
        </section>
      </div>
      <section className="my-4">
        <RangePicker title={t('chart.vitals')} range={range} onChange={setRange} />
        {vitals.isPending && <Loading />}
        {vitals.error && <ErrorMessage error={vitals.error} />}
        {vitals.data && lines.length === 0 && <Empty>{t('record.noVitals')}</Empty>}
        <Suspense fallback={<Loading />}>
          {lines.map((line) => (
            <VitalsChart key={line.key} line={line} episodes={episodesOf(line.key)} />
          ))}
        </Suspense>
      </section>
      <section>
        <h2 className="mb-2 text-xl font-semibold">{t('chart.alerts')}</h2>
        {alerts.error && <ErrorMessage error={alerts.error} />}
        {alerts.data && alerts.data.length === 0 && <Empty />}
        <ol className="flex flex-col gap-1">
          {[...(alerts.data ?? [])]
            .sort((a, b) => b.triggered_at.localeCompare(a.triggered_at))
            .map((a) => (
              <li key={a.id} className="rounded bg-white p-2 shadow-sm">
                <span className="font-semibold">{when.format(new Date(a.triggered_at))}</span> — {t(`board.severity.${a.severity}`)} —{' '}
                {a.message} — {t(`board.state.${a.state}`)}
                {a.resolution_note ? ` (${a.resolution_note})` : ''}
              </li>
            ))}
        </ol>
      </section>
    </>
  );
}
