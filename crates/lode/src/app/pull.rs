//! `lode pull`: brings edits made outside git (a view changed in the Designer, a UDT member
//! added, Genie instructions edited in the UI) back into the manifests. It owns the workflow
//! around the three-way comparison of `engine::pull`: read what is live, decide per spec path
//! what to take, turn each taken value into a format-preserving edit of the resource's
//! document or payload file (`manifest::write::edit`), check that the edited manifests read as
//! live before anything is written, write the files atomically, and record the taken values
//! as the new base in state, so that the next pull and `lode plan` see no change.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::session::{RecoverError, Session};
use crate::engine::apply::{EntryContext, applied_entry};
use crate::engine::canonical::{SpecPath, SpecSegment, canonical_spec};
use crate::engine::plan::resolve_references;
use crate::engine::pull::{ResourcePull, compare};
use crate::manifest::write::edit::{
    self, Change, DocumentEdit, Location, ManifestEditError, PathSegment,
};
use crate::manifest::write::{PullForm, ReverseContext, SecretUse, TextKind};
use crate::manifest::{Address, Kind, LoadManifestsError, ManifestFiles, load_desired};
use crate::provider::{LiveObject, ProviderError, SELECTOR_FORMS, Selector};
use crate::redact::Redactor;
use crate::state::{JournalEntry, StateError};

/// What the command asked for.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `--select`: which declared resources to compare (all of them when empty).
    pub selectors: Vec<Selector>,
    /// `--force`: take live values over conflicting git edits.
    pub force: bool,
    /// `--check`: decide only; no lock, no file, no state written.
    pub check: bool,
    /// The command line, for the lock and the journal.
    pub command: String,
}

/// A value changed both in git and live, as shown to the person (values already masked).
#[derive(Debug, Clone, PartialEq)]
pub struct ShownConflict {
    pub address: Address,
    pub field: String,
    pub git: Option<Value>,
    pub live: Option<Value>,
    /// Where the git value is written: `file:line`.
    pub file: String,
    pub line: usize,
}

/// One resource whose manifests took live values.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledResource {
    pub address: Address,
    pub fields: Vec<String>,
}

/// What a pull did (or, with `--check`, would do).
#[derive(Debug, Default)]
pub struct PullOutcome {
    pub check: bool,
    /// Resources whose manifests took (or would take) live values.
    pub pulled: Vec<PulledResource>,
    /// Files written (relative to the manifest root), in order; none with `--check`.
    pub files: Vec<String>,
    /// Conflicts refused (all of them without `--force`; with it, none).
    pub conflicts: Vec<ShownConflict>,
    /// Conflicts `--force` settled with the live value.
    pub forced: Vec<ShownConflict>,
    /// Git edits not applied yet, left as they are: `(address, field)`.
    pub kept: Vec<(Address, String)>,
    /// Differences pull never writes: `(address, field, why)`.
    pub untouchable: Vec<(Address, String, String)>,
    /// Resources not compared: `(address, why)`.
    pub skipped: Vec<(Address, String)>,
    /// Secrets written as `${env.NAME}` (names only).
    pub secrets: Vec<SecretUse>,
}

impl PullOutcome {
    /// Whether a pull would change the manifests or has a conflict: `--check` exits 2 then.
    pub fn differs(&self) -> bool {
        !self.pulled.is_empty() || !self.conflicts.is_empty() || !self.forced.is_empty()
    }
}

/// Why `lode pull` stopped; nothing is written when it returns one of these, except for
/// `Save` (the manifests are written, state is not).
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("`--select {}` matches no declared resource; the forms are: {SELECTOR_FORMS}", .0.join(" "))]
    NoMatch(Vec<String>),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Recover(#[from] RecoverError),
    #[error(transparent)]
    Refresh(#[from] ProviderError),
    #[error(transparent)]
    Edit(#[from] ManifestEditError),
    #[error("{file}: {why}")]
    Unwritable { file: String, why: String },
    #[error("{file} changed on disk while lode pull ran; nothing was written")]
    ChangedMeanwhile { file: String },
    #[error("the pulled manifests no longer load: {0}")]
    Reload(LoadManifestsError),
    #[error(
        "after the edits, {address} {field} reads {reads} instead of the live {live}; nothing was written"
    )]
    Unfaithful {
        address: Address,
        field: String,
        reads: String,
        live: String,
    },
    #[error("after the edits, {address} {what}, which live did not change; nothing was written")]
    Spilled { address: Address, what: String },
    #[error("writing {path} failed: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the manifests are written, but saving state failed: {0}")]
    Save(StateError),
}

