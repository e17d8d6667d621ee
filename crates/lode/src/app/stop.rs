//! The emergency stop: mark the environment stopped, then stop pipeline updates, disable the
//! gateway's timer scripts and the Zerobus connector, and record it in the journal. Plans say
//! the environment is stopped, applies refuse until `--resume` lifts it, and an apply already
//! running halts before its next step.
//!
//! It is built for a bad day: it works from the state alone (the pipeline ids, script and
//! connector addresses lode last applied), reads only `lode.yaml` and the environment file (a
//! broken manifest elsewhere does not matter), never waits for the apply lock (an apply
//! holding it is what it may have to stop), and stops each system on its own with a deadline,
//! so a system that is down is reported instead of holding up the others.

use std::collections::BTreeMap;
use std::sync::Arc;

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

/// How long the stop waits for one system: long enough for a slow system, short enough that
/// one that is down does not hold up the report (its objects are named as not stopped).
pub const SYSTEM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Stops the environment `access` opened, each system on its own, so one that is down does not
/// keep the others running. `redactor` masks the secrets the manifests name, when they could
/// be read.
pub fn stop(
    access: &Arc<StateAccess>,
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
    let mut by_system: BTreeMap<&'static str, Vec<RefreshRequest>> = BTreeMap::new();
    for (address, recorded) in &state.resources {
        by_system
            .entry(address.kind.system())
            .or_default()
            .push(RefreshRequest {
                address: address.clone(),
                spec: recorded.spec.clone(),
                id: recorded.id.clone(),
                last_read: None,
            });
    }
    let mut outcome = StopOutcome::default();
    let mut report = |outcome: &mut StopOutcome, result: Result<String, String>| match result {
        Ok(done) => {
            on_object(StopEvent::Stopped(&done));
            entry.details.push(done.clone());
            outcome.stopped.push(done);
        }
        Err(failure) => {
            let message = redactor.text(&failure);
            on_object(StopEvent::Failed(&message));
            entry.details.push(format!("failed: {message}"));
            outcome.failures.push(message);
        }
    };
    for (system, why) in &access.unreachable {
        if by_system.remove(system).is_some() {
            report(&mut outcome, Err(format!("{system}: not stopped: {why}")));
        }
    }
    // Each system on its own thread, with a deadline.
    let running: Vec<_> = by_system
        .into_iter()
        .map(|(system, requests)| {
            let access = access.clone();
            let (sender, receiver) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = sender.send(stop_system(&access, requests));
            });
            (system, receiver)
        })
        .collect();
    for (system, receiver) in running {
        match receiver.recv_timeout(SYSTEM_TIMEOUT) {
            Ok(results) => {
                for result in results {
                    report(&mut outcome, result);
                }
            }
            Err(_) => report(
                &mut outcome,
                Err(format!(
                    "{system}: no answer within {} s; its objects were not stopped",
                    SYSTEM_TIMEOUT.as_secs()
                )),
            ),
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

/// Reads one system's objects and stops each: what each stop did, or why it failed.
fn stop_system(access: &StateAccess, requests: Vec<RefreshRequest>) -> Vec<Result<String, String>> {
    let live: BTreeMap<Address, LiveObject> = match access.providers.refresh(requests) {
        Ok(live) => live,
        Err(error) => return vec![Err(format!("reading the live objects failed: {error}"))],
    };
    live.iter()
        .filter_map(
            |(address, object)| match access.providers.stop(address, object) {
                Ok(Some(done)) => Some(Ok(done)),
                Ok(None) => None,
                Err(error) => Some(Err(format!("{address}: {error}"))),
            },
        )
        .collect()
}
