//! `lode report incident`: a Markdown incident report built from the journal, following the old
//! runbook's template — summary, timeline (detection, rollback, restore, validation), what was
//! rolled back, durations and verification results.

use std::process::ExitCode;

use super::workspace::Workspace;
use super::{CommandError, GlobalArgs};
use crate::state::JournalEntry;

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
    let workspace = Workspace::open(global, None)?;
    let journal = workspace.backend.journal()?;
    let start = match &args.since {
        Some(since) => journal
            .iter()
            .position(|e| e.started.as_str() >= since.as_str())
            .unwrap_or(journal.len()),
        None => journal
            .iter()
            .position(|e| e.outcome != "succeeded")
            .unwrap_or(0),
    };
    let entries = &journal[start..];
    println!("# Incident report: environment `{}`\n", workspace.env_name);
    if entries.is_empty() {
        println!("No journal entries in the period.");
        return Ok(ExitCode::SUCCESS);
    }
    let first = &entries[0];
    let detection = entries.iter().find(|e| e.outcome != "succeeded");
    let recovery: Vec<&JournalEntry> = entries.iter().filter(|e| is_recovery(e)).collect();
    let validated = entries
        .iter()
        .rev()
        .find(|e| e.operation == "verify" && e.outcome == "succeeded");
    println!("## Summary\n");
    println!(
        "- Period: {} to {}",
        first.started,
        entries.last().expect("not empty").started
    );
    match detection {
        Some(d) => println!(
            "- Detected: {} — {} {} ({})",
            d.started,
            d.operation,
            d.outcome,
            d.summary.as_deref().unwrap_or("")
        ),
        None => println!("- Detected: no failed operation in the period"),
    }
    println!("- Recovery actions: {}", recovery.len());
    match validated {
        Some(v) => println!("- Validated: {} (all checks passed)", v.started),
        None => println!("- Validated: no successful `lode verify` in the period"),
    }
    let total: u64 = entries.iter().map(|e| e.duration_ms).sum();
    println!(
        "- Time spent in lode operations: {:.1} s\n",
        total as f64 / 1000.0
    );
    println!("## Timeline\n");
    println!("| Time | Operation | Outcome | Duration | Revision | By | Summary |");
    println!("|---|---|---|---|---|---|---|");
    for entry in entries {
        let revision = entry
            .revision
            .as_deref()
            .map(|r| &r[..r.len().min(12)])
            .unwrap_or("-");
        println!(
            "| {} | {} | {} | {} ms | `{revision}` | {} | {} |",
            entry.started,
            entry.operation,
            entry.outcome,
            entry.duration_ms,
            entry.who,
            entry.summary.as_deref().unwrap_or("").replace('|', "\\|")
        );
    }
    println!("\n## What was rolled back\n");
    if recovery.is_empty() {
        println!("Nothing was rolled back in the period.");
    }
    for entry in &recovery {
        println!(
            "- {} `{}` ({}){}",
            entry.started,
            entry.command,
            entry.outcome,
            entry
                .snapshot
                .as_ref()
                .map(|s| format!(", snapshot `{s}`"))
                .unwrap_or_default()
        );
        for detail in &entry.details {
            println!("  - {detail}");
        }
    }
    println!("\n## Verification results\n");
    let checks: Vec<&JournalEntry> = entries.iter().filter(|e| e.operation == "verify").collect();
    if checks.is_empty() {
        println!("No verification ran in the period.");
    }
    for entry in checks {
        println!("- {} — {}", entry.started, entry.outcome);
        for detail in &entry.details {
            println!("  - {detail}");
        }
    }
    println!("\n## Failures\n");
    let failures: Vec<&String> = entries
        .iter()
        .filter(|e| e.outcome != "succeeded")
        .flat_map(|e| &e.details)
        .collect();
    if failures.is_empty() {
        println!("None recorded.");
    }
    for failure in failures {
        println!("- {failure}");
    }
    Ok(ExitCode::SUCCESS)
}
