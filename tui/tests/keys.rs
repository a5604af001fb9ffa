//! The pure app: keys in, commands out; messages in, state (and the bell) out.

mod common;

use common::*;
use crossterm::event::KeyCode;
use episante_tui::app::{
    Action, App, Command, Connection, DetailLoad, Message, PatientLookup, Prompt, Screen,
    StatusKind,
};
use episante_tui::board::Filter;
use episante_tui::model::{Me, Severity, VitalsHistory};
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn visible(app: &mut App) -> Vec<Uuid> {
    app.rows().to_vec()
}

#[test]
fn the_board_is_sorted_by_severity_then_age_and_starts_on_the_first_row() {
    let mut app = app_with(sample());
    assert_eq!(visible(&mut app), [id(5), id(2), id(3), id(4), id(1)]);
    assert_eq!(app.selected, Some(id(5)));
}

#[test]
fn hjkl_and_arrows_move_and_the_selection_follows_its_alert() {
    let mut app = app_with(sample());
    app.handle_key(ch('j'));
    app.handle_key(key(KeyCode::Down));
    assert_eq!(app.selected, Some(id(3)));
    app.handle_key(ch('k'));
    assert_eq!(app.selected, Some(id(2)));
    app.handle_key(ch('G'));
    assert_eq!(app.selected, Some(id(1)));
    app.handle_key(key(KeyCode::Down));
    assert_eq!(app.selected, Some(id(1)), "stops at the last row");
    app.handle_key(ch('g'));
    assert_eq!(app.selected, Some(id(5)));
    app.handle_key(ch('j'));
    // A new critical alert older than everything lands above: the selection stays on alert 2.
    app.apply(event(
        1,
        "created",
        alert(9, "critical", "active", "hr.high", 90),
    ));
    assert_eq!(visible(&mut app)[0], id(9));
    assert_eq!(app.selected, Some(id(2)));
}

#[test]
fn a_resolved_alert_leaves_the_board_and_the_selection_moves_to_its_row() {
    let mut app = app_with(sample());
    app.handle_key(ch('j')); // alert 2
    app.apply(event(
        1,
        "resolved",
        alert(2, "critical", "resolved", "news2.aggregate", 5),
    ));
    assert!(!visible(&mut app).contains(&id(2)));
    app.sync_selection(); // what each frame does
    assert_eq!(app.selected, Some(id(3)));
    let counts = app.board.counts();
    assert_eq!(
        (counts.active, counts.acknowledged, counts.resolved),
        (3, 1, 1)
    );
}

#[test]
fn an_older_snapshot_never_overwrites_a_newer_one() {
    let mut app = app_with(sample());
    app.apply(event(
        5,
        "acknowledged",
        alert(4, "medium", "acknowledged", "rr.high", 20),
    ));
    app.apply(event(
        2,
        "updated",
        alert(4, "medium", "active", "rr.high", 20),
    ));
    assert_eq!(
        app.board.get(&id(4)).map(|a| a.state.label()),
        Some("acknowledged")
    );
    // A reload that misses an alert the stream brought later keeps it.
    app.apply(event(
        7,
        "created",
        alert(8, "low", "active", "temp.low", 1),
    ));
    app.apply(Message::Loaded(sample()));
    assert!(app.board.get(&id(8)).is_some());
    assert_eq!(
        app.board.get(&id(4)).map(|a| a.state.label()),
        Some("acknowledged")
    );
}

