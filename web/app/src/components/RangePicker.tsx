// The period of a vitals chart: 24 hours, 7 days or 30 days, as toggle buttons.
import { useTranslation } from 'react-i18next';

export type Range = '24h' | '7d' | '30d';
export const RANGES: Range[] = ['24h', '7d', '30d'];

export function RangePicker({ title, range, onChange }: { title: string; range: Range; onChange: (r: Range) => void }) {
  const { t } = useTranslation();
  return (
    <div className="mb-2 flex flex-wrap items-center gap-3">
      <h2 className="text-xl font-semibold">{title}</h2>
      <div role="group" aria-label={t('record.range')} className="flex gap-1">
        {RANGES.map((r) => (
          <button
            key={r}
            type="button"
            aria-pressed={range === r}
            onClick={() => onChange(r)}
            className={`rounded border px-2 py-1 ${range === r ? 'border-blue-800 bg-blue-800 text-white' : 'bg-white'}`}
          >
            {t(`record.ranges.${r}`)}
          </button>
        ))}
      </div>
    </div>
  );
}
