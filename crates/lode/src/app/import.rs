//! `lode import`: live objects lode does not manage become manifests, payload files and state
//! entries, so that the next `lode plan` shows no changes. It discovers what is live in scope
//! (`--select`), leaves out what the manifests or the state already name (same locator or same
//! live id: nothing is imported twice), adds what the selected objects need (a resource's
//! project, an instance's UDT), renders the manifests (`manifest::write`), loads them in memory
//! and plans them: only objects that plan as a plain adoption are written. Files are written
//! first (each atomically), then every adopted entry is saved in one state write and one
//! journal entry. Nothing live changes, and a secret's value is never written or printed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::session::{RecoverError, Session};
use crate::engine::apply::{EntryContext, applied_entry};
use crate::engine::canonical::write_only_fields;
use crate::engine::plan::{Action, PlanOptions, build_plan};
use crate::manifest::environment::StateBackendKind;
use crate::manifest::source::ReadSourceError;
use crate::manifest::write::{
    FileAction, ImportedObject, RenderImportError, RenderedImport, ReverseContext, SecretUse,
    naming, render_import,
};
use crate::manifest::{Address, Kind, LoadManifestsError, ManifestFiles, load_desired};
use crate::provider::{
    Discovered, DiscoveryScope, LiveObject, ProviderError, RefreshRequest, SELECTOR_FORMS, Selector,
};
use crate::redact::Redactor;
use crate::state::{JournalEntry, State, StateError};

/// What `lode import` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `--select`: an object any of them matches is imported; empty: everything in scope.
    pub selectors: Vec<Selector>,
    /// `--workspace-folder`: workspace folders whose files are imported too.
    pub workspace_folders: Vec<String>,
    /// `--with-rows`: tables (address name or full name) whose rows become a seed file.
    pub with_rows: Vec<String>,
    /// `--dry-run`: everything but writing files and state.
    pub dry_run: bool,
    /// The command line, for the lock and the journal.
    pub command: String,
}

/// One file import writes (or would write).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedFile {
    /// Relative to the manifest root, with `/`.
    pub path: String,
    pub action: FileAction,
    pub addresses: Vec<Address>,
}

/// A live object import left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedImport {
    pub kind: Kind,
    pub name: String,
    pub reason: String,
}

/// What import did (or, with `--dry-run`, would do).
#[derive(Debug, Default)]
pub struct ImportOutcome {
    pub dry_run: bool,
    pub files: Vec<ImportedFile>,
    /// The resources taken into state.
    pub adopted: Vec<Address>,
    /// Secrets written as `${env.NAME}`: the name, never the value.
    pub secrets: Vec<SecretUse>,
    pub skipped: Vec<SkippedImport>,
    /// Everything the person should know (also reported as warnings while import ran).
    pub warnings: Vec<String>,
    /// Live objects already declared or in state, left out.
    pub already_managed: usize,
}

