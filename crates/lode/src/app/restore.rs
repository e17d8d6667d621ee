//! Snapshots as workflows: take one on demand, and put the environment back to one. A restore
//! plans everything first and shows it: the table data it puts back (`RESTORE TABLE ...
//! VERSION AS OF`, for tables whose rows lode writes, or that are named) and the configuration,
//! whose desired state is the snapshot's specs (secrets from the manifests). One confirmation
//! covers both, and nothing is written before it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::apply::{
    ApplyError, ApplyOutcome, ApplySettings, ApplyView, PlanRole, Planned, execute, snapshot_before,
};
use super::session::Session;
use crate::engine::plan::{Action, PlanOptions, build_plan};
use crate::manifest::{Address, DataLifecycle, Desired, DesiredResource, Origin};
use crate::provider::DataRestore;
use crate::snapshot::SnapshotIndex;
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
    let snapshots = session.snapshots();
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

/// Which tables' data a restore puts back.
#[derive(Debug, Clone, Default)]
pub struct DataChoice {
    /// Configuration only: no table's data is touched.
    pub no_data: bool,
    /// Tables whose data is restored even though it comes from outside lode.
    pub named: Vec<Address>,
}

/// `lode restore ID`: takes the lock, honours the emergency stop, and restores.
pub fn restore(
    session: &Session,
    id: &str,
    data: &DataChoice,
    settings: &ApplySettings,
    view: &dyn ApplyView,
    command: &str,
) -> Result<ApplyOutcome, ApplyError> {
    let lock = session.backend.lock(command)?;
    super::apply::lift_stop(session, settings.resume, command)?;
    restore_snapshot(session, &lock, id, data, settings, view, command)
}

/// Whether a restore puts the data of `address` back by default: a table whose rows lode
/// writes (`lifecycle.data: seeded`, the default for a table with seed rows). A streaming
/// target, a pipeline output or any table without seed rows receives data from outside lode,
/// and restoring it would discard that data.
fn restores_by_default(session: &Session, address: &Address, snapshot_spec: &Value) -> bool {
    let declared = session
        .loaded
        .desired
        .resources
        .get(address)
        .and_then(|r| r.lifecycle.data);
    match declared {
        Some(data) => data == DataLifecycle::Seeded,
        None => snapshot_spec.get("rows").is_some(),
    }
}

