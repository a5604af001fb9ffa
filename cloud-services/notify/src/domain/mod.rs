//! What notify decides without any I/O: which message an event calls for and for whom
//! (`message`), what it says in each language (`template`), how a time reads to the recipient
//! (`when`), and what counts as an address (`address`).

pub mod address;
pub mod message;
pub mod template;
pub mod when;
