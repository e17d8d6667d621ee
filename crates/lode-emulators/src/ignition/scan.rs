//! The gateway's *loaded view* and the scans that refresh it. An 8.3 gateway does not reliably
//! notice edits under its data directory: it serves what it loaded at start or at its last
//! `POST /scan/projects|config`, so the view here is an in-memory copy of every resource folder
//! (its manifest and payload bytes), taken at start and replaced only by a scan, a restart or
//! the gateway's own writes. A scan also reproduces the churn `lode` must ignore: each changed
//! resource gets its `resource.json` (a tag folder its `unary-resource.json`) rewritten with
//! `lastModification = {actor: "external", timestamp}`, a fresh `lastModificationSignature`,
//! and Gson's HTML-safe escapes. This file also owns the scan lock routes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{ApiError, ApiResult, Shared, now_ms};
use lode_wire::ignition::data_dir::write_atomic;

/// The collections the gateway layers, lowest priority first (`-Dignition.config.mode` unset,
/// so no user deployment mode sits between `core` and `local`).
pub const CHAIN: [&str; 4] = ["system", "external", "core", "local"];

/// The collection the gateway writes into.
pub const WRITE_COLLECTION: &str = "core";

pub const TAG_DEFINITION: &str = "tag-definition";
pub const TAG_TYPE_DEFINITION: &str = "tag-type-definition";

/// The tag payload files of a tag folder, read whether or not its manifest lists them (as the
/// `files` transport reads them).
pub const TAG_FILES: [&str; 2] = ["tags.json", "udts.json"];

/// One resource folder as loaded: its manifest and the payload files it lists (a tag folder:
/// its `tags.json`/`udts.json`). A tag provider's root folder may lack a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub manifest: Option<Value>,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Everything the gateway has loaded. Keys are folder paths with `/` separators, relative to
/// `projects/` (`<project>/<module>/<type>/<path>`) and to `config/resources/`
/// (`<collection>/<module>/<type>[/<name>]`, tag folders
/// `<collection>/ignition/tag-definition/<provider>[/<folder>...]`).
#[derive(Debug, Default, Clone)]
pub struct LoadedView {
    /// `project.json` of each project, by name.
    pub projects: BTreeMap<String, Value>,
    pub project_units: BTreeMap<String, Unit>,
    pub config_units: BTreeMap<String, Unit>,
}

impl LoadedView {
    /// Reads the whole data directory, as the gateway does at start (without re-signing).
    pub fn load(data_dir: &Path) -> std::io::Result<LoadedView> {
        let (projects, project_units) = load_projects(data_dir)?;
        Ok(LoadedView {
            projects,
            project_units,
            config_units: load_config(data_dir)?,
        })
    }
}

/// Whether a config-unit key names a tag folder (manifest `unary-resource.json`).
pub fn is_tag_key(key: &str) -> bool {
    let mut parts = key.split('/').skip(1);
    parts.next() == Some("ignition")
        && matches!(parts.next(), Some(TAG_DEFINITION | TAG_TYPE_DEFINITION))
}

pub fn manifest_name(tag_folder: bool) -> &'static str {
    if tag_folder {
        "unary-resource.json"
    } else {
        "resource.json"
    }
}

// ---------------------------------------------------------------------------------------------
// JSON as the gateway writes it

