//! `lode stop`: the emergency stop. Stops pipeline updates, disables the gateway's timer scripts
//! and the Zerobus connector, records it in the journal, and marks the environment stopped: plans
//! say so, and `lode apply` refuses until `--resume`, which lifts the stop and re-applies.

use std::process::ExitCode;

use super::printer;
use super::{CommandError, GlobalArgs};
use crate::state::JournalEntry;
use crate::state::Outcome;

/// Emergency stop: stop pipeline updates, disable gateway timer scripts and the Zerobus
/// connector. `lode apply --resume` undoes it.
#[derive(Debug, clap::Args)]
pub struct StopArgs {}

pub fn run(global: &GlobalArgs, _: &StopArgs) -> Result<ExitCode, CommandError> {
    let session = super::open_session(global, None)?;
    let _lock = session.backend.lock("lode stop")?;
    let state = session.load_state()?;
    let started = std::time::Instant::now();
    let live = session.refresh(&state, state.resources.keys().cloned())?;
    let mut entry = JournalEntry::begin("stop", "lode stop");
    entry.revision = state.revision.clone();
    let mut failures = 0;
    for (address, object) in &live {
        match session.providers.stop(address, object) {
            Ok(Some(done)) => {
                printer().data(&format!("{done}\n"));
                entry.details.push(done);
            }
            Ok(None) => {}
            Err(error) => {
                failures += 1;
                let message = session.redactor.text(&format!("{address}: {error}"));
                printer().error_line(&format!("error: {message}"));
                entry.details.push(format!("failed: {message}"));
            }
        }
    }
    entry.duration_ms = started.elapsed().as_millis() as u64;
    entry.outcome = if failures == 0 {
        Outcome::Succeeded
    } else {
        Outcome::Failed
    };
    session.backend.set_stopped(Some(&entry))?;
    session.backend.append_journal(&entry)?;
    printer().data(&format!(
        "Environment `{}` is stopped. `lode apply --resume` lifts the stop.\n",
        session.env_name
    ));
    if failures > 0 {
        return Err(CommandError::user(format!(
            "{failures} object(s) could not be stopped; the rest are"
        ))
        .with_class(super::ErrorClass::Remote));
    }
    Ok(ExitCode::SUCCESS)
}
