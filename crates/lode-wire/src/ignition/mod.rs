//! Ignition 8.3: the gateway data directory as the gateway itself writes and reads it.

pub mod data_dir;
pub mod tag_files;
