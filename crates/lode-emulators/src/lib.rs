//! Emulators of the live systems: a Databricks workspace (`databricks/`) that keeps its tables
//! as real Delta tables, and an Ignition 8.3 gateway (`ignition/`) backed by a gateway data
//! directory. They are part of the product: the
//! `local` environment runs them in-process on loopback ports, `lode emulator serve` runs them
//! standalone, and tests rely on them behaving like the real APIs, awkward parts included.

pub mod data_folder;
pub mod databricks;
pub mod faults;
pub mod ignition;
pub mod server;