#[test]
fn a_new_critical_alert_rings_the_bell_once_and_is_highlighted_until_looked_at() {
    let mut app = app_with(sample());
    let created = app.apply(event(
        1,
        "created",
        alert(9, "critical", "active", "hr.high", 0),
    ));
    assert_eq!(created, Some(Command::Bell));
    assert!(app.fresh.contains(&id(9)));
    let repeat = app.apply(event(
        2,
        "updated",
        alert(9, "critical", "active", "hr.high", 0),
    ));
    assert_eq!(
        repeat, None,
        "an update of a known critical alert is not news"
    );
    let high = app.apply(event(
        3,
        "created",
        alert(10, "high", "active", "hr.high", 0),
    ));
    assert_eq!(high, None);
    // Escalated from high to critical: news.
    let raised = app.apply(event(
        4,
        "updated",
        alert(10, "critical", "active", "hr.high", 0),
    ));
    assert_eq!(raised, Some(Command::Bell));
    // Selecting it clears the highlight.
    while app.selected != Some(id(9)) {
        app.handle_key(ch('j'));
    }
    assert!(!app.fresh.contains(&id(9)));
}

#[test]
fn b_and_no_bell_silence_the_bell_but_keep_the_highlight() {
    let mut app = app_with(sample());
    app.handle_key(ch('b'));
    assert!(!app.options.bell);
    assert_eq!(app.status, Some((StatusKind::Info, "bell off".into())));
    let news = app.apply(event(
        1,
        "created",
        alert(9, "critical", "active", "hr.high", 0),
    ));
    assert_eq!(news, None);
    assert!(app.fresh.contains(&id(9)));
    app.handle_key(ch('b'));
    assert!(app.options.bell);
}

#[test]
fn actions_target_the_selected_alert() {
    let mut app = app_with(sample());
    app.handle_key(ch('j'));
    assert_eq!(app.handle_key(ch('a')), Some(Command::Acknowledge(id(2))));
    assert_eq!(app.handle_key(ch('m')), Some(Command::Assign(id(2))));
}

#[test]
fn resolving_asks_for_a_note_and_refuses_an_empty_one() {
    let mut app = app_with(sample());
    assert_eq!(app.handle_key(ch('r')), None);
    assert_eq!(
        app.prompt,
        Some(Prompt::ResolveNote {
            alert: id(5),
            note: String::new()
        })
    );
    assert_eq!(app.handle_key(key(KeyCode::Enter)), None);
    assert_eq!(app.status.as_ref().map(|s| s.0), Some(StatusKind::Error));
    assert!(app.prompt.is_some(), "still asking");
    for c in "seen, fine q".chars() {
        app.handle_key(ch(c));
    }
    app.handle_key(key(KeyCode::Backspace));
    app.handle_key(key(KeyCode::Backspace));
    assert!(!app.quit, "q inside the note is text");
    assert_eq!(
        app.handle_key(key(KeyCode::Enter)),
        Some(Command::Resolve {
            alert: id(5),
            note: "seen, fine".into()
        })
    );
    assert_eq!(app.prompt, None);
    // Esc cancels without a command.
    app.handle_key(ch('r'));
    app.handle_key(ch('x'));
    assert_eq!(app.handle_key(key(KeyCode::Esc)), None);
    assert_eq!(app.prompt, None);
}

#[test]
fn readonly_mode_refuses_every_action() {
    let mut options = options();
    options.readonly = true;
    let mut app = App::new(options, None, true);
    app.apply(Message::Loaded(sample()));
    for c in ['a', 'r', 'm'] {
        assert_eq!(app.handle_key(ch(c)), None, "{c}");
        assert_eq!(app.prompt, None);
        assert_eq!(
            app.status,
            Some((
                StatusKind::Error,
                "read-only mode: actions are disabled".into()
            ))
        );
    }
}

#[test]
fn slash_filters_while_typing_and_esc_clears() {
    let mut app = app_with(sample());
    app.handle_key(ch('/'));
    for c in "SPO".chars() {
        app.handle_key(ch(c));
    }
    assert_eq!(
        visible(&mut app),
        [id(3)],
        "case-insensitive, over rule keys"
    );
    assert_eq!(app.selected, Some(id(3)));
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(app.board.filter().text, "SPO", "Enter keeps the filter");
    assert_eq!(app.prompt, None);
    app.handle_key(ch('/'));
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(visible(&mut app).len(), 5);
    // Over messages and patients too.
    app.handle_key(ch('/'));
    for c in "message 4".chars() {
        app.handle_key(ch(c));
    }
    assert_eq!(visible(&mut app), [id(4)]);
    app.handle_key(key(KeyCode::Esc));
}

