//! `lode snapshot`, `lode snapshots` and `lode restore ID`: take a full snapshot on demand, list
//! them, and put the environment back to one — configuration (including changes made outside
//! git) through a normal plan and apply, and table data through `RESTORE TABLE ... VERSION AS OF`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use super::apply::{ApplyOptions, Planned, execute};
use super::plan::print_plan;
use super::printer;
use super::{CommandError, ErrorClass, GlobalArgs};
use crate::app::session::Session;
use crate::engine::plan::{PlanOptions, build_plan};
use crate::manifest::{Desired, DesiredResource, Origin};
use crate::snapshot::{SnapshotError, Snapshots};
use crate::state::JournalEntry;
use crate::state::Outcome;

/// Capture the live state of every managed resource (specs, payloads, table versions) into
/// `snapshots/<env>/<id>/`; secrets are never written.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {}

/// List the environment's snapshots, oldest first.
#[derive(Debug, clap::Args)]
pub struct SnapshotsArgs {
    /// text (default) or json (an array of {id, created, revision, resources}).
    #[arg(long, value_enum, default_value = "text")]
    pub format: super::TextOrJson,
}

/// Put the environment back to snapshot ID: shows the plan first; restores table data with
/// `RESTORE TABLE ... VERSION AS OF` unless `--no-data`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The snapshot id (`lode snapshots` lists them).
    pub id: String,
    /// Restore configuration only; leave every table's data as it is.
    #[arg(long)]
    pub no_data: bool,
    #[command(flatten)]
    pub apply: ApplyOptions,
}

impl From<SnapshotError> for CommandError {
    fn from(error: SnapshotError) -> CommandError {
        let hint = matches!(error, SnapshotError::NotFound { .. })
            .then_some("`lode snapshots` lists the snapshots of this environment");
        let mut command = CommandError::user(error.to_string()).with_class(ErrorClass::Config);
        if let Some(hint) = hint {
            command = command.hint(hint);
        }
        command
    }
}

pub fn snapshot(global: &GlobalArgs, _: &SnapshotArgs) -> Result<ExitCode, CommandError> {
    let session = super::open_session(global, None)?;
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
    printer().data(&format!("{}\n", index.id));
    printer().status(&format!(
        "Saved snapshot {} of {} objects.",
        index.id,
        index.resources.len()
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn list(global: &GlobalArgs, args: &SnapshotsArgs) -> Result<ExitCode, CommandError> {
    let root = crate::app::session::find_root(global.dir.as_deref())?;
    let all = Snapshots::new(&root, &global.env).list()?;
    if args.format == super::TextOrJson::Json {
        printer().json(&serde_json::to_value(&all).expect("snapshot indexes serialise"));
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        printer().data(&format!(
            "No snapshots of environment `{}` yet.\n",
            global.env
        ));
    }
    for index in all {
        let revision = index
            .revision
            .as_deref()
            .map(|r| &r[..r.len().min(12)])
            .unwrap_or("-");
        printer().data(&format!(
            "{}  {}  rev {revision}  {} objects  ({})\n",
            index.id,
            index.created,
            index.resources.len(),
            index.reason
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn restore(global: &GlobalArgs, args: &RestoreArgs) -> Result<ExitCode, CommandError> {
    let session = super::open_session(global, None)?;
    let command = format!("lode restore {}", args.id);
    let lock = session.backend.lock(&command)?;
    super::apply::check_stopped(&session, &args.apply, &command)?;
    restore_snapshot(
        &session,
        &lock,
        &args.id,
        args.no_data,
        &args.apply,
        &command,
    )
}

/// Puts the environment back to snapshot `id`: table data first (unless `no_data`), then
/// configuration through a plan and apply recorded as `restore`. The caller holds the lock.
pub fn restore_snapshot(
    session: &Session,
    lock: &crate::state::LockGuard,
    id: &str,
    no_data: bool,
    apply: &ApplyOptions,
    command: &str,
) -> Result<ExitCode, CommandError> {
    let state = session.load_state_for_change(lock)?;
    let (index, resources) = Snapshots::new(&session.root, &session.env_name).load(id)?;
    let selected: BTreeSet<_> = index.resources.iter().cloned().collect();
    let started = std::time::Instant::now();
    let mut entry = JournalEntry::begin("restore", command);

    // What is live now is snapshotted before anything changes, table versions included, so a
    // restore can itself be undone with `lode restore`.
    let mut live = session.refresh(&state, selected.iter().cloned())?;
    let before = super::apply::snapshot_before(session, &state, selected.iter().cloned(), &live)?;

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
                printer().data(&format!("{done}\n"));
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
                .ok_or_else(|| {
                    CommandError::user(format!(
                        "{} holds a secret at {pointer}, and the manifests no longer give it a value; nothing was restored",
                        resource.address
                    ))
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
    print_plan(&plan, apply.format, &session.redactor);
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
        return Ok(ExitCode::SUCCESS);
    }
    let mut planned = Planned::new(&desired, plan, live, state);
    planned.snapshot = before;
    planned.notes = restored_data;
    planned
        .notes
        .insert(0, format!("restored snapshot {}", index.id));
    execute(session, planned, apply, lock, "restore", command)
}
