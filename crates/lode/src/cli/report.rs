//! `lode report incident`: a Markdown incident report built from the journal, following the old
//! runbook's template — summary, timeline (detection, rollback, restore, validation), what was
//! rolled back, durations and verification results.

use std::process::ExitCode;

use super::printer;
use super::{CommandError, GlobalArgs};
use crate::state::JournalEntry;
use crate::state::Outcome;

/// Reports built from the journal.
#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    Incident(IncidentArgs),
}

/// Print a Markdown incident report of the environment's journal.
#[derive(Debug, clap::Args)]
pub struct IncidentArgs {
    /// Start of the incident (RFC 3339, e.g. 2026-11-24T08:00:00Z); default: the last entry
    /// that did not succeed, or the whole journal.
    #[arg(long)]
    pub since: Option<String>,
}

fn is_recovery(entry: &JournalEntry) -> bool {
    matches!(
        entry.operation.as_str(),
        "rollback" | "restore" | "resume" | "stop" | "destroy"
    ) || entry.details.iter().any(|d| d.starts_with("rolled back"))
}

pub fn run(global: &GlobalArgs, command: &ReportCommand) -> Result<ExitCode, CommandError> {
    let ReportCommand::Incident(args) = command;
    let session = super::open_session(global, None)?;
    let read = session.backend.journal()?;
    // A damaged record is named and passed over; the report is built from the others.
    for skipped in &read.skipped {
        printer().warning(&skipped.to_string());
    }
    let journal = read.entries;
    let start = match &args.since {
        Some(since) => journal
            .iter()
            .position(|e| e.started.as_str() >= since.as_str())
            .unwrap_or(journal.len()),
        None => journal
            .iter()
            .position(|e| e.outcome != Outcome::Succeeded)
            .unwrap_or(0),
    };
    let entries = &journal[start..];
    printer().data(&format!(
        "# Incident report: environment `{}`\n\n",
        session.env_name
    ));
    if entries.is_empty() {
        printer().data("No journal entries in the period.\n");
        return Ok(ExitCode::SUCCESS);
    }
    let first = &entries[0];
    let detection = entries.iter().find(|e| e.outcome != Outcome::Succeeded);
    let recovery: Vec<&JournalEntry> = entries.iter().filter(|e| is_recovery(e)).collect();
    let validated = entries
        .iter()
        .rev()
        .find(|e| e.operation == "verify" && e.outcome == Outcome::Succeeded);
    printer().data("## Summary\n\n");
    printer().data(&format!(
        "- Period: {} to {}\n",
        first.started,
        entries.last().expect("not empty").started
    ));
    match detection {
        Some(d) => printer().data(&format!(
            "- Detected: {} — {} {} ({})\n",
            d.started,
            d.operation,
            d.outcome,
            d.summary.as_deref().unwrap_or("")
        )),
        None => printer().data("- Detected: no failed operation in the period\n"),
    }
    printer().data(&format!("- Recovery actions: {}\n", recovery.len()));
    match validated {
        Some(v) => printer().data(&format!("- Validated: {} (all checks passed)\n", v.started)),
        None => printer().data("- Validated: no successful `lode verify` in the period\n"),
    }
    let total: u64 = entries.iter().map(|e| e.duration_ms).sum();
    printer().data(&format!(
        "- Time spent in lode operations: {:.1} s\n\n",
        total as f64 / 1000.0
    ));
    printer().data("## Timeline\n\n");
    printer().data("| Time | Operation | Outcome | Duration | Revision | By | Summary |\n");
    printer().data("|---|---|---|---|---|---|---|\n");
    for entry in entries {
        let revision = entry
            .revision
            .as_deref()
            .map(|r| &r[..r.len().min(12)])
            .unwrap_or("-");
        printer().data(&format!(
            "| {} | {} | {} | {} ms | `{revision}` | {} | {} |\n",
            entry.started,
            entry.operation,
            entry.outcome,
            entry.duration_ms,
            entry.who,
            entry.summary.as_deref().unwrap_or("").replace('|', "\\|")
        ));
    }
    printer().data("\n## What was rolled back\n\n");
    if recovery.is_empty() {
        printer().data("Nothing was rolled back in the period.\n");
    }
    for entry in &recovery {
        printer().data(&format!(
            "- {} `{}` ({}){}\n",
            entry.started,
            entry.command,
            entry.outcome,
            entry
                .snapshot
                .as_ref()
                .map(|s| format!(", snapshot `{s}`"))
                .unwrap_or_default()
        ));
        for detail in &entry.details {
            printer().data(&format!("  - {detail}\n"));
        }
    }
    printer().data("\n## Verification results\n\n");
    let checks: Vec<&JournalEntry> = entries.iter().filter(|e| e.operation == "verify").collect();
    if checks.is_empty() {
        printer().data("No verification ran in the period.\n");
    }
    for entry in checks {
        printer().data(&format!("- {} — {}\n", entry.started, entry.outcome));
        for detail in &entry.details {
            printer().data(&format!("  - {detail}\n"));
        }
    }
    printer().data("\n## Failures\n\n");
    let failures: Vec<&String> = entries
        .iter()
        .filter(|e| e.outcome != Outcome::Succeeded)
        .flat_map(|e| &e.details)
        .collect();
    if failures.is_empty() {
        printer().data("None recorded.\n");
    }
    for failure in failures {
        printer().data(&format!("- {failure}\n"));
    }
    Ok(ExitCode::SUCCESS)
}
