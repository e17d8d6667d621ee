//! `lode graph`: the dependency graph of the manifests as Graphviz DOT.

use std::process::ExitCode;

use super::printer;
use super::{CommandError, GlobalArgs};
use crate::app::session::load_manifests;

/// Print the dependency graph of the manifests as Graphviz DOT (`lode graph | dot -Tsvg`).
/// An edge points from a resource to what it depends on.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Read the manifests at this git revision.
    #[arg(long)]
    pub rev: Option<String>,
}

pub fn run(global: &GlobalArgs, args: &GraphArgs) -> Result<ExitCode, CommandError> {
    let loaded = load_manifests(&global.session(), args.rev.as_deref())?;
    printer().data(&crate::engine::graph::to_dot(&loaded.desired));
    Ok(ExitCode::SUCCESS)
}
