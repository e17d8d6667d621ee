//! The health report of `lode status`, built for a bad day. Every question put to a live system
//! (is it there and does it take our credentials, what is the state, what drifted, how are the
//! pipeline and the data) runs on its own thread with a short deadline, so a system that does
//! not answer costs seconds, not the minutes of a client's retry budget, and the report always
//! comes back whole: what answered, what did not and why, the last apply, the lock, the stop
//! marker, and drift for the systems that answer. It opens only `lode.yaml` and the
//! environment file to find the state; broken manifests only cost the drift section.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::session::{OpenSessionError, SessionArgs, StateAccess, load_manifests, open_state};
use crate::engine::plan::{Action, PlanOptions, build_plan, select_addresses};
use crate::manifest::kinds::CheckType;
use crate::manifest::{Address, Check, Kind, Loaded};
use crate::provider::{LiveObject, RefreshRequest};
use crate::redact::Redactor;
use crate::state::backend::LockInfo;
use crate::state::{JournalEntry, State};
use crate::verify::{CheckResult, VerifyContext, VerifyOptions};

/// The journal entries status reads: enough to find the last apply without reading a long
/// history one request at a time.
const JOURNAL_ENTRIES: usize = 50;

/// How long `lode status` waits for one system's answer, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One live system: does it answer, and accept our credentials.
#[derive(Debug, Clone, Serialize)]
pub struct SystemHealth {
    pub system: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// A pipeline as read for the drift section.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineHealth {
    pub address: String,
    pub id: Option<String>,
    pub state: Option<serde_json::Value>,
}

/// A Genie space the manifests declare.
#[derive(Debug, Clone, Serialize)]
pub struct GenieHealth {
    pub address: String,
    pub available: bool,
    pub id: Option<String>,
}

/// The last apply, rollback, restore or destroy.
#[derive(Debug, Clone, Serialize)]
pub struct LastApply {
    pub started: String,
    pub operation: String,
    pub outcome: crate::state::Outcome,
    pub revision: Option<String>,
    pub summary: Option<String>,
}

/// The emergency stop in force.
#[derive(Debug, Clone, Serialize)]
pub struct StopMarker {
    pub since: String,
    pub by: String,
}

/// The whole report. Sections that could not be measured say why in `problems`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub environment: String,
    /// Every system answers, the state reads, the environment is not stopped, and no
    /// pipeline, freshness or latency check of severity `error` fails.
    pub healthy: bool,
    pub connections: Vec<SystemHealth>,
    pub pipelines: Vec<PipelineHealth>,
    pub genie_spaces: Vec<GenieHealth>,
    pub health_checks: serde_json::Value,
    /// Objects changed outside lode, in the systems that answered.
    pub drift: Vec<String>,
    /// Changes a plan would make, in the systems that answered.
    pub pending_changes: usize,
    pub lock: Option<String>,
    pub last_apply: Option<LastApply>,
    pub stopped: Option<StopMarker>,
    pub state_serial: Option<u64>,
    /// What could not be measured, and why.
    pub problems: Vec<String>,
}

/// What the state backend said.
struct StateView {
    state: State,
    lock: Option<LockInfo>,
    journal: Vec<JournalEntry>,
    stopped: Option<JournalEntry>,
}

/// Runs `f` on its own thread and waits at most `timeout` for it. A call that does not come
/// back in time is left to finish (or not) on its own; the report goes on without it.
fn within<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(f());
    });
    receiver.recv_timeout(timeout).ok()
}

