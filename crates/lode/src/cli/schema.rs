//! `lode schema`: the JSON Schema of manifest documents, for editors.

use std::process::ExitCode;

use super::CommandError;
use super::printer;

/// Print the JSON Schema of manifest documents (for editor completion and checks, e.g.
/// `# yaml-language-server: $schema=lode.schema.json`).
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

pub fn run(_: &SchemaArgs) -> Result<ExitCode, CommandError> {
    let schema = crate::manifest::schema::manifest_schema();
    printer().json(&serde_json::to_value(&schema).expect("schemas serialise"));
    Ok(ExitCode::SUCCESS)
}
