//! `lode validate`: load and check every manifest and the environment, apply nothing.

use std::process::ExitCode;

use serde_json::json;

use super::{CommandError, GlobalArgs, TextOrJson};
use crate::app::session::{OpenSessionError, load_manifests};
use crate::manifest::LoadManifestsError;

/// Check the manifests and the environment file without reading or changing anything live.
/// Every problem is reported at once with its file, line and column.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Validate the manifests at this git revision instead of the work tree.
    #[arg(long)]
    pub rev: Option<String>,
    /// text, or json: `{"valid", "environment", "resources", "checks", "files",
    /// "diagnostics": [{"file", "line", "column", "message", "hint"}]}` on stdout (exit 1 when
    /// there are diagnostics).
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

pub fn run(global: &GlobalArgs, args: &ValidateArgs) -> Result<ExitCode, CommandError> {
    let printer = super::printer();
    let loaded = match load_manifests(&global.session(), args.rev.as_deref()) {
        Ok(loaded) => loaded,
        Err(OpenSessionError::Manifests(LoadManifestsError::Invalid(errors)))
            if args.format == TextOrJson::Json =>
        {
            printer.json(&json!({
                "valid": false,
                "environment": global.env,
                "diagnostics": errors,
            }));
            return Err(LoadManifestsError::Invalid(errors).into());
        }
        Err(error) => return Err(error.into()),
    };
    let resources = &loaded.desired.resources;
    let mut files: Vec<&str> = resources.values().map(|r| r.origin.file.as_str()).collect();
    files.sort();
    files.dedup();
    match args.format {
        TextOrJson::Json => printer.json(&json!({
            "valid": true,
            "environment": global.env,
            "resources": resources.len(),
            "checks": loaded.desired.checks.len(),
            "files": files.len(),
            "diagnostics": [],
        })),
        TextOrJson::Text => printer.data(&format!(
            "The manifests are valid: {} resources and {} checks in {} files (environment `{}`).\n",
            resources.len(),
            loaded.desired.checks.len(),
            files.len(),
            global.env
        )),
    }
    Ok(ExitCode::SUCCESS)
}
