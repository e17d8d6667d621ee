//! Loading and validating every manifest in one pass. Each problem becomes a `ManifestError`
//! with file, line and column; all of them are reported together and nothing is returned unless
//! there are none. The result is `Desired`: canonical JSON specs with payload files inlined.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::graph::DiGraph;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::checks;
use super::databricks;
use super::environment::{self, EnvironmentConfig, ProjectConfig, environment_file};
use super::interpolate::{InterpolateError, Interpolator};
use super::kinds::*;
use super::source::{MAX_FILE_BYTES, normalize_relative};
use super::yaml::{self, YamlDocument};
use super::{
    Address, Desired, DesiredResource, Lifecycle, LoadManifestsError, ManifestError, ManifestFiles,
    Origin, kind_list,
};

/// At most this many problems are reported, then one saying how many more there are: a
/// generated or corrupted file can hold hundreds of thousands, and the first ones say enough.
pub const MAX_REPORTED_ERRORS: usize = 200;

/// Everything `load_desired` read.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub desired: Desired,
    pub project: ProjectConfig,
    pub environment: EnvironmentConfig,
    /// Every `${var.x}` value: `lode.yaml`'s variables overridden by the environment's, with
    /// the environment's `${env.NAME}` read. `lode import` writes these values back as
    /// `${var.x}`.
    pub variables: BTreeMap<String, String>,
}

/// A document's kind, and its name to know which resource a document that fails meant to
/// declare; read once per document (a loose read of the whole document, as costly as the
/// strict one).
#[derive(Deserialize)]
struct Header {
    kind: Option<Spanned<String>>,
    /// Any value: a name of the wrong type is reported by the strict read.
    name: Option<Value>,
}

impl Header {
    /// The address the document declares, when its kind and name can be read.
    fn declared(&self) -> Option<Address> {
        let kind = Kind::parse(&self.kind.as_ref()?.value)?;
        let name = match self.name.as_ref()? {
            Value::String(name) => name.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            _ => return None,
        };
        Some(Address::new(kind, name))
    }
}

/// Documents that failed: their references must not be reported as dangling on top.
#[derive(Default)]
struct Failed {
    /// Resources that are declared but invalid.
    addresses: BTreeSet<Address>,
    /// A document whose kind and name could not even be read.
    unreadable: bool,
}

