// A patient's appointments, upcoming and past; cancel within the rules, or add one to a calendar.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';

import { locale } from '../i18n';
import { Link, useLocation } from 'react-router';

import { api, data, type Bookings } from '../api';
import { download } from '../download';
import { icsOf } from '../ics';
import { Empty, ErrorMessage, Loading } from '../components/Status';
import { WaitlistEntries } from '../components/Waitlist';

type Appointment = Bookings['schemas']['Appointment'];

export function Appointments() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const [now] = useState(() => Date.now());
  const location = useLocation() as { state?: { rescheduled?: boolean } };
  const list = useQuery({
    queryKey: ['appointments'],
    queryFn: async () => data(await api.bookings.GET('/v1/appointments', { params: { query: { limit: 200 } } })).items,
  });
  const cancel = useMutation({
    mutationFn: async (id: string) =>
      data(await api.bookings.POST('/v1/appointments/{id}/cancel', { params: { path: { id } } })),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ['appointments'] }),
  });
  const when = (iso: string) =>
    new Intl.DateTimeFormat(locale(), { dateStyle: 'full', timeStyle: 'short' }).format(new Date(iso));

  if (list.isPending) return <Loading />;
  if (list.error) return <ErrorMessage error={list.error} onRetry={() => void list.refetch()} />;
  const upcoming = list.data.filter((a) => new Date(a.starts_at).getTime() >= now).sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  const past = list.data.filter((a) => new Date(a.starts_at).getTime() < now).sort((a, b) => b.starts_at.localeCompare(a.starts_at));

  const row = (a: Appointment, canCancel: boolean) => (
    <li key={a.id} className="flex flex-wrap items-center gap-3 rounded bg-white p-3 shadow-sm">
      <span className="font-semibold">{when(a.starts_at)}</span>
      <span>{a.specialty}</span>
      <span className="rounded bg-slate-100 px-2 text-sm">{t(`appointments.status.${a.status}`)}</span>
      <span className="ml-auto flex gap-2">
        <button
          type="button"
          className="rounded border px-2 py-1 text-sm"
          onClick={() => download(`appointment-${a.id}.ics`, icsOf(a, `EpiSante: ${a.specialty}`), 'text/calendar')}
        >
          {t('appointments.ics')}
        </button>
        {canCancel && a.status === 'booked' && (
          <Link to={`/appointments/${a.id}/reschedule`} className="rounded border border-blue-800 px-2 py-1 text-sm text-blue-900">
            {t('appointments.reschedule')}
          </Link>
        )}
        {canCancel && a.status === 'booked' && (
          <button type="button" className="rounded border border-red-700 px-2 py-1 text-sm text-red-800" onClick={() => cancel.mutate(a.id)}>
            {t('appointments.cancel')}
          </button>
        )}
      </span>
    </li>
  );

  return (
    <>
      <h1 className="mb-4 text-2xl font-bold">{t('appointments.title')}</h1>
      {cancel.error && <ErrorMessage error={cancel.error} />}
      {location.state?.rescheduled && !cancel.isSuccess && (
        <p role="status" className="mb-2 rounded bg-green-50 p-2 text-green-900">
          {t('appointments.rescheduled')}
        </p>
      )}
      {cancel.isSuccess && (
        <p role="status" className="mb-2 rounded bg-green-50 p-2 text-green-900">
          {t('appointments.cancelled')}
        </p>
      )}
      <h2 className="mb-2 text-xl font-semibold">{t('appointments.upcoming')}</h2>
      {upcoming.length === 0 ? <Empty /> : <ul className="mb-6 flex flex-col gap-2">{upcoming.map((a) => row(a, true))}</ul>}
      <h2 className="mb-2 text-xl font-semibold">{t('appointments.past')}</h2>
      {past.length === 0 ? <Empty /> : <ul className="flex flex-col gap-2">{past.map((a) => row(a, false))}</ul>}
      <WaitlistEntries />
    </>
  );
}
