//! `lode snapshot`, `lode snapshots` and `lode restore ID`: take a full snapshot on demand, list
//! them, and put the environment back to one (the workflows are in `app::restore`).

use std::process::ExitCode;

use super::apply::{ApplyOptions, CliApplyView, finish};
use super::printer;
use super::{CommandError, ErrorClass, GlobalArgs};
use crate::snapshot::SnapshotError;

/// Capture the live state of every managed resource (specs, payloads, table versions), kept
/// with the state: `snapshots/<env>/<id>/` for local state, the state folder in the
/// workspace for workspace state. Secrets are never written.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {}

/// List the environment's snapshots, oldest first.
#[derive(Debug, clap::Args)]
pub struct SnapshotsArgs {
    /// text (default) or json (an array of {id, created, revision, resources}).
    #[arg(long, value_enum, default_value = "text")]
    pub format: super::TextOrJson,
}

/// Put the environment back to snapshot ID. Shows everything first, table data included
/// (which tables go back to which Delta version, and the commits and rows that undoes), asks
/// once, and writes nothing before that. Tables with seed rows get their data back; tables
/// whose data comes from outside lode (streaming targets, pipeline outputs) are left alone
/// unless named with `--data`; `--no-data` restores configuration only.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The snapshot id (`lode snapshots` lists them).
    pub id: String,
    /// Restore configuration only; leave every table's data as it is.
    #[arg(long, conflicts_with = "data")]
    pub no_data: bool,
    /// Also put back the data of this table, although its rows come from outside lode (a
    /// streaming target, a pipeline output: `lifecycle.data: external`). Repeatable. Tables
    /// with seed rows are restored without it.
    #[arg(long = "data", value_name = "TABLE")]
    pub data: Vec<crate::manifest::Address>,
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
    let index = crate::app::restore::take_snapshot(&session)?;
    printer().data(&format!("{}\n", index.id));
    printer().status(&format!(
        "Saved snapshot {} of {} objects.",
        index.id,
        index.resources.len()
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn list(global: &GlobalArgs, args: &SnapshotsArgs) -> Result<ExitCode, CommandError> {
    // Where the state is, from lode.yaml and the environment file only: listing snapshots
    // works while other manifests are broken.
    let listed = crate::app::session::open_state(
        &global.session(),
        &crate::app::connect::EmulatorWait::patient(printer()),
    )?
    .snapshots()
    .list()?;
    // A damaged snapshot is named, and hides none of the others.
    for broken in &listed.broken {
        printer().warning(&format!("{broken}; it is left out of the list"));
    }
    let all = listed.indexes;
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
    let outcome = crate::app::restore::restore(
        &session,
        &args.id,
        &crate::app::restore::DataChoice {
            no_data: args.no_data,
            named: args.data.clone(),
        },
        &args.apply.settings(),
        &CliApplyView {
            format: args.apply.format,
        },
        &format!("lode restore {}", args.id),
    )?;
    finish(outcome)
}
