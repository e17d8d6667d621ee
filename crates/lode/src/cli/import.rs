//! `lode import`: writes manifests for live objects lode does not manage yet and takes them
//! into state (`app::import`), so the next plan shows no changes. Prints what it wrote (or,
//! with `--dry-run`, would write), what it adopted, the secrets it wrote as `${env.NAME}` (by
//! name) and what it left out.

use std::process::ExitCode;

use serde_json::json;

use super::{CommandError, ErrorClass, GlobalArgs, TextOrJson, open_session, printer};
use crate::app::import::{ImportError, ImportOptions, ImportOutcome};
use crate::provider::Selector;

/// Import live objects lode does not manage: write their manifests and payload files under the
/// manifest root, then take them into state, so the next `lode plan` shows no changes. Objects
/// a manifest already declares are never imported again.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Only what this selects (repeatable): a system (`ignition`, `databricks`), a kind
    /// (`tag`), an address prefix (`tag/Mining/Equipment`), a tag folder
    /// (`[default]Mining/Equipment`), `project:NAME` or `schema:CATALOG.SCHEMA`.
    #[arg(long = "select", value_name = "SEL", value_parser = parse_selector)]
    pub select: Vec<Selector>,
    /// Also import the files of this workspace folder (repeatable); the folders of imported
    /// pipelines and Genie spaces are scanned anyway.
    #[arg(long = "workspace-folder", value_name = "PATH")]
    pub workspace_folder: Vec<String>,
    /// Write this table's rows as a seed file (`databricks/seeds/<table>.csv`; repeatable;
    /// the table's name or full name). The table needs a primary key.
    #[arg(long = "with-rows", value_name = "TABLE")]
    pub with_rows: Vec<String>,
    /// List what would be written and adopted; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

fn parse_selector(text: &str) -> Result<Selector, String> {
    Selector::parse(text).map_err(|e| e.to_string())
}

pub fn run(global: &GlobalArgs, args: &ImportArgs) -> Result<ExitCode, CommandError> {
    let mut session = open_session(global, None)?;
    let options = ImportOptions {
        selectors: args.select.clone(),
        workspace_folders: args.workspace_folder.clone(),
        with_rows: args.with_rows.clone(),
        dry_run: args.dry_run,
        command: command_line(),
    };
    let outcome = crate::app::import::import(&mut session, &options)?;
    match args.format {
        TextOrJson::Json => printer().json(&outcome_json(&outcome)),
        TextOrJson::Text => printer().data(&outcome_text(&outcome)),
    }
    Ok(ExitCode::SUCCESS)
}

fn command_line() -> String {
    let mut words = vec!["lode".to_string()];
    words.extend(std::env::args().skip(1));
    words.join(" ")
}

/// The `--format json` document: `files`, `adopted`, `secrets`, `skipped`, `warnings`.
fn outcome_json(outcome: &ImportOutcome) -> serde_json::Value {
    json!({
        "dry_run": outcome.dry_run,
        "files": outcome.files.iter().map(|f| json!({
            "path": f.path,
            "action": f.action.as_str(),
            "addresses": f.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "adopted": outcome.adopted.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "secrets": outcome.secrets.iter().map(|s| json!({
            "address": s.address.to_string(),
            "pointer": s.pointer,
            "env": s.env,
            "set": s.set,
        })).collect::<Vec<_>>(),
        "skipped": outcome.skipped.iter().map(|s| json!({
            "kind": s.kind.as_str(),
            "name": s.name,
            "reason": s.reason,
        })).collect::<Vec<_>>(),
        "warnings": outcome.warnings,
    })
}

/// The lines for people: files, adoptions, secrets, what was left out, and a summary.
fn outcome_text(outcome: &ImportOutcome) -> String {
    let mut out = String::new();
    let (would, wrote) = if outcome.dry_run {
        ("would ", "Would write")
    } else {
        ("", "Wrote")
    };
    for file in &outcome.files {
        let documents = file.addresses.len();
        out.push_str(&format!(
            "  {} {} ({} {})\n",
            file.action.as_str(),
            file.path,
            documents,
            if documents == 1 {
                "resource"
            } else {
                "resources"
            }
        ));
    }
    for address in &outcome.adopted {
        out.push_str(&format!("  {would}adopt {address}\n"));
    }
    for secret in &outcome.secrets {
        out.push_str(&format!(
            "  secret {} {} → ${{env.{}}}{}\n",
            secret.address,
            secret.pointer,
            secret.env,
            if secret.set { "" } else { " (not set)" }
        ));
    }
    for skipped in &outcome.skipped {
        out.push_str(&format!(
            "  skip {}/{}: {}\n",
            skipped.kind, skipped.name, skipped.reason
        ));
    }
    if outcome.adopted.is_empty() && outcome.files.is_empty() {
        out.push_str(&format!(
            "Nothing to import: {} live object(s) in scope are managed already.\n",
            outcome.already_managed
        ));
    } else {
        out.push_str(&format!(
            "{wrote} {} file(s); {} resource(s) {}adopted into state, {} left out.\n",
            outcome.files.len(),
            outcome.adopted.len(),
            if outcome.dry_run { "to be " } else { "" },
            outcome.skipped.len()
        ));
    }
    out
}

impl From<ImportError> for CommandError {
    fn from(error: ImportError) -> CommandError {
        match error {
            ImportError::State(error) => error.into(),
            ImportError::Recover(error) => error.into(),
            ImportError::Source(error) => error.into(),
            ImportError::Discover(error) => error.into(),
            ImportError::Render(error) => {
                let hint = error.hint();
                CommandError::user(format!("{error}; nothing was written or adopted")).hint(hint)
            }
            ImportError::Select(_) => CommandError::user(error.to_string())
                .hint("`lode import --dry-run` without --select lists what is live and not managed"),
            ImportError::WithRows { ref why, .. } => {
                let hint = if why.contains("primary key") {
                    "declare a PRIMARY KEY constraint on the table (ALTER TABLE ... ADD CONSTRAINT ... PRIMARY KEY (...)), or import it without --with-rows"
                } else {
                    "name the table by its name or catalog.schema.table, and select it (or drop --select)"
                };
                CommandError::user(format!("{error}; nothing was written or adopted")).hint(hint)
            }
            ImportError::Write { .. } => {
                CommandError::user(error.to_string()).with_class(ErrorClass::Config).hint(
                    "the files written before it were put back; nothing was adopted: fix the folder's permissions and run `lode import` again",
                )
            }
            ImportError::UnsafePath { .. } => CommandError::user(format!(
                "{error}; nothing was written or adopted"
            ))
            .hint("a live object's name leads outside the manifest root or onto an existing file: rename it live, or import around it with --select"),
            ImportError::Rendered(load) => {
                let manifest_errors = match load {
                    crate::manifest::LoadManifestsError::Invalid(errors) => errors,
                    crate::manifest::LoadManifestsError::Source(_) => Vec::new(),
                };
                CommandError {
                    manifest_errors,
                    ..CommandError::user(
                        "the manifests import wrote in memory do not load: a bug in lode's manifest writer",
                    )
                    .with_class(ErrorClass::Internal)
                    .hint("nothing was written or adopted; please report this with the output of `lode import --dry-run -v`")
                }
            }
        }
    }
}