/// The declared resources `selectors` pick (all of them when there are none).
fn selected_addresses(
    session: &Session,
    selectors: &[Selector],
) -> Result<BTreeSet<Address>, PullError> {
    let desired = &session.loaded.desired;
    let selected: BTreeSet<Address> = desired
        .resources
        .values()
        .filter(|resource| {
            selectors.is_empty()
                || selectors.iter().any(|selector| {
                    selector.matches(
                        resource.address.kind,
                        &resource.address.name,
                        &canonical_spec(resource.address.kind, &resource.spec),
                    )
                })
        })
        .map(|resource| resource.address.clone())
        .collect();
    if !selectors.is_empty() && selected.is_empty() {
        return Err(PullError::NoMatch(
            selectors.iter().map(ToString::to_string).collect(),
        ));
    }
    Ok(selected)
}

/// A spec path as a path into the resource's document (same three kinds of step).
fn document_segments(path: &SpecPath) -> Vec<PathSegment> {
    path.0
        .iter()
        .map(|segment| match segment {
            SpecSegment::Key(key) => PathSegment::Key(key.clone()),
            SpecSegment::Named(name) => PathSegment::Named(name.clone()),
            SpecSegment::Index(index) => PathSegment::Index(*index),
        })
        .collect()
}

/// How payload text of a resource is read for reverse interpolation.
fn payload_text_kind(kind: Kind, spec: &Value) -> TextKind {
    match kind {
        Kind::WorkspaceFile
            if spec
                .get("path")
                .and_then(Value::as_str)
                .is_some_and(|p| p.to_ascii_lowercase().ends_with(".sql")) =>
        {
            TextKind::Sql
        }
        _ => TextKind::Code,
    }
}

