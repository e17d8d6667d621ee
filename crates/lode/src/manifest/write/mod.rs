//! Writing manifests from live objects (`lode import`) and editing them in place (`lode pull`).
//! `render_import` turns discovered objects into the manifest and payload files a person would
//! have written: the demo's layout, one document per object, the manifest's defaults left out,
//! payloads in their own files, and values written back as `${var...}`, `${ref...}` and
//! `${env...}` (never a secret's value). `edit` changes existing manifests without touching
//! anything it was not asked to change. Nothing here reads or writes the disk: the caller gets
//! file contents and writes them.

pub mod edit;
pub mod emit;
pub mod layout;
pub mod naming;
pub mod reverse;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

pub use reverse::{
    Ambiguity, DeclaredObject, ReferenceSource, ReverseContext, Reverser, SecretUse, TextKind,
};

use self::edit::{DocumentPath, PathSegment, WrittenForm};
use self::layout::LayoutPlan;
use super::interpolate::Interpolator;
use super::load::str_field;
use super::table_data::{WriteCsvError, write_csv};
use super::{Address, Kind, ManifestFiles, normalize_workspace_path};

/// A live object to write as a manifest: what a provider's discovery found. `spec` is the
/// canonical live spec, as `refresh` returns it (payloads inline: a script's body, a view, a
/// file's content, a table's rows when they were read), without the system's own defaults
/// and read-only fields; `id` and `outputs` are what other objects may reference.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedObject {
    pub kind: Kind,
    /// The object's path or name where it lives: a tag, UDT or view path, a project name.
    pub name_hint: String,
    pub spec: Value,
    pub id: Option<String>,
    pub outputs: BTreeMap<String, Value>,
}

/// Whether a file is new or gets documents appended after its earlier bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    Create,
    Append,
}

impl FileAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FileAction::Create => "create",
            FileAction::Append => "append",
        }
    }
}

/// One file to write, relative to the manifest root, with its whole new content.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedFile {
    pub path: String,
    pub action: FileAction,
    pub content: Vec<u8>,
    /// The resources whose documents (or payloads) it holds.
    pub addresses: Vec<Address>,
}

/// An object that is not written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedObject {
    /// Its position in the objects given to `render_import`.
    pub index: usize,
    pub kind: Kind,
    pub name: String,
    pub reason: String,
}

/// What `render_import` produced.
#[derive(Debug, Default)]
pub struct RenderedImport {
    /// Manifest files first, then payload files, each sorted by path.
    pub files: Vec<RenderedFile>,
    /// Each object's address, in the order given; `None` for a skipped one.
    pub addresses: Vec<Option<Address>>,
    pub skipped: Vec<SkippedObject>,
    /// Every secret written as `${env.NAME}`.
    pub secrets: Vec<SecretUse>,
    /// Values several variables hold, left literal.
    pub ambiguous: Vec<Ambiguity>,
    pub warnings: Vec<String>,
}

impl RenderedImport {
    /// The manifest root as it will be once the files are written: `existing` with each file
    /// added or replaced.
    pub fn overlay(&self, existing: &ManifestFiles) -> ManifestFiles {
        let mut files = existing.files.clone();
        for file in &self.files {
            files.insert(file.path.clone(), file.content.clone());
        }
        let mut overlay = ManifestFiles::from_memory(existing.root.clone(), files);
        overlay.escaping_links = existing.escaping_links.clone();
        overlay
    }

    /// What the generated manifests need from the environment to load before the secrets are
    /// set: each introduced `${env.NAME}` with the live value it replaced, or a placeholder for
    /// a write-only field lode cannot read.
    pub fn secret_values(&self) -> BTreeMap<String, String> {
        self.secrets
            .iter()
            .map(|s| {
                (
                    s.env.clone(),
                    s.live_value()
                        .unwrap_or("(write-only: not readable)")
                        .to_string(),
                )
            })
            .collect()
    }
}

/// Why the objects could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderImportError {
    #[error("{address}: its rows cannot be written as a seed file: {why}")]
    Seed { address: Address, why: String },
}

impl RenderImportError {
    /// What the user should do.
    pub fn hint(&self) -> &'static str {
        match self {
            RenderImportError::Seed { .. } => {
                "import the table without --with-rows (its rows stay where they are), or fix what is named and import it again"
            }
        }
    }
}

/// The order of kinds within a file: what others depend on first (the pipeline's source files
/// before the pipeline).
const FILE_ORDER: [Kind; 15] = [
    Kind::Project,
    Kind::Udt,
    Kind::Tag,
    Kind::GatewayScript,
    Kind::PerspectiveView,
    Kind::PageConfig,
    Kind::SessionProps,
    Kind::SessionEvent,
    Kind::ZerobusConnection,
    Kind::Schema,
    Kind::Table,
    Kind::WorkspaceFile,
    Kind::Pipeline,
    Kind::GenieSpace,
    Kind::QualityMonitor,
];

fn file_rank(kind: Kind) -> usize {
    FILE_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(usize::MAX)
}

/// A payload taken out of a spec: its field, and its content.
enum Payload {
    Text {
        field: &'static str,
        text: String,
        sql: bool,
    },
    Json {
        field: &'static str,
        document: Value,
    },
    Seed {
        rows: Vec<Vec<Value>>,
    },
}

/// One document being written.
struct Pending {
    index: usize,
    address: Address,
    manifest: String,
    document: String,
}

