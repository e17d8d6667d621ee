//! Applying a plan, as one workflow: refuse while an emergency stop is in force (or lift it
//! with `--resume`), plan under the lock, show the plan and ask, snapshot what will change,
//! execute, journal, verify, and on a failure roll back to the snapshot and verify again.
//! `apply`, `rollback --to`, `destroy`, `restore` and saved plans all end in [`execute`].
//!
//! Nothing here prints: the plan, the confirmation and each finished step go through the
//! caller's [`ApplyView`]; the result is an [`ApplyOutcome`] the caller renders.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::session::{PlanError, RecoverError, Session};
use crate::engine::apply::{ApplyInputs, StepOutcome, StepStatus, apply_plan};
use crate::engine::plan::{Action, Plan, PlanOptions};
use crate::manifest::{Address, Desired};
use crate::provider::{LiveObject, ProviderError};
use crate::redact::Redactor;
use crate::snapshot::SnapshotError;
use crate::state::{JournalEntry, LockGuard, Outcome, State, StateError};
use crate::verify::{CheckResult, VerifyOptions};

/// What the person asked of this apply, besides the plan itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplySettings {
    /// Apply without asking.
    pub auto_approve: bool,
    /// Changes run at once (default: `parallelism` in lode.yaml, else 8).
    pub parallelism: Option<usize>,
    /// Lift an emergency stop first.
    pub resume: bool,
    /// Run the checks after applying.
    pub verify: bool,
    /// On a failed step or check, restore the pre-apply snapshot and verify again.
    pub rollback_on_failure: bool,
}

/// Which plan the view is shown: the one the person asked for, or the restore a rollback runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanRole {
    Requested,
    Rollback,
}

/// How the caller takes part while an apply runs.
pub trait ApplyView: Sync {
    /// The plan about to be applied (also when it changes nothing).
    fn show_plan(&self, plan: &Plan, redactor: &Redactor, role: PlanRole);
    /// Asks whether to apply a plan that changes something.
    fn confirm(&self) -> Result<(), NotConfirmed>;
    /// One step ended (applied, failed, skipped or blocked).
    fn step_finished(&self, step: &StepOutcome);
    /// The steps ran and state is written: the counts to report.
    fn applied(&self, executed: &Executed);
    /// The checks run after an apply (or after a rollback's restore).
    fn verified(&self, results: &[CheckResult], redactor: &Redactor);
    /// A rollback is about to restore `snapshot` because of `failure`; `executed` is the apply
    /// that failed.
    fn rolling_back(&self, executed: &Executed, failure: &str, snapshot: &str);
    /// The table data a restore will put back, and what it leaves alone (with why), shown
    /// with its plan and covered by the same confirmation.
    fn show_data_restores(
        &self,
        restores: &[crate::provider::DataRestore],
        left_alone: &[(crate::manifest::Address, String)],
    );
    /// A restore put a table's data back (what it ran, for the record).
    fn data_restored(&self, done: &str);
}

/// Why an apply was not confirmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotConfirmed {
    #[error("refusing to apply without confirmation: stdin is not a terminal")]
    NoTerminal,
    #[error("apply cancelled; nothing was changed")]
    Declined,
    #[error("cannot read the answer: {0}")]
    Unreadable(String),
}

/// Why an apply could not run (a failed step is not an error: see [`ApplyOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Recover(#[from] RecoverError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("reading the live environment failed: {0}")]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    NotConfirmed(#[from] NotConfirmed),
    #[error(
        "environment `{environment}` is stopped (`lode stop` by {who} at {started}); nothing was applied"
    )]
    Stopped {
        environment: String,
        who: String,
        started: String,
    },
    #[error(
        "{address} holds a secret at {pointer}, and the manifests no longer give it a value; nothing was restored"
    )]
    SecretWithoutValue { address: Address, pointer: String },
    #[error(
        "{address} changed since the restore was planned (it was at version {shown}); nothing more was restored"
    )]
    ChangedSincePlan { address: Address, shown: i64 },
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

/// What ran: how every step ended, and whether state was written.
#[derive(Debug, Clone)]
pub struct Executed {
    pub steps: Vec<StepOutcome>,
    /// The state log could not be written: the apply stopped.
    pub state_error: bool,
    /// An emergency stop halted the apply before some steps: who and when.
    pub halted: Option<String>,
    /// Ctrl-C stopped the apply before some steps (the running ones finished).
    pub interrupted: bool,
    /// The snapshot taken before (or for) this apply.
    pub snapshot: Option<String>,
}

