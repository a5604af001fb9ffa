//! Waitlist hand-over: a freed slot goes to the first patient in line, held for them for
//! `waitlist_hold_secs`; when the hold lapses unused, the next patient in line gets it.
//!
//! Offers are made inside the transaction that frees the slot (cancel, reschedule) so a slot is
//! never free-for-all between the cancellation and the offer. Expired holds are handed on by a
//! background sweep that claims them with `FOR UPDATE SKIP LOCKED`, like the outbox relay, so
//! several instances can run it.

use std::time::Duration;

use chrono::Utc;
use episante_kit::events::outbox::OutboxRelay;
use episante_kit::Shutdown;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::db;
use crate::db::waitlist::{HoldRow, NewHold};
use crate::domain::rules::Rules;
use crate::domain::schedule::Span;

/// Offers `slot` of `practitioner_id` to the first waiting patient other than `freed_by`:
/// marks their entry offered, holds the slot for them and writes the `slot_offered` event.
pub async fn offer_freed_slot(
    tx: &mut Transaction<'_, Postgres>,
    rules: &Rules,
    practitioner_id: Uuid,
    appointment_type_id: Uuid,
    slot: Span,
    freed_by: Uuid,
) -> Result<Option<HoldRow>, sqlx::Error> {
    let now = Utc::now();
    if slot.start <= now {
        return Ok(None);
    }
    let Some(entry) = db::waitlist::first_waiting_for(tx, practitioner_id, slot, freed_by).await?
    else {
        return Ok(None);
    };
    db::waitlist::set_status(&mut **tx, entry.id, "offered").await?;
    let hold = db::waitlist::insert_hold(
        &mut **tx,
        &NewHold {
            practitioner_id,
            appointment_type_id,
            slot,
            patient_id: entry.patient_id,
            waitlist_entry_id: entry.id,
            expires_at: (now + rules.waitlist_hold).min(slot.start),
        },
    )
    .await?;
    db::outbox::insert(&mut **tx, &[crate::events::slot_offered_row(&hold)]).await?;
    tracing::info!(hold = %hold.id, patient = %hold.patient_id, "freed slot offered to the waitlist");
    Ok(Some(hold))
}

/// Releases lapsed holds and offers each slot, if still free, to the next patient in line.
pub async fn expire_holds(pool: &PgPool, rules: &Rules, limit: i64) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let holds = db::waitlist::claim_expired_holds(&mut tx, limit).await?;
    for hold in &holds {
        db::waitlist::release_hold(&mut *tx, hold.id).await?;
        db::waitlist::expire_offer(&mut *tx, hold.waitlist_entry_id).await?;
        let taken = !db::appointments::busy(&mut *tx, &[hold.practitioner_id], hold.span())
            .await?
            .is_empty();
        if !taken {
            offer_freed_slot(
                &mut tx,
                rules,
                hold.practitioner_id,
                hold.appointment_type_id,
                hold.span(),
                hold.patient_id,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(holds.len())
}

/// Background upkeep: hands on lapsed holds every `interval`, forgets old idempotency keys
/// hourly. Stops on `shutdown`.
pub async fn run_upkeep(
    pool: PgPool,
    rules: Rules,
    interval: Duration,
    idempotency_ttl_hours: u32,
    outbox: OutboxRelay,
    shutdown: Shutdown,
) {
    let mut last_purge: Option<tokio::time::Instant> = None;
    loop {
        match expire_holds(&pool, &rules, 100).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(count = n, "lapsed waitlist holds handed on");
                outbox.wake();
            }
            Err(e) => tracing::warn!(error = %e, "expiring waitlist holds failed"),
        }
        if last_purge.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            match db::idempotency::purge_older_than_hours(&pool, idempotency_ttl_hours).await {
                Ok(n) => {
                    last_purge = Some(tokio::time::Instant::now());
                    if n > 0 {
                        tracing::info!(count = n, "old idempotency keys purged");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "purging idempotency keys failed"),
            }
        }
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
