//! `lode verify`: run the `kind: check` manifests against the environment's live systems in
//! parallel and print each with its measured value, expectation and time. Exit 0 when every
//! check of severity `error` passes, 1 otherwise. The checks run in `app::verify`;
//! `render_text` is what other commands (`apply --verify`) reuse to show them.

use std::process::ExitCode;

use super::printer;
use super::{CommandError, GlobalArgs, TextOrJson};
use crate::app;
use crate::app::verify::VerifyError;
use crate::manifest::kinds::CheckSeverity;
use crate::redact::Redactor;
use crate::verify::{self, CheckResult, CheckStatus, VerifyOptions, format_value};

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
    let options = VerifyOptions {
        parallelism: usize::from(args.parallelism),
        ..VerifyOptions::default()
    };
    let results = app::verify::verify(&session, &args.checks, &options, "lode verify")?;
    match args.format {
        TextOrJson::Json => {
            let value = session
                .redactor
                .value(&serde_json::to_value(&results).expect("results serialise"));
            printer().json(&value);
        }
        TextOrJson::Text if results.is_empty() => {
            printer().data("No checks: the manifests declare no `kind: check` documents.\n")
        }
        TextOrJson::Text => printer().data(&render_text(&results, &session.redactor)),
    }
    Ok(if verify::all_passed(&results) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

impl From<VerifyError> for CommandError {
    fn from(error: VerifyError) -> CommandError {
        match error {
            VerifyError::UnknownCheck { ref known, .. } => {
                let hint = if known.is_empty() {
                    "the manifests declare no checks; add `kind: check` documents".to_string()
                } else {
                    format!("checks: {}", known.join(", "))
                };
                CommandError::user(error.to_string()).hint(hint)
            }
            VerifyError::State(error) => error.into(),
        }
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
            if result.severity == CheckSeverity::Warning && result.status != CheckStatus::Skip {
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
        .filter(|r| matches!(r.status, CheckStatus::Fail | CheckStatus::Error) && !r.is_blocking())
        .count();
    let skipped = results
        .iter()
        .filter(|r| r.status == CheckStatus::Skip)
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
    if skipped > 0 {
        summary.push_str(&format!(", {skipped} skipped"));
    }
    summary.push_str(&format!(" (slowest {slowest} ms).\n"));
    out.push_str(&summary);
    out
}
