//! Auth service API tests: a real service on port 0, a real PostgreSQL database per test,
//! a real OpenBao where Vault is involved.

mod helpers;

mod admin;
mod keys;
mod problems;
mod session;
mod tokens;
