//! `lode plan`: refresh, diff and print what `apply` would do; optionally save it.

use std::process::ExitCode;

use super::printer;
use super::{CommandError, GlobalArgs};
use crate::engine::plan::{Plan, PlanOptions};
use crate::redact::Redactor;
use crate::render;

/// Output formats of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

/// Options shared by plan, apply and rollback.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanSelection {
    /// Limit the plan to these resources: an address (`udt/Crusher`), a kind (`gateway_script`),
    /// a system (`ignition`) or an address prefix (`tag/Mining/Equipment`). Repeatable.
    #[arg(long = "target", value_name = "ADDR|KIND|PREFIX")]
    pub targets: Vec<String>,
    /// Allow deleting resources marked `lifecycle.protect` (kept in state).
    #[arg(long)]
    pub allow_delete_protected: bool,
    /// Allow changes that destroy table data: dropping tables or columns, retyping columns,
    /// deleting a pipeline together with its datasets.
    #[arg(long)]
    pub allow_data_loss: bool,
    /// Allow pipeline updates to run as full refreshes (recomputing every dataset).
    #[arg(long)]
    pub allow_full_refresh: bool,
    /// Configuration only: skip (and list) every step that would change table data.
    #[arg(long)]
    pub no_data: bool,
}

impl PlanSelection {
    pub fn options(&self) -> PlanOptions {
        PlanOptions {
            targets: self.targets.clone(),
            allow_delete_protected: self.allow_delete_protected,
            allow_data_loss: self.allow_data_loss,
            allow_full_refresh: self.allow_full_refresh,
            no_data: self.no_data,
            limitations: Vec::new(),
        }
    }
}

/// Show what `lode apply` would change: reads the live environment, compares it with the
/// manifests and with what lode last applied, and prints the changes. Changes nothing.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Plan the manifests at this git revision (read through git, the work tree is untouched).
    #[arg(long)]
    pub rev: Option<String>,
    #[command(flatten)]
    pub selection: PlanSelection,
    /// text (default), json (`docs/plan-format.md`) or markdown (for pull-request comments).
    #[arg(long, value_enum, default_value = "text")]
    pub format: PlanFormat,
    /// Save the plan to this file; `lode apply FILE` executes exactly it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Prints a plan in the chosen format to stdout.
pub fn print_plan(plan: &Plan, format: PlanFormat, redactor: &Redactor) {
    let text = match format {
        PlanFormat::Text => render::text::render(
            plan,
            render::text::TextStyle {
                color: printer().stdout_color(),
            },
            redactor,
        ),
        PlanFormat::Json => return printer().document(&render::json::render(plan, redactor)),
        PlanFormat::Markdown => render::markdown::render(plan, redactor),
    };
    printer().data(&text);
}

pub fn run(global: &GlobalArgs, args: &PlanArgs) -> Result<ExitCode, CommandError> {
    let session = super::open_session(global, args.rev.as_deref())?;
    let state = session.load_state()?;
    if let Some(stop) = session.backend.stopped()? {
        printer().status(&format!("note: environment `{}` is stopped (`lode stop` by {} at {}); `lode apply --resume` lifts the stop",
            session.env_name, stop.who, stop.started));
    }
    let (plan, _) = session.plan(&state, &args.selection.options())?;
    print_plan(&plan, args.format, &session.redactor);
    if let Some(out) = &args.out {
        std::fs::write(out, render::json::render(&plan, &session.redactor))
            .map_err(|e| CommandError::user(format!("cannot write {}: {e}", out.display())))?;
        printer().status(&format!(
            "Saved the plan to {}. Apply exactly it with: lode apply {}",
            out.display(),
            out.display()
        ));
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
