//! `lode destroy`: delete every object lode manages in the environment — the first half of the
//! runbook's "rebuild from scratch" (`lode destroy` then `lode apply`). It is a plan like any
//! other: protected objects, retained objects and table data are guarded as in every apply.

use std::process::ExitCode;

use super::apply::{ApplyOptions, CliApplyView, finish};
use super::plan::PlanSelection;
use super::{CommandError, GlobalArgs};

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
    let outcome = crate::app::destroy::destroy(
        &session,
        &args.selection.options(),
        &args.apply.settings(),
        &CliApplyView {
            format: args.apply.format,
        },
    )?;
    finish(outcome)
}
