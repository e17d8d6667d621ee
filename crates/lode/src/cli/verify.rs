//! `lode verify`: run the `kind: check` manifests against the environment's live systems in
//! parallel and print each with its measured value, expectation and time. Exit 0 when every
//! check of severity `error` passes, 1 otherwise. `verify_session` and `render_text` are what
//! other commands (`apply --verify`) reuse.

use std::process::ExitCode;

use super::printer;
use super::{CommandError, GlobalArgs, TextOrJson};
use crate::app::session::Session;
use crate::manifest::Check;
use crate::manifest::kinds::CheckSeverity;
use crate::redact::Redactor;
use crate::state::Outcome;
use crate::state::State;
use crate::verify::{self, CheckResult, CheckStatus, VerifyContext, VerifyOptions, format_value};

/// Run the verification checks (`kind: check` manifests: row counts, tag counts, pipeline
/// state, data freshness, HTTP, Genie) against the live environment, in parallel. Prints each
/// check with its status (PASS, FAIL, ERROR), measured value, expectation and time. Exits 0
/// when every check passes (checks with `severity: warning` are reported but never fail), 1
/// otherwise. Changes nothing.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// `text` (one line per check) or `json` (an array of objects with name, type, status,
    /// severity, value, expected, duration_ms, message).
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
    /// Run only these checks, by name. Repeatable.
    #[arg(long = "check", value_name = "NAME")]
    pub checks: Vec<String>,
    /// How many checks run at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
}

pub fn run(global: &GlobalArgs, args: &VerifyArgs) -> Result<ExitCode, CommandError> {
    let session = super::open_session(global, None)?;
    let all = &session.loaded.desired.checks;
    let unknown: Vec<&String> = args
        .checks
        .iter()
        .filter(|name| !all.iter().any(|c| &c.name == *name))
        .collect();
    if let Some(name) = unknown.first() {
        let names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
        return Err(
            CommandError::user(format!("there is no check `{name}`")).hint(if names.is_empty() {
                "the manifests declare no checks; add `kind: check` documents".to_string()
            } else {
                format!("checks: {}", names.join(", "))
            }),
        );
    }
    let selected: Vec<Check> = all
        .iter()
        .filter(|c| args.checks.is_empty() || args.checks.contains(&c.name))
        .cloned()
        .collect();
    if selected.is_empty() {
        match args.format {
            TextOrJson::Json => printer().data("[]\n"),
            TextOrJson::Text => {
                printer().data("No checks: the manifests declare no `kind: check` documents.\n")
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let state = session.load_state()?;
    let options = VerifyOptions {
        parallelism: usize::from(args.parallelism),
    };
    let entry = crate::state::JournalEntry::begin("verify", "lode verify");
    let started = std::time::Instant::now();
    let results = verify_session(&session, &state, &selected, &options);
    record_verification(&session, entry, &results, started.elapsed());
    match args.format {
        TextOrJson::Json => {
            let value = session
                .redactor
                .value(&serde_json::to_value(&results).expect("results serialise"));
            printer().json(&serde_json::to_value(&value).expect("JSON serialises"));
        }
        TextOrJson::Text => printer().data(&render_text(&results, &session.redactor)),
    }
    Ok(if verify::all_passed(&results) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
    verify::run_checks(checks, &context, options)
}

/// Adds a `verify` entry to the journal (one detail line per check), so `lode history` and the
/// incident report show when the environment was last validated. A journal that cannot be
/// written is a warning: the checks already ran and their result stands.
/// `entry` is begun before the checks run, so the journal shows when they started.
pub fn record_verification(
    session: &Session,
    mut entry: crate::state::JournalEntry,
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
        printer().warning(&format!(
            "the journal could not record this verification: {error}"
        ));
    }
}

/// One line per check (status, name, measured value, expectation, time, and why it did not
/// pass), then a summary line; secrets masked.
pub fn render_text(results: &[CheckResult], redactor: &Redactor) -> String {
    let name_width = results.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let values: Vec<String> = results.iter().map(|r| format_value(&r.value)).collect();
    let value_width = values.iter().map(|v| v.chars().count()).max().unwrap_or(0);
    let expected_width = results
        .iter()
        .map(|r| r.expected.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (result, value) in results.iter().zip(&values) {
        let mut line = format!(
            "{:<5}  {:<name_width$}  {:<value_width$}  expected {:<expected_width$}  {:>6} ms",
            result.status.as_str(),
            result.name,
            value,
            result.expected,
            result.duration_ms,
        );
        if result.status != CheckStatus::Pass {
            // One line per check: the first line of a long message (JSON has all of it).
            if let Some(message) = result.message.as_deref().and_then(|m| m.lines().next()) {
                line.push_str(&format!("  {message}"));
            }
            if result.severity == CheckSeverity::Warning {
                line.push_str("  (severity warning: reported, does not fail verify)");
            }
        }
        out.push_str(redactor.text(line.trim_end()).as_str());
        out.push('\n');
    }
    let passed = results
        .iter()
        .filter(|r| r.status == CheckStatus::Pass)
        .count();
    let warnings = results
        .iter()
        .filter(|r| r.status != CheckStatus::Pass && !r.is_blocking())
        .count();
    let failing = results.iter().filter(|r| r.is_blocking()).count();
    let slowest = results.iter().map(|r| r.duration_ms).max().unwrap_or(0);
    let mut summary = format!(
        "{}: {passed} of {} checks passed",
        if failing == 0 {
            "Verification passed"
        } else {
            "Verification FAILED"
        },
        results.len()
    );
    if failing > 0 {
        summary.push_str(&format!(", {failing} failed"));
    }
    if warnings > 0 {
        summary.push_str(&format!(
            ", {warnings} warning{}",
            if warnings == 1 { "" } else { "s" }
        ));
    }
    summary.push_str(&format!(" (slowest {slowest} ms).\n"));
    out.push_str(&summary);
    out
}
