// A week of free slots: one column per day (in the patient's time zone), each slot a button
// labelled with the patient's time and, when the zones differ, the practitioner's. Plain buttons
// in reading order, so the keyboard alone goes through it (Tab, Enter).
import { useTranslation } from 'react-i18next';

import { locale } from '../i18n';

import type { Bookings } from '../api';

export type Slot = Bookings['schemas']['Slot'];

export interface WeekCalendarProps {
  slots: Slot[];
  /** The first day shown (local midnight, the patient's zone). */
  weekStart: Date;
  /** The practitioner's IANA zone. */
  practitionerZone: string;
  /** The patient's zone (the browser's by default). */
  patientZone?: string;
  onPick: (slot: Slot) => void;
}

/** Formats dates as `YYYY-MM-DD` in `zone` (one formatter, reused for every slot). */
function dayKeys(zone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' });
}

/** `YYYY-MM-DD` of `date` in `zone`. */
export function dayIn(date: Date, zone: string): string {
  return dayKeys(zone).format(date);
}

export function WeekCalendar({ slots, weekStart, practitionerZone, patientZone, onPick }: WeekCalendarProps) {
  const { t } = useTranslation();
  const zone = patientZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  const days = Array.from({ length: 7 }, (_, i) => new Date(weekStart.getTime() + i * 86_400_000));
  const clock = (z: string) => new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', timeZone: z });
  const [mineClock, theirClock, keyOf] = [clock(zone), clock(practitionerZone), dayKeys(zone)];
  // Slots by the patient's day, in one pass.
  const byDay = new Map<string, Slot[]>();
  for (const slot of slots) {
    const key = keyOf.format(new Date(slot.starts_at));
    byDay.set(key, [...(byDay.get(key) ?? []), slot]);
  }
  const dayLabel = new Intl.DateTimeFormat(locale(), { weekday: 'short', day: 'numeric', month: 'short', timeZone: zone });
  const sameZone = zone === practitionerZone;

  if (slots.length === 0) return <p className="p-2 text-slate-600">{t('book.noSlots')}</p>;
  return (
    <div className="grid grid-cols-1 gap-2 sm:grid-cols-7">
      {days.map((day) => {
        const key = keyOf.format(day);
        const daySlots = byDay.get(key) ?? [];
        return (
          <section key={key} aria-label={dayLabel.format(day)} className="rounded bg-white p-2 shadow-sm">
            <h3 className="mb-1 text-sm font-semibold">{dayLabel.format(day)}</h3>
            <ul className="flex flex-col gap-1">
              {daySlots.map((slot) => {
                const start = new Date(slot.starts_at);
                const mine = mineClock.format(start);
                const theirs = theirClock.format(start);
                return (
                  <li key={slot.starts_at + slot.practitioner_id}>
                    <button
                      type="button"
                      data-slot={slot.starts_at}
                      onClick={() => onPick(slot)}
                      className="w-full rounded border border-blue-700 px-1 py-1 text-sm text-blue-900 hover:bg-blue-50"
                    >
                      {mine}
                      {!sameZone && (
                        <span className="block text-xs text-slate-600">
                          {theirs}
                          <span className="sr-only"> {t('book.theirTime', { zone: practitionerZone })}</span>
                        </span>
                      )}
                      <span className="sr-only">, {dayLabel.format(start)}</span>
                    </button>
                  </li>
                );
              })}
            </ul>
          </section>
        );
      })}
    </div>
  );
}
