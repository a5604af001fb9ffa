// The board's list: virtualised, so a thousand open alerts render as the few rows on screen.
import { useVirtualizer } from '@tanstack/react-virtual';
import { useRef } from 'react';
import { useTranslation } from 'react-i18next';

import { locale } from '../i18n';

import type { Alert } from '../board';

const COLOURS: Record<string, string> = {
  critical: 'border-l-red-700 bg-red-50',
  high: 'border-l-orange-600 bg-orange-50',
  medium: 'border-l-yellow-500 bg-yellow-50',
  low: 'border-l-slate-400 bg-white',
};

export interface AlertListProps {
  alerts: Alert[];
  names: Map<string, string>;
  onAcknowledge: (id: string) => void;
  onAssign: (id: string) => void;
  onResolve: (alert: Alert) => void;
}

export function AlertList({ alerts, names, onAcknowledge, onAssign, onResolve }: AlertListProps) {
  const { t } = useTranslation();
  const parent = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({
    count: alerts.length,
    getScrollElement: () => parent.current,
    estimateSize: () => 76,
    overscan: 8,
    initialRect: { width: 800, height: 600 },
  });
  const time = new Intl.DateTimeFormat(locale(), { timeStyle: 'medium', dateStyle: 'short' });
  return (
    <div ref={parent} className="h-[70vh] overflow-auto rounded border border-slate-300" role="list" aria-label={t('board.title')}>
      <div style={{ height: rows.getTotalSize(), position: 'relative' }}>
        {rows.getVirtualItems().map((row) => {
          const alert = alerts[row.index]!;
          const name = names.get(alert.patient_id) ?? alert.patient_id.slice(0, 8);
          return (
            <div
              key={alert.id}
              role="listitem"
              data-severity={alert.severity}
              className={`absolute left-0 right-0 flex flex-wrap items-center gap-3 border-l-8 p-2 ${COLOURS[alert.severity] ?? ''}`}
              style={{ transform: `translateY(${row.start}px)`, height: row.size }}
            >
              <span className="w-20 font-bold">{t(`board.severity.${alert.severity}`)}</span>
              <span className="flex-1">
                <span className="font-semibold">{name}</span> — {alert.message}
                <span className="block text-xs text-slate-700">
                  {time.format(new Date(alert.triggered_at))} · {t(`board.state.${alert.state}`)}
                </span>
              </span>
              <span className="flex gap-2">
                {alert.state === 'active' && (
                  <button type="button" className="rounded border border-slate-700 bg-white px-2 py-1" onClick={() => onAcknowledge(alert.id)}>
                    {t('board.acknowledge')} <span className="sr-only">{name}</span>
                  </button>
                )}
                {!alert.assigned_to && (
                  <button type="button" className="rounded border border-slate-700 bg-white px-2 py-1" onClick={() => onAssign(alert.id)}>
                    {t('board.assign')} <span className="sr-only">{name}</span>
                  </button>
                )}
                <button type="button" className="rounded border border-slate-700 bg-white px-2 py-1" onClick={() => onResolve(alert)}>
                  {t('board.resolve')} <span className="sr-only">{name}</span>
                </button>
              </span>
            </div>
          );
        })}
      </div>
    </div>
  );
}
