//! Browser sessions kept by the gateway (backend-for-frontend): no token ever reaches JavaScript.
//!
//! A web page that holds an access or refresh token (in `localStorage`, or in a variable) hands it
//! to any script that runs in the page — one XSS and the session is someone else's. So the portal
//! never sees one: `POST /api/v1/session` logs in through auth and keeps the token pair here,
//! answering with an `HttpOnly`, `SameSite=Strict` cookie (plus `Secure` under TLS) that names the
//! session by a random 256-bit id. On every proxied API call carrying that cookie, the gateway puts
//! the access token in `Authorization` (refreshing it through auth shortly before it expires, one
//! refresh at a time per session) and removes the cookie, so services see bearer tokens as from
//! any other client.
//!
//! CSRF: `SameSite=Strict` already keeps other sites' requests cookie-less; on top of that every
//! state-changing request (anything but GET, HEAD, OPTIONS) made with the cookie must carry the
//! session's synchroniser token in `X-CSRF-Token`, which the page reads from the login answer or
//! `GET /api/v1/session` (same origin only). The login itself must be `application/json`, which
//! another site's form cannot send (login CSRF: being logged into the attacker's account).
//! `DELETE /api/v1/session` ends the session at auth
//! (its refresh family and access tokens, everywhere) and here, and expires the cookie.
//!
//! What one hostile client can do to the others: sessions are capped (`MAX_SESSIONS`, oldest
//! idle first out) and expire after `IDLE_LIMIT` without use, so a login flood costs memory
//! bounded by the cap; an unknown or forged cookie is a 401 that clears it, never a lookup
//! that can reach another session (ids are compared as whole random strings in a map).
//! Sessions live in this process: a restart logs browsers out (they log in again); a gateway
//! with several instances needs sticky sessions or a shared store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderValue, Method};
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;

/// The cookie's name. `__Host-` would pin it to the origin but requires `Secure`, which a
/// plain-HTTP `episante up` on localhost cannot set; the path is `/` either way.
pub const COOKIE: &str = "episante_session";
/// The header that carries the synchroniser token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at most; the least recently used goes first.
pub const MAX_SESSIONS: usize = 50_000;
/// A session unused this long is forgotten (its refresh token would have expired at auth's
/// session limit anyway; this bounds memory sooner).
pub const IDLE_LIMIT: Duration = Duration::from_secs(12 * 3600);
/// An access token closer than this to its expiry is refreshed before use.
const REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// Tokens as auth's `/v1/auth/login` and `/v1/auth/refresh` return them.
#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
}

#[derive(Debug)]
struct Tokens {
    access: String,
    refresh: String,
    access_until: Instant,
}

/// One browser session.
#[derive(Debug)]
pub struct Session {
    pub csrf: String,
    /// Held across a refresh, so concurrent requests of one session refresh once.
    tokens: tokio::sync::Mutex<Tokens>,
    last_used: Mutex<Instant>,
}

impl Session {
    /// Whether `headers` carry this session's CSRF token (compared in constant time).
    pub fn csrf_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(CSRF_HEADER)
            .is_some_and(|v| constant_time_eq(v.as_bytes(), self.csrf.as_bytes()))
    }
}

/// What a proxied request needs: the access token to send, or why there is none.
pub enum Access {
    Bearer(String),
    /// Auth refused the refresh (session ended elsewhere, or expired): the session is gone.
    Ended,
    /// Auth could not be reached to refresh: try again later (the session is kept).
    Unavailable,
}

/// All sessions of this gateway.
#[derive(Default)]
pub struct SessionStore {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl SessionStore {
    /// Keeps a new session for `tokens`; returns its id (for the cookie) and the session.
    pub fn open(&self, tokens: TokenAnswer) -> Option<(String, Arc<Session>)> {
        let refresh = tokens.refresh_token?;
        let id = random_token();
        let session = Arc::new(Session {
            csrf: random_token(),
            tokens: tokio::sync::Mutex::new(Tokens {
                access: tokens.access_token,
                refresh,
                access_until: Instant::now() + Duration::from_secs(tokens.expires_in),
            }),
            last_used: Mutex::new(Instant::now()),
        });
        let mut sessions = self.sessions.lock().expect("session map");
        if sessions.len() >= MAX_SESSIONS {
            evict(&mut sessions);
        }
        sessions.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The live session named by `id`, marked used; expired ones are dropped on the way.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        let mut sessions = self.sessions.lock().expect("session map");
        let session = sessions.get(id)?.clone();
        let mut last = session.last_used.lock().expect("last used");
        if last.elapsed() > IDLE_LIMIT {
            drop(last);
            sessions.remove(id);
            return None;
        }
        *last = Instant::now();
        drop(last);
        Some(session)
    }

    /// Forgets `id`; returns its refresh token, for auth's logout.
    pub async fn close(&self, id: &str) -> Option<String> {
        let session = self.sessions.lock().expect("session map").remove(id)?;
        let refresh = session.tokens.lock().await.refresh.clone();
        Some(refresh)
    }

