//! `lode destroy`: delete every object lode manages in the environment — the first half of the
//! runbook's "rebuild from scratch" (`lode destroy` then `lode apply`). It is a plan like any
//! other: protected objects, retained objects and table data are guarded as in every apply.

use std::process::ExitCode;

use super::apply::{ApplyOptions, Planned, check_stopped, execute};
use super::plan::{PlanSelection, print_plan};
use super::{CommandError, GlobalArgs};
use crate::engine::plan::build_plan;
use crate::manifest::Desired;

/// Delete everything lode manages in the environment (shows the plan first). Protected objects
/// stay unless --allow-delete-protected; tables stay unless --allow-data-loss; retained objects
/// are forgotten, not deleted.
#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub selection: PlanSelection,
    #[command(flatten)]
    pub apply: ApplyOptions,
}

pub fn run(global: &GlobalArgs, args: &DestroyArgs) -> Result<ExitCode, CommandError> {
    let session = super::open_session(global, None)?;
    let lock = session.backend.lock("lode destroy")?;
    check_stopped(&session, &args.apply, "lode destroy")?;
    let state = session.load_state_for_change(&lock)?;
    let nothing = Desired {
        resources: Default::default(),
        ..session.loaded.desired.clone()
    };
    let mut options = args.selection.options();
    options.limitations = session.providers.limitations();
    let selected = crate::engine::plan::select_addresses(&nothing, &state, &options.targets);
    let live = session.refresh(&state, selected.iter().cloned())?;
    let plan = build_plan(
        &nothing,
        &state,
        &live,
        &selected,
        &options,
        &session.env_name,
    );
    print_plan(&plan, args.apply.format, &session.redactor);
    let planned = Planned::new(&nothing, plan, live, state);
    execute(
        &session,
        planned,
        &args.apply,
        &lock,
        "destroy",
        "lode destroy",
    )
}
