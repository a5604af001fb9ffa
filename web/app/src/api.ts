// The portal's API clients: the generated, typed clients of every service, over the gateway at
// this origin. No token ever lives here: the browser sends the gateway's HttpOnly session cookie
// and the gateway adds the bearer token (see gateway/src/session.rs). State-changing calls carry
// the session's CSRF token, which is not a credential on its own.
import createClient, { type Middleware } from 'openapi-fetch';

import type { paths as AlertsPaths } from '../../src/api/alerts.js';
import type { paths as AuthPaths } from '../../src/api/auth.js';
import type { paths as BookingsPaths } from '../../src/api/bookings.js';
import type { paths as DevicesPaths } from '../../src/api/devices.js';
import type { paths as NotifyPaths } from '../../src/api/notify.js';
import type { paths as RecordsPaths } from '../../src/api/records.js';

export type { components as Bookings } from '../../src/api/bookings.js';
export type { components as Alerts } from '../../src/api/alerts.js';
export type { components as Devices } from '../../src/api/devices.js';
export type { components as Records } from '../../src/api/records.js';
export type { components as Notify } from '../../src/api/notify.js';

let csrfToken: string | undefined;

/** Set by the session once logged in; sent with every state-changing call. */
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (csrfToken && !['GET', 'HEAD', 'OPTIONS'].includes(request.method)) {
      request.headers.set('X-CSRF-Token', csrfToken);
    }
    return request;
  },
};

function client<P extends object>() {
  const c = createClient<P>({ baseUrl: '/api', credentials: 'same-origin' });
  c.use(csrf);
  return c;
}

export const api = {
  auth: client<AuthPaths>(),
  records: client<RecordsPaths>(),
  bookings: client<BookingsPaths>(),
  alerts: client<AlertsPaths>(),
  devices: client<DevicesPaths>(),
  notify: client<NotifyPaths>(),
};

/** An API refusal, shown to the user as its problem `title` and `detail`. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
  ) {
    super(detail || title);
  }
}

/** The data of a successful call; otherwise throws an [`ApiProblem`] from the problem JSON. */
export function data<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok && result.data !== undefined) return result.data;
  if (result.response.ok) return undefined as T;
  // Problem JSON, or on FHIR paths an OperationOutcome whose first issue says what went wrong.
  const problem = (result.error ?? {}) as {
    title?: string;
    detail?: string;
    issue?: { diagnostics?: string }[];
  };
  throw new ApiProblem(
    result.response.status,
    problem.title ?? result.response.statusText,
    problem.detail ?? problem.issue?.[0]?.diagnostics ?? '',
  );
}
