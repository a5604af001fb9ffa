//! Bookings API tests: a real service on port 0 with its own PostgreSQL database per test, a
//! real auth service for tokens, and an in-memory event bus the tests read.

mod helpers;

mod audit;
mod booking;
mod fhir;
mod problems;
mod rbac;
mod reminders;
mod shutdown;
mod slots;
mod waitlist;
