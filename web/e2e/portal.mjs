#!/usr/bin/env node
// The portal end to end in a real browser (Debian's Chromium through playwright-core) against a
// running `episante up --demo`:
//   - an admin registers a device and downloads its credentials bundle once;
//   - a patient signs up, books a slot with the keyboard alone, reschedules it, and cancels it;
//   - the demo's clinician sees a simulated alert appear live on the board, acknowledges it and
//     resolves one with a note;
//   - logout ends the session: the old cookie no longer works;
//   - axe-core finds no serious or critical violation on any page.
// Screenshots of the main pages go to docs/screenshots/.
//
//   GATEWAY=http://127.0.0.1:PORT ADMIN_EMAIL=… ADMIN_PASSWORD=… CLINICIAN_EMAIL=… \
//   CLINICIAN_PASSWORD=… node e2e/portal.mjs
// Prints one JSON line of what it checked; exits non-zero at the first failure.
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const SHOTS = new URL('../../docs/screenshots/', import.meta.url).pathname;
mkdirSync(SHOTS, { recursive: true });

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
const GATEWAY = need('GATEWAY').replace(/\/$/, '');
const stamp = Date.now().toString(36);
const summary = { axe: {}, screenshots: [] };

/** An admin call through the gateway with a bearer token (the test's own setup). */
async function call(token, method, path, body) {
  const response = await fetch(`${GATEWAY}/api${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function adminToken() {
  const response = await fetch(`${GATEWAY}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: need('ADMIN_EMAIL'), password: need('ADMIN_PASSWORD') }),
  });
  if (!response.ok) throw new Error(`admin login: ${response.status}`);
  return (await response.json()).access_token;
}

