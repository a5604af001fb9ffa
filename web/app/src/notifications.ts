// Notifications: the bell's inbox, each person's preferences and the delivery log (the notify
// service, /api/v1/notifications). Query keys and pure helpers live here so the bell, the
// notifications page and the admins' log share them.
import { queryOptions } from '@tanstack/react-query';

import { api, data, type Notify } from './api';

export type PreferencesForm = Notify['schemas']['PreferencesForm'];
export type LogEntry = Notify['schemas']['LogEntry'];

export const CHANNELS = ['email', 'sms', 'portal'] as const;
export type Channel = (typeof CHANNELS)[number];

/** The kinds a person chooses channels for, patients' first (digests follow `alert_page`). */
export const PATIENT_KINDS = [
  'appointment_booked',
  'appointment_rescheduled',
  'appointment_cancelled',
  'reminder_24h',
  'reminder_1h',
  'slot_offered',
] as const;
export const PAGE_KINDS = ['alert_page', 'alert_escalated'] as const;
export const SECURITY_KINDS = ['password_changed', 'new_sign_in'] as const;

export const inboxQuery = queryOptions({
  queryKey: ['notifications', 'inbox'],
  queryFn: async () => data(await api.notify.GET('/v1/notifications/inbox', { params: { query: { limit: 50 } } })),
});

export const preferencesQuery = queryOptions({
  queryKey: ['notifications', 'preferences', 'me'],
  queryFn: async () => data(await api.notify.GET('/v1/notifications/preferences/me')),
});

export function deliveriesQuery(filter: { status?: string; channel?: string; recipient?: string }) {
  return queryOptions({
    queryKey: ['notifications', 'deliveries', filter],
    queryFn: async () =>
      data(
        await api.notify.GET('/v1/notifications/deliveries', {
          params: { query: { limit: 200, ...filterOut(filter) } },
        }),
      ),
  });
}

function filterOut(filter: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(filter).filter(([, v]) => v)) as Record<string, string>;
}

/** The channels `kind` goes to: the person's choice, else everything reachable (SMS needs a phone). */
export function channelsOf(prefs: PreferencesForm, kind: string): Channel[] {
  const chosen = prefs.channels?.[kind] as Channel[] | undefined;
  if (chosen) return chosen;
  return CHANNELS.filter((c) => c !== 'sms' || !!prefs.phone);
}

/** `prefs` with `channel` switched on or off for `kind` (the choice becomes explicit). */
export function toggled(prefs: PreferencesForm, kind: string, channel: Channel, on: boolean): PreferencesForm {
  const current = channelsOf(prefs, kind);
  const next = on ? [...new Set([...current, channel])] : current.filter((c) => c !== channel);
  return { ...prefs, channels: { ...prefs.channels, [kind]: CHANNELS.filter((c) => next.includes(c)) } };
}
