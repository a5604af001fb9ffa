//! `episante-tui`: terminal set-up, the event loop, and the `bench` command.
//!
//! The loop waits on three things — keys (read on a plain thread, since crossterm's reader
//! blocks), messages from the network tasks, and a one-second tick for ages — and redraws at most
//! every [`FRAME`] while something changed, so a burst of stream events costs one frame, not one
//! per event.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};
use crossterm::event::{Event, KeyEvent};
use episante_client::{ApiClient, SessionStore};
use episante_tui::app::{App, Command, Options};
use episante_tui::bench::{self, BenchConfig};
use episante_tui::network::Network;
use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;

/// Shortest time between two frames (60 per second at most).
const FRAME: Duration = Duration::from_millis(16);

/// The clinician's live alerts board.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The platform's address (the gateway); default: the running `episante up` on this machine,
    /// else http://127.0.0.1.
    #[arg(long, env = "EPISANTE_SERVER")]
    server: Option<String>,
    /// Pre-fills the login form when there is no session.
    #[arg(long)]
    email: Option<String>,
    /// Look, don't touch: acknowledge, resolve and assign are disabled.
    #[arg(long)]
    readonly: bool,
    /// No terminal bell on new critical alerts (`b` toggles it while running).
    #[arg(long)]
    no_bell: bool,
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Measures frame times with many open alerts and a busy stream (no server needed).
    Bench {
        #[arg(long, default_value_t = 1000)]
        alerts: usize,
        #[arg(long, default_value_t = 500)]
        frames: usize,
        /// Stream events applied before each frame.
        #[arg(long, default_value_t = 10)]
        updates: usize,
        #[arg(long, default_value_t = 120)]
        width: u16,
        #[arg(long, default_value_t = 40)]
        height: u16,
    },
}

enum Input {
    Key(KeyEvent),
    Resize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Sub::Bench {
        alerts,
        frames,
        updates,
        width,
        height,
    }) = args.command
    {
        let report = bench::run(&BenchConfig {
            alerts,
            frames,
            updates_per_frame: updates,
            width,
            height,
        })?;
        println!("{alerts} open alerts, {updates} events per frame, {width}x{height}: {report}");
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let store = SessionStore::default_location();
    let client = ApiClient::new(&episante_client::find_server(args.server, None), store)
        .context("reading the session")?;
    let session_email = client.session().map(|s| s.email.clone());
    let logged_in = session_email.is_some();
    let mut app = App::new(
        Options {
            readonly: args.readonly,
            bell: !args.no_bell,
            server: client.server.clone(),
        },
        session_email.or(args.email),
        logged_in,
    );
    let (tx, mut messages) = mpsc::channel(4096);
    let mut network = Network::new(Arc::new(Mutex::new(client)), tx);
    if logged_in {
        network.run(Command::Connect);
    }

    let mut terminal = ratatui::try_init().context("terminal")?;
    let (keys_tx, mut keys) = mpsc::channel(256);
    std::thread::spawn(move || loop {
        let input = match crossterm::event::read() {
            Ok(Event::Key(key)) => Input::Key(key),
            Ok(Event::Resize(..)) => Input::Resize,
            Ok(_) => continue,
            Err(_) => return,
        };
        if keys_tx.blocking_send(input).is_err() {
            return;
        }
    });

    let result = async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut dirty = true;
        let mut last_draw = Instant::now() - FRAME;
        loop {
            if dirty && last_draw.elapsed() >= FRAME {
                app.now = Utc::now();
                terminal.draw(|frame| episante_tui::ui::draw(frame, &mut app))?;
                dirty = false;
                last_draw = Instant::now();
            }
            let mut commands = Vec::new();
            tokio::select! {
                input = keys.recv() => match input {
                    Some(Input::Key(key)) => commands.extend(app.handle_key(key)),
                    Some(Input::Resize) => {}
                    None => break,
                },
                Some(message) = messages.recv() => {
                    commands.extend(app.apply(message));
                    // Drain the burst: one frame for all of it.
                    while let Ok(message) = messages.try_recv() {
                        commands.extend(app.apply(message));
                    }
                }
                _ = tick.tick() => {}
                _ = tokio::time::sleep_until(last_draw + FRAME), if dirty => {}
            }
            dirty = true;
            for command in commands {
                match command {
                    Command::Quit => {}
                    Command::Bell => {
                        let mut out = std::io::stdout();
                        let _ = out.write_all(b"\x07").and_then(|_| out.flush());
                    }
                    other => network.run(other),
                }
            }
            if app.quit {
                break;
            }
        }
        anyhow::Ok(())
    }
    .await;
    ratatui::restore();
    drop(network);
    result
}
