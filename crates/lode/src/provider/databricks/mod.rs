//! The Databricks provider. `auth` finds the workspace and credentials (unified-auth
//! precedence), `client` is the blocking REST client every call goes through (retries, rate
//! limit, OAuth tokens, SQL statements), and `crate::provider::retry` holds its pacing rules.

pub mod auth;
pub mod client;
mod create_once;
pub(crate) mod discover;
mod files;
mod genie;
mod monitors;
mod pipelines;
pub mod provider;
mod tables;
#[cfg(test)]
pub(crate) mod test_server;
