//! The whole state of the TUI and every way it changes, with no I/O.
//!
//! Keys go through [`App::handle_key`], news from the network through [`App::apply`]; both may
//! answer a [`Command`] that the caller carries out (network tasks, the bell, quitting). Nothing
//! here waits, draws or talks to a server, so every screen and key is tested without a terminal
//! and the UI thread never blocks on the network.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use uuid::Uuid;

use crate::board::{Board, Change, Filter};
use crate::model::{Alert, AlertEvent, AlertState, Me, Patient, Severity, VitalsHistory};

/// News for the app, from the network tasks.
#[derive(Debug, Clone)]
pub enum Message {
    Connection(Connection),
    /// The open alerts, read after the stream was (re)connected without a resume point.
    Loaded(Vec<Alert>),
    /// Names of the caller's patients, read with the open alerts.
    Names(Vec<(Uuid, String)>),
    /// One event of the live stream.
    Event(Box<AlertEvent>),
    Detail(Box<DetailLoad>),
    ActionDone {
        action: Action,
        alert: Box<Alert>,
    },
    ActionFailed {
        action: Action,
        detail: String,
    },
    LoggedIn {
        email: String,
    },
    LoginFailed(String),
    /// No session, or it could not be refreshed: back to the login form.
    AuthRequired,
    Me(Me),
}

/// Work for the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open the live stream (and load the board).
    Connect,
    Login {
        email: String,
        password: String,
    },
    Acknowledge(Uuid),
    Resolve {
        alert: Uuid,
        note: String,
    },
    Assign(Uuid),
    /// Patient summary, vitals around `since`, and history of `alert`.
    LoadDetail {
        alert: Uuid,
        patient: Uuid,
        since: DateTime<Utc>,
    },
    /// Ring the terminal bell (a new critical alert).
    Bell,
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Resolve,
    Assign,
}

impl Action {
    pub fn done(self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledged",
            Action::Resolve => "resolved",
            Action::Assign => "assigned to you",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
            Action::Assign => "assign",
        }
    }
}

/// The live stream's health, shown in the header.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    Offline,
    Connecting,
    Live,
    Retrying {
        attempt: u32,
        delay: Duration,
        reason: String,
    },
}

/// What the records service said about the patient.
#[derive(Debug, Clone, PartialEq)]
pub enum PatientLookup {
    Found(Patient),
    /// 404 (or 403): not in this clinician's care.
    NoAccess,
    Failed(String),
}

/// The answers for one detail pane, loaded together.
#[derive(Debug, Clone)]
pub struct DetailLoad {
    pub alert: Uuid,
    pub patient: PatientLookup,
    pub vitals: Result<VitalsHistory, String>,
    pub history: Result<Vec<AlertEvent>, String>,
}

