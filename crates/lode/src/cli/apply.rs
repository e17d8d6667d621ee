//! `lode apply`: plan and execute under the environment lock, or execute a saved plan exactly
//! (refused if the manifests, the state or a touched live object changed since it was made).
//! The workflow is `app::apply` (and `app::saved_plan`); this file parses the options, shows
//! the plan, asks, reports each step and the outcome, and picks the exit code. `rollback`,
//! `restore` and `destroy` report through the same view.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use super::plan::{PlanFormat, PlanSelection, print_plan};
use super::printer;
use super::{CommandError, ErrorClass, GlobalArgs};
use crate::app::apply::{
    AfterApply, ApplyError, ApplyOutcome, ApplySettings, ApplyView, Executed, NotConfirmed,
    PlanRole,
};
use crate::app::saved_plan::SavedPlanError;
use crate::engine::apply::{StepOutcome, StepStatus};
use crate::engine::plan::{Action, Plan};
use crate::redact::Redactor;
use crate::verify::CheckResult;

/// Options of apply and rollback.
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyOptions {
    /// Apply without asking for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// How many changes run at once (default: `parallelism` in lode.yaml, else 8).
    #[arg(long)]
    pub parallelism: Option<usize>,
    /// Lift an emergency stop (`lode stop`) and apply.
    #[arg(long)]
    pub resume: bool,
    /// Format of the plan printed before applying.
    #[arg(long, value_enum, default_value = "text")]
    pub format: PlanFormat,
    /// After applying, run the verification checks (`kind: check`, as `lode verify`); a failed
    /// check makes the exit code 1.
    #[arg(long)]
    pub verify: bool,
    /// If a step fails or verification fails, put back the snapshot taken before this apply
    /// (configuration and table data), verify again, and exit 1. Implies --verify.
    #[arg(long)]
    pub rollback_on_failure: bool,
}

/// Make the live environment match the manifests: plan, confirm, then apply in dependency
/// order. With FILE, apply exactly a plan saved by `lode plan --out FILE`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// A plan saved by `lode plan --out`.
    #[arg(value_name = "FILE")]
    pub plan_file: Option<std::path::PathBuf>,
    /// Apply the manifests at this git revision (read through git, the work tree is untouched).
    #[arg(long, conflicts_with = "plan_file")]
    pub rev: Option<String>,
    #[command(flatten)]
    pub selection: PlanSelection,
    #[command(flatten)]
    pub apply: ApplyOptions,
    /// First remove the environment's lock if its id is ID (a workspace lock left by a run that
    /// died), as `lode force-unlock ID` does; a lock with another id is never broken.
    #[arg(long, value_name = "ID")]
    pub force_unlock: Option<String>,
}

pub fn run(global: &GlobalArgs, args: &ApplyArgs) -> Result<ExitCode, CommandError> {
    if let Some(id) = &args.force_unlock {
        super::force_unlock::run(
            global,
            &super::force_unlock::ForceUnlockArgs { id: id.clone() },
        )?;
    }
    let view = CliApplyView {
        format: args.apply.format,
    };
    if let Some(file) = &args.plan_file {
        if !args.selection.targets.is_empty() || args.selection.no_data {
            return Err(CommandError::user(
                "--target and --no-data cannot change a saved plan; it is applied exactly as it was made",
            )
            .hint("pass them to `lode plan --out FILE` instead"));
        }
        let flags = crate::app::saved_plan::RepeatedFlags {
            allow_delete_protected: args.selection.allow_delete_protected,
            allow_data_loss: args.selection.allow_data_loss,
            allow_full_refresh: args.selection.allow_full_refresh,
        };
        let outcome = crate::app::saved_plan::apply_saved(
            &global.session(),
            std::sync::Arc::new(printer().clone()),
            file,
            &flags,
            &args.apply.settings(),
            &view,
        )?;
        return finish(outcome);
    }
    let session = super::open_session(global, args.rev.as_deref())?;
    let outcome = crate::app::apply::apply(
        &session,
        &args.selection.options(),
        &args.apply.settings(),
        &view,
        "apply",
        "lode apply",
    )?;
    finish(outcome)
}

impl ApplyOptions {
    /// The workflow's settings from these flags.
    pub fn settings(&self) -> ApplySettings {
        ApplySettings {
            auto_approve: self.auto_approve,
            parallelism: self.parallelism,
            resume: self.resume,
            verify: self.verify,
            rollback_on_failure: self.rollback_on_failure,
        }
    }
}

/// How apply, rollback, restore and destroy show their progress.
pub struct CliApplyView {
    /// The format the plan is printed in.
    pub format: PlanFormat,
}

impl ApplyView for CliApplyView {
    fn show_plan(&self, plan: &Plan, redactor: &Redactor, role: PlanRole) {
        match role {
            PlanRole::Requested => print_plan(plan, self.format, redactor),
            // The restore a rollback runs: for people, never a second JSON document.
            PlanRole::Rollback => print_plan(plan, PlanFormat::Text, redactor),
        }
    }

