// Everyone: the portal's messages (the bell's inbox: read one, read all), how each kind of
// message reaches you (email, SMS, portal; a phone for SMS; quiet hours; on call for clinicians
// and admins) and the log of every message sent to you. The service checks every value and
// names the refused field; nothing is kept then.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';

import { api, data } from '../api';
import { locale } from '../i18n';
import { ErrorMessage, Loading } from '../components/Status';
import { QueryTable } from '../components/Table';
import {
  CHANNELS,
  channelsOf,
  deliveriesQuery,
  inboxQuery,
  PAGE_KINDS,
  PATIENT_KINDS,
  preferencesQuery,
  SECURITY_KINDS,
  toggled,
  type LogEntry,
  type PreferencesForm,
} from '../notifications';
import { useSession } from '../session';

function when(at: string): string {
  return new Date(at).toLocaleString(locale(), { dateStyle: 'medium', timeStyle: 'short' });
}

export function Notifications() {
  const { t } = useTranslation();
  return (
    <>
      <h1 className="mb-4 text-2xl font-bold">{t('notifications.title')}</h1>
      <Inbox />
      <Preferences />
      <section aria-labelledby="sent-heading" className="mt-6">
        <h2 id="sent-heading" className="mb-2 text-xl font-semibold">
          {t('notifications.sent')}
        </h2>
        <DeliveryTable filter={{}} />
      </section>
    </>
  );
}