/// Why import stopped; nothing was written or adopted.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Recover(#[from] RecoverError),
    #[error(transparent)]
    Source(#[from] ReadSourceError),
    #[error("finding the live objects failed: {0}")]
    Discover(#[from] ProviderError),
    #[error("{0}")]
    Select(String),
    #[error("--with-rows {table}: {why}")]
    WithRows { table: String, why: String },
    #[error(transparent)]
    Render(#[from] RenderImportError),
    #[error("writing {path} failed: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("refusing to write {path}: {why}")]
    UnsafePath { path: String, why: String },
    #[error("the manifests import wrote do not load (a bug in lode's manifest writer): {0}")]
    Rendered(LoadManifestsError),
}

/// Where the discovered object stands after the declared ones are left out.
struct Candidate {
    discovered: Discovered,
    /// Whether a selector picked it (or it was added as what a picked object needs).
    picked: bool,
}

/// Imports what `options` selects into the manifest root and state of `session`.
pub fn import(
    session: &mut Session,
    options: &ImportOptions,
) -> Result<ImportOutcome, ImportError> {
    let started = std::time::Instant::now();
    let reporter = session.reporter.clone();
    let lock = if options.dry_run {
        None
    } else {
        Some(session.backend.lock(&options.command)?)
    };
    let mut state = match &lock {
        Some(lock) => session.load_state_for_change(lock)?,
        None => session.load_state()?,
    };
    let files = ManifestFiles::from_work_tree(&session.root)?;

    // 1. What is live in scope.
    let scope = DiscoveryScope {
        selectors: options.selectors.clone(),
        workspace_folders: options.workspace_folders.clone(),
        exclude_folders: excluded_folders(session),
    };
    reporter.info("Finding the live objects in scope");
    let discovered = session.providers.discover(&scope)?;
    reporter.progress(&format!("Found {} live objects", discovered.len()));

    // 2. The declared objects as they are live: their ids say which live objects they are,
    // and their ids and outputs are what `${ref...}` can point at.
    let declared: BTreeSet<Address> = session
        .loaded
        .desired
        .resources
        .keys()
        .chain(state.resources.keys())
        .cloned()
        .collect();
    let declared_live = if declared.is_empty() {
        BTreeMap::new()
    } else {
        session.refresh(&state, declared.iter().cloned())?
    };
    let managed = ManagedObjects::new(session, &state, &declared_live);

    let mut outcome = ImportOutcome {
        dry_run: options.dry_run,
        ..ImportOutcome::default()
    };
    let mut unmatched: Vec<&Selector> = options.selectors.iter().collect();
    let mut candidates: Vec<Candidate> = Vec::new();
    let picks = scope.picks(&discovered);
    for (found, picked) in discovered.into_iter().zip(picks) {
        unmatched.retain(|s| !s.matches(found.kind, &found.name_hint, &found.live.spec));
        if created_with_its_catalog(&found) {
            continue;
        }
        if managed.declares(&found) {
            outcome.already_managed += 1;
            continue;
        }
        candidates.push(Candidate {
            discovered: found,
            picked,
        });
    }

    // Selectors on addresses name what import will call the objects: name everything once.
    let imported: Vec<ImportedObject> = candidates
        .iter()
        .map(|c| imported_object(&c.discovered))
        .collect();
    let mut taken = declared.clone();
    let names = naming::assign(&imported, &mut taken, &session.loaded.variables);
    for (candidate, name) in candidates.iter_mut().zip(&names) {
        if let Ok(address) = name {
            let spec = &candidate.discovered.live.spec;
            let by_name = |s: &&Selector| s.matches(address.kind, &address.name, spec);
            if options.selectors.iter().any(|s| by_name(&s)) {
                candidate.picked = true;
                unmatched.retain(|s| !by_name(s));
            }
        }
    }
    if !unmatched.is_empty() {
        return Err(ImportError::Select(format!(
            "--select {} matches no live object; the forms are: {SELECTOR_FORMS}",
            unmatched
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    close_over_dependencies(&mut candidates);

    let mut objects: Vec<ImportedObject> = Vec::new();
    for candidate in candidates.into_iter().filter(|c| c.picked) {
        let found = candidate.discovered;
        if let Some(reason) = found
            .unsupported
            .clone()
            .or_else(|| unwritable_name(&found))
        {
            outcome.skipped.push(SkippedImport {
                kind: found.kind,
                name: found.name_hint.clone(),
                reason,
            });
            continue;
        }
        for setting in &found.lossy {
            let warning = format!(
                "{} `{}`: {setting} is not something lode manages; an update by lode resets it",
                found.kind, found.name_hint
            );
            reporter.warn(&warning);
            outcome.warnings.push(warning);
        }
        objects.push(imported_object(&found));
    }
    read_rows(session, &options.with_rows, &mut objects)?;

    // 3-4. Render, load, plan; what does not plan as a plain adoption is left out.
    let env_lookup = |name: &str| std::env::var(name).ok();
    // The context is the manifests' as they are on disk: each round below replaces
    // `session.loaded` with the generated manifests, which must not count as declared.
    let mut context = ReverseContext::new(&session.loaded, &files, &env_lookup);
    for (address, object) in &declared_live {
        context.set_live(address, object.id.clone(), object.outputs.clone());
    }
    let (rendered, plan, live) = loop {
        let rendered = render_import(&objects, &context, &files)?;
        let overlay = rendered.overlay(&files);
        let secret_values = rendered.secret_values();
        // A secret's variable, once set (or defaulted by the environment), is what the next
        // plan loads; until then, the live value it replaced (or a placeholder).
        let lookup = |name: &str| {
            context
                .env_value(name)
                .or_else(|| secret_values.get(name).cloned())
        };
        let loaded =
            load_desired(&overlay, &session.env_name, &lookup).map_err(ImportError::Rendered)?;
        let addresses: BTreeSet<Address> = rendered.addresses.iter().flatten().cloned().collect();
        for address in &addresses {
            if !loaded.desired.resources.contains_key(address) {
                return Err(ImportError::Rendered(LoadManifestsError::Invalid(vec![
                    crate::manifest::ManifestError::new(
                        "(import)",
                        1,
                        1,
                        format!("{address} was rendered but is not among the loaded resources"),
                    ),
                ])));
            }
        }
        let mut read = addresses.clone();
        for address in &addresses {
            read.extend(loaded.desired.resources[address].depends_on.iter().cloned());
        }
        session.loaded = loaded;
        session.redactor = Redactor::new(&session.loaded.desired.secrets);
        let ids: BTreeMap<&Address, Option<String>> = rendered
            .addresses
            .iter()
            .zip(&objects)
            .filter_map(|(address, object)| Some((address.as_ref()?, object.id.clone())))
            .collect();
        let live = read_live(session, &state, &ids, read)?;
        let plan_options = PlanOptions {
            limitations: session.providers.limitations(),
            ..PlanOptions::default()
        };
        let plan = build_plan(
            &session.loaded.desired,
            &state,
            &live,
            &addresses,
            &plan_options,
            &session.env_name,
        );
        let mut refused: BTreeSet<usize> = BTreeSet::new();
        for change in &plan.changes {
            if !addresses.contains(&change.address) {
                continue;
            }
            // A field the live system masks (the Zerobus secret) always differs on adoption:
            // import records what the manifest says was written there (step 7 of the design).
            let masked = write_only_fields(change.address.kind);
            let only_masked = change.action == Action::Update
                && change.adopt
                && change
                    .fields
                    .iter()
                    .all(|f| masked.contains(&f.path.as_str()));
            let adoptable = (change.action == Action::NoOp || only_masked) && change.adopt;
            let starts_an_update = change.action == Action::Update
                && change.fields.is_empty()
                && !change.adopt
                && change.blocked.is_none()
                && live.contains_key(&change.address);
            if adoptable && change.blocked.is_none() {
                continue;
            }
            if starts_an_update {
                let warning = format!(
                    "{}: imported, and the next plan will start an update ({})",
                    change.address,
                    change.reason.as_deref().unwrap_or("the plan says so")
                );
                reporter.warn(&warning);
                outcome.warnings.push(warning);
                continue;
            }
            let Some(index) = rendered
                .addresses
                .iter()
                .position(|a| a.as_ref() == Some(&change.address))
            else {
                continue;
            };
            refused.insert(index);
            let mut reason = match (&change.blocked, change.action) {
                (Some(blocked), _) => format!("the plan would block it: {blocked}"),
                (None, Action::NoOp) => "it is not there to adopt".to_string(),
                (None, action) => format!(
                    "its manifest would not match it: the plan would {}",
                    action.as_str()
                ),
            };
            let fields: Vec<String> = change
                .fields
                .iter()
                .map(|f| {
                    session.redactor.text(&format!(
                        "{}: {} → {}",
                        f.path,
                        short(f.before.as_ref()),
                        short(f.after.as_ref())
                    ))
                })
                .collect();
            if !fields.is_empty() {
                reason.push_str(&format!(" ({})", fields.join("; ")));
            }
            outcome.skipped.push(SkippedImport {
                kind: change.address.kind,
                name: objects[index].name_hint.clone(),
                reason,
            });
        }
        if refused.is_empty() {
            break (rendered, plan, live);
        }
        objects = objects
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !refused.contains(i))
            .map(|(_, o)| o)
            .collect();
    };
    for skipped in &rendered.skipped {
        outcome.skipped.push(SkippedImport {
            kind: skipped.kind,
            name: skipped.name.clone(),
            reason: skipped.reason.clone(),
        });
    }
    for ambiguity in &rendered.ambiguous {
        let warning = format!(
            "{} {}: `{}` is the value of {}; left as written (put the `${{var...}}` you mean there)",
            ambiguity.address,
            ambiguity.pointer,
            ambiguity.value,
            ambiguity
                .variables
                .iter()
                .map(|v| format!("`${{var.{v}}}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        );
        reporter.warn(&warning);
        outcome.warnings.push(warning);
    }
    for warning in &rendered.warnings {
        reporter.warn(warning);
        outcome.warnings.push(warning.clone());
    }
    for secret in rendered.secrets.iter().filter(|s| !s.set) {
        let warning = format!(
            "{} {}: written as `${{env.{}}}`, which is not set: set it before the next plan",
            secret.address, secret.pointer, secret.env
        );
        reporter.warn(&warning);
        outcome.warnings.push(warning);
    }
    outcome.files = rendered
        .files
        .iter()
        .map(|f| ImportedFile {
            path: f.path.clone(),
            action: f.action,
            addresses: f.addresses.clone(),
        })
        .collect();
    let imported_addresses: BTreeSet<&Address> = rendered.addresses.iter().flatten().collect();
    let adopt: Vec<_> = plan
        .changes
        .into_iter()
        .filter(|c| imported_addresses.contains(&c.address))
        .collect();
    outcome.adopted = adopt.iter().map(|c| c.address.clone()).collect();
    outcome.secrets = rendered.secrets.clone();
    if options.dry_run {
        return Ok(outcome);
    }
    let Some(lock) = lock else {
        unreachable!("a run that writes holds the lock")
    };

    // 5. Files first: an entry without its manifest would be deleted by the next plan. From
    // here to the state write, a Ctrl-C waits for import to finish.
    let _armed = super::interrupt::arm();
    write_files(&session.root, &files, &rendered)?;

    // 6. Adopt: one state write for every entry.
    let lineage = state.lineage.clone();
    let context = EntryContext {
        lineage: &lineage,
        desired: &session.loaded.desired,
        redactor: &session.redactor,
    };
    let write_only_secrets: BTreeMap<&Address, &SecretUse> = rendered
        .secrets
        .iter()
        .filter(|s| s.live_value().is_none())
        .map(|s| (&s.address, s))
        .collect();
    for change in adopt {
        let Some(object) = live.get(&change.address).cloned() else {
            continue;
        };
        let mut entry = applied_entry(
            &context,
            &change.address,
            object,
            change.depends_on,
            change.lifecycle,
        );
        if let Some(secret) = write_only_secrets.get(&change.address) {
            if secret.set {
                let warning = format!(
                    "{}: its {} is assumed equal to `{}`; lode cannot read the live secret",
                    change.address,
                    secret.pointer.trim_start_matches('/'),
                    secret.env
                );
                reporter.warn(&warning);
                outcome.warnings.push(warning);
            } else {
                // Nothing known was written there: the plan shows the secret as changed once
                // the variable is set, and writes it.
                entry.write_only.clear();
            }
        }
        state.resources.insert(change.address.clone(), entry);
    }
    session.backend.save(&mut state, &lock)?;
    let mut journal = JournalEntry::begin("import", &options.command);
    journal.revision = state.revision.clone();
    journal.duration_ms = started.elapsed().as_millis() as u64;
    journal.summary = Some(format!(
        "{} adopted, {} files written, {} skipped",
        outcome.adopted.len(),
        outcome.files.len(),
        outcome.skipped.len()
    ));
    journal.details = outcome
        .skipped
        .iter()
        .map(|s| format!("skipped {}/{}: {}", s.kind, s.name, s.reason))
        .map(|line| session.redactor.text(&line))
        .collect();
    if let Err(error) = session.backend.append_journal(&journal) {
        reporter.warn(&format!(
            "the journal could not record this import: {error}"
        ));
    }
    Ok(outcome)
}

/// Reads what the plan compares: the imported objects located by their generated specs and
/// their live ids (a Genie space is found by its id only), the rest as any plan reads them.
fn read_live(
    session: &Session,
    state: &State,
    imported: &BTreeMap<&Address, Option<String>>,
    read: BTreeSet<Address>,
) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
    let (new, known): (Vec<Address>, Vec<Address>) = read
        .into_iter()
        .partition(|address| imported.contains_key(address));
    let requests: Vec<RefreshRequest> = new
        .into_iter()
        .filter_map(|address| {
            let spec = session.loaded.desired.resources.get(&address)?.spec.clone();
            let id = imported.get(&address).cloned().flatten();
            Some(RefreshRequest {
                address,
                spec,
                id,
                last_read: None,
            })
        })
        .collect();
    let mut live = if requests.is_empty() {
        BTreeMap::new()
    } else {
        session.providers.refresh(requests)?
    };
    if !known.is_empty() {
        live.extend(session.refresh(state, known)?);
    }
    Ok(live)
}

/// A value of a field diff, on one line and short.
fn short(value: Option<&Value>) -> String {
    let text = match value {
        None => "(none)".to_string(),
        Some(value) => value.to_string(),
    };
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(79).collect::<String>())
    } else {
        text
    }
}

fn imported_object(found: &Discovered) -> ImportedObject {
    ImportedObject {
        kind: found.kind,
        name_hint: found.name_hint.clone(),
        spec: found.live.spec.clone(),
        id: found.live.id.clone(),
        outputs: found.live.outputs.clone(),
    }
}

/// The `default` schema Unity Catalog creates in every catalog, untouched since: the
/// workspace's own, like `information_schema`, and no one's manifest.
fn created_with_its_catalog(found: &Discovered) -> bool {
    found.kind == Kind::Schema
        && found.live.spec.get("name").and_then(Value::as_str) == Some("default")
        && found.live.spec.get("comment").and_then(Value::as_str)
            == Some("Default schema (auto-created)")
        && found
            .live
            .spec
            .get("properties")
            .is_none_or(|p| p.as_object().is_none_or(|p| p.is_empty()))
}

/// Workspace folders never scanned: where lode keeps state, and declared monitors' dashboards.
fn excluded_folders(session: &Session) -> Vec<String> {
    let mut folders = Vec::new();
    let environment = &session.loaded.environment;
    if environment.state.backend == StateBackendKind::Workspace {
        folders.push(environment.state.path.clone().unwrap_or_else(|| {
            format!(
                "/Workspace/Shared/.lode/{}/{}",
                session.loaded.project.project, session.env_name
            )
        }));
    }
    for resource in session.loaded.desired.resources.values() {
        if resource.address.kind == Kind::QualityMonitor
            && let Some(dir) = resource.spec.get("assets_dir").and_then(Value::as_str)
        {
            folders.push(dir.to_string());
        }
    }
    folders
        .into_iter()
        .map(|f| crate::manifest::normalize_workspace_path(&f))
        .collect()
}

/// What the manifests and the state already name, by where the object lives and by live id.
struct ManagedObjects {
    locators: BTreeSet<(Kind, String)>,
    ids: BTreeSet<(Kind, String)>,
}

impl ManagedObjects {
    fn new(session: &Session, state: &State, live: &BTreeMap<Address, LiveObject>) -> Self {
        let mut locators = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for (address, resource) in &session.loaded.desired.resources {
            locators.insert((
                address.kind,
                crate::manifest::locator(address.kind, &address.name, &resource.spec),
            ));
        }
        for (address, entry) in &state.resources {
            locators.insert((
                address.kind,
                crate::manifest::locator(address.kind, &address.name, &entry.spec),
            ));
            if let Some(id) = &entry.id {
                ids.insert((address.kind, id.clone()));
            }
        }
        for (address, object) in live {
            if let Some(id) = &object.id {
                ids.insert((address.kind, id.clone()));
            }
        }
        ManagedObjects { locators, ids }
    }

    fn declares(&self, found: &Discovered) -> bool {
        let by_id = found
            .live
            .id
            .as_ref()
            .is_some_and(|id| self.ids.contains(&(found.kind, id.clone())));
        // A Genie space's locator is its address name: only its id says which space it is.
        let by_locator = found.kind != Kind::GenieSpace
            && self.locators.contains(&(
                found.kind,
                crate::manifest::locator(found.kind, &found.name_hint, &found.live.spec),
            ));
        by_id || by_locator
    }
}

/// Adds what the picked objects need and no manifest declares: the project of a project
/// resource, the UDTs an instance or a UDT is built on (and theirs).
fn close_over_dependencies(candidates: &mut [Candidate]) {
    loop {
        let mut projects: BTreeSet<String> = BTreeSet::new();
        let mut types: BTreeSet<(String, String)> = BTreeSet::new();
        for candidate in candidates.iter().filter(|c| c.picked) {
            let spec = &candidate.discovered.live.spec;
            if let Some(project) = spec.get("project").and_then(Value::as_str) {
                projects.insert(project.to_string());
            }
            if matches!(candidate.discovered.kind, Kind::Tag | Kind::Udt) {
                let provider = provider_of(spec);
                let mut found = Vec::new();
                type_ids(spec, &mut found);
                if let Some(parent) = spec.get("parent_type").and_then(Value::as_str) {
                    found.push(parent.to_string());
                }
                for type_id in found {
                    types.insert((provider.clone(), type_id));
                }
            }
        }
        let mut added = false;
        for candidate in candidates.iter_mut().filter(|c| !c.picked) {
            let found = &candidate.discovered;
            let needed = match found.kind {
                Kind::Project => projects.contains(&found.name_hint),
                Kind::Udt => {
                    types.contains(&(provider_of(&found.live.spec), found.name_hint.clone()))
                }
                _ => false,
            };
            if needed {
                candidate.picked = true;
                added = true;
            }
        }
        if !added {
            return;
        }
    }
}

fn provider_of(spec: &Value) -> String {
    match spec.get("provider").and_then(Value::as_str) {
        None | Some("") => "default".to_string(),
        Some(provider) => provider.to_string(),
    }
}

/// Every `typeId` in a tag or UDT configuration, members included.
fn type_ids(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("typeId", Value::String(id)) if !id.is_empty() => found.push(id.clone()),
                    _ => type_ids(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| type_ids(v, found)),
        _ => {}
    }
}

/// Reads the rows of the `--with-rows` tables into their specs: each is read with its primary
/// key and an empty seed as the wanted side, which is what makes the provider read rows.
fn read_rows(
    session: &Session,
    tables: &[String],
    objects: &mut [ImportedObject],
) -> Result<(), ImportError> {
    let mut requests = Vec::new();
    let mut positions = BTreeMap::new();
    for table in tables {
        let position = objects.iter().position(|o| {
            o.kind == Kind::Table && (o.name_hint == *table || full_table_name(&o.spec) == *table)
        });
        let Some(position) = position else {
            return Err(ImportError::WithRows {
                table: table.clone(),
                why: "no table of that name (or full name) is among the objects to import (a table the manifests declare is not imported again)".into(),
            });
        };
        let object = &objects[position];
        if !crate::manifest::write::has_primary_key(&object.spec) {
            return Err(ImportError::WithRows {
                table: table.clone(),
                why: "the table has no primary key, and seed rows are matched by key".into(),
            });
        }
        let mut spec = object.spec.clone();
        spec["rows"] = Value::Array(Vec::new());
        let address = Address::new(Kind::Table, object.name_hint.clone());
        positions.insert(address.clone(), position);
        requests.push(RefreshRequest {
            address,
            spec,
            id: object.id.clone(),
            last_read: None,
        });
    }
    if requests.is_empty() {
        return Ok(());
    }
    let read = session.providers.refresh(requests)?;
    for (address, position) in positions {
        let rows = read
            .get(&address)
            .and_then(|live| live.spec.get("rows"))
            .cloned()
            .ok_or_else(|| ImportError::WithRows {
                table: address.name.clone(),
                why: "its rows could not be read".into(),
            })?;
        objects[position].spec["rows"] = rows;
    }
    Ok(())
}

/// `catalog.schema.name` of a table spec.
fn full_table_name(spec: &Value) -> String {
    let part = |field| spec.get(field).and_then(Value::as_str).unwrap_or("");
    format!("{}.{}.{}", part("catalog"), part("schema"), part("name"))
}

/// Why `relative` may not be written under the root: only plain names, no `..`, no absolute
/// path, no symlink on the way (names come from a live system).
fn checked_path(root: &Path, relative: &str) -> Result<PathBuf, ImportError> {
    let unsafe_path = |why: &str| ImportError::UnsafePath {
        path: relative.to_string(),
        why: why.to_string(),
    };
    let path = Path::new(relative);
    if relative.is_empty()
        || path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(unsafe_path(
            "it is not a plain relative path under the manifest root",
        ));
    }
    let mut at = root.to_path_buf();
    let components: Vec<_> = path.components().collect();
    for (i, component) in components.iter().enumerate() {
        at.push(component);
        if let Ok(metadata) = std::fs::symlink_metadata(&at) {
            if metadata.file_type().is_symlink() {
                return Err(unsafe_path("a symlink is on its way"));
            }
            if i + 1 < components.len() && !metadata.is_dir() {
                return Err(unsafe_path("a file is where a folder must be"));
            }
        }
    }
    Ok(at)
}

/// Writes every rendered file, each atomically (a temporary file renamed over it). Every path
/// is checked before the first write, so a bad one writes nothing; a file appended to must
/// still be what import read; and when a write fails, the files written before it are put
/// back as they were, so an error leaves the manifest root untouched.
fn write_files(
    root: &Path,
    before: &ManifestFiles,
    rendered: &RenderedImport,
) -> Result<(), ImportError> {
    let mut targets = Vec::new();
    for file in &rendered.files {
        let target = checked_path(root, &file.path)?;
        let unsafe_path = |why: &str| ImportError::UnsafePath {
            path: file.path.clone(),
            why: why.to_string(),
        };
        let original = match file.action {
            FileAction::Create if target.exists() => {
                return Err(unsafe_path(
                    "it exists already (and import never overwrites a file)",
                ));
            }
            FileAction::Create => None,
            FileAction::Append => {
                let read = before.files.get(&file.path);
                if std::fs::read(&target).ok().as_ref() != read {
                    return Err(unsafe_path(
                        "it changed while import ran; run `lode import` again",
                    ));
                }
                read.cloned()
            }
        };
        targets.push((file, target, original));
    }
    let mut written: Vec<(&PathBuf, &Option<Vec<u8>>)> = Vec::new();
    for (file, target, original) in &targets {
        if let Err(source) = super::replace_file_atomically(target, &file.content) {
            for (target, original) in written.into_iter().rev() {
                let _ = match original {
                    Some(bytes) => super::replace_file_atomically(target, bytes),
                    None => std::fs::remove_file(target),
                };
            }
            return Err(ImportError::Write {
                path: file.path.clone(),
                source,
            });
        }
        written.push((target, original));
    }
    Ok(())
}

/// Why a live object's name cannot be written in a manifest, if it cannot: a path that
/// leaves its folder (`..`), characters Ignition itself refuses. Such names come from the live
/// system, so they are reported, never written: the manifests would not load, and the files
/// transport must never write outside the gateway's data directory.
fn unwritable_name(found: &Discovered) -> Option<String> {
    let path_named = matches!(found.kind, Kind::Tag | Kind::Udt | Kind::PerspectiveView);
    let name_problem = path_named
        .then(|| crate::manifest::name_problem(found.kind, &found.name_hint))
        .flatten();
    let file_problem = (found.kind.system() == "ignition")
        .then(|| crate::manifest::gateway_file_name_problem(&found.live.spec))
        .flatten()
        .map(|(_, message, _)| message);
    name_problem
        .or(file_problem)
        .map(|why| format!("its name cannot be written in a manifest: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_17_import_never_writes_outside_the_manifest_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("ignition")).unwrap();
        for bad in [
            "../escape.yaml",
            "ignition/../../escape.yaml",
            "/etc/passwd",
            "",
            "./x",
        ] {
            assert!(
                matches!(
                    checked_path(&root, bad),
                    Err(ImportError::UnsafePath { .. })
                ),
                "{bad:?} was accepted"
            );
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path(), root.join("out")).unwrap();
            assert!(matches!(
                checked_path(&root, "out/x.yaml"),
                Err(ImportError::UnsafePath { .. })
            ));
        }
        assert_eq!(
            checked_path(&root, "ignition/tags.yaml").unwrap(),
            root.join("ignition/tags.yaml")
        );
    }

    #[test]
    fn issue_17_import_writes_nothing_when_a_file_changed_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("ignition")).unwrap();
        std::fs::write(root.join("ignition/tags.yaml"), "kind: tag\n# edited\n").unwrap();
        let read = ManifestFiles::from_memory(
            root.clone(),
            [("ignition/tags.yaml".to_string(), b"kind: tag\n".to_vec())].into(),
        );
        let file = |path: &str, action| crate::manifest::write::RenderedFile {
            path: path.to_string(),
            action,
            content: b"new\n".to_vec(),
            addresses: Vec::new(),
        };
        let rendered = RenderedImport {
            files: vec![
                file("ignition/udts.yaml", FileAction::Create),
                file("ignition/tags.yaml", FileAction::Append),
            ],
            ..RenderedImport::default()
        };
        assert!(matches!(
            write_files(&root, &read, &rendered),
            Err(ImportError::UnsafePath { .. })
        ));
        assert!(!root.join("ignition/udts.yaml").exists());
        assert_eq!(
            std::fs::read_to_string(root.join("ignition/tags.yaml")).unwrap(),
            "kind: tag\n# edited\n"
        );
    }

    #[test]
    fn issue_17_instances_bring_their_udts_and_resources_their_project() {
        let candidate = |kind, name: &str, spec: Value, picked| Candidate {
            discovered: Discovered::checked(kind, name, LiveObject::plain(spec)),
            picked,
        };
        let mut candidates = vec![
            candidate(
                Kind::Tag,
                "Mining/Crusher1",
                serde_json::json!({"provider": "default", "tagType": "UdtInstance", "typeId": "Crusher"}),
                true,
            ),
            candidate(
                Kind::Udt,
                "Crusher",
                serde_json::json!({"provider": "default", "parent_type": "Machine"}),
                false,
            ),
            candidate(
                Kind::Udt,
                "Machine",
                serde_json::json!({"provider": "default"}),
                false,
            ),
            candidate(
                Kind::Udt,
                "Crusher",
                serde_json::json!({"provider": "other"}),
                false,
            ),
            candidate(
                Kind::GatewayScript,
                "mining/timer",
                serde_json::json!({"project": "mining"}),
                true,
            ),
            candidate(Kind::Project, "mining", serde_json::json!({}), false),
            candidate(Kind::Project, "other", serde_json::json!({}), false),
        ];
        close_over_dependencies(&mut candidates);
        let picked: Vec<bool> = candidates.iter().map(|c| c.picked).collect();
        assert_eq!(picked, [true, true, true, false, true, true, false]);
    }
}
