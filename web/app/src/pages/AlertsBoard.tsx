// The clinician's live board: the open alerts of their patients, kept current by the SSE feed
// (`/api/v1/alerts/stream`, through the gateway's session; the browser resumes it after a
// disconnect with `Last-Event-ID`, so nothing is missed), with patient names, severity colours
// and a visible and audible cue for each new critical alert.
import { useMutation, useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';

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
  const patients = useQuery({
    queryKey: ['patients', 'names'],
    queryFn: async () => data(await api.records.GET('/v1/patients', { params: { query: { limit: 500 } } })).patients,
  });
  const names = new Map(
    (patients.data ?? []).map((p) => [p.id, [...p.identity.given_names, p.identity.family_name].join(' ')] as const),
  );
  const fromInitial = () => new Map((initial.data ?? []).map((a) => [a.id, a]));
  const acknowledge = useMutation({
    mutationFn: async (id: string) => data(await api.alerts.POST('/v1/alerts/{id}/acknowledge', { params: { path: { id } } })),
    onSuccess: (alert) => setBoard((b) => new Map(b ?? fromInitial()).set(alert.id, alert)),
  });

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
      {acknowledge.error && <ErrorMessage error={acknowledge.error} />}
      <AlertList alerts={alerts} names={names} onAcknowledge={(id) => acknowledge.mutate(id)} />
    </>
  );
}