/// Writes `objects` as manifests and payload files under the root `existing` describes: new
/// files, or documents appended to existing ones (their bytes kept), payloads under names no
/// file has.
pub fn render_import(
    objects: &[ImportedObject],
    context: &ReverseContext,
    existing: &ManifestFiles,
) -> Result<RenderedImport, RenderImportError> {
    let mut taken: BTreeSet<Address> = context.declared.keys().cloned().collect();
    let names = naming::assign(objects, &mut taken, &context.variables);
    let mut rendered = RenderedImport {
        addresses: names.iter().map(|n| n.as_ref().ok().cloned()).collect(),
        ..RenderedImport::default()
    };
    let mut named: Vec<(usize, Address, &ImportedObject)> = Vec::new();
    for (index, (object, name)) in objects.iter().zip(&names).enumerate() {
        match name {
            Ok(address) => named.push((index, address.clone(), object)),
            Err(reason) => rendered.skipped.push(SkippedObject {
                index,
                kind: object.kind,
                name: object.name_hint.clone(),
                reason: reason.clone(),
            }),
        }
    }
    let targets: Vec<ReferenceSource> = named
        .iter()
        .map(|(_, address, object)| ReferenceSource {
            address,
            spec: &object.spec,
            id: object.id.as_deref(),
            outputs: &object.outputs,
        })
        .collect();
    let mut reverser = Reverser::new(context, &targets);
    let written_deps = written_dependencies(&named, context);
    for (from, to) in value_dependencies(&named, context).into_iter().chain(
        written_deps
            .iter()
            .flat_map(|(from, tos)| tos.iter().map(move |to| (from.clone(), to.clone()))),
    ) {
        reverser.graph.add(&from, &to);
    }

    let plan_objects: Vec<&ImportedObject> = named.iter().map(|(_, _, o)| *o).collect();
    let layout = LayoutPlan::new(&plan_objects);
    let mut taken_paths: BTreeSet<String> = BTreeSet::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut payload_files: Vec<RenderedFile> = Vec::new();
    let manifests: Vec<String> = named
        .iter()
        .map(|(_, _, object)| layout.manifest_file(object))
        .collect();
    let mut order: Vec<usize> = (0..named.len()).collect();
    order.sort_by_key(|&position| {
        let (_, address, object) = &named[position];
        (&manifests[position], file_rank(object.kind), &address.name)
    });
    for position in order {
        let (index, address, object) = &named[position];
        let manifest = manifests[position].clone();
        let (spec, payload) = manifest_spec(object.kind, &address.name, &object.spec);
        let mut spec = match reverser.spec(address, &Value::Object(spec)) {
            Value::Object(map) => map,
            _ => unreachable!("a spec stays an object"),
        };
        if let Some(payload) = payload {
            let wanted = layout
                .payload_file(object, &address.name)
                .expect("every kind with a payload has a payload file");
            let path = layout::unique_path(&wanted, existing, &mut taken_paths);
            let relative = layout::relative_to(&manifest, &path);
            let (field, content) = match payload {
                Payload::Text { field, text, sql } => {
                    let kind = if sql { TextKind::Sql } else { TextKind::Code };
                    let site = reverse::Site {
                        address,
                        pointer: &format!("/{}", source_field(object.kind, field)),
                        key: None,
                        text: kind,
                    };
                    (field, reverser.string(&text, &site))
                }
                Payload::Json { field, document } => {
                    let document = reverser.value(
                        address,
                        &document,
                        &format!("/{field}"),
                        None,
                        TextKind::Field,
                    );
                    let mut text =
                        serde_json::to_string_pretty(&document).expect("JSON values serialise");
                    text.push('\n');
                    (field, text)
                }
                Payload::Seed { rows } => {
                    if !has_primary_key(&object.spec) {
                        return Err(RenderImportError::Seed {
                            address: address.clone(),
                            why: "the table has no primary key, and seed rows are matched by key: declare a PRIMARY KEY constraint on it first".into(),
                        });
                    }
                    let columns: Vec<String> = object
                        .spec
                        .get("columns")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|c| str_field(c, "name").to_string())
                        .collect();
                    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
                    let csv = write_csv(&columns, &rows).map_err(|error: WriteCsvError| {
                        RenderImportError::Seed {
                            address: address.clone(),
                            why: error.to_string(),
                        }
                    })?;
                    ("seed", csv)
                }
            };
            spec.insert(field.to_string(), Value::String(relative));
            payload_files.push(RenderedFile {
                path,
                action: FileAction::Create,
                content: content.into_bytes(),
                addresses: vec![address.clone()],
            });
        }
        let depends_on: Vec<String> = written_deps
            .get(address)
            .into_iter()
            .flatten()
            .map(|a| a.to_string())
            .collect();
        let document = emit::document(
            object.kind.as_str(),
            &address.name,
            &depends_on,
            &Value::Object(in_field_order(object.kind, spec)),
        );
        pending.push(Pending {
            index: *index,
            address: address.clone(),
            manifest,
            document,
        });
    }

    // Manifest files: documents grouped by file, in the order computed above.
    let mut by_file: BTreeMap<String, Vec<&Pending>> = BTreeMap::new();
    for document in &pending {
        by_file
            .entry(document.manifest.clone())
            .or_default()
            .push(document);
    }
    for (path, documents) in by_file {
        let body = documents
            .iter()
            .map(|d| d.document.as_str())
            .collect::<Vec<_>>()
            .join("---\n");
        let addresses: Vec<Address> = documents.iter().map(|d| d.address.clone()).collect();
        let (action, content) = match existing.files.get(&path) {
            Some(before) => {
                let mut content = before.clone();
                if !content.is_empty() && !content.ends_with(b"\n") {
                    content.push(b'\n');
                }
                content.extend_from_slice(b"---\n");
                content.extend_from_slice(body.as_bytes());
                (FileAction::Append, content)
            }
            None => {
                let mut kinds: BTreeMap<Kind, usize> = BTreeMap::new();
                let mut folders: BTreeSet<String> = BTreeSet::new();
                for document in &documents {
                    *kinds.entry(document.address.kind).or_default() += 1;
                    if document.address.kind == Kind::Tag {
                        let object = &objects[document.index];
                        let top = document.address.name.split('/').next().unwrap_or("");
                        folders.insert(format!(
                            "{top} (provider {})",
                            str_field(&object.spec, "provider")
                        ));
                    }
                }
                let mut content = layout::heading(&path, &kinds, &folders);
                content.push_str(&body);
                (FileAction::Create, content.into_bytes())
            }
        };
        rendered.files.push(RenderedFile {
            path,
            action,
            content,
            addresses,
        });
    }
    payload_files.sort_by(|a, b| a.path.cmp(&b.path));
    rendered.files.extend(payload_files);
    let report = reverser.report;
    rendered.secrets = report.secrets;
    rendered.ambiguous = report.ambiguous;
    rendered.warnings = report.warnings;
    Ok(rendered)
}

/// The spec field a payload replaces, as the engine names it (a workspace file's `content`).
fn source_field(kind: Kind, field: &str) -> &str {
    match (kind, field) {
        (Kind::WorkspaceFile, "source") => "content",
        _ => field,
    }
}