/// The value at `path` as the live system has it (its key order and number spelling, which
/// the canonical form the comparison uses loses), when it is the same value; tags and UDTs
/// without their `null`s, which mean "not set" there.
fn as_live_has_it(
    kind: Kind,
    path: &SpecPath,
    live_spec: &Value,
    canonical_live: &Option<Value>,
) -> Option<Value> {
    let mut raw = path.get(live_spec)?.clone();
    if matches!(kind, Kind::Tag | Kind::Udt) {
        drop_nulls(&mut raw);
    }
    let mut wrapped = serde_json::Map::new();
    wrapped.insert("value".into(), raw.clone());
    let canonical = canonical_spec(kind, &Value::Object(wrapped));
    (Some(&canonical["value"]) == canonical_live.as_ref()).then_some(raw)
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn masked(redactor: &Redactor, value: &Option<Value>) -> Option<Value> {
    value.as_ref().map(|v| redactor.value(v))
}

/// The text of a file the manifests hold, for editing.
fn file_text(
    files: &ManifestFiles,
    overlay: &BTreeMap<String, String>,
    file: &str,
) -> Result<String, PullError> {
    if let Some(text) = overlay.get(file) {
        return Ok(text.clone());
    }
    let bytes = files.text(file).ok_or_else(|| PullError::Unwritable {
        file: file.to_string(),
        why: "the file is not in the manifest root".into(),
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|_| PullError::Unwritable {
        file: file.to_string(),
        why: "the file is not UTF-8 text; lode pull edits text only".into(),
    })
}

/// What pull does with one resource's takes, planned on the files as they are.
struct ResourceEdits<'c> {
    address: Address,
    origin_file: String,
    origin_line: usize,
    document: Vec<DocumentEdit>,
    payloads: Vec<(Location, Value)>,
    form: PullForm<'c>,
    fields: Vec<String>,
    checks: Vec<(SpecPath, Option<Value>)>,
}

/// `lode pull` on an opened session whose manifests were read from `files`.
pub fn pull(
    session: &Session,
    files: &ManifestFiles,
    options: &PullOptions,
) -> Result<PullOutcome, PullError> {
    let started = std::time::Instant::now();
    let lock = if options.check {
        None
    } else {
        Some(session.backend.lock(&options.command)?)
    };
    let mut state = match &lock {
        Some(lock) => session.load_state_for_change(lock)?,
        None => session.load_state()?,
    };
    let desired = &session.loaded.desired;
    let selected = selected_addresses(session, &options.selectors)?;
    // What the selected resources reference is read too: their `${ref...}` values come from it.
    let mut read = selected.clone();
    for address in &selected {
        if let Some(resource) = desired.resources.get(address) {
            read.extend(resource.depends_on.iter().cloned());
        }
    }
    let live = session.refresh(&state, read.iter().cloned())?;
    session.reporter.progress(&format!(
        "Read the live state of {} resources in {} ms",
        read.len(),
        started.elapsed().as_millis()
    ));
    let pulls = compare(desired, &state, &live, &selected);

    let env_lookup = |name: &str| std::env::var(name).ok();
    let mut context = ReverseContext::new(&session.loaded, files, &env_lookup);
    for (address, object) in &live {
        context.set_live(address, object.id.clone(), object.outputs.clone());
    }

    let mut outcome = PullOutcome {
        check: options.check,
        ..PullOutcome::default()
    };
    let mut planned: Vec<ResourceEdits> = Vec::new();
    for pull in &pulls {
        if let Some(edits) =
            plan_resource(session, files, &context, pull, &live, options, &mut outcome)?
        {
            planned.push(edits);
        }
    }
    if options.check {
        return Ok(outcome);
    }

    // The edits, on an overlay of the files; a file's later documents first, so that the
    // line each document starts at stays right for the ones before it.
    planned.sort_by(|a, b| {
        (a.origin_file.as_str(), std::cmp::Reverse(a.origin_line))
            .cmp(&(b.origin_file.as_str(), std::cmp::Reverse(b.origin_line)))
    });
    let mut overlay: BTreeMap<String, String> = BTreeMap::new();
    for edits in &planned {
        if !edits.document.is_empty() {
            let text = file_text(files, &overlay, &edits.origin_file)?;
            let edited = edit::apply_edits(
                &edits.origin_file,
                &text,
                edits.origin_line,
                &edits.document,
                &edits.form,
            )?;
            overlay.insert(edits.origin_file.clone(), edited);
        }
        for (location, live_value) in &edits.payloads {
            let (file, rewritten) = match location {
                Location::TextPayload { file } => {
                    let original = file_text(files, &overlay, file)?;
                    let live_text = live_value.as_str().unwrap_or_default();
                    let text = edit::rewrite_text_payload(
                        edits.address.kind,
                        &original,
                        live_text,
                        &edits.form,
                    );
                    (file, text)
                }
                Location::JsonPayload { file } => {
                    let original = file_text(files, &overlay, file)?;
                    let text =
                        edit::rewrite_json_payload(file, &original, live_value, &edits.form)?;
                    (file, text)
                }
                _ => continue,
            };
            overlay.insert(file.clone(), rewritten);
        }
        outcome.secrets.extend(edits.form.secrets());
    }
    // A file whose edits came back to its bytes is not written.
    overlay.retain(|file, text| files.text(file) != Some(text.as_bytes()));
    if planned.is_empty() {
        return Ok(outcome);
    }

    // The edited manifests must read as live on every taken path before anything is written.
    let mut edited_files = files.files.clone();
    for (file, text) in &overlay {
        edited_files.insert(file.clone(), text.clone().into_bytes());
    }
    let mut edited = ManifestFiles::from_memory(files.root.clone(), edited_files);
    edited.info = files.info.clone();
    let secret_values: BTreeMap<String, String> = outcome
        .secrets
        .iter()
        .filter_map(|s| s.live_value().map(|v| (s.env.clone(), v.to_string())))
        .collect();
    let reload_env = |name: &str| {
        std::env::var(name)
            .ok()
            .or_else(|| secret_values.get(name).cloned())
    };
    let reloaded =
        load_desired(&edited, &session.env_name, &reload_env).map_err(PullError::Reload)?;
    let pulled: BTreeSet<Address> = planned.iter().map(|e| e.address.clone()).collect();
    let (resolved, _, _) = resolve_references(&reloaded.desired, &live, &pulled);
    let (resolved_before, _, _) = resolve_references(desired, &live, &pulled);
    unchanged_besides_takes(
        desired,
        &reloaded.desired,
        &planned,
        &resolved_before,
        &resolved,
    )?;
    for edits in &planned {
        let kind = edits.address.kind;
        let now = resolved
            .get(&edits.address)
            .map(|spec| canonical_spec(kind, spec))
            .unwrap_or(Value::Null);
        for (path, live_value) in &edits.checks {
            let reads = path.get(&now).cloned();
            if reads != *live_value {
                let show = |v: &Option<Value>| {
                    masked(&session.redactor, v)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "nothing".into())
                };
                return Err(PullError::Unfaithful {
                    address: edits.address.clone(),
                    field: path.to_string(),
                    reads: show(&reads),
                    live: show(live_value),
                });
            }
        }
    }

    // From the first file written to the state saved, a Ctrl-C waits for the pull to finish:
    // files edited with their base left behind in state would show as drift.
    let _armed = crate::app::interrupt::arm();
    // Every file is checked before the first is written, so a refusal writes nothing.
    for file in overlay.keys() {
        writable_path(&files.root, file, files.text(file))?;
    }
    for (file, text) in &overlay {
        let path = writable_path(&files.root, file, files.text(file))?;
        write_atomically(&path, text.as_bytes())?;
        outcome.files.push(file.clone());
    }

    // The taken values become the base: the next pull and `lode plan` see no change.
    let lock = lock.expect("a pull that writes holds the lock");
    let lineage = state.lineage.clone();
    let context = EntryContext {
        lineage: &lineage,
        desired: &reloaded.desired,
        redactor: &session.redactor,
    };
    for address in &pulled {
        let (Some(prior), Some(object)) = (state.resources.get(address), live.get(address)) else {
            continue;
        };
        let object: LiveObject = object.clone();
        let mut entry = applied_entry(
            &context,
            address,
            object,
            prior.depends_on.clone(),
            prior.lifecycle,
        );
        // Pull wrote no secret and applied nothing: what was written to masked fields, and the
        // commit the object was applied from, stay as they were.
        entry.write_only = prior.write_only.clone();
        entry.revision = prior.revision.clone();
        state.resources.insert(address.clone(), entry);
    }
    session
        .backend
        .save(&mut state, &lock)
        .map_err(PullError::Save)?;
    let mut journal = JournalEntry::begin("pull", &options.command);
    journal.revision = files.info.commit.clone();
    journal.summary = Some(format!(
        "{} resource(s) pulled into {} file(s)",
        outcome.pulled.len(),
        outcome.files.len()
    ));
    journal.details = outcome
        .pulled
        .iter()
        .map(|p| format!("{}: {}", p.address, p.fields.join(", ")))
        .collect();
    journal.duration_ms = started.elapsed().as_millis() as u64;
    if let Err(error) = session.backend.append_journal(&journal) {
        session.reporter.warn(&format!(
            "the pull is recorded in state, but not in the journal: {error}"
        ));
    }
    Ok(outcome)
}