    fn confirm(&self) -> Result<(), NotConfirmed> {
        if !std::io::stdin().is_terminal() {
            return Err(NotConfirmed::NoTerminal);
        }
        printer().prompt("\nDo you want to apply these changes? Only 'yes' will be accepted: ");
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| NotConfirmed::Unreadable(e.to_string()))?;
        if answer.trim() != "yes" {
            return Err(NotConfirmed::Declined);
        }
        Ok(())
    }

    fn step_finished(&self, step: &StepOutcome) {
        if let StepStatus::Failed(message) = &step.status {
            printer().error_line(&format!(
                "error: {} {} failed: {message}",
                step.action.as_str(),
                step.address
            ));
        } else if step.status == StepStatus::Applied && step.action != Action::NoOp {
            let mark = if printer().stderr_color() {
                "\u{1b}[32m✓\u{1b}[0m"
            } else {
                "ok"
            };
            // On a terminal, or everywhere with -v: CI logs stay short.
            printer().progress_line(&format!(
                "  {mark} {} {} ({} ms)",
                step.action.as_str(),
                step.address,
                step.duration.as_millis()
            ));
        }
    }

    fn applied(&self, executed: &Executed) {
        let summary = format!(
            "{} added, {} changed, {} replaced, {} deleted, {} forgotten",
            executed.count(Action::Create),
            executed.count(Action::Update),
            executed.count(Action::Replace),
            executed.count(Action::Delete),
            executed.count(Action::Forget),
        );
        // The outcome is data, after the plan, as Terraform prints it; under --format json
        // the printer sends it to stderr.
        if executed.succeeded() {
            printer().data(&format!("\nApply complete! Resources: {summary}.\n"));
            return;
        }
        printer().data(&format!(
            "\nApply incomplete. Resources: {summary}; {} failed, {} skipped, {} blocked.\n",
            executed.failed(),
            executed.skipped(),
            executed.blocked()
        ));
        for step in &executed.steps {
            let (label, reason) = match &step.status {
                StepStatus::Applied => continue,
                StepStatus::Failed(message) => ("failed: ", message.clone()),
                StepStatus::Skipped(reason) => ("skipped:", reason.clone()),
                StepStatus::Blocked(blocked) => ("blocked:", blocked.to_string()),
            };
            printer().error_line(&format!(
                "  {label} {} {}: {reason}",
                step.action.as_str(),
                step.address
            ));
        }
    }

    fn verified(&self, results: &[CheckResult], redactor: &Redactor) {
        // Stdout is the data: the plan, then the check results (under --format json the
        // printer sends them to stderr: the plan is the one document).
        printer().data(&super::verify::render_text(results, redactor));
    }

    fn rolling_back(&self, executed: &Executed, failure: &str, snapshot: &str) {
        if let Some(error) = incomplete(executed) {
            printer().error(&error.render());
        }
        printer().status(&format!(
            "\n{failure}: rolling back to snapshot {snapshot} (taken before this apply)."
        ));
    }

    fn show_data_restores(
        &self,
        restores: &[crate::provider::DataRestore],
        left_alone: &[(crate::manifest::Address, String)],
    ) {
        let mut text = String::new();
        if !restores.is_empty() {
            text.push_str("Table data to restore (undoes what was written since the snapshot):\n");
            for restore in restores {
                let rows = match (restore.rows_now, restore.rows_then) {
                    (Some(now), Some(then)) => format!("; {now} rows now, {then} after"),
                    _ => String::new(),
                };
                text.push_str(&format!(
                    "  {}  {}  version {} -> {} ({} commit(s) undone{rows})\n",
                    restore.address,
                    restore.table,
                    restore.from_version,
                    restore.to_version,
                    restore.commits_undone
                ));
            }
        }
        if !left_alone.is_empty() {
            text.push_str("Table data left as it is:\n");
            for (address, why) in left_alone {
                text.push_str(&format!("  {address}: {why}\n"));
            }
        }
        if !text.is_empty() {
            printer().data(&format!("{text}\n"));
        }
    }

    fn data_restored(&self, done: &str) {
        printer().data(&format!("{done}\n"));
    }
}

/// The exit code of an apply's outcome, or the error that says what went wrong and what to do.
pub fn finish(outcome: ApplyOutcome) -> Result<ExitCode, CommandError> {
    let executed = match (outcome.commit_error, &outcome.executed) {
        (Some(error), _) => Err(CommandError::from(error)),
        (None, Some(executed)) => incomplete(executed).map_or(Ok(ExitCode::SUCCESS), Err),
        (None, None) => Ok(ExitCode::SUCCESS),
    };
    match outcome.after {
        AfterApply::Done => executed,
        AfterApply::VerificationFailed { failure } => {
            executed.and(Err(verification_failed(&outcome.operation, &failure)))
        }
        AfterApply::RolledBack(rollback) => {
            // The apply's own error was shown when the rollback began (`rolling_back`).
            let failure = &rollback.failure;
            let Some(snapshot) = rollback.snapshot else {
                return Err(CommandError::user(format!(
                    "{failure}, and there is no snapshot to roll back to: this apply only created objects"
                ))
                .with_class(ErrorClass::Remote)
                .hint("`lode destroy --target ADDRESS` removes what it created, or fix the manifests and apply again"));
            };
            Err(match rollback.error {
                None => CommandError::user(format!(
                    "{failure}; rolled back to snapshot {snapshot} and verified in {:.1} s (detection to validated recovery); the change is not live",
                    rollback.recovery.as_secs_f64()
                ))
                .with_class(ErrorClass::Remote)
                .hint("`lode report incident` shows the timeline; fix the change and apply again"),
                Some(error) => CommandError::user(format!(
                    "{failure}, and rolling back to snapshot {snapshot} failed too: {error}"
                ))
                .with_class(ErrorClass::Remote)
                .hint(format!(
                    "run `lode restore {snapshot}` by hand; `lode status` shows where the environment is"
                )),
            })
        }
    }
}