/// The detail pane of one alert.
#[derive(Debug, Clone)]
pub struct Detail {
    pub alert: Uuid,
    /// `None` while loading.
    pub patient: Option<PatientLookup>,
    pub vitals: Option<Result<VitalsHistory, String>>,
    pub history: Vec<AlertEvent>,
    pub history_error: Option<String>,
    /// First timeline row shown.
    pub scroll: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Login,
    Board,
    Detail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginField {
    Email,
    Password,
}

#[derive(Debug, Clone)]
pub struct LoginForm {
    pub email: String,
    pub password: String,
    pub focus: LoginField,
    pub busy: bool,
    pub error: Option<String>,
}

/// A one-line text input that has the keyboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// `/`: the text filter, applied while typing.
    Filter(String),
    /// `p`: patient search (id prefix or name).
    Patient(String),
    /// `r`: the resolution note of `alert`.
    ResolveNote { alert: Uuid, note: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Info,
    Error,
}

/// Start-up options that shape behaviour.
#[derive(Debug, Clone)]
pub struct Options {
    pub readonly: bool,
    pub bell: bool,
    pub server: String,
}

pub struct App {
    pub options: Options,
    pub screen: Screen,
    pub login: LoginForm,
    pub board: Board,
    pub connection: Connection,
    pub me: Option<Me>,
    pub email: Option<String>,
    /// Selected alert (by id, so it stays put while rows move).
    pub selected: Option<Uuid>,
    /// Row of the selection, to land near it when the alert leaves the board.
    pub selected_row: usize,
    /// First row drawn (kept by the renderer so the selection stays visible).
    pub scroll: usize,
    pub detail: Option<Detail>,
    pub prompt: Option<Prompt>,
    pub help: bool,
    pub status: Option<(StatusKind, String)>,
    /// New critical alerts not looked at yet (highlighted).
    pub fresh: HashSet<Uuid>,
    /// Patient names learned from records (for the board and the filters).
    pub names: HashMap<Uuid, String>,
    /// The clock used for ages; set by the caller each frame (tests pin it).
    pub now: DateTime<Utc>,
    pub quit: bool,
}

impl App {
    /// A logged-in app starts on the board; otherwise on the login form (email pre-filled).
    pub fn new(options: Options, email: Option<String>, logged_in: bool) -> App {
        App {
            options,
            screen: if logged_in {
                Screen::Board
            } else {
                Screen::Login
            },
            login: LoginForm {
                email: email.clone().unwrap_or_default(),
                password: String::new(),
                focus: if email.is_some() {
                    LoginField::Password
                } else {
                    LoginField::Email
                },
                busy: false,
                error: None,
            },
            board: Board::default(),
            connection: Connection::Offline,
            me: None,
            email,
            selected: None,
            selected_row: 0,
            scroll: 0,
            detail: None,
            prompt: None,
            help: false,
            status: None,
            fresh: HashSet::new(),
            names: HashMap::new(),
            now: Utc::now(),
            quit: false,
        }
    }

    // ----- news from the network -----

    pub fn apply(&mut self, message: Message) -> Option<Command> {
        match message {
            Message::Connection(c) => {
                self.connection = c;
                None
            }
            Message::Loaded(alerts) => {
                self.board.replace(alerts);
                self.sync_selection();
                None
            }
            Message::Names(names) => {
                self.names.extend(names);
                self.board.invalidate();
                None
            }
            Message::Event(event) => self.apply_event(*event),
            Message::Detail(load) => {
                if let Some(detail) = self.detail.as_mut().filter(|d| d.alert == load.alert) {
                    if let PatientLookup::Found(p) = &load.patient {
                        self.names.insert(p.id, p.display_name());
                        self.board.invalidate();
                    }
                    detail.patient = Some(load.patient);
                    detail.vitals = Some(load.vitals);
                    match load.history {
                        Ok(mut history) => {
                            // Keep live events that arrived while loading.
                            for e in detail.history.drain(..) {
                                if !history.iter().any(|h| h.id == e.id) {
                                    history.push(e);
                                }
                            }
                            history.sort_by_key(|e| e.id);
                            detail.history = history;
                        }
                        Err(e) => detail.history_error = Some(e),
                    }
                }
                None
            }
            Message::ActionDone { action, alert } => {
                self.status = Some((
                    StatusKind::Info,
                    format!("{}: {}", action.done(), alert.rule_key),
                ));
                self.board.upsert(*alert);
                self.sync_selection();
                None
            }
            Message::ActionFailed { action, detail } => {
                self.status = Some((
                    StatusKind::Error,
                    format!("cannot {}: {detail}", action.verb()),
                ));
                None
            }
            Message::LoggedIn { email } => {
                self.email = Some(email);
                self.login.busy = false;
                self.login.password.clear();
                self.login.error = None;
                self.screen = Screen::Board;
                self.status = Some((StatusKind::Info, "logged in".into()));
                Some(Command::Connect)
            }
            Message::LoginFailed(reason) => {
                self.login.busy = false;
                self.login.error = Some(reason);
                None
            }
            Message::AuthRequired => {
                self.screen = Screen::Login;
                self.login.busy = false;
                self.login.focus = if self.login.email.is_empty() {
                    LoginField::Email
                } else {
                    LoginField::Password
                };
                self.login.error = Some("not logged in, or the session expired".into());
                self.connection = Connection::Offline;
                None
            }
            Message::Me(me) => {
                self.me = Some(me);
                None
            }
        }
    }

