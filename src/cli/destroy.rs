//! `lode destroy`: delete every object lode manages in the environment — the first half of the
//! runbook's "rebuild from scratch" (`lode destroy` then `lode apply`). It is a plan like any
//! other: protected objects, retained objects and table data are guarded as in every apply.

use std::process::ExitCode;

use super::apply::{ApplyOptions, Planned, check_stopped, execute};
use super::plan::{PlanSelection, print_plan};
use super::workspace::Workspace;
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
    let workspace = Workspace::open(global, None)?;
    let lock = workspace.backend.lock("lode destroy")?;
    check_stopped(&workspace, &args.apply, "lode destroy")?;
    let state = workspace.load_state_for_change(&lock)?;
    let nothing = Desired {
        resources: Default::default(),
        ..workspace.loaded.desired.clone()
    };
    let mut options = args.selection.options();
    options.limitations = workspace.providers.limitations();
    let selected = crate::engine::plan::select_addresses(&nothing, &state, &options.targets);
    let live = workspace.refresh(&state, selected.iter().cloned())?;
    let plan = build_plan(
        &nothing,
        &state,
        &live,
        &selected,
        &options,
        &workspace.env_name,
    );
    print_plan(&plan, args.apply.format, &workspace.redactor);
    let planned = Planned::new(&nothing, plan, live, state);
    execute(
        &workspace,
        planned,
        &args.apply,
        &lock,
        "destroy",
        "lode destroy",
    )
}