/// The edited manifests declare the same resources, the untouched ones as they were, and
/// the pulled ones differ only at the paths taken: a live value can never reach past its own
/// field (a crafted string that would close its scalar, add a key or another document).
fn unchanged_besides_takes(
    before: &crate::manifest::Desired,
    after: &crate::manifest::Desired,
    planned: &[ResourceEdits],
    resolved_before: &BTreeMap<Address, Value>,
    resolved_after: &BTreeMap<Address, Value>,
) -> Result<(), PullError> {
    let spilled = |address: &Address, what: String| PullError::Spilled {
        address: address.clone(),
        what,
    };
    for address in after.resources.keys() {
        if !before.resources.contains_key(address) {
            return Err(spilled(address, "is declared".into()));
        }
    }
    let taken: BTreeMap<&Address, &ResourceEdits> =
        planned.iter().map(|e| (&e.address, e)).collect();
    for (address, was) in &before.resources {
        let Some(now) = after.resources.get(address) else {
            return Err(spilled(address, "is no longer declared".into()));
        };
        let Some(edits) = taken.get(address) else {
            if was.spec != now.spec || was.depends_on != now.depends_on {
                return Err(spilled(address, "changed".into()));
            }
            continue;
        };
        let kind = address.kind;
        let canonical = |resolved: &BTreeMap<Address, Value>| {
            resolved
                .get(address)
                .map(|spec| canonical_spec(kind, spec))
                .unwrap_or(Value::Null)
        };
        let (old, new) = (canonical(resolved_before), canonical(resolved_after));
        for difference in crate::engine::canonical::diff_paths(kind, &old, &new) {
            let within_a_take = edits.checks.iter().any(|(path, _)| {
                difference.path.0.len() >= path.0.len()
                    && difference.path.0[..path.0.len()] == path.0[..]
            });
            if !within_a_take {
                return Err(spilled(address, format!("changed at {}", difference.path)));
            }
        }
    }
    Ok(())
}

