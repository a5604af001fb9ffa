//! Who a message goes to and what it names, asked of the services that own it, with notify's
//! own service token: a user's contact (auth, scope `contacts:read`: email, name, language) and a
//! practitioner or appointment type (bookings, scope `schedule:read`). Notify keeps none of it
//! beyond the message it wrote (minimum necessary): contacts are held in memory for
//! [`CONTACT_FOR`] only (a burst of reminders to one person asks auth once; a changed address or
//! a deactivation is seen within seconds), bounded; practitioners and appointment types, which are
//! not personal health data, are cached for a minute.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use episante_kit::service_token::ServiceToken;
use episante_kit::Language;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::Mutex;
use uuid::Uuid;

/// Why a lookup gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The owner says there is no such thing: retrying will not help.
    #[error("{0} not found")]
    NotFound(String),
    /// The owner could not be asked (down, timeout, 5xx, token): try again later.
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct Contact {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub language: Language,
    pub active: bool,
    /// `patient`, `clinician`, `admin`: who may be put on call.
    pub role: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Practitioner {
    pub display_name: String,
    pub location: String,
    pub time_zone: String,
}

#[derive(Debug, Clone, Deserialize)]
struct AppointmentType {
    id: Uuid,
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct AppointmentTypePage {
    items: Vec<AppointmentType>,
}

const CACHE_FOR: Duration = Duration::from_secs(60);
/// How long a contact read from auth is reused.
pub const CONTACT_FOR: Duration = Duration::from_secs(15);
/// Contacts held at most (the cache is emptied when full).
const CONTACTS_HELD: usize = 10_000;

pub struct Directory {
    http: reqwest::Client,
    token: Arc<ServiceToken>,
    auth_url: String,
    bookings_url: String,
    practitioners: Mutex<HashMap<Uuid, (Practitioner, Instant)>>,
    contacts: Mutex<HashMap<Uuid, (Contact, Instant)>>,
    types: Mutex<(HashMap<Uuid, String>, Option<Instant>)>,
}

impl Directory {
    pub fn new(
        token: Arc<ServiceToken>,
        auth_url: &str,
        bookings_url: &str,
    ) -> anyhow::Result<Self> {
        Ok(Directory {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            token,
            auth_url: auth_url.trim_end_matches('/').to_string(),
            bookings_url: bookings_url.trim_end_matches('/').to_string(),
            practitioners: Mutex::new(HashMap::new()),
            contacts: Mutex::new(HashMap::new()),
            types: Mutex::new((HashMap::new(), None)),
        })
    }

    async fn get<T: DeserializeOwned>(&self, url: &str, what: &str) -> Result<T, LookupError> {
        for attempt in 0..2 {
            let token = self
                .token
                .get()
                .await
                .map_err(|e| LookupError::Unavailable(format!("service token: {e}")))?;
            let answer = self
                .http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| LookupError::Unavailable(format!("{what}: {e}")))?;
            match answer.status() {
                s if s.is_success() => {
                    return answer
                        .json()
                        .await
                        .map_err(|e| LookupError::Unavailable(format!("{what}: {e}")))
                }
                reqwest::StatusCode::NOT_FOUND => return Err(LookupError::NotFound(what.into())),
                // An expired or rotated token: once more with a fresh one.
                reqwest::StatusCode::UNAUTHORIZED if attempt == 0 => self.token.invalidate().await,
                s => return Err(LookupError::Unavailable(format!("{what}: HTTP {s}"))),
            }
        }
        Err(LookupError::Unavailable(format!("{what}: unauthorised")))
    }

    pub async fn contact(&self, user: Uuid) -> Result<Contact, LookupError> {
        if let Some((c, at)) = self.contacts.lock().await.get(&user) {
            if at.elapsed() < CONTACT_FOR {
                return Ok(c.clone());
            }
        }
        let contact: Contact = self
            .get(
                &format!("{}/v1/auth/users/{user}/contact", self.auth_url),
                &format!("user {user}"),
            )
            .await?;
        let mut held = self.contacts.lock().await;
        if held.len() >= CONTACTS_HELD {
            held.clear();
        }
        held.insert(user, (contact.clone(), Instant::now()));
        Ok(contact)
    }

    pub async fn practitioner(&self, id: Uuid) -> Result<Practitioner, LookupError> {
        if let Some((p, at)) = self.practitioners.lock().await.get(&id) {
            if at.elapsed() < CACHE_FOR {
                return Ok(p.clone());
            }
        }
        let p: Practitioner = self
            .get(
                &format!("{}/v1/practitioners/{id}", self.bookings_url),
                &format!("practitioner {id}"),
            )
            .await?;
        self.practitioners
            .lock()
            .await
            .insert(id, (p.clone(), Instant::now()));
        Ok(p)
    }

    pub async fn appointment_type(&self, id: Uuid) -> Result<String, LookupError> {
        {
            let cache = self.types.lock().await;
            if cache.1.is_some_and(|at| at.elapsed() < CACHE_FOR) {
                if let Some(name) = cache.0.get(&id) {
                    return Ok(name.clone());
                }
            }
        }
        let all: AppointmentTypePage = self
            .get(
                &format!("{}/v1/appointment-types?limit=500", self.bookings_url),
                "appointment types",
            )
            .await?;
        let mut cache = self.types.lock().await;
        *cache = (
            all.items.into_iter().map(|t| (t.id, t.name)).collect(),
            Some(Instant::now()),
        );
        cache
            .0
            .get(&id)
            .cloned()
            .ok_or_else(|| LookupError::NotFound(format!("appointment type {id}")))
    }
}
