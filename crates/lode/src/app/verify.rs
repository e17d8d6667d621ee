//! Verification as a workflow: run the `kind: check` manifests against a session's live
//! systems and record the run in the journal. `lode verify`, `apply --verify`, the rollback
//! after a failed apply and `lode status` all verify through here.

use crate::app::session::Session;
use crate::manifest::Check;
use crate::state::{JournalEntry, Outcome, State, StateError};
use crate::verify::{self, CheckResult, CheckStatus, VerifyContext, VerifyOptions, format_value};

/// Why checks could not be run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("there is no check `{name}`")]
    UnknownCheck { name: String, known: Vec<String> },
    #[error(transparent)]
    State(#[from] StateError),
}

/// Runs the checks named in `names` (all when empty), journaled as `command`. An empty
/// result means the manifests declare no checks.
pub fn verify(
    session: &Session,
    names: &[String],
    options: &VerifyOptions,
    command: &str,
) -> Result<Vec<CheckResult>, VerifyError> {
    let all = &session.loaded.desired.checks;
    if let Some(name) = names
        .iter()
        .find(|name| !all.iter().any(|c| &c.name == *name))
    {
        return Err(VerifyError::UnknownCheck {
            name: name.clone(),
            known: all.iter().map(|c| c.name.clone()).collect(),
        });
    }
    let selected: Vec<Check> = all
        .iter()
        .filter(|c| names.is_empty() || names.contains(&c.name))
        .cloned()
        .collect();
    if selected.is_empty() {
        return Ok(Vec::new());
    }
    let state = session.load_state()?;
    Ok(run_journaled(session, &state, &selected, options, command))
}

/// Runs `checks` and records them in the journal.
pub fn run_journaled(
    session: &Session,
    state: &State,
    checks: &[Check],
    options: &VerifyOptions,
    command: &str,
) -> Vec<CheckResult> {
    let entry = JournalEntry::begin("verify", command);
    let started = std::time::Instant::now();
    let results = verify_session(session, state, checks, options);
    record_verification(session, entry, &results, started.elapsed());
    results
}

/// Runs `checks` against the session's environment: reads the live objects their
/// `${ref...}` placeholders name (a failed read makes only those checks ERROR), then measures.
pub fn verify_session(
    session: &Session,
    state: &State,
    checks: &[Check],
    options: &VerifyOptions,
) -> Vec<CheckResult> {
    let addresses = verify::referenced_addresses(checks);
    let (live, live_error) = if addresses.is_empty() {
        (Default::default(), None)
    } else {
        match session.refresh(state, addresses) {
            Ok(live) => (live, None),
            Err(error) => (
                Default::default(),
                Some(format!("reading the live environment failed: {error}")),
            ),
        }
    };
    let mut context = VerifyContext::new(
        &session.loaded.environment,
        &session.root,
        &session.providers,
        live,
    );
    context.live_error = live_error;
    context.since_ms = options.after_change_ms;
    let mut results = verify::run_checks(checks, &context, options);
    if options.after_change_ms.is_some() {
        settle(session, checks, &context, options, &mut results);
    }
    results
}

/// How often a check that is settling is measured again.
const SETTLE_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// After a change, measures each failing check that has `settle_seconds` again, until it
/// passes or its time is up: data takes seconds to flow through a changed system, and a flow
/// check that failed on its first look says nothing yet. Stops early on Ctrl-C.
fn settle(
    session: &Session,
    checks: &[Check],
    context: &VerifyContext,
    options: &VerifyOptions,
    results: &mut [CheckResult],
) {
    let started = std::time::Instant::now();
    let mut announced = false;
    loop {
        let waiting: Vec<usize> = (0..checks.len())
            .filter(|&i| {
                matches!(results[i].status, CheckStatus::Fail | CheckStatus::Error)
                    && checks[i]
                        .spec
                        .settle_seconds
                        .is_some_and(|s| started.elapsed() < std::time::Duration::from_secs(s))
            })
            .collect();
        if waiting.is_empty() || super::interrupt::requested() {
            return;
        }
        if !announced {
            let names: Vec<&str> = waiting.iter().map(|&i| checks[i].name.as_str()).collect();
            session.reporter.info(&format!(
                "Waiting for {} to pass (data takes a moment to flow after a change)",
                names.join(", ")
            ));
            announced = true;
        }
        std::thread::sleep(SETTLE_POLL);
        let again: Vec<Check> = waiting.iter().map(|&i| checks[i].clone()).collect();
        for (i, result) in waiting
            .into_iter()
            .zip(verify::run_checks(&again, context, options))
        {
            results[i] = result;
        }
    }
}

/// Adds a `verify` entry to the journal (one detail line per check), so `lode history` and the
/// incident report show when the environment was last validated. A journal that cannot be
/// written is a warning: the checks already ran and their result stands.
/// `entry` is begun before the checks run, so the journal shows when they started.
fn record_verification(
    session: &Session,
    mut entry: JournalEntry,
    results: &[CheckResult],
    duration: std::time::Duration,
) {
    entry.duration_ms = duration.as_millis() as u64;
    entry.revision = session.loaded.desired.source.commit.clone();
    entry.outcome = if verify::all_passed(results) {
        Outcome::Succeeded
    } else {
        Outcome::Failed
    };
    let passed = results
        .iter()
        .filter(|r| r.status == CheckStatus::Pass)
        .count();
    entry.summary = Some(format!("{passed} of {} checks passed", results.len()));
    entry.details = results
        .iter()
        .map(|r| {
            session.redactor.text(&format!(
                "{} {}: {} (expected {})",
                r.status.as_str(),
                r.name,
                format_value(&r.value),
                r.expected
            ))
        })
        .collect();
    if let Err(error) = session.backend.append_journal(&entry) {
        session.reporter.warn(&format!(
            "the journal could not record this verification: {error}"
        ));
    }
}