#[test]
fn s_cycles_the_severity_filter_and_esc_clears_all_filters() {
    let mut app = app_with(sample());
    let mut seen = Vec::new();
    for _ in 0..5 {
        app.handle_key(ch('s'));
        seen.push((app.board.filter().severity, visible(&mut app).len()));
    }
    assert_eq!(
        seen,
        [
            (Some(Severity::Critical), 2),
            (Some(Severity::High), 1),
            (Some(Severity::Medium), 1),
            (Some(Severity::Low), 1),
            (None, 5)
        ]
    );
    app.handle_key(ch('s'));
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.board.filter(), &Filter::default());
}

#[test]
fn patient_search_matches_an_id_prefix_or_a_known_name() {
    let mut app = app_with(sample());
    app.handle_key(ch('p'));
    for c in patient(4).to_string().chars() {
        app.handle_key(ch(c));
    }
    assert_eq!(visible(&mut app), [id(4)]);
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(visible(&mut app).len(), 5);
    app.names.insert(patient(3), "DUPONT, Marie".into());
    app.board.invalidate();
    app.handle_key(ch('p'));
    for c in "dupont".chars() {
        app.handle_key(ch(c));
    }
    assert_eq!(visible(&mut app), [id(3)]);
}

#[test]
fn enter_opens_the_detail_and_esc_goes_back() {
    let mut app = app_with(sample());
    app.handle_key(ch('j'));
    let command = app.handle_key(key(KeyCode::Enter));
    assert_eq!(
        command,
        Some(Command::LoadDetail {
            alert: id(2),
            patient: patient(2),
            since: t0() - chrono::Duration::minutes(5)
        })
    );
    assert_eq!(app.screen, Screen::Detail);
    // Actions in the detail pane apply to its alert.
    assert_eq!(app.handle_key(ch('a')), Some(Command::Acknowledge(id(2))));
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Board);
    assert!(app.detail.is_none());
    app.handle_key(ch('l'));
    assert_eq!(app.screen, Screen::Detail);
    app.handle_key(ch('h'));
    assert_eq!(app.screen, Screen::Board);
}

#[test]
fn the_detail_takes_its_load_and_live_events_for_its_alert() {
    let mut app = app_with(sample());
    app.handle_key(key(KeyCode::Enter)); // alert 5
                                         // A live event arrives before the history: kept, and merged in order.
    app.apply(event(
        9,
        "acknowledged",
        alert(5, "critical", "acknowledged", "hr.high", 12),
    ));
    let Message::Event(created) =
        event(3, "created", alert(5, "critical", "active", "hr.high", 12))
    else {
        unreachable!()
    };
    app.apply(Message::Detail(Box::new(DetailLoad {
        alert: id(5),
        patient: PatientLookup::NoAccess,
        vitals: Ok(VitalsHistory::default()),
        history: Ok(vec![*created]),
    })));
    let detail = app.detail.as_ref().expect("detail");
    let ids: Vec<i64> = detail.history.iter().map(|e| e.id).collect();
    assert_eq!(ids, [3, 9]);
    assert_eq!(detail.patient, Some(PatientLookup::NoAccess));
    // A load for another alert (stale) is dropped.
    app.apply(Message::Detail(Box::new(DetailLoad {
        alert: id(4),
        patient: PatientLookup::Failed("x".into()),
        vitals: Err("x".into()),
        history: Ok(vec![]),
    })));
    assert_eq!(
        app.detail.as_ref().and_then(|d| d.patient.clone()),
        Some(PatientLookup::NoAccess)
    );
}

