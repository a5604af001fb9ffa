// The few FHIR R4 shapes the portal reads (Observation searchsets from records), and the
// patient's downloadable record: one `collection` Bundle of their Patient resource, their
// Observations and their Appointments.
export interface Coding {
  system?: string;
  code?: string;
  display?: string;
}

export interface Observation {
  resourceType: 'Observation';
  id?: string;
  code: { coding?: Coding[]; text?: string };
  effectiveDateTime?: string;
  effectivePeriod?: { start?: string; end?: string };
  valueQuantity?: { value?: number; unit?: string };
  component?: { code: { coding?: Coding[] }; valueQuantity?: { value?: number; unit?: string } }[];
}

export interface Bundle<T = unknown> {
  resourceType: 'Bundle';
  type: string;
  entry?: { resource: T }[];
}

/** One line of a chart: the points of one vital sign. */
export interface VitalLine {
  key: string;
  label: string;
  unit: string;
  points: { t: number; value: number }[];
}

/** Observations grouped by code (blood pressure split into its components), oldest first. */
export function vitalLines(bundle: Bundle<Observation>): VitalLine[] {
  const lines = new Map<string, VitalLine>();
  const add = (coding: Coding | undefined, text: string | undefined, at: string | undefined, q?: { value?: number; unit?: string }) => {
    if (!at || q?.value === undefined) return;
    const key = coding?.code ?? text ?? 'unknown';
    const line = lines.get(key) ?? { key, label: coding?.display ?? text ?? key, unit: q.unit ?? '', points: [] };
    line.points.push({ t: Date.parse(at), value: q.value });
    lines.set(key, line);
  };
  for (const { resource } of bundle.entry ?? []) {
    if (resource.component?.length) {
      for (const c of resource.component) add(c.code.coding?.[0], undefined, resource.effectivePeriod?.start ?? resource.effectiveDateTime, c.valueQuantity);
    } else {
      add(resource.code.coding?.[0], resource.code.text, resource.effectivePeriod?.start ?? resource.effectiveDateTime, resource.valueQuantity);
    }
  }
  for (const line of lines.values()) line.points.sort((a, b) => a.t - b.t);
  return [...lines.values()];
}

/** The patient's record as one FHIR `collection` Bundle. */
export function recordBundle(resources: unknown[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: resources.map((resource) => ({ resource })),
  };
}
