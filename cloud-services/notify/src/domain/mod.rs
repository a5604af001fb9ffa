//! What notify decides without any I/O: which message an event calls for (`message`), who an
//! alert pages (`page`), what each person wants and when (`preferences`), what it says in each
//! language (`template`), how a time reads to the recipient (`when`), and what counts as an
//! address (`address`).

pub mod address;
pub mod message;
pub mod page;
pub mod preferences;
pub mod template;
pub mod when;
