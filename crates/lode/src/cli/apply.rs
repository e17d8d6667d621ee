//! `lode apply`: plan and execute under the environment lock, or execute a saved plan exactly
//! (refused if the manifests, the state or a touched live object changed since it was made).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use super::plan::{PlanFormat, PlanSelection, print_plan};
use super::printer;
use super::{CommandError, GlobalArgs};
use crate::app::session::Session;
use crate::engine::apply::{ApplyInputs, ApplyReport, StepOutcome, StepStatus, apply_plan};
use crate::engine::plan::{Action, Plan};
use crate::manifest::{Address, Desired, ManifestFiles};
use crate::provider::LiveObject;
use crate::state::Outcome;
use crate::state::{JournalEntry, State};

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

/// A plan ready to execute, with what it was made from: the desired state (the manifests, or
/// a snapshot's specs for restore, or nothing for destroy), the live reads and the state.
pub struct Planned<'a> {
    pub desired: &'a Desired,
    pub plan: Plan,
    pub live: BTreeMap<Address, LiveObject>,
    pub state: State,
    /// A snapshot the caller already took of what this changes (restore takes one before it
    /// restores table data); otherwise `execute` takes one.
    pub snapshot: Option<String>,
    /// Lines for the journal entry ahead of the step outcomes (what restore did to the data).
    pub notes: Vec<String>,
}

impl<'a> Planned<'a> {
    pub fn new(
        desired: &'a Desired,
        plan: Plan,
        live: BTreeMap<Address, LiveObject>,
        state: State,
    ) -> Planned<'a> {
        Planned {
            desired,
            plan,
            live,
            state,
            snapshot: None,
            notes: Vec::new(),
        }
    }
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
    if let Some(file) = &args.plan_file {
        if !args.selection.targets.is_empty()
            || args.selection.allow_delete_protected
            || args.selection.allow_data_loss
            || args.selection.allow_full_refresh
        {
            return Err(CommandError::user(
                "--target and the --allow-* flags cannot change a saved plan; it is applied exactly as it was made",
            )
            .hint("pass them to `lode plan --out FILE` instead"));
        }
        return apply_saved(global, file, &args.apply);
    }
    let session = super::open_session(global, args.rev.as_deref())?;
    apply_session(&session, &args.selection, &args.apply, "lode apply")
}

/// Plans and applies `session` (apply and rollback).
pub fn apply_session(
    session: &Session,
    selection: &PlanSelection,
    options: &ApplyOptions,
    command: &str,
) -> Result<ExitCode, CommandError> {
    let lock = session.backend.lock(command)?;
    check_stopped(session, options, command)?;
    let state = session.load_state_for_change(&lock)?;
    let (plan, live) = session.plan(&state, &selection.options())?;
    print_plan(&plan, options.format, &session.redactor);
    // `lode apply` → apply, `lode rollback --to X` → rollback: the journal's operation.
    let operation = command
        .split_whitespace()
        .nth(1)
        .unwrap_or("apply")
        .to_string();
    let planned = Planned::new(&session.loaded.desired, plan, live, state);
    execute(session, planned, options, &lock, &operation, command)
}

/// Refuses to apply while an emergency stop is in force, unless `--resume` lifts it.
pub fn check_stopped(
    session: &Session,
    options: &ApplyOptions,
    command: &str,
) -> Result<(), CommandError> {
    let Some(stop) = session.backend.stopped()? else {
        return Ok(());
    };
    if !options.resume {
        return Err(CommandError::user(format!(
            "environment `{}` is stopped (`lode stop` by {} at {}); nothing was applied",
            session.env_name, stop.who, stop.started
        ))
        .hint("pass --resume to lift the emergency stop and apply the manifests (which re-enables what the stop disabled)"));
    }
    session.backend.set_stopped(None)?;
    let mut entry = JournalEntry::begin("resume", command);
    entry
        .details
        .push(format!("lifted the stop {} of {}", stop.id, stop.started));
    session.backend.append_journal(&entry)?;
    printer().status(&format!(
        "Lifted the emergency stop of {}; applying the manifests.",
        stop.started
    ));
    Ok(())
}