impl Executed {
    /// Steps of `action` that were applied.
    pub fn count(&self, action: Action) -> usize {
        self.steps
            .iter()
            .filter(|s| s.action == action && s.status == StepStatus::Applied)
            .count()
    }

    pub fn failed(&self) -> usize {
        self.with_status(|s| matches!(s, StepStatus::Failed(_)))
    }

    pub fn skipped(&self) -> usize {
        self.with_status(|s| matches!(s, StepStatus::Skipped(_)))
    }

    pub fn blocked(&self) -> usize {
        self.with_status(|s| matches!(s, StepStatus::Blocked(_)))
    }

    /// Every step applied and state written.
    pub fn succeeded(&self) -> bool {
        !self.state_error && self.steps.iter().all(|s| s.status == StepStatus::Applied)
    }

    /// What ran, worked: nothing failed (a blocked step is not a failure to roll back from).
    pub fn nothing_failed(&self) -> bool {
        self.failed() == 0 && !self.state_error
    }

    /// Why the apply is incomplete, or `None` when it succeeded.
    pub fn problem(&self) -> Option<String> {
        if self.interrupted {
            let ran = self.steps.len() - self.skipped();
            Some(format!(
                "the apply was interrupted (Ctrl-C): {ran} step(s) ran and are recorded in state, {} did not start",
                self.skipped()
            ))
        } else if let Some(stop) = &self.halted {
            Some(format!(
                "the apply halted before {} step(s) because of an emergency stop ({stop}); what ran is recorded in state",
                self.skipped()
            ))
        } else if self.state_error {
            Some("the apply stopped: the state log could not be written".to_string())
        } else if self.failed() > 0 {
            Some(format!(
                "{} change(s) failed; what succeeded is recorded in state",
                self.failed()
            ))
        } else if self.succeeded() {
            None
        } else {
            // Steps are skipped only after a failure, a block or a state error: what is left
            // is a block.
            Some(format!(
                "{} change(s) were blocked by guards",
                self.blocked()
            ))
        }
    }

    fn with_status(&self, matches: impl Fn(&StepStatus) -> bool) -> usize {
        self.steps.iter().filter(|s| matches(&s.status)).count()
    }
}

/// What an apply did, for the caller to report.
#[derive(Debug)]
pub struct ApplyOutcome {
    /// `apply`, `rollback`, `restore`, `destroy`: the journal's operation.
    pub operation: String,
    /// `None` when the plan had nothing to change.
    pub executed: Option<Executed>,
    /// The new state could not be committed after the steps ran (the write-ahead log keeps
    /// what was done, and the next run recovers it).
    pub commit_error: Option<StateError>,
    pub after: AfterApply,
}

/// What happened after the steps ran.
#[derive(Debug)]
pub enum AfterApply {
    /// Nothing more was asked, or every check passed.
    Done,
    /// Checks failed (or a step did) and no rollback was asked for.
    VerificationFailed { failure: String },
    /// A step or a check failed, and the pre-apply snapshot was put back.
    RolledBack(Rollback),
}

/// A rollback after a failed apply.
#[derive(Debug)]
pub struct Rollback {
    /// What failed.
    pub failure: String,
    /// The snapshot restored; `None` when the apply only created objects (nothing to restore).
    pub snapshot: Option<String>,
    /// From the start of the apply to the detection of the failure.
    pub detected: Duration,
    /// From the detection to the end of the verified restore.
    pub recovery: Duration,
    /// Why the restore (or the verification after it) failed, secrets masked.
    pub error: Option<String>,
}

/// Plans the session's manifests under the lock and applies them: `lode apply` (at a revision
/// or not) and `lode rollback --to REV`. `operation` names it in the journal, `command` is the
/// command line recorded.
pub fn apply(
    session: &Session,
    options: &PlanOptions,
    settings: &ApplySettings,
    view: &dyn ApplyView,
    operation: &str,
    command: &str,
) -> Result<ApplyOutcome, ApplyError> {
    let lock = session.backend.lock(command)?;
    lift_stop(session, settings.resume, command)?;
    let state = session.load_state_for_change(&lock)?;
    let (plan, live) = session.plan(&state, options)?;
    view.show_plan(&plan, &session.redactor, PlanRole::Requested);
    let planned = Planned::new(&session.loaded.desired, plan, live, state);
    execute(session, planned, settings, view, &lock, operation, command)
}

