//! `[gateway]`: where the gateway listens, the services behind it, and the portal it serves.
//! `episante up` fills the upstreams itself; the `episante-gateway` binary (compose's `portal`
//! service, port 3000) reads them from here (`EPISANTE_GATEWAY__UPSTREAMS__AUTH=http://auth:8081`…).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Upstreams;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    pub bind: String,
    /// The web portal's built files (`web/dist`); unset: API only (`episante up` looks for
    /// `web/dist` from its working directory up).
    pub portal_dir: Option<PathBuf>,
    /// The gateway is reached through TLS (a proxy in front): session cookies are `Secure`.
    pub behind_tls: bool,
    pub upstreams: Upstreams,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            bind: "0.0.0.0:80".into(),
            portal_dir: None,
            behind_tls: false,
            upstreams: Upstreams::default(),
        }
    }
}
