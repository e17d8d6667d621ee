//! `lode.yaml` (the project: name, variable defaults, settings) and `environments/<name>.yaml`
//! (where manifests are applied: provider endpoints and transports, variables, state backend).
//! `local` is built in: with no `environments/local.yaml`, it applies to a gateway data folder
//! under `.lode/local/` in the manifest root, so a fresh clone needs no flags. An environment file
//! may start from a built-in environment (`extends: local`) and add to it, e.g. the settings of
//! an active probe.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::yaml;
use super::{ManifestError, ManifestFiles};

/// `lode.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// The project's name, used in plans and lock holders.
    pub project: String,
    /// Defaults for `${var.x}`; an environment may override each.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// How many changes `apply` runs at once (default 8).
    #[serde(default)]
    pub parallelism: Option<usize>,
    /// How many snapshots to keep per environment (default 20); older ones are pruned.
    #[serde(default)]
    pub snapshot_retention: Option<usize>,
}

/// `environments/<name>.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// In `environments/local.yaml` (`extends: local`) or `environments/local-api.yaml`
    /// (`extends: local-api`): start from the built-in environment of that name (its emulators,
    /// data folder and variables) and add this file's sections to it (variables and
    /// `env_defaults` key by key; other sections replace the built-in's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Values for `${var.x}`; they override `lode.yaml`. `${env.NAME}` is allowed here.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub ignition: Option<IgnitionConfig>,
    #[serde(default)]
    pub databricks: Option<DatabricksConfig>,
    #[serde(default)]
    pub state: StateConfig,
    /// Values for `${env.NAME}` when the variable is not set (for local use: the built-in
    /// environments give the demo's secrets harmless defaults). Still masked as secrets.
    #[serde(default)]
    pub env_defaults: BTreeMap<String, String>,
    /// Allows `probe` checks to write to one tag, and says how. Without it (the default) no
    /// check writes anything and `probe` checks are skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeConfig>,
}

/// What an active probe may write, and how. The environment, not the check, names the tag and
/// the value, so a manifest change alone cannot make verification write to another tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The only tag the probe writes, `[provider]Folder/Tag`: one the Zerobus connector streams
    /// and that no control logic acts on.
    pub tag: String,
    /// The value written: this number plus a fraction from 0.001 to 0.999 that tells this run's
    /// write from earlier ones.
    pub value: f64,
    /// How the value is written.
    pub write: ProbeWrite,
}

/// How a probe writes its value. Ignition 8.3's HTTP API has no tag write, so a real gateway
/// needs a command the site provides (an OPC UA client, a WebDev endpoint, a gateway message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ProbeWrite {
    /// The gateway emulator's operator write (the built-in environments' gateway, live).
    Emulator,
    /// Runs this command; `{tag}` and `{value}` in its arguments, and the environment variables
    /// `LODE_PROBE_TAG` and `LODE_PROBE_VALUE`, give the write. Exit status 0 means written.
    Command(Vec<String>),
}

/// How `lode` reaches the Databricks workspace.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabricksConfig {
    /// Run the workspace emulator in-process (the `local` environment) instead of a real host.
    #[serde(default)]
    pub emulator: bool,
    /// The workspace URL; otherwise DATABRICKS_HOST or the profile's `host`.
    #[serde(default)]
    pub host: Option<String>,
    /// A `~/.databrickscfg` profile; otherwise DATABRICKS_CONFIG_PROFILE or `[DEFAULT]`.
    #[serde(default)]
    pub profile: Option<String>,
    /// The name of an environment variable holding a personal access token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// The SQL warehouse for statements and Genie; default: the first the workspace lists.
    #[serde(default)]
    pub warehouse_id: Option<String>,
    /// How long to wait for a pipeline update to reach RUNNING or COMPLETED (default 600).
    #[serde(default)]
    pub pipeline_timeout_seconds: Option<u64>,
}

