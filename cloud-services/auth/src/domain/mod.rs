//! Auth's domain: what a user, a credential and a token are, independent of HTTP and SQL.

pub mod credentials;
pub mod opaque_token;
pub mod password_hasher;
pub mod user;
