//! What a patient receives: confirmations in their language with a calendar invitation, no
//! reminder for a cancelled appointment, one message per event however often it is delivered,
//! retries while the relay is down, and a delivery log that shows each person only their own.

use std::time::Duration;

use episante_kit::events::{EventBus, EventSubscription};
use episante_protocol::bookings::{BookingEvent, BookingEventKind};
use episante_protocol::topics::KAFKA_BOOKING_EVENTS;
use mailparse::{MailHeaderMap, ParsedMail};
use serde_json::json;

use crate::helpers::{spawn_app, with_mail};

/// (subject, plain text, the attached .ics if any) of a raw message.
fn read(raw: &str) -> (String, String, Option<String>) {
    let mail = mailparse::parse_mail(raw.as_bytes()).expect("MIME parses");
    let subject = mail.headers.get_first_value("Subject").unwrap_or_default();
    let mut text = String::new();
    let mut ics = None;
    fn walk(part: &ParsedMail, text: &mut String, ics: &mut Option<String>) {
        match part.ctype.mimetype.as_str() {
            "text/plain" => *text = part.get_body().unwrap(),
            "text/calendar" => *ics = Some(part.get_body().unwrap()),
            _ => {}
        }
        for sub in &part.subparts {
            walk(sub, text, ics);
        }
    }
    walk(&mail, &mut text, &mut ics);
    (subject, text, ics)
}

#[tokio::test]
async fn a_booking_is_confirmed_by_email_in_the_patients_language_with_an_invitation() {
    let (app, smtp) = with_mail().await;
    let practice = app.open_practice().await;
    let amelie = app.patient("Amelie Poulain", "fr").await;
    let arthur = app.patient("Arthur Dent", "en").await;
    let (appointment, starts_at) = app
        .book(&practice, &amelie, chrono::Duration::days(3))
        .await;
    app.book(&practice, &arthur, chrono::Duration::days(4))
        .await;
    let messages = smtp.wait_for(2, Duration::from_secs(30)).await;

    let french = messages
        .iter()
        .find(|m| m.contains(&amelie.email))
        .expect("a message to Amelie");
    let (subject, text, ics) = read(french);
    assert_eq!(subject, "Votre rendez-vous est confirmé");
    assert!(text.contains("Bonjour Amelie Poulain"), "{text}");
    assert!(text.contains("avec Dr Jules Maigret"), "{text}");
    assert!(text.contains("(Europe/Paris)"), "{text}");
    // Bookings keeps locations lowercased for now (issue 30, defect 6).
    assert!(
        text.to_lowercase().contains("12 quai des orfèvres, paris"),
        "{text}"
    );
    assert!(text.contains("https://portal.test/appointments"), "{text}");
    assert!(french.contains("text/html"), "an HTML alternative");

    // The invitation parses, names the appointment and its time.
    let ics = ics.expect("invite.ics attached");
    let calendar: icalendar::Calendar = ics.parse().expect("the .ics parses");
    let event = calendar
        .components
        .iter()
        .find_map(|c| c.as_event())
        .expect("a VEVENT");
    use icalendar::Component;
    assert_eq!(
        event.get_uid(),
        Some(format!("{appointment}@episante").as_str())
    );
    assert!(ics.contains("METHOD:REQUEST"), "{ics}");
    assert!(
        ics.contains(&starts_at.format("DTSTART:%Y%m%dT%H%M%SZ").to_string()),
        "{ics}"
    );

    let english = messages
        .iter()
        .find(|m| m.contains(&arthur.email))
        .expect("a message to Arthur");
    let (subject, text, _) = read(english);
    assert_eq!(subject, "Your appointment is confirmed");
    assert!(text.contains("Hello Arthur Dent"), "{text}");

    // Cancelling sends the cancellation, with a CANCEL invitation for the same event.
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            &format!("{}/v1/appointments/{appointment}/cancel", app.bookings),
            &amelie.token,
            None,
        )
        .await;
    assert!(status == 200 || status == 204, "{status}");
    let messages = smtp.wait_for(3, Duration::from_secs(30)).await;
    let (subject, _, ics) = read(messages.last().unwrap());
    assert_eq!(subject, "Votre rendez-vous a été annulé");
    assert!(ics.unwrap().contains("METHOD:CANCEL"));
}

/// A reader of the booking events from now on (registered before the events, so that the bus
/// keeps them for it).
fn probe(bus: &impl EventBus) -> Box<dyn EventSubscription> {
    bus.subscribe(
        &format!("probe-{}", uuid::Uuid::new_v4()),
        &[KAFKA_BOOKING_EVENTS],
    )
    .unwrap()
}

