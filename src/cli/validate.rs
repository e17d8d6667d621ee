//! `lode validate`: load and check every manifest and the environment, apply nothing.

use std::process::ExitCode;

use super::workspace::load_manifests;
use super::{CommandError, GlobalArgs};

/// Check the manifests and the environment file without reading or changing anything live.
/// Every problem is reported at once with its file, line and column.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Validate the manifests at this git revision instead of the work tree.
    #[arg(long)]
    pub rev: Option<String>,
}

pub fn run(global: &GlobalArgs, args: &ValidateArgs) -> Result<ExitCode, CommandError> {
    let loaded = load_manifests(global, args.rev.as_deref())?;
    let resources = &loaded.desired.resources;
    let mut files: Vec<&str> = resources.values().map(|r| r.origin.file.as_str()).collect();
    files.sort();
    files.dedup();
    println!(
        "The manifests are valid: {} resources and {} checks in {} files (environment `{}`).",
        resources.len(),
        loaded.desired.checks.len(),
        files.len(),
        global.env
    );
    Ok(ExitCode::SUCCESS)
}