/** axe-core on the current page: no serious or critical violation. */
async function axe(page, name) {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(async () => {
    const run = await axe.run(document, { resultTypes: ['violations'] });
    return run.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  summary.axe[name] = result.length;
  if (bad.length) throw new Error(`axe on ${name}: ${JSON.stringify(bad)}`);
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
  summary.screenshots.push(`docs/screenshots/${name}.png`);
}

/** At a phone's width (375 px), none of the pages behind `links` scrolls sideways. */
async function narrow(page, links) {
  await page.setViewportSize({ width: 375, height: 800 });
  for (const link of links) {
    await page.getByRole('link', { name: link, exact: true }).click();
    await page.waitForLoadState('networkidle');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > 375) {
      await page.screenshot({ path: '/tmp/portal-375.png', fullPage: true });
      throw new Error(`${link} is ${width} px wide at 375 px`);
    }
  }
  await page.setViewportSize({ width: 1280, height: 720 });
}

async function login(page, email, password) {
  await page.goto(`${GATEWAY}/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  try {
    await page.getByRole('button', { name: 'Log out' }).waitFor({ timeout: 15_000 });
  } catch (e) {
    await page.screenshot({ path: '/tmp/portal-e2e-failure.png', fullPage: true });
    throw new Error(`login as ${email} failed; page says: ${await page.locator('body').innerText()}`, { cause: e });
  }
}

async function logout(page) {
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
try {
  const token = await adminToken();

  // Setup through the API: a practitioner open every day, a 30-minute consultation, a patient.
  const doctor = await call(token, 'POST', '/v1/auth/users', {
    email: `dr-${stamp}@e2e.episante.test`,
    display_name: `Dr Portal ${stamp}`,
    role: 'clinician',
    password: `e2e-${stamp}-clinician-password`,
  });
  const practitioner = await call(token, 'POST', '/v1/practitioners', {
    user_id: doctor.id,
    display_name: `Dr Portal ${stamp}`,
    specialty: `cardiology${stamp}`,
    location: 'paris',
    languages: ['fr', 'en'],
    time_zone: 'Europe/Paris',
  });
  await call(token, 'PUT', `/v1/practitioners/${practitioner.id}/availability`, {
    weekly: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((weekday) => ({ weekday, start: '06:00', end: '22:00' })),
  });
  const kind = await call(token, 'POST', '/v1/appointment-types', { name: `Consultation ${stamp}`, duration_minutes: 30 });
  const patientEmail = `patient-${stamp}@e2e.episante.test`;
  const patientPassword = `e2e-${stamp}-patient-password`;

  // Admin: register a device, download its credentials once.
  const context = await browser.newContext({ acceptDownloads: true, bypassCSP: true, locale: 'en-GB' });
  const page = await context.newPage();
  await page.goto(`${GATEWAY}/`);
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  await axe(page, 'login');
  await shot(page, 'login');
  await login(page, need('ADMIN_EMAIL'), need('ADMIN_PASSWORD'));
  await page.getByRole('heading', { name: 'Devices' }).waitFor();
  const device = `e2ehub${stamp}`;
  await page.getByLabel('Device id').fill(device);
  await page.getByLabel('Label').fill('Portal test hub');
  await page.getByRole('button', { name: 'Register' }).click();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: /Download credentials/ }).click(),
  ]);
  const bundle = JSON.parse(readFileSync(await download.path(), 'utf8'));
  if (bundle.device_id !== device || !bundle.certificate_pem?.includes('BEGIN CERTIFICATE')) {
    throw new Error(`unexpected credentials bundle: ${Object.keys(bundle)}`);
  }
  if (await page.getByRole('button', { name: /Download credentials/ }).count()) {
    throw new Error('the credentials bundle is offered twice');
  }
  await page.getByRole('cell', { name: device, exact: true }).waitFor();
  await axe(page, 'devices');
  await shot(page, 'admin-devices');
  // Users: issue a reset token; the audit trail verifies intact.
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByRole('cell', { name: `Dr Portal ${stamp}`, exact: true }).waitFor();
  await page.getByRole('button', { name: `Reset password Dr Portal ${stamp}` }).click();
  await page.getByText(/One-time reset token/).waitFor();
  await axe(page, 'users');
  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByRole('button', { name: 'Verify the trail' }).click();
  await page.getByText(/Intact: \d+ entries checked/).waitFor();
  await axe(page, 'audit');
  await page.getByRole('link', { name: 'Care teams' }).click();
  await page.getByLabel('Team name').fill(`Ward ${stamp}`);
  await page.getByRole('button', { name: 'Create team' }).click();
  await page.getByRole('heading', { name: `Ward ${stamp}` }).waitFor();
  await axe(page, 'teams');
  await page.getByRole('link', { name: 'Practitioners' }).click();
  // The page first: until the care teams page unmounts, its items (whose clinician pickers list
  // Dr Portal too) would also match the filter below.
  await page.getByRole('heading', { name: 'Practitioners and schedules' }).waitFor();
  await page.getByRole('listitem').filter({ hasText: `Dr Portal ${stamp}` }).waitFor();
  await axe(page, 'practitioners');
  // A phone's width: no page scrolls sideways.
  await narrow(page, ['Devices', 'Users', 'Care teams', 'Practitioners', 'Audit']);
  summary.admin = 'device registered, reset token issued, team and practitioner pages, audit trail intact, 375 px wide';
  const [adminCookie] = await context.cookies();
  await logout(page);
  const replay = await fetch(`${GATEWAY}/api/v1/devices`, {
    headers: { cookie: `${adminCookie.name}=${adminCookie.value}` },
  });
  if (replay.status !== 401) throw new Error(`the cookie still works after logout: ${replay.status}`);
  summary.logout = 'cookie refused after logout';

  // Patient: signs up (account, record, consent), books with the keyboard alone, reschedules,
  // cancels.
  await page.getByRole('link', { name: /Create an account/ }).click();
  await page.getByRole('heading', { name: 'Create your account' }).waitFor();
  await page.getByLabel('Email').fill(patientEmail);
  await page.getByLabel(/^Password/).fill(patientPassword);
  await page.getByLabel('Given names').fill('Pat');
  await page.getByLabel('Family name').fill(`Portal${stamp}`);
  await page.getByLabel('Date of birth').fill('1990-04-01');
  await page.getByLabel('Sex').selectOption('female');
  await page.getByRole('checkbox').check();
  await axe(page, 'signup');
  await shot(page, 'patient-signup');
  await page.getByRole('button', { name: 'Create my account' }).click();
  await page.getByRole('heading', { name: 'My appointments' }).waitFor();
  summary.signup = 'account, record and consent created from the portal';
  await page.getByRole('link', { name: 'Book' }).click();
  await page.getByLabel('Specialty').fill(`cardiology${stamp}`);
  await page.getByLabel('Specialty').press('Enter');
  await page.getByRole('button', { name: new RegExp(`Dr Portal ${stamp}`) }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Next week' }).focus();
  await page.keyboard.press('Enter');
  const firstSlot = page.locator('button[data-slot]').first();
  await firstSlot.waitFor();
  await axe(page, 'book');
  await shot(page, 'patient-book');
  await firstSlot.focus();
  await page.keyboard.press('Enter');
  await page.getByText(/Booked for/).waitFor();
  await page.getByRole('button', { name: /Join the waitlist/ }).click();
  await page.getByText(/On the waitlist/).waitFor();
  await page.getByRole('link', { name: 'My appointments' }).click();
  await page.getByRole('button', { name: 'Cancel appointment' }).waitFor();
  await axe(page, 'appointments');
  await shot(page, 'patient-appointments');
  await page.getByRole('link', { name: 'Reschedule' }).click();
  await page.getByRole('heading', { name: 'Reschedule the appointment' }).waitFor();
  await page.getByRole('button', { name: 'Next week' }).click();
  await page.locator('button[data-slot]').nth(3).click();
  await page.getByText('Appointment moved.').waitFor();
  await page.getByText('Waiting for a freed slot').waitFor();
  // The list has been read again: the moved-from appointment is cancelled, so the one button
  // left is the new appointment's (clicking before that raced the refresh: a 409).
  await page.getByText('Cancelled', { exact: true }).first().waitFor();
  await page.getByRole('button', { name: 'Cancel appointment' }).click();
  await page.getByText('Appointment cancelled.').waitFor();
  summary.booking = 'booked by keyboard, waitlisted, rescheduled, cancelled';

  // The waitlist hand-over: another patient holds a slot two weeks out; this patient waits for
  // that week; the other cancels; the slot is held for this one, who takes it.
  const otherPassword = `e2e-${stamp}-other-password`;
  const other = await call(token, 'POST', '/v1/auth/users', {
    email: `other-${stamp}@e2e.episante.test`,
    display_name: 'Other Patient',
    role: 'patient',
    password: otherPassword,
  });
  const otherLogin = await fetch(`${GATEWAY}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: other.email, password: otherPassword }),
  });
  const otherToken = (await otherLogin.json()).access_token;
  const today = new Date();
  const monday = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - ((today.getUTCDay() + 6) % 7)));
  const wednesday = new Date(monday.getTime() + 16 * 86_400_000).toISOString().slice(0, 10);
  const free = await call(
    otherToken,
    'GET',
    `/v1/slots?appointment_type_id=${kind.id}&practitioner_id=${practitioner.id}&from=${wednesday}&to=${wednesday}&limit=5`,
  );
  const held = free.items[2];
  const taken = await call(otherToken, 'POST', '/v1/appointments', {
    practitioner_id: practitioner.id,
    appointment_type_id: kind.id,
    starts_at: held.starts_at,
  });
  await page.getByRole('link', { name: 'Book' }).click();
  await page.getByLabel('Specialty').fill(`cardiology${stamp}`);
  await page.getByLabel('Specialty').press('Enter');
  await page.getByRole('button', { name: new RegExp(`Dr Portal ${stamp}`) }).click();
  await page.getByRole('button', { name: 'Next week' }).click();
  await page.getByRole('button', { name: 'Next week' }).click();
  await page.locator('button[data-slot]').first().waitFor();
  await page.getByRole('button', { name: /Join the waitlist/ }).click();
  await page.getByText(/On the waitlist/).waitFor();
  await call(otherToken, 'POST', `/v1/appointments/${taken.id}/cancel`);
  await page.getByRole('link', { name: 'My appointments' }).click();
  // The window reads in the practitioner's dates: that Monday to that Sunday.
  const parisDay = (d) => new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeZone: 'Europe/Paris' }).format(d);
  const expectedWindow = `Between ${parisDay(new Date(monday.getTime() + 14 * 86_400_000))} and ${parisDay(new Date(monday.getTime() + 20 * 86_400_000))}`;
  await page.getByText(expectedWindow).waitFor();
  const take = page.getByRole('button', { name: 'Take this slot' });
  for (let i = 0; i < 20 && !(await take.count()); i++) {
    await page.waitForTimeout(500);
    await page.reload();
  }
  await take.click();
  await page.getByRole('button', { name: 'Cancel appointment' }).waitFor();
  summary.waitlist = 'a freed slot was held for this patient and taken from the portal';
  // Their record: contact details, vitals, the FHIR download, who accessed it.
  await page.getByRole('link', { name: 'My record' }).click();
  await page.getByRole('heading', { name: 'Who accessed my record' }).waitFor();
  await page.getByLabel('Phone (optional)').fill('+33 1 23 45 67 89');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Saved.').waitFor();
  await page.getByRole('cell', { name: 'You' }).first().waitFor();
  await page.getByText('No readings in this period.').waitFor();
  await axe(page, 'record');
  await shot(page, 'patient-record');
  const [exported] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: /Download my record/ }).click(),
  ]);
  const record = JSON.parse(readFileSync(await exported.path(), 'utf8'));
  const types = (record.entry ?? []).map((e) => e.resource.resourceType);
  if (record.resourceType !== 'Bundle' || !types.includes('Patient') || !types.includes('Appointment')) {
    throw new Error(`unexpected record bundle: ${JSON.stringify(types)}`);
  }
  await narrow(page, ['My appointments', 'Book', 'My record']);
  summary.record = `contact saved, access log shown, FHIR bundle of ${types.length} resources`;
  await logout(page);

  // Clinician: the demo ward's alerts arrive live; acknowledge one.
  await login(page, need('CLINICIAN_EMAIL'), need('CLINICIAN_PASSWORD'));
  await page.getByRole('heading', { name: 'Live alerts' }).waitFor();
  await page.getByText('Live', { exact: true }).waitFor({ timeout: 30_000 });
  const acknowledge = page.getByRole('button', { name: /^Acknowledge/ }).first();
  await acknowledge.waitFor({ timeout: 150_000 });
  await axe(page, 'board');
  await shot(page, 'clinician-board');
  const before = await page.getByRole('button', { name: /^Acknowledge/ }).count();
  await acknowledge.click();
  await page.getByText(/· Acknowledged/).first().waitFor({ timeout: 15_000 });
  const open = await page.getByRole('button', { name: /^Resolve/ }).count();
  await page.getByRole('button', { name: /^Resolve/ }).first().click();
  await page.getByLabel(/Resolution note/).fill('Seen on the ward: patient walking, rate back to normal.');
  await page.locator('form').getByRole('button', { name: 'Resolve' }).click();
  await page.locator('form').waitFor({ state: 'detached' });
  summary.resolved = `one of ${open} resolved with a note`;
  // The demo's critical and high alerts paged the clinician: the bell counts them live; the
  // notifications page lists them and reads them all.
  const bellCount = page.getByTestId('bell-count');
  await bellCount.waitFor({ timeout: 60_000 });
  const paged = await bellCount.innerText();
  await page.getByTestId('bell').click();
  await page.getByRole('heading', { name: 'Notifications', exact: true }).waitFor();
  await page.getByTestId('inbox-item').first().waitFor();
  await axe(page, 'notifications');
  await page.getByRole('button', { name: 'Mark all as read' }).click();
  await bellCount.waitFor({ state: 'detached', timeout: 15_000 });
  await shot(page, 'clinician-notifications');
  // In French and at a phone's width the page reads and fits too; then back to English.
  await page.getByLabel('Language').selectOption('fr');
  await page.getByRole('heading', { name: 'Comment vous êtes prévenu' }).waitFor();
  await page.setViewportSize({ width: 375, height: 800 });
  const notificationsWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  await shot(page, 'clinician-notifications-fr-375');
  if (notificationsWidth > 375) throw new Error(`notifications is ${notificationsWidth} px wide at 375 px`);
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.getByLabel('Langue').selectOption('en');
  await page.getByRole('heading', { name: 'How you are notified' }).waitFor();
  summary.bell = `${paged} alert pages in the bell, all read`;
  await page.getByRole('link', { name: 'Alerts board' }).click();
  // Their patients and a chart with vitals and the alert timeline.
  await page.getByRole('link', { name: 'My patients' }).click();
  await page.getByRole('heading', { name: 'Today’s appointments' }).waitFor();
  await page.getByRole('link', { name: /LOVELACE/ }).click();
  await page.getByRole('heading', { name: 'Alert timeline' }).waitFor();
  await page.getByRole('img', { name: /points, \d+ alert episodes/ }).first().waitFor({ timeout: 20_000 });
  await axe(page, 'chart');
  await shot(page, 'clinician-chart');
  await narrow(page, ['Alerts board', 'My patients']);
  summary.chart = 'patients listed, chart with vitals and alert episodes';
  summary.board = `alerts arrived live (${before} to acknowledge); one acknowledged`;
  await logout(page);
  await context.close();
  console.log(JSON.stringify(summary));
} catch (e) {
  for (const context of browser.contexts()) {
    for (const open of context.pages()) {
      await open.screenshot({ path: '/tmp/portal-e2e-failure.png', fullPage: true }).catch(() => {});
      console.error(`page at failure (${open.url()}):\n${await open.locator('body').innerText().catch(() => '?')}`);
    }
  }
  throw e;
} finally {
  await browser.close();
}