    pub fn len(&self) -> usize {
        self.sessions.lock().expect("session map").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The access token for a request of session `id`, refreshed through `refresh` first when it
    /// is about to expire. `refresh` gets the current refresh token and returns auth's answer:
    /// `Ok(Some)` new tokens, `Ok(None)` refused, `Err` unreachable.
    pub async fn access<F, Fut>(&self, id: &str, session: &Session, refresh: F) -> Access
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<Option<TokenAnswer>, ()>>,
    {
        let mut tokens = session.tokens.lock().await;
        if tokens.access_until > Instant::now() + REFRESH_MARGIN {
            return Access::Bearer(tokens.access.clone());
        }
        match refresh(tokens.refresh.clone()).await {
            Ok(Some(fresh)) => {
                tokens.access = fresh.access_token;
                tokens.access_until = Instant::now() + Duration::from_secs(fresh.expires_in);
                if let Some(next) = fresh.refresh_token {
                    tokens.refresh = next;
                }
                Access::Bearer(tokens.access.clone())
            }
            Ok(None) => {
                drop(tokens);
                self.sessions.lock().expect("session map").remove(id);
                Access::Ended
            }
            Err(()) => Access::Unavailable,
        }
    }
}

/// Drops expired sessions, then the least recently used tenth if still full.
fn evict(sessions: &mut HashMap<String, Arc<Session>>) {
    sessions.retain(|_, s| s.last_used.lock().expect("last used").elapsed() <= IDLE_LIMIT);
    if sessions.len() < MAX_SESSIONS {
        return;
    }
    let mut by_age: Vec<(Instant, String)> = sessions
        .iter()
        .map(|(id, s)| (*s.last_used.lock().expect("last used"), id.clone()))
        .collect();
    by_age.sort();
    for (_, id) in by_age.into_iter().take(MAX_SESSIONS / 10) {
        sessions.remove(&id);
    }
}

/// 256 random bits, URL-safe base64.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session id in the request's cookies, if any.
pub fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// `Set-Cookie` for session `id` (`None`: expire it). `secure` under TLS.
pub fn set_cookie(id: Option<&str>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = match id {
        Some(id) => format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).expect("cookie is ASCII")
}

/// Whether `method` changes state (and so needs the CSRF token).
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Removes our cookie from `headers`, keeping any others the page may have.
pub fn strip_cookie(headers: &mut HeaderMap) {
    let others: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| {
            let ours = pair
                .strip_prefix(COOKIE)
                .is_some_and(|rest| rest.starts_with('='));
            !pair.is_empty() && !ours
        })
        .map(str::to_string)
        .collect();
    headers.remove(header::COOKIE);
    if !others.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&others.join("; ")) {
            headers.insert(header::COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(expires_in: u64, refresh: &str) -> TokenAnswer {
        TokenAnswer {
            access_token: format!("access-{refresh}"),
            expires_in,
            refresh_token: Some(refresh.into()),
        }
    }

    #[test]
    fn the_cookie_is_http_only_and_strict_and_found_among_others() {
        let set = set_cookie(Some("abc"), false);
        assert_eq!(
            set.to_str().unwrap(),
            "episante_session=abc; Path=/; HttpOnly; SameSite=Strict"
        );
        assert!(set_cookie(Some("abc"), true)
            .to_str()
            .unwrap()
            .ends_with("; Secure"));
        assert!(set_cookie(None, false)
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; episante_session=xyz; lang=fr"),
        );
        assert_eq!(cookie_of(&headers).as_deref(), Some("xyz"));
        strip_cookie(&mut headers);
        assert_eq!(headers[header::COOKIE], "theme=dark; lang=fr");
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        let store = SessionStore::default();
        let (_, session) = store.open(answer(300, "r1")).unwrap();
        let mut headers = HeaderMap::new();
        assert!(!session.csrf_ok(&headers));
        headers.insert(CSRF_HEADER, HeaderValue::from_static("wrong"));
        assert!(!session.csrf_ok(&headers));
        headers.insert(CSRF_HEADER, HeaderValue::from_str(&session.csrf).unwrap());
        assert!(session.csrf_ok(&headers));
        assert!(changes_state(&Method::POST) && changes_state(&Method::DELETE));
        assert!(!changes_state(&Method::GET));
    }

    #[tokio::test]
    async fn a_token_near_its_expiry_is_refreshed_once_and_a_refused_refresh_ends_the_session() {
        let store = SessionStore::default();
        let (id, session) = store.open(answer(10, "r1")).unwrap();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let access = store
            .access(&id, &session, |refresh| {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                assert_eq!(refresh, "r1");
                async { Ok(Some(answer(300, "r2"))) }
            })
            .await;
        assert!(matches!(access, Access::Bearer(ref t) if t == "access-r2"));
        // Fresh now: no second refresh.
        let again = store
            .access(&id, &session, |_| async { panic!("no refresh needed") })
            .await;
        assert!(matches!(again, Access::Bearer(ref t) if t == "access-r2"));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);

        let (id, session) = store.open(answer(0, "r3")).unwrap();
        let unreachable = store.access(&id, &session, |_| async { Err(()) }).await;
        assert!(matches!(unreachable, Access::Unavailable));
        assert!(store.get(&id).is_some(), "kept while auth is unreachable");
        let ended = store.access(&id, &session, |_| async { Ok(None) }).await;
        assert!(matches!(ended, Access::Ended));
        assert!(store.get(&id).is_none());
    }

    #[test]
    fn unknown_ids_find_nothing_and_login_floods_stay_bounded() {
        let store = SessionStore::default();
        assert!(store.get("forged").is_none());
        for i in 0..MAX_SESSIONS + 10 {
            store.open(answer(300, &i.to_string())).unwrap();
        }
        assert!(store.len() <= MAX_SESSIONS);
    }
}
