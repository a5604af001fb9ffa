// A patient's waitlist: join for a practitioner's dates when no slot suits, see each entry's
// state, and take a slot offered (held) for them before the hold lapses.
import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';

import { locale } from '../i18n';

import { api, data } from '../api';
import { Empty, ErrorMessage, Loading } from './Status';

export function WaitlistEntries() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const list = useQuery({
    queryKey: ['waitlist'],
    queryFn: async () => data(await api.bookings.GET('/v1/waitlist', { params: { query: { limit: 100 } } })).items,
  });
  const take = useMutation({
    mutationFn: async (offer: { practitioner_id: string; appointment_type_id: string; starts_at: string }) =>
      data(await api.bookings.POST('/v1/appointments', { body: offer })),
    onSuccess: () => {
      void queries.invalidateQueries({ queryKey: ['waitlist'] });
      void queries.invalidateQueries({ queryKey: ['appointments'] });
    },
  });
  const leave = useMutation({
    mutationFn: async (id: string) => data(await api.bookings.DELETE('/v1/waitlist/{id}', { params: { path: { id } } })),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ['waitlist'] }),
  });
  const when = new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' });
  const open = (list.data ?? []).filter((e) => e.status === 'waiting' || e.status === 'offered');
  // A window is a range of the practitioner's local dates: show them in the practitioner's zone.
  const ids = [...new Set(open.map((e) => e.practitioner_id))];
  const practitioners = useQueries({
    queries: ids.map((id) => ({
      queryKey: ['practitioner', id],
      queryFn: async () => data(await api.bookings.GET('/v1/practitioners/{id}', { params: { path: { id } } })),
    })),
  });
  const zones = new Map(practitioners.flatMap((q) => (q.data ? [[q.data.id, q.data.time_zone] as const] : [])));
  const day = (iso: string, practitioner: string) =>
    new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeZone: zones.get(practitioner) }).format(new Date(iso));
  return (
    <section className="mt-6">
      <h2 className="mb-2 text-xl font-semibold">{t('waitlist.title')}</h2>
      {list.isPending && <Loading />}
      {list.error && <ErrorMessage error={list.error} />}
      {(take.error ?? leave.error) && <ErrorMessage error={take.error ?? leave.error} />}
      {list.data && open.length === 0 && <Empty>{t('waitlist.none')}</Empty>}
      <ul className="flex flex-col gap-2">
        {open.map((e) => (
          <li key={e.id} className="flex flex-wrap items-center gap-3 rounded bg-white p-3 shadow-sm">
            <span>
              {t('waitlist.window', {
                from: day(e.window_start, e.practitioner_id),
                // The window ends at the midnight after its last day.
                to: day(new Date(Date.parse(e.window_end) - 1).toISOString(), e.practitioner_id),
              })}
            </span>
            {e.offer ? (
              <>
                <span className="font-semibold text-green-900">
                  {t('waitlist.offered', { time: when.format(new Date(e.offer.starts_at)), until: when.format(new Date(e.offer.expires_at)) })}
                </span>
                <button
                  type="button"
                  className="rounded bg-green-800 px-2 py-1 text-white"
                  onClick={() =>
                    take.mutate({
                      practitioner_id: e.practitioner_id,
                      appointment_type_id: e.offer!.appointment_type_id,
                      starts_at: e.offer!.starts_at,
                    })
                  }
                >
                  {t('waitlist.take')}
                </button>
              </>
            ) : (
              <span className="text-slate-700">{t('waitlist.waiting')}</span>
            )}
            <button type="button" className="ml-auto rounded border px-2 py-1" onClick={() => leave.mutate(e.id)}>
              {t('waitlist.leave')}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
