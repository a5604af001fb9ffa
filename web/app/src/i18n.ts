// English and French, switchable, the browser's language by default; dates and numbers are
// formatted with `Intl` in the chosen language.
import i18n from 'i18next';
import LanguageDetector from 'i18next-browser-languagedetector';
import { initReactI18next } from 'react-i18next';

const en = {
  app: { name: 'EpiSante', skip: 'Skip to content', language: 'Language', logout: 'Log out' },
  nav: {
    appointments: 'My appointments',
    book: 'Book',
    board: 'Alerts board',
    devices: 'Devices',
  },
  common: {
    loading: 'Loading…',
    empty: 'Nothing here yet.',
    error: 'Something went wrong',
    retry: 'Try again',
    cancel: 'Cancel',
  },
  login: {
    title: 'Log in',
    email: 'Email',
    password: 'Password',
    totp: 'Authenticator code',
    submit: 'Log in',
  },
  signup: {
    title: 'Create your account',
    link: 'New patient? Create an account',
    haveAccount: 'Already have an account? Log in',
    password: 'Password (at least 12 characters)',
    given: 'Given names',
    family: 'Family name',
    birth: 'Date of birth',
    sex: 'Sex',
    sexes: { female: 'Female', male: 'Male', other: 'Other', unknown: 'Prefer not to say' },
    phone: 'Phone (optional)',
    consent:
      'I consent to EpiSante processing my health data (identity, vital signs, appointments) to monitor my health and organise my care (notice version {{version}}).',
    submit: 'Create my account',
  },
  appointments: {
    title: 'My appointments',
    upcoming: 'Upcoming',
    past: 'Past',
    cancel: 'Cancel appointment',
    cancelled: 'Appointment cancelled.',
    reschedule: 'Reschedule',
    rescheduleTitle: 'Reschedule the appointment',
    currently: 'Currently {{time}} with {{name}}. Pick a new slot:',
    rescheduled: 'Appointment moved.',
    ics: 'Add to calendar (.ics)',
    status: { booked: 'Booked', arrived: 'Arrived', fulfilled: 'Done', cancelled: 'Cancelled', noshow: 'Missed' },
  },
  book: {
    title: 'Book an appointment',
    specialty: 'Specialty',
    name: 'Practitioner name',
    search: 'Search',
    type: 'Appointment type',
    practitioner: 'Practitioner',
    week: 'Week of {{date}}',
    previous: 'Previous week',
    next: 'Next week',
    noSlots: 'No free slot this week.',
    yourTime: 'your time',
    theirTime: 'practitioner’s time ({{zone}})',
    confirm: 'Book {{time}}',
    booked: 'Booked for {{time}}.',
    choose: 'Choose a practitioner to see free slots.',
  },
  board: {
    title: 'Live alerts',
    live: 'Live',
    reconnecting: 'Reconnecting…',
    open: '{{count}} open',
    acknowledge: 'Acknowledge',
    assign: 'Take it',
    resolve: 'Resolve',
    note: 'Resolution note',
    patient: 'Patient',
    severity: { critical: 'Critical', high: 'High', medium: 'Medium', low: 'Low' },
    state: { active: 'Active', acknowledged: 'Acknowledged', resolved: 'Resolved' },
    newCritical: 'New critical alert: {{message}}',
  },
  devices: {
    title: 'Devices',
    register: 'Register a device',
    id: 'Device id',
    label: 'Label',
    submit: 'Register',
    download: 'Download credentials (once)',
    downloaded: 'Keep this file safe: it will not be shown again.',
    lastSeen: 'Last seen',
    online: 'Online',
    offline: 'Offline',
  },
};

type Messages = typeof en;