/// Serialises like Gson with HTML escaping on (its default): `<`, `>`, `&`, `=`, `'` and the
/// JavaScript line separators become `\uXXXX`. Those characters only ever occur inside JSON
/// strings, so escaping the serialised text is the same as escaping every string.
pub fn gson_string(value: &Value, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .expect("JSON values serialise");
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003d"),
            '\'' => out.push_str("\\u0027"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A file as the gateway writes it: pretty Gson, two-space indent.
pub fn gson_bytes(value: &Value) -> Vec<u8> {
    gson_string(value, true).into_bytes()
}

/// `2026-05-21T13:20:31Z`, the form of `lastModification.timestamp`.
pub fn iso_now() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds is valid");
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("UTC times format")
}

/// The resource signature as reverse-engineered by Musson Industrial (pyro): SHA-256 over the
/// scope bits, documentation, version, locked/restricted/overridable flags, each listed file
/// (sorted) with its bytes, and each attribute but the signature (sorted) as compact JSON.
/// Real gateways' signatures of the fixture do not reproduce with it, so it only needs to be
/// a stable content hash here; nothing in the emulator requires a valid signature on disk.
pub fn signature(manifest: &Value, files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut hash = Sha256::new();
    let scope = manifest.get("scope").and_then(Value::as_str).unwrap_or("A");
    let bits: i32 = scope
        .chars()
        .map(|c| match c {
            'G' => 1,
            'D' => 2,
            'C' => 4,
            'A' => 7,
            _ => 0,
        })
        .sum();
    hash.update(bits.to_be_bytes());
    if let Some(doc) = manifest.get("documentation").and_then(Value::as_str) {
        hash.update(doc.as_bytes());
    }
    let version = manifest.get("version").and_then(Value::as_i64).unwrap_or(1) as i32;
    hash.update(version.to_be_bytes());
    let flag = |key: &str, default: bool| {
        u8::from(
            manifest
                .get(key)
                .and_then(Value::as_bool)
                .unwrap_or(default),
        )
    };
    hash.update([
        flag("locked", false),
        flag("restricted", false),
        flag("overridable", true),
    ]);
    let mut listed: Vec<&str> = manifest
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    listed.sort_unstable();
    for name in listed {
        hash.update(name.as_bytes());
        if let Some(bytes) = files.get(name) {
            hash.update(bytes);
        }
    }
    if let Some(attributes) = manifest.get("attributes").and_then(Value::as_object) {
        let mut keys: Vec<&String> = attributes
            .keys()
            .filter(|k| *k != "lastModificationSignature")
            .collect();
        keys.sort_unstable();
        for key in keys {
            hash.update(key.as_bytes());
            hash.update(serde_json::to_string(&attributes[key]).expect("JSON serialises"));
        }
    }
    hex::encode(hash.finalize())
}

/// The signature a manifest carries, or the one it would get.
pub fn current_signature(unit: &Unit) -> String {
    let manifest = unit.manifest.clone().unwrap_or(json!({}));
    manifest
        .pointer("/attributes/lastModificationSignature")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| signature(&manifest, &unit.files))
}

/// Stamps `lastModification` with `actor` and now, then re-signs. Existing attributes keep
/// their place (the gateway rewrites values in place); new ones go first, signature then
/// modification, as in gateway-written manifests.
pub fn sign(manifest: &mut Value, files: &BTreeMap<String, Vec<u8>>, actor: &str) {
    let Some(object) = manifest.as_object_mut() else {
        return;
    };
    // In place (`mem::take`, never `remove`, which reorders a preserve_order map).
    let slot = object
        .entry("attributes")
        .or_insert_with(|| Value::Object(Map::new()));
    let old = match std::mem::take(slot) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut attributes = Map::new();
    if !old.contains_key("lastModificationSignature") {
        attributes.insert("lastModificationSignature".into(), json!(""));
    }
    if !old.contains_key("lastModification") {
        attributes.insert("lastModification".into(), Value::Null);
    }
    attributes.extend(old);
    attributes.insert(
        "lastModification".into(),
        json!({"actor": actor, "timestamp": iso_now()}),
    );
    *slot = Value::Object(attributes);
    let signature = signature(manifest, files);
    manifest["attributes"]["lastModificationSignature"] = json!(signature);
}

// ---------------------------------------------------------------------------------------------
// Reading the data directory

fn sorted_subdirs(dir: &Path) -> std::io::Result<Vec<(String, std::path::PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        // Dot folders are the gateway's caches (`.resources/`) and the emulator's own files.
        if name.starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        dirs.push((name, entry.path()));
    }
    dirs.sort();
    Ok(dirs)
}

