//! `lode rollback --to REV`: apply the manifests of an earlier (or later) revision without a
//! commit; the same as `lode apply --rev REV`.

use std::process::ExitCode;

use super::apply::{ApplyOptions, CliApplyView, finish};
use super::plan::PlanSelection;
use super::{CommandError, GlobalArgs};

/// Move the live environment to the manifests at git revision REV (any direction), without
/// touching the work tree or making a commit. Shows the plan first.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The revision to return to: a commit, tag, branch or expression such as HEAD~1.
    #[arg(long = "to", value_name = "REV")]
    pub to: String,
    #[command(flatten)]
    pub selection: PlanSelection,
    #[command(flatten)]
    pub apply: ApplyOptions,
}

pub fn run(global: &GlobalArgs, args: &RollbackArgs) -> Result<ExitCode, CommandError> {
    let session = super::open_session(global, Some(&args.to))?;
    let outcome = crate::app::apply::apply(
        &session,
        &args.selection.options(),
        &args.apply.settings(),
        &CliApplyView {
            format: args.apply.format,
        },
        "rollback",
        &format!("lode rollback --to {}", args.to),
    )?;
    finish(outcome)
}
