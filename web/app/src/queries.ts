// Reads several pages share, under one cache key each, so a page never fetches what another
// just did and the key cannot drift between copies.
import { useQuery } from '@tanstack/react-query';

import { api, data } from './api';

/** The caller's patients (a clinician's care teams', everyone for an admin): up to 500. */
export function usePatients() {
  return useQuery({
    queryKey: ['patients', 'names'],
    queryFn: async () => data(await api.records.GET('/v1/patients', { params: { query: { limit: 500 } } })).patients,
  });
}

/** Clinicians' accounts (admins): up to 500. */
export function useClinicians() {
  return useQuery({
    queryKey: ['users', 'clinician'],
    queryFn: async () => data(await api.auth.GET('/v1/auth/users', { params: { query: { role: 'clinician', limit: 500 } } })).users,
  });
}

/** "FAMILY, Given Names", how a chart is labelled (as in the TUI). */
export function chartName(identity: { family_name: string; given_names: string[] }): string {
  return `${identity.family_name.toUpperCase()}, ${identity.given_names.join(' ')}`;
}
