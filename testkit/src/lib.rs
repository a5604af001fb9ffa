//! Real servers for integration tests, never mocks.
//!
//! Each helper starts (or carves out) a private instance and cleans it up on drop, so tests can run
//! in parallel and leave nothing behind:
//! - [`TestDb`]: a randomly named PostgreSQL database and role on the machine's server
//!   (`EPISANTE_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`);
//! - [`TestVault`]: an OpenBao dev server on a free port;
//! - `TestKafka` (feature `kafka`): a tansu broker on a free port with sqlite storage.
//!
//! The binaries are installed by `infra/dev/install-tools.sh`; [`tools`] finds them.

pub mod auth_client;
pub mod fhir;
pub mod fuzz;
pub mod http;
pub mod net;
pub mod openapi;
pub mod postgres;
pub mod process;
pub mod smtp;
pub mod tools;
pub mod vault;

#[cfg(feature = "kafka")]
pub mod kafka;

#[cfg(feature = "kafka")]
pub use kafka::TestKafka;
pub use postgres::TestDb;
pub use smtp::TestSmtp;
pub use vault::TestVault;
