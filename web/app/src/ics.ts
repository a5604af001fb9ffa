// An appointment as an iCalendar file (RFC 5545), for the patient's own calendar app.
import type { Bookings } from './api';

type Appointment = Bookings['schemas']['Appointment'];

/** `20260330T070000Z`: UTC, basic format. */
function stamp(iso: string): string {
  return new Date(iso).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** Escapes TEXT values (RFC 5545 §3.3.11). */
function text(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/;/g, '\\;').replace(/,/g, '\\,').replace(/\r?\n/g, '\\n');
}

export function icsOf(a: Appointment, summary: string, now: Date = new Date()): string {
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//EpiSante//Portal//EN',
    'BEGIN:VEVENT',
    `UID:${a.id}@episante`,
    `DTSTAMP:${stamp(now.toISOString())}`,
    `DTSTART:${stamp(a.starts_at)}`,
    `DTEND:${stamp(a.ends_at)}`,
    `SUMMARY:${text(summary)}`,
    `STATUS:${a.status === 'cancelled' ? 'CANCELLED' : 'CONFIRMED'}`,
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}