/// The order a person reads a kind's fields in (the order of its typed spec in
/// manifest/kinds.rs); fields not listed (Ignition's own tag keys) keep their live order after
/// the listed ones.
fn field_order(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Project => &["title", "description", "enabled", "inheritable", "parent"],
        Kind::Udt => &["provider", "parent_type", "parameters", "tags"],
        Kind::Tag => &["provider", "tagType", "typeId"],
        Kind::GatewayScript => &[
            "project",
            "resource_name",
            "type",
            "enabled",
            "delay_ms",
            "delay_type",
            "threading",
            "tag_paths",
            "change_types",
            "script",
        ],
        Kind::PerspectiveView => &["project", "view_path", "view"],
        Kind::PageConfig => &["project", "config"],
        Kind::SessionProps => &["project", "props"],
        Kind::SessionEvent => &["project", "event", "enabled", "script"],
        Kind::ZerobusConnection => &[
            "enabled",
            "workspaceUrl",
            "zerobusEndpoint",
            "oauthClientId",
            "oauthClientSecret",
            "oauthTokenEndpoint",
            "targetTable",
            "sourceSystemId",
            "tagSelectionMode",
            "tagFolderPath",
            "tagPathPattern",
            "explicitTagPaths",
            "includeSubfolders",
            "batchSize",
            "batchFlushIntervalMs",
            "maxEventsPerSecond",
            "enableStoreAndForward",
            "includeQuality",
            "onlyOnChange",
            "debugLogging",
        ],
        Kind::Schema => &["catalog", "name", "comment", "properties"],
        Kind::Table => &[
            "catalog",
            "schema",
            "name",
            "comment",
            "columns",
            "properties",
            "primary_key",
            "seed",
        ],
        Kind::Pipeline => &[
            "name",
            "catalog",
            "schema",
            "libraries",
            "configuration",
            "continuous",
            "development",
            "channel",
            "edition",
            "photon",
            "serverless",
            "clusters",
            "notifications",
            "tags",
            "storage",
            "root_path",
        ],
        Kind::GenieSpace => &[
            "title",
            "description",
            "warehouse_id",
            "parent_path",
            "tables",
            "instructions",
            "example_sql",
            "sample_questions",
        ],
        Kind::QualityMonitor => &[
            "table",
            "output_schema",
            "assets_dir",
            "time_series",
            "snapshot",
            "schedule",
            "slicing_exprs",
        ],
        Kind::WorkspaceFile => &["path", "source"],
    }
}

/// `map` with the keys of `order` first, in that order, then the others as they were.
fn ordered(mut map: Map<String, Value>, order: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    for key in order {
        if let Some(value) = map.shift_remove(*key) {
            out.insert((*key).to_string(), value);
        }
    }
    out.extend(map);
    out
}

/// A manifest spec in its kind's field order (a table's columns too).
fn in_field_order(kind: Kind, spec: Map<String, Value>) -> Map<String, Value> {
    let mut spec = ordered(spec, field_order(kind));
    if kind == Kind::Table
        && let Some(Value::Array(columns)) = spec.get_mut("columns")
    {
        for column in columns.iter_mut() {
            if let Value::Object(map) = column {
                *map = ordered(
                    std::mem::take(map),
                    &["name", "type", "nullable", "comment"],
                );
            }
        }
    }
    spec
}

/// Removes `key` when it holds `default`.
fn drop_default(spec: &mut Map<String, Value>, key: &str, default: Value) {
    if spec.get(key) == Some(&default) {
        spec.shift_remove(key);
    }
}

/// Removes `key` when it holds an empty object, an empty list or null.
fn drop_empty(spec: &mut Map<String, Value>, key: &str) {
    let empty = match spec.get(key) {
        Some(Value::Object(map)) => map.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Null) => true,
        _ => false,
    };
    if empty {
        spec.shift_remove(key);
    }
}

/// Nulls removed at every depth (tag configuration: null means "not set").
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// A live spec as its manifest writes it: the manifest's defaults left out (the loader fills
/// them in again), and the payload taken out.
fn manifest_spec(kind: Kind, name: &str, live: &Value) -> (Map<String, Value>, Option<Payload>) {
    let live = if matches!(kind, Kind::Tag | Kind::Udt) {
        without_nulls(live)
    } else {
        live.clone()
    };
    let mut spec = live.as_object().cloned().unwrap_or_default();
    spec.retain(|_, v| !v.is_null());
    let mut payload = None;
    match kind {
        Kind::Project => {
            drop_default(&mut spec, "title", json!(""));
            drop_default(&mut spec, "description", json!(""));
            drop_default(&mut spec, "enabled", json!(true));
            drop_default(&mut spec, "inheritable", json!(false));
            drop_default(&mut spec, "parent", json!(""));
        }
        Kind::Udt => {
            drop_empty(&mut spec, "parameters");
            drop_empty(&mut spec, "tags");
        }
        Kind::Tag => {
            // A tag resource is named by its path, never by `spec.name`.
            spec.shift_remove("name");
            drop_empty(&mut spec, "parameters");
            drop_empty(&mut spec, "tags");
            drop_empty(&mut spec, "alarms");
        }
        Kind::GatewayScript => {
            drop_default(&mut spec, "enabled", json!(true));
            match str_field(&live, "type") {
                "timer" => {
                    drop_default(&mut spec, "delay_ms", json!(1000));
                    drop_default(&mut spec, "delay_type", json!("fixed_delay"));
                    drop_default(&mut spec, "threading", json!("shared"));
                }
                "tag_change" => drop_default(&mut spec, "change_types", json!(["ValueChange"])),
                _ => {}
            }
            drop_default(&mut spec, "resource_name", json!(name));
            drop_empty(&mut spec, "tag_paths");
            drop_empty(&mut spec, "change_types");
            if let Some(Value::String(text)) = spec.shift_remove("script") {
                payload = Some(Payload::Text {
                    field: "script",
                    text,
                    sql: false,
                });
            }
        }
        Kind::PerspectiveView => {
            drop_default(&mut spec, "view_path", json!(name));
            if let Some(document) = spec.shift_remove("view") {
                payload = Some(Payload::Json {
                    field: "view",
                    document,
                });
            }
        }
        Kind::SessionEvent => {
            drop_default(&mut spec, "enabled", json!(true));
            if let Some(Value::String(text)) = spec.shift_remove("script") {
                payload = Some(Payload::Text {
                    field: "script",
                    text,
                    sql: false,
                });
            }
        }
        Kind::PageConfig | Kind::SessionProps | Kind::ZerobusConnection => {}
        Kind::Schema => {
            drop_default(&mut spec, "name", json!(name));
            drop_empty(&mut spec, "properties");
        }
        Kind::Table => {
            drop_default(&mut spec, "name", json!(name));
            drop_empty(&mut spec, "properties");
            drop_empty(&mut spec, "primary_key");
            if let Some(Value::Array(columns)) = spec.get_mut("columns") {
                for column in columns.iter_mut().filter_map(Value::as_object_mut) {
                    drop_default(column, "nullable", json!(true));
                    column.retain(|_, v| !v.is_null());
                }
            }
            if let Some(Value::Array(rows)) = spec.shift_remove("rows") {
                let rows = rows
                    .into_iter()
                    .map(|row| match row {
                        Value::Array(cells) => cells,
                        other => vec![other],
                    })
                    .collect();
                payload = Some(Payload::Seed { rows });
            }
        }
        Kind::Pipeline => {
            drop_default(&mut spec, "name", json!(name));
            for flag in ["continuous", "development", "photon", "serverless"] {
                drop_default(&mut spec, flag, json!(false));
            }
            drop_default(&mut spec, "channel", json!("CURRENT"));
            drop_default(&mut spec, "edition", json!("ADVANCED"));
            for list in ["configuration", "clusters", "notifications", "tags"] {
                drop_empty(&mut spec, list);
            }
        }
        Kind::GenieSpace => {
            drop_empty(&mut spec, "example_sql");
            drop_empty(&mut spec, "sample_questions");
        }
        Kind::QualityMonitor => {
            if let Some(Value::Object(schedule)) = spec.get_mut("schedule") {
                drop_default(schedule, "timezone_id", json!("UTC"));
            }
            drop_empty(&mut spec, "slicing_exprs");
        }
        Kind::WorkspaceFile => {
            if let Some(Value::String(text)) = spec.shift_remove("content") {
                let sql = str_field(&live, "path")
                    .to_ascii_lowercase()
                    .ends_with(".sql");
                payload = Some(Payload::Text {
                    field: "source",
                    text,
                    sql,
                });
            }
        }
    }
    (spec, payload)
}

