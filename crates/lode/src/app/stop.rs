//! The emergency stop: stop pipeline updates, disable the gateway's timer scripts and the
//! Zerobus connector, record it in the journal, and mark the environment stopped, so plans say
//! so and applies refuse until `--resume` lifts it.

use super::session::Session;
use crate::provider::ProviderError;
use crate::state::{JournalEntry, Outcome, StateError};

/// One object's stop, reported as it happens, so a person sees what was stopped even when
/// recording the stop fails afterwards.
#[derive(Debug, Clone, Copy)]
pub enum StopEvent<'a> {
    /// What the stop did to an object.
    Stopped(&'a str),
    /// An object that could not be stopped, with why (secrets masked).
    Failed(&'a str),
}

/// What the stop did.
#[derive(Debug, Default)]
pub struct StopOutcome {
    /// What each object's stop did, for people.
    pub stopped: Vec<String>,
    /// Objects that could not be stopped, with why (secrets masked).
    pub failures: Vec<String>,
}

/// Why the stop could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("reading the live environment failed: {0}")]
    Provider(#[from] ProviderError),
}

pub fn stop(
    session: &Session,
    on_object: &dyn Fn(StopEvent<'_>),
) -> Result<StopOutcome, StopError> {
    let _lock = session.backend.lock("lode stop")?;
    let state = session.load_state()?;
    let started = std::time::Instant::now();
    let live = session.refresh(&state, state.resources.keys().cloned())?;
    let mut entry = JournalEntry::begin("stop", "lode stop");
    entry.revision = state.revision.clone();
    let mut outcome = StopOutcome::default();
    for (address, object) in &live {
        match session.providers.stop(address, object) {
            Ok(Some(done)) => {
                on_object(StopEvent::Stopped(&done));
                entry.details.push(done.clone());
                outcome.stopped.push(done);
            }
            Ok(None) => {}
            Err(error) => {
                let message = session.redactor.text(&format!("{address}: {error}"));
                on_object(StopEvent::Failed(&message));
                entry.details.push(format!("failed: {message}"));
                outcome.failures.push(message);
            }
        }
    }
    entry.duration_ms = started.elapsed().as_millis() as u64;
    entry.outcome = if outcome.failures.is_empty() {
        Outcome::Succeeded
    } else {
        Outcome::Failed
    };
    session.backend.set_stopped(Some(&entry))?;
    session.backend.append_journal(&entry)?;
    Ok(outcome)
}
