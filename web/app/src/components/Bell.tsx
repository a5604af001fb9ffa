// The bell in the header: how many portal messages the person has not read, live over the
// notify service's SSE stream (`/api/v1/notifications/inbox/stream`, `event: unread`); a link to
// the notifications page. When the stream ends (token expired) the browser reconnects with the
// refreshed session.
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';

import { inboxQuery } from '../notifications';

export function Bell() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const [unread, setUnread] = useState<number | null>(null);
  useEffect(() => {
    const feed = new EventSource('/api/v1/notifications/inbox/stream');
    feed.addEventListener('unread', (message) => {
      const { unread: count } = JSON.parse((message as MessageEvent<string>).data) as { unread: number };
      setUnread(count);
      void queries.invalidateQueries({ queryKey: inboxQuery.queryKey });
    });
    return () => feed.close();
  }, [queries]);
  const count = unread ?? 0;
  return (
    <Link
      to="/notifications"
      className="relative rounded px-2 py-1 hover:bg-blue-800"
      aria-label={t('bell.label', { count })}
      data-testid="bell"
    >
      <svg aria-hidden="true" viewBox="0 0 24 24" className="inline h-5 w-5 fill-current">
        <path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z" />
      </svg>
      {count > 0 && (
        <span aria-hidden="true" className="ml-1 rounded-full bg-red-600 px-2 text-sm font-bold" data-testid="bell-count">
          {count}
        </span>
      )}
    </Link>
  );
}
