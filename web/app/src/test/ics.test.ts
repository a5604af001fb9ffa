import { describe, expect, it } from 'vitest';

import { icsOf } from '../ics';

describe('icsOf', () => {
  it('writes one event in UTC with escaped text and CRLF lines', () => {
    const ics = icsOf(
      {
        id: 'a1',
        appointment_type_id: 't',
        patient_id: 'p',
        practitioner_id: 'd',
        specialty: 'cardiology',
        status: 'booked',
        created_at: '2026-03-01T00:00:00Z',
        starts_at: '2026-03-30T07:00:00Z',
        ends_at: '2026-03-30T07:30:00.000Z',
      },
      'EpiSante: cardiology, room 2; floor 1',
      new Date('2026-03-01T12:00:00Z'),
    );
    expect(ics).toContain('DTSTART:20260330T070000Z\r\n');
    expect(ics).toContain('DTEND:20260330T073000Z\r\n');
    expect(ics).toContain('SUMMARY:EpiSante: cardiology\\, room 2\\; floor 1\r\n');
    expect(ics).toContain('STATUS:CONFIRMED');
    expect(ics.startsWith('BEGIN:VCALENDAR\r\n')).toBe(true);
  });
});
