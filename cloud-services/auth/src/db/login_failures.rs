//! The `login_failures` table: failed logins per (account, client address), for the back-off
//! policy in `domain::lockout`.

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::lockout::AddressFailures;

pub async fn get(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    address: &str,
) -> Result<Option<AddressFailures>, sqlx::Error> {
    let row: Option<(i32, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT failures, last_failed_at FROM login_failures WHERE user_id = $1 AND address = $2",
    )
    .bind(user_id)
    .bind(address)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(failures, last_failed_at)| AddressFailures {
        failures,
        last_failed_at,
    }))
}

/// Counts a failure from `address` (atomically: concurrent failures all count); a count whose
/// last failure is older than a day starts over. Returns the new state.
pub async fn record(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    address: &str,
) -> Result<AddressFailures, sqlx::Error> {
    let (failures, last_failed_at): (i32, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "INSERT INTO login_failures (user_id, address, failures, last_failed_at)
         VALUES ($1, $2, 1, now())
         ON CONFLICT (user_id, address) DO UPDATE SET
            failures = CASE WHEN login_failures.last_failed_at < now() - interval '24 hours'
                            THEN 1 ELSE login_failures.failures + 1 END,
            last_failed_at = now()
         RETURNING failures, last_failed_at",
    )
    .bind(user_id)
    .bind(address)
    .fetch_one(db)
    .await?;
    Ok(AddressFailures {
        failures,
        last_failed_at,
    })
}

/// Forgets the failures of `address` (after a success from it) and any older than a day.
pub async fn clear(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    address: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM login_failures WHERE (user_id = $1 AND address = $2)
            OR last_failed_at < now() - interval '24 hours'",
    )
    .bind(user_id)
    .bind(address)
    .execute(db)
    .await?;
    Ok(())
}