fn confirm(options: &ApplyOptions) -> Result<(), CommandError> {
    if options.auto_approve {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CommandError::user("refusing to apply without confirmation: stdin is not a terminal")
            .hint("pass --auto-approve in CI, after reviewing the plan (e.g. a saved plan: lode plan --out FILE)"));
    }
    printer().prompt("\nDo you want to apply these changes? Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CommandError::user(format!("cannot read the answer: {e}")))?;
    if answer.trim() != "yes" {
        return Err(CommandError::user("apply cancelled; nothing was changed"));
    }
    Ok(())
}

pub fn execute(
    session: &Session,
    planned: Planned,
    options: &ApplyOptions,
    lock: &crate::state::LockGuard,
    operation: &str,
    command: &str,
) -> Result<ExitCode, CommandError> {
    let Planned {
        desired,
        plan,
        live,
        state,
        snapshot,
        notes,
    } = planned;
    if !plan
        .changes
        .iter()
        .any(|c| c.needs_apply() || c.blocked.is_some())
    {
        // Nothing to change, but the checks still say whether what is live works; with nothing
        // applied there is nothing to roll back.
        if (options.verify || options.rollback_on_failure)
            && let Some(failure) = verify_after_apply(session, command, options.format)?
        {
            return Err(verification_failed(operation, &failure));
        }
        return Ok(ExitCode::SUCCESS);
    }
    confirm(options)?;
    let snapshot = match snapshot {
        Some(id) => Some(id),
        None => {
            let changed = plan.changes.iter().filter(|c| c.needs_apply());
            snapshot_before(session, &state, changed.map(|c| c.address.clone()), &live)?
        }
    };
    let progress = std::io::stderr().is_terminal();
    let color = printer().stderr_color();
    let on_step = move |step: &StepOutcome| {
        if let StepStatus::Failed(message) = &step.status {
            printer().error_line(&format!(
                "error: {} {} failed: {message}",
                step.action.as_str(),
                step.address
            ));
        } else if progress && step.status == StepStatus::Applied && step.action != Action::NoOp {
            let mark = if color {
                "\u{1b}[32m✓\u{1b}[0m"
            } else {
                "ok"
            };
            printer().status(&format!(
                "  {mark} {} {} ({} ms)",
                step.action.as_str(),
                step.address,
                step.duration.as_millis()
            ));
        }
    };
    let writer = session.backend.writer(state, lock)?;
    let inputs = ApplyInputs {
        plan: &plan,
        desired,
        live: &live,
        providers: &session.providers,
        redactor: &session.redactor,
        parallelism: options
            .parallelism
            .or(session.loaded.project.parallelism)
            .unwrap_or(8),
        on_step: &on_step,
    };
    let started = std::time::Instant::now();
    let mut entry = JournalEntry::begin(operation, command);
    entry.revision = session.loaded.desired.source.commit.clone();
    entry.summary = Some(crate::render::summary_line(&plan.summary));
    entry.snapshot = snapshot;
    entry.details = notes;
    let report = apply_plan(&inputs, writer);
    entry.duration_ms = started.elapsed().as_millis() as u64;
    entry.outcome = if report.succeeded() {
        Outcome::Succeeded
    } else if report.failed() > 0 || report.state_error.is_some() {
        Outcome::Failed
    } else {
        Outcome::Blocked
    };
    entry
        .details
        .extend(report.steps.iter().filter_map(|s| match &s.status {
            StepStatus::Applied => None,
            StepStatus::Failed(m) => {
                Some(format!("failed: {} {}: {m}", s.action.as_str(), s.address))
            }
            StepStatus::Skipped(m) => {
                Some(format!("skipped: {} {}: {m}", s.action.as_str(), s.address))
            }
            StepStatus::Blocked(m) => {
                Some(format!("blocked: {} {}: {m}", s.action.as_str(), s.address))
            }
        }));
    // A step a guard held back (blocked) is not a failure to roll back from: what ran, worked.
    let applied = report.failed() == 0 && report.state_error.is_none();
    let result = report_outcome(session, report);
    if let Err(error) = session.backend.append_journal(&entry) {
        printer().warning(&format!(
            "the journal could not record this {operation}: {error}"
        ));
    }
    if !(options.verify || options.rollback_on_failure) {
        return result;
    }
    let failure = if applied {
        match verify_after_apply(session, command, options.format)? {
            None => return result,
            Some(failure) => failure,
        }
    } else {
        "a step of the apply failed".to_string()
    };
    if !options.rollback_on_failure {
        return result.and(Err(verification_failed(operation, &failure)));
    }
    if let Err(error) = &result {
        printer().error(&error.render());
    }
    roll_back_failed_apply(session, lock, entry.snapshot.as_deref(), &failure, started)
}