const fr: Messages = {
  app: { name: 'EpiSante', skip: 'Aller au contenu', language: 'Langue', logout: 'Se déconnecter' },
  nav: {
    appointments: 'Mes rendez-vous',
    book: 'Prendre rendez-vous',
    board: 'Tableau des alertes',
    devices: 'Appareils',
  },
  common: {
    loading: 'Chargement…',
    empty: 'Rien pour le moment.',
    error: 'Une erreur est survenue',
    retry: 'Réessayer',
    cancel: 'Annuler',
  },
  login: {
    title: 'Connexion',
    email: 'E-mail',
    password: 'Mot de passe',
    totp: 'Code de l’application d’authentification',
    submit: 'Se connecter',
  },
  signup: {
    title: 'Créer votre compte',
    link: 'Nouveau patient ? Créer un compte',
    haveAccount: 'Déjà un compte ? Se connecter',
    password: 'Mot de passe (12 caractères au moins)',
    given: 'Prénoms',
    family: 'Nom de famille',
    birth: 'Date de naissance',
    sex: 'Sexe',
    sexes: { female: 'Féminin', male: 'Masculin', other: 'Autre', unknown: 'Je préfère ne pas le dire' },
    phone: 'Téléphone (facultatif)',
    consent:
      'J’accepte qu’EpiSante traite mes données de santé (identité, constantes, rendez-vous) pour surveiller ma santé et organiser mes soins (notice version {{version}}).',
    submit: 'Créer mon compte',
  },
  appointments: {
    title: 'Mes rendez-vous',
    upcoming: 'À venir',
    past: 'Passés',
    cancel: 'Annuler le rendez-vous',
    cancelled: 'Rendez-vous annulé.',
    reschedule: 'Déplacer',
    rescheduleTitle: 'Déplacer le rendez-vous',
    currently: 'Actuellement le {{time}} avec {{name}}. Choisissez un nouveau créneau :',
    rescheduled: 'Rendez-vous déplacé.',
    ics: 'Ajouter au calendrier (.ics)',
    status: { booked: 'Réservé', arrived: 'Arrivé', fulfilled: 'Terminé', cancelled: 'Annulé', noshow: 'Manqué' },
  },
  book: {
    title: 'Prendre rendez-vous',
    specialty: 'Spécialité',
    name: 'Nom du praticien',
    search: 'Rechercher',
    type: 'Type de rendez-vous',
    practitioner: 'Praticien',
    week: 'Semaine du {{date}}',
    previous: 'Semaine précédente',
    next: 'Semaine suivante',
    noSlots: 'Aucun créneau libre cette semaine.',
    yourTime: 'votre heure',
    theirTime: 'heure du praticien ({{zone}})',
    confirm: 'Réserver {{time}}',
    booked: 'Réservé pour {{time}}.',
    choose: 'Choisissez un praticien pour voir ses créneaux libres.',
  },
  board: {
    title: 'Alertes en direct',
    live: 'En direct',
    reconnecting: 'Reconnexion…',
    open: '{{count}} ouvertes',
    acknowledge: 'Prendre en compte',
    assign: 'Me l’attribuer',
    resolve: 'Résoudre',
    note: 'Note de résolution',
    patient: 'Patient',
    severity: { critical: 'Critique', high: 'Élevée', medium: 'Moyenne', low: 'Faible' },
    state: { active: 'Active', acknowledged: 'Prise en compte', resolved: 'Résolue' },
    newCritical: 'Nouvelle alerte critique : {{message}}',
  },
  devices: {
    title: 'Appareils',
    register: 'Enregistrer un appareil',
    id: 'Identifiant',
    label: 'Libellé',
    submit: 'Enregistrer',
    download: 'Télécharger les identifiants (une seule fois)',
    downloaded: 'Conservez ce fichier : il ne sera plus affiché.',
    lastSeen: 'Vu pour la dernière fois',
    online: 'En ligne',
    offline: 'Hors ligne',
  },
};

void i18n
  .use(LanguageDetector)
  .use(initReactI18next)
  .init({
    resources: { en: { translation: en }, fr: { translation: fr } },
    fallbackLng: 'en',
    supportedLngs: ['en', 'fr'],
    interpolation: { escapeValue: false },
    detection: { order: ['localStorage', 'navigator'], caches: ['localStorage'] },
  });

i18n.on('languageChanged', (lng) => {
  document.documentElement.lang = lng;
});

export default i18n;
