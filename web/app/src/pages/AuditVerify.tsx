// Admins: check the audit trail end to end — every entry's keyed hash chained to the one before,
// and the chain's length against the checkpoint kept outside the database.
import { useMutation } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';

import { api, data } from '../api';
import { ErrorMessage } from '../components/Status';

export function AuditVerify() {
  const { t } = useTranslation();
  const verify = useMutation({ mutationFn: async () => data(await api.records.POST('/v1/audit/verify')) });
  const result = verify.data;
  return (
    <>
      <h1 className="mb-4 text-2xl font-bold">{t('audit.title')}</h1>
      <p className="mb-3">{t('audit.explain')}</p>
      <button type="button" disabled={verify.isPending} className="mb-3 rounded bg-blue-800 px-3 py-2 text-white" onClick={() => verify.mutate()}>
        {t('audit.verify')}
      </button>
      {verify.error && <ErrorMessage error={verify.error} />}
      {result && (
        <p role="status" className={`rounded p-3 ${result.intact ? 'bg-green-50 text-green-900' : 'bg-red-50 text-red-900'}`}>
          {result.intact
            ? t('audit.intact', { count: result.checked })
            : t('audit.broken', { problem: result.problem ?? result.first_broken_seq ?? '' })}
        </p>
      )}
    </>
  );
}
