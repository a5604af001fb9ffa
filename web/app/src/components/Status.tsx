// Loading, empty and error states: every page shows one of them rather than a blank area.
import { useTranslation } from 'react-i18next';

import { ApiProblem } from '../api';

export function Loading() {
  const { t } = useTranslation();
  return (
    <p role="status" className="p-4 text-slate-600">
      {t('common.loading')}
    </p>
  );
}

export function Empty({ children }: { children?: string }) {
  const { t } = useTranslation();
  return <p className="p-4 text-slate-600">{children ?? t('common.empty')}</p>;
}

/** An API error as its problem `title` and `detail`. */
export function ErrorMessage({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useTranslation();
  const title = error instanceof ApiProblem ? error.title : t('common.error');
  const detail = error instanceof Error ? error.message : String(error);
  return (
    <div role="alert" className="my-3 rounded border border-red-300 bg-red-50 p-3 text-red-900">
      <p className="font-semibold">{title}</p>
      {detail && detail !== title && <p>{detail}</p>}
      {onRetry && (
        <button type="button" onClick={onRetry} className="mt-2 underline">
          {t('common.retry')}
        </button>
      )}
    </div>
  );
}
