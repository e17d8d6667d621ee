//! `lode stop`: the emergency stop. Stops pipeline updates, disables the gateway's timer scripts
//! and the Zerobus connector, records it in the journal, and marks the environment stopped: plans
//! say so, and `lode apply` refuses until `--resume`, which lifts the stop and re-applies.

use std::process::ExitCode;

use super::workspace::Workspace;
use super::{CommandError, GlobalArgs};
use crate::state::JournalEntry;

/// Emergency stop: stop pipeline updates, disable gateway timer scripts and the Zerobus
/// connector. `lode apply --resume` undoes it.
#[derive(Debug, clap::Args)]
pub struct StopArgs {}

pub fn run(global: &GlobalArgs, _: &StopArgs) -> Result<ExitCode, CommandError> {
    let workspace = Workspace::open(global, None)?;
    let _lock = workspace.backend.lock("lode stop")?;
    let state = workspace.load_state()?;
    let started = std::time::Instant::now();
    let live = workspace.refresh(&state, state.resources.keys().cloned())?;
    let mut entry = JournalEntry::begin("stop", "lode stop");
    entry.revision = state.revision.clone();
    let mut failures = 0;
    for (address, object) in &live {
        match workspace.providers.stop(address, object) {
            Ok(Some(done)) => {
                println!("{done}");
                entry.details.push(done);
            }
            Ok(None) => {}
            Err(error) => {
                failures += 1;
                let message = workspace.redactor.text(&format!("{address}: {error}"));
                eprintln!("error: {message}");
                entry.details.push(format!("failed: {message}"));
            }
        }
    }
    entry.duration_ms = started.elapsed().as_millis() as u64;
    entry.outcome = if failures == 0 {
        "succeeded".into()
    } else {
        "failed".into()
    };
    workspace.backend.set_stopped(Some(&entry))?;
    workspace.backend.append_journal(&entry)?;
    println!(
        "Environment `{}` is stopped. `lode apply --resume` lifts the stop.",
        workspace.env_name
    );
    if failures > 0 {
        return Err(CommandError::user(format!(
            "{failures} object(s) could not be stopped; the rest are"
        ))
        .with_class(super::ErrorClass::Remote));
    }
    Ok(ExitCode::SUCCESS)
}
