// The alerts board's state: open alerts by id, updated by the SSE feed's events (each carries the
// alert as it is after the change), the same semantics as the TUI's board.
import type { Alerts } from './api';

export type Alert = Alerts['schemas']['Alert'];

export interface AlertEvent {
  id: number;
  alert_id: string;
  kind: string;
  snapshot: Alert;
}

const RANK: Record<string, number> = { critical: 4, high: 3, medium: 2, low: 1 };

/** The board after `event`: resolved alerts leave it, every other change replaces the alert. */
export function applyEvent(board: Map<string, Alert>, event: AlertEvent): Map<string, Alert> {
  const next = new Map(board);
  if (event.snapshot.state === 'resolved') next.delete(event.alert_id);
  else next.set(event.alert_id, event.snapshot);
  return next;
}

/** Most severe first, then unacknowledged first, then newest first. */
export function ordered(board: Map<string, Alert>): Alert[] {
  return [...board.values()].sort(
    (a, b) =>
      (RANK[b.severity] ?? 0) - (RANK[a.severity] ?? 0) ||
      Number(a.state !== 'active') - Number(b.state !== 'active') ||
      b.triggered_at.localeCompare(a.triggered_at),
  );
}

/** Whether `event` is a critical alert the board has not shown before. */
export function isNewCritical(board: Map<string, Alert>, event: AlertEvent): boolean {
  return event.snapshot.severity === 'critical' && event.snapshot.state === 'active' && !board.has(event.alert_id);
}