/// Decides what to do with one resource: reports what is kept, untouchable, skipped or in
/// conflict, and returns the edits of its takes (none when a conflict holds its document).
fn plan_resource<'c>(
    session: &Session,
    files: &ManifestFiles,
    context: &'c ReverseContext<'c>,
    pull: &ResourcePull,
    live: &BTreeMap<Address, LiveObject>,
    options: &PullOptions,
    outcome: &mut PullOutcome,
) -> Result<Option<ResourceEdits<'c>>, PullError> {
    let address = &pull.address;
    if let Some(why) = &pull.skipped {
        outcome.skipped.push((address.clone(), why.clone()));
        return Ok(None);
    }
    for path in &pull.keeps {
        outcome.kept.push((address.clone(), path.to_string()));
    }
    for (path, why) in &pull.untouchable {
        outcome
            .untouchable
            .push((address.clone(), path.to_string(), why.to_string()));
    }
    let resource = &session.loaded.desired.resources[address];
    let origin = &resource.origin;
    let kind = address.kind;
    let mut takes: Vec<(SpecPath, Option<Value>)> = pull
        .takes
        .iter()
        .map(|t| (t.path.clone(), t.live.clone()))
        .collect();
    let live_spec = live.get(address).map(|object| &object.spec);
    for conflict in &pull.conflicts {
        let segments = document_segments(&conflict.path);
        let (file, line) = match edit::locate(files, kind, origin, &segments)? {
            Location::Field {
                file,
                document_line,
                path,
                ..
            } => {
                let text = file_text(files, &BTreeMap::new(), &file)?;
                let line = edit::field_line(&file, &text, document_line, &path);
                (file, line)
            }
            Location::TextPayload { file } | Location::JsonPayload { file } => (file, 1),
            Location::NotPulled(_) => (origin.file.clone(), origin.line),
        };
        let shown = ShownConflict {
            address: address.clone(),
            field: conflict.path.to_string(),
            git: masked(&session.redactor, &conflict.git),
            live: masked(&session.redactor, &conflict.live),
            file,
            line,
        };
        if options.force {
            outcome.forced.push(shown);
            takes.push((conflict.path.clone(), conflict.live.clone()));
        } else {
            outcome.conflicts.push(shown);
        }
    }
    if !pull.conflicts.is_empty() && !options.force {
        // A conflict holds its whole document: nothing of it is taken.
        return Ok(None);
    }
    if takes.is_empty() {
        return Ok(None);
    }
    let form = PullForm::new(
        context,
        address.clone(),
        payload_text_kind(kind, &resource.spec),
    );
    let mut edits = ResourceEdits {
        address: address.clone(),
        origin_file: origin.file.clone(),
        origin_line: origin.line,
        document: Vec::new(),
        payloads: Vec::new(),
        form,
        fields: Vec::new(),
        checks: Vec::new(),
    };
    for (path, live_value) in takes {
        let segments = document_segments(&path);
        let written = live_spec
            .and_then(|spec| as_live_has_it(kind, &path, spec, &live_value))
            .or_else(|| live_value.clone());
        match edit::locate(files, kind, origin, &segments)? {
            Location::Field {
                file,
                path: document_path,
                unordered,
                ..
            } => {
                debug_assert_eq!(file, origin.file);
                let change = match (&written, unordered) {
                    (Some(Value::Array(items)), true) => Change::SetItems(items.clone()),
                    _ => Change::Set(written.clone()),
                };
                edits.document.push(DocumentEdit {
                    path: document_path,
                    change,
                });
            }
            location @ (Location::TextPayload { .. } | Location::JsonPayload { .. }) => {
                let Some(value) = written.clone() else {
                    outcome.untouchable.push((
                        address.clone(),
                        path.to_string(),
                        "live has no value for a payload file; lode pull does not delete files"
                            .into(),
                    ));
                    continue;
                };
                if matches!(location, Location::TextPayload { .. }) && !value.is_string() {
                    outcome.untouchable.push((
                        address.clone(),
                        path.to_string(),
                        "live holds no text for a text payload".into(),
                    ));
                    continue;
                }
                edits.payloads.push((location, value));
            }
            Location::NotPulled(why) => {
                outcome
                    .untouchable
                    .push((address.clone(), path.to_string(), why));
                continue;
            }
        }
        edits.fields.push(path.to_string());
        edits.checks.push((path, live_value));
    }
    if edits.fields.is_empty() {
        return Ok(None);
    }
    outcome.pulled.push(PulledResource {
        address: address.clone(),
        fields: edits.fields.clone(),
    });
    Ok(Some(edits))
}

