//! Notify against real servers: auth, bookings, PostgreSQL, an SMTP server (aiosmtpd) delivering
//! into a Maildir the tests read, and a local endpoint shaped like Twilio's SMS API.

mod helpers;
mod mail;
mod pages;
mod security;
mod sms_provider;