/// The error of an apply that did not complete, with what to do next.
fn incomplete(executed: &Executed) -> Option<CommandError> {
    let problem = executed.problem()?;
    if executed.interrupted && executed.failed() == 0 {
        return Some(
            CommandError::user(problem)
                .with_class(ErrorClass::Interrupted)
                .hint(
                    "run `lode apply` again to apply the rest: it continues from what was applied",
                ),
        );
    }
    let failed = executed.failed() > 0;
    let mut error = CommandError::user(problem).with_class(if failed {
        ErrorClass::Remote
    } else {
        ErrorClass::User
    });
    if failed {
        error = error
            .hint("fix the cause and run `lode apply` again: it continues from what was applied");
    }
    if executed.halted.is_some() {
        error = error.hint(
            "when it is safe, `lode apply --resume` lifts the stop and applies the remaining changes",
        );
    }
    if let Some(flag) = executed.steps.iter().find_map(|s| match &s.status {
        StepStatus::Blocked(blocked) => Some(&blocked.allow_with),
        _ => None,
    }) {
        error = error.hint(format!(
            "review the blocked changes; rerun with {flag} to allow them"
        ));
    }
    Some(error)
}

fn verification_failed(operation: &str, failure: &str) -> CommandError {
    CommandError::user(format!("verification failed after {operation}: {failure}"))
        .with_class(ErrorClass::Remote)
        .hint("`lode verify` reruns the checks; `lode restore <snapshot>` or `lode rollback --to <rev>` puts the previous version back")
}

impl From<ApplyError> for CommandError {
    fn from(error: ApplyError) -> CommandError {
        match error {
            ApplyError::State(error) => error.into(),
            ApplyError::Recover(error) => error.into(),
            ApplyError::Plan(error) => error.into(),
            ApplyError::Provider(error) => error.into(),
            ApplyError::Snapshot(error) => error.into(),
            ApplyError::NotConfirmed(NotConfirmed::NoTerminal) => CommandError::user(error.to_string())
                .hint("pass --auto-approve in CI, after reviewing the plan (e.g. a saved plan: lode plan --out FILE)"),
            ApplyError::NotConfirmed(_) | ApplyError::SecretWithoutValue { .. } => {
                CommandError::user(error.to_string())
            }
            ApplyError::ChangedSincePlan { .. } => CommandError::user(error.to_string())
                .with_class(ErrorClass::Remote)
                .hint("run the restore again to see and confirm what it would undo now"),
            ApplyError::Stopped { .. } => CommandError::user(error.to_string()).hint(
                "pass --resume to lift the emergency stop and apply the manifests (which re-enables what the stop disabled)",
            ),
        }
    }
}

impl From<SavedPlanError> for CommandError {
    fn from(error: SavedPlanError) -> CommandError {
        match error {
            SavedPlanError::Open(error) => error.into(),
            SavedPlanError::Apply(error) => error.into(),
            SavedPlanError::NotAPlan { .. } => {
                CommandError::user(error.to_string()).hint("create one with `lode plan --out FILE`")
            }
            SavedPlanError::WrongEnvironment { ref plan, .. } => {
                let hint = format!("pass --env {plan}");
                CommandError::user(error.to_string()).hint(hint)
            }
            SavedPlanError::Stale(_) => CommandError::user(error.to_string())
                .hint("make a new plan with `lode plan --out FILE` and review it"),
            SavedPlanError::Altered(_) => CommandError::user(error.to_string())
                .hint("the file was edited after `lode plan --out` wrote it: do not apply it; make a new plan and review it"),
            SavedPlanError::FlagNotRepeated(flag) => {
                let hint = format!("review the plan's guarded changes, then pass {flag} to `lode apply FILE` to consent to them");
                CommandError::user(error.to_string()).hint(hint)
            }
            SavedPlanError::FlagNotInPlan(flag) => {
                let hint = format!("to allow it, make a new plan with `lode plan --out FILE {flag}`");
                CommandError::user(error.to_string()).hint(hint)
            }
            SavedPlanError::Unreadable { .. } => CommandError::user(error.to_string()),
            SavedPlanError::FormatVersion { .. } => CommandError::user(error.to_string())
                .hint("make a new plan with this lode: `lode plan --out FILE`"),
        }
    }
}
