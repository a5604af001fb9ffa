//! The `users` table.

use chrono::{DateTime, Utc};
use episante_kit::{Language, Role};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::domain::user::User;

#[derive(Debug, FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    /// Decoded when read: a name that is not a role fails the query, loudly.
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub password_hash: String,
    pub active: bool,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The latest revocation of all the user's sessions.
    pub sessions_revoked_at: Option<DateTime<Utc>>,
    /// Sealed TOTP secret (`mfa_key`), set once enrolment is confirmed.
    pub mfa_secret: Option<Vec<u8>>,
    /// Sealed TOTP secret of an enrolment not confirmed yet.
    pub mfa_pending_secret: Option<Vec<u8>>,
    pub mfa_enabled_at: Option<DateTime<Utc>>,
    /// `en` or `fr` (CHECK constraint): [`episante_kit::Language`].
    pub language: String,
}

impl UserRow {
    pub fn language(&self) -> Language {
        // The CHECK constraint admits exactly the tags Language parses.
        self.language.parse().unwrap_or_default()
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn to_user(&self) -> User {
        User {
            id: self.id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            role: self.role(),
            active: self.active,
            locked_until: self.locked_until.filter(|t| *t > Utc::now()),
            mfa_enabled: self.mfa_secret.is_some(),
            created_at: self.created_at,
        }
    }
}

const COLUMNS: &str = "id, email, display_name, role, password_hash, active, locked_until, \
     created_at, sessions_revoked_at, mfa_secret, mfa_pending_secret, mfa_enabled_at, language";

pub async fn insert(
    db: impl PgExecutor<'_>,
    email: &str,
    display_name: &str,
    role: Role,
    password_hash: &str,
) -> Result<UserRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO users (id, email, display_name, role, password_hash)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(email)
    .bind(display_name)
    .bind(role.as_str())
    .bind(password_hash)
    .fetch_one(db)
    .await
}

pub async fn by_email(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE email = $1"))
        .bind(email)
        .fetch_optional(db)
        .await
}

pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn list(
    db: impl PgExecutor<'_>,
    role: Option<Role>,
    limit: i64,
    offset: i64,
) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE ($1::text IS NULL OR role = $1)
         ORDER BY created_at, id LIMIT $2 OFFSET $3"
    ))
    .bind(role.map(Role::as_str))
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

pub async fn any_admin(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')")
        .fetch_one(db)
        .await
}

/// Active admins other than `except`; used to refuse removing the last one.
pub async fn other_active_admins(
    db: impl PgExecutor<'_>,
    except: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND active AND id <> $1")
        .bind(except)
        .fetch_one(db)
        .await
}

/// Counts a failed login and returns the account's consecutive failures, this one included.
/// One statement (`failed_logins + 1 … RETURNING`), so concurrent failures all count.
pub async fn count_failed_login(db: impl PgExecutor<'_>, id: Uuid) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// Extends the account's back-off to at least `now + window_ms` (never shortens it, so
/// concurrent failures settle on the longest window).
pub async fn back_off(
    db: impl PgExecutor<'_>,
    id: Uuid,
    window_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET locked_until = GREATEST(locked_until, now() + $2 * interval '1 millisecond')
         WHERE id = $1",
    )
    .bind(id)
    .bind(window_ms as f64)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn record_successful_login(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Sets a new password hash and clears the back-off.
pub async fn set_password(
    db: impl PgExecutor<'_>,
    id: Uuid,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL,
            updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(password_hash)
    .execute(db)
    .await?;
    Ok(())
}

/// Records that every session of the user is revoked as of `at` (the clock tokens are issued
/// by, so `iat` and the revocation compare).
pub async fn mark_sessions_revoked(
    db: impl PgExecutor<'_>,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET sessions_revoked_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(db)
        .await?;
    Ok(())
}

/// Starts (or restarts) a TOTP enrolment; refused (false) once MFA is enabled.
pub async fn set_pending_mfa(
    db: impl PgExecutor<'_>,
    id: Uuid,
    sealed: &[u8],
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET mfa_pending_secret = $2 WHERE id = $1 AND mfa_secret IS NULL",
    )
    .bind(id)
    .bind(sealed)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Confirms the pending enrolment whose sealed secret is `sealed` (false if it changed meanwhile
/// or MFA is already on).
pub async fn enable_mfa(
    db: impl PgExecutor<'_>,
    id: Uuid,
    sealed: &[u8],
    step: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET mfa_secret = mfa_pending_secret, mfa_pending_secret = NULL,
            mfa_enabled_at = now(), mfa_last_step = $3
         WHERE id = $1 AND mfa_secret IS NULL AND mfa_pending_secret = $2",
    )
    .bind(id)
    .bind(sealed)
    .bind(step)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns MFA off (admin reset for a lost authenticator).
pub async fn disable_mfa(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET mfa_secret = NULL, mfa_pending_secret = NULL, mfa_enabled_at = NULL,
            mfa_last_step = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Accepts a TOTP code of time step `step` unless a code of that step or a later one was already
/// accepted: atomic, so one code cannot log in twice even concurrently.
pub async fn accept_totp_step(
    db: impl PgExecutor<'_>,
    id: Uuid,
    step: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET mfa_last_step = $2
         WHERE id = $1 AND (mfa_last_step IS NULL OR mfa_last_step < $2)",
    )
    .bind(id)
    .bind(step)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn update(
    db: impl PgExecutor<'_>,
    id: Uuid,
    display_name: Option<&str>,
    role: Option<Role>,
    active: Option<bool>,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE users SET
            display_name = COALESCE($2, display_name),
            role = COALESCE($3, role),
            active = COALESCE($4, active),
            updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(display_name)
    .bind(role.map(Role::as_str))
    .bind(active)
    .fetch_optional(db)
    .await
}

/// Serialises changes that could remove the last active admin (held until the transaction
/// ends).
pub async fn lock_for_admin_change(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
        .execute(db)
        .await?;
    Ok(())
}

/// Sets the language `id` is written to in; false when there is no such user.
pub async fn set_language(
    db: impl PgExecutor<'_>,
    id: Uuid,
    language: Language,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE users SET language = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(language.as_str())
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
