//! Auth's domain: what a user, a credential and a token are, independent of HTTP and SQL.

pub mod client_address;
pub mod credentials;
pub mod lockout;
pub mod opaque_token;
pub mod password_hasher;
pub mod recovery_code;
pub mod service_scopes;
pub mod totp;
pub mod user;
