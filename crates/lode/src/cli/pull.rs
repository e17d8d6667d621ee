//! `lode pull`: live edits back into the manifests (`app::pull`). It prints what was taken and
//! which files changed (stdout), shows each conflict with both values (stderr) and exits 1 for
//! them; `--check` exits 2 when live differs from the work tree, for CI.

use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{CommandError, ErrorClass, GlobalArgs, TextOrJson, printer};
use crate::app::pull::{PullError, PullOptions, PullOutcome, ShownConflict};
use crate::app::session::{Session, find_root};
use crate::manifest::ManifestFiles;
use crate::provider::Selector;

/// Bring edits made live (the Ignition Designer, the Databricks UI) into the manifests: only
/// the changed fields of the changed objects are rewritten, comments and formatting stay. A
/// field changed both in git since the last apply and live is a conflict: it is shown with
/// both values and its document is left alone (exit 1) unless --force. Afterwards `lode plan`
/// shows no change for what was pulled.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Pull only these (repeatable): a system (`ignition`), a kind (`tag`), an address prefix
    /// (`tag/Mining/Equipment`), a tag folder (`[default]Mining`), `project:NAME` or
    /// `schema:CATALOG.SCHEMA`.
    #[arg(long = "select", value_name = "SEL", value_parser = parse_selector)]
    pub select: Vec<Selector>,
    /// Take the live value of a field changed both in git and live.
    #[arg(long)]
    pub force: bool,
    /// Change nothing: exit 2 when live differs from the work tree (something to pull or a
    /// conflict), 0 when not.
    #[arg(long, conflicts_with = "force")]
    pub check: bool,
    /// text (default) or json (one document).
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

fn parse_selector(text: &str) -> Result<Selector, String> {
    Selector::parse(text).map_err(|e| e.to_string())
}

