//! The Ignition 8.3 provider. `files` reads and writes a real gateway data directory: projects
//! under `projects/<project>/` (a resource is a folder with `resource.json` and its payload
//! files) and tags under `config/resources/<collection>/ignition/tag-definition|
//! tag-type-definition/<provider>/` (folders with `unary-resource.json`, `tags.json`,
//! `udts.json`). Reading compares meaning, not bytes, so the gateway's churn (re-signed
//! `resource.json`, Gson escapes, reordered keys) never shows as a change.

pub mod api;
pub mod client;
mod discover;
pub mod disk;
pub mod files;
pub mod script;
pub mod zerobus;
