// A patient's sign-up: their account (auth), then their record (records) bound to it, with their
// consent to the processing of their health data recorded with the notice's version and time.
// If the second step is refused (a national id already registered, say), the account exists and
// is logged in: fixing the form and sending it again creates the record only.
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate } from 'react-router';

import { api, data } from '../api';
import { ErrorMessage } from '../components/Status';
import { useSession } from '../session';

/** The data-processing notice the consent box refers to; bump it when its text changes. */
export const CONSENT = { scope: 'health-data-processing', version: '2026-12' } as const;

type Sex = 'female' | 'male' | 'other' | 'unknown';

export function SignUp() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const { me, login } = useSession();
  const [form, setForm] = useState({
    email: '',
    password: '',
    given: '',
    family: '',
    birth: '',
    sex: 'unknown' as Sex,
    phone: '',
  });
  const [consent, setConsent] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (field: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm({ ...form, [field]: e.target.value });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (!me) {
        data(
          await api.auth.POST('/v1/auth/register', {
            body: {
              email: form.email,
              password: form.password,
              display_name: `${form.given} ${form.family}`.trim(),
            },
          }),
        );
        await login(form.email, form.password);
      }
      data(
        await api.records.POST('/v1/patients/self', {
          body: {
            given_names: form.given.trim().split(/\s+/),
            family_name: form.family.trim(),
            birth_date: form.birth,
            sex: form.sex,
            email: form.email || undefined,
            phone: form.phone || undefined,
            consent: CONSENT,
          },
        }),
      );
      void navigate('/appointments');
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const field = 'rounded border border-slate-400 p-2';
  // Inside the logged-in layout, which has the page's <main>, this is a section.
  const Frame = me ? 'section' : 'main';
  return (
    <Frame id={me ? undefined : 'main'} className="mx-auto mt-8 max-w-md rounded bg-white p-6 shadow">
      <h1 className="mb-4 text-2xl font-bold">{t('signup.title')}</h1>
      <form onSubmit={(e) => void submit(e)} className="flex flex-col gap-3">
        {!me && (
          <>
            <label className="flex flex-col">
              {t('login.email')}
              <input type="email" autoComplete="email" required value={form.email} onChange={set('email')} className={field} />
            </label>
            <label className="flex flex-col">
              {t('signup.password')}
              <input type="password" autoComplete="new-password" required minLength={12} value={form.password} onChange={set('password')} className={field} />
            </label>
          </>
        )}
        <label className="flex flex-col">
          {t('signup.given')}
          <input autoComplete="given-name" required value={form.given} onChange={set('given')} className={field} />
        </label>
        <label className="flex flex-col">
          {t('signup.family')}
          <input autoComplete="family-name" required value={form.family} onChange={set('family')} className={field} />
        </label>
        <label className="flex flex-col">
          {t('signup.birth')}
          <input type="date" autoComplete="bday" required value={form.birth} onChange={set('birth')} className={field} />
        </label>
        <label className="flex flex-col">
          {t('signup.sex')}
          <select value={form.sex} onChange={set('sex')} className={field}>
            <option value="female">{t('signup.sexes.female')}</option>
            <option value="male">{t('signup.sexes.male')}</option>
            <option value="other">{t('signup.sexes.other')}</option>
            <option value="unknown">{t('signup.sexes.unknown')}</option>
          </select>
        </label>
        <label className="flex flex-col">
          {t('signup.phone')}
          <input type="tel" autoComplete="tel" value={form.phone} onChange={set('phone')} className={field} />
        </label>
        <label className="flex items-start gap-2">
          <input type="checkbox" required checked={consent} onChange={(e) => setConsent(e.target.checked)} className="mt-1" />
          <span>{t('signup.consent', { version: CONSENT.version })}</span>
        </label>
        {error !== null && <ErrorMessage error={error} />}
        <button type="submit" disabled={busy || !consent} className="rounded bg-blue-800 p-2 font-semibold text-white disabled:opacity-60">
          {t('signup.submit')}
        </button>
      </form>
      {!me && (
        <p className="mt-4">
          <Link to="/" className="text-blue-800 underline">
            {t('signup.haveAccount')}
          </Link>
        </p>
      )}
    </Frame>
  );
}
