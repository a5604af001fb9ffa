//! Plumbing shared by every EpiSante cloud service.
//!
//! Each service owns its domain, its HTTP routes and its database; everything that is *not* domain
//! logic lives here once, so that all services behave the same at their edges: same config layering,
//! same JSON logs, same problem bodies, same `/health`, `/ready`, `/metrics` and `/openapi.json`,
//! same token checks. A fix here is a fix everywhere.

pub mod audit;
pub mod authz;
pub mod config;
pub mod db;
pub mod domain_error;
#[cfg(feature = "events")]
pub mod events;
pub mod fhir;
pub mod language;
pub mod metrics;
pub mod openapi;
pub mod paging;
pub mod private_file;
pub mod problem;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod server;
#[cfg(feature = "events")]
pub mod service;
pub mod service_token;
pub mod text_column;
pub mod unstorable;

pub use episante_runtime::{service_args, shutdown, telemetry};
pub mod vault;

pub use authz::{AuthUser, Claims, Role, TokenVerifier};
pub use config::{ConfigSource, DatabaseConfig, TokenConfig, VaultConfig};
pub use domain_error::{Invalid, Refused};
pub use language::Language;
pub use metrics::Metrics;
pub use problem::{ApiError, ApiResult, Problem};
pub use scope::Scope;
pub use secret::Secret;
pub use shutdown::Shutdown;