impl Failed {
    fn explains(&self, address: &Address) -> bool {
        self.unreadable || self.addresses.contains(address)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document<S> {
    #[allow(dead_code)]
    kind: String,
    name: Spanned<String>,
    #[serde(default)]
    depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    lifecycle: Lifecycle,
    /// `moved: {from: ADDRESS}`: this resource was declared under another address before.
    #[serde(default)]
    moved: Option<MovedFrom>,
    spec: S,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MovedFrom {
    from: Spanned<String>,
}

/// A parsed document before its spec is made canonical.
struct Parsed {
    address: Address,
    name_line: (usize, usize),
    depends_on: Vec<Located>,
    lifecycle: Lifecycle,
    moved_from: Option<Located>,
}

/// A value with its line and column in the file.
#[derive(Clone)]
struct Located {
    value: String,
    line: usize,
    column: usize,
}

/// What building a spec needs: the file it came from and the files it may read.
pub(super) struct SpecContext<'a> {
    pub(super) files: &'a ManifestFiles,
    pub(super) file: &'a str,
    pub(super) document: &'a YamlDocument,
    pub(super) errors: Vec<ManifestError>,
}

impl SpecContext<'_> {
    /// The position of the first occurrence of `needle` in the document, or its first line.
    pub(super) fn locate(&self, needle: &str) -> (usize, usize) {
        locate(self.document, needle)
    }

    pub(super) fn error(
        &mut self,
        needle: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let (line, column) = self.locate(needle);
        self.errors
            .push(ManifestError::new(self.file, line, column, message).with_hint(hint));
    }

    /// Reads a payload file named relative to the manifest file, refusing paths that leave the
    /// manifest root (directly or through a symlink).
    pub(super) fn payload(&mut self, field: &str, relative: &str) -> Option<(String, String)> {
        let needle = format!("{field}: {relative}");
        let Some(path) = payload_path(self.file, relative) else {
            self.error(
                &needle,
                format!("`{field}: {relative}` points outside the manifest root"),
                "payload files must live under the folder that holds lode.yaml",
            );
            return None;
        };
        let through_link = self
            .files
            .escaping_links
            .iter()
            .any(|link| path == *link || path.starts_with(&format!("{link}/")));
        if through_link {
            self.error(
                &needle,
                format!("`{field}: {relative}` is a symlink that points outside the manifest root"),
                "copy the file into the manifest root instead of linking to it",
            );
            return None;
        }
        let Some(bytes) = self.files.text(&path) else {
            self.error(
                &needle,
                format!("`{field}: {relative}` does not exist (looked for {path})"),
                "paths are relative to the manifest file that names them",
            );
            return None;
        };
        if bytes.len() > MAX_FILE_BYTES {
            self.error(
                &needle,
                format!(
                    "`{field}: {relative}` is larger than lode's limit of {} MiB for a payload file",
                    MAX_FILE_BYTES / (1024 * 1024)
                ),
                "payloads are scripts, views and seed files a person reviews; keep them small",
            );
            return None;
        }
        match yaml::utf8_text(&path, bytes) {
            Ok(text) => Some((path, text.replace("\r\n", "\n"))),
            Err(error) => {
                // Located at the payload's own bad byte, where it can be fixed.
                self.errors.push(error);
                None
            }
        }
    }
}

/// The path (relative to the manifest root) of the payload file that the manifest file
/// `manifest` names as `relative` (`script: scripts/x.py` in `ignition/scripts.yaml` is
/// `ignition/scripts/x.py`); `None` when it is absolute or climbs out of the root.
pub fn payload_path(manifest: &str, relative: &str) -> Option<String> {
    if relative.starts_with('/') {
        return None;
    }
    let dir = manifest.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let joined = if dir.is_empty() {
        relative.to_string()
    } else {
        format!("{dir}/{relative}")
    };
    normalize_relative(&joined)
}

pub(super) fn locate(document: &YamlDocument, needle: &str) -> (usize, usize) {
    for (number, line) in document.numbered_lines() {
        if let Some(index) = line.find(needle) {
            return (number, line[..index].chars().count() + 1);
        }
    }
    (document.first_line, 1)
}

/// The `kind` of a verification check document; checks are not resources, so not a `Kind`.
pub(super) const CHECK_KIND: &str = "check";

/// Every `kind:` a manifest document may have: the resource kinds and `check`.
fn document_kinds() -> String {
    format!("{}, {CHECK_KIND}", kind_list())
}

fn is_manifest_file(path: &str) -> bool {
    (path.ends_with(".yaml") || path.ends_with(".yml"))
        && path != "lode.yaml"
        && !path.starts_with("environments/")
}

/// Loads and validates the manifests and the environment `env_name`.
pub fn load_desired(
    files: &ManifestFiles,
    env_name: &str,
    env_lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, LoadManifestsError> {
    let mut errors = Vec::new();
    let project = environment::load_project(files)
        .map_err(|e| errors.extend(e))
        .ok();
    let environment = environment::load_environment(files, env_name)
        .map_err(|e| errors.extend(e))
        .ok();
    // With lode.yaml or the environment file unreadable, variables and `${env...}` defaults are
    // unknown: every reference to one would fail as well, burying the one real mistake.
    let config_failed = project.is_none() || environment.is_none();

    let mut variables = project
        .as_ref()
        .map(|p| p.variables.clone())
        .unwrap_or_default();
    if let Some(environment) = &environment {
        let mut interpolator = Interpolator {
            variables: &variables.clone(),
            env: env_lookup,
            secrets: Vec::new(),
            references: Vec::new(),
            env_is_secret: false,
        };
        for (name, value) in &environment.variables {
            match interpolator.interpolate(value) {
                Ok(value) => {
                    variables.insert(name.clone(), value);
                }
                Err((token, error)) => {
                    let file = environment_file(files, env_name);
                    let (line, column) = files
                        .text(&file)
                        .and_then(|b| std::str::from_utf8(b).ok())
                        .and_then(|text| {
                            text.lines()
                                .enumerate()
                                .find_map(|(i, l)| l.find(&token).map(|c| (i + 1, c + 1)))
                        })
                        .unwrap_or((1, 1));
                    let hint = match &error {
                        InterpolateError::UnknownVariable(_) => {
                            "an environment file's variables may use `${var.x}` from lode.yaml and `${env.NAME}`".to_string()
                        }
                        other => other.hint(),
                    };
                    errors.push(
                        ManifestError::new(
                            &file,
                            line,
                            column,
                            format!("variable `{name}`: {error} in `{token}`"),
                        )
                        .with_hint(hint),
                    )
                }
            }
        }
    }

    let env_defaults = environment
        .as_ref()
        .map(|e| e.env_defaults.clone())
        .unwrap_or_default();
    let manifest_env = |name: &str| env_lookup(name).or_else(|| env_defaults.get(name).cloned());
    let mut interpolator = Interpolator {
        variables: &variables,
        env: &manifest_env,
        secrets: Vec::new(),
        references: Vec::new(),
        env_is_secret: true,
    };
    let mut resources: BTreeMap<Address, DesiredResource> = BTreeMap::new();
    let mut explicit_deps: BTreeMap<Address, Vec<(Located, String)>> = BTreeMap::new();
    let mut locators: BTreeMap<(Kind, String), Address> = BTreeMap::new();
    let mut failed = Failed {
        unreadable: config_failed,
        ..Failed::default()
    };
    let mut pending_checks = Vec::new();

    for link in &files.escaping_links {
        if is_manifest_file(link) {
            failed.unreadable = true;
            errors.push(
                ManifestError::new(
                    link,
                    1,
                    1,
                    "this manifest is a symlink to a file outside the manifest root; lode does not follow it",
                )
                .with_hint("move the file into the manifest root (the folder that holds lode.yaml)"),
            );
        }
    }
    for (path, bytes) in &files.files {
        if !is_manifest_file(path) {
            continue;
        }
        let text = match yaml::check_size(path, bytes).and_then(|()| yaml::utf8_text(path, bytes)) {
            Ok(text) => text,
            Err(error) => {
                failed.unreadable = true;
                errors.push(error);
                continue;
            }
        };
        for document in yaml::split_documents(text) {
            let header = yaml::parse::<Header>(path, &document);
            let kind = header.as_ref().ok().and_then(|h| h.kind.as_ref());
            if kind.is_some_and(|kind| kind.value == CHECK_KIND) {
                let mut context = SpecContext {
                    files,
                    file: path,
                    document: &document,
                    errors: Vec::new(),
                };
                if let Some(check) =
                    checks::parse_check(&mut context, &mut interpolator, config_failed)
                {
                    pending_checks.push(check);
                }
                errors.append(&mut context.errors);
                continue;
            }
            let declared = header.as_ref().ok().and_then(Header::declared);
            let Some((parsed, spec)) = parse_document(files, path, &document, header, &mut errors)
            else {
                match declared {
                    Some(address) => {
                        failed.addresses.insert(address);
                    }
                    None => failed.unreadable = true,
                }
                continue;
            };
            let mut spec = spec;
            interpolator.references.clear();
            if let Err((token, error)) = interpolate_value(&mut spec, &mut interpolator) {
                let (line, column) = locate(&document, &token);
                let line_in_file = if line == document.first_line && !document.text.contains(&token)
                {
                    parsed.name_line.0
                } else {
                    line
                };
                if !(config_failed && error.follows_from_config()) {
                    errors.push(
                        ManifestError::new(
                            path,
                            line_in_file,
                            column,
                            format!("{error} in `{token}`"),
                        )
                        .with_hint(error.hint()),
                    );
                }
                failed.addresses.insert(parsed.address.clone());
                continue;
            }
            // Checks that need interpolated values (paths built from variables).
            if let Err((field, message, hint)) = databricks::finish(parsed.address.kind, &mut spec)
            {
                let (line, column) = locate(&document, &format!("{field}:"));
                errors.push(ManifestError::new(path, line, column, message).with_hint(hint));
                failed.addresses.insert(parsed.address.clone());
                continue;
            }
            let address = parsed.address.clone();
            if let Some(existing) = resources.get(&address) {
                errors.push(
                    ManifestError::new(
                        path,
                        parsed.name_line.0,
                        parsed.name_line.1,
                        format!(
                            "duplicate address {address}: already declared in {}:{}",
                            existing.origin.file, existing.origin.line
                        ),
                    )
                    .with_hint("every resource needs its own `name` within its kind"),
                );
                continue;
            }
            let locator = locator(address.kind, &address.name, &spec);
            if let Some(other) = locators.get(&(address.kind, locator.clone())) {
                let first = &resources[other].origin;
                errors.push(
                    ManifestError::new(
                        path,
                        parsed.name_line.0,
                        parsed.name_line.1,
                        format!(
                            "{address} writes the same live object ({locator}) as {other}, declared in {}:{}",
                            first.file, first.line
                        ),
                    )
                    .with_hint("remove one of them, or give them different `resource_name`s, view paths or tag paths"),
                );
                continue;
            }
            if parsed.lifecycle.data.is_some() && address.kind != Kind::Table {
                errors.push(
                    ManifestError::new(
                        path,
                        parsed.name_line.0,
                        parsed.name_line.1,
                        format!("`lifecycle.data` applies to tables only, not to {address}"),
                    )
                    .with_hint("remove `data:` from its `lifecycle:`"),
                );
                continue;
            }
            let moved_from = match &parsed.moved_from {
                None => None,
                Some(from) => match from.value.parse::<Address>() {
                    Ok(from_address) if from_address.kind != address.kind => {
                        errors.push(
                            ManifestError::new(
                                path,
                                from.line,
                                from.column,
                                format!(
                                    "{address} cannot have moved from {from_address}: a move keeps the kind"
                                ),
                            )
                            .with_hint(format!("write a `{}/...` address", address.kind.as_str())),
                        );
                        continue;
                    }
                    Ok(from_address) if from_address == address => {
                        errors.push(
                            ManifestError::new(
                                path,
                                from.line,
                                from.column,
                                format!("{address} cannot have moved from itself"),
                            )
                            .with_hint("remove `moved:`, or name the address it had before"),
                        );
                        continue;
                    }
                    Ok(from_address) => Some(from_address),
                    Err(error) => {
                        errors.push(
                            ManifestError::new(path, from.line, from.column, error.to_string())
                                .with_hint("write the old address as `kind/name`, e.g. `gateway_script/physics_simulation`"),
                        );
                        continue;
                    }
                },
            };
            locators.insert((address.kind, locator), address.clone());
            let mut depends_on: BTreeSet<Address> = implicit_references(address.kind, &spec)
                .into_iter()
                .collect();
            depends_on.extend(interpolator.references.iter().cloned());
            depends_on.remove(&address);
            explicit_deps.insert(
                address.clone(),
                parsed
                    .depends_on
                    .iter()
                    .map(|d| (d.clone(), path.clone()))
                    .collect(),
            );
            resources.insert(
                address.clone(),
                DesiredResource {
                    address,
                    spec,
                    depends_on: depends_on.into_iter().collect(),
                    lifecycle: parsed.lifecycle,
                    moved_from,
                    origin: Origin {
                        file: path.clone(),
                        line: parsed.name_line.0,
                    },
                },
            );
        }
    }

    databricks::link_by_value(&mut resources);
    check_references(&mut resources, &explicit_deps, files, &failed, &mut errors);
    check_moves(&resources, &mut errors);
    let checks = checks::finish_checks(
        pending_checks,
        &resources,
        &|a| failed.explains(a),
        &mut errors,
    );
    if errors.is_empty() {
        check_cycles(&resources, &mut errors);
    }

    if !errors.is_empty() {
        errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        errors.dedup();
        if errors.len() > MAX_REPORTED_ERRORS {
            let first_hidden = &errors[MAX_REPORTED_ERRORS];
            let hidden = errors.len() - MAX_REPORTED_ERRORS;
            let more = ManifestError::new(
                &first_hidden.file,
                first_hidden.line,
                first_hidden.column,
                format!("{hidden} more problems, from here on, are not shown"),
            )
            .with_hint("fix the problems above and run `lode validate` again");
            errors.truncate(MAX_REPORTED_ERRORS);
            errors.push(more);
        }
        // Only now, for the errors shown: each lookup scans its file.
        for error in &mut errors {
            error.source_line = source_line(files, &error.file, error.line);
        }
        return Err(LoadManifestsError::Invalid(errors));
    }
    Ok(Loaded {
        desired: Desired {
            resources,
            checks,
            source: files.info.clone(),
            secrets: interpolator.secrets,
        },
        project: project.expect("no errors means lode.yaml was read"),
        environment: environment.expect("no errors means the environment was read"),
        variables,
    })
}

/// The file's line `line`, to show under an error; none when it is too long to echo.
fn source_line(files: &ManifestFiles, file: &str, line: usize) -> Option<String> {
    let text = std::str::from_utf8(files.text(file)?).ok()?;
    text.lines()
        .nth(line.checked_sub(1)?)
        .filter(|l| l.chars().count() <= yaml::MAX_ECHOED_LINE_CHARS)
        .map(|l| l.to_string())
}

/// Parses one document: header, strict typed document, canonical spec.
fn parse_document(
    files: &ManifestFiles,
    file: &str,
    document: &YamlDocument,
    header: Result<Header, ManifestError>,
    errors: &mut Vec<ManifestError>,
) -> Option<(Parsed, Value)> {
    let header = match header {
        Ok(header) => header,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let Some(kind_text) = header.kind else {
        errors.push(
            ManifestError::new(file, document.first_line, 1, "the document has no `kind`")
                .with_hint(format!("add `kind:` with one of: {}", document_kinds())),
        );
        return None;
    };
    let Some(kind) = Kind::parse(&kind_text.value) else {
        errors.push(
            {
                let (line, column) = document.at(kind_text.referenced);
                ManifestError::new(
                    file,
                    line,
                    column,
                    format!("unknown kind `{}`", kind_text.value),
                )
            }
            .with_hint(format!("use one of: {}", document_kinds())),
        );
        return None;
    };
    let mut context = SpecContext {
        files,
        file,
        document,
        errors: Vec::new(),
    };
    let result = match kind {
        Kind::Project => typed::<ProjectSpec>(&mut context, kind, build_project),
        Kind::Udt => typed::<UdtSpec>(&mut context, kind, build_udt),
        Kind::Tag => typed::<TagConfig>(&mut context, kind, build_tag),
        Kind::GatewayScript => typed::<GatewayScriptSpec>(&mut context, kind, build_gateway_script),
        Kind::PerspectiveView => typed::<PerspectiveViewSpec>(&mut context, kind, build_view),
        Kind::PageConfig => typed::<PageConfigSpec>(&mut context, kind, build_page_config),
        Kind::SessionProps => typed::<SessionPropsSpec>(&mut context, kind, build_session_props),
        Kind::SessionEvent => typed::<SessionEventSpec>(&mut context, kind, build_session_event),
        Kind::Schema => typed::<SchemaSpec>(&mut context, kind, databricks::build_schema),
        Kind::Table => typed::<TableSpec>(&mut context, kind, databricks::build_table),
        Kind::Pipeline => typed::<PipelineSpec>(&mut context, kind, databricks::build_pipeline),
        Kind::GenieSpace => {
            typed::<GenieSpaceSpec>(&mut context, kind, databricks::build_genie_space)
        }
        Kind::QualityMonitor => {
            typed::<QualityMonitorSpec>(&mut context, kind, databricks::build_quality_monitor)
        }
        Kind::WorkspaceFile => {
            typed::<WorkspaceFileSpec>(&mut context, kind, databricks::build_workspace_file)
        }
        Kind::ZerobusConnection => {
            typed::<ZerobusConnectionSpec>(&mut context, kind, build_zerobus)
        }
    };
    errors.append(&mut context.errors);
    result
}

type Builder<S> = fn(&mut SpecContext, &str, S) -> Option<Value>;

fn typed<S: DeserializeOwned>(
    context: &mut SpecContext,
    kind: Kind,
    build: Builder<S>,
) -> Option<(Parsed, Value)> {
    let document: Document<S> = match yaml::parse(context.file, context.document) {
        Ok(document) => document,
        Err(error) => {
            context.errors.push(error);
            return None;
        }
    };
    let name = document.name.value.clone();
    let name_line = context.document.at(document.name.referenced);
    if let Err(problem) = check_name(kind, &name) {
        context.errors.push(
            ManifestError::new(context.file, name_line.0, name_line.1, problem.0)
                .with_hint(problem.1),
        );
        return None;
    }
    let errors_before = context.errors.len();
    let spec = build(context, &name, document.spec)?;
    if kind.system() == "ignition" {
        check_gateway_file_names(context, &spec);
    }
    if context.errors.len() > errors_before {
        return None;
    }
    Some((
        Parsed {
            address: Address::new(kind, name),
            name_line,
            depends_on: document
                .depends_on
                .iter()
                .map(|dependency| {
                    let (line, column) = context.document.at(dependency.referenced);
                    Located {
                        value: dependency.value.clone(),
                        line,
                        column,
                    }
                })
                .collect(),
            lifecycle: document.lifecycle,
            moved_from: document.moved.map(|moved| {
                let (line, column) = context.document.at(moved.from.referenced);
                Located {
                    value: moved.from.value,
                    line,
                    column,
                }
            }),
        },
        spec,
    ))
}

fn check_name(kind: Kind, name: &str) -> Result<(), (String, String)> {
    if name.trim().is_empty() {
        return Err(("`name` is empty".into(), "give the resource a name".into()));
    }
    let path_like = matches!(kind, Kind::Tag | Kind::PerspectiveView | Kind::Udt);
    if path_like {
        if let Err((message, hint)) = check_path(name) {
            let hint = if kind == Kind::Tag && name.starts_with('[') {
                "the provider goes in `spec.provider`, not in the tag path".to_string()
            } else {
                hint
            };
            return Err((message, hint));
        }
    } else if name.contains('/') && kind != Kind::Udt {
        return Err((
            format!("`{name}` contains `/`"),
            format!("{kind} names are single words; use `_` instead of `/`"),
        ));
    }
    Ok(())
}

/// The spec fields of Ignition kinds that become folder or file names in the gateway's data
/// directory (the `files` transport writes there), with whether `/` separates folders in them.
const GATEWAY_FILE_NAME_FIELDS: &[(&str, bool)] = &[
    ("project", false),
    ("parent", false),
    ("provider", false),
    ("resource_name", false),
    ("view_path", true),
];

/// Refuses names that would leave the folder they are joined to (`..`, `.`, a `/` where no
/// folder is meant): a manifest must never make lode write outside the gateway's data
/// directory.
fn check_gateway_file_names(context: &mut SpecContext, spec: &Value) {
    if let Some((field, message, hint)) = gateway_file_name_problem(spec) {
        context.error(&format!("{field}:"), message, hint);
    }
}

/// The first field of an Ignition spec whose value cannot be a folder or file name of the
/// gateway's data directory (see [`GATEWAY_FILE_NAME_FIELDS`]): `(field, message, hint)`.
pub fn gateway_file_name_problem(spec: &Value) -> Option<(&'static str, String, &'static str)> {
    GATEWAY_FILE_NAME_FIELDS.iter().find_map(|(field, is_path)| {
        let value = spec.get(*field).and_then(Value::as_str)?;
        let escapes = value.split('/').any(|s| s == "." || s == "..")
            || (!is_path && (value.contains('/') || value.contains('\\')));
        escapes.then(|| {
            (
                *field,
                format!("`{field}: {value}` is not a valid name: it would name a file outside its folder"),
                if *is_path {
                    "write the path as folder names separated by `/`, without `.` or `..`"
                } else {
                    "use a plain name: no `/` or `\\`, and not `.` or `..`"
                },
            )
        })
    })
}

/// Why `name` cannot be the name of a `kind` resource in a manifest, if it cannot.
pub fn name_problem(kind: Kind, name: &str) -> Option<String> {
    check_name(kind, name).err().map(|(message, _)| message)
}

/// Characters Ignition does not allow in a tag, UDT or view path.
const PATH_FORBIDDEN: &[char] = &['[', ']', '\\', '"', '*', '?', '<', '>', '|', ':'];

/// Whether `path` is a tag, UDT or view path (`Folder/Name`, no provider): no leading,
/// trailing or doubled `/`, no spaces around a `/`, none of `PATH_FORBIDDEN`.
fn check_path(path: &str) -> Result<(), (String, String)> {
    if path.starts_with('/') || path.ends_with('/') || path.contains("//") {
        return Err((
            format!("`{path}` is not a valid path"),
            "write the path without leading, trailing or doubled `/`".into(),
        ));
    }
    if let Some(bad) = path
        .chars()
        .find(|c| PATH_FORBIDDEN.contains(c) || c.is_control())
    {
        let shown = if bad.is_control() {
            format!("{bad:?}")
        } else {
            format!("`{bad}`")
        };
        return Err((
            format!("`{path}` contains {shown}, which Ignition does not allow in a path"),
            "tag and view paths may use letters, digits, spaces, `_`, `-`, `.` and `/`".into(),
        ));
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err((
            format!("`{path}` has a `.` or `..` segment"),
            "write the path as folder names separated by `/`, without `.` or `..`".into(),
        ));
    }
    if path.split('/').any(|segment| segment.trim() != segment) {
        return Err((
            format!("`{path}` has a path segment with leading or trailing spaces"),
            "remove the spaces around `/`".into(),
        ));
    }
    Ok(())
}

/// Whether `path` is a full tag path, `[provider]Folder/Tag` (the provider may be left out);
/// `folder` allows the provider's root, `[default]`.
fn check_full_tag_path(path: &str, folder: bool) -> Result<(), (String, String)> {
    let rest = match path.strip_prefix('[') {
        Some(after) => {
            let Some((provider, rest)) = after.split_once(']') else {
                return Err((
                    format!("tag path `{path}` opens `[` without closing it"),
                    "write the provider as `[default]`, then the path: `[default]Folder/Tag`"
                        .into(),
                ));
            };
            if provider.trim().is_empty()
                || provider
                    .chars()
                    .any(|c| PATH_FORBIDDEN.contains(&c) || c == '/')
            {
                return Err((
                    format!("tag path `{path}` has no valid provider between `[` and `]`"),
                    "name the tag provider, e.g. `[default]Folder/Tag`".into(),
                ));
            }
            rest
        }
        None => path,
    };
    if rest.is_empty() {
        return if folder && path.starts_with('[') {
            Ok(())
        } else {
            Err((
                format!("tag path `{path}` names no tag"),
                "write the full path, e.g. `[default]Mining/Simulation/Fault_Enabled`".into(),
            ))
        };
    }
    check_path(rest).map_err(|(message, hint)| (format!("tag path {message}"), hint))
}

/// Whether `type_id` can name a UDT: the UDT's path as its `udt` manifest names it.
fn check_type_id(type_id: &str) -> Result<(), (String, String)> {
    if type_id.contains("${") {
        return Ok(());
    }
    if type_id.starts_with('[') || type_id.starts_with("_types_") {
        return Err((
            format!("`{type_id}` is not a UDT name"),
            "name the UDT as its `udt` manifest does, e.g. `HaulTruck`, without `[provider]` or `_types_/`".into(),
        ));
    }
    check_path(type_id)
}

pub(super) fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("specs always serialise")
}

fn build_project(_: &mut SpecContext, _: &str, spec: ProjectSpec) -> Option<Value> {
    Some(to_value(&spec))
}

/// Fills `tagType: AtomicTag` on members that omit it and checks member shapes.
fn normalize_members(context: &mut SpecContext, members: &mut [TagConfig], owner: &str) {
    let mut seen = BTreeSet::new();
    for member in members {
        let Some(name) = member.name.clone() else {
            context.error(
                "tags:",
                format!("a member of {owner} has no `name`"),
                "every member tag needs a `name`",
            );
            continue;
        };
        if !seen.insert(name.clone()) {
            context.error(
                &format!("name: {name}"),
                format!("{owner} has two members named `{name}`"),
                "member names must be unique within their folder",
            );
        }
        if member.provider.is_some() {
            context.error(
                "provider:",
                format!("member `{name}` of {owner} sets `provider`"),
                "only a `tag` resource names a provider; members belong to their UDT",
            );
        }
        let tag_type = *member.tag_type.get_or_insert(TagType::AtomicTag);
        if name.contains('/') || name.chars().any(|c| PATH_FORBIDDEN.contains(&c)) {
            context.error(
                &format!("name: {name}"),
                format!("member `{name}` of {owner} has `/` or a character Ignition does not allow in a tag name"),
                "a member is one tag: nest members under `tags:` instead of writing a path",
            );
        }
        if let Some(type_id) = &member.type_id
            && let Err((message, hint)) = check_type_id(type_id)
        {
            context.error(
                &format!("typeId: {type_id}"),
                format!("`typeId` of member `{name}`: {message}"),
                hint,
            );
        }
        if tag_type == TagType::UdtInstance && member.type_id.is_none() {
            context.error(
                &format!("name: {name}"),
                format!("member `{name}` is a UdtInstance without `typeId`"),
                "set `typeId` to the UDT's name",
            );
        }
        let owner = format!("{owner}/{name}");
        normalize_members(context, &mut member.tags, &owner);
    }
}

fn build_udt(context: &mut SpecContext, name: &str, mut spec: UdtSpec) -> Option<Value> {
    if spec.parent_type.as_deref() == Some(name) {
        context.error(
            "parent_type:",
            format!("UDT `{name}` inherits from itself"),
            "`parent_type` names another UDT this one extends; remove it",
        );
    }
    if let Some(parent) = &spec.parent_type
        && let Err((message, hint)) = check_type_id(parent)
    {
        context.error("parent_type:", format!("`parent_type`: {message}"), hint);
    }
    let owner = format!("udt {name}");
    normalize_members(context, &mut spec.tags, &owner);
    Some(to_value(&spec))
}

fn build_tag(context: &mut SpecContext, path: &str, mut spec: TagConfig) -> Option<Value> {
    if spec.name.is_some() {
        context.error(
            "name:",
            "a tag resource takes its name from its path; `spec.name` is not allowed",
            "remove `spec.name`; the resource `name` is the tag path",
        );
    }
    let Some(tag_type) = spec.tag_type else {
        context.error(
            "spec:",
            format!("tag `{path}` has no `tagType`"),
            "set `tagType` to AtomicTag, Folder or UdtInstance",
        );
        return None;
    };
    spec.provider.get_or_insert_with(|| "default".to_string());
    if let Some(type_id) = &spec.type_id
        && let Err((message, hint)) = check_type_id(type_id)
    {
        context.error("typeId:", format!("`typeId`: {message}"), hint);
    }
    match tag_type {
        TagType::UdtInstance if spec.type_id.is_none() => context.error(
            "tagType:",
            format!("UDT instance `{path}` has no `typeId`"),
            "set `typeId` to the UDT's name, e.g. `typeId: Crusher`",
        ),
        TagType::Folder => {
            let spec_value = to_value(&spec);
            if let Some(extra) = spec_value
                .as_object()
                .and_then(|m| m.keys().find(|k| *k != "provider" && *k != "tagType"))
            {
                context.error(
                    &format!("{extra}:"),
                    format!("folder `{path}` cannot have `{extra}`"),
                    "a folder has only `provider` and `tagType`; declare each tag in it as its own `tag` resource",
                );
            }
        }
        TagType::AtomicTag if spec.type_id.is_some() => context.error(
            "typeId:",
            format!("atomic tag `{path}` has a `typeId`"),
            "use `tagType: UdtInstance` for an instance of a UDT",
        ),
        _ => {}
    }
    for member in &spec.tags {
        // Overrides name members of the UDT; their type comes from the UDT unless given.
        if member.name.is_none() {
            context.error(
                "tags:",
                format!("an override in tag {path} has no `name`"),
                "name the member it overrides",
            );
        }
    }
    Some(to_value(&spec))
}

/// `a`, `a` and `b`, `a`, `b` and `c`.
fn quoted_list(fields: &[&str]) -> String {
    let quoted: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

fn script_body(text: &str) -> String {
    let trimmed = text.trim_end_matches(['\n', ' ', '\t']);
    format!("{trimmed}\n")
}

fn build_gateway_script(
    context: &mut SpecContext,
    name: &str,
    mut spec: GatewayScriptSpec,
) -> Option<Value> {
    let is_timer = spec.script_type == GatewayScriptType::Timer;
    if is_timer {
        spec.delay_ms.get_or_insert(1000);
        spec.delay_type.get_or_insert(DelayType::FixedDelay);
        spec.threading.get_or_insert(Threading::Shared);
        if spec.delay_ms == Some(0) {
            context.error(
                "delay_ms:",
                "`delay_ms` is 0",
                "a timer needs a delay of at least 1 ms",
            );
        }
    } else {
        let present: Vec<&str> = [
            ("delay_ms", spec.delay_ms.is_some()),
            ("delay_type", spec.delay_type.is_some()),
            ("threading", spec.threading.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, set)| set.then_some(field))
        .collect();
        if let Some(first) = present.first() {
            context.error(
                &format!("{first}:"),
                format!("{} applies only to `type: timer`", quoted_list(&present)),
                "remove it, or make the script a timer",
            );
        }
    }
    if spec.script_type == GatewayScriptType::TagChange {
        if spec.tag_paths.is_empty() {
            context.error(
                "type:",
                "a tag_change script needs `tag_paths`",
                "list the tag paths that trigger it",
            );
        }
        for path in &spec.tag_paths {
            if path.contains("${") {
                continue;
            }
            if let Err((message, hint)) = check_full_tag_path(path, false) {
                context.error(path, message, hint);
            }
        }
        if spec.change_types.is_empty() {
            spec.change_types = vec!["ValueChange".to_string()];
        }
        for change in &spec.change_types {
            if !["ValueChange", "QualityChange", "TimestampChange"].contains(&change.as_str()) {
                context.error(
                    change,
                    format!("`{change}` is not a change type"),
                    "use ValueChange, QualityChange or TimestampChange",
                );
            }
        }
    } else {
        let present: Vec<&str> = [
            ("tag_paths", !spec.tag_paths.is_empty()),
            ("change_types", !spec.change_types.is_empty()),
        ]
        .into_iter()
        .filter_map(|(field, set)| set.then_some(field))
        .collect();
        if let Some(first) = present.first() {
            context.error(
                &format!("{first}:"),
                format!(
                    "{} applies only to `type: tag_change`",
                    quoted_list(&present)
                ),
                "remove it, or make the script a tag_change script",
            );
        }
    }
    if spec.script_type.is_singleton() {
        if spec.resource_name.is_some() {
            context.error(
                "resource_name:",
                "startup and shutdown scripts have no resource name (one per project)",
                "remove `resource_name`",
            );
        }
    } else {
        spec.resource_name.get_or_insert_with(|| name.to_string());
    }
    let (_, text) = context.payload("script", &spec.script.clone())?;
    spec.script = script_body(&text);
    Some(to_value(&spec))
}

fn build_view(
    context: &mut SpecContext,
    name: &str,
    mut spec: PerspectiveViewSpec,
) -> Option<Value> {
    spec.view_path.get_or_insert_with(|| name.to_string());
    let (path, text) = context.payload("view", &spec.view.clone())?;
    let view: Value = match serde_json::from_str(&text) {
        Ok(view) => view,
        Err(error) => {
            context.errors.push(
                ManifestError::new(
                    &path,
                    error.line().max(1),
                    error.column().max(1),
                    format!("invalid JSON: {error}"),
                )
                .with_hint("a view payload is Perspective's view.json"),
            );
            return None;
        }
    };
    match view.get("root") {
        Some(Value::Object(root)) if root.get("type").is_some_and(Value::is_string) => {}
        _ => {
            context.errors.push(
                ManifestError::new(
                    &path,
                    1,
                    1,
                    "the view has no `root` component with a `type`",
                )
                .with_hint("a view.json needs `root: {\"type\": \"ia.container.flex\", ...}`"),
            );
            return None;
        }
    }
    let mut value = to_value(&spec);
    value["view"] = view;
    Some(value)
}

fn build_page_config(_: &mut SpecContext, _: &str, spec: PageConfigSpec) -> Option<Value> {
    Some(to_value(&spec))
}

fn build_session_props(_: &mut SpecContext, _: &str, spec: SessionPropsSpec) -> Option<Value> {
    Some(to_value(&spec))
}

fn build_session_event(
    context: &mut SpecContext,
    _: &str,
    mut spec: SessionEventSpec,
) -> Option<Value> {
    let (_, text) = context.payload("script", &spec.script.clone())?;
    spec.script = script_body(&text);
    Some(to_value(&spec))
}

fn build_zerobus(context: &mut SpecContext, _: &str, spec: ZerobusConnectionSpec) -> Option<Value> {
    match spec.tag_selection_mode.as_str() {
        "folder" if spec.tag_folder_path.is_none() => context.error(
            "tagSelectionMode:",
            "folder mode needs `tagFolderPath`",
            "e.g. `tagFolderPath: \"[default]Mining/Equipment\"`",
        ),
        "pattern" if spec.tag_path_pattern.is_none() => context.error(
            "tagSelectionMode:",
            "pattern mode needs `tagPathPattern`",
            "add the pattern",
        ),
        "explicit" if spec.explicit_tag_paths.is_empty() => context.error(
            "tagSelectionMode:",
            "explicit mode needs `explicitTagPaths`",
            "list the tag paths",
        ),
        "folder" | "pattern" | "explicit" => {}
        other => context.error(
            "tagSelectionMode:",
            format!("`{other}` is not a tag selection mode"),
            "use folder, pattern or explicit",
        ),
    }
    let paths = spec
        .tag_folder_path
        .iter()
        .map(|p| (p, true))
        .chain(spec.explicit_tag_paths.iter().map(|p| (p, false)));
    for (path, folder) in paths {
        if path.contains("${") {
            continue;
        }
        if let Err((message, hint)) = check_full_tag_path(path, folder) {
            context.error(path, message, hint);
        }
    }
    if let Some(size) = spec.batch_size
        && !(1..=10_000).contains(&size)
    {
        context.error(
            "batchSize:",
            format!("batchSize {size} is outside 1..10000"),
            "the connector accepts 1 to 10000",
        );
    }
    Some(to_value(&spec))
}

pub(super) fn interpolate_value(
    value: &mut Value,
    interpolator: &mut Interpolator,
) -> Result<(), (String, InterpolateError)> {
    match value {
        Value::String(text) => *text = interpolator.interpolate(text)?,
        Value::Array(items) => {
            for item in items {
                interpolate_value(item, interpolator)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                interpolate_value(item, interpolator)?;
            }
        }
        _ => {}
    }
    Ok(())
}

pub(crate) fn str_field<'a>(spec: &'a Value, field: &str) -> &'a str {
    spec.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The gateway object a resource writes; two resources must not share one.
pub fn locator(kind: Kind, name: &str, spec: &Value) -> String {
    let project = str_field(spec, "project");
    match kind {
        Kind::Project => name.to_string(),
        Kind::Udt => format!("[{}]_types_/{name}", str_field(spec, "provider")),
        Kind::Tag => format!("[{}]{name}", str_field(spec, "provider")),
        Kind::GatewayScript => format!(
            "{project}/{}/{}",
            str_field(spec, "type"),
            str_field(spec, "resource_name")
        ),
        Kind::PerspectiveView => format!("{project}/views/{}", str_field(spec, "view_path")),
        Kind::PageConfig => format!("{project}/page-config"),
        Kind::SessionProps => format!("{project}/session-props"),
        Kind::SessionEvent => format!("{project}/session-event/{}", str_field(spec, "event")),
        Kind::ZerobusConnection => "the gateway's Zerobus connector".to_string(),
        Kind::Schema
        | Kind::Table
        | Kind::Pipeline
        | Kind::GenieSpace
        | Kind::QualityMonitor
        | Kind::WorkspaceFile => databricks::locator(kind, name, spec),
    }
}

/// References a spec makes to other resources by their fields (not `depends_on`).
fn implicit_references(kind: Kind, spec: &Value) -> Vec<Address> {
    let mut references = Vec::new();
    let project = str_field(spec, "project");
    if !project.is_empty() {
        references.push(Address::new(Kind::Project, project));
    }
    match kind {
        Kind::Udt => {
            if let Some(parent) = spec.get("parent_type").and_then(Value::as_str) {
                references.push(Address::new(Kind::Udt, parent));
            }
            collect_member_types(spec.get("tags"), &mut references);
        }
        Kind::Tag => {
            if let Some(type_id) = spec.get("typeId").and_then(Value::as_str) {
                references.push(Address::new(Kind::Udt, type_id));
            }
        }
        _ => {}
    }
    references
}

fn collect_member_types(members: Option<&Value>, references: &mut Vec<Address>) {
    for member in members.and_then(Value::as_array).into_iter().flatten() {
        if let Some(type_id) = member.get("typeId").and_then(Value::as_str) {
            references.push(Address::new(Kind::Udt, type_id));
        }
        collect_member_types(member.get("tags"), references);
    }
}

/// A `moved: {from: ...}` must name an address that is no longer declared, and only one
/// resource can have moved from it.
fn check_moves(resources: &BTreeMap<Address, DesiredResource>, errors: &mut Vec<ManifestError>) {
    let mut claimed: BTreeMap<&Address, &Address> = BTreeMap::new();
    for resource in resources.values() {
        let Some(from) = &resource.moved_from else {
            continue;
        };
        let origin = &resource.origin;
        if let Some(still) = resources.get(from) {
            errors.push(
                ManifestError::new(
                    &origin.file,
                    origin.line,
                    1,
                    format!(
                        "{} says it moved from {from}, but {from} is still declared in {}:{}",
                        resource.address, still.origin.file, still.origin.line
                    ),
                )
                .with_hint(
                    "remove the old document, or remove `moved:` if both are meant to exist",
                ),
            );
        } else if let Some(first) = claimed.insert(from, &resource.address) {
            errors.push(
                ManifestError::new(
                    &origin.file,
                    origin.line,
                    1,
                    format!(
                        "{} and {first} both say they moved from {from}",
                        resource.address
                    ),
                )
                .with_hint("one live object can move to one address only: keep one `moved:`"),
            );
        }
    }
}

/// Dangling `depends_on`, project, UDT and view references; implicit folder parents.
fn check_references(
    resources: &mut BTreeMap<Address, DesiredResource>,
    explicit: &BTreeMap<Address, Vec<(Located, String)>>,
    files: &ManifestFiles,
    failed: &Failed,
    errors: &mut Vec<ManifestError>,
) {
    let addresses: BTreeSet<Address> = resources.keys().cloned().collect();
    let some_view_failed = failed.unreadable
        || failed
            .addresses
            .iter()
            .any(|a| a.kind == Kind::PerspectiveView);
    let views: BTreeSet<(String, String)> = resources
        .values()
        .filter(|r| r.address.kind == Kind::PerspectiveView)
        .map(|r| {
            (
                str_field(&r.spec, "project").to_string(),
                str_field(&r.spec, "view_path").to_string(),
            )
        })
        .collect();
    // Each file's lines, split once: a file may declare many thousands of resources.
    let mut lines_of: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for resource in resources.values() {
        let file = &resource.origin.file;
        if !lines_of.contains_key(file) {
            let text = files
                .text(file)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or("");
            lines_of.insert(file.clone(), text.lines().collect());
        }
    }
    for resource in resources.values_mut() {
        let file = resource.origin.file.clone();
        let lines = lines_of.get(file.as_str()).map_or(&[][..], Vec::as_slice);
        let find = |needle: &str| -> (usize, usize) {
            lines
                .iter()
                .enumerate()
                .skip(resource.origin.line.saturating_sub(1))
                .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, l[..c].chars().count() + 1)))
                .unwrap_or((resource.origin.line, 1))
        };
        for dependency in &resource.depends_on {
            if !addresses.contains(dependency) && !failed.explains(dependency) {
                let (what, needle, hint) = match dependency.kind {
                    Kind::Project => (
                        "project",
                        "project:",
                        "declare a `kind: project` manifest with that name",
                    ),
                    Kind::Udt => (
                        "UDT",
                        dependency.name.as_str(),
                        "declare a `kind: udt` manifest with that name",
                    ),
                    _ => (
                        "resource",
                        dependency.name.as_str(),
                        "declare it, or fix the reference",
                    ),
                };
                let (line, column) = find(needle);
                errors.push(
                    ManifestError::new(
                        &file,
                        line,
                        column,
                        format!(
                            "{} references {what} {dependency}, which no manifest declares",
                            resource.address
                        ),
                    )
                    .with_hint(hint),
                );
            }
        }
        if resource.address.kind == Kind::PageConfig {
            let project = str_field(&resource.spec, "project").to_string();
            if let Some(pages) = resource
                .spec
                .pointer("/config/pages")
                .and_then(Value::as_object)
            {
                for (url, page) in pages {
                    let view_path = str_field(page, "viewPath");
                    if !some_view_failed
                        && !views.contains(&(project.clone(), view_path.to_string()))
                    {
                        let (line, column) = find(view_path);
                        errors.push(
                            ManifestError::new(&file, line, column, format!("page `{url}` routes to view `{view_path}`, which project {project} does not declare"))
                                .with_hint("a dangling viewPath breaks every route of the project; declare the perspective_view or fix the path"),
                        );
                    }
                }
            }
        }
        for (dependency, file) in explicit.get(&resource.address).into_iter().flatten() {
            let (line, column) = (dependency.line, dependency.column);
            match dependency.value.parse::<Address>() {
                Ok(address) if address == resource.address => errors.push(
                    ManifestError::new(file, line, column, format!("{address} depends on itself"))
                        .with_hint("remove it from its own `depends_on`"),
                ),
                Ok(address) if addresses.contains(&address) => {
                    if address != resource.address && !resource.depends_on.contains(&address) {
                        resource.depends_on.push(address);
                    }
                }
                Ok(address) if failed.explains(&address) => {}
                Ok(address) => errors.push(
                    ManifestError::new(
                        file,
                        line,
                        column,
                        format!("depends_on names {address}, which no manifest declares"),
                    )
                    .with_hint("fix the address (`kind/name`) or remove it"),
                ),
                Err(error) => errors.push(
                    ManifestError::new(file, line, column, error.to_string())
                        .with_hint("write addresses as `kind/name`, e.g. `udt/Crusher`"),
                ),
            }
        }
        // A declared parent folder is an implicit dependency of a tag.
        if resource.address.kind == Kind::Tag {
            let mut path = resource.address.name.as_str();
            while let Some((parent, _)) = path.rsplit_once('/') {
                let parent_address = Address::new(Kind::Tag, parent);
                if addresses.contains(&parent_address) {
                    if !resource.depends_on.contains(&parent_address) {
                        resource.depends_on.push(parent_address);
                    }
                    break;
                }
                path = parent;
            }
        }
        resource.depends_on.sort();
        resource.depends_on.dedup();
    }
    // Page configs depend on the views they route to.
    let view_addresses: BTreeMap<(String, String), Address> = resources
        .values()
        .filter(|r| r.address.kind == Kind::PerspectiveView)
        .map(|r| {
            (
                (
                    str_field(&r.spec, "project").to_string(),
                    str_field(&r.spec, "view_path").to_string(),
                ),
                r.address.clone(),
            )
        })
        .collect();
    for resource in resources
        .values_mut()
        .filter(|r| r.address.kind == Kind::PageConfig)
    {
        let project = str_field(&resource.spec, "project").to_string();
        let routed: Vec<Address> = resource
            .spec
            .pointer("/config/pages")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(_, page)| {
                view_addresses
                    .get(&(project.clone(), str_field(page, "viewPath").to_string()))
                    .cloned()
            })
            .collect();
        resource.depends_on.extend(routed);
        resource.depends_on.sort();
        resource.depends_on.dedup();
    }
}