/// Refuses to go on while an emergency stop is in force, unless `resume` lifts it.
pub fn lift_stop(session: &Session, resume: bool, command: &str) -> Result<(), ApplyError> {
    let Some(stop) = session.backend.stopped()? else {
        return Ok(());
    };
    if !resume {
        return Err(ApplyError::Stopped {
            environment: session.env_name.clone(),
            who: stop.who,
            started: stop.started,
        });
    }
    session.backend.set_stopped(None)?;
    let mut entry = JournalEntry::begin("resume", command);
    entry
        .details
        .push(format!("lifted the stop {} of {}", stop.id, stop.started));
    session.backend.append_journal(&entry)?;
    session.reporter.info(&format!(
        "Lifted the emergency stop of {}; applying the manifests.",
        stop.started
    ));
    Ok(())
}

/// Executes a plan: asks, snapshots, runs the steps, journals, then verifies and rolls back
/// as `settings` say. The caller holds the lock and has shown the plan.
pub fn execute(
    session: &Session,
    planned: Planned,
    settings: &ApplySettings,
    view: &dyn ApplyView,
    lock: &LockGuard,
    operation: &str,
    command: &str,
) -> Result<ApplyOutcome, ApplyError> {
    let Planned {
        desired,
        plan,
        live,
        state,
        snapshot,
        notes,
    } = planned;
    let wants_checks = settings.verify || settings.rollback_on_failure;
    if !plan
        .changes
        .iter()
        .any(|c| c.needs_apply() || c.blocked.is_some())
    {
        // Nothing to change, but the checks still say whether what is live works; with nothing
        // applied there is nothing to roll back.
        let failure = if wants_checks {
            verify_after_apply(session, view, command)?
        } else {
            None
        };
        let after = match failure {
            Some(failure) => AfterApply::VerificationFailed { failure },
            None => AfterApply::Done,
        };
        return Ok(ApplyOutcome {
            operation: operation.to_string(),
            executed: None,
            commit_error: None,
            after,
        });
    }
    if !settings.auto_approve {
        view.confirm()?;
    }
    let snapshot = match snapshot {
        Some(id) => Some(id),
        None => {
            let changed = plan.changes.iter().filter(|c| c.needs_apply());
            snapshot_before(session, &state, changed.map(|c| c.address.clone()), &live)?
        }
    };
    let on_step = |step: &StepOutcome| view.step_finished(step);
    let stop_watch = StopWatch::new(session);
    let halt = || stop_watch.check();
    let writer = session.backend.writer(state, lock)?;
    let inputs = ApplyInputs {
        plan: &plan,
        desired,
        live: &live,
        providers: &session.providers,
        redactor: &session.redactor,
        parallelism: settings
            .parallelism
            .or(session.loaded.project.parallelism)
            .unwrap_or(8),
        on_step: &on_step,
        halt: &halt,
    };
    let started = Instant::now();
    let mut entry = JournalEntry::begin(operation, command);
    entry.revision = session.loaded.desired.source.commit.clone();
    entry.summary = Some(crate::render::summary_line(&plan.summary));
    entry.snapshot = snapshot.clone();
    entry.details = notes;
    // From the first step to the journal entry, Ctrl-C lets the running steps finish and
    // records everything instead of leaving a half-written apply.
    let armed = super::interrupt::arm();
    let report = apply_plan(&inputs, writer);
    // Interrupted means Ctrl-C held some step back; one pressed after the last step started
    // interrupted nothing.
    let interrupted = super::interrupt::requested() && report.halted.is_some();
    entry.duration_ms = started.elapsed().as_millis() as u64;
    entry.outcome = if report.succeeded() {
        Outcome::Succeeded
    } else if report.failed() > 0 || report.state_error.is_some() {
        Outcome::Failed
    } else if interrupted {
        Outcome::Interrupted
    } else if report.halted.is_some() {
        Outcome::Halted
    } else {
        Outcome::Blocked
    };
    entry.details.extend(report.steps.iter().filter_map(|s| {
        let (label, message) = match &s.status {
            StepStatus::Applied => return None,
            StepStatus::Failed(m) => ("failed", m.clone()),
            StepStatus::Skipped(m) => ("skipped", m.clone()),
            StepStatus::Blocked(b) => ("blocked", b.to_string()),
        };
        Some(format!(
            "{label}: {} {}: {message}",
            s.action.as_str(),
            s.address
        ))
    }));
    let executed = Executed {
        steps: report.steps.clone(),
        state_error: report.state_error.is_some(),
        halted: report.halted.clone().filter(|_| !interrupted),
        interrupted,
        snapshot,
    };
    // Record everything that happened, even after failures, so a rerun converges.
    let committed = report
        .writer
        .commit(session.loaded.desired.source.commit.clone());
    if let Err(error) = session.backend.append_journal(&entry) {
        session.reporter.warn(&format!(
            "the journal could not record this {operation}: {error}"
        ));
    }
    drop(armed);
    // A state that could not be committed does not undo what ran: the checks still say
    // whether it works, and a rollback still puts the snapshot back.
    let commit_error = committed.err();
    if commit_error.is_none() {
        view.applied(&executed);
    }
    let mut outcome = ApplyOutcome {
        operation: operation.to_string(),
        executed: None,
        commit_error,
        after: AfterApply::Done,
    };
    if !wants_checks {
        outcome.executed = Some(executed);
        return Ok(outcome);
    }
    if executed.halted.is_some() || executed.interrupted {
        // An emergency stop is in force: checks would measure a stopped environment, and a
        // rollback would write to it. The stop's owner decides what comes next.
        outcome.executed = Some(executed);
        return Ok(outcome);
    }
    let failure = if executed.nothing_failed() {
        verify_after_apply(session, view, command)?
    } else {
        Some("a step of the apply failed".to_string())
    };
    outcome.after = match failure {
        None => AfterApply::Done,
        Some(failure) if !settings.rollback_on_failure => {
            AfterApply::VerificationFailed { failure }
        }
        Some(failure) => AfterApply::RolledBack(roll_back_failed_apply(
            session, view, lock, &executed, failure, started,
        )),
    };
    outcome.executed = Some(executed);
    Ok(outcome)
}

