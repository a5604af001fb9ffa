//! Carrying out the app's commands against the server, in tasks, answering with messages.
//!
//! One [`ApiClient`] is shared behind a mutex: refresh tokens rotate (a spent one revokes the
//! whole session when reused), so two clones refreshing at once would log the clinician out. The
//! lock is held for one request at a time — for the live stream only until its headers arrive —
//! and every request has a deadline, so a stuck server never freezes actions or the UI.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use episante_client::{ApiClient, ClientError};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::app::{Action, Command, DetailLoad, Message, PatientLookup};
use crate::model::{AlertDetail, Me, Patient, VitalsHistory};

pub type SharedClient = Arc<Mutex<ApiClient>>;

/// How long one API call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a call failed, as the status line shows it.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("not logged in")]
    Auth,
    #[error("{0}")]
    Client(ClientError),
    #[error("no answer within {}s", CALL_TIMEOUT.as_secs())]
    Timeout,
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl CallError {
    fn from_client(e: ClientError) -> CallError {
        match e {
            ClientError::AuthRequired => CallError::Auth,
            other => CallError::Client(other),
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            CallError::Client(e) => e.status(),
            _ => None,
        }
    }

    /// The problem's `detail` for API errors, the error itself otherwise.
    pub fn detail(&self) -> String {
        match self {
            CallError::Client(ClientError::Api { detail, .. }) => detail.clone(),
            other => other.to_string(),
        }
    }
}

/// One JSON call with the shared client, under [`CALL_TIMEOUT`].
pub async fn call(
    client: &SharedClient,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, CallError> {
    let work = async {
        let mut client = client.lock().await;
        client.call(method, path, body).await
    };
    match tokio::time::timeout(CALL_TIMEOUT, work).await {
        Ok(result) => result.map_err(CallError::from_client),
        Err(_) => Err(CallError::Timeout),
    }
}

pub async fn get_as<T: DeserializeOwned>(
    client: &SharedClient,
    path: &str,
) -> Result<T, CallError> {
    let body = call(client, Method::GET, path, None).await?;
    serde_json::from_value(body).map_err(|e| CallError::Decode(e.to_string()))
}

/// Runs commands; keeps at most one live stream and one detail load.
pub struct Network {
    client: SharedClient,
    tx: mpsc::Sender<Message>,
    stream: Option<JoinHandle<()>>,
    detail: Option<JoinHandle<()>>,
}

impl Drop for Network {
    fn drop(&mut self) {
        for task in [self.stream.take(), self.detail.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

impl Network {
    pub fn new(client: SharedClient, tx: mpsc::Sender<Message>) -> Network {
        Network {
            client,
            tx,
            stream: None,
            detail: None,
        }
    }

    /// Starts `command`'s work; the bell and quitting are the caller's.
    pub fn run(&mut self, command: Command) {
        let client = self.client.clone();
        let tx = self.tx.clone();
        match command {
            Command::Connect => {
                if let Some(old) = self.stream.take() {
                    old.abort();
                }
                self.stream = Some(tokio::spawn(crate::stream::run(client.clone(), tx.clone())));
                tokio::spawn(async move {
                    if let Ok(body) = call(&client, Method::GET, "/v1/auth/me", None).await {
                        let _ = tx.send(Message::Me(Me::from_json(&body))).await;
                    }
                });
            }
            Command::Login { email, password } => {
                tokio::spawn(async move {
                    let work = async {
                        let mut client = client.lock().await;
                        client.login(&email, &password).await
                    };
                    let message = match tokio::time::timeout(CALL_TIMEOUT, work).await {
                        Ok(Ok(_)) => Message::LoggedIn { email },
                        Ok(Err(ClientError::AuthRequired)) => {
                            Message::LoginFailed("wrong email or password".into())
                        }
                        Ok(Err(ClientError::Api { detail, .. })) => Message::LoginFailed(detail),
                        Ok(Err(e)) => Message::LoginFailed(e.to_string()),
                        Err(_) => Message::LoginFailed(CallError::Timeout.to_string()),
                    };
                    let _ = tx.send(message).await;
                });
            }
            Command::Acknowledge(id) => self.act(Action::Acknowledge, id, None),
            Command::Assign(id) => self.act(Action::Assign, id, Some(json!({}))),
            Command::Resolve { alert, note } => {
                self.act(Action::Resolve, alert, Some(json!({ "note": note })))
            }
            Command::LoadDetail {
                alert,
                patient,
                since,
            } => {
                if let Some(old) = self.detail.take() {
                    old.abort();
                }
                self.detail = Some(tokio::spawn(async move {
                    let load = load_detail(&client, alert, patient, since, Utc::now()).await;
                    let _ = tx.send(Message::Detail(Box::new(load))).await;
                }));
            }
            Command::Bell | Command::Quit => {}
        }
    }

    fn act(&self, action: Action, alert: Uuid, body: Option<Value>) {
        let client = self.client.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let path = format!("/v1/alerts/{alert}/{}", action.verb());
            let message = match call(&client, Method::POST, &path, body.as_ref()).await {
                Ok(answer) => match serde_json::from_value(answer) {
                    Ok(alert) => Message::ActionDone {
                        action,
                        alert: Box::new(alert),
                    },
                    Err(e) => Message::ActionFailed {
                        action,
                        detail: format!("unexpected answer: {e}"),
                    },
                },
                Err(CallError::Auth) => Message::AuthRequired,
                Err(e) => Message::ActionFailed {
                    action,
                    detail: e.detail(),
                },
            };
            let _ = tx.send(message).await;
        });
    }
}

/// The vitals window of a detail pane: from half an hour before the alert (at most a day back)
/// to now, in RFC 3339 without `+` (which a query string would turn into a space).
pub fn vitals_path(patient: Uuid, since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let from = (since - chrono::Duration::minutes(30)).max(now - chrono::Duration::hours(24));
    format!(
        "/v1/patients/{patient}/vitals?from={}&to={}&resolution=1m",
        from.to_rfc3339_opts(SecondsFormat::Secs, true),
        now.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// Patient summary, vitals and history, each failing on its own.
pub async fn load_detail(
    client: &SharedClient,
    alert: Uuid,
    patient: Uuid,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DetailLoad {
    let patient_lookup = match get_as::<Patient>(client, &format!("/v1/patients/{patient}")).await {
        Ok(p) => PatientLookup::Found(p),
        Err(e)
            if matches!(
                e.status(),
                Some(StatusCode::NOT_FOUND | StatusCode::FORBIDDEN)
            ) =>
        {
            PatientLookup::NoAccess
        }
        Err(e) => PatientLookup::Failed(e.detail()),
    };
    let vitals = get_as::<VitalsHistory>(client, &vitals_path(patient, since, now))
        .await
        .map_err(|e| e.detail());
    let history = get_as::<AlertDetail>(client, &format!("/v1/alerts/{alert}"))
        .await
        .map(|d| d.history)
        .map_err(|e| e.detail());
    DetailLoad {
        alert,
        patient: patient_lookup,
        vitals,
        history,
    }
}
