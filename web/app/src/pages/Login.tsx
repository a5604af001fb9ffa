// Login: email and password (and the authenticator code when auth asks for it). The gateway
// answers with a session cookie; the page never sees a token.
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';

import { ApiProblem } from '../api';
import { ErrorMessage } from '../components/Status';
import { useSession } from '../session';

export function Login() {
  const { t } = useTranslation();
  const { login } = useSession();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [totp, setTotp] = useState('');
  const [needsCode, setNeedsCode] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(email, password, needsCode ? totp : undefined);
    } catch (e) {
      if (e instanceof ApiProblem && e.status === 401 && /second factor|totp/i.test(e.detail)) {
        setNeedsCode(true);
      }
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" className="mx-auto mt-16 max-w-sm rounded bg-white p-6 shadow">
      <h1 className="mb-4 text-2xl font-bold">{t('login.title')}</h1>
      <form onSubmit={(e) => void submit(e)} className="flex flex-col gap-3">
        <label className="flex flex-col">
          {t('login.email')}
          <input
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            className="rounded border border-slate-400 p-2"
          />
        </label>
        <label className="flex flex-col">
          {t('login.password')}
          <input
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            className="rounded border border-slate-400 p-2"
          />
        </label>
        {needsCode && (
          <label className="flex flex-col">
            {t('login.totp')}
            <input
              inputMode="numeric"
              autoComplete="one-time-code"
              value={totp}
              onChange={(e) => setTotp(e.target.value)}
              className="rounded border border-slate-400 p-2"
            />
          </label>
        )}
        {error !== null && <ErrorMessage error={error} />}
        <button type="submit" disabled={busy} className="rounded bg-blue-800 p-2 font-semibold text-white disabled:opacity-60">
          {t('login.submit')}
        </button>
      </form>
      <p className="mt-4">
        <Link to="/signup" className="text-blue-800 underline">
          {t('signup.link')}
        </Link>
      </p>
    </main>
  );
}