    fn apply_event(&mut self, event: AlertEvent) -> Option<Command> {
        if let Some(detail) = self.detail.as_mut().filter(|d| d.alert == event.alert_id) {
            if !detail.history.iter().any(|h| h.id == event.id) {
                detail.history.push(event.clone());
            }
        }
        let was_critical = self
            .board
            .get(&event.alert_id)
            .is_some_and(|a| a.severity == Severity::Critical);
        let snapshot = event.snapshot;
        let id = snapshot.id;
        let critical = snapshot.severity == Severity::Critical;
        let active = snapshot.state == AlertState::Active;
        let change = self.board.upsert(snapshot);
        if change == Change::Removed {
            self.fresh.remove(&id);
        }
        // No `sync_selection` here: it would sort the board once per event. The renderer and the
        // key handler sync it, once per frame or key.
        let news = match change {
            Change::Added => true,
            Change::Updated => !was_critical,
            _ => false,
        };
        if news && critical && active {
            self.fresh.insert(id);
            if self.selected == Some(id) && self.screen == Screen::Detail {
                self.fresh.remove(&id);
            }
            if self.options.bell {
                return Some(Command::Bell);
            }
        }
        None
    }

    // ----- keys -----

    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Command> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return Some(Command::Quit);
        }
        if self.help {
            self.help = false;
            return None;
        }
        self.sync_selection();
        if self.screen == Screen::Login {
            return self.login_key(key);
        }
        if self.prompt.is_some() {
            return self.prompt_key(key);
        }
        match self.screen {
            Screen::Board => self.board_key(key),
            Screen::Detail => self.detail_key(key),
            Screen::Login => None,
        }
    }

    fn login_key(&mut self, key: KeyEvent) -> Option<Command> {
        if self.login.busy {
            return None;
        }
        let field = match self.login.focus {
            LoginField::Email => &mut self.login.email,
            LoginField::Password => &mut self.login.password,
        };
        match key.code {
            KeyCode::Esc => {
                self.quit = true;
                return Some(Command::Quit);
            }
            KeyCode::Tab | KeyCode::BackTab | KeyCode::Down | KeyCode::Up => {
                self.login.focus = match self.login.focus {
                    LoginField::Email => LoginField::Password,
                    LoginField::Password => LoginField::Email,
                };
            }
            KeyCode::Backspace => {
                field.pop();
            }
            KeyCode::Char(c) => field.push(c),
            KeyCode::Enter => {
                if self.login.focus == LoginField::Email {
                    self.login.focus = LoginField::Password;
                    return None;
                }
                if self.login.email.trim().is_empty() || self.login.password.is_empty() {
                    self.login.error = Some("email and password are required".into());
                    return None;
                }
                self.login.busy = true;
                self.login.error = None;
                return Some(Command::Login {
                    email: self.login.email.trim().to_string(),
                    password: self.login.password.clone(),
                });
            }
            _ => {}
        }
        None
    }

    fn prompt_key(&mut self, key: KeyEvent) -> Option<Command> {
        let prompt = self.prompt.as_mut()?;
        let text = match prompt {
            Prompt::Filter(t) | Prompt::Patient(t) => t,
            Prompt::ResolveNote { note, .. } => note,
        };
        let mut command = None;
        match key.code {
            KeyCode::Char(c) => text.push(c),
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Esc => {
                // Esc cancels: a filter being typed is dropped, a note is discarded.
                match prompt {
                    Prompt::Filter(_) => self.set_filter(|f| f.text.clear()),
                    Prompt::Patient(_) => self.set_filter(|f| f.patient.clear()),
                    Prompt::ResolveNote { .. } => {
                        self.status = Some((StatusKind::Info, "resolve cancelled".into()))
                    }
                }
                self.prompt = None;
                return None;
            }
            KeyCode::Enter => {
                if let Prompt::ResolveNote { alert, note } = prompt {
                    if note.trim().is_empty() {
                        self.status =
                            Some((StatusKind::Error, "a resolution note is required".into()));
                        return None;
                    }
                    command = Some(Command::Resolve {
                        alert: *alert,
                        note: note.trim().to_string(),
                    });
                    self.status = Some((StatusKind::Info, "resolving…".into()));
                }
                self.prompt = None;
                return command;
            }
            _ => return None,
        }
        // Filters apply while typing.
        match self.prompt.clone() {
            Some(Prompt::Filter(t)) => self.set_filter(|f| f.text = t),
            Some(Prompt::Patient(t)) => self.set_filter(|f| f.patient = t),
            _ => {}
        }
        command
    }

    fn set_filter(&mut self, change: impl FnOnce(&mut Filter)) {
        let mut filter = self.board.filter().clone();
        change(&mut filter);
        self.board.set_filter(filter);
        self.scroll = 0;
        self.sync_selection();
    }

    fn board_key(&mut self, key: KeyEvent) -> Option<Command> {
        let page = 10;
        match key.code {
            KeyCode::Char('q') => {
                self.quit = true;
                return Some(Command::Quit);
            }
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('j') | KeyCode::Down => self.move_selection(1),
            KeyCode::Char('k') | KeyCode::Up => self.move_selection(-1),
            KeyCode::Char('d') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.move_selection(page)
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.move_selection(-page)
            }
            KeyCode::PageDown => self.move_selection(page),
            KeyCode::PageUp => self.move_selection(-page),
            KeyCode::Char('g') | KeyCode::Home => self.move_selection(isize::MIN / 2),
            KeyCode::Char('G') | KeyCode::End => self.move_selection(isize::MAX / 2),
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => return self.open_detail(),
            KeyCode::Char('/') => {
                self.prompt = Some(Prompt::Filter(self.board.filter().text.clone()))
            }
            KeyCode::Char('p') => {
                self.prompt = Some(Prompt::Patient(self.board.filter().patient.clone()))
            }
            KeyCode::Char('s') => {
                let next = match self.board.filter().severity {
                    None => Some(Severity::Critical),
                    Some(Severity::Critical) => Some(Severity::High),
                    Some(Severity::High) => Some(Severity::Medium),
                    Some(Severity::Medium) => Some(Severity::Low),
                    Some(_) => None,
                };
                self.set_filter(|f| f.severity = next);
            }
            KeyCode::Esc if !self.board.filter().is_empty() => {
                self.set_filter(|f| *f = Filter::default());
                self.status = Some((StatusKind::Info, "filters cleared".into()));
            }
            KeyCode::Char('b') => self.toggle_bell(),
            KeyCode::Char('a') => return self.act(Action::Acknowledge),
            KeyCode::Char('r') => return self.act(Action::Resolve),
            KeyCode::Char('m') => return self.act(Action::Assign),
            _ => {}
        }
        None
    }

    fn detail_key(&mut self, key: KeyEvent) -> Option<Command> {
        match key.code {
            KeyCode::Esc | KeyCode::Char('h') | KeyCode::Left | KeyCode::Backspace => {
                self.screen = Screen::Board;
                self.detail = None;
            }
            KeyCode::Char('q') => {
                self.quit = true;
                return Some(Command::Quit);
            }
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('j') | KeyCode::Down => {
                if let Some(d) = self.detail.as_mut() {
                    d.scroll = (d.scroll + 1).min(d.history.len().saturating_sub(1));
                }
            }
            KeyCode::Char('k') | KeyCode::Up => {
                if let Some(d) = self.detail.as_mut() {
                    d.scroll = d.scroll.saturating_sub(1);
                }
            }
            KeyCode::Char('b') => self.toggle_bell(),
            KeyCode::Char('a') => return self.act(Action::Acknowledge),
            KeyCode::Char('r') => return self.act(Action::Resolve),
            KeyCode::Char('m') => return self.act(Action::Assign),
            _ => {}
        }
        None
    }

    fn toggle_bell(&mut self) {
        self.options.bell = !self.options.bell;
        let state = if self.options.bell { "on" } else { "off" };
        self.status = Some((StatusKind::Info, format!("bell {state}")));
    }

    /// The alert an action applies to: the one in the detail pane, else the selection.
    fn target(&self) -> Option<Uuid> {
        match (&self.screen, &self.detail) {
            (Screen::Detail, Some(d)) => Some(d.alert),
            _ => self.selected,
        }
    }

    fn act(&mut self, action: Action) -> Option<Command> {
        if self.options.readonly {
            self.status = Some((
                StatusKind::Error,
                "read-only mode: actions are disabled".into(),
            ));
            return None;
        }
        let Some(alert) = self.target() else {
            self.status = Some((StatusKind::Error, "no alert selected".into()));
            return None;
        };
        match action {
            Action::Acknowledge => {
                self.status = Some((StatusKind::Info, "acknowledging…".into()));
                Some(Command::Acknowledge(alert))
            }
            Action::Assign => {
                self.status = Some((StatusKind::Info, "assigning…".into()));
                Some(Command::Assign(alert))
            }
            Action::Resolve => {
                self.prompt = Some(Prompt::ResolveNote {
                    alert,
                    note: String::new(),
                });
                None
            }
        }
    }

    fn open_detail(&mut self) -> Option<Command> {
        let alert = self.selected.and_then(|id| self.board.get(&id))?.clone();
        self.fresh.remove(&alert.id);
        self.detail = Some(Detail {
            alert: alert.id,
            patient: None,
            vitals: None,
            history: Vec::new(),
            history_error: None,
            scroll: 0,
        });
        self.screen = Screen::Detail;
        Some(Command::LoadDetail {
            alert: alert.id,
            patient: alert.patient_id,
            since: alert.triggered_at,
        })
    }

    // ----- selection -----

    /// The board's rows, sorted and filtered.
    pub fn rows(&mut self) -> &[Uuid] {
        self.board.view(&self.names)
    }

    fn move_selection(&mut self, delta: isize) {
        let rows = self.board.view(&self.names);
        if rows.is_empty() {
            self.selected = None;
            return;
        }
        let current = self
            .selected
            .and_then(|id| rows.iter().position(|r| *r == id))
            .unwrap_or(self.selected_row.min(rows.len() - 1));
        let next = (current as isize)
            .saturating_add(delta)
            .clamp(0, rows.len() as isize - 1) as usize;
        self.selected = Some(rows[next]);
        self.selected_row = next;
        self.fresh.remove(&rows[next]);
    }

    /// Keeps a valid selection after the rows changed: the same alert if still shown, else the
    /// row where it was.
    pub fn sync_selection(&mut self) {
        let rows = self.board.view(&self.names);
        if rows.is_empty() {
            self.selected = None;
            self.selected_row = 0;
            return;
        }
        match self
            .selected
            .and_then(|id| rows.iter().position(|r| *r == id))
        {
            Some(row) => self.selected_row = row,
            None => {
                let row = self.selected_row.min(rows.len() - 1);
                self.selected = Some(rows[row]);
                self.selected_row = row;
            }
        }
    }

    pub fn selected_alert(&self) -> Option<&Alert> {
        self.selected.and_then(|id| self.board.get(&id))
    }

    /// The alert of the detail pane (from the board, or its last snapshot once it left the
    /// board, e.g. just resolved).
    pub fn detail_alert(&self) -> Option<Alert> {
        let detail = self.detail.as_ref()?;
        self.board
            .get(&detail.alert)
            .cloned()
            .or_else(|| detail.history.last().map(|e| e.snapshot.clone()))
    }

    /// Short patient label: the name when known, else the id's first block.
    pub fn patient_label(&self, patient: &Uuid) -> String {
        match self.names.get(patient) {
            Some(name) => name.clone(),
            None => patient.to_string()[..8].to_string(),
        }
    }

    pub fn is_mine(&self, alert: &Alert) -> bool {
        self.me
            .as_ref()
            .and_then(|m| m.id)
            .is_some_and(|id| alert.assigned_to == Some(id))
    }
}