fn verification_failed(operation: &str, failure: &str) -> CommandError {
    CommandError::user(format!("verification failed after {operation}: {failure}"))
        .with_class(super::ErrorClass::Remote)
        .hint("`lode verify` reruns the checks; `lode restore <snapshot>` or `lode rollback --to <rev>` puts the previous version back")
}

/// Runs the checks after an apply (they see what was just applied); `None` when all pass, else
/// what failed, for the rollback message.
fn verify_after_apply(
    session: &Session,
    command: &str,
    format: PlanFormat,
) -> Result<Option<String>, CommandError> {
    let checks = &session.loaded.desired.checks;
    if checks.is_empty() {
        printer().warning(
            "--verify: the manifests declare no `kind: check` documents; nothing to verify",
        );
        return Ok(None);
    }
    let state = session.load_state()?;
    printer().status(&format!("\nVerifying: {} checks", checks.len()));
    let entry = JournalEntry::begin("verify", command);
    let started = std::time::Instant::now();
    let results = super::verify::verify_session(
        session,
        &state,
        checks,
        &crate::verify::VerifyOptions::default(),
    );
    super::verify::record_verification(session, entry, &results, started.elapsed());
    // Stdout is the data: the plan, then the check results; with JSON the plan is the one
    // document on stdout, and the results are for the person reading stderr.
    let text = super::verify::render_text(&results, &session.redactor);
    if format == PlanFormat::Json {
        printer().status(text.trim_end());
    } else {
        printer().data(&text);
    }
    if crate::verify::all_passed(&results) {
        return Ok(None);
    }
    let failing: Vec<&str> = results
        .iter()
        .filter(|r| r.is_blocking())
        .map(|r| r.name.as_str())
        .collect();
    Ok(Some(format!(
        "check{} {} failed",
        if failing.len() == 1 { "" } else { "s" },
        failing.join(", ")
    )))
}

/// `--rollback-on-failure`: restores the pre-apply snapshot (configuration and table data),
/// verifies again, records the incident in the journal, and always ends in an error, because
/// the change that was asked for is not live.
fn roll_back_failed_apply(
    session: &Session,
    lock: &crate::state::LockGuard,
    snapshot: Option<&str>,
    failure: &str,
    apply_started: std::time::Instant,
) -> Result<ExitCode, CommandError> {
    let Some(snapshot) = snapshot else {
        return Err(CommandError::user(format!(
            "{failure}, and there is no snapshot to roll back to: this apply only created objects"
        ))
        .with_class(super::ErrorClass::Remote)
        .hint("`lode destroy --target ADDRESS` removes what it created, or fix the manifests and apply again"));
    };
    let detected = apply_started.elapsed();
    printer().status(&format!(
        "\n{failure}: rolling back to snapshot {snapshot} (taken before this apply)."
    ));
    let restore_options = ApplyOptions {
        auto_approve: true,
        parallelism: None,
        resume: false,
        format: PlanFormat::Text,
        verify: false,
        rollback_on_failure: false,
    };
    let command = format!("lode apply --rollback-on-failure (restore {snapshot})");
    let mut entry = JournalEntry::begin("rollback", &command);
    // Verified here rather than by restore's own apply: a restore with nothing left to change
    // (the failure came before any step) must still be validated.
    let restored = super::snapshot::restore_snapshot(
        session,
        lock,
        snapshot,
        false,
        &restore_options,
        &command,
    )
    .and_then(
        |_| match verify_after_apply(session, &command, PlanFormat::Text)? {
            None => Ok(()),
            Some(failure) => Err(CommandError::user(format!("after the restore, {failure}"))),
        },
    );
    let recovered = apply_started.elapsed();
    entry.snapshot = Some(snapshot.to_string());
    entry.revision = session.loaded.desired.source.commit.clone();
    entry.duration_ms = (recovered - detected).as_millis() as u64;
    entry.details.push(format!("rolled back after: {failure}"));
    let outcome = match &restored {
        Ok(_) => {
            entry.outcome = Outcome::Succeeded;
            entry.details.push(format!(
                "detected {:.1} s after the apply started; restored and verified {:.1} s later",
                detected.as_secs_f64(),
                (recovered - detected).as_secs_f64()
            ));
            Err(CommandError::user(format!(
                "{failure}; rolled back to snapshot {snapshot} and verified in {:.1} s (detection to validated recovery); the change is not live",
                (recovered - detected).as_secs_f64()
            ))
            .with_class(super::ErrorClass::Remote)
            .hint("`lode report incident` shows the timeline; fix the change and apply again"))
        }
        Err(error) => {
            entry.outcome = Outcome::Failed;
            entry.details.push(format!(
                "the rollback failed: {}",
                session.redactor.text(&error.message)
            ));
            Err(CommandError::user(format!(
                "{failure}, and rolling back to snapshot {snapshot} failed too: {}",
                error.message
            ))
            .with_class(super::ErrorClass::Remote)
            .hint(format!("run `lode restore {snapshot}` by hand; `lode status` shows where the environment is")))
        }
    };
    if let Err(error) = session.backend.append_journal(&entry) {
        printer().warning(&format!(
            "the journal could not record this rollback: {error}"
        ));
    }
    outcome
}

