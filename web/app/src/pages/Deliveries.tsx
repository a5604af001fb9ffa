// Admins: every message the platform sent or tried to send — queued, sent, retried, failed with
// the reason, withdrawn (no longer due), digested — filtered by state and channel.
import { useState } from 'react';
import { useTranslation } from 'react-i18next';

import { CHANNELS } from '../notifications';
import { DeliveryTable } from './Notifications';

const STATUSES = ['queued', 'sent', 'failed', 'withdrawn', 'digested'] as const;

export function Deliveries() {
  const { t } = useTranslation();
  const [status, setStatus] = useState('');
  const [channel, setChannel] = useState('');
  const input = 'rounded border border-slate-400 p-2';
  return (
    <>
      <h1 className="mb-4 text-2xl font-bold">{t('deliveries.title')}</h1>
      <div className="mb-3 flex flex-wrap gap-3">
        <label className="flex flex-col">
          {t('notifications.status')}
          <select value={status} onChange={(e) => setStatus(e.target.value)} className={input}>
            <option value="">{t('deliveries.any')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`notifications.statuses.${s}`)}
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col">
          {t('notifications.channelHeader')}
          <select value={channel} onChange={(e) => setChannel(e.target.value)} className={input}>
            <option value="">{t('deliveries.any')}</option>
            {CHANNELS.map((c) => (
              <option key={c} value={c}>
                {t(`notifications.channel.${c}`)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <DeliveryTable filter={{ status: status || undefined, channel: channel || undefined }} />
    </>
  );
}
