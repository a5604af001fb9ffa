//! The `sign_in_addresses` table: where each account signed in from.

use sqlx::PgConnection;
use uuid::Uuid;

/// Records a sign-in of `user` from `address`. Returns whether it is news worth telling the
/// person: an address never seen for this account, on an account that had signed in before (the
/// very first sign-in is not a surprise).
pub async fn record(conn: &mut PgConnection, user: Uuid, address: &str) -> sqlx::Result<bool> {
    let signed_in_before: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sign_in_addresses WHERE user_id = $1)")
            .bind(user)
            .fetch_one(&mut *conn)
            .await?;
    let inserted: bool = sqlx::query_scalar(
        "INSERT INTO sign_in_addresses (user_id, address) VALUES ($1, $2) \
         ON CONFLICT (user_id, address) DO UPDATE SET last_at = now() \
         RETURNING (xmax = 0)",
    )
    .bind(user)
    .bind(address)
    .fetch_one(&mut *conn)
    .await?;
    Ok(inserted && signed_in_before)
}
