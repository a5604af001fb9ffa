// Who is logged in. The gateway keeps the session (an HttpOnly cookie names it); this only asks
// it who we are (`GET /api/v1/session`), logs in (`POST`) and out (`DELETE`). The answer holds
// the CSRF token that state-changing calls carry, never an access or refresh token.
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createContext, useContext, type ReactNode } from 'react';

import { ApiProblem, setCsrfToken } from './api';

export type Role = 'admin' | 'clinician' | 'patient' | 'service' | 'device';

export interface Me {
  sub: string;
  role: Role;
  user?: { email: string; display_name: string } | null;
}

interface SessionAnswer {
  csrf_token: string;
  me: Me;
}

interface SessionValue {
  me: Me | null;
  loading: boolean;
  login: (email: string, password: string, totp?: string) => Promise<void>;
  logout: () => Promise<void>;
}

const SessionContext = createContext<SessionValue | null>(null);

async function problemOf(response: Response): Promise<ApiProblem> {
  const body = (await response.json().catch(() => ({}))) as { title?: string; detail?: string };
  return new ApiProblem(response.status, body.title ?? response.statusText, body.detail ?? '');
}

async function fetchSession(): Promise<SessionAnswer | null> {
  const response = await fetch('/api/v1/session', { credentials: 'same-origin' });
  if (response.status === 401) return null;
  if (!response.ok) throw await problemOf(response);
  return (await response.json()) as SessionAnswer;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const queries = useQueryClient();
  const session = useQuery({ queryKey: ['session'], queryFn: fetchSession, staleTime: 60_000 });
  const answer = session.data ?? null;
  setCsrfToken(answer?.csrf_token);
  // What one user fetched is never shown to the next one on this browser.
  const forgetOthers = () => queries.removeQueries({ predicate: (q) => q.queryKey[0] !== 'session' });

  const value: SessionValue = {
    me: answer?.me ?? null,
    loading: session.isPending,
    async login(email, password, totp) {
      const response = await fetch('/api/v1/session', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(totp ? { email, password, totp } : { email, password }),
      });
      if (!response.ok) throw await problemOf(response);
      const fresh = (await response.json()) as SessionAnswer;
      setCsrfToken(fresh.csrf_token);
      forgetOthers();
      queries.setQueryData(['session'], fresh);
    },
    async logout() {
      await fetch('/api/v1/session', {
        method: 'DELETE',
        credentials: 'same-origin',
        headers: answer ? { 'X-CSRF-Token': answer.csrf_token } : {},
      });
      setCsrfToken(undefined);
      forgetOthers();
      queries.setQueryData(['session'], null);
    },
  };
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}
