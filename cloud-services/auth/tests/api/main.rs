//! Auth service API tests: a real service on port 0, a real PostgreSQL database per test,
//! a real OpenBao where Vault is involved.

mod helpers;

mod admin;
mod contact;
mod keys;
mod lockout;
mod mfa;
mod password;
mod problems;
mod registration;
mod revocation;
mod security_notices;
mod service_scopes;
mod session;
mod tokens;