/// Where `file` (relative to `root`) is written, once it is known to be safe: only a file the
/// manifests already hold, only inside the root, never through a symbolic link, and only when
/// nobody changed it since it was read (`read`).
fn writable_path(root: &Path, file: &str, read: Option<&[u8]>) -> Result<PathBuf, PullError> {
    let unwritable = |why: &str| PullError::Unwritable {
        file: file.to_string(),
        why: why.to_string(),
    };
    let relative = Path::new(file);
    if file.is_empty()
        || !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(unwritable(
            "the path leaves the manifest root; lode pull writes only inside it",
        ));
    }
    let Some(read) = read else {
        return Err(unwritable(
            "lode pull only rewrites files the manifests already have",
        ));
    };
    let path = root.join(relative);
    let io = |source| PullError::Write {
        path: path.clone(),
        source,
    };
    // Every step on the way must be a real folder or file of the root, not a link out of it.
    let mut walked = root.to_path_buf();
    for component in relative.components() {
        walked.push(component);
        let metadata = std::fs::symlink_metadata(&walked).map_err(io)?;
        if metadata.file_type().is_symlink() {
            return Err(unwritable(
                "it is (or is under) a symbolic link; edit the file it points to by hand",
            ));
        }
    }
    if std::fs::read(&path).map_err(io)? != read {
        return Err(PullError::ChangedMeanwhile {
            file: file.to_string(),
        });
    }
    Ok(path)
}

/// Replaces `path` with `content` atomically: a temporary file beside it, then a rename; the
/// file keeps its permissions.
fn write_atomically(path: &Path, content: &[u8]) -> Result<(), PullError> {
    super::replace_file_atomically(path, content).map_err(|source| PullError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest root with one file, `ignition/a.yaml`.
    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ignition")).unwrap();
        std::fs::write(dir.path().join("ignition/a.yaml"), "a: 1\n").unwrap();
        dir
    }

    #[test]
    fn issue_17_pull_writes_only_known_files_inside_the_root() {
        let dir = root();
        let read = Some(&b"a: 1\n"[..]);
        let path = writable_path(dir.path(), "ignition/a.yaml", read).unwrap();
        write_atomically(&path, b"a: 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a: 2\n");
        // Nothing else is left beside it.
        assert_eq!(
            std::fs::read_dir(dir.path().join("ignition"))
                .unwrap()
                .count(),
            1
        );
        for outside in ["../a.yaml", "/etc/passwd", "ignition/../../a.yaml", ""] {
            assert!(
                matches!(
                    writable_path(dir.path(), outside, read),
                    Err(PullError::Unwritable { .. })
                ),
                "{outside}"
            );
        }
        // A file the manifests do not hold is never created.
        assert!(matches!(
            writable_path(dir.path(), "ignition/new.yaml", None),
            Err(PullError::Unwritable { .. })
        ));
    }

    #[test]
    fn issue_17_pull_refuses_links_and_files_changed_meanwhile() {
        let dir = root();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("b.yaml"), "a: 1\n").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("linked")).unwrap();
        let read = Some(&b"a: 1\n"[..]);
        assert!(matches!(
            writable_path(dir.path(), "linked/b.yaml", read),
            Err(PullError::Unwritable { .. })
        ));
        std::fs::write(dir.path().join("ignition/a.yaml"), "a: 3\n").unwrap();
        assert!(matches!(
            writable_path(dir.path(), "ignition/a.yaml", read),
            Err(PullError::ChangedMeanwhile { .. })
        ));
    }
}