/// The names of the datasets (tables, views) a pipeline's SQL creates, as written
/// (`CREATE OR REFRESH STREAMING TABLE ot_telemetry_silver`).
fn created_datasets(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    let mut index = 0;
    while index < words.len() {
        if words[index].eq_ignore_ascii_case("create") {
            let mut next = index + 1;
            while next < words.len()
                && [
                    "or",
                    "refresh",
                    "replace",
                    "streaming",
                    "live",
                    "materialized",
                    "temporary",
                    "temp",
                    "private",
                ]
                .iter()
                .any(|w| words[next].eq_ignore_ascii_case(w))
            {
                next += 1;
            }
            if next < words.len()
                && (words[next].eq_ignore_ascii_case("table")
                    || words[next].eq_ignore_ascii_case("view"))
            {
                next += 1;
                while next < words.len()
                    && ["if", "not", "exists"]
                        .iter()
                        .any(|w| words[next].eq_ignore_ascii_case(w))
                {
                    next += 1;
                }
                if let Some(name) = words.get(next) {
                    out.push(name.replace('`', ""));
                }
            }
            index = next;
        }
        index += 1;
    }
    out
}

/// Whether `text` holds `word` with word boundaries (not part of a longer name).
fn mentions(text: &str, word: &str) -> bool {
    let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    text.match_indices(word).any(|(index, _)| {
        boundary(text[..index].chars().last())
            && boundary(text[index + word.len()..].chars().next())
    })
}

/// The `depends_on` a value cannot show (docs/manifests.md "Dependencies"): a Genie space or a
/// monitor on a table an imported pipeline creates depends on that pipeline; an imported
/// pipeline depends on the tables its configuration or its source files name.
fn written_dependencies(
    named: &[(usize, Address, &ImportedObject)],
    context: &ReverseContext,
) -> BTreeMap<Address, Vec<Address>> {
    // Every table lode manages or imports, by full name.
    let mut tables: BTreeMap<String, Address> = BTreeMap::new();
    for (address, object) in &context.declared {
        if address.kind == Kind::Table {
            tables.insert(
                super::databricks::full_table_name(&object.spec),
                address.clone(),
            );
        }
    }
    for (_, address, object) in named {
        if address.kind == Kind::Table {
            let mut spec = object.spec.clone();
            if spec.get("name").is_none() {
                spec["name"] = json!(address.name);
            }
            tables.insert(super::databricks::full_table_name(&spec), address.clone());
        }
    }
    let file_contents: BTreeMap<String, &str> = named
        .iter()
        .filter(|(_, a, _)| a.kind == Kind::WorkspaceFile)
        .map(|(_, _, o)| {
            (
                normalize_workspace_path(str_field(&o.spec, "path")),
                str_field(&o.spec, "content"),
            )
        })
        .collect();
    let mut datasets: BTreeMap<String, Address> = BTreeMap::new();
    let mut out: BTreeMap<Address, Vec<Address>> = BTreeMap::new();
    for (_, address, object) in named.iter().filter(|(_, a, _)| a.kind == Kind::Pipeline) {
        let spec = &object.spec;
        let schema = format!(
            "{}.{}",
            str_field(spec, "catalog"),
            str_field(spec, "schema")
        );
        let sources: Vec<&str> = spec
            .get("libraries")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|library| {
                library
                    .pointer("/file/path")
                    .or_else(|| library.pointer("/notebook/path"))
                    .and_then(Value::as_str)
            })
            .filter_map(|path| file_contents.get(&normalize_workspace_path(path)).copied())
            .collect();
        let mut created = BTreeSet::new();
        for source in &sources {
            for name in created_datasets(source) {
                let full = match name.split('.').count() {
                    3 => name.clone(),
                    2 => format!("{}.{name}", str_field(spec, "catalog")),
                    _ => format!("{schema}.{name}"),
                };
                datasets.insert(full.clone(), address.clone());
                created.insert(full);
            }
        }
        let configuration: Vec<&str> = spec
            .get("configuration")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(_, v)| v.as_str())
            .collect();
        let mut needs = Vec::new();
        for (full_name, table) in &tables {
            if created.contains(full_name) {
                continue;
            }
            let short = full_name.rsplit('.').next().unwrap_or(full_name);
            let in_schema = full_name.starts_with(&format!("{schema}."));
            let named_in_config = configuration.iter().any(|v| mentions(v, full_name));
            let named_in_sources = sources
                .iter()
                .any(|s| mentions(s, full_name) || (in_schema && mentions(s, short)));
            if named_in_config || named_in_sources {
                needs.push(table.clone());
            }
        }
        if !needs.is_empty() {
            out.insert(address.clone(), needs);
        }
    }
    for (_, address, object) in named {
        let on: Vec<&str> = match address.kind {
            Kind::GenieSpace => object
                .spec
                .get("tables")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect(),
            Kind::QualityMonitor => vec![str_field(&object.spec, "table")],
            _ => continue,
        };
        let mut needs: Vec<Address> = on
            .iter()
            .filter_map(|table| datasets.get(*table).cloned())
            .collect();
        needs.sort();
        needs.dedup();
        if !needs.is_empty() {
            out.insert(address.clone(), needs);
        }
    }
    out
}