/// Builds the report of the environment `args` names, waiting `timeout` for each system.
pub fn status(
    args: &SessionArgs,
    timeout: Duration,
    reporter: &dyn super::Reporter,
) -> Result<StatusReport, OpenSessionError> {
    // An emulator that another command runs is waited for like any system: `timeout` at most.
    let wait = super::connect::EmulatorWait {
        reporter,
        limit: timeout,
    };
    let access = Arc::new(open_state(args, &wait)?);
    let mut problems = Vec::new();
    // Secrets are masked when the manifests load; without them the report still comes.
    let loaded = match load_manifests(args, None) {
        Ok(loaded) => Some(Arc::new(loaded)),
        Err(error) => {
            problems.push(format!(
                "the manifests do not load, so drift is not measured: {error}"
            ));
            None
        }
    };
    let redactor = loaded
        .as_ref()
        .map(|l| Redactor::new(&l.desired.secrets))
        .unwrap_or_else(|| Redactor::new(&[]));
    let seconds = timeout.as_secs_f64();

    // Each system and the state backend, side by side.
    let systems: Vec<&'static str> = access.providers.systems();
    let checks: Vec<_> = systems
        .iter()
        .map(|&system| {
            let access = access.clone();
            let (sender, receiver) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = sender.send(access.providers.check_system(system));
            });
            (system, receiver)
        })
        .collect();
    // One deadline for everything asked side by side: waiting for the state and then for
    // each system must not add up.
    let deadline = std::time::Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(std::time::Instant::now());
    let state_access = access.clone();
    let (state_sender, state_receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let read = (|| -> Result<StateView, String> {
            let backend = &state_access.backend;
            let (state, _) = backend.load().map_err(|e| e.to_string())?;
            Ok(StateView {
                state,
                lock: backend.lock_holder().map_err(|e| e.to_string())?,
                journal: backend
                    .recent_journal(JOURNAL_ENTRIES)
                    .map_err(|e| e.to_string())?
                    .entries,
                stopped: backend.stopped().map_err(|e| e.to_string())?,
            })
        })();
        let _ = state_sender.send(read);
    });
    let mut connections: Vec<SystemHealth> = checks
        .into_iter()
        .map(|(system, receiver)| match receiver.recv_timeout(left()) {
            Ok(Ok(detail)) => SystemHealth {
                system,
                ok: true,
                detail,
            },
            Ok(Err(error)) => SystemHealth {
                system,
                ok: false,
                detail: redactor.text(&error.to_string()),
            },
            Err(_) => SystemHealth {
                system,
                ok: false,
                detail: format!("no answer within {seconds} s"),
            },
        })
        .collect();
    for (system, why) in &access.unreachable {
        connections.push(SystemHealth {
            system,
            ok: false,
            detail: redactor.text(why),
        });
    }
    let state_view = match state_receiver.recv_timeout(left()).ok() {
        Some(Ok(view)) => Some(view),
        Some(Err(error)) => {
            problems.push(redactor.text(&format!("the state could not be read: {error}")));
            None
        }
        None => {
            problems.push(format!(
                "the state ({}) did not answer within {seconds} s",
                access.backend.location()
            ));
            None
        }
    };
    let answering: BTreeSet<&'static str> = connections
        .iter()
        .filter(|c| c.ok)
        .map(|c| c.system)
        .collect();

    // Drift and health, for the systems that answered.
    let mut live = BTreeMap::new();
    let mut drift = Vec::new();
    let mut pending_changes = 0;
    let mut health: Vec<CheckResult> = Vec::new();
    if let (Some(loaded), Some(view)) = (&loaded, &state_view) {
        let selected: BTreeSet<Address> = select_addresses(&loaded.desired, &view.state, &[])
            .into_iter()
            .filter(|a| answering.contains(a.kind.system()))
            .collect();
        let requests = refresh_requests(loaded, &view.state, &selected);
        let reader = access.clone();
        // Reads take longer than a ping: a few deadlines' worth.
        match within(timeout * 4, move || reader.providers.refresh(requests)) {
            Some(Ok(read)) => live = read,
            Some(Err(error)) => problems.push(redactor.text(&format!(
                "reading the live objects failed, so drift is not measured: {error}"
            ))),
            None => problems.push(format!(
                "reading the live objects took longer than {} s, so drift is not measured",
                seconds * 4.0
            )),
        }
        if !live.is_empty() {
            let options = PlanOptions {
                limitations: access.providers.limitations(),
                ..PlanOptions::default()
            };
            let plan = build_plan(
                &loaded.desired,
                &view.state,
                &live,
                &selected,
                &options,
                &access.env_name,
            );
            drift = plan
                .changes
                .iter()
                .filter(|c| c.drift)
                .map(|c| c.address.to_string())
                .collect();
            pending_changes = plan
                .changes
                .iter()
                .filter(|c| c.action != Action::NoOp || c.adopt)
                .count();
        }
        if answering.contains("databricks") {
            health = health_checks(&access, loaded, &live, timeout * 4, &mut problems);
        }
    }
    let pipelines = live
        .iter()
        .filter(|(a, _)| a.kind == Kind::Pipeline)
        .map(|(a, l)| PipelineHealth {
            address: a.to_string(),
            id: l.id.clone(),
            state: l.outputs.get("state").cloned(),
        })
        .collect();
    let genie_spaces = loaded
        .iter()
        .flat_map(|l| l.desired.resources.keys())
        .filter(|a| a.kind == Kind::GenieSpace && answering.contains("databricks"))
        .map(|a| GenieHealth {
            address: a.to_string(),
            available: live.contains_key(a),
            id: live.get(a).and_then(|l| l.id.clone()),
        })
        .collect();
    let last_apply = state_view.as_ref().and_then(|v| {
        v.journal
            .iter()
            .rev()
            .find(|e| {
                matches!(
                    e.operation.as_str(),
                    "apply" | "rollback" | "restore" | "destroy"
                )
            })
            .map(|e| LastApply {
                started: e.started.clone(),
                operation: e.operation.clone(),
                outcome: e.outcome,
                revision: e.revision.clone(),
                summary: e.summary.clone(),
            })
    });
    let stopped = state_view
        .as_ref()
        .and_then(|v| v.stopped.as_ref())
        .map(|s| StopMarker {
            since: s.started.clone(),
            by: s.who.clone(),
        });
    // Healthy means measured and fine: a section that could not be measured is not healthy.
    let healthy = connections.iter().all(|c| c.ok)
        && state_view.is_some()
        && stopped.is_none()
        && problems.is_empty()
        && crate::verify::all_passed(&health);
    Ok(StatusReport {
        environment: access.env_name.clone(),
        healthy,
        connections,
        pipelines,
        genie_spaces,
        health_checks: redactor.value(&serde_json::to_value(&health).expect("results serialise")),
        drift,
        pending_changes,
        lock: state_view
            .as_ref()
            .and_then(|v| v.lock.as_ref())
            .map(LockInfo::describe),
        last_apply,
        stopped,
        state_serial: state_view.as_ref().map(|v| v.state.serial),
        problems,
    })
}

