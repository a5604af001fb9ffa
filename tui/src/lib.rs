//! The clinician's terminal: a live alerts board for the patients in one's care.
//!
//! Split so that everything but the terminal and the network is pure and testable: [`app`] holds
//! the state and reacts to keys and messages, [`ui`] draws it, [`network`] and [`stream`] talk to
//! the server in tasks and answer with messages, [`main`](../episante_tui/index.html) wires them.

pub mod app;
pub mod bench;
pub mod board;
pub mod model;
pub mod network;
pub mod stream;
pub mod ui;