/// The dependencies the loader will find by value among the imported objects (a project, a
/// UDT, a schema, a pipeline's files, a Genie space's tables, a monitor's table), for refusing
/// references that would close a cycle.
fn value_dependencies(
    named: &[(usize, Address, &ImportedObject)],
    context: &ReverseContext,
) -> Vec<(Address, Address)> {
    let mut schemas: BTreeMap<String, Address> = BTreeMap::new();
    let mut tables: BTreeMap<String, Address> = BTreeMap::new();
    let mut files: BTreeMap<String, Address> = BTreeMap::new();
    let everything = context
        .declared
        .iter()
        .map(|(a, o)| (a.clone(), &o.spec))
        .chain(named.iter().map(|(_, a, o)| (a.clone(), &o.spec)));
    for (address, spec) in everything {
        match address.kind {
            Kind::Schema => {
                let name = spec
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or(&address.name);
                schemas.insert(format!("{}.{name}", str_field(spec, "catalog")), address);
            }
            Kind::Table => {
                let name = spec
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or(&address.name);
                tables.insert(
                    format!(
                        "{}.{}.{name}",
                        str_field(spec, "catalog"),
                        str_field(spec, "schema")
                    ),
                    address,
                );
            }
            Kind::WorkspaceFile => {
                files.insert(normalize_workspace_path(str_field(spec, "path")), address);
            }
            _ => {}
        }
    }
    let mut edges = Vec::new();
    for (_, address, object) in named {
        let spec = &object.spec;
        let mut to: Vec<Address> = Vec::new();
        let project = str_field(spec, "project");
        if !project.is_empty() {
            to.push(Address::new(Kind::Project, project));
        }
        if let Some(type_id) = spec.get("typeId").and_then(Value::as_str) {
            to.push(Address::new(Kind::Udt, type_id));
        }
        if let Some(parent) = spec.get("parent_type").and_then(Value::as_str) {
            to.push(Address::new(Kind::Udt, parent));
        }
        let schema = format!(
            "{}.{}",
            str_field(spec, "catalog"),
            str_field(spec, "schema")
        );
        match address.kind {
            Kind::Table => to.extend(schemas.get(&schema).cloned()),
            Kind::Pipeline => {
                to.extend(schemas.get(&schema).cloned());
                for library in spec
                    .get("libraries")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(path) = library.pointer("/file/path").and_then(Value::as_str) {
                        to.extend(files.get(&normalize_workspace_path(path)).cloned());
                    }
                }
            }
            Kind::GenieSpace => {
                for table in spec
                    .get("tables")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    to.extend(table.as_str().and_then(|t| tables.get(t)).cloned());
                }
            }
            Kind::QualityMonitor => {
                to.extend(tables.get(str_field(spec, "table")).cloned());
                to.extend(schemas.get(str_field(spec, "output_schema")).cloned());
            }
            _ => {}
        }
        edges.extend(to.into_iter().map(|t| (address.clone(), t)));
    }
    edges
}

/// How `lode pull` writes the live values of one resource into its manifest: reverse
/// interpolated against the declared resources, and raw values read back with the manifests'
/// variables and environment.
pub struct PullForm<'c> {
    reverser: RefCell<Reverser<'c>>,
    context: &'c ReverseContext<'c>,
    address: Address,
    text: TextKind,
}

impl<'c> PullForm<'c> {
    /// The form of resource `address`'s spec values; `text` says how payload text is read
    /// (`TextKind::Code` for scripts, `Sql` for SQL files, `Field` for spec values).
    pub fn new(context: &'c ReverseContext<'c>, address: Address, text: TextKind) -> PullForm<'c> {
        PullForm {
            reverser: RefCell::new(Reverser::new(context, &[])),
            context,
            address,
            text,
        }
    }

    /// The secrets written as `${env.NAME}` so far.
    pub fn secrets(&self) -> Vec<SecretUse> {
        self.reverser.borrow().report.secrets.clone()
    }
}

impl WrittenForm for PullForm<'_> {
    fn written(&self, path: &DocumentPath, live: &Value) -> Value {
        let segments: Vec<&PathSegment> = match path.0.first() {
            Some(PathSegment::Key(first)) if first == "spec" => path.0[1..].iter().collect(),
            _ => path.0.iter().collect(),
        };
        let mut pointer = String::new();
        let mut key = None;
        for segment in &segments {
            match segment {
                PathSegment::Key(k) => {
                    pointer.push('/');
                    pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    key = Some(k.as_str());
                }
                PathSegment::Named(n) => {
                    pointer.push('/');
                    pointer.push_str(n);
                }
                PathSegment::Index(i) => pointer.push_str(&format!("/{i}")),
            }
        }
        let text = if segments.is_empty() {
            self.text
        } else {
            TextKind::Field
        };
        self.reverser
            .borrow_mut()
            .value(&self.address, live, &pointer, key, text)
    }

    fn interpolated(&self, raw: &str) -> Option<String> {
        let env = |name: &str| self.context.env_value(name);
        let mut interpolator = Interpolator {
            variables: &self.context.variables,
            env: &env,
            secrets: Vec::new(),
            references: Vec::new(),
            env_is_secret: true,
        };
        interpolator.interpolate(raw).ok()
    }
}