/// Answers "is an emergency stop in force?" for one apply, before each step, reading the
/// marker at most every 250 ms (on a workspace backend it is a request).
struct StopWatch<'a> {
    session: &'a Session,
    last: std::sync::Mutex<Option<(Instant, Option<String>)>>,
}

impl<'a> StopWatch<'a> {
    fn new(session: &'a Session) -> StopWatch<'a> {
        StopWatch {
            session,
            last: std::sync::Mutex::new(None),
        }
    }

    fn check(&self) -> Option<String> {
        if super::interrupt::requested() {
            return Some(super::interrupt::REASON.to_string());
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, answer)) = &*last
            && at.elapsed() < Duration::from_millis(250)
        {
            return answer.clone();
        }
        // A marker that cannot be read does not stop an apply: the stop that wrote it also
        // stopped the live systems, and the next apply refuses until `--resume`. The apply
        // lifted any earlier stop before it began, so a marker seen now was set while it ran.
        let answer = self
            .session
            .backend
            .stopped()
            .ok()
            .flatten()
            .map(|stop| format!("`lode stop` by {} at {}", stop.who, stop.started));
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}

/// Runs the checks after an apply (they see what was just applied); `None` when all pass,
/// else what failed.
fn verify_after_apply(
    session: &Session,
    view: &dyn ApplyView,
    command: &str,
) -> Result<Option<String>, StateError> {
    let checks = &session.loaded.desired.checks;
    if checks.is_empty() {
        session
            .reporter
            .warn("--verify: the manifests declare no `kind: check` documents; nothing to verify");
        return Ok(None);
    }
    let state = session.load_state()?;
    session
        .reporter
        .info(&format!("\nVerifying: {} checks", checks.len()));
    let results = super::verify::run_journaled(
        session,
        &state,
        checks,
        &VerifyOptions::after_change(),
        command,
    );
    view.verified(&results, &session.redactor);
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
/// verifies again, and records the incident in the journal.
fn roll_back_failed_apply(
    session: &Session,
    view: &dyn ApplyView,
    lock: &LockGuard,
    executed: &Executed,
    failure: String,
    apply_started: Instant,
) -> Rollback {
    let detected = apply_started.elapsed();
    let Some(snapshot) = executed.snapshot.as_deref() else {
        return Rollback {
            failure,
            snapshot: None,
            detected,
            recovery: Duration::ZERO,
            error: None,
        };
    };
    view.rolling_back(executed, &failure, snapshot);
    let command = format!("lode apply --rollback-on-failure (restore {snapshot})");
    let mut entry = JournalEntry::begin("rollback", &command);
    let settings = ApplySettings {
        auto_approve: true,
        ..ApplySettings::default()
    };
    // Verified here rather than by the restore's own apply: a restore with nothing left to
    // change (the failure came before any step) must still be validated.
    let restored = super::restore::restore_snapshot(
        session,
        lock,
        snapshot,
        &super::restore::DataChoice::default(),
        &settings,
        &RollbackView(view),
        &command,
    )
    .map_err(|e| e.to_string())
    .and_then(|outcome| {
        if let Some(error) = outcome.commit_error {
            return Err(error.to_string());
        }
        match outcome.executed.and_then(|e| e.problem()) {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    })
    .and_then(|()| match verify_after_apply(session, view, &command) {
        Ok(None) => Ok(()),
        Ok(Some(failure)) => Err(format!("after the restore, {failure}")),
        Err(error) => Err(format!(
            "after the restore, the checks could not run: {error}"
        )),
    });
    let recovered = apply_started.elapsed();
    entry.snapshot = Some(snapshot.to_string());
    entry.revision = session.loaded.desired.source.commit.clone();
    entry.duration_ms = (recovered - detected).as_millis() as u64;
    entry.details.push(format!("rolled back after: {failure}"));
    let error = restored.err().map(|e| session.redactor.text(&e));
    match &error {
        None => {
            entry.outcome = Outcome::Succeeded;
            entry.details.push(format!(
                "detected {:.1} s after the apply started; restored and verified {:.1} s later",
                detected.as_secs_f64(),
                (recovered - detected).as_secs_f64()
            ));
        }
        Some(error) => {
            entry.outcome = Outcome::Failed;
            entry.details.push(format!("the rollback failed: {error}"));
        }
    }
    if let Err(error) = session.backend.append_journal(&entry) {
        session.reporter.warn(&format!(
            "the journal could not record this rollback: {error}"
        ));
    }
    Rollback {
        failure,
        snapshot: Some(snapshot.to_string()),
        detected,
        recovery: recovered - detected,
        error,
    }
}

/// The caller's view for the restore inside a rollback: its plan is shown as a rollback plan,
/// and it is never asked about (the rollback was asked for with the apply).
struct RollbackView<'a>(&'a dyn ApplyView);

impl ApplyView for RollbackView<'_> {
    fn show_plan(&self, plan: &Plan, redactor: &Redactor, _role: PlanRole) {
        self.0.show_plan(plan, redactor, PlanRole::Rollback);
    }

    fn confirm(&self) -> Result<(), NotConfirmed> {
        Ok(())
    }

    fn step_finished(&self, step: &StepOutcome) {
        self.0.step_finished(step);
    }

    fn applied(&self, executed: &Executed) {
        self.0.applied(executed);
    }

    fn verified(&self, results: &[CheckResult], redactor: &Redactor) {
        self.0.verified(results, redactor);
    }

    fn rolling_back(&self, executed: &Executed, failure: &str, snapshot: &str) {
        self.0.rolling_back(executed, failure, snapshot);
    }

    fn show_data_restores(
        &self,
        restores: &[crate::provider::DataRestore],
        left_alone: &[(crate::manifest::Address, String)],
    ) {
        self.0.show_data_restores(restores, left_alone);
    }

    fn data_restored(&self, done: &str) {
        self.0.data_restored(done);
    }
}

/// Captures the live objects a plan will change (and their data markers) before it runs.
pub fn snapshot_before(
    session: &Session,
    state: &State,
    addresses: impl Iterator<Item = Address>,
    live: &BTreeMap<Address, LiveObject>,
) -> Result<Option<String>, ApplyError> {
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
    let snapshots = session.snapshots();
    let index = snapshots.capture(
        "before apply",
        // What is live: the revision last applied, not the one about to be.
        state.revision.clone(),
        &objects,
        &session.loaded.desired.secrets,
        &session.secret_places(state),
    )?;
    let keep = session.loaded.project.snapshot_retention.unwrap_or(20);
    snapshots.prune(keep)?;
    session.reporter.info(&format!(
        "Saved snapshot {} of the {} objects this apply changes.",
        index.id,
        index.resources.len()
    ));
    Ok(Some(index.id))
}
