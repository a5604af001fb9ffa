// A list read from the API shown as a table: loading, error (with retry) and empty states, and a
// table that scrolls inside its own box on a narrow screen (positioned, so visually hidden labels
// stay inside it too).
import type { UseQueryResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';

import { Empty, ErrorMessage, Loading } from './Status';

export function QueryTable<T>({
  query,
  headers,
  row,
  small = false,
}: {
  query: UseQueryResult<T[]>;
  headers: string[];
  row: (item: T) => ReactNode;
  small?: boolean;
}) {
  if (query.isPending) return <Loading />;
  if (query.error) return <ErrorMessage error={query.error} onRetry={() => void query.refetch()} />;
  if (query.data.length === 0) return <Empty />;
  return (
    <div className="relative overflow-x-auto">
      <table className={`w-full border-collapse bg-white text-left ${small ? 'text-sm' : ''}`}>
        <thead>
          <tr>
            {headers.map((h) => (
              <th key={h} className="border-b p-2">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{query.data.map(row)}</tbody>
      </table>
    </div>
  );
}
