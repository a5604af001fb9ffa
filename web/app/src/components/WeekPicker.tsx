// A practitioner's free slots week by week: the week navigation and the calendar, shared by
// booking and rescheduling.
import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';

import { locale } from '../i18n';

import { api, data, type Bookings } from '../api';
import { ErrorMessage, Loading } from './Status';
import { dayIn, WeekCalendar, type Slot } from './WeekCalendar';

type Practitioner = Bookings['schemas']['Practitioner'];
const DAY = 86_400_000;

/** Local midnight of the Monday of the week holding `date`. */
export function mondayOf(date: Date): Date {
  const d = new Date(date.getFullYear(), date.getMonth(), date.getDate());
  const shift = (d.getDay() + 6) % 7;
  return new Date(d.getTime() - shift * DAY);
}

export function WeekPicker({
  practitioner,
  appointmentTypeId,
  onPick,
}: {
  practitioner: Practitioner;
  appointmentTypeId: string;
  onPick: (slot: Slot) => void;
}) {
  const [weekStart, setWeekStart] = useState(() => mondayOf(new Date()));
  const join = useMutation({
    mutationFn: async () =>
      data(
        await api.bookings.POST('/v1/waitlist', {
          body: {
            practitioner_id: practitioner.id,
            from_date: dayIn(weekStart, practitioner.time_zone),
            to_date: dayIn(new Date(weekStart.getTime() + 6 * DAY), practitioner.time_zone),
          },
        }),
      ),
  });
  const { t } = useTranslation();
  const slots = useQuery({
    enabled: Boolean(appointmentTypeId),
    queryKey: ['slots', practitioner.id, appointmentTypeId, weekStart.getTime()],
    queryFn: async () =>
      data(
        await api.bookings.GET('/v1/slots', {
          params: {
            query: {
              practitioner_id: practitioner.id,
              appointment_type_id: appointmentTypeId,
              // A day either side: the patient's week may straddle the practitioner's dates.
              from: dayIn(new Date(weekStart.getTime() - DAY), practitioner.time_zone),
              to: dayIn(new Date(weekStart.getTime() + 7 * DAY), practitioner.time_zone),
              limit: 500,
            },
          },
        }),
      ).items,
  });
  const inWeek = (slots.data ?? []).filter((s) => {
    const at = new Date(s.starts_at).getTime();
    return at >= weekStart.getTime() && at < weekStart.getTime() + 7 * DAY;
  });
  return (
    <section aria-live="polite">
      <div className="mb-2 flex flex-wrap items-center gap-2">
        <button type="button" className="rounded border px-2 py-1" onClick={() => setWeekStart(new Date(weekStart.getTime() - 7 * DAY))}>
          {t('book.previous')}
        </button>
        <h2 className="font-semibold">
          {t('book.week', { date: new Intl.DateTimeFormat(locale(), { dateStyle: 'long' }).format(weekStart) })}
        </h2>
        <button type="button" className="rounded border px-2 py-1" onClick={() => setWeekStart(new Date(weekStart.getTime() + 7 * DAY))}>
          {t('book.next')}
        </button>
      </div>
      {slots.isPending && <Loading />}
      {slots.error && <ErrorMessage error={slots.error} onRetry={() => void slots.refetch()} />}
      {slots.data && <WeekCalendar slots={inWeek} weekStart={weekStart} practitionerZone={practitioner.time_zone} onPick={onPick} />}
      {slots.data && (
        <div className="mt-3">
          {join.isSuccess ? (
            <p role="status" className="rounded bg-green-50 p-2 text-green-900">
              {t('waitlist.joined')}
            </p>
          ) : (
            <button type="button" className="rounded border border-blue-800 px-3 py-1 text-blue-900" onClick={() => join.mutate()}>
              {t('waitlist.join')}
            </button>
          )}
          {join.error && <ErrorMessage error={join.error} />}
        </div>
      )}
    </section>
  );
}