/// The event as bookings wrote it for `appointment`, read back from the bus.
async fn event_of(
    sub: &mut Box<dyn EventSubscription>,
    appointment: uuid::Uuid,
    kind: BookingEventKind,
) -> BookingEvent {
    loop {
        let record = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("the event is on the bus")
            .unwrap();
        let event: BookingEvent = serde_json::from_slice(&record.payload).unwrap();
        if event.appointment_id == Some(appointment) && event.kind == kind {
            return event;
        }
    }
}

#[tokio::test]
async fn a_reminder_of_an_appointment_cancelled_meanwhile_is_not_sent() {
    let (app, smtp) = with_mail().await;
    let practice = app.open_practice().await;
    let patient = app.patient("Jeanne Hebert", "fr").await;
    let mut events = probe(&app.bus);
    let (appointment, _) = app
        .book(&practice, &patient, chrono::Duration::days(2))
        .await;
    app.wait_for_status(appointment, "appointment_booked", "sent")
        .await;
    let booked = event_of(&mut events, appointment, BookingEventKind::Booked).await;
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            &format!("{}/v1/appointments/{appointment}/cancel", app.bookings),
            &patient.token,
            None,
        )
        .await;
    assert!(status == 200 || status == 204, "{status}");
    app.wait_for_status(appointment, "appointment_cancelled", "sent")
        .await;
    // A reminder the outbox had already published before the cancellation withdrew it.
    let reminder = BookingEvent {
        event_id: uuid::Uuid::new_v4(),
        kind: BookingEventKind::Reminder,
        reminder: Some("24h".into()),
        ..booked
    };
    app.bus
        .publish(
            KAFKA_BOOKING_EVENTS,
            &appointment.to_string(),
            serde_json::to_vec(&reminder).unwrap(),
        )
        .await
        .unwrap();
    let entry = app
        .wait_for_status(appointment, "reminder_24h", "withdrawn")
        .await;
    assert_eq!(entry["last_error"], "the appointment was cancelled");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        smtp.messages().len(),
        2,
        "confirmation and cancellation only"
    );
}

#[tokio::test]
async fn an_event_delivered_twice_sends_one_message() {
    let (app, smtp) = with_mail().await;
    let practice = app.open_practice().await;
    let patient = app.patient("Ada Lovelace", "en").await;
    let mut events = probe(&app.bus);
    let (appointment, _) = app
        .book(&practice, &patient, chrono::Duration::days(2))
        .await;
    let booked = event_of(&mut events, appointment, BookingEventKind::Booked).await;
    app.wait_for_status(appointment, "appointment_booked", "sent")
        .await;
    for _ in 0..3 {
        app.bus
            .publish(
                KAFKA_BOOKING_EVENTS,
                &appointment.to_string(),
                serde_json::to_vec(&booked).unwrap(),
            )
            .await
            .unwrap();
    }
    // A later event proves the copies were consumed.
    let mut later = booked.clone();
    later.event_id = uuid::Uuid::new_v4();
    later.kind = BookingEventKind::Cancelled;
    app.bus
        .publish(
            KAFKA_BOOKING_EVENTS,
            &appointment.to_string(),
            serde_json::to_vec(&later).unwrap(),
        )
        .await
        .unwrap();
    app.wait_for_status(appointment, "appointment_cancelled", "sent")
        .await;
    let to_her: Vec<_> = smtp
        .messages()
        .into_iter()
        .filter(|m| read(m).0 == "Your appointment is confirmed")
        .collect();
    assert_eq!(to_her.len(), 1, "one confirmation");
}