/// Puts the environment back to snapshot `id`. Everything it will do is planned and shown
/// first, table data included (table, versions, commits and rows undone), and confirmed once;
/// nothing is written before that. Then: a snapshot of what is live (so the restore can be
/// undone), the table data, and the configuration through a plan and apply recorded as
/// `restore`, which also records the restored tables in state. The caller holds the lock.
pub fn restore_snapshot(
    session: &Session,
    lock: &LockGuard,
    id: &str,
    data: &DataChoice,
    settings: &ApplySettings,
    view: &dyn ApplyView,
    command: &str,
) -> Result<ApplyOutcome, ApplyError> {
    let state = session.load_state_for_change(lock)?;
    let (index, resources) = session.snapshots().load(id)?;
    let selected: BTreeSet<_> = index.resources.iter().cloned().collect();
    let started = std::time::Instant::now();
    let mut entry = JournalEntry::begin("restore", command);
    let live = session.refresh(&state, selected.iter().cloned())?;

    // The data restores, previewed: what each would undo. Nothing is written yet.
    let mut data_restores: Vec<(DataRestore, Value)> = Vec::new();
    let mut left_alone: Vec<(Address, String)> = Vec::new();
    for resource in resources.iter().filter(|r| r.data.is_some()) {
        let Some(object) = live.get(&resource.address) else {
            continue;
        };
        let marker = resource.data.as_ref().expect("filtered");
        let Some(preview) =
            session
                .providers
                .preview_data_restore(&resource.address, object, marker)?
        else {
            continue;
        };
        let named = data.named.contains(&resource.address);
        if data.no_data {
            left_alone.push((resource.address.clone(), "--no-data".to_string()));
        } else if named || restores_by_default(session, &resource.address, &resource.spec) {
            data_restores.push((preview, marker.clone()));
        } else {
            left_alone.push((
                resource.address.clone(),
                "its data comes from outside lode (`lifecycle.data: external`); name it with --data to restore it".to_string(),
            ));
        }
    }

    // The configuration: the snapshot's specs are what is wanted, secrets from the manifests.
    let desired = snapshot_desired(session, &state, &index, &resources, &selected)?;
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
    let previews: Vec<DataRestore> = data_restores.iter().map(|(p, _)| p.clone()).collect();
    view.show_data_restores(&previews, &left_alone);
    view.show_plan(&plan, &session.redactor, PlanRole::Requested);
    if !plan.has_changes() && data_restores.is_empty() {
        entry.revision = state.revision.clone();
        entry.duration_ms = started.elapsed().as_millis() as u64;
        entry.outcome = Outcome::Succeeded;
        entry.details = vec![format!("restored snapshot {}: nothing to change", index.id)];
        session.backend.append_journal(&entry)?;
        return Ok(ApplyOutcome {
            operation: "restore".to_string(),
            executed: None,
            commit_error: None,
            after: super::apply::AfterApply::Done,
        });
    }
    // One confirmation covers the data and the configuration.
    if !settings.auto_approve {
        view.confirm()?;
    }
    let settings = ApplySettings {
        auto_approve: true,
        ..*settings
    };

    // Now, and only now, writes: what is live is snapshotted first (table versions included),
    // so the restore itself can be undone with `lode restore`.
    let before = snapshot_before(session, &state, selected.iter().cloned(), &live)?;
    let mut notes = vec![format!("restored snapshot {}", index.id)];
    for (preview, marker) in &data_restores {
        match restore_table(session, &live[&preview.address], preview, marker) {
            Ok(Some(done)) => {
                view.data_restored(&done);
                notes.push(format!(
                    "{done} ({} commit(s) undone)",
                    preview.commits_undone
                ));
            }
            Ok(None) => {}
            Err(error) => {
                // What was already put back is on record before the error is returned.
                entry.revision = state.revision.clone();
                entry.snapshot = before;
                entry.duration_ms = started.elapsed().as_millis() as u64;
                entry.outcome = Outcome::Failed;
                notes.push(session.redactor.text(&format!(
                    "failed: restoring the data of {}: {error}",
                    preview.address
                )));
                entry.details = notes;
                if let Err(journal) = session.backend.append_journal(&entry) {
                    session.reporter.warn(&format!(
                        "the journal could not record this restore: {journal}"
                    ));
                }
                return Err(error);
            }
        }
    }
    let (plan, live) = if data_restores.is_empty() {
        (plan, live)
    } else {
        // RESTORE TABLE moved the tables: plan against them as they are now, and record the
        // restored ones in state, so the next plan does not report lode's own restore as a
        // change made outside lode.
        let live = session.refresh(&state, selected.iter().cloned())?;
        let mut plan = build_plan(
            &desired,
            &state,
            &live,
            &selected,
            &options,
            &session.env_name,
        );
        let restored: BTreeSet<&Address> = data_restores.iter().map(|(p, _)| &p.address).collect();
        for change in plan.changes.iter_mut() {
            if restored.contains(&change.address)
                && change.action == Action::NoOp
                && change.blocked.is_none()
            {
                change.adopt = true;
                change.reason = Some("its data was restored: recorded in state".to_string());
            }
        }
        (plan, live)
    };
    let mut planned = Planned::new(&desired, plan, live, state);
    planned.snapshot = before;
    planned.notes = notes;
    execute(session, planned, &settings, view, lock, "restore", command)
}

/// Puts one table's data back, if it is still where the shown plan said: commits that arrived
/// while the plan waited for its answer were not shown, so they are not discarded silently.
fn restore_table(
    session: &Session,
    object: &crate::provider::LiveObject,
    preview: &DataRestore,
    marker: &Value,
) -> Result<Option<String>, ApplyError> {
    let now = session
        .providers
        .preview_data_restore(&preview.address, object, marker)?;
    if now.as_ref().map(|n| n.from_version) != Some(preview.from_version) {
        return Err(ApplyError::ChangedSincePlan {
            address: preview.address.clone(),
            shown: preview.from_version,
        });
    }
    Ok(session
        .providers
        .restore_data(&preview.address, object, marker)?)
}

/// The desired state a restore moves to: the snapshot's specs, with the secrets they held
/// taken from the manifests (snapshots never store a secret).
fn snapshot_desired(
    session: &Session,
    state: &crate::state::State,
    index: &crate::snapshot::SnapshotIndex,
    resources: &[crate::snapshot::SnapshotResource],
    selected: &BTreeSet<Address>,
) -> Result<Desired, ApplyError> {
    let current = &session.loaded.desired;
    let mut wanted = BTreeMap::new();
    for resource in resources {
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
                moved_from: None,
                origin: Origin {
                    file: format!("snapshots/{}/{}", session.env_name, index.id),
                    line: 0,
                },
            },
        );
    }
    Ok(Desired {
        resources: wanted,
        ..current.clone()
    })
}
