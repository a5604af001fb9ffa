// A vital sign over time (recharts; loaded only on pages that chart, so the first page stays
// light).
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useTranslation } from 'react-i18next';

import type { VitalLine } from '../fhir';

export default function VitalsChart({ line }: { line: VitalLine }) {
  const { i18n } = useTranslation();
  const time = new Intl.DateTimeFormat(i18n.language, { dateStyle: 'short', timeStyle: 'short' });
  return (
    <figure className="mb-4 rounded bg-white p-2 shadow-sm">
      <figcaption className="font-semibold">
        {line.label} ({line.unit})
      </figcaption>
      <div className="h-48" role="img" aria-label={`${line.label}: ${line.points.length} points`}>
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={line.points}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="t" type="number" domain={['dataMin', 'dataMax']} tickFormatter={(t: number) => time.format(t)} />
            <YAxis domain={['auto', 'auto']} />
            <Tooltip labelFormatter={(t) => time.format(Number(t))} />
            <Line type="monotone" dataKey="value" stroke="#1d4ed8" dot={false} isAnimationActive={false} />
          </LineChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}
