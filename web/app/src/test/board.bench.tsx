// The alerts board with 1,000 open alerts: the virtualised list against a plain list of every
// row (the peer), both rendered by React into jsdom. `npx vitest bench --run` (docs/BENCHMARKS.md).
import { cleanup, render } from '@testing-library/react';
import { bench, describe } from 'vitest';

import type { Alert } from '../board';
import { AlertList } from '../components/AlertList';

Object.defineProperty(HTMLElement.prototype, 'clientHeight', { configurable: true, get: () => 600 });
Object.defineProperty(HTMLElement.prototype, 'clientWidth', { configurable: true, get: () => 800 });

const alerts = Array.from({ length: 1000 }, (_, i) => ({
  id: String(i),
  severity: ['critical', 'high', 'medium', 'low'][i % 4],
  state: 'active',
  patient_id: `patient-${i}`,
  device_id: 'hub',
  message: `Heart rate at or above 131 /min for 60 s (${i})`,
  rule_key: 'hr_high',
  occurrences: 1,
  created_at: '2026-12-01T10:00:00Z',
  triggered_at: '2026-12-01T10:00:00Z',
  last_seen_at: '2026-12-01T10:00:00Z',
  updated_at: '2026-12-01T10:00:00Z',
})) as Alert[];
const names = new Map(alerts.map((a) => [a.patient_id, `Patient ${a.id}`]));

function PlainList() {
  return (
    <ul>
      {alerts.map((a) => (
        <li key={a.id}>
          <span>{a.severity}</span> <b>{names.get(a.patient_id)}</b> — {a.message}
          <button type="button">Acknowledge</button>
        </li>
      ))}
    </ul>
  );
}

describe('1,000 open alerts', () => {
  bench('virtualised AlertList', () => {
    render(<AlertList alerts={alerts} names={names} onAcknowledge={() => {}} onAssign={() => {}} onResolve={() => {}} />);
    cleanup();
  });
  bench('plain list of every row (peer)', () => {
    render(<PlainList />);
    cleanup();
  });
});