#[tokio::test]
async fn a_relay_that_is_down_is_retried_until_it_takes_the_message() {
    // Nothing listens on this port yet.
    let port = episante_testkit::net::free_port();
    let app = spawn_app(port).await;
    let practice = app.open_practice().await;
    let patient = app.patient("Grace Hopper", "en").await;
    let (appointment, _) = app
        .book(&practice, &patient, chrono::Duration::days(2))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let retried = loop {
        let (_, log) = app.log(&patient.token, "?channel=email").await;
        let entry = log["items"][0].clone();
        if entry["attempts"].as_i64().unwrap_or(0) >= 1 {
            break entry;
        }
        assert!(std::time::Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(retried["status"], "queued");
    assert!(
        retried["last_error"].as_str().unwrap().contains("relay"),
        "{retried}"
    );
    let smtp = episante_testkit::TestSmtp::start_on(port).await;
    let entry = app
        .wait_for_status(appointment, "appointment_booked", "sent")
        .await;
    assert!(entry["attempts"].as_i64().unwrap() >= 2, "{entry}");
    assert_eq!(smtp.wait_for(1, Duration::from_secs(10)).await.len(), 1);
}

#[tokio::test]
async fn each_person_reads_only_their_own_messages() {
    let (app, smtp) = with_mail().await;
    let practice = app.open_practice().await;
    let one = app.patient("Marie Curie", "fr").await;
    let other = app.patient("Pierre Curie", "fr").await;
    app.book(&practice, &one, chrono::Duration::days(2)).await;
    app.book(&practice, &other, chrono::Duration::days(3)).await;
    smtp.wait_for(2, Duration::from_secs(30)).await;

    let (status, mine) = app.log(&one.token, "?channel=email").await;
    assert_eq!(status, 200);
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{mine}");
    // The same confirmation is in her bell (every channel, as nothing else was chosen).
    let (_, bell) = app.log(&one.token, "?channel=portal").await;
    assert_eq!(bell["items"].as_array().unwrap().len(), 1, "{bell}");
    let (status, _) = app.log(&one.token, "?channel=fax").await;
    assert_eq!(status, 422);
    assert_eq!(items[0]["recipient_id"], json!(one.id));
    assert_eq!(items[0]["status"], "sent");
    let (status, _) = app
        .log(&one.token, &format!("?recipient={}", other.id))
        .await;
    assert_eq!(status, 403, "another patient's messages");
    let (status, all) = app.log(&app.auth.admin_token, "?status=sent").await;
    assert_eq!(status, 200);
    assert!(all["items"].as_array().unwrap().len() >= 2, "{all}");
    let (status, problem) = app.log(&app.auth.admin_token, "?status=lost").await;
    assert_eq!(status, 422, "{problem}");
    let (status, _) = app.log(&app.auth.admin_token, "?limit=0").await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn an_address_the_relay_cannot_take_fails_at_once_with_the_reason() {
    let (app, smtp) = with_mail().await;
    let practice = app.open_practice().await;
    // The account's address has a non-ASCII local part (valid, RFC 6531); aiosmtpd, like many
    // relays, does not offer SMTPUTF8.
    let patient = app.patient("Zoé Ðurić", "fr").await;
    assert!(!patient.email.is_ascii());
    let (appointment, _) = app
        .book(&practice, &patient, chrono::Duration::days(2))
        .await;
    let entry = app
        .wait_for_status(appointment, "appointment_booked", "failed")
        .await;
    assert_eq!(entry["attempts"], 1, "not retried: {entry}");
    assert!(
        entry["last_error"].as_str().unwrap().contains("SMTPUTF8"),
        "{entry}"
    );
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn a_cancellation_by_the_practice_tells_the_patient_why() {
    let (app, smtp) = with_mail().await;
    let practice = app.open_practice().await;
    let patient = app.patient("Paul Verlaine", "fr").await;
    let (appointment, _) = app
        .book(&practice, &patient, chrono::Duration::days(2))
        .await;
    app.wait_for_status(appointment, "appointment_booked", "sent")
        .await;
    let cancel = format!("{}/v1/appointments/{appointment}/cancel", app.bookings);
    let (status, problem) = app
        .call(
            reqwest::Method::POST,
            &cancel,
            &app.auth.admin_token,
            Some(json!({"reason": "x".repeat(501)})),
        )
        .await;
    assert_eq!(status, 422, "a reason too long: {problem}");
    let (status, cancelled) = app
        .call(
            reqwest::Method::POST,
            &cancel,
            &app.auth.admin_token,
            Some(json!({"reason": "le docteur est malade"})),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["cancelled_by"], "practice");
    assert_eq!(cancelled["cancellation_reason"], "le docteur est malade");
    app.wait_for_status(appointment, "appointment_cancelled", "sent")
        .await;
    let cancellation = smtp
        .messages()
        .into_iter()
        .map(|m| read(&m))
        .find(|(subject, _, _)| subject == "Votre rendez-vous a été annulé")
        .expect("the cancellation");
    assert!(
        cancellation
            .1
            .contains("Annulé par le cabinet : le docteur est malade"),
        "{}",
        cancellation.1
    );
    assert!(cancellation.2.unwrap().contains("METHOD:CANCEL"));
}