/// How `lode` reaches the Ignition gateway.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IgnitionConfig {
    /// `files`: read and write the gateway's data directory (and ask it to scan, when
    /// `gateway_url` is set); `api`: only the gateway's HTTP API.
    #[serde(default)]
    pub transport: IgnitionTransport,
    /// The gateway data directory (with `projects/` and `config/`), relative to the manifest
    /// root; needed by the `files` transport.
    #[serde(default)]
    pub data_dir: Option<String>,
    /// The gateway's URL, e.g. `http://gateway:8088`: scans, the API transport, Zerobus.
    #[serde(default)]
    pub gateway_url: Option<String>,
    /// The name of the environment variable holding the API token (`name:secret`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Run the gateway emulator in-process on `data_dir` (the built-in local environments).
    #[serde(default)]
    pub emulator: bool,
    /// The config resource collection tags are written to (default `core`).
    #[serde(default = "default_collection")]
    pub collection: String,
}

fn default_collection() -> String {
    "core".to_string()
}

/// Ignition transports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IgnitionTransport {
    #[default]
    Files,
    Api,
}

/// Where state, its write-ahead log and its lock live.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    #[serde(default)]
    pub backend: StateBackendKind,
    /// `local`: a folder relative to the manifest root (default `.lode/<env>`).
    /// `workspace`: a workspace folder (default `/Workspace/Shared/.lode/<project>/<env>`).
    #[serde(default)]
    pub path: Option<String>,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            backend: StateBackendKind::Local,
            path: None,
        }
    }
}

/// State backends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateBackendKind {
    #[default]
    Local,
    /// Databricks workspace files (shared by every CI runner); needs a `databricks:` section.
    Workspace,
}

/// The OAuth client (a service principal's id and secret) that the built-in local environments'
/// workspace emulator accepts, and whose credentials those environments give the Zerobus
/// connector: `zerobus_client_id` and `ZEROBUS_CLIENT_SECRET`.
pub const LOCAL_ZEROBUS_CLIENT_ID: &str = "lode-local-zerobus";
pub const LOCAL_ZEROBUS_CLIENT_SECRET: &str = "local-emulator-zerobus-secret";

/// The file in which a built-in local environment's workspace emulator keeps its port (see
/// `lode_emulators::data_folder`); the port is reserved before manifests are read.
pub fn local_workspace_port_file(root: &Path, env_name: &str) -> PathBuf {
    root.join(".lode")
        .join(env_name)
        .join("databricks")
        .join("port")
}

impl EnvironmentConfig {
    /// The built-in `local` (files transport) and `local-api` (API transport) environments:
    /// both emulators in-process, data under `.lode/<name>/`. Their variables point whatever
    /// talks to the workspace (the Zerobus connector, the session's chat link) at the
    /// workspace emulator: `workspace_url` and `zerobus_endpoint` are its URL and address once
    /// its port is reserved, and `zerobus_client_id` is the OAuth client it accepts.
    pub fn builtin(name: &str, transport: IgnitionTransport, root: &Path) -> EnvironmentConfig {
        let mut variables = BTreeMap::from([(
            "zerobus_client_id".to_string(),
            LOCAL_ZEROBUS_CLIENT_ID.to_string(),
        )]);
        let port = std::fs::read_to_string(local_workspace_port_file(root, name))
            .ok()
            .and_then(|text| text.trim().parse::<u16>().ok());
        if let Some(port) = port {
            variables.insert(
                "workspace_url".to_string(),
                format!("http://127.0.0.1:{port}"),
            );
            variables.insert("zerobus_endpoint".to_string(), format!("127.0.0.1:{port}"));
        }
        EnvironmentConfig {
            variables,
            ignition: Some(IgnitionConfig {
                transport,
                data_dir: Some(format!(".lode/{name}/ignition")),
                gateway_url: None,
                token_env: None,
                emulator: true,
                collection: default_collection(),
            }),
            databricks: Some(DatabricksConfig {
                emulator: true,
                ..DatabricksConfig::default()
            }),
            state: StateConfig::default(),
            env_defaults: BTreeMap::from([(
                "ZEROBUS_CLIENT_SECRET".to_string(),
                LOCAL_ZEROBUS_CLIENT_SECRET.to_string(),
            )]),
            extends: None,
            probe: None,
        }
    }