pub fn run(global: &GlobalArgs, args: &PullArgs) -> Result<ExitCode, CommandError> {
    let session_args = global.session();
    let root = find_root(session_args.dir.as_deref())?;
    crate::app::connect::reserve_local_endpoints(&root, &session_args.env);
    let files = ManifestFiles::from_work_tree(&root)?;
    let session = Session::from_files(&session_args, files.clone(), Arc::new(printer().clone()))?;
    let mut command = String::from("lode pull");
    for selector in &args.select {
        command.push_str(&format!(" --select {selector}"));
    }
    if args.force {
        command.push_str(" --force");
    }
    if args.check {
        command.push_str(" --check");
    }
    let options = PullOptions {
        selectors: args.select.clone(),
        force: args.force,
        check: args.check,
        command,
    };
    let outcome = crate::app::pull::pull(&session, &files, &options)?;
    if args.format == TextOrJson::Json {
        printer().json(&outcome_json(&outcome));
    } else {
        print_text(&outcome);
    }
    for conflict in &outcome.conflicts {
        printer().error_line(&format!("conflict: {}", conflict_line(conflict)));
    }
    for secret in &outcome.secrets {
        if !secret.set {
            printer().warning(&format!(
                "{} {} is written as `${{env.{}}}`; set {} before the next plan or apply",
                secret.address, secret.pointer, secret.env, secret.env
            ));
        }
    }
    if args.check {
        return Ok(if outcome.differs() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    if !outcome.conflicts.is_empty() {
        return Err(CommandError::user(format!(
            "{} field(s) changed both in git since the last apply and live; their documents are left as they are",
            outcome.conflicts.len()
        ))
        .hint("settle each by hand (edit the manifest to the value wanted, then `lode apply`), or take the live values with `lode pull --force`"));
    }
    Ok(ExitCode::SUCCESS)
}

fn shown(value: &Option<Value>) -> String {
    match value {
        Some(Value::String(text)) => format!("{text:?}"),
        Some(value) => value.to_string(),
        None => "(absent)".to_string(),
    }
}

/// Both sides of a conflict, each on one line: for a multi-line text, its first line that
/// differs from the other side's, with its number.
fn shown_pair(git: &Option<Value>, live: &Option<Value>) -> (String, String) {
    if let (Some(Value::String(git)), Some(Value::String(live))) = (git, live)
        && (git.contains('\n') || live.contains('\n'))
    {
        let git_lines: Vec<&str> = git.lines().collect();
        let live_lines: Vec<&str> = live.lines().collect();
        let first = (0..git_lines.len().max(live_lines.len()))
            .find(|&i| git_lines.get(i) != live_lines.get(i))
            .unwrap_or(0);
        let line = |lines: &[&str]| match lines.get(first) {
            Some(text) => format!("line {}: {text:?}", first + 1),
            None => format!("line {}: (absent)", first + 1),
        };
        return (line(&git_lines), line(&live_lines));
    }
    (shown(git), shown(live))
}

/// `KIND/NAME FIELD: git <v> ≠ live <v> (file:line)`.
fn conflict_line(conflict: &ShownConflict) -> String {
    let (git, live) = shown_pair(&conflict.git, &conflict.live);
    format!(
        "{} {}: git {git} ≠ live {live} ({}:{})",
        conflict.address, conflict.field, conflict.file, conflict.line
    )
}

fn print_text(outcome: &PullOutcome) {
    let out = printer();
    let verb = if outcome.check {
        "Would pull"
    } else {
        "Pulled"
    };
    for pulled in &outcome.pulled {
        out.data(&format!(
            "{verb} {}: {}\n",
            pulled.address,
            pulled.fields.join(", ")
        ));
    }
    for conflict in &outcome.forced {
        out.data(&format!(
            "Took live over git (--force): {}\n",
            conflict_line(conflict)
        ));
    }
    for file in &outcome.files {
        out.data(&format!("  wrote {file}\n"));
    }
    for (address, field) in &outcome.kept {
        out.data(&format!(
            "Kept {address} {field}: changed in git, not applied yet (`lode apply` writes it)\n"
        ));
    }
    for (address, field, why) in &outcome.untouchable {
        out.data(&format!("Not pulled {address} {field}: {why}\n"));
    }
    for (address, why) in &outcome.skipped {
        out.data(&format!("Skipped {address}: {why}\n"));
    }
    if outcome.pulled.is_empty() && outcome.conflicts.is_empty() {
        out.data("Nothing to pull: the manifests say what is live.\n");
    }
}

fn outcome_json(outcome: &PullOutcome) -> Value {
    let conflict = |c: &ShownConflict| {
        json!({
            "address": c.address.to_string(),
            "field": c.field,
            "git": c.git,
            "live": c.live,
            "file": c.file,
            "line": c.line,
        })
    };
    json!({
        "check": outcome.check,
        "pulled": outcome.pulled.iter().map(|p| json!({
            "address": p.address.to_string(),
            "fields": p.fields,
        })).collect::<Vec<_>>(),
        "files": outcome.files,
        "conflicts": outcome.conflicts.iter().map(conflict).collect::<Vec<_>>(),
        "forced": outcome.forced.iter().map(conflict).collect::<Vec<_>>(),
        "kept": outcome.kept.iter().map(|(a, f)| json!({"address": a.to_string(), "field": f})).collect::<Vec<_>>(),
        "untouchable": outcome.untouchable.iter().map(|(a, f, why)| json!({"address": a.to_string(), "field": f, "reason": why})).collect::<Vec<_>>(),
        "skipped": outcome.skipped.iter().map(|(a, why)| json!({"address": a.to_string(), "reason": why})).collect::<Vec<_>>(),
        "secrets": outcome.secrets.iter().map(|s| json!({"address": s.address.to_string(), "pointer": s.pointer, "env": s.env, "set": s.set})).collect::<Vec<_>>(),
    })
}

impl From<PullError> for CommandError {
    fn from(error: PullError) -> CommandError {
        match error {
            PullError::State(error) | PullError::Save(error) => error.into(),
            PullError::Recover(error) => error.into(),
            PullError::Refresh(error) => error.into(),
            PullError::NoMatch(_) => CommandError::user(error.to_string()),
            PullError::Edit(edit) => {
                let hint = edit.hint();
                CommandError::user(format!("{edit}; nothing was written")).hint(hint)
            }
            PullError::Unwritable { .. } => CommandError::user(error.to_string())
                .hint("edit that file by hand to say the live value, or fix the path, and run `lode pull` again"),
            PullError::ChangedMeanwhile { .. } => {
                CommandError::user(error.to_string()).hint("run `lode pull` again")
            }
            PullError::Write { .. } => CommandError::user(error.to_string())
                .with_class(ErrorClass::Config)
                .hint("check the permissions of the manifest folder; files written before the failure are listed by `git status`"),
            PullError::Reload(_) | PullError::Unfaithful { .. } | PullError::Spilled { .. } => {
                CommandError::user(error.to_string())
                    .with_class(ErrorClass::Internal)
                    .hint("this is a bug in lode pull; edit the manifest by hand and report the live value and the manifest")
            }
        }
    }
}
