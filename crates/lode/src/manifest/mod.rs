//! Manifests: reading the YAML documents under the manifest root (from the work tree or from any
//! git revision), validating all of them in one pass, and turning them into `Desired`, the plain
//! data the engine plans from. Nothing here talks to a live system.

mod checks;
mod databricks;
pub mod environment;
pub mod interpolate;
pub mod kinds;
mod load;
pub mod schema;
pub mod source;
pub mod table_data;
pub mod write;
mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use checks::is_table_name;
pub use databricks::normalize_workspace_path;
pub use environment::{EnvironmentConfig, ProjectConfig};
pub use kinds::Kind;
pub use load::{
    Loaded, gateway_file_name_problem, load_desired, locator, name_problem, payload_path,
};
pub use source::{ManifestFiles, SourceInfo};

/// A resource's address: `kind/name`, e.g. `tag/Mining/Equipment/CR_002`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub kind: Kind,
    pub name: String,
}

impl Address {
    pub fn new(kind: Kind, name: impl Into<String>) -> Address {
        Address {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// Why a text is not an address.
#[derive(Debug, thiserror::Error)]
pub enum ParseAddressError {
    #[error("`{0}` is not an address: expected `kind/name`, e.g. `udt/Crusher`")]
    Shape(String),
    #[error("`{0}` is not a kind; kinds are: {1}")]
    UnknownKind(String, String),
}

impl FromStr for Address {
    type Err = ParseAddressError;

    fn from_str(text: &str) -> Result<Address, ParseAddressError> {
        let (kind, name) = text
            .split_once('/')
            .filter(|(_, name)| !name.is_empty())
            .ok_or_else(|| ParseAddressError::Shape(text.to_string()))?;
        let kind = Kind::parse(kind)
            .ok_or_else(|| ParseAddressError::UnknownKind(kind.to_string(), kind_list()))?;
        Ok(Address::new(kind, name))
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The kinds, comma separated, for error messages.
pub fn kind_list() -> String {
    Kind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `lifecycle:` of a manifest.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// Refuse to delete the object; kept in state, so removing the manifest cannot remove it.
    #[serde(default)]
    pub protect: bool,
    /// When the manifest is removed, stop managing the object instead of deleting it.
    #[serde(default)]
    pub retain: bool,
    /// Tables only: where the rows come from, which decides whether `lode restore` puts them
    /// back. `seeded` (the default for a table with `rows`): lode writes them, a restore puts
    /// them back. `external` (the default otherwise: streaming targets, pipeline outputs):
    /// data arrives from outside lode and a restore leaves it alone unless the table is named
    /// with `--data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataLifecycle>,
}

/// `lifecycle.data` of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataLifecycle {
    /// Lode writes the rows (seed rows): a restore puts them back.
    Seeded,
    /// Rows arrive from outside lode: a restore never discards them unless told to.
    External,
}

/// Where a manifest document came from, for error messages and plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

/// One resource as the manifests want it.
#[derive(Debug, Clone)]
pub struct DesiredResource {
    pub address: Address,
    /// Canonical JSON: defaults applied, payload files inlined, variables interpolated.
    /// `${ref.kind.name.field}` placeholders stay until the engine resolves them.
    pub spec: Value,
    /// Explicit `depends_on` plus implicit references, sorted.
    pub depends_on: Vec<Address>,
    pub lifecycle: Lifecycle,
    /// `moved: {from: ADDRESS}`: the address it had before; its state entry (if any) is carried
    /// over to this one instead of being deleted and adopted.
    pub moved_from: Option<Address>,
    pub origin: Origin,
}

/// A verification check (`kind: check`): not a managed resource, so plans and applies never
/// see it; `lode verify` measures it against the live systems.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    /// The validated spec: defaults applied, `${var.x}` and `${env.X}` interpolated;
    /// `${ref.kind.name.field}` placeholders stay until verify resolves them from live objects.
    pub spec: kinds::CheckSpec,
    /// The resources its `${ref...}` placeholders name, sorted.
    pub references: Vec<Address>,
    pub origin: Origin,
}

/// Everything the manifests want, validated.
#[derive(Debug, Clone)]
pub struct Desired {
    pub resources: BTreeMap<Address, DesiredResource>,
    /// Verification checks, sorted by name; never part of a plan.
    pub checks: Vec<Check>,
    pub source: SourceInfo,
    /// Values that came from `${env.NAME}`: never printed, stored or logged.
    pub secrets: Vec<String>,
}

/// One problem in the manifests, with where it is and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The source line, when it is known.
    #[serde(skip)]
    pub source_line: Option<String>,
}

impl ManifestError {
    pub fn new(file: &str, line: usize, column: usize, message: impl Into<String>) -> Self {
        ManifestError {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
            hint: None,
            source_line: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Why the manifests could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadManifestsError {
    #[error("the manifests are invalid ({} problem{})", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Invalid(Vec<ManifestError>),
    #[error(transparent)]
    Source(#[from] source::ReadSourceError),
}
