import { describe, expect, it } from 'vitest';

import { vitalLines, type Bundle, type Observation } from '../fhir';

const heart = (start: string, value: number): Observation => ({
  resourceType: 'Observation',
  code: { coding: [{ code: '8867-4', display: 'Heart rate' }] },
  effectivePeriod: { start, end: start },
  valueQuantity: { value, unit: '/min' },
});

describe('vitalLines', () => {
  it('groups observations by code, splits blood pressure, and orders points in time', () => {
    const bundle: Bundle<Observation> = {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [
        { resource: heart('2026-12-01T10:01:00Z', 75) },
        { resource: heart('2026-12-01T10:00:00Z', 72) },
        {
          resource: {
            resourceType: 'Observation',
            code: { coding: [{ code: '85354-9' }] },
            effectivePeriod: { start: '2026-12-01T10:00:00Z' },
            component: [
              { code: { coding: [{ code: '8480-6', display: 'Systolic' }] }, valueQuantity: { value: 120, unit: 'mm[Hg]' } },
              { code: { coding: [{ code: '8462-4', display: 'Diastolic' }] }, valueQuantity: { value: 80, unit: 'mm[Hg]' } },
            ],
          },
        },
      ],
    };
    const lines = vitalLines(bundle);
    expect(lines.map((l) => l.key).sort()).toEqual(['8462-4', '8480-6', '8867-4']);
    const hr = lines.find((l) => l.key === '8867-4')!;
    expect(hr.points.map((p) => p.value)).toEqual([72, 75]);
    expect(hr.unit).toBe('/min');
  });
});
