import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';

import { WeekCalendar, type Slot } from '../components/WeekCalendar';

const slot = (startsAt: string): Slot => ({
  appointment_type_id: 't',
  practitioner_id: 'p',
  starts_at: startsAt,
  ends_at: startsAt,
  local_start: startsAt,
});

// Monday 30 March 2026, the day after Europe's spring DST change.
const monday = new Date('2026-03-30T00:00:00+02:00');

describe('WeekCalendar', () => {
  it('puts each slot under its day in the patient zone, with the practitioner time beside it', () => {
    render(
      <WeekCalendar
        slots={[slot('2026-03-30T07:00:00Z'), slot('2026-04-01T13:30:00Z')]}
        weekStart={monday}
        practitionerZone="Europe/Paris"
        patientZone="America/New_York"
        onPick={() => {}}
      />,
    );
    const buttons = screen.getAllByRole('button');
    expect(buttons).toHaveLength(2);
    // 07:00Z is 03:00 in New York and 09:00 in Paris.
    expect(buttons[0]).toHaveTextContent('03:00');
    expect(buttons[0]).toHaveTextContent('09:00');
    expect(buttons[0]!.closest('section')).toHaveAccessibleName(/Mon/);
    expect(buttons[1]!.closest('section')).toHaveAccessibleName(/Wed/);
  });

  it('books with the keyboard alone', async () => {
    const onPick = vi.fn();
    render(
      <WeekCalendar slots={[slot('2026-03-31T08:00:00Z')]} weekStart={monday} practitionerZone="Europe/Paris" patientZone="Europe/Paris" onPick={onPick} />,
    );
    await userEvent.tab();
    expect(screen.getByRole('button')).toHaveFocus();
    await userEvent.keyboard('{Enter}');
    expect(onPick).toHaveBeenCalledWith(expect.objectContaining({ starts_at: '2026-03-31T08:00:00Z' }));
  });

  it('says so when the week has no free slot', () => {
    render(<WeekCalendar slots={[]} weekStart={monday} practitionerZone="Europe/Paris" onPick={() => {}} />);
    expect(screen.getByText(/No free slot/)).toBeInTheDocument();
  });
});