    /// This file's settings over the built-in environment it extends.
    fn over(self, mut base: EnvironmentConfig) -> EnvironmentConfig {
        base.variables.extend(self.variables);
        base.env_defaults.extend(self.env_defaults);
        if self.ignition.is_some() {
            base.ignition = self.ignition;
        }
        if self.databricks.is_some() {
            base.databricks = self.databricks;
        }
        if self.state.backend != StateBackendKind::Local || self.state.path.is_some() {
            base.state = self.state;
        }
        base.probe = self.probe;
        base.extends = self.extends;
        base
    }
}

/// The built-in environments, by name, with their gateway transport.
const BUILTIN: [(&str, IgnitionTransport); 2] = [
    ("local", IgnitionTransport::Files),
    ("local-api", IgnitionTransport::Api),
];

/// The environment's file: `environments/<name>.yaml`, or `.yml` when only that exists.
pub fn environment_file(files: &ManifestFiles, name: &str) -> String {
    let yml = format!("environments/{name}.yml");
    if files.text(&yml).is_some() && files.text(&format!("environments/{name}.yaml")).is_none() {
        yml
    } else {
        format!("environments/{name}.yaml")
    }
}

/// Reads `lode.yaml`.
pub fn load_project(files: &ManifestFiles) -> Result<ProjectConfig, Vec<ManifestError>> {
    parse_single(files, "lode.yaml")
}

/// Reads `environments/<name>.yaml`, or the built-in `local`.
pub fn load_environment(
    files: &ManifestFiles,
    name: &str,
) -> Result<EnvironmentConfig, Vec<ManifestError>> {
    let path = environment_file(files, name);
    if files.text(&path).is_none() && !files.escaping_links.contains(&path) {
        if let Some((_, transport)) = BUILTIN.iter().find(|(builtin, _)| *builtin == name) {
            return Ok(EnvironmentConfig::builtin(name, *transport, &files.root));
        }
        let known: Vec<String> = files
            .files
            .keys()
            .filter_map(|p| p.strip_prefix("environments/"))
            .filter_map(|p| p.strip_suffix(".yaml").or_else(|| p.strip_suffix(".yml")))
            .filter(|known| !BUILTIN.iter().any(|(builtin, _)| builtin == known))
            .map(str::to_string)
            .collect();
        return Err(vec![
            ManifestError::new(&path, 1, 1, format!("there is no environment `{name}`")).with_hint(
                format!(
                    "create {path}, or use one of: local, local-api (built in){}",
                    known.iter().map(|k| format!(", {k}")).collect::<String>()
                ),
            ),
        ]);
    }
    let mut config: EnvironmentConfig = parse_single(files, &path)?;
    if let Some(extends) = config.extends.clone() {
        // Only the built-in environment's own file: lode's other local commands (`lode up`,
        // the emulators' ports) know these environments by name.
        let builtin = BUILTIN
            .iter()
            .find(|(builtin, _)| *builtin == extends && *builtin == name);
        let Some((_, transport)) = builtin else {
            return Err(vec![
                ManifestError::new(
                    &path,
                    position_of(files, &path, "extends:").0,
                    1,
                    format!("`extends: {extends}` in {path}: only a built-in environment's own file extends it"),
                )
                .with_hint("write `extends: local` in environments/local.yaml (or `extends: local-api` in environments/local-api.yaml) to add to the built-in environment; other environments describe their systems themselves"),
            ]);
        };
        config = config.over(EnvironmentConfig::builtin(name, *transport, &files.root));
    }
    validate_probe(files, &path, &config)?;
    Ok(config)
}

/// The line and column of the first `key` (e.g. `tag:`) of `path`, comments aside; (1, 1)
/// when there is none.
fn position_of(files: &ManifestFiles, path: &str, key: &str) -> (usize, usize) {
    files
        .text(path)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(|text| {
            text.lines().enumerate().find_map(|(index, line)| {
                let indent = line.len() - line.trim_start().len();
                line.trim_start()
                    .starts_with(key)
                    .then_some((index + 1, indent + 1))
            })
        })
        .unwrap_or((1, 1))
}

