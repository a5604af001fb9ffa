// The frame of every page once logged in: a skip link, the role's navigation, the language
// switch and logout.
import { useTranslation } from 'react-i18next';
import { NavLink, Outlet } from 'react-router';

import { api } from '../api';
import { useSession, type Role } from '../session';
import { Bell } from './Bell';

const LINKS: Record<Role, { to: string; label: string }[]> = {
  patient: [
    { to: '/appointments', label: 'nav.appointments' },
    { to: '/book', label: 'nav.book' },
    { to: '/record', label: 'nav.record' },
  ],
  clinician: [
    { to: '/board', label: 'nav.board' },
    { to: '/patients', label: 'nav.patients' },
  ],
  admin: [
    { to: '/devices', label: 'nav.devices' },
    { to: '/users', label: 'nav.users' },
    { to: '/teams', label: 'nav.teams' },
    { to: '/practitioners', label: 'nav.practitioners' },
    { to: '/audit', label: 'nav.audit' },
    { to: '/deliveries', label: 'nav.deliveries' },
    { to: '/board', label: 'nav.board' },
  ],
  service: [],
  device: [],
};

export function Layout() {
  const { t, i18n } = useTranslation();
  const { me, logout } = useSession();
  /** Switches the portal's language and, signed in, saves it: messages by email and SMS follow. */
  function chooseLanguage(language: string) {
    void i18n.changeLanguage(language);
    if (me?.user) void api.auth.PUT('/v1/auth/me/language', { body: { language } });
  }
  return (
    <>
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:p-2">
        {t('app.skip')}
      </a>
      <header className="flex flex-wrap items-center gap-4 bg-blue-900 px-4 py-3 text-white">
        <span className="text-lg font-bold">{t('app.name')}</span>
        <nav aria-label="main" className="flex flex-wrap gap-3">
          {(me ? LINKS[me.role] : []).map((link) => (
            <NavLink
              key={link.to}
              to={link.to}
              className={({ isActive }) => (isActive ? 'font-semibold underline' : 'hover:underline')}
            >
              {t(link.label)}
            </NavLink>
          ))}
        </nav>
        <span className="ml-auto flex flex-wrap items-center gap-3">
          <label className="flex items-center gap-1 text-sm">
            {t('app.language')}
            <select
              className="rounded bg-white px-1 text-slate-900"
              value={i18n.resolvedLanguage}
              onChange={(e) => chooseLanguage(e.target.value)}
            >
              <option value="en">English</option>
              <option value="fr">Français</option>
            </select>
          </label>
          {me?.user && <Bell />}
          {me && (
            <>
              <span className="text-sm">{me.user?.display_name ?? me.sub}</span>
              <button type="button" className="rounded border border-white px-2 py-1" onClick={() => void logout()}>
                {t('app.logout')}
              </button>
            </>
          )}
        </span>
      </header>
      <main id="main" className="mx-auto max-w-5xl p-4">
        <Outlet />
      </main>
    </>
  );
}
