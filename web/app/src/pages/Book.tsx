// Booking: find a practitioner by specialty or name, pick an appointment type, browse weeks of
// free slots (`WeekPicker`), book one. A rule that refuses (too late, same specialty too soon, slot taken) is
// shown with the service's own words.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';

import { locale } from '../i18n';

import { api, data, type Bookings } from '../api';
import type { Slot } from '../components/WeekCalendar';
import { WeekPicker } from '../components/WeekPicker';
import { Empty, ErrorMessage, Loading } from '../components/Status';

type Practitioner = Bookings['schemas']['Practitioner'];

export function Book() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const [specialty, setSpecialty] = useState('');
  const [name, setName] = useState('');
  const [search, setSearch] = useState({ specialty: '', name: '' });
  const [practitioner, setPractitioner] = useState<Practitioner | null>(null);
  const [typeId, setTypeId] = useState('');

  const practitioners = useQuery({
    queryKey: ['practitioners', search.specialty],
    queryFn: async () =>
      data(
        await api.bookings.GET('/v1/practitioners', {
          params: { query: { specialty: search.specialty || undefined, limit: 200 } },
        }),
      ).items,
  });
  const types = useQuery({
    queryKey: ['appointment-types'],
    queryFn: async () => data(await api.bookings.GET('/v1/appointment-types', { params: { query: { limit: 100 } } })).items,
  });
  const chosenType = typeId || types.data?.[0]?.id || '';
  const book = useMutation({
    mutationFn: async (slot: Slot) =>
      data(
        await api.bookings.POST('/v1/appointments', {
          body: {
            practitioner_id: slot.practitioner_id,
            appointment_type_id: slot.appointment_type_id,
            starts_at: slot.starts_at,
          },
        }),
      ),
    onSuccess: () => {
      void queries.invalidateQueries({ queryKey: ['slots'] });
      void queries.invalidateQueries({ queryKey: ['appointments'] });
    },
  });

  const shown = (practitioners.data ?? []).filter((p) =>
    p.display_name.toLowerCase().includes(search.name.trim().toLowerCase()),
  );
  const when = (iso: string) =>
    new Intl.DateTimeFormat(locale(), { dateStyle: 'full', timeStyle: 'short' }).format(new Date(iso));
  return (
    <>
      <h1 className="mb-4 text-2xl font-bold">{t('book.title')}</h1>
      <form
        className="mb-4 flex flex-wrap items-end gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          setSearch({ specialty: specialty.trim().toLowerCase(), name });
        }}
      >
        <label className="flex flex-col">
          {t('book.specialty')}
          <input value={specialty} onChange={(e) => setSpecialty(e.target.value)} className="rounded border border-slate-400 p-2" />
        </label>
        <label className="flex flex-col">
          {t('book.name')}
          <input value={name} onChange={(e) => setName(e.target.value)} className="rounded border border-slate-400 p-2" />
        </label>
        <button type="submit" className="rounded bg-blue-800 px-3 py-2 text-white">
          {t('book.search')}
        </button>
      </form>
      {practitioners.isPending && <Loading />}
      {practitioners.error && <ErrorMessage error={practitioners.error} onRetry={() => void practitioners.refetch()} />}
      {practitioners.data && shown.length === 0 && <Empty />}
      <ul className="mb-4 flex flex-col gap-2" aria-label={t('book.practitioner')}>
        {shown.map((p) => (
          <li key={p.id}>
            <button
              type="button"
              aria-pressed={practitioner?.id === p.id}
              onClick={() => setPractitioner(p)}
              className={`w-full rounded border p-2 text-left ${practitioner?.id === p.id ? 'border-blue-800 bg-blue-50' : 'border-slate-300 bg-white'}`}
            >
              <span className="font-semibold">{p.display_name}</span> — {p.specialty}, {p.location}
            </button>
          </li>
        ))}
      </ul>
      {types.error && <ErrorMessage error={types.error} />}
      <label className="mb-4 flex flex-col sm:w-1/2">
        {t('book.type')}
        <select value={chosenType} onChange={(e) => setTypeId(e.target.value)} className="rounded border border-slate-400 p-2">
          {(types.data ?? []).map((ty) => (
            <option key={ty.id} value={ty.id}>
              {ty.name} ({ty.duration_minutes} min)
            </option>
          ))}
        </select>
      </label>
      {!practitioner && <p className="text-slate-600">{t('book.choose')}</p>}
      {practitioner && (
        <>
          {book.isSuccess && (
            <p role="status" className="mb-2 rounded bg-green-50 p-2 text-green-900">
              {t('book.booked', { time: when(book.data.starts_at) })}
            </p>
          )}
          {book.error && <ErrorMessage error={book.error} />}
          <WeekPicker practitioner={practitioner} appointmentTypeId={chosenType} onPick={(slot) => book.mutate(slot)} />
        </>
      )}
    </>
  );
}
