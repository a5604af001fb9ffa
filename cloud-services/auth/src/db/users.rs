//! The `users` table.

use chrono::{DateTime, Utc};
use episante_kit::Role;
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::domain::user::User;

#[derive(Debug, FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub active: bool,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    pub fn role(&self) -> Role {
        // The CHECK constraint on `role` admits exactly the names Role parses.
        self.role.parse().unwrap_or(Role::Patient)
    }

    pub fn to_user(&self) -> User {
        User {
            id: self.id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            role: self.role(),
            active: self.active,
            locked_until: self.locked_until.filter(|t| *t > Utc::now()),
            created_at: self.created_at,
        }
    }
}

const COLUMNS: &str =
    "id, email, display_name, role, password_hash, active, locked_until, created_at";

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

/// Counts a failed login; at `threshold` consecutive failures locks the account for
/// `lock_secs` and restarts the count. One statement, so concurrent failures all count.
pub async fn record_failed_login(
    db: impl PgExecutor<'_>,
    id: Uuid,
    threshold: i32,
    lock_secs: f64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET
            locked_until = CASE WHEN failed_logins + 1 >= $2
                                THEN now() + make_interval(secs => $3) ELSE locked_until END,
            failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END
         WHERE id = $1",
    )
    .bind(id)
    .bind(threshold)
    .bind(lock_secs)
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
