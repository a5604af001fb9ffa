// Admins: practitioners (a clinician's public profile: specialty, place, languages, time zone),
// their weekly hours, and the appointment types patients can book.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';

import { useClinicians } from '../queries';
import { api, data } from '../api';
import { Empty, ErrorMessage, Loading } from '../components/Status';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

function Hours({ id }: { id: string }) {
  const { t } = useTranslation();
  const [days, setDays] = useState<string[]>(['mon', 'tue', 'wed', 'thu', 'fri']);
  const [start, setStart] = useState('09:00');
  const [end, setEnd] = useState('17:00');
  const save = useMutation({
    mutationFn: async () =>
      data(
        await api.bookings.PUT('/v1/practitioners/{id}/availability', {
          params: { path: { id } },
          body: { weekly: days.map((weekday) => ({ weekday, start, end })) },
        }),
      ),
  });
  return (
    <fieldset className="mt-2 flex flex-wrap items-end gap-2">
      <legend className="sr-only">{t('practitioners.hours')}</legend>
      {DAYS.map((d) => (
        <label key={d} className="flex items-center gap-1">
          <input
            type="checkbox"
            checked={days.includes(d)}
            onChange={(e) => setDays(e.target.checked ? [...days, d] : days.filter((x) => x !== d))}
          />
          {t(`practitioners.days.${d}`)}
        </label>
      ))}
      <label className="flex flex-col text-sm">
        {t('practitioners.from')}
        <input type="time" value={start} onChange={(e) => setStart(e.target.value)} className="rounded border border-slate-400 p-1" />
      </label>
      <label className="flex flex-col text-sm">
        {t('practitioners.to')}
        <input type="time" value={end} onChange={(e) => setEnd(e.target.value)} className="rounded border border-slate-400 p-1" />
      </label>
      <button type="button" className="rounded border px-2 py-1" onClick={() => save.mutate()}>
        {t('practitioners.saveHours')}
      </button>
      {save.isSuccess && <span role="status">{t('record.saved')}</span>}
      {save.error && <ErrorMessage error={save.error} />}
    </fieldset>
  );
}

export function Practitioners() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const [form, setForm] = useState({ user_id: '', specialty: '', location: '', languages: 'fr, en', time_zone: zone });
  const [typeForm, setTypeForm] = useState({ name: '', duration_minutes: 30 });
  const list = useQuery({
    queryKey: ['practitioners', 'all'],
    queryFn: async () => data(await api.bookings.GET('/v1/practitioners', { params: { query: { limit: 200 } } })).items,
  });
  const clinicians = useClinicians();
  const types = useQuery({
    queryKey: ['appointment-types'],
    queryFn: async () => data(await api.bookings.GET('/v1/appointment-types', { params: { query: { limit: 100 } } })).items,
  });
  const create = useMutation({
    mutationFn: async () => {
      const user = clinicians.data?.find((u) => u.id === form.user_id);
      return data(
        await api.bookings.POST('/v1/practitioners', {
          body: {
            user_id: form.user_id,
            display_name: user?.display_name ?? '',
            specialty: form.specialty,
            location: form.location,
            languages: form.languages.split(',').map((l) => l.trim()).filter(Boolean),
            time_zone: form.time_zone,
          },
        }),
      );
    },
    onSuccess: () => void queries.invalidateQueries({ queryKey: ['practitioners'] }),
  });
  const createType = useMutation({
    mutationFn: async () => data(await api.bookings.POST('/v1/appointment-types', { body: typeForm })),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ['appointment-types'] }),
  });
  const input = 'rounded border border-slate-400 p-2';
  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate();
  }
  function submitType(event: FormEvent) {
    event.preventDefault();
    createType.mutate();
  }
  return (
    <>
      <h1 className="mb-4 text-2xl font-bold">{t('practitioners.title')}</h1>
      <form onSubmit={submit} className="mb-4 flex flex-wrap items-end gap-3 rounded bg-white p-4 shadow-sm">
        <label className="flex flex-col">
          {t('practitioners.clinician')}
          <select required value={form.user_id} onChange={(e) => setForm({ ...form, user_id: e.target.value })} className={input}>
            <option value="">—</option>
            {(clinicians.data ?? []).map((u) => (
              <option key={u.id} value={u.id}>
                {u.display_name}
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col">
          {t('book.specialty')}
          <input required value={form.specialty} onChange={(e) => setForm({ ...form, specialty: e.target.value })} className={input} />
        </label>
        <label className="flex flex-col">
          {t('practitioners.location')}
          <input required value={form.location} onChange={(e) => setForm({ ...form, location: e.target.value })} className={input} />
        </label>
        <label className="flex flex-col">
          {t('practitioners.languages')}
          <input value={form.languages} onChange={(e) => setForm({ ...form, languages: e.target.value })} className={input} />
        </label>
        <label className="flex flex-col">
          {t('practitioners.zone')}
          <input required value={form.time_zone} onChange={(e) => setForm({ ...form, time_zone: e.target.value })} className={input} />
        </label>
        <button type="submit" className="rounded bg-blue-800 px-3 py-2 text-white">
          {t('practitioners.create')}
        </button>
      </form>
      {create.error && <ErrorMessage error={create.error} />}
      {list.isPending && <Loading />}
      {list.error && <ErrorMessage error={list.error} />}
      {list.data && list.data.length === 0 && <Empty />}
      <ul className="mb-6 flex flex-col gap-3">
        {(list.data ?? []).map((p) => (
          <li key={p.id} className="rounded bg-white p-3 shadow-sm">
            <span className="font-semibold">{p.display_name}</span> — {p.specialty}, {p.location} ({p.time_zone})
            <Hours id={p.id} />
          </li>
        ))}
      </ul>
      <h2 className="mb-2 text-xl font-semibold">{t('practitioners.types')}</h2>
      <form onSubmit={submitType} className="mb-3 flex flex-wrap items-end gap-3">
        <label className="flex flex-col">
          {t('practitioners.typeName')}
          <input required value={typeForm.name} onChange={(e) => setTypeForm({ ...typeForm, name: e.target.value })} className={input} />
        </label>
        <label className="flex flex-col">
          {t('practitioners.minutes')}
          <input
            type="number"
            min={5}
            max={480}
            value={typeForm.duration_minutes}
            onChange={(e) => setTypeForm({ ...typeForm, duration_minutes: Number(e.target.value) })}
            className={input}
          />
        </label>
        <button type="submit" className="rounded bg-blue-800 px-3 py-2 text-white">
          {t('practitioners.addType')}
        </button>
      </form>
      {createType.error && <ErrorMessage error={createType.error} />}
      <ul className="flex flex-col gap-1">
        {(types.data ?? []).map((ty) => (
          <li key={ty.id}>
            {ty.name} — {ty.duration_minutes} min
          </li>
        ))}
      </ul>
    </>
  );
}