/// Captures the live objects a plan will change (and their data markers) before it runs.
pub fn snapshot_before(
    session: &Session,
    state: &State,
    addresses: impl Iterator<Item = Address>,
    live: &BTreeMap<Address, LiveObject>,
) -> Result<Option<String>, CommandError> {
    let mut objects = BTreeMap::new();
    for address in addresses {
        if let Some(object) = live.get(&address) {
            let data = session.providers.capture_data(&address, object)?;
            objects.insert(address, (object.clone(), data));
        }
    }
    if objects.is_empty() {
        return Ok(None);
    }
    let snapshots = crate::snapshot::Snapshots::new(&session.root, &session.env_name);
    let index = snapshots
        .capture(
            "before apply",
            // What is live: the revision last applied, not the one about to be.
            state.revision.clone(),
            &objects,
            &session.loaded.desired.secrets,
            &session.secret_places(state),
        )
        .map_err(|e| CommandError::user(e.to_string()).with_class(super::ErrorClass::Config))?;
    let keep = session.loaded.project.snapshot_retention.unwrap_or(20);
    snapshots
        .prune(keep)
        .map_err(|e| CommandError::user(e.to_string()))?;
    printer().status(&format!(
        "Saved snapshot {} of the {} objects this apply changes.",
        index.id,
        index.resources.len()
    ));
    Ok(Some(index.id))
}

fn report_outcome(session: &Session, report: ApplyReport) -> Result<ExitCode, CommandError> {
    let summary = format!(
        "{} added, {} changed, {} replaced, {} deleted, {} forgotten",
        report.count(Action::Create),
        report.count(Action::Update),
        report.count(Action::Replace),
        report.count(Action::Delete),
        report.count(Action::Forget),
    );
    let failed = report.failed();
    let skipped: Vec<&StepOutcome> = report
        .steps
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Skipped(_)))
        .collect();
    let blocked: Vec<&StepOutcome> = report
        .steps
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Blocked(_)))
        .collect();
    let succeeded = report.succeeded();
    let state_error = report.state_error.is_some();
    let revision = session.loaded.desired.source.commit.clone();
    let steps = report.steps.clone();
    // Record everything that happened, even after failures, so a rerun converges.
    report.writer.commit(revision)?;
    if succeeded {
        printer().status(&format!("\nApply complete! Resources: {summary}."));
        return Ok(ExitCode::SUCCESS);
    }
    printer().status(&format!(
        "\nApply incomplete. Resources: {summary}; {failed} failed, {} skipped, {} blocked.",
        skipped.len(),
        blocked.len()
    ));
    for step in &steps {
        match &step.status {
            StepStatus::Failed(message) => printer().status(&format!(
                "  failed:  {} {}: {message}",
                step.action.as_str(),
                step.address
            )),
            StepStatus::Skipped(reason) => printer().status(&format!(
                "  skipped: {} {}: {reason}",
                step.action.as_str(),
                step.address
            )),
            StepStatus::Blocked(reason) => printer().status(&format!(
                "  blocked: {} {}: {reason}",
                step.action.as_str(),
                step.address
            )),
            StepStatus::Applied => {}
        }
    }
    let mut error = CommandError::user(if state_error {
        "the apply stopped: the state log could not be written".to_string()
    } else if failed > 0 {
        format!("{failed} change(s) failed; what succeeded is recorded in state")
    } else {
        format!("{} change(s) were blocked by guards", blocked.len())
    })
    .with_class(if failed > 0 {
        super::ErrorClass::Remote
    } else {
        super::ErrorClass::User
    });
    if failed > 0 {
        error = error
            .hint("fix the cause and run `lode apply` again: it continues from what was applied");
    }
    if let Some(flag) = steps.iter().find_map(|s| match &s.status {
        StepStatus::Blocked(blocked) => Some(blocked.allow_with.clone()),
        _ => None,
    }) {
        error = error.hint(format!(
            "review the blocked changes; rerun with {flag} to allow them"
        ));
    }
    Err(error)
}

