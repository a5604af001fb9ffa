// Admins: care teams — who looks after whom. A clinician sees (and is alerted about) exactly the
// patients of the teams they belong to.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';

import { chartName, useClinicians, usePatients } from '../queries';
import { api, data } from '../api';
import { Empty, ErrorMessage, Loading } from '../components/Status';

function Team({ id, name }: { id: string; name: string }) {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const [clinician, setClinician] = useState('');
  const [patient, setPatient] = useState('');
  const team = useQuery({ queryKey: ['care-team', id], queryFn: async () => data(await api.records.GET('/v1/care-teams/{id}', { params: { path: { id } } })) });
  const clinicians = useClinicians();
  const patients = usePatients();
  const done = () => void queries.invalidateQueries({ queryKey: ['care-team', id] });
  const addMember = useMutation({
    mutationFn: async (clinician_id: string) =>
      data(await api.records.PUT('/v1/care-teams/{id}/members/{clinician_id}', { params: { path: { id, clinician_id } } })),
    onSuccess: done,
  });
  const addPatient = useMutation({
    mutationFn: async (patient_id: string) =>
      data(await api.records.PUT('/v1/care-teams/{id}/patients/{patient_id}', { params: { path: { id, patient_id } } })),
    onSuccess: done,
  });
  const clinicianName = new Map((clinicians.data ?? []).map((u) => [u.id, u.display_name]));
  const patientName = new Map(
    (patients.data ?? []).map((p) => [p.id, chartName(p.identity)]),
  );
  return (
    <li className="rounded bg-white p-3 shadow-sm">
      <h2 className="text-lg font-semibold">{name}</h2>
      {team.error && <ErrorMessage error={team.error} />}
      {(addMember.error ?? addPatient.error) && <ErrorMessage error={addMember.error ?? addPatient.error} />}
      <p>
        {t('teams.members')}: {(team.data?.members ?? []).map((m) => clinicianName.get(m) ?? m.slice(0, 8)).join(', ') || '—'}
      </p>
      <p>
        {t('teams.patients')}: {(team.data?.patients ?? []).map((p) => patientName.get(p) ?? p.slice(0, 8)).join(', ') || '—'}
      </p>
      <div className="mt-2 flex flex-wrap gap-3">
        <label className="flex items-center gap-2">
          {t('teams.addMember')}
          <select value={clinician} onChange={(e) => setClinician(e.target.value)} className="rounded border border-slate-400 p-1">
            <option value="">—</option>
            {(clinicians.data ?? []).map((u) => (
              <option key={u.id} value={u.id}>
                {u.display_name}
              </option>
            ))}
          </select>
        </label>
        <button type="button" disabled={!clinician} className="rounded border px-2 py-1" onClick={() => addMember.mutate(clinician)}>
          {t('teams.add')} <span className="sr-only">{t('teams.addMember')}</span>
        </button>
        <label className="flex items-center gap-2">
          {t('teams.addPatient')}
          <select value={patient} onChange={(e) => setPatient(e.target.value)} className="rounded border border-slate-400 p-1">
            <option value="">—</option>
            {(patients.data ?? []).map((p) => (
              <option key={p.id} value={p.id}>
                {patientName.get(p.id)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" disabled={!patient} className="rounded border px-2 py-1" onClick={() => addPatient.mutate(patient)}>
          {t('teams.add')} <span className="sr-only">{t('teams.addPatient')}</span>
        </button>
      </div>
    </li>
  );
}

export function CareTeams() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const [name, setName] = useState('');
  const teams = useQuery({ queryKey: ['care-teams'], queryFn: async () => data(await api.records.GET('/v1/care-teams')) });
  const create = useMutation({
    mutationFn: async () => data(await api.records.POST('/v1/care-teams', { body: { name } })),
    onSuccess: () => {
      setName('');
      void queries.invalidateQueries({ queryKey: ['care-teams'] });
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate();
  }
  return (
    <>
      <h1 className="mb-4 text-2xl font-bold">{t('teams.title')}</h1>
      <form onSubmit={submit} className="mb-4 flex flex-wrap items-end gap-3">
        <label className="flex flex-col">
          {t('teams.name')}
          <input required value={name} onChange={(e) => setName(e.target.value)} className="rounded border border-slate-400 p-2" />
        </label>
        <button type="submit" className="rounded bg-blue-800 px-3 py-2 text-white">
          {t('teams.create')}
        </button>
      </form>
      {create.error && <ErrorMessage error={create.error} />}
      {teams.isPending && <Loading />}
      {teams.error && <ErrorMessage error={teams.error} />}
      {teams.data && teams.data.length === 0 && <Empty />}
      <ul className="flex flex-col gap-3">
        {(teams.data ?? []).map((team) => (
          <Team key={team.id} id={team.id} name={team.name} />
        ))}
      </ul>
    </>
  );
}
