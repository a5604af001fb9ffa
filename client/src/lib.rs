//! Talking to an EpiSante platform as a person: the `episante` CLI and the clinician TUI share it.
//!
//! Every call goes to one server — the gateway (`nginx` in a deployment, the built-in one of
//! `episante up` on one machine) — under `/api/v1/…`. The session (tokens of the logged-in user)
//! is kept in `$XDG_CONFIG_HOME/episante/session.json` (default `~/.config/…`), mode 0600, so a
//! login in the CLI serves the TUI too. An expired access token is refreshed transparently once.

pub mod session;
pub mod sse;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use session::{Session, SessionStore};

/// Default server: the local gateway of `episante up` on its default port.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1";

/// Where `episante up` leaves its gateway's address for the CLI and TUI on this machine
/// (beside the session file).
pub fn local_server_hint() -> std::path::PathBuf {
    SessionStore::default_location()
        .path
        .with_file_name("local-platform.json")
}

/// The server to talk to: the one given (flag or `EPISANTE_SERVER`), else the configured one,
/// else the gateway of a running `episante up` on this machine, else [`DEFAULT_SERVER`].
pub fn find_server(given: Option<String>, configured: Option<String>) -> String {
    given
        .or(configured)
        .or_else(|| {
            std::fs::read_to_string(local_server_hint())
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| v["server"].as_str().map(str::to_string))
        })
        .unwrap_or_else(|| DEFAULT_SERVER.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No session, or it cannot be refreshed: log in again.
    #[error("not logged in (or the session expired): run `episante login`")]
    AuthRequired,
    /// The server answered a problem (4xx/5xx).
    #[error("{detail} ({status})")]
    Api {
        status: StatusCode,
        detail: String,
        body: Value,
    },
    #[error("cannot reach {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("session store: {0}")]
    Store(#[from] std::io::Error),
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl ClientError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            ClientError::AuthRequired => Some(StatusCode::UNAUTHORIZED),
            _ => None,
        }
    }
}

/// What a login needs before it gives a session.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginChallenge {
    /// The account has a second factor: log in again with `totp` or `recovery_code`.
    Code,
    /// The account's role requires a second factor it has not enrolled: enrol with this
    /// enrolment-only token (`/v1/auth/mfa/enroll`, `/confirm`), then log in with a code.
    Enrolment { token: String },
}

/// An API client for one server, optionally logged in.
#[derive(Clone)]
pub struct ApiClient {
    pub server: String,
    http: reqwest::Client,
    store: SessionStore,
    session: Option<Session>,
}

impl ApiClient {
    /// A client for `server`, with the stored session if it belongs to that server.
    pub fn new(server: &str, store: SessionStore) -> Result<Self, ClientError> {
        let server = server.trim_end_matches('/').to_string();
        let session = store.load()?.filter(|s| s.server == server);
        Ok(ApiClient {
            server,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .expect("HTTP client"),
            store,
            session,
        })
    }

    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api{path}", self.server)
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            server: self.server.clone(),
            reason: e.to_string(),
        }
    }

    /// Logs in with a password and stores the session.
    pub async fn login(&mut self, email: &str, password: &str) -> Result<Session, ClientError> {
        let response = self
            .http
            .post(self.url("/v1/auth/login"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let body = read(response).await?;
        let session = Session::from_token_response(&self.server, email, &body)?;
        self.store.save(&session)?;
        self.session = Some(session.clone());
        Ok(session)
    }

    /// Logs in with extra login fields (`totp` or `recovery_code`); a second factor or an
    /// enrolment the server asks for first comes back as a [`LoginChallenge`].
    pub async fn login_with(
        &mut self,
        email: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) -> Result<Result<Session, LoginChallenge>, ClientError> {
        let mut body = serde_json::json!({ "email": email, "password": password });
        for (key, value) in extra {
            body[*key] = Value::String((*value).to_string());
        }
        let response = self
            .http
            .post(self.url("/v1/auth/login"))
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let problem: Value = response.json().await.unwrap_or(Value::Null);
            return match problem["type"].as_str() {
                Some("/problems/mfa-required") => Ok(Err(LoginChallenge::Code)),
                Some("/problems/mfa-enrolment-required") => Ok(Err(LoginChallenge::Enrolment {
                    token: problem["enrolment_token"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                })),
                _ => Err(ClientError::Api {
                    status,
                    detail: problem["detail"]
                        .as_str()
                        .unwrap_or("login refused")
                        .to_string(),
                    body: problem,
                }),
            };
        }
        let body = read(response).await?;
        let session = Session::from_token_response(&self.server, email, &body)?;
        self.store.save(&session)?;
        self.session = Some(session.clone());
        Ok(Ok(session))
    }

    /// A JSON call authorised by `token` rather than the session (enrolment-only tokens) or by
    /// nothing (`None`: password reset with a reset token).
    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        read(response).await
    }

    /// Forgets the session here and revokes it at the server.
    pub async fn logout(&mut self) -> Result<(), ClientError> {
        if let Some(s) = self.session.take() {
            if let Some(refresh) = &s.refresh_token {
                let _ = self
                    .http
                    .post(self.url("/v1/auth/logout"))
                    .json(&serde_json::json!({ "refresh_token": refresh }))
                    .send()
                    .await;
            }
        }
        self.store.clear()?;
        Ok(())
    }

    async fn refresh(&mut self) -> Result<(), ClientError> {
        let Some(refresh) = self.session.as_ref().and_then(|s| s.refresh_token.clone()) else {
            return Err(ClientError::AuthRequired);
        };
        let response = self
            .http
            .post(self.url("/v1/auth/refresh"))
            .json(&serde_json::json!({ "refresh_token": refresh }))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(ClientError::AuthRequired);
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let email = self
            .session
            .as_ref()
            .map(|s| s.email.clone())
            .unwrap_or_default();
        let session = Session::from_token_response(&self.server, &email, &body)?;
        self.store.save(&session)?;
        self.session = Some(session);
        Ok(())
    }

    /// A logged-in request, refreshing the token once if it expired.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response, ClientError> {
        if self.session.as_ref().is_some_and(Session::expired) {
            self.refresh().await?;
        }
        for attempt in 0..2 {
            let token = self
                .session
                .as_ref()
                .map(|s| s.access_token.clone())
                .ok_or(ClientError::AuthRequired)?;
            let mut request = self
                .http
                .request(method.clone(), self.url(path))
                .bearer_auth(token);
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.map_err(|e| self.unreachable(e))?;
            if response.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.refresh().await?;
                continue;
            }
            return Ok(response);
        }
        Err(ClientError::AuthRequired)
    }

    /// A logged-in JSON call; problems become [`ClientError::Api`].
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let response = self.send(method, path, body, &[]).await?;
        read(response).await
    }

    pub async fn get(&mut self, path: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, path, None).await
    }

    pub async fn get_as<T: DeserializeOwned>(&mut self, path: &str) -> Result<T, ClientError> {
        serde_json::from_value(self.get(path).await?)
            .map_err(|e| ClientError::Decode(e.to_string()))
    }
}

/// The JSON body of a success, or the problem as an error.
pub async fn read(response: reqwest::Response) -> Result<Value, ClientError> {
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| ClientError::Decode(e.to_string()))?;
    let body: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if status.is_success() {
        return Ok(body);
    }
    if status == StatusCode::UNAUTHORIZED {
        return Err(ClientError::AuthRequired);
    }
    let detail = body["detail"]
        .as_str()
        .or(body["title"].as_str())
        .or(body.as_str())
        .unwrap_or("request failed")
        .to_string();
    Err(ClientError::Api {
        status,
        detail,
        body,
    })
}
