// A vital sign over time (recharts; loaded only on pages that chart, so the first page stays
// light).
import { CartesianGrid, Line, LineChart, ReferenceArea, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

import { locale } from '../i18n';

import type { VitalLine } from '../fhir';

/** An alert episode to shade on the chart (from its trigger to its resolution, or now). */
export interface Episode {
  start: number;
  end: number;
}

export default function VitalsChart({ line, episodes = [] }: { line: VitalLine; episodes?: Episode[] }) {
  
  const time = new Intl.DateTimeFormat(locale(), { dateStyle: 'short', timeStyle: 'short' });
  return (
    <figure className="mb-4 rounded bg-white p-2 shadow-sm">
      <figcaption className="font-semibold">
        {line.label} ({line.unit})
      </figcaption>
      <div className="h-48" role="img" aria-label={`${line.label}: ${line.points.length} points, ${episodes.length} alert episodes`}>
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={line.points}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="t" type="number" domain={['dataMin', 'dataMax']} tickFormatter={(t: number) => time.format(t)} />
            <YAxis domain={['auto', 'auto']} />
            <Tooltip labelFormatter={(t) => time.format(Number(t))} />
            {episodes.map((e) => (
              <ReferenceArea key={e.start} x1={e.start} x2={e.end} fill="#dc2626" fillOpacity={0.15} ifOverflow="hidden" />
            ))}
            <Line type="monotone" dataKey="value" stroke="#1d4ed8" dot={false} isAnimationActive={false} />
          </LineChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}