fn read_optional(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::IsADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A resource folder: `resource.json` and the files it lists that exist. A manifest that is
/// not a JSON object makes the folder no resource (the gateway logs and skips it).
pub fn read_resource_unit(dir: &Path) -> std::io::Result<Option<Unit>> {
    let Some(bytes) = read_optional(&dir.join("resource.json"))? else {
        return Ok(None);
    };
    let Ok(manifest @ Value::Object(_)) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(None);
    };
    let mut files = BTreeMap::new();
    for name in manifest
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if name.contains('/') || name.contains('\\') || name == ".." {
            continue;
        }
        if let Some(content) = read_optional(&dir.join(name))? {
            files.insert(name.to_string(), content);
        }
    }
    Ok(Some(Unit {
        manifest: Some(manifest),
        files,
    }))
}

/// A tag folder: `unary-resource.json` (optional at a provider's root) and its tag files.
pub fn read_tag_unit(dir: &Path, root: bool) -> std::io::Result<Option<Unit>> {
    let manifest_bytes = read_optional(&dir.join("unary-resource.json"))?;
    // A folder without its unary-resource.json does not resolve in the gateway.
    if manifest_bytes.is_none() && !root {
        return Ok(None);
    }
    let manifest = manifest_bytes.and_then(|b| serde_json::from_slice(&b).ok());
    let mut files = BTreeMap::new();
    for name in TAG_FILES {
        if let Some(content) = read_optional(&dir.join(name))? {
            files.insert(name.to_string(), content);
        }
    }
    Ok(Some(Unit { manifest, files }))
}

fn walk_project(dir: &Path, key: &str, units: &mut BTreeMap<String, Unit>) -> std::io::Result<()> {
    for (name, path) in sorted_subdirs(dir)? {
        let child = format!("{key}/{name}");
        // A folder with resource.json is a resource and nothing below it is scanned.
        match read_resource_unit(&path)? {
            Some(unit) => {
                units.insert(child, unit);
            }
            None if path.join("resource.json").is_file() => {}
            None => walk_project(&path, &child, units)?,
        }
    }
    Ok(())
}

/// Project resources of one project folder.
pub fn load_project(data_dir: &Path, name: &str) -> std::io::Result<BTreeMap<String, Unit>> {
    let mut units = BTreeMap::new();
    walk_project(&data_dir.join("projects").join(name), name, &mut units)?;
    Ok(units)
}

/// Every project (a folder is a project iff it holds a valid `project.json`).
#[allow(clippy::type_complexity)]
pub fn load_projects(
    data_dir: &Path,
) -> std::io::Result<(BTreeMap<String, Value>, BTreeMap<String, Unit>)> {
    let mut projects = BTreeMap::new();
    let mut units = BTreeMap::new();
    for (name, path) in sorted_subdirs(&data_dir.join("projects"))? {
        let Some(bytes) = read_optional(&path.join("project.json"))? else {
            continue;
        };
        let Ok(meta @ Value::Object(_)) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        projects.insert(name.clone(), meta);
        units.extend(load_project(data_dir, &name)?);
    }
    Ok((projects, units))
}

fn walk_tags(
    dir: &Path,
    key: &str,
    root: bool,
    units: &mut BTreeMap<String, Unit>,
) -> std::io::Result<()> {
    let Some(unit) = read_tag_unit(dir, root)? else {
        return Ok(());
    };
    units.insert(key.to_string(), unit);
    for (name, path) in sorted_subdirs(dir)? {
        walk_tags(&path, &format!("{key}/{name}"), false, units)?;
    }
    Ok(())
}

