//! Shutdown waits for what it started: an event whose booking was answered before the stop is
//! on the bus once the stopped instance's `serve` has returned, not left for the next start.

use chrono::Duration;
use episante_bookings::events::EventKind;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn events_of_bookings_answered_before_shutdown_are_published_by_it() {
    let mut app = spawn_app().await;
    let practice = open_practice(&app, "cardiology").await;
    app.stop_first_instance().await;
    for round in 0..6 {
        let instance = app.start_instance().await;
        let start = practice.slot_after(Duration::days(1) + Duration::hours(round));
        let response = app
            .http
            .post(format!("{}/v1/appointments", instance.base))
            .bearer_auth(app.admin())
            .json(&practice.booking(start, Some(Uuid::new_v4())))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        // Stopped the moment the booking is answered, as by a SIGTERM right after it.
        instance.stop().await;
        let unsent: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND due_at <= now()",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(
            unsent, 0,
            "round {round}: events left unpublished at shutdown"
        );
    }
    let booked = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind == EventKind::Booked)
        .count();
    assert_eq!(booked, 6);
}