/// Dependency cycles, each named in full.
fn check_cycles(resources: &BTreeMap<Address, DesiredResource>, errors: &mut Vec<ManifestError>) {
    let mut graph = DiGraph::<&Address, ()>::new();
    let nodes: BTreeMap<&Address, _> = resources.keys().map(|a| (a, graph.add_node(a))).collect();
    for resource in resources.values() {
        for dependency in &resource.depends_on {
            if let Some(&to) = nodes.get(dependency) {
                graph.add_edge(nodes[&resource.address], to, ());
            }
        }
    }
    for component in petgraph::algo::tarjan_scc(&graph) {
        let self_loop = component.len() == 1 && graph.contains_edge(component[0], component[0]);
        if component.len() < 2 && !self_loop {
            continue;
        }
        let members: BTreeSet<&Address> = component.iter().map(|&n| graph[n]).collect();
        let smallest = *members.first().expect("a component has a member");
        let first = &resources[smallest];
        // Walk the cycle from its smallest member so the message reads as a path.
        let mut path = vec![smallest.clone()];
        let mut current = smallest;
        while path.len() <= members.len() {
            let next = resources[current]
                .depends_on
                .iter()
                .filter(|d| members.contains(d))
                .min()
                .expect("a member of a cycle depends on another member");
            path.push(next.clone());
            if next == smallest {
                break;
            }
            current = next;
        }
        let cycle = path
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(" -> ");
        errors.push(
            ManifestError::new(
                &first.origin.file,
                first.origin.line,
                1,
                format!("dependency cycle: {cycle}"),
            )
            .with_hint(
                "remove one of these dependencies (depends_on or a reference) to break the cycle",
            ),
        );
    }
}