/// What to read for the drift section: each object located by what was last applied to it.
fn refresh_requests(
    loaded: &Loaded,
    state: &State,
    selected: &BTreeSet<Address>,
) -> Vec<RefreshRequest> {
    selected
        .iter()
        .filter_map(|address| {
            let entry = state.resources.get(address);
            let spec = entry.map(|e| e.spec.clone()).or_else(|| {
                loaded
                    .desired
                    .resources
                    .get(address)
                    .map(|r| r.spec.clone())
            })?;
            Some(RefreshRequest {
                address: address.clone(),
                spec,
                id: entry.and_then(|e| e.id.clone()),
                last_read: None,
            })
        })
        .collect()
}

/// The manifests' pipeline, freshness and latency checks (the same measurement `lode verify` makes, so
/// status and verify never disagree), within the deadline.
fn health_checks(
    access: &Arc<StateAccess>,
    loaded: &Arc<Loaded>,
    live: &BTreeMap<Address, LiveObject>,
    timeout: Duration,
    problems: &mut Vec<String>,
) -> Vec<CheckResult> {
    let checks: Vec<Check> = loaded
        .desired
        .checks
        .iter()
        .filter(|c| {
            matches!(
                c.spec.check_type,
                CheckType::PipelineState | CheckType::Freshness | CheckType::Latency
            )
        })
        .cloned()
        .collect();
    if checks.is_empty() {
        return Vec::new();
    }
    let (access, loaded, live) = (access.clone(), loaded.clone(), live.clone());
    let ran = within(timeout, move || {
        let context =
            VerifyContext::new(&loaded.environment, &access.root, &access.providers, live);
        crate::verify::run_checks(&checks, &context, &VerifyOptions::default())
    });
    ran.unwrap_or_else(|| {
        problems.push(format!(
            "the pipeline, freshness and latency checks took longer than {} s",
            timeout.as_secs_f64()
        ));
        Vec::new()
    })
}
