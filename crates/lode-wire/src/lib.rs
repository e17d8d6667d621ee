//! The wire facts that a client and its fake must agree on, and that belong to neither: how an
//! Ignition 8.3 gateway lays out and writes its data directory ([`ignition::data_dir`]), how it
//! stores tags and UDT definitions there ([`ignition::tag_files`]), and which values the
//! Databricks APIs accept for enumerated fields ([`databricks_values`]). lode's providers and
//! its emulators both depend on this crate and on nothing of each other, so an emulator cannot
//! silently agree with a client's bug: the facts here are checked against files a real 8.3
//! gateway wrote (`tests/fixtures.rs`, reading `../shared/fixtures/`).

pub mod databricks_values;
pub mod ignition;
