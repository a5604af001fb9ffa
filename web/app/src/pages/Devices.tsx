// Admins: the fleet's hubs (online or not, last seen) and registering a new one, whose
// credentials bundle can be downloaded once (the private key is not kept by the platform).
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';

import { locale } from '../i18n';

import { api, data, type Devices as DeviceTypes } from '../api';
import { download } from '../download';
import { ErrorMessage } from '../components/Status';
import { QueryTable } from '../components/Table';

type Credentials = DeviceTypes['schemas']['DeviceCredentials'];

export function Devices() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const [deviceId, setDeviceId] = useState('');
  const [label, setLabel] = useState('');
  const [bundle, setBundle] = useState<Credentials | null>(null);
  const list = useQuery({ queryKey: ['devices'], queryFn: async () => data(await api.devices.GET('/v1/devices')) });
  const register = useMutation({
    mutationFn: async () =>
      data(await api.devices.POST('/v1/devices', { body: { device_id: deviceId.trim(), label: label.trim() || undefined } })),
    onSuccess: (credentials) => {
      setBundle(credentials);
      setDeviceId('');
      setLabel('');
      void queries.invalidateQueries({ queryKey: ['devices'] });
    },
  });
  const rotate = useMutation({
    mutationFn: async (id: string) => data(await api.devices.POST('/v1/devices/{id}/rotate', { params: { path: { id } } })),
    onSuccess: (credentials) => setBundle(credentials),
  });
  const revoke = useMutation({
    mutationFn: async (id: string) => data(await api.devices.POST('/v1/devices/{id}/revoke', { params: { path: { id } } })),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ['devices'] }),
  });
  const when = (iso?: string | null) =>
    iso ? new Intl.DateTimeFormat(locale(), { dateStyle: 'short', timeStyle: 'short' }).format(new Date(iso)) : '—';

  function submit(event: FormEvent) {
    event.preventDefault();
    register.mutate();
  }

  function downloadBundle() {
    if (!bundle) return;
    download(`${bundle.device_id}-credentials.json`, JSON.stringify(bundle, null, 2), 'application/json');
    setBundle(null);
  }

  return (
    <>
      <h1 className="mb-4 text-2xl font-bold">{t('devices.title')}</h1>
      <section className="mb-6 rounded bg-white p-4 shadow-sm">
        <h2 className="mb-2 text-xl font-semibold">{t('devices.register')}</h2>
        <form onSubmit={submit} className="flex flex-wrap items-end gap-3">
          <label className="flex flex-col">
            {t('devices.id')}
            <input required value={deviceId} onChange={(e) => setDeviceId(e.target.value)} className="rounded border border-slate-400 p-2" />
          </label>
          <label className="flex flex-col">
            {t('devices.label')}
            <input value={label} onChange={(e) => setLabel(e.target.value)} className="rounded border border-slate-400 p-2" />
          </label>
          <button type="submit" disabled={register.isPending} className="rounded bg-blue-800 px-3 py-2 text-white">
            {t('devices.submit')}
          </button>
        </form>
        {(register.error ?? rotate.error ?? revoke.error) && <ErrorMessage error={register.error ?? rotate.error ?? revoke.error} />}
        {bundle && (
          <div role="status" className="mt-3 rounded bg-green-50 p-3 text-green-900">
            <p>{t('devices.downloaded')}</p>
            <button type="button" onClick={downloadBundle} className="mt-2 rounded bg-green-800 px-3 py-2 text-white">
              {t('devices.download')}
            </button>
          </div>
        )}
      </section>
      <QueryTable
        query={list}
        headers={[t('devices.id'), t('devices.label'), t('devices.online'), t('devices.lastSeen'), t('users.actions')]}
        row={(d) => (
              <tr key={d.device_id}>
                <td className="border-b p-2 font-mono">{d.device_id}</td>
                <td className="border-b p-2">{d.label}</td>
                <td className="border-b p-2">{d.online ? t('devices.online') : t('devices.offline')}</td>
                <td className="border-b p-2">{when(d.last_seen_at)}</td>
                <td className="border-b p-2">
<div className="flex flex-wrap gap-2">
                  {d.revoked ? (
                    t('devices.revoked')
                  ) : (
                    <>
                      <button type="button" className="rounded border px-2 py-1" onClick={() => rotate.mutate(d.device_id)}>
                        {t('devices.rotate')} <span className="sr-only">{d.device_id}</span>
                      </button>
                      <button type="button" className="rounded border border-red-700 px-2 py-1 text-red-800" onClick={() => revoke.mutate(d.device_id)}>
                        {t('devices.revoke')} <span className="sr-only">{d.device_id}</span>
                      </button>
                    </>
                  )}
                </div>
</td>
              </tr>
            )}
      />
    </>
  );
}
