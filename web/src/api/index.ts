// Typed clients for every EpiSante service, over one gateway address. The path and schema
// types are generated from each service's published OpenAPI document (scripts/gen-api.mjs), so
// a call the document does not allow does not compile.
import createClient, { type Client, type Middleware } from 'openapi-fetch';

import type { paths as AlertsPaths } from './alerts.js';
import type { paths as AuthPaths } from './auth.js';
import type { paths as BookingsPaths } from './bookings.js';
import type { paths as DevicesPaths } from './devices.js';
import type { paths as RecordsPaths } from './records.js';

export type Api = {
  auth: Client<AuthPaths>;
  records: Client<RecordsPaths>;
  bookings: Client<BookingsPaths>;
  alerts: Client<AlertsPaths>;
  devices: Client<DevicesPaths>;
};

/** Clients for the services behind `gateway` (e.g. `http://localhost`): every path under `/api`. */
export function api(gateway: string, token?: () => string | undefined): Api {
  const baseUrl = `${gateway.replace(/\/$/, '')}/api`;
  const auth: Middleware = {
    onRequest({ request }) {
      const bearer = token?.();
      if (bearer) request.headers.set('Authorization', `Bearer ${bearer}`);
      return request;
    },
  };
  const client = <P extends {}>() => {
    const c = createClient<P>({ baseUrl });
    c.use(auth);
    return c;
  };
  return {
    auth: client<AuthPaths>(),
    records: client<RecordsPaths>(),
    bookings: client<BookingsPaths>(),
    alerts: client<AlertsPaths>(),
    devices: client<DevicesPaths>(),
  };
}
