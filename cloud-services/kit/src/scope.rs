//! What a service client may do: the scopes of client-credentials tokens.
//!
//! A `service` token used to be accepted by every endpoint open to services, so one leaked client
//! secret could read any patient's vitals, list every appointment and take over any device. Now
//! an admin grants each service client a set of scopes when registering it (auth validates them
//! against this list), auth puts them in the token's `scope` claim (space-separated, RFC 8693),
//! and each endpoint open to the `service` role names the one scope it needs
//! (`AuthUser::require_service_scope`). The list is defined once, here, so auth cannot grant a
//! scope that no endpoint knows and an endpoint cannot ask for one that auth cannot grant.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One permission of a service client. Only what endpoints need: there is no scope for records'
/// patient data, which no service may read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Scope {
    /// `GET /v1/devices`, `GET /v1/devices/{id}` (registry, no secrets).
    #[serde(rename = "devices:read")]
    DevicesRead,
    /// `POST /v1/devices` (services get the certificate, never the private key).
    #[serde(rename = "devices:register")]
    DevicesRegister,
    /// `POST /v1/devices/{id}/rotate`, `…/revoke`.
    #[serde(rename = "devices:manage")]
    DevicesManage,
    /// `GET /v1/patients/{id}/vitals` (alerts).
    #[serde(rename = "vitals:read")]
    VitalsRead,
    /// `GET /v1/appointments`, `GET /v1/appointments/{id}` (bookings).
    #[serde(rename = "appointments:read")]
    AppointmentsRead,
    /// Practitioners, appointment types, availability and free slots (bookings; no PHI).
    #[serde(rename = "schedule:read")]
    ScheduleRead,
    /// `GET /v1/auth/users/{id}/contact`: a user's email, name and language, to write to them
    /// (notify). No role, no security settings.
    #[serde(rename = "contacts:read")]
    ContactsRead,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::DevicesRead,
        Scope::DevicesRegister,
        Scope::DevicesManage,
        Scope::VitalsRead,
        Scope::AppointmentsRead,
        Scope::ScheduleRead,
        Scope::ContactsRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DevicesRead => "devices:read",
            Scope::DevicesRegister => "devices:register",
            Scope::DevicesManage => "devices:manage",
            Scope::VitalsRead => "vitals:read",
            Scope::AppointmentsRead => "appointments:read",
            Scope::ScheduleRead => "schedule:read",
            Scope::ContactsRead => "contacts:read",
        }
    }

    /// Whether the space-separated `claim` (a token's `scope`) contains `self`. Exact matches only:
    /// no wildcards, no prefixes.
    pub fn granted_by(self, claim: Option<&str>) -> bool {
        claim.is_some_and(|c| c.split(' ').any(|s| s == self.as_str()))
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown scope {s:?} (known: {})", known.join(", "))
            })
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_print_and_serialise_alike() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), scope);
            assert_eq!(
                serde_json::to_value(scope).unwrap(),
                serde_json::json!(scope.as_str())
            );
        }
        assert!("devices:*".parse::<Scope>().is_err());
        assert!("DEVICES:READ".parse::<Scope>().is_err());
    }

    #[test]
    fn a_claim_grants_only_exact_scopes() {
        let claim = Some("devices:read vitals:read");
        assert!(Scope::DevicesRead.granted_by(claim));
        assert!(Scope::VitalsRead.granted_by(claim));
        assert!(!Scope::DevicesManage.granted_by(claim));
        assert!(!Scope::DevicesRead.granted_by(Some("devices:read:extra devices")));
        assert!(!Scope::DevicesRead.granted_by(Some("")));
        assert!(!Scope::DevicesRead.granted_by(None));
    }
}