#[test]
fn action_answers_update_the_board_and_errors_show_the_problem_detail() {
    let mut app = app_with(sample());
    let mut acked = alert(5, "critical", "acknowledged", "hr.high", 12);
    acked.updated_at += chrono::Duration::seconds(1);
    app.apply(Message::ActionDone {
        action: Action::Acknowledge,
        alert: Box::new(acked),
    });
    assert_eq!(
        app.board.get(&id(5)).map(|a| a.state.label()),
        Some("acknowledged")
    );
    assert_eq!(
        app.status,
        Some((StatusKind::Info, "acknowledged: hr.high".into()))
    );
    app.apply(Message::ActionFailed {
        action: Action::Acknowledge,
        detail: "alert is acknowledged, not active".into(),
    });
    assert_eq!(
        app.status,
        Some((
            StatusKind::Error,
            "cannot acknowledge: alert is acknowledged, not active".into()
        ))
    );
}

#[test]
fn the_login_form_submits_and_a_login_connects() {
    let mut app = App::new(options(), None, false);
    assert_eq!(app.screen, Screen::Login);
    assert_eq!(
        app.handle_key(key(KeyCode::Enter)),
        None,
        "moves to password"
    );
    assert_eq!(app.handle_key(key(KeyCode::Enter)), None);
    assert!(app.login.error.is_some(), "both fields are required");
    app.handle_key(key(KeyCode::Tab));
    for c in "dr@x.test".chars() {
        app.handle_key(ch(c));
    }
    app.handle_key(key(KeyCode::Tab));
    for c in "pw q".chars() {
        app.handle_key(ch(c));
    }
    assert!(!app.quit, "q is a password character");
    assert_eq!(
        app.handle_key(key(KeyCode::Enter)),
        Some(Command::Login {
            email: "dr@x.test".into(),
            password: "pw q".into()
        })
    );
    assert!(app.login.busy);
    app.apply(Message::LoginFailed("wrong email or password".into()));
    assert_eq!(app.login.error.as_deref(), Some("wrong email or password"));
    assert_eq!(
        app.apply(Message::LoggedIn {
            email: "dr@x.test".into()
        }),
        Some(Command::Connect)
    );
    assert_eq!(app.screen, Screen::Board);
    assert!(app.login.password.is_empty(), "the password is not kept");
    // A session that cannot be refreshed brings the form back, email kept.
    app.apply(Message::AuthRequired);
    assert_eq!(app.screen, Screen::Login);
    assert_eq!(app.login.email, "dr@x.test");
    assert_eq!(app.connection, Connection::Offline);
}

#[test]
fn q_and_ctrl_c_quit_but_help_swallows_the_next_key() {
    let mut app = app_with(sample());
    app.handle_key(ch('?'));
    assert!(app.help);
    assert_eq!(app.handle_key(ch('q')), None, "closes help");
    assert!(!app.help && !app.quit);
    app.handle_key(ch('/'));
    assert_eq!(app.handle_key(ctrl('c')), Some(Command::Quit));
    let mut app = app_with(sample());
    assert_eq!(app.handle_key(ch('q')), Some(Command::Quit));
    assert!(app.quit);
}

#[test]
fn me_marks_alerts_assigned_to_me() {
    let mut app = app_with(sample());
    let me = Uuid::from_u128(77);
    app.apply(Message::Me(Me {
        id: Some(me),
        name: "Dr X".into(),
        role: "clinician".into(),
    }));
    let mut mine = alert(3, "high", "acknowledged", "spo2.low", 30);
    mine.assigned_to = Some(me);
    mine.updated_at += chrono::Duration::seconds(1);
    app.apply(Message::ActionDone {
        action: Action::Assign,
        alert: Box::new(mine.clone()),
    });
    assert!(app.is_mine(&mine));
    assert!(!app.is_mine(&alert(4, "medium", "active", "rr.high", 20)));
}
