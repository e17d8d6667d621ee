//! `lode`: a declarative, GitOps-style desired-state reconciler for Databricks and an Ignition 8.3
//! gateway. Manifests (plain data, loaded by [`manifest`]) become a `Desired` set; providers read
//! the `Live` set; the [`engine`] diffs them into a `Plan` value and executes it against the
//! providers while [`state`] records what was applied. The [`app`] layer runs the workflows
//! (and, through [`app::connect`], starts the emulators a local environment runs on; only
//! `lode emulator serve` starts them otherwise); the [`cli`] parses arguments, calls it, and is
//! the only layer that prints.

pub mod app;
pub mod cli;
pub mod engine;
pub mod manifest;
pub mod provider;
pub mod redact;
pub mod render;
pub mod snapshot;
pub mod state;
pub mod verify;