/// The tag folders of one provider in one collection (`tag-definition` or
/// `tag-type-definition`), keyed like [`LoadedView::config_units`].
pub fn load_tag_tree(
    data_dir: &Path,
    collection: &str,
    kind: &str,
    provider: &str,
) -> std::io::Result<BTreeMap<String, Unit>> {
    let mut units = BTreeMap::new();
    let dir = config_root(data_dir)
        .join(collection)
        .join("ignition")
        .join(kind)
        .join(provider);
    if dir.is_dir() {
        walk_tags(
            &dir,
            &format!("{collection}/ignition/{kind}/{provider}"),
            true,
            &mut units,
        )?;
    }
    Ok(units)
}

pub fn config_root(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("config").join("resources")
}

/// Every config resource and tag folder of every collection.
pub fn load_config(data_dir: &Path) -> std::io::Result<BTreeMap<String, Unit>> {
    let mut units = BTreeMap::new();
    for (collection, collection_dir) in sorted_subdirs(&config_root(data_dir))? {
        for (module, module_dir) in sorted_subdirs(&collection_dir)? {
            for (kind, type_dir) in sorted_subdirs(&module_dir)? {
                let key = format!("{collection}/{module}/{kind}");
                if module == "ignition"
                    && matches!(kind.as_str(), TAG_DEFINITION | TAG_TYPE_DEFINITION)
                {
                    for (provider, provider_dir) in sorted_subdirs(&type_dir)? {
                        walk_tags(
                            &provider_dir,
                            &format!("{key}/{provider}"),
                            true,
                            &mut units,
                        )?;
                    }
                    continue;
                }
                // A singleton keeps its resource.json in the type folder itself.
                if let Some(unit) = read_resource_unit(&type_dir)? {
                    units.insert(key, unit);
                    continue;
                }
                for (name, dir) in sorted_subdirs(&type_dir)? {
                    if let Some(unit) = read_resource_unit(&dir)? {
                        units.insert(format!("{key}/{name}"), unit);
                    }
                }
            }
        }
    }
    Ok(units)
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Writes a unit's payload files, then its manifest (never the other way round: the gateway
/// must not see a manifest whose payload is missing), all atomically, the manifest in Gson form.
pub fn write_unit(dir: &Path, unit: &Unit, tag_folder: bool) -> ApiResult<()> {
    for (name, bytes) in &unit.files {
        write_atomic(&dir.join(name), bytes)?;
    }
    if let Some(manifest) = &unit.manifest {
        write_atomic(&dir.join(manifest_name(tag_folder)), &gson_bytes(manifest))?;
    }
    Ok(())
}

/// Re-signs a unit that differs from what was loaded and rewrites its manifest on disk, as the
/// gateway does for resources it (re)loads. Returns the unit as now loaded.
fn churn(dir: &Path, mut unit: Unit, tag_folder: bool, actor: &str) -> Unit {
    let Some(manifest) = unit.manifest.as_mut() else {
        return unit;
    };
    let before = manifest.clone();
    sign(manifest, &unit.files, actor);
    let path = dir.join(manifest_name(tag_folder));
    if let Err(error) = write_atomic(&path, &gson_bytes(manifest)) {
        tracing::warn!("cannot rewrite {}: {error}", path.display());
        unit.manifest = Some(before);
    }
    unit
}

/// The units found on disk, those that differ from `loaded` re-signed as `external` edits.
fn merge_scanned(
    root: &Path,
    loaded: &BTreeMap<String, Unit>,
    found: BTreeMap<String, Unit>,
    tag_folder: impl Fn(&str) -> bool,
) -> BTreeMap<String, Unit> {
    found
        .into_iter()
        .map(|(key, unit)| {
            if loaded.get(&key) == Some(&unit) {
                return (key, unit);
            }
            let tag = tag_folder(&key);
            let unit = churn(&root.join(&key), unit, tag, "external");
            (key, unit)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scans and the scan lock

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Projects,
    Config,
}

impl Target {
    fn parse(name: &str) -> ApiResult<Target> {
        match name {
            "projects" => Ok(Target::Projects),
            "config" => Ok(Target::Config),
            other => Err(ApiError::not_found(format!(
                "Unknown scan target '{other}'"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ScanStatus {
    pub last_ms: i64,
    pub duration_ms: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct ScanLock {
    pub acquired_ms: i64,
    pub hold_timeout_s: u64,
    expires: Instant,
}

#[derive(Debug)]
pub struct ScanState {
    pub projects: ScanStatus,
    pub config: ScanStatus,
    pub project_lock: Option<ScanLock>,
    pub config_lock: Option<ScanLock>,
}

impl ScanState {
    /// Loading at start counts as the first scan.
    pub fn new(now: i64) -> ScanState {
        let status = ScanStatus {
            last_ms: now,
            duration_ms: 0,
        };
        ScanState {
            projects: status,
            config: status,
            project_lock: None,
            config_lock: None,
        }
    }

    fn lock_mut(&mut self, target: Target) -> &mut Option<ScanLock> {
        match target {
            Target::Projects => &mut self.project_lock,
            Target::Config => &mut self.config_lock,
        }
    }

    /// The lock on `target`, dropping it once its hold timeout has passed.
    pub fn held(&mut self, target: Target) -> Option<ScanLock> {
        let slot = self.lock_mut(target);
        if slot.is_some_and(|lock| lock.expires <= Instant::now()) {
            *slot = None;
        }
        *slot
    }
}

/// Seeds a fresh data directory the way a newly installed gateway lays it out: the `core`
/// collection descriptor and the `default` tag provider. A directory that already has a
/// `config/` folder is left alone.
pub fn seed_fresh(data_dir: &Path) -> std::io::Result<()> {
    if data_dir.join("config").exists() {
        return Ok(());
    }
    let io = |e: lode_wire::ignition::data_dir::DataDirError| std::io::Error::other(e.to_string());
    std::fs::create_dir_all(data_dir.join("projects"))?;
    let core = config_root(data_dir).join(WRITE_COLLECTION);
    write_atomic(
        &core.join("config-mode.json"),
        &gson_bytes(&json!({
            "title": "Core",
            "description": "Core collection of locally managed Gateway configuration resources",
            "enabled": true,
            "inheritable": true,
            "parent": "external",
        })),
    )
    .map_err(io)?;
    let provider = core.join("ignition/tag-provider/default");
    let config = gson_bytes(&json!({
        "profile": {"allowBackfill": false, "enableTagReferenceStore": true, "type": "STANDARD"},
        "settings": {
            "editPermissions": {"securityLevels": [], "type": "AllOf"},
            "readOnly": false,
            "readPermissions": {"securityLevels": [], "type": "AllOf"},
            "valuePersistence": "Configuration",
            "writePermissions": {"securityLevels": [], "type": "AllOf"},
        },
    }));
    let mut manifest = json!({
        "scope": "A",
        "description": "Default tag provider",
        "version": 1,
        "restricted": false,
        "overridable": true,
        "files": ["config.json"],
        "attributes": {"uuid": uuid::Uuid::new_v4().to_string(), "enabled": true},
    });
    let files = BTreeMap::from([("config.json".to_string(), config)]);
    sign(&mut manifest, &files, "system");
    write_unit(
        &provider,
        &Unit {
            manifest: Some(manifest),
            files,
        },
        false,
    )
    .map_err(|e| std::io::Error::other(e.message))
}

/// Runs a scan: re-reads the target's part of the data directory, re-signs what changed since
/// it was loaded, makes the result the loaded view, and releases the target's scan lock.
pub fn run_scan(gateway: &Shared, target: Target) -> ApiResult<()> {
    let started = Instant::now();
    let data_dir = &gateway.config.data_dir;
    {
        let mut view = gateway.view();
        match target {
            Target::Projects => {
                let (projects, found) = load_projects(data_dir)?;
                let units = merge_scanned(
                    &data_dir.join("projects"),
                    &view.project_units,
                    found,
                    |_| false,
                );
                view.projects = projects;
                view.project_units = units;
            }
            Target::Config => {
                let found = load_config(data_dir)?;
                let units = merge_scanned(
                    &config_root(data_dir),
                    &view.config_units,
                    found,
                    is_tag_key,
                );
                view.config_units = units;
            }
        }
    }
    let mut scans = gateway.scans.lock().expect("scan state lock");
    let status = ScanStatus {
        last_ms: now_ms(),
        duration_ms: started.elapsed().as_millis() as i64,
    };
    match target {
        Target::Projects => scans.projects = status,
        Target::Config => scans.config = status,
    }
    *scans.lock_mut(target) = None;
    Ok(())
}

/// `POST /scan/{projects|config}`: fire-and-forget, 200 with no body.
async fn post_scan(
    State(gateway): State<Shared>,
    UrlPath(target): UrlPath<String>,
) -> ApiResult<StatusCode> {
    let target = Target::parse(&target)?;
    let worker = gateway.clone();
    tokio::task::spawn_blocking(move || run_scan(&worker, target))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(StatusCode::OK)
}

async fn get_scan(
    State(gateway): State<Shared>,
    UrlPath(target): UrlPath<String>,
) -> ApiResult<Response> {
    let target = Target::parse(&target)?;
    let scans = gateway.scans.lock().expect("scan state lock");
    let status = match target {
        Target::Projects => scans.projects,
        Target::Config => scans.config,
    };
    Ok(axum::Json(json!({
        "scanActive": false,
        "lastScanTimestamp": status.last_ms,
        "lastScanDuration": status.duration_ms,
    }))
    .into_response())
}

fn lock_body(lock: Option<ScanLock>) -> Value {
    match lock {
        None => json!({"locked": false}),
        Some(lock) => json!({
            "locked": true,
            "acquiredTimestamp": lock.acquired_ms,
            "holdTimeout": lock.hold_timeout_s,
            "expiresTimestamp": lock.acquired_ms + (lock.hold_timeout_s as i64) * 1000,
        }),
    }
}

async fn get_lock(
    State(gateway): State<Shared>,
    UrlPath(target): UrlPath<String>,
) -> ApiResult<Response> {
    let target = Target::parse(&target)?;
    let held = gateway.scans.lock().expect("scan state lock").held(target);
    Ok(axum::Json(lock_body(held)).into_response())
}

/// `POST /scan-lock/{target}` with `{"acquireTimeout": s, "holdTimeout": s}` (required: the
/// gateway answers an empty body with 500). Waits up to `acquireTimeout` for a held lock to be
/// released; the next scan of the target (or `holdTimeout`) releases it.
async fn post_lock(
    State(gateway): State<Shared>,
    UrlPath(target): UrlPath<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let target = Target::parse(&target)?;
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let unreadable = || {
        ApiError::internal(
            "Cannot deserialize scan lock request: a JSON object {acquireTimeout, holdTimeout} is required",
        )
    };
    let Some(Value::Object(options)) = parsed else {
        return Err(unreadable());
    };
    // The timeouts are numbers of seconds; another JSON type cannot be read into the request
    // either. **Unverified**: only the empty body's 500 is live-witnessed (reference
    // `ignition-83.md` §1.3); a wrong type is assumed to fail the same way.
    if ["acquireTimeout", "holdTimeout"].iter().any(|key| {
        options
            .get(*key)
            .is_some_and(|v| !v.is_number() && !v.is_null())
    }) {
        return Err(unreadable());
    }
    let seconds = |key: &str, default: u64| {
        options
            .get(key)
            .and_then(Value::as_f64)
            .map(|s| s.max(0.0) as u64)
            .unwrap_or(default)
    };
    let acquire_timeout = Duration::from_secs(seconds("acquireTimeout", 10));
    let hold_timeout = seconds("holdTimeout", 60);
    let deadline = Instant::now() + acquire_timeout;
    loop {
        {
            let mut scans = gateway.scans.lock().expect("scan state lock");
            if scans.held(target).is_none() {
                let lock = ScanLock {
                    acquired_ms: now_ms(),
                    hold_timeout_s: hold_timeout,
                    expires: Instant::now() + Duration::from_secs(hold_timeout),
                };
                *scans.lock_mut(target) = Some(lock);
                return Ok(axum::Json(lock_body(Some(lock))).into_response());
            }
        }
        if Instant::now() >= deadline {
            return Err(ApiError::conflict(
                "Timed out waiting for the scan lock: it is held by another request",
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/data/api/v1/scan/{target}", get(get_scan).post(post_scan))
        .route(
            "/data/api/v1/scan-lock/{target}",
            get(get_lock).post(post_lock),
        )
}

/// A boolean query parameter (`true`, any case, is true).
pub fn query_flag(query: &HashMap<String, String>, key: &str) -> Option<bool> {
    query.get(key).map(|v| v.eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};

    use super::super::test_support::{gateway, get, get_json, send};
    use super::{BTreeMap, gson_string, signature};

    #[test]
    fn gson_escapes_html_characters() {
        let value = json!({"opcItemPath": "ns=1;s=[Sim]<a> & 'b'"});
        assert_eq!(
            gson_string(&value, false),
            r#"{"opcItemPath":"ns\u003d1;s\u003d[Sim]\u003ca\u003e \u0026 \u0027b\u0027"}"#
        );
    }

    #[test]
    fn signature_is_stable_and_covers_payloads() {
        let manifest =
            json!({"scope": "G", "version": 1, "files": ["view.json"], "attributes": {}});
        let a = BTreeMap::from([("view.json".to_string(), b"{}".to_vec())]);
        let b = BTreeMap::from([("view.json".to_string(), b"{ }".to_vec())]);
        assert_eq!(signature(&manifest, &a), signature(&manifest, &a));
        assert_ne!(signature(&manifest, &a), signature(&manifest, &b));
    }

    fn view_names(gateway: &super::super::RunningGateway) -> Vec<String> {
        // The emulator exposes no per-resource route (like the gateway); the export zip is
        // the way to see a project's loaded resources.
        let bytes = get(gateway, "/data/api/v1/projects/export/example-project")
            .bytes()
            .unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        (0..archive.len())
            .map(|i| {
                archive
                    .by_index(i)
                    .unwrap()
                    .enclosed_name()
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect()
    }

    #[test]
    fn disk_edits_are_invisible_until_a_scan_which_churns_resource_json() {
        let (dir, gateway) = gateway(true);
        let view_dir = dir
            .path()
            .join("projects/example-project/com.inductiveautomation.perspective/views/pages/added");
        std::fs::create_dir_all(&view_dir).unwrap();
        std::fs::write(
            view_dir.join("view.json"),
            r#"{"custom":{},"params":{},"props":{},"root":{"type":"ia.container.coord","meta":{"name":"root"},"props":{"text":"a=b"}}}"#,
        )
        .unwrap();
        let manifest = r#"{"scope":"G","version":1,"restricted":false,"overridable":true,"files":["view.json"],"attributes":{}}"#;
        std::fs::write(view_dir.join("resource.json"), manifest).unwrap();
        let member = "com.inductiveautomation.perspective/views/pages/added/view.json";
        assert!(!view_names(&gateway).iter().any(|n| n == member));
        // The untouched fixture resources are not rewritten by a scan.
        let header = dir.path().join(
            "projects/example-project/com.inductiveautomation.perspective/views/common/dock/header/resource.json",
        );
        let header_before = std::fs::read(&header).unwrap();

        let before: Value = get_json(&gateway, "/data/api/v1/scan/projects");
        let scan = send(&gateway, Method::POST, "/data/api/v1/scan/projects", None);
        assert_eq!(scan.status(), StatusCode::OK);
        assert!(scan.bytes().unwrap().is_empty());
        let after: Value = get_json(&gateway, "/data/api/v1/scan/projects");
        assert_eq!(after["scanActive"], json!(false));
        assert!(after["lastScanTimestamp"].as_i64() >= before["lastScanTimestamp"].as_i64());

        assert!(view_names(&gateway).iter().any(|n| n == member));
        let churned = std::fs::read_to_string(view_dir.join("resource.json")).unwrap();
        assert_ne!(churned, manifest);
        let parsed: Value = serde_json::from_str(&churned).unwrap();
        assert_eq!(
            parsed["attributes"]["lastModification"]["actor"],
            "external"
        );
        let signature = parsed["attributes"]["lastModificationSignature"]
            .as_str()
            .unwrap();
        assert_eq!(signature.len(), 64);
        assert_eq!(std::fs::read(&header).unwrap(), header_before);

        // A second scan with nothing changed rewrites nothing.
        send(&gateway, Method::POST, "/data/api/v1/scan/projects", None);
        assert_eq!(
            std::fs::read_to_string(view_dir.join("resource.json")).unwrap(),
            churned
        );
    }

    #[test]
    fn config_scan_churns_with_gson_escapes() {
        let (dir, gateway) = gateway(true);
        let provider = dir
            .path()
            .join("config/resources/core/ignition/tag-provider/example-tags");
        let mut manifest: Value =
            serde_json::from_slice(&std::fs::read(provider.join("resource.json")).unwrap())
                .unwrap();
        manifest["description"] = json!("Tags <a=b> & 'c'");
        std::fs::write(
            provider.join("resource.json"),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
        let found = get_json(
            &gateway,
            "/data/api/v1/resources/find/ignition/tag-provider/example-tags",
        );
        assert_eq!(found["description"], "Example Tags");
        send(&gateway, Method::POST, "/data/api/v1/scan/config", None);
        let found = get_json(
            &gateway,
            "/data/api/v1/resources/find/ignition/tag-provider/example-tags",
        );
        assert_eq!(found["description"], "Tags <a=b> & 'c'");
        let text = std::fs::read_to_string(provider.join("resource.json")).unwrap();
        assert!(
            text.contains(r#""Tags \u003ca\u003db\u003e \u0026 \u0027c\u0027""#),
            "{text}"
        );
        assert!(text.contains(r#""actor": "external""#), "{text}");
        // Key order is kept: `uuid` stays where it was.
        let parsed: Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&String> = parsed["attributes"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "lastModification",
                "uuid",
                "lastModificationSignature",
                "enabled"
            ]
        );
    }

    #[test]
    fn scan_lock_is_taken_reported_and_released_by_the_next_scan() {
        let (_dir, gateway) = gateway(true);
        let status = get_json(&gateway, "/data/api/v1/scan-lock/projects");
        assert_eq!(status["locked"], json!(false));
        let empty = send(
            &gateway,
            Method::POST,
            "/data/api/v1/scan-lock/projects",
            None,
        );
        assert_eq!(empty.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let taken = send(
            &gateway,
            Method::POST,
            "/data/api/v1/scan-lock/projects",
            Some(json!({"acquireTimeout": 0, "holdTimeout": 60})),
        );
        assert_eq!(taken.status(), StatusCode::OK);
        assert_eq!(
            get_json(&gateway, "/data/api/v1/scan-lock/projects")["locked"],
            json!(true)
        );
        // The config lock is separate.
        assert_eq!(
            get_json(&gateway, "/data/api/v1/scan-lock/config")["locked"],
            json!(false)
        );
        let again = send(
            &gateway,
            Method::POST,
            "/data/api/v1/scan-lock/projects",
            Some(json!({"acquireTimeout": 0, "holdTimeout": 60})),
        );
        assert_eq!(again.status(), StatusCode::CONFLICT);
        send(&gateway, Method::POST, "/data/api/v1/scan/projects", None);
        assert_eq!(
            get_json(&gateway, "/data/api/v1/scan-lock/projects")["locked"],
            json!(false)
        );
    }
}