/// Executes a plan saved by `lode plan --out`, refusing if anything it was made from moved.
fn apply_saved(
    global: &GlobalArgs,
    file: &std::path::Path,
    options: &ApplyOptions,
) -> Result<ExitCode, CommandError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CommandError::user(format!("cannot read {}: {e}", file.display())))?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        CommandError::user(format!("{} is not a lode plan: {e}", file.display()))
            .hint("create one with `lode plan --out FILE`")
    })?;
    if plan.format_version != crate::engine::plan::PLAN_FORMAT_VERSION {
        return Err(CommandError::user(format!(
            "{} has plan format {}, this lode reads {}",
            file.display(),
            plan.format_version,
            crate::engine::plan::PLAN_FORMAT_VERSION
        )));
    }
    if plan.environment != global.env {
        return Err(CommandError::user(format!(
            "the plan is for environment `{}`, not `{}`",
            plan.environment, global.env
        ))
        .hint(format!("pass --env {}", plan.environment)));
    }
    let root = crate::app::session::find_root(global.dir.as_deref())?;
    let files = match (&plan.source.rev, &plan.source.commit) {
        (Some(_), Some(commit)) => ManifestFiles::from_git_revision(&root, commit)?,
        _ => ManifestFiles::from_work_tree(&root)?,
    };
    let stale = |what: &str| {
        CommandError::user(format!(
            "the saved plan is stale: {what} changed since it was made; nothing was applied"
        ))
        .hint("make a new plan with `lode plan --out FILE` and review it")
    };
    if files.info.digest != plan.source.digest {
        return Err(stale("the manifests"));
    }
    // A plan of the work tree is bound to the commit it was made on: a new commit (a rebase,
    // a merge that happens to leave the manifests equal) is a different thing to review.
    if plan.source.rev.is_none() && files.info.commit != plan.source.commit {
        let short = |c: &Option<String>| {
            c.as_deref()
                .map(|c| c.chars().take(12).collect::<String>())
                .unwrap_or_else(|| "none".into())
        };
        return Err(stale(&format!(
            "the git revision ({} → {})",
            short(&plan.source.commit),
            short(&files.info.commit)
        )));
    }
    let session = Session::from_files(
        &global.session(),
        files,
        std::sync::Arc::new(super::printer().clone()),
    )?;
    let lock = session.backend.lock("lode apply (saved plan)")?;
    let mut state = session.load_state_for_change(&lock)?;
    if state.serial == 0 && plan.state.serial == 0 && state.resources.is_empty() {
        // A first deployment: the new state takes the plan's lineage, so its fingerprints hold.
        state.lineage = plan.state.lineage.clone();
    }
    if state.lineage != plan.state.lineage || state.serial != plan.state.serial {
        return Err(stale(&format!(
            "the state (serial {} → {})",
            plan.state.serial, state.serial
        )));
    }
    if crate::engine::plan::desired_digest(&session.loaded.desired, &state.lineage)
        != plan.desired_digest
    {
        return Err(stale("a value from the environment (variables or secrets)"));
    }
    // Everything the plan covers is read: touched objects to check, the rest for references.
    let live = session.refresh(&state, plan.changes.iter().map(|c| c.address.clone()))?;
    for change in plan.changes.iter().filter(|c| c.needs_apply()) {
        let now = live
            .get(&change.address)
            .map(|l| state.fingerprint(&l.spec));
        if now != change.live_fingerprint {
            return Err(stale(&format!("the live object {}", change.address)));
        }
    }
    print_plan(&plan, options.format, &session.redactor);
    check_stopped(&session, options, "lode apply (saved plan)")?;
    let planned = Planned::new(&session.loaded.desired, plan, live, state);
    execute(
        &session,
        planned,
        options,
        &lock,
        "apply",
        "lode apply (saved plan)",
    )
}
