//! The emergency stop: mark the environment stopped, then stop pipeline updates, disable the
//! gateway's timer scripts and the Zerobus connector, and record it in the journal. Plans say
//! the environment is stopped, applies refuse until `--resume` lifts it, and an apply already
//! running halts before its next step.
//!
//! It is built for a bad day: it works from the state alone (the pipeline ids, script and
//! connector addresses lode last applied), reads only `lode.yaml` and the environment file (a
//! broken manifest elsewhere does not matter), and never waits for the apply lock (an apply
//! holding it is what it may have to stop).

use super::session::StateAccess;
use crate::manifest::Address;
use crate::provider::{LiveObject, ProviderError, RefreshRequest};
use crate::redact::Redactor;
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

/// Stops the environment `access` opened. `redactor` masks the secrets the manifests name,
/// when they could be read.
pub fn stop(
    access: &StateAccess,
    redactor: &Redactor,
    on_object: &dyn Fn(StopEvent<'_>),
) -> Result<StopOutcome, StopError> {
    let started = std::time::Instant::now();
    let (state, _) = access.backend.load()?;
    let mut entry = JournalEntry::begin("stop", "lode stop");
    entry.revision = state.revision.clone();
    // The marker first: an apply running now halts before its next step, whatever happens to
    // the rest of the stop.
    access.backend.set_stopped(Some(&entry))?;
    // Every object is located by what was last applied to it, as state recorded it.
    let requests: Vec<RefreshRequest> = state
        .resources
        .iter()
        .map(|(address, recorded)| RefreshRequest {
            address: address.clone(),
            spec: recorded.spec.clone(),
            id: recorded.id.clone(),
            last_read: None,
        })
        .collect();
    let live: std::collections::BTreeMap<Address, LiveObject> =
        access.providers.refresh(requests)?;
    let mut outcome = StopOutcome::default();
    for (address, object) in &live {
        match access.providers.stop(address, object) {
            Ok(Some(done)) => {
                on_object(StopEvent::Stopped(&done));
                entry.details.push(done.clone());
                outcome.stopped.push(done);
            }
            Ok(None) => {}
            Err(error) => {
                let message = redactor.text(&format!("{address}: {error}"));
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
    access.backend.set_stopped(Some(&entry))?;
    access.backend.append_journal(&entry)?;
    Ok(outcome)
}
