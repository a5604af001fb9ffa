//! Every screen drawn on ratatui's `TestBackend`, checked by its content.

mod common;

use chrono::Duration;
use common::*;
use crossterm::event::KeyCode;
use episante_tui::app::{App, Connection, DetailLoad, Message, PatientLookup};
use episante_tui::model::{Identity, Patient, VitalPoint, VitalSeries, VitalsHistory};
use ratatui::style::Color;

#[test]
fn the_board_shows_counts_connection_and_rows_in_order_coloured_by_severity() {
    let mut app = app_with(sample());
    app.apply(Message::Connection(Connection::Live));
    let buffer = render(&mut app, 120, 40);
    let rows = lines(&buffer);
    assert!(rows[0].contains("EpiSante alerts"), "{}", rows[0]);
    assert!(rows[0].contains("● live"));
    assert!(rows[0].contains("dr.x@episante.test"));
    assert!(rows[1].contains("CRIT 2"), "{}", rows[1]);
    assert!(rows[1].contains("HIGH 1"));
    assert!(rows[1].contains("active 4 ack 1 resolved 0"));
    assert!(rows[2].contains("SEV") && rows[2].contains("MESSAGE"));
    let order: Vec<usize> = [
        "hr.high",
        "news2.aggregate",
        "spo2.low",
        "rr.high",
        "temp.low",
    ]
    .iter()
    .map(|rule| row_of(&rows, rule).unwrap_or_else(|| panic!("{rule} shown")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    // Severity colours.
    let crit_row = order[0] as u16;
    let x = rows[order[0]].find("CRIT").expect("CRIT") as u16;
    assert_eq!(buffer[(x, crit_row)].fg, Color::Red);
    let low_row = order[4] as u16;
    let x = rows[order[4]].find("LOW").expect("LOW") as u16;
    assert_eq!(buffer[(x, low_row)].fg, Color::Cyan);
    // Ages at the pinned clock, state column.
    assert!(rows[order[0]].contains("12m"));
    assert!(rows[order[2]].contains("ACK"));
    // The footer shows the key hints.
    assert!(rows[39].contains("? help"));
}

#[test]
fn a_new_critical_alert_is_marked_on_the_board() {
    let mut app = app_with(sample());
    app.apply(event(
        1,
        "created",
        alert(9, "critical", "active", "bradycardia.x", 99),
    ));
    let rows = lines(&render(&mut app, 120, 40));
    let row = row_of(&rows, "bradycardia.x").expect("shown");
    assert!(rows[row].starts_with('●'), "{}", rows[row]);
}

#[test]
fn reconnecting_and_read_only_are_visible() {
    let mut options = options();
    options.readonly = true;
    let mut app = App::new(options, None, true);
    app.apply(Message::Connection(Connection::Retrying {
        attempt: 3,
        delay: std::time::Duration::from_secs(2),
        reason: "connection refused".into(),
    }));
    let rows = lines(&render(&mut app, 120, 40));
    assert!(rows[0].contains("reconnecting #3 in 2.0s"), "{}", rows[0]);
    assert!(rows[0].contains("READ-ONLY"));
    assert!(
        rows[39].contains("stream: connection refused"),
        "{}",
        rows[39]
    );
    assert!(screen_text(&render(&mut app, 120, 40)).contains("No open alerts."));
}

#[test]
fn at_80x24_everything_fits_and_the_selection_scrolls_into_view_with_1000_alerts() {
    let alerts: Vec<_> = (1..=1000)
        .map(|n| {
            let severity = ["critical", "high", "medium", "low"][(n % 4) as usize];
            alert(n, severity, "active", &format!("rule.{n}"), n as i64)
        })
        .collect();
    let mut app = app_with(alerts);
    let rows = lines(&render(&mut app, 80, 24));
    assert_eq!(rows.len(), 24);
    assert!(rows[0].contains("EpiSante alerts"));
    assert!(rows[1].contains("CRIT 250"), "{}", rows[1]);
    assert!(rows[3].contains("CRIT"), "first data row");
    assert!(
        rows[23].contains("? help") && rows[23].contains("q quit"),
        "{}",
        rows[23]
    );
    // Message column still has room at 80 columns.
    assert!(rows[3].contains("message"), "{}", rows[3]);
    app.handle_key(ch('G'));
    let rows = lines(&render(&mut app, 80, 24));
    let last = app.selected_alert().expect("selected").rule_key.clone();
    let row = row_of(&rows, &format!("{last} ")).expect("the last alert is visible");
    assert_eq!(row, 22, "drawn on the last table row");
    assert!(rows[row].contains("LOW"));
}

fn vitals() -> VitalsHistory {
    let series = |vital: &str, unit: &str, values: &[f64]| VitalSeries {
        vital: vital.into(),
        unit: unit.into(),
        points: values
            .iter()
            .enumerate()
            .map(|(i, v)| VitalPoint {
                t: t0() - Duration::minutes(values.len() as i64 - i as i64),
                min: v - 2.0,
                max: v + 2.0,
                avg: *v,
                count: 6,
            })
            .collect(),
    };
    VitalsHistory {
        series: vec![
            series("heart_rate", "/min", &[72.0, 80.0, 110.0, 140.0, 141.0]),
            series("spo2", "%", &[97.0, 96.0, 95.0]),
            series("systolic_bp", "mm[Hg]", &[120.0, 125.0]),
        ],
    }
}

fn open_detail(app: &mut App, patient: PatientLookup) {
    app.handle_key(key(KeyCode::Enter));
    let alert = app.selected.expect("selected");
    let Message::Event(created) = event(3, "created", app.board.get(&alert).cloned().unwrap())
    else {
        unreachable!()
    };
    let mut acked = created.clone();
    acked.id = 4;
    acked.kind = "acknowledged".into();
    acked.actor = Some("11111111-2222-3333-4444-555555555555".into());
    app.apply(Message::Detail(Box::new(DetailLoad {
        alert,
        patient,
        vitals: Ok(vitals()),
        history: Ok(vec![*created, *acked]),
    })));
}

#[test]
fn the_detail_shows_patient_vitals_sparklines_and_timeline() {
    let mut app = app_with(sample());
    open_detail(
        &mut app,
        PatientLookup::Found(Patient {
            id: patient(5),
            status: "active".into(),
            identity: Identity {
                given_names: vec!["Marie".into(), "Anne".into()],
                family_name: "Dupont".into(),
                birth_date: "1950-03-02".parse().ok(),
                sex: Some("female".into()),
                phone: None,
            },
        }),
    );
    let buffer = render(&mut app, 120, 40);
    let rows = lines(&buffer);
    let text = rows.join("\n");
    assert!(
        rows[1].contains("CRITICAL") && rows[1].contains("hr.high"),
        "{}",
        rows[1]
    );
    assert!(
        text.contains("DUPONT, Marie Anne · born 1950-03-02 · female"),
        "{text}"
    );
    assert!(text.contains("12m ago"));
    assert!(text.contains("131 → 140"));
    let hr = row_of(&rows, "HR ").expect("HR row");
    assert!(rows[hr].contains("141 /min (70–143)"), "{}", rows[hr]);
    assert!(
        rows[hr].chars().any(|c| "▁▂▃▄▅▆▇█".contains(c)),
        "a sparkline: {}",
        rows[hr]
    );
    let temp = row_of(&rows, "Temp").expect("Temp row");
    assert!(rows[temp].contains("no data"));
    assert!(row_of(&rows, "BP dia").is_some());
    let created = row_of(&rows, "created ").expect("timeline");
    let acked = row_of(&rows, "acknowledged by").expect("timeline");
    assert!(created < acked, "{text}");
    assert!(rows[acked].contains("by 11111111"));
    // The board learned the patient's name.
    app.handle_key(key(KeyCode::Esc));
    let board = screen_text(&render(&mut app, 120, 40));
    assert!(board.contains("DUPONT, Mari"), "{board}");
}

#[test]
fn the_detail_says_no_access_when_records_refuses() {
    let mut app = app_with(sample());
    open_detail(&mut app, PatientLookup::NoAccess);
    let text = screen_text(&render(&mut app, 80, 24));
    assert!(text.contains("no access to the record"), "{text}");
    // 80×24 still shows the vitals and the start of the timeline.
    assert!(text.contains("HR ") && text.contains("BP dia"));
    assert!(
        text.contains("Timeline") && text.contains("created"),
        "{text}"
    );
}

#[test]
fn the_help_popup_lists_the_keys() {
    let mut app = app_with(sample());
    app.handle_key(ch('?'));
    let text = screen_text(&render(&mut app, 80, 24));
    assert!(text.contains("Keys — any key closes"), "{text}");
    assert!(text.contains("acknowledge"));
    assert!(text.contains("resolve (asks for a note)"));
    assert!(text.contains("severity: all → crit → high → med → low"));
    app.handle_key(ch('x'));
    assert!(!screen_text(&render(&mut app, 80, 24)).contains("Keys — any key closes"));
}

#[test]
fn the_resolve_note_input_shows_what_is_typed() {
    let mut app = app_with(sample());
    app.handle_key(ch('r'));
    for c in "false alarm".chars() {
        app.handle_key(ch(c));
    }
    let text = screen_text(&render(&mut app, 80, 24));
    assert!(text.contains("Resolve hr.high: why? (required)"), "{text}");
    assert!(text.contains("> false alarm▏"));
}

#[test]
fn the_filter_prompt_replaces_the_footer_and_the_counts_show_filters() {
    let mut app = app_with(sample());
    app.handle_key(ch('s'));
    app.handle_key(ch('/'));
    app.handle_key(ch('h'));
    let rows = lines(&render(&mut app, 80, 24));
    assert!(rows[23].starts_with("/h▏"), "{}", rows[23]);
    assert!(rows[1].contains("sev=CRIT /h"), "{}", rows[1]);
    app.handle_key(ch('x'));
    let text = screen_text(&render(&mut app, 80, 24));
    assert!(text.contains("No alert matches the filters"), "{text}");
}

#[test]
fn the_login_form_masks_the_password() {
    let mut app = App::new(options(), Some("dr@x.test".into()), false);
    for c in "secret".chars() {
        app.handle_key(ch(c));
    }
    let text = screen_text(&render(&mut app, 80, 24));
    assert!(text.contains("clinician log in"), "{text}");
    assert!(text.contains("Email dr@x.test"));
    assert!(text.contains("Password ••••••▏"));
    assert!(!text.contains("secret"));
    assert!(text.contains("Server http://gateway.test"));
    app.apply(Message::LoginFailed("wrong email or password".into()));
    assert!(screen_text(&render(&mut app, 80, 24)).contains("wrong email or password"));
}

#[test]
fn an_action_error_shows_in_the_status_line() {
    let mut app = app_with(sample());
    app.apply(Message::ActionFailed {
        action: episante_tui::app::Action::Resolve,
        detail: "alert is already resolved".into(),
    });
    let rows = lines(&render(&mut app, 80, 24));
    assert!(
        rows[23].contains("cannot resolve: alert is already resolved"),
        "{}",
        rows[23]
    );
    let x = rows[23].find("cannot").expect("shown") as u16;
    assert_eq!(render(&mut app, 80, 24)[(x, 23)].fg, Color::Red);
}

#[test]
fn the_board_names_the_patients_it_learned_with_the_open_alerts() {
    let mut app = app_with(sample());
    let before = lines(&render(&mut app, 120, 40));
    let row = row_of(&before, "hr.high").expect("shown");
    assert!(!before[row].contains("LOVELACE"), "{}", before[row]);
    // `sample()`'s hr.high alert is number 5.
    let hr_patient = patient(5);
    app.apply(Message::Names(vec![(hr_patient, "LOVELACE, Ada".into())]));
    let after = lines(&render(&mut app, 120, 40));
    let row = row_of(&after, "hr.high").expect("shown");
    assert!(after[row].contains("LOVELACE, Ad"), "{}", after[row]);
}
