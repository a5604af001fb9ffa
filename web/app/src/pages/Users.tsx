// Admins: people's accounts — create one with a role, change a role, deactivate, and issue a
// one-time password-reset token to hand to the person (shown once).
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';

import { api, data } from '../api';
import { ErrorMessage } from '../components/Status';
import { QueryTable } from '../components/Table';

type PersonRole = 'admin' | 'clinician' | 'patient';
const ROLES: PersonRole[] = ['patient', 'clinician', 'admin'];

export function Users() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const [form, setForm] = useState({ email: '', display_name: '', password: '', role: 'clinician' as PersonRole });
  const [reset, setReset] = useState<{ email: string; token: string } | null>(null);
  const list = useQuery({
    queryKey: ['users'],
    queryFn: async () => data(await api.auth.GET('/v1/auth/users', { params: { query: { limit: 500 } } })).users,
  });
  const refresh = () => void queries.invalidateQueries({ queryKey: ['users'] });
  const create = useMutation({
    mutationFn: async () => data(await api.auth.POST('/v1/auth/users', { body: form })),
    onSuccess: () => {
      setForm({ email: '', display_name: '', password: '', role: 'clinician' });
      refresh();
    },
  });
  const update = useMutation({
    mutationFn: async ({ id, role }: { id: string; role: PersonRole }) =>
      data(await api.auth.PATCH('/v1/auth/users/{id}', { params: { path: { id } }, body: { role } })),
    onSuccess: refresh,
  });
  const deactivate = useMutation({
    mutationFn: async (id: string) => data(await api.auth.POST('/v1/auth/users/{id}/deactivate', { params: { path: { id } } })),
    onSuccess: refresh,
  });
  const issue = useMutation({
    mutationFn: async ({ id, email }: { id: string; email: string }) => ({
      email,
      token: data(await api.auth.POST('/v1/auth/users/{id}/password-reset', { params: { path: { id } } })).reset_token,
    }),
    onSuccess: setReset,
  });
  const failed = create.error ?? update.error ?? deactivate.error ?? issue.error;

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate();
  }
  const input = 'rounded border border-slate-400 p-2';
  return (
    <>
      <h1 className="mb-4 text-2xl font-bold">{t('users.title')}</h1>
      <form onSubmit={submit} className="mb-4 flex flex-wrap items-end gap-3 rounded bg-white p-4 shadow-sm">
        <label className="flex flex-col">
          {t('login.email')}
          <input type="email" required value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} className={input} />
        </label>
        <label className="flex flex-col">
          {t('users.name')}
          <input required value={form.display_name} onChange={(e) => setForm({ ...form, display_name: e.target.value })} className={input} />
        </label>
        <label className="flex flex-col">
          {t('signup.password')}
          <input type="password" autoComplete="new-password" required minLength={12} value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} className={input} />
        </label>
        <label className="flex flex-col">
          {t('users.role')}
          <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as PersonRole })} className={input}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {t(`users.roles.${r}`)}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="rounded bg-blue-800 px-3 py-2 text-white">
          {t('users.create')}
        </button>
      </form>
      {failed && <ErrorMessage error={failed} />}
      {reset && (
        <p role="status" className="mb-3 rounded bg-yellow-50 p-3">
          {t('users.resetIssued', { email: reset.email })} <code className="break-all font-mono">{reset.token}</code>
        </p>
      )}
      <QueryTable
        query={list}
        headers={[t('users.name'), t('login.email'), t('users.role'), t('users.actions')]}
        small
        row={(u) => (
              <tr key={u.id} className={u.active ? '' : 'text-slate-500'}>
                <td className="border-b p-2">{u.display_name}</td>
                <td className="border-b p-2">{u.email}</td>
                <td className="border-b p-2">
                  <select
                    aria-label={t('users.roleOf', { name: u.display_name })}
                    value={u.role}
                    disabled={!u.active}
                    onChange={(e) => update.mutate({ id: u.id, role: e.target.value as PersonRole })}
                    className="rounded border border-slate-400 p-1"
                  >
                    {ROLES.map((r) => (
                      <option key={r} value={r}>
                        {t(`users.roles.${r}`)}
                      </option>
                    ))}
                  </select>
                </td>
                <td className="border-b p-2">
<div className="flex flex-wrap gap-2">
                  {u.active ? (
                    <>
                      <button type="button" className="rounded border px-2 py-1" onClick={() => issue.mutate({ id: u.id, email: u.email })}>
                        {t('users.reset')} <span className="sr-only">{u.display_name}</span>
                      </button>
                      <button type="button" className="rounded border border-red-700 px-2 py-1 text-red-800" onClick={() => deactivate.mutate(u.id)}>
                        {t('users.deactivate')} <span className="sr-only">{u.display_name}</span>
                      </button>
                    </>
                  ) : (
                    t('users.inactive')
                  )}
                </div>
</td>
              </tr>
            )}
      />
    </>
  );
}