/// Whether a table spec declares a primary key: seed rows are matched by it, so only such a
/// table's rows can be written as a seed.
pub fn has_primary_key(spec: &Value) -> bool {
    spec.get("primary_key")
        .and_then(Value::as_array)
        .is_some_and(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::canonical::{canonical_spec, write_only_fields};
    use crate::engine::refs;
    use crate::manifest::load_desired;
    use std::path::{Path, PathBuf};

    fn demo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests")
    }

    /// An empty manifest root with the demo's `lode.yaml` and environment.
    fn empty_root(dir: &Path) -> ManifestFiles {
        let demo = demo_root();
        let mut files = BTreeMap::new();
        for path in ["lode.yaml", "environments/local.yaml"] {
            files.insert(path.to_string(), std::fs::read(demo.join(path)).unwrap());
        }
        ManifestFiles::from_memory(dir.to_path_buf(), files)
    }

    /// The ids and outputs the demo's objects have once applied (invented, but shaped as the
    /// providers return them).
    fn live_extras(address: &Address, spec: &Value) -> (Option<String>, BTreeMap<String, Value>) {
        let mut outputs = BTreeMap::new();
        let id = match address.kind {
            Kind::GenieSpace => Some("01f0aa11bb22cc33dd44ee55ff667788".to_string()),
            Kind::Pipeline => Some("9a1f3c52-7d4e-4b0a-8c61-2f5e9d7b1a04".to_string()),
            Kind::Table => {
                outputs.insert(
                    "full_name".to_string(),
                    json!(crate::manifest::databricks::full_table_name(spec)),
                );
                Some(format!(
                    "5e0c2d7a-0000-4000-8000-{:012}",
                    spec.to_string().len()
                ))
            }
            Kind::WorkspaceFile => {
                let path = str_field(spec, "path");
                outputs.insert(
                    "url".to_string(),
                    json!(format!("http://127.0.0.1:40123/workspace-files{path}")),
                );
                outputs.insert(
                    "workspace_path".to_string(),
                    json!(format!("/Workspace{path}")),
                );
                None
            }
            _ => None,
        };
        (id, outputs)
    }

    /// Each resource's live spec, id and outputs.
    type LiveValues = BTreeMap<Address, (Value, Option<String>, BTreeMap<String, Value>)>;

    /// Resolves `${ref...}` with the live values of `live`.
    fn resolved(spec: &Value, live: &LiveValues) -> Value {
        let (value, missing) = refs::resolve(spec, &|address, field| {
            let (spec, id, outputs) = live.get(address)?;
            outputs
                .get(field)
                .cloned()
                .or_else(|| {
                    (field == "id")
                        .then(|| id.clone().map(Value::String))
                        .flatten()
                })
                .or_else(|| spec.get(field).cloned())
        });
        assert!(missing.is_empty(), "unresolved references: {missing:?}");
        value
    }

    fn without_write_only(kind: Kind, spec: &Value) -> Value {
        let mut spec = canonical_spec(kind, spec);
        if let Some(map) = spec.as_object_mut() {
            for field in write_only_fields(kind) {
                map.remove(*field);
            }
        }
        spec
    }

    fn file<'a>(rendered: &'a RenderedImport, path: &str) -> &'a str {
        let file = rendered
            .files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| {
                panic!(
                    "no {path} in {:?}",
                    rendered.files.iter().map(|f| &f.path).collect::<Vec<_>>()
                )
            });
        std::str::from_utf8(&file.content).unwrap()
    }

    /// The resources of the manifest root `root` as if read live (references resolved with
    /// invented ids and outputs, write-only fields as the live system shows them), rendered
    /// into an empty root with `root`'s lode.yaml and environment, and loaded again: each comes
    /// back with the canonical spec it had. Returns what was rendered.
    fn round_trip(root: &Path, environment_files: &[&str]) -> RenderedImport {
        let no_env = |_: &str| None;
        // Read from a folder of its own: the root's `.lode/` (an emulator's port, which the
        // built-in environments turn into variables) must not leak into the test.
        let dir = tempfile::tempdir().unwrap();
        let source = ManifestFiles::from_memory(
            dir.path().to_path_buf(),
            ManifestFiles::from_work_tree(root).unwrap().files,
        );
        let loaded = load_desired(&source, "local", &no_env).unwrap();
        let mut live = BTreeMap::new();
        for resource in loaded.desired.resources.values() {
            let (id, outputs) = live_extras(&resource.address, &resource.spec);
            live.insert(
                resource.address.clone(),
                (resource.spec.clone(), id, outputs),
            );
        }
        let mut objects = Vec::new();
        let mut addresses = Vec::new();
        for resource in loaded.desired.resources.values() {
            let mut spec = resolved(&resource.spec, &live);
            for field in write_only_fields(resource.address.kind) {
                spec[*field] = json!("****");
            }
            let (_, id, outputs) = live[&resource.address].clone();
            objects.push(ImportedObject {
                kind: resource.address.kind,
                name_hint: resource.address.name.clone(),
                spec,
                id,
                outputs,
            });
            addresses.push(resource.address.clone());
        }

        let mut files = BTreeMap::new();
        for path in environment_files {
            files.insert(path.to_string(), std::fs::read(root.join(path)).unwrap());
        }
        let empty = ManifestFiles::from_memory(dir.path().to_path_buf(), files);
        let empty_loaded = load_desired(&empty, "local", &no_env).unwrap();
        let context = ReverseContext::new(&empty_loaded, &empty, &no_env);
        let rendered = render_import(&objects, &context, &empty).unwrap();
        assert!(rendered.skipped.is_empty(), "{:?}", rendered.skipped);
        assert!(rendered.ambiguous.is_empty(), "{:?}", rendered.ambiguous);
        assert!(rendered.warnings.is_empty(), "{:?}", rendered.warnings);

        let secrets = rendered.secret_values();
        let lookup = |name: &str| secrets.get(name).cloned();
        let overlay = rendered.overlay(&empty);
        let reloaded = match load_desired(&overlay, "local", &lookup) {
            Ok(reloaded) => reloaded,
            Err(crate::manifest::LoadManifestsError::Invalid(errors)) => {
                for f in &rendered.files {
                    eprintln!("==> {}\n{}", f.path, String::from_utf8_lossy(&f.content));
                }
                panic!("the rendered manifests do not load: {errors:#?}")
            }
            Err(other) => panic!("{other}"),
        };
        let mut new_live = BTreeMap::new();
        for (object, address) in objects.iter().zip(&rendered.addresses) {
            let address = address.clone().expect("every object is written");
            new_live.insert(
                address,
                (
                    object.spec.clone(),
                    object.id.clone(),
                    object.outputs.clone(),
                ),
            );
        }
        assert_eq!(reloaded.desired.resources.len(), objects.len());
        for ((object, source_address), address) in
            objects.iter().zip(&addresses).zip(&rendered.addresses)
        {
            let address = address.as_ref().unwrap();
            let written = &reloaded.desired.resources[address];
            let read_back = resolved(&written.spec, &new_live);
            assert_eq!(
                without_write_only(object.kind, &read_back),
                without_write_only(object.kind, &object.spec),
                "{source_address} (written as {address} in {})",
                written.origin.file
            );
        }
        rendered
    }

    /// The demo's resources as if read live, rendered into an empty root, loaded again: every
    /// kind comes back with the same canonical spec, and variables, references and the secret
    /// come back where the demo writes them.
    #[test]
    fn issue_17_the_demo_round_trips_through_render_and_load() {
        let rendered = round_trip(&demo_root(), &["lode.yaml", "environments/local.yaml"]);
        let kinds: BTreeSet<Kind> = rendered
            .addresses
            .iter()
            .flatten()
            .map(|a| a.kind)
            .collect();
        assert_eq!(kinds.len(), Kind::ALL.len(), "the demo has every kind");

        // Where the demo writes `${...}`, the import does too.
        let zerobus = file(&rendered, "ignition/zerobus.yaml");
        for line in [
            "targetTable: ${ref.table.ot_telemetry_bronze.full_name}",
            "oauthClientSecret: ${env.ZEROBUS_CLIENT_SECRET}",
            "workspaceUrl: ${var.workspace_url}",
            "zerobusEndpoint: ${var.zerobus_endpoint}",
            "oauthClientId: ${var.zerobus_client_id}",
            "tagFolderPath: \"[default]Mining/Equipment\"",
        ] {
            assert!(zerobus.contains(line), "{line} in\n{zerobus}");
        }
        let startup = file(&rendered, "ignition/scripts/session_startup.py");
        for token in [
            "session.custom.genie_space_id = \"${ref.genie_space.mining_operations_intelligence.id}\"",
            "session.custom.workspace_url = \"${var.workspace_url}\"",
            "session.custom.genie_chat_url = \"${ref.workspace_file.chat_index.url}\"",
        ] {
            assert!(startup.contains(token), "{token} in\n{startup}");
        }
        assert!(
            file(&rendered, "ignition/tags.yaml").contains("  provider: ${var.tag_provider}\n")
        );
        assert!(
            file(&rendered, "ignition/perspective.yaml")
                .contains("  project: ${var.ignition_project}\n")
        );
        let genie = file(&rendered, "databricks/genie.yaml");
        for line in [
            "depends_on:\n  - pipeline/mining_telemetry\n",
            "  parent_path: ${var.workspace_root}\n",
            "    - ${var.catalog}.${var.schema}.ot_telemetry_gold\n",
            "          FROM ${var.catalog}.${var.schema}.ot_telemetry_gold\n",
        ] {
            assert!(genie.contains(line), "{line} in\n{genie}");
        }
        let pipeline = file(&rendered, "databricks/pipeline.yaml");
        for line in [
            "kind: workspace_file\nname: pipeline_gold\nspec:\n  path: ${var.workspace_root}/pipeline/gold.sql\n  source: pipeline/gold.sql\n",
            "depends_on:\n  - table/equipment_master\n  - table/equipment_types\n  - table/ot_telemetry_bronze\n",
            "  catalog: ${var.catalog}\n  schema: ${var.schema}\n",
            "    - file: {path: \"${var.workspace_root}/pipeline/silver.sql\"}\n",
            "    mining_demo.bronze_table: ${var.catalog}.${var.schema}.ot_telemetry_bronze\n",
        ] {
            assert!(pipeline.contains(line), "{line} in\n{pipeline}");
        }
        assert!(
            file(&rendered, "databricks/monitor.yaml")
                .contains("depends_on:\n  - pipeline/mining_telemetry\n")
        );
        assert!(file(&rendered, "databricks/chat.yaml").contains("  source: chat/index.html\n"));
        assert_eq!(
            file(&rendered, "databricks/seeds/equipment_types.csv")
                .lines()
                .next(),
            Some(
                "equipment_type,display_name,ignition_udt,description,primary_metric,typical_vibration_mm_s,vibration_alarm_mm_s,vibration_critical_mm_s,temperature_point,temperature_alarm_c,temperature_critical_c"
            )
        );
        assert_eq!(
            file(&rendered, "ignition/scripts.yaml"),
            "# 2 gateway event scripts, imported from the gateway by `lode import`.\nkind: gateway_script\nname: fault_injection\nspec:\n  project: ${var.ignition_project}\n  resource_name: Fault Injection\n  type: timer\n  delay_type: fixed_rate\n  script: scripts/fault_injection.py\n---\nkind: gateway_script\nname: physics_simulation\nspec:\n  project: ${var.ignition_project}\n  resource_name: Physics Simulation\n  type: timer\n  delay_type: fixed_rate\n  threading: dedicated\n  script: scripts/physics_simulation.py\n"
        );
        // The secret is reported by name, and its value is in no file.
        let names: Vec<(&str, &str, bool)> = rendered
            .secrets
            .iter()
            .map(|s| (s.address.name.as_str(), s.env.as_str(), s.set))
            .collect();
        assert_eq!(names, [("telemetry", "ZEROBUS_CLIENT_SECRET", true)]);
        let secret = crate::manifest::environment::LOCAL_ZEROBUS_CLIENT_SECRET;
        for f in &rendered.files {
            assert!(
                !String::from_utf8_lossy(&f.content).contains(secret),
                "{}",
                f.path
            );
        }
    }

    /// The hand-written manifests of the real 8.3 gateway fixture (flow-style members, member
    /// overrides, nested view paths, two top tag folders, page docks, dotted prop keys) come
    /// back the same way, laid out as those manifests are.
    #[test]
    fn issue_17_the_fixture_gateway_manifests_round_trip_through_render_and_load() {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ignition-83-manifests");
        let rendered = round_trip(&root, &["lode.yaml"]);
        let paths: Vec<&str> = rendered.files.iter().map(|f| f.path.as_str()).collect();
        for path in [
            "ignition/tags/overview.yaml",
            "ignition/tags/refrigeration.yaml",
            "ignition/udts.yaml",
            "ignition/perspective.yaml",
            "ignition/project.yaml",
            "ignition/views/templates/units/AirUnit.view.json",
            "ignition/views/common/dock/header.view.json",
        ] {
            assert!(paths.contains(&path), "{path} in {paths:?}");
        }
        let udts = file(&rendered, "ignition/udts.yaml");
        assert!(
            udts.contains("    - {name: HOA, tagType: AtomicTag, valueSource: opc, dataType: Int4, opcServer: Ignition OPC UA Server}\n"),
            "{udts}"
        );
        let perspective = file(&rendered, "ignition/perspective.yaml");
        assert!(
            perspective.contains("      props.auth: {access: PRIVATE, persistent: false}\n"),
            "{perspective}"
        );
    }

    #[test]
    fn issue_17_appending_keeps_the_file_and_payloads_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let mut empty = empty_root(dir.path());
        let before = "# Hand-written, with a comment.\nkind: tag\nname: Site\nspec: {tagType: Folder}   # flow on purpose";
        empty
            .files
            .insert("ignition/tags.yaml".into(), before.as_bytes().to_vec());
        empty.files.insert(
            "ignition/project.yaml".into(),
            b"kind: project\nname: plant\nspec: {}\n".to_vec(),
        );
        empty.files.insert(
            "ignition/scripts/startup.py".into(),
            b"print('mine')\n".to_vec(),
        );
        let no_env = |_: &str| None;
        let loaded = load_desired(&empty, "local", &no_env).unwrap();
        let context = ReverseContext::new(&loaded, &empty, &no_env);
        let objects = vec![
            ImportedObject {
                kind: Kind::Tag,
                name_hint: "Site/Line 1".into(),
                spec: json!({"provider": "default", "tagType": "AtomicTag", "valueSource": "memory", "dataType": "Float8", "value": 1.5, "formatString": "0.00"}),
                id: None,
                outputs: BTreeMap::new(),
            },
            ImportedObject {
                kind: Kind::GatewayScript,
                name_hint: "startup".into(),
                spec: json!({"project": "plant", "type": "startup", "enabled": true, "script": "system.util.getLogger('x').info('up')\n"}),
                id: None,
                outputs: BTreeMap::new(),
            },
        ];
        let rendered = render_import(&objects, &context, &empty).unwrap();
        let tags = rendered
            .files
            .iter()
            .find(|f| f.path == "ignition/tags.yaml")
            .unwrap();
        assert_eq!(tags.action, FileAction::Append);
        assert!(tags.content.starts_with(before.as_bytes()));
        assert_eq!(
            std::str::from_utf8(&tags.content[before.len()..]).unwrap(),
            "\n---\nkind: tag\nname: Site/Line 1\nspec:\n  provider: ${var.tag_provider}\n  tagType: AtomicTag\n  valueSource: memory\n  dataType: Float8\n  value: 1.5\n  formatString: \"0.00\"\n"
        );
        let scripts = file(&rendered, "ignition/scripts.yaml");
        assert!(
            scripts.contains("  script: scripts/startup_2.py\n"),
            "{scripts}"
        );
        assert!(
            rendered
                .files
                .iter()
                .all(|f| f.path != "ignition/scripts/startup.py")
        );
        let overlay = rendered.overlay(&empty);
        let reloaded = load_desired(&overlay, "local", &no_env).unwrap();
        let script = &reloaded.desired.resources[&Address::new(Kind::GatewayScript, "startup")];
        assert_eq!(
            script.spec["script"],
            json!("system.util.getLogger('x').info('up')\n")
        );
        assert!(
            reloaded
                .desired
                .resources
                .contains_key(&Address::new(Kind::Tag, "Site/Line 1"))
        );
    }

    /// What `lode pull` writes: live values in their manifest form, raw values read with the
    /// manifests' variables, so `${var...}` that still says the live value stays.
    #[test]
    fn issue_17_pull_writes_live_values_as_the_manifests_would() {
        let no_env = |_: &str| None;
        let demo = ManifestFiles::from_work_tree(&demo_root()).unwrap();
        let loaded = load_desired(&demo, "local", &no_env).unwrap();
        let context = ReverseContext::new(&loaded, &demo, &no_env);
        let address = Address::new(Kind::QualityMonitor, "gold_quality");
        let origin = loaded.desired.resources[&address].origin.clone();
        let text = std::str::from_utf8(demo.text(&origin.file).unwrap()).unwrap();
        let form = PullForm::new(&context, address, TextKind::Field);
        let set = |field: &[&str], value: Value| edit::DocumentEdit {
            path: DocumentPath::in_spec(
                &field
                    .iter()
                    .map(|f| PathSegment::Key(f.to_string()))
                    .collect::<Vec<_>>(),
            ),
            change: edit::Change::Set(Some(value)),
        };
        let edits = [
            // Unchanged once interpolated: the raw `${var...}` stays.
            set(&["table"], json!("main.mining_demo.ot_telemetry_gold")),
            // Changed: written back with the variables.
            set(&["output_schema"], json!("main.mining_demo_ops")),
            set(
                &["slicing_exprs"],
                json!(["equipment_type", "metric", "site"]),
            ),
            set(
                &["schedule", "quartz_cron_expression"],
                json!("0 30 * * * ?"),
            ),
        ];
        let edited = edit::apply_edits(&origin.file, text, origin.line, &edits, &form).unwrap();
        let expected = text
            .replace(
                "output_schema: ${var.catalog}.${var.schema}",
                "output_schema: ${var.catalog}.mining_demo_ops",
            )
            .replace("    - metric\n", "    - metric\n    - site\n")
            .replace("\"0 0 * * * ?\"", "\"0 30 * * * ?\"");
        assert_eq!(edited, expected);
        assert!(form.secrets().is_empty());
    }

    #[test]
    fn issue_17_rows_without_a_key_or_with_empty_text_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = empty_root(dir.path());
        let no_env = |_: &str| None;
        let loaded = load_desired(&empty, "local", &no_env).unwrap();
        let context = ReverseContext::new(&loaded, &empty, &no_env);
        let table = |rows: Value| ImportedObject {
            kind: Kind::Table,
            name_hint: "t".into(),
            spec: json!({"catalog": "main", "schema": "s", "name": "t", "columns": [{"name": "id", "type": "string", "nullable": false}, {"name": "note", "type": "string", "nullable": true}], "properties": {}, "primary_key": ["id"], "rows": rows}),
            id: None,
            outputs: BTreeMap::new(),
        };
        let error = render_import(&[table(json!([["a", ""]]))], &context, &empty).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("row 1, column `note` is an empty text"),
            "{error}"
        );
        let mut unkeyed = table(json!([["a", "x"]]));
        unkeyed.spec["primary_key"] = json!([]);
        let error = render_import(&[unkeyed], &context, &empty).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("declare a PRIMARY KEY constraint"),
            "{error}"
        );
        let rendered =
            render_import(&[table(json!([["b", null], ["a", "x"]]))], &context, &empty).unwrap();
        assert_eq!(
            file(&rendered, "databricks/seeds/t.csv"),
            "id,note\nb,\na,x\n"
        );
        let tables = file(&rendered, "databricks/tables.yaml");
        assert!(
            tables.contains("  primary_key: [id]\n  seed: seeds/t.csv\n"),
            "{tables}"
        );
    }
}
