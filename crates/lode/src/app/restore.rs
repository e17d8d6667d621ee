//! Snapshots as workflows: take one on demand, and put the environment back to one. A restore
//! puts table data back first (`RESTORE TABLE ... VERSION AS OF`, unless `no_data`), then the
//! configuration through an ordinary plan and apply whose desired state is the snapshot's
//! specs (secrets from the manifests), recorded as `restore`.

use std::collections::{BTreeMap, BTreeSet};

use super::apply::{
    ApplyError, ApplyOutcome, ApplySettings, ApplyView, PlanRole, Planned, execute, snapshot_before,
};
use super::session::Session;
use crate::engine::plan::{PlanOptions, build_plan};
use crate::manifest::{Desired, DesiredResource, Origin};
use crate::snapshot::{SnapshotIndex, Snapshots};
use crate::state::{JournalEntry, LockGuard, Outcome};

/// Captures the live state of every managed resource (specs, payloads, table versions), and
/// journals it; returns the snapshot's index.
pub fn take_snapshot(session: &Session) -> Result<SnapshotIndex, ApplyError> {
    let state = session.load_state()?;
    let addresses: BTreeSet<_> = session
        .loaded
        .desired
        .resources
        .keys()
        .chain(state.resources.keys())
        .cloned()
        .collect();
    let live = session.refresh(&state, addresses)?;
    let mut objects = BTreeMap::new();
    for (address, object) in live {
        let data = session.providers.capture_data(&address, &object)?;
        objects.insert(address, (object, data));
    }
    let snapshots = Snapshots::new(&session.root, &session.env_name);
    let index = snapshots.capture(
        "on demand",
        state.revision.clone(),
        &objects,
        &session.loaded.desired.secrets,
        &session.secret_places(&state),
    )?;
    let mut entry = JournalEntry::begin("snapshot", "lode snapshot");
    entry.snapshot = Some(index.id.clone());
    entry.revision = state.revision;
    session.backend.append_journal(&entry)?;
    Ok(index)
}

/// `lode restore ID`: takes the lock, honours the emergency stop, and restores.
pub fn restore(
    session: &Session,
    id: &str,
    no_data: bool,
    settings: &ApplySettings,
    view: &dyn ApplyView,
    command: &str,
) -> Result<ApplyOutcome, ApplyError> {
    let lock = session.backend.lock(command)?;
    super::apply::lift_stop(session, settings.resume, command)?;
    restore_snapshot(session, &lock, id, no_data, settings, view, command)
}

/// Puts the environment back to snapshot `id`: table data first (unless `no_data`), then
/// configuration through a plan and apply recorded as `restore`. The caller holds the lock.
pub fn restore_snapshot(
    session: &Session,
    lock: &LockGuard,
    id: &str,
    no_data: bool,
    settings: &ApplySettings,
    view: &dyn ApplyView,
    command: &str,
) -> Result<ApplyOutcome, ApplyError> {
    let state = session.load_state_for_change(lock)?;
    let (index, resources) = Snapshots::new(&session.root, &session.env_name).load(id)?;
    let selected: BTreeSet<_> = index.resources.iter().cloned().collect();
    let started = std::time::Instant::now();
    let mut entry = JournalEntry::begin("restore", command);

    // What is live now is snapshotted before anything changes, table versions included, so a
    // restore can itself be undone with `lode restore`.
    let mut live = session.refresh(&state, selected.iter().cloned())?;
    let before = snapshot_before(session, &state, selected.iter().cloned(), &live)?;

    // Data first: a table restored to its version brings its schema back too.
    let mut restored_data = Vec::new();
    if !no_data {
        for resource in resources.iter().filter(|r| r.data.is_some()) {
            let Some(object) = live.get(&resource.address) else {
                continue;
            };
            if let Some(done) = session.providers.restore_data(
                &resource.address,
                object,
                resource.data.as_ref().expect("filtered"),
            )? {
                view.data_restored(&done);
                restored_data.push(done);
            }
        }
    }
    // Then configuration: the snapshot's specs are what is wanted, secrets from the manifests.
    let current = &session.loaded.desired;
    let mut wanted = BTreeMap::new();
    for resource in &resources {
        let mut spec = resource.spec.clone();
        for pointer in &resource.sensitive {
            let value = current
                .resources
                .get(&resource.address)
                .and_then(|r| r.spec.pointer(pointer))
                .cloned()
                .ok_or_else(|| ApplyError::SecretWithoutValue {
                    address: resource.address.clone(),
                    pointer: pointer.clone(),
                })?;
            if let Some(slot) = spec.pointer_mut(pointer) {
                *slot = value;
            }
        }
        let prior = state.resources.get(&resource.address);
        let depends_on = prior
            .map(|e| e.depends_on.clone())
            .or_else(|| {
                current
                    .resources
                    .get(&resource.address)
                    .map(|r| r.depends_on.clone())
            })
            .unwrap_or_default();
        let lifecycle = prior.map(|e| e.lifecycle).unwrap_or_default();
        wanted.insert(
            resource.address.clone(),
            DesiredResource {
                address: resource.address.clone(),
                spec,
                depends_on: depends_on
                    .into_iter()
                    .filter(|d| selected.contains(d))
                    .collect(),
                lifecycle,
                origin: Origin {
                    file: format!("snapshots/{}/{}", session.env_name, index.id),
                    line: 0,
                },
            },
        );
    }
    let desired = Desired {
        resources: wanted,
        ..current.clone()
    };
    if !restored_data.is_empty() {
        // RESTORE TABLE moved the tables: plan against them as they are now.
        live = session.refresh(&state, selected.iter().cloned())?;
    }
    let options = PlanOptions {
        limitations: session.providers.limitations(),
        ..PlanOptions::default()
    };
    let plan = build_plan(
        &desired,
        &state,
        &live,
        &selected,
        &options,
        &session.env_name,
    );
    view.show_plan(&plan, &session.redactor, PlanRole::Requested);
    if !plan.has_changes() {
        entry.revision = state.revision.clone();
        entry.snapshot = before;
        entry.duration_ms = started.elapsed().as_millis() as u64;
        entry.outcome = Outcome::Succeeded;
        entry.details = restored_data;
        entry
            .details
            .insert(0, format!("restored snapshot {}", index.id));
        session.backend.append_journal(&entry)?;
        return Ok(ApplyOutcome {
            operation: "restore".to_string(),
            executed: None,
            commit_error: None,
            after: super::apply::AfterApply::Done,
        });
    }
    let mut planned = Planned::new(&desired, plan, live, state);
    planned.snapshot = before;
    planned.notes = restored_data;
    planned
        .notes
        .insert(0, format!("restored snapshot {}", index.id));
    execute(session, planned, settings, view, lock, "restore", command)
}
