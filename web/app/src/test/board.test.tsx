import { render, screen } from '@testing-library/react';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { applyEvent, isNewCritical, ordered, type Alert } from '../board';
import { AlertList } from '../components/AlertList';

function alert(id: string, severity: string, state = 'active', at = '2026-12-01T10:00:00Z'): Alert {
  return {
    id,
    severity,
    state,
    patient_id: `patient-${id}`,
    device_id: 'hub',
    message: `alert ${id}`,
    rule_key: 'hr_high',
    occurrences: 1,
    created_at: at,
    triggered_at: at,
    last_seen_at: at,
    updated_at: at,
  } as Alert;
}

describe('the board state', () => {
  it('adds, replaces and drops resolved alerts, and flags only new critical ones', () => {
    let board = new Map<string, Alert>();
    const raised = { id: 1, alert_id: 'a', kind: 'raised', snapshot: alert('a', 'critical') };
    expect(isNewCritical(board, raised)).toBe(true);
    board = applyEvent(board, raised);
    const acked = { id: 2, alert_id: 'a', kind: 'acknowledged', snapshot: alert('a', 'critical', 'acknowledged') };
    expect(isNewCritical(board, acked)).toBe(false);
    board = applyEvent(board, acked);
    expect(board.get('a')?.state).toBe('acknowledged');
    board = applyEvent(board, { id: 3, alert_id: 'a', kind: 'resolved', snapshot: alert('a', 'critical', 'resolved') });
    expect(board.size).toBe(0);
  });

  it('orders the most severe and unacknowledged first', () => {
    const board = new Map([
      ['l', alert('l', 'low')],
      ['c2', alert('c2', 'critical', 'acknowledged')],
      ['c1', alert('c1', 'critical')],
      ['h', alert('h', 'high')],
    ]);
    expect(ordered(board).map((a) => a.id)).toEqual(['c1', 'c2', 'h', 'l']);
  });
});

describe('AlertList', () => {
  // jsdom lays nothing out: give the scrolling box the size of a laptop screen's list.
  beforeAll(() => {
    Object.defineProperty(HTMLElement.prototype, 'clientHeight', { configurable: true, get: () => 600 });
    Object.defineProperty(HTMLElement.prototype, 'clientWidth', { configurable: true, get: () => 800 });
  });
  afterAll(() => {
    delete (HTMLElement.prototype as { clientHeight?: number }).clientHeight;
    delete (HTMLElement.prototype as { clientWidth?: number }).clientWidth;
  });

  it('renders a thousand open alerts as the few rows on screen, with names', () => {
    const alerts = Array.from({ length: 1000 }, (_, i) => alert(String(i), i % 2 ? 'high' : 'critical'));
    const names = new Map([['patient-0', 'Ada Lovelace']]);
    const started = performance.now();
    render(<AlertList alerts={alerts} names={names} onAcknowledge={vi.fn()} onAssign={vi.fn()} onResolve={vi.fn()} />);
    const elapsed = performance.now() - started;
    const rows = screen.getAllByRole('listitem');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(50);
    expect(rows[0]).toHaveTextContent('Ada Lovelace');
    expect(rows[1]).toHaveTextContent('patient-'.slice(0, 8));
    console.log(`AlertList: 1000 alerts rendered in ${elapsed.toFixed(1)} ms (${rows.length} rows in the DOM)`);
  });
});
