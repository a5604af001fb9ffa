//! Security notices reach the person at once, whatever their quiet hours, in their language.

use std::time::Duration;

use chrono::{Timelike, Utc};
use episante_kit::Role;
use episante_protocol::topics::KAFKA_SECURITY;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::with_mail;

#[tokio::test]
async fn a_password_change_is_told_at_once_even_in_quiet_hours() {
    let (app, smtp) = with_mail().await;
    let person = app.person(Role::Patient, "Ines Fournier", "fr").await;
    // Quiet hours around now: a reminder would wait; a security notice does not.
    let now = Utc::now();
    let start = format!("{:02}:00", (now.hour() + 23) % 24);
    let end = format!("{:02}:00", (now.hour() + 2) % 24);
    let (status, body) = app
        .preferences(
            &person.token,
            "me",
            json!({"quiet_hours": {"start": start, "end": end, "time_zone": "UTC"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let notice = json!({
        "event_id": Uuid::new_v4(), "user_id": person.id, "kind": "password_changed",
        "at": now, "address": "203.0.113.9"
    });
    app.publish(KAFKA_SECURITY, &person.id.to_string(), &notice)
        .await;
    let mail = smtp.wait_for(1, Duration::from_secs(30)).await.remove(0);
    assert!(mail.contains("203.0.113.9"), "{mail}");
    assert!(
        mail.contains("=?utf-8?") || mail.contains("mot de passe"),
        "{mail}"
    );
    // Twice on the bus, once in the mailbox.
    app.publish(KAFKA_SECURITY, &person.id.to_string(), &notice)
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.messages().len(), 1);
}
