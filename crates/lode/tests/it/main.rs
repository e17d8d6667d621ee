//! Integration tests: one binary, a module per area. They drive the real `lode` binary against
//! temporary git repositories holding copies of the demo manifests and a local gateway folder.

mod chat_page;
mod cli_misc;
mod cli_output;
mod core_flow;
mod crash;
mod damaged_state;
mod databricks;
mod emulator_databricks;
mod emulator_validation;
mod fixtures;
mod guards;
mod ignition_api;
mod ignition_files;
mod import;
mod interrupt;
mod invalid_manifests;
mod live_stack;
mod plan_formats;
mod pull;
mod reliability;
mod renames;
mod runbook;
mod scale;
mod support;
mod verify;