function Inbox() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const inbox = useQuery(inboxQuery);
  const refresh = () => void queries.invalidateQueries({ queryKey: inboxQuery.queryKey });
  const readOne = useMutation({
    mutationFn: async (id: number) =>
      data(await api.notify.POST('/v1/notifications/inbox/{id}/read', { params: { path: { id } } })),
    onSuccess: refresh,
  });
  const readAll = useMutation({
    mutationFn: async () => data(await api.notify.POST('/v1/notifications/inbox/read-all')),
    onSuccess: refresh,
  });
  if (inbox.isPending) return <Loading />;
  if (inbox.error) return <ErrorMessage error={inbox.error} onRetry={() => void inbox.refetch()} />;
  const items = inbox.data.items;
  return (
    <section aria-labelledby="inbox-heading">
      <div className="mb-2 flex flex-wrap items-center gap-3">
        <h2 id="inbox-heading" className="text-xl font-semibold">
          {t('notifications.inbox', { count: inbox.data.unread })}
        </h2>
        {inbox.data.unread > 0 && (
          <button type="button" className="rounded border border-blue-800 px-2 py-1" onClick={() => readAll.mutate()}>
            {t('notifications.readAll')}
          </button>
        )}
      </div>
      {(readOne.error ?? readAll.error) && <ErrorMessage error={readOne.error ?? readAll.error} />}
      {items.length === 0 ? (
        <p className="text-slate-600">{t('notifications.none')}</p>
      ) : (
        <ul className="divide-y rounded bg-white shadow-sm">
          {items.map((m) => (
            <li key={m.id} className="flex flex-wrap items-center gap-3 p-3" data-testid="inbox-item">
              <span className={m.read_at ? '' : 'font-semibold'}>{m.subject}</span>
              <span className="text-sm text-slate-600">{when(m.created_at)}</span>
              {!m.read_at && (
                <button type="button" className="ml-auto underline" onClick={() => readOne.mutate(m.id)}>
                  {t('notifications.markRead')}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Preferences() {
  const stored = useQuery(preferencesQuery);
  if (stored.isPending) return <Loading />;
  if (stored.error) return <ErrorMessage error={stored.error} onRetry={() => void stored.refetch()} />;
  return <PreferencesEditor initial={stored.data} />;
}

/** The form, starting from what is stored; saved as a whole. */
function PreferencesEditor({ initial }: { initial: PreferencesForm }) {
  const { t } = useTranslation();
  const { me } = useSession();
  const queries = useQueryClient();
  const [form, setForm] = useState<PreferencesForm>(initial);
  const save = useMutation({
    mutationFn: async (body: PreferencesForm) => data(await api.notify.PUT('/v1/notifications/preferences/me', { body })),
    onSuccess: (saved) => {
      queries.setQueryData(preferencesQuery.queryKey, saved);
      setForm(saved);
    },
  });
  const staff = me?.role === 'clinician' || me?.role === 'admin';
  const kinds = staff ? [...PAGE_KINDS, ...SECURITY_KINDS] : [...PATIENT_KINDS, ...SECURITY_KINDS];
  const quiet = form.quiet_hours;
  const deviceZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const input = 'rounded border border-slate-400 p-2';
  function submit(event: FormEvent) {
    event.preventDefault();
    save.mutate(form);
  }
  return (
    <section aria-labelledby="prefs-heading" className="mt-6">
      <h2 id="prefs-heading" className="mb-2 text-xl font-semibold">
        {t('notifications.preferences')}
      </h2>
      <form onSubmit={submit} className="flex flex-col gap-4 rounded bg-white p-4 shadow-sm">
        <label className="flex flex-col">
          {t('notifications.phone')}
          <input
            type="tel"
            inputMode="tel"
            autoComplete="tel"
            placeholder="+33612345678"
            value={form.phone ?? ''}
            onChange={(e) => setForm({ ...form, phone: e.target.value || null })}
            className={`${input} max-w-xs`}
          />
          <span className="text-sm text-slate-600">{t('notifications.phoneHint')}</span>
        </label>
        <div className="flex flex-wrap items-end gap-2">
          <label className="flex flex-col">
            {t('notifications.timeZone')}
            <input
              value={form.time_zone ?? ''}
              placeholder="Europe/Paris"
              onChange={(e) => setForm({ ...form, time_zone: e.target.value || null })}
              className={`${input} max-w-xs`}
            />
          </label>
          <button type="button" className="rounded border border-blue-800 px-2 py-2" onClick={() => setForm({ ...form, time_zone: deviceZone })}>
            {t('notifications.useDeviceZone', { zone: deviceZone })}
          </button>
        </div>
        <div className="relative overflow-x-auto">
          <table className="w-full border-collapse text-left">
            <caption className="text-left font-semibold">{t('notifications.channels')}</caption>
            <thead>
              <tr>
                <th className="border-b p-2">{t('notifications.kind')}</th>
                {CHANNELS.map((c) => (
                  <th key={c} className="border-b p-2">
                    {t(`notifications.channel.${c}`)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {kinds.map((kind) => {
                const on = channelsOf(form, kind);
                return (
                  <tr key={kind}>
                    <th scope="row" className="border-b p-2 font-normal">
                      {t(`notifications.kinds.${kind}`)}
                    </th>
                    {CHANNELS.map((c) => (
                      <td key={c} className="border-b p-2">
                        <input
                          type="checkbox"
                          aria-label={`${t(`notifications.kinds.${kind}`)}: ${t(`notifications.channel.${c}`)}`}
                          checked={on.includes(c)}
                          disabled={c === 'sms' && !form.phone}
                          onChange={(e) => setForm(toggled(form, kind, c, e.target.checked))}
                        />
                      </td>
                    ))}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        <fieldset className="flex flex-wrap items-end gap-3">
          <legend className="font-semibold">{t('notifications.quiet')}</legend>
          <label className="flex items-center gap-2">
            <input
              type="checkbox"
              checked={!!quiet}
              onChange={(e) =>
                setForm({
                  ...form,
                  quiet_hours: e.target.checked
                    ? { start: '22:00', end: '07:00', time_zone: form.time_zone ?? deviceZone }
                    : null,
                })
              }
            />
            {t('notifications.quietOn')}
          </label>
          {quiet && (
            <>
              <label className="flex flex-col">
                {t('notifications.from')}
                <input type="time" value={quiet.start} onChange={(e) => setForm({ ...form, quiet_hours: { ...quiet, start: e.target.value } })} className={input} />
              </label>
              <label className="flex flex-col">
                {t('notifications.to')}
                <input type="time" value={quiet.end} onChange={(e) => setForm({ ...form, quiet_hours: { ...quiet, end: e.target.value } })} className={input} />
              </label>
              <span className="text-sm text-slate-600">{quiet.time_zone}</span>
            </>
          )}
        </fieldset>
        {staff && (
          <label className="flex items-center gap-2">
            <input type="checkbox" checked={form.on_call ?? false} onChange={(e) => setForm({ ...form, on_call: e.target.checked })} />
            {t('notifications.onCall')}
          </label>
        )}
        {save.error && <ErrorMessage error={save.error} />}
        {save.isSuccess && !save.isPending && (
          <p role="status" className="text-green-900">
            {t('notifications.saved')}
          </p>
        )}
        <button type="submit" disabled={save.isPending} className="self-start rounded bg-blue-800 px-3 py-2 text-white">
          {t('notifications.save')}
        </button>
      </form>
    </section>
  );
}

/** The delivery log: everyone's for admins (with filters), one's own otherwise. */
export function DeliveryTable({ filter }: { filter: { status?: string; channel?: string } }) {
  const { t } = useTranslation();
  const log = useQuery({ ...deliveriesQuery(filter), select: (page) => page.items });
  return (
    <QueryTable<LogEntry>
      query={log}
      small
      headers={[
        t('notifications.at'),
        t('notifications.kind'),
        t('notifications.channelHeader'),
        t('notifications.to'),
        t('notifications.status'),
        t('notifications.why'),
      ]}
      row={(d) => (
        <tr key={d.id}>
          <td className="border-b p-2">{when(d.created_at)}</td>
          <td className="border-b p-2">{t(`notifications.kinds.${d.kind}`, { defaultValue: d.kind })}</td>
          <td className="border-b p-2">{t(`notifications.channel.${d.channel}`, { defaultValue: d.channel })}</td>
          <td className="border-b p-2">{d.channel === 'portal' ? '—' : d.address}</td>
          <td className="border-b p-2">
            {t(`notifications.statuses.${d.status}`, { defaultValue: d.status })}
            {d.attempts > 1 ? ` (${d.attempts})` : ''}
          </td>
          <td className="border-b p-2">{d.last_error ?? ''}</td>
        </tr>
      )}
    />
  );
}
