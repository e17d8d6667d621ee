//! `lode history`: the environment's journal — every apply, rollback, restore, stop and resume,
//! with who, when, which revision, the plan summary, how long, how it ended and the snapshot.

use std::process::ExitCode;

use super::{CommandError, GlobalArgs};

/// Show what was done to the environment, oldest first.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// text (default) or json (an array of journal records).
    #[arg(long, value_enum, default_value = "text")]
    pub format: super::TextOrJson,
    /// Only the last N records.
    #[arg(long)]
    pub last: Option<usize>,
}

pub fn run(global: &GlobalArgs, args: &HistoryArgs) -> Result<ExitCode, CommandError> {
    let printer = super::printer();
    let session = super::open_session(global, None)?;
    let journal = session.backend.journal()?;
    // A damaged record is named and passed over; it hides nothing after it.
    for skipped in &journal.skipped {
        printer.warning(&skipped.to_string());
    }
    let mut entries = journal.entries;
    if let Some(last) = args.last {
        let skip = entries.len().saturating_sub(last);
        entries.drain(..skip);
    }
    if args.format == super::TextOrJson::Json {
        printer.json(&serde_json::to_value(&entries).expect("journal entries serialise"));
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        printer.data(&format!(
            "No history for environment `{}` yet.\n",
            session.env_name
        ));
        return Ok(ExitCode::SUCCESS);
    }
    for entry in &entries {
        let revision = entry
            .revision
            .as_deref()
            .map(|r| &r[..r.len().min(12)])
            .unwrap_or("-");
        printer.data(&format!(
            "{}  {:<9} {:<10} {:>6} ms  rev {revision}  by {}  {}\n",
            entry.started,
            entry.operation,
            entry.outcome,
            entry.duration_ms,
            entry.who,
            entry.summary.as_deref().unwrap_or("")
        ));
        if let Some(snapshot) = &entry.snapshot {
            printer.data(&format!("    snapshot {snapshot}\n"));
        }
        for detail in &entry.details {
            printer.data(&format!("    {detail}\n"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
