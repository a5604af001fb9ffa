//! Records API tests against real servers: PostgreSQL, OpenBao (transit + KV), the auth service
//! and the broker's device registry, all started per test.

mod access;
mod audit;
mod audit_access;
mod audit_attacks;
mod devices;
mod encryption;
mod fhir;
mod helpers;
mod patients;
