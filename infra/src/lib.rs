//! Helpers for the deployment files under `infra/`: rendering the nginx templates (the tests do it
//! exactly as the nginx image's envsubst step does in docker-compose) and the container health
//! probe behind `episante-probe`.

pub mod probe;
pub mod template;

use std::path::PathBuf;

/// `infra/` in the source tree.
pub fn infra_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
