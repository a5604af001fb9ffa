// Moving an appointment to another free slot of the same practitioner. The old slot is freed and
// the new one taken in one transaction; a rule that refuses (too late to move, slot just taken)
// is shown in the service's words and the appointment stays as it was.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';

import { locale } from '../i18n';
import { useNavigate, useParams } from 'react-router';

import { api, data } from '../api';
import { ErrorMessage, Loading } from '../components/Status';
import { WeekPicker } from '../components/WeekPicker';

export function Reschedule() {
  const { t } = useTranslation();
  const { id = '' } = useParams();
  const navigate = useNavigate();
  const queries = useQueryClient();
  const appointment = useQuery({
    queryKey: ['appointment', id],
    queryFn: async () => data(await api.bookings.GET('/v1/appointments/{id}', { params: { path: { id } } })),
  });
  const practitionerId = appointment.data?.practitioner_id;
  const practitioner = useQuery({
    enabled: Boolean(practitionerId),
    queryKey: ['practitioner', practitionerId],
    queryFn: async () =>
      data(await api.bookings.GET('/v1/practitioners/{id}', { params: { path: { id: practitionerId! } } })),
  });
  const move = useMutation({
    mutationFn: async (startsAt: string) =>
      data(await api.bookings.POST('/v1/appointments/{id}/reschedule', { params: { path: { id } }, body: { starts_at: startsAt } })),
    onSuccess: () => {
      void queries.invalidateQueries({ queryKey: ['appointments'] });
      void navigate('/appointments', { state: { rescheduled: true } });
    },
  });

  if (appointment.error) return <ErrorMessage error={appointment.error} />;
  if (practitioner.error) return <ErrorMessage error={practitioner.error} />;
  if (!appointment.data || !practitioner.data) return <Loading />;
  const when = new Intl.DateTimeFormat(locale(), { dateStyle: 'full', timeStyle: 'short' }).format(
    new Date(appointment.data.starts_at),
  );
  return (
    <>
      <h1 className="mb-2 text-2xl font-bold">{t('appointments.rescheduleTitle')}</h1>
      <p className="mb-4">{t('appointments.currently', { time: when, name: practitioner.data.display_name })}</p>
      {move.error && <ErrorMessage error={move.error} />}
      <WeekPicker
        practitioner={practitioner.data}
        appointmentTypeId={appointment.data.appointment_type_id}
        onPick={(slot) => move.mutate(slot.starts_at)}
      />
    </>
  );
}