/// A probe writes exactly one well-named tag, a finite value, through a writer that exists.
fn validate_probe(
    files: &ManifestFiles,
    path: &str,
    config: &EnvironmentConfig,
) -> Result<(), Vec<ManifestError>> {
    let Some(probe) = &config.probe else {
        return Ok(());
    };
    let mut errors = Vec::new();
    let mut error = |needle: &str, message: String, hint: &str| {
        errors.push({
            let (line, column) = position_of(files, path, needle);
            ManifestError::new(path, line, column, message).with_hint(hint)
        });
    };
    let tag = probe.tag.trim();
    let full_path = tag
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .is_some_and(|(provider, folder_path)| {
            !provider.is_empty()
                && !folder_path.is_empty()
                && !folder_path.starts_with('/')
                && !folder_path.ends_with('/')
                && !folder_path.contains("//")
        });
    if !full_path || tag.contains('*') {
        error(
            "tag:",
            format!("`probe.tag: {}` is not one tag's full path", probe.tag),
            "name exactly one tag with its provider, e.g. `[default]Site/Probe/Value`",
        );
    }
    if !probe.value.is_finite() {
        error(
            "value:",
            format!("`probe.value: {}` is not a number", probe.value),
            "give the number the probe writes (lode adds a fraction unique to each run)",
        );
    }
    match &probe.write {
        ProbeWrite::Emulator if !config.ignition.as_ref().is_some_and(|i| i.emulator) => error(
            "write:",
            "`probe.write: emulator` needs the gateway emulator, and this environment's gateway is not emulated".to_string(),
            "on a real gateway, write through a command: `write: {command: [my-tag-writer, \"{tag}\", \"{value}\"]}`",
        ),
        ProbeWrite::Command(argv) if argv.first().is_none_or(|program| program.trim().is_empty()) => error(
            "write:",
            "`probe.write.command` names no program".to_string(),
            "give the program and its arguments, e.g. `command: [my-tag-writer, \"{tag}\", \"{value}\"]`",
        ),
        _ => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn parse_single<T: serde::de::DeserializeOwned>(
    files: &ManifestFiles,
    path: &str,
) -> Result<T, Vec<ManifestError>> {
    let Some(bytes) = files.text(path) else {
        let error = if files.escaping_links.contains(path) {
            ManifestError::new(
                path,
                1,
                1,
                format!("{path} is a symlink to a file outside the manifest root; lode does not follow it"),
            )
            .with_hint("move the file into the manifest root (the folder that holds lode.yaml)")
        } else {
            ManifestError::new(path, 1, 1, format!("{path} is missing"))
        };
        return Err(vec![error]);
    };
    yaml::check_size(path, bytes).map_err(|e| vec![e])?;
    let text = yaml::utf8_text(path, bytes).map_err(|e| vec![e])?;
    let documents = yaml::split_documents(text);
    let Some(document) = documents.first() else {
        return Err(vec![
            ManifestError::new(path, 1, 1, "the file is empty").with_hint(if path == "lode.yaml" {
                "lode.yaml needs at least `project: NAME`"
            } else {
                "an environment file needs at least one section, e.g. `ignition:` or `databricks:`"
            }),
        ]);
    };
    let mut errors = Vec::new();
    if let Some(second) = documents.get(1) {
        // A second document would be ignored silently; a pasted file often brings one.
        errors.push(
            ManifestError::new(
                path,
                second.first_line,
                1,
                format!("{path} holds more than one YAML document"),
            )
            .with_hint("remove the `---` and merge the documents into one"),
        );
    }
    match yaml::parse(path, document) {
        Ok(value) if errors.is_empty() => Ok(value),
        Ok(_) => Err(errors),
        Err(error) => {
            errors.insert(0, error);
            Err(errors)
        }
    }
}
