//! Notify against real servers: auth, bookings, PostgreSQL and an SMTP server (aiosmtpd)
//! delivering into a Maildir the tests read.

mod helpers;
mod mail;
