// The clinician's live board: the open alerts of their patients, kept current by the SSE feed
// (`/api/v1/alerts/stream`, through the gateway's session; the browser resumes it after a
// disconnect with `Last-Event-ID`, so nothing is missed), with patient names, severity colours
// and a visible and audible cue for each new critical alert.
import { useMutation, useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';

import { usePatients } from '../queries';
import { api, data } from '../api';
import { applyEvent, isNewCritical, ordered, type Alert, type AlertEvent } from '../board';
import { AlertList } from '../components/AlertList';
import { ErrorMessage, Loading } from '../components/Status';

function beep() {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    tone.frequency.value = 880;
    tone.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.3);
  } catch {
    // No audio (or not allowed yet): the visual cue stands alone.
  }
}

export function AlertsBoard() {
  const { t } = useTranslation();
  const [board, setBoard] = useState<Map<string, Alert> | null>(null);
  const [live, setLive] = useState(false);
  const [cue, setCue] = useState<string | null>(null);

  const initial = useQuery({
    queryKey: ['alerts', 'open'],
    queryFn: async () => data(await api.alerts.GET('/v1/alerts', { params: { query: { state: 'open', limit: 1000 } } })).alerts,
  });
  const patients = usePatients();
  const names = new Map(
    (patients.data ?? []).map((p) => [p.id, [...p.identity.given_names, p.identity.family_name].join(' ')] as const),
  );
  const fromInitial = () => new Map((initial.data ?? []).map((a) => [a.id, a]));
  const [resolving, setResolving] = useState<Alert | null>(null);
  const [note, setNote] = useState('');
  const updated = (alert: Alert) =>
    setBoard((b) => {
      const next = new Map(b ?? fromInitial());
      if (alert.state === 'resolved') next.delete(alert.id);
      else next.set(alert.id, alert);
      return next;
    });
  const acknowledge = useMutation({
    mutationFn: async (id: string) => data(await api.alerts.POST('/v1/alerts/{id}/acknowledge', { params: { path: { id } } })),
    onSuccess: updated,
  });
  const assign = useMutation({
    mutationFn: async (id: string) => data(await api.alerts.POST('/v1/alerts/{id}/assign', { params: { path: { id } }, body: {} })),
    onSuccess: updated,
  });
  const resolve = useMutation({
    mutationFn: async ({ id, text }: { id: string; text: string }) =>
      data(await api.alerts.POST('/v1/alerts/{id}/resolve', { params: { path: { id } }, body: { note: text } })),
    onSuccess: (alert) => {
      updated(alert);
      setResolving(null);
      setNote('');
    },
  });
  const failed = acknowledge.error ?? assign.error ?? resolve.error;

  useEffect(() => {
    if (!initial.data) return;
    const loaded = new Map(initial.data.map((a) => [a.id, a]));
    const feed = new EventSource('/api/v1/alerts/stream');
    feed.onopen = () => setLive(true);
    feed.onerror = () => setLive(false);
    feed.addEventListener('alert', (message) => {
      const event = JSON.parse((message as MessageEvent<string>).data) as AlertEvent;
      setBoard((current) => {
        const base = current ?? loaded;
        if (isNewCritical(base, event)) {
          setCue(event.snapshot.message);
          beep();
        }
        return applyEvent(base, event);
      });
    });
    return () => feed.close();
  }, [initial.data]);

  if (initial.error) return <ErrorMessage error={initial.error} onRetry={() => void initial.refetch()} />;
  if (initial.isPending) return <Loading />;
  const alerts = ordered(board ?? fromInitial());
  return (
    <>
      <div className="mb-3 flex flex-wrap items-center gap-3">
        <h1 className="text-2xl font-bold">{t('board.title')}</h1>
        <span role="status" className={`rounded px-2 text-sm ${live ? 'bg-green-100 text-green-900' : 'bg-yellow-100 text-yellow-900'}`}>
          {live ? t('board.live') : t('board.reconnecting')}
        </span>
        <span>{t('board.open', { count: alerts.length })}</span>
      </div>
      {cue && (
        <p role="alert" className="mb-3 rounded bg-red-700 p-3 font-bold text-white">
          {t('board.newCritical', { message: cue })}
        </p>
      )}
      {failed && <ErrorMessage error={failed} />}
      {resolving && (
        <form
          className="mb-3 flex flex-wrap items-end gap-2 rounded bg-white p-3 shadow-sm"
          onSubmit={(e) => {
            e.preventDefault();
            resolve.mutate({ id: resolving.id, text: note });
          }}
        >
          <label className="flex flex-1 flex-col">
            {t('board.note')} — {names.get(resolving.patient_id) ?? resolving.patient_id.slice(0, 8)}: {resolving.message}
            <textarea required autoFocus value={note} onChange={(e) => setNote(e.target.value)} className="rounded border border-slate-400 p-2" />
          </label>
          <button type="submit" className="rounded bg-blue-800 px-3 py-2 text-white">
            {t('board.resolve')}
          </button>
          <button type="button" className="rounded border px-3 py-2" onClick={() => setResolving(null)}>
            {t('common.cancel')}
          </button>
        </form>
      )}
      <AlertList
        alerts={alerts}
        names={names}
        onAcknowledge={(id) => acknowledge.mutate(id)}
        onAssign={(id) => assign.mutate(id)}
        onResolve={setResolving}
      />
    </>
  );
}
