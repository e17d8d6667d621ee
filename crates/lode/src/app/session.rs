//! A session: what every workflow opens first. The manifest root, the manifests (from the work
//! tree or a git revision), the environment, its state backend and its providers (through
//! [`connect`](super::connect)); and the refresh + plan step that plan, apply, rollback and
//! destroy share.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Reporter;
use super::connect::{ConnectError, EmulatorWait, LocalEmulators, connect, connect_each};
use crate::engine::apply::{EntryContext, applied_entry};
use crate::engine::plan::{Action, Plan, PlanOptions, build_plan, select_addresses};
use crate::manifest::environment::{
    EnvironmentConfig, ProjectConfig, StateBackendKind, load_environment, load_project,
};
use crate::manifest::source::ReadSourceError;
use crate::manifest::{Address, LoadManifestsError, Loaded, ManifestFiles, load_desired};
use crate::provider::{LiveObject, ProviderError, Providers, RefreshRequest};
use crate::redact::Redactor;
use crate::state::{LocalStore, LockGuard, Recovery, State, StateBackend, StateError};

/// Where and what to open: the `--dir` and `--env` of a command.
#[derive(Debug, Clone)]
pub struct SessionArgs {
    /// The manifest root given on the command line; found from the current folder otherwise.
    pub dir: Option<PathBuf>,
    /// The environment's name.
    pub env: String,
}

/// An opened manifest root and environment.
pub struct Session {
    pub root: PathBuf,
    pub env_name: String,
    pub loaded: Loaded,
    pub backend: StateBackend,
    pub providers: Providers,
    pub redactor: Redactor,
    /// Where warnings and progress go (the CLI's printer).
    pub reporter: Arc<dyn Reporter>,
    /// The in-process emulators of a local environment; dropped after everything else.
    pub emulators: LocalEmulators,
}

/// Why the manifest root was not found.
#[derive(Debug, thiserror::Error)]
pub enum FindRootError {
    #[error("cannot read the current folder: {0}")]
    CurrentDir(std::io::Error),
    #[error("no lode.yaml here, in a parent folder, or in ./manifests")]
    NotFound,
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenSessionError {
    #[error(transparent)]
    Root(#[from] FindRootError),
    #[error(transparent)]
    Source(#[from] ReadSourceError),
    #[error(transparent)]
    Manifests(#[from] LoadManifestsError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(
        "environment `{env_name}` keeps state in the workspace but has no `databricks:` section"
    )]
    StateWithoutDatabricks { env_name: String },
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("--target {} matches no resource", .0.join(" "))]
    NoTargetMatch(Vec<String>),
    #[error("reading the live environment failed: {0}")]
    Refresh(#[from] ProviderError),
}

/// Finds the manifest root: `--dir`, else the current folder or an ancestor with lode.yaml,
/// else `./manifests`.
pub fn find_root(dir: Option<&Path>) -> Result<PathBuf, FindRootError> {
    if let Some(dir) = dir {
        return Ok(dir.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(FindRootError::CurrentDir)?;
    if let Some(found) = cwd.ancestors().find(|p| p.join("lode.yaml").is_file()) {
        return Ok(found.to_path_buf());
    }
    let manifests = cwd.join("manifests");
    if manifests.join("lode.yaml").is_file() {
        return Ok(manifests);
    }
    Err(FindRootError::NotFound)
}

/// The environment's state backend: a local folder, or workspace files through the
/// environment's Databricks client.
fn state_backend(
    project: &ProjectConfig,
    environment: &EnvironmentConfig,
    root: &Path,
    env_name: &str,
    providers: &Providers,
) -> Result<StateBackend, OpenSessionError> {
    let config = &environment.state;
    let store: Box<dyn crate::state::backend::StateStore> = match config.backend {
        StateBackendKind::Local => {
            let dir = match &config.path {
                Some(path) => root.join(path),
                None => root.join(".lode").join(env_name),
            };
            Box::new(LocalStore::new(dir))
        }
        StateBackendKind::Workspace => {
            let client = providers.databricks_client().ok_or_else(|| {
                OpenSessionError::StateWithoutDatabricks {
                    env_name: env_name.to_string(),
                }
            })?;
            let folder = config.path.clone().unwrap_or_else(|| {
                format!("/Workspace/Shared/.lode/{}/{env_name}", project.project)
            });
            Box::new(crate::state::workspace::WorkspaceStore::new(
                client, &folder,
            ))
        }
    };
    Ok(StateBackend::new(store, env_name))
}

/// An environment's state and providers, opened from `lode.yaml` and the environment file
/// alone: for the commands that must work while the other manifests are broken (`lode state`,
/// `lode stop`).
pub struct StateAccess {
    pub root: PathBuf,
    pub env_name: String,
    pub environment: EnvironmentConfig,
    pub backend: StateBackend,
    /// The providers of the systems that could be set up.
    pub providers: Providers,
    /// Systems that could not be set up (a missing token, an emulator that did not start),
    /// with why.
    pub unreachable: Vec<(&'static str, String)>,
    /// The in-process emulators of a local environment; dropped after everything else.
    pub emulators: LocalEmulators,
}

/// Opens the state backend the environment configures (and its providers), reading only
/// `lode.yaml` and `environments/<env>.yaml`. A broken manifest elsewhere does not matter; a
/// broken environment file is an error, never a silent fall back to another backend.
pub fn open_state(
    args: &SessionArgs,
    wait: &EmulatorWait<'_>,
) -> Result<StateAccess, OpenSessionError> {
    let root = find_root(args.dir.as_deref())?;
    super::connect::reserve_local_endpoints(&root, &args.env);
    let files = ManifestFiles::from_work_tree(&root)?;
    let mut errors = Vec::new();
    let project = load_project(&files).map_err(|e| errors.extend(e)).ok();
    let environment = load_environment(&files, &args.env)
        .map_err(|e| errors.extend(e))
        .ok();
    let (Some(project), Some(environment)) = (project, environment) else {
        return Err(LoadManifestsError::Invalid(errors).into());
    };
    let (connection, failed) = connect_each(&environment, &root, &args.env, wait);
    let backend = match state_backend(
        &project,
        &environment,
        &root,
        &args.env,
        &connection.providers,
    ) {
        Ok(backend) => backend,
        // The state lives behind a system that could not be set up: that is the reason.
        Err(error) => {
            return Err(match failed.into_iter().find(|(s, _)| *s == "databricks") {
                Some((_, connect)) => connect.into(),
                None => error,
            });
        }
    };
    Ok(StateAccess {
        root,
        env_name: args.env.clone(),
        environment,
        backend,
        providers: connection.providers,
        unreachable: failed
            .into_iter()
            .map(|(system, error)| (system, error.to_string()))
            .collect(),
        emulators: connection.emulators,
    })
}

/// The manifests and environment only, without connecting to anything (validate, graph).
pub fn load_manifests(global: &SessionArgs, rev: Option<&str>) -> Result<Loaded, OpenSessionError> {
    let root = find_root(global.dir.as_deref())?;
    super::connect::reserve_local_endpoints(&root, &global.env);
    let files = match rev {
        Some(rev) => ManifestFiles::from_git_revision(&root, rev)?,
        None => ManifestFiles::from_work_tree(&root)?,
    };
    Ok(load_desired(&files, &global.env, &|name| {
        std::env::var(name).ok()
    })?)
}

/// Where an environment's snapshots are kept: with its state. Local state keeps them in
/// `snapshots/<env>/` of the manifest root; state in the workspace keeps them in the
/// workspace too, so they outlive a CI runner's checkout.
fn snapshots_of(
    environment: &EnvironmentConfig,
    backend: &StateBackend,
    root: &Path,
    env_name: &str,
) -> crate::snapshot::Snapshots {
    match environment.state.backend {
        StateBackendKind::Local => crate::snapshot::Snapshots::new(root, env_name),
        StateBackendKind::Workspace => {
            crate::snapshot::Snapshots::in_store(backend.store(), env_name)
        }
    }
}

impl StateAccess {
    /// The environment's snapshots (see `Session::snapshots`).
    pub fn snapshots(&self) -> crate::snapshot::Snapshots {
        snapshots_of(&self.environment, &self.backend, &self.root, &self.env_name)
    }
}

impl Session {
    /// The environment's snapshots, kept with its state.
    pub fn snapshots(&self) -> crate::snapshot::Snapshots {
        snapshots_of(
            &self.loaded.environment,
            &self.backend,
            &self.root,
            &self.env_name,
        )
    }

    /// Opens the manifests (at `rev` when given) and the environment.
    pub fn open(
        args: &SessionArgs,
        rev: Option<&str>,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Session, OpenSessionError> {
        let root = find_root(args.dir.as_deref())?;
        super::connect::reserve_local_endpoints(&root, &args.env);
        let files = match rev {
            Some(rev) => ManifestFiles::from_git_revision(&root, rev)?,
            None => ManifestFiles::from_work_tree(&root)?,
        };
        Session::from_files(args, files, reporter)
    }

    pub fn from_files(
        args: &SessionArgs,
        files: ManifestFiles,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Session, OpenSessionError> {
        let root = files.root.clone();
        let loaded = load_desired(&files, &args.env, &|name| std::env::var(name).ok())?;
        let connection = connect(
            &loaded.environment,
            &root,
            &args.env,
            &EmulatorWait::patient(&*reporter),
        )?;
        let backend = state_backend(
            &loaded.project,
            &loaded.environment,
            &root,
            &args.env,
            &connection.providers,
        )?;
        let redactor = Redactor::new(&loaded.desired.secrets);
        Ok(Session {
            root,
            env_name: args.env.clone(),
            loaded,
            backend,
            providers: connection.providers,
            redactor,
            reporter,
            emulators: connection.emulators,
        })
    }

    /// Loads state, warning about calls an earlier apply did not finish.
    pub fn load_state(&self) -> Result<State, StateError> {
        Ok(self.load_state_with_recovery()?.0)
    }

    fn load_state_with_recovery(&self) -> Result<(State, Recovery), StateError> {
        let (state, recovery) = self.backend.load()?;
        for skipped in &recovery.skipped {
            self.reporter.warn(&skipped.to_string());
        }
        for (address, action) in &recovery.interrupted {
            self.reporter.warn(&format!(
                "an earlier apply was interrupted during `{action}` of {address}; its live state is read again now"
            ));
        }
        Ok((state, recovery))
    }

    /// Loads state for a command about to change things (it holds the lock). When an earlier
    /// apply was interrupted (its write-ahead log is still there), the live systems are first
    /// asked to finish what it may have left half done (a gateway scan lock it held, files it
    /// wrote that the gateway has not read); then each step it began but never recorded is
    /// settled from its live object, and the log is compacted into state, as a finished
    /// apply's commit does, so the next plan starts clean: no drift from lode's own changes,
    /// no "interrupted" warning, no log.
    pub fn load_state_for_change(&self, lock: &LockGuard) -> Result<State, RecoverError> {
        let (mut state, recovery) = self.load_state_with_recovery()?;
        if !recovery.was_interrupted() {
            return Ok(state);
        }
        for done in self.providers.recover_interrupted()? {
            self.reporter
                .info(&format!("Recovered from the interrupted apply: {done}"));
        }
        for settled in self.settle_interrupted_steps(&mut state, &recovery.interrupted)? {
            self.reporter
                .info(&format!("Recovered from the interrupted apply: {settled}"));
        }
        self.backend.commit_recovered(&mut state, lock)?;
        Ok(state)
    }

    /// Settles the steps an interrupted apply began but never recorded, from their live
    /// objects, in `state`; returns one line per step saying what was done.
    ///
    /// - A step whose effect landed (the object is what the manifests want) gets the entry a
    ///   finished step writes, fingerprint included.
    /// - A step cut off halfway (or before its call) records the object as it is now, so what
    ///   lode itself did is not taken for drift; the plan finishes the change.
    /// - A delete, or the delete half of a replace, that landed leaves no entry; nor does a
    ///   forget, which touches nothing live.
    fn settle_interrupted_steps(
        &self,
        state: &mut State,
        interrupted: &[(Address, String)],
    ) -> Result<Vec<String>, ProviderError> {
        let desired = &self.loaded.desired;
        let steps: BTreeMap<Address, String> = interrupted.iter().cloned().collect();
        let mut settled = Vec::new();
        for (address, action) in &steps {
            if action == "forget" && state.resources.remove(address).is_some() {
                settled.push(format!(
                    "the `forget` of {address} is finished: removed from state, left in place"
                ));
            }
        }
        // An address neither the manifests nor the state know cannot be read (nothing says
        // where it is), and has nothing to settle.
        let selected: BTreeSet<Address> = steps
            .iter()
            .filter(|(_, action)| *action != "forget")
            .map(|(address, _)| address)
            .filter(|a| desired.resources.contains_key(*a) || state.resources.contains_key(*a))
            .cloned()
            .collect();
        if selected.is_empty() {
            return Ok(settled);
        }
        // What their references name is read too, so their spec resolves as a plan's does.
        let mut read = selected.clone();
        for address in &selected {
            if let Some(resource) = desired.resources.get(address) {
                read.extend(resource.depends_on.iter().cloned());
            }
        }
        let live = self.refresh(state, read)?;
        let plan = build_plan(
            desired,
            state,
            &live,
            &selected,
            &PlanOptions::default(),
            &self.env_name,
        );
        let lineage = state.lineage.clone();
        let context = EntryContext {
            lineage: &lineage,
            desired,
            redactor: &self.redactor,
        };
        for change in plan.changes {
            let address = change.address;
            let action = &steps[&address];
            let Some(object) = live.get(&address).cloned() else {
                if matches!(action.as_str(), "delete" | "replace")
                    && state.resources.remove(&address).is_some()
                {
                    settled.push(format!(
                        "the `{action}` of {address} had deleted it: removed from state"
                    ));
                }
                continue;
            };
            let landed = change.action == Action::NoOp
                && change.blocked.is_none()
                && desired.resources.contains_key(&address);
            if landed {
                let entry = applied_entry(
                    &context,
                    &address,
                    object,
                    change.depends_on,
                    change.lifecycle,
                );
                state.resources.insert(address.clone(), entry);
                settled.push(format!(
                    "the `{action}` of {address} had taken effect: recorded in state"
                ));
                continue;
            }
            let known = match (
                state.resources.get(&address),
                desired.resources.get(&address),
            ) {
                (Some(prior), _) => (
                    prior.depends_on.clone(),
                    prior.lifecycle,
                    prior.write_only.clone(),
                    prior.revision.clone(),
                ),
                (None, Some(resource)) => (
                    resource.depends_on.clone(),
                    resource.lifecycle,
                    BTreeMap::new(),
                    None,
                ),
                (None, None) => continue,
            };
            let (depends_on, lifecycle, write_only, revision) = known;
            let mut entry = applied_entry(&context, &address, object, depends_on, lifecycle);
            // Whether the cut-off call wrote the fields the live system masks is unknown: what
            // was known before stays, so the plan writes them again if they differ.
            entry.write_only = write_only;
            entry.revision = revision;
            state.resources.insert(address.clone(), entry);
            settled.push(format!(
                "the `{action}` of {address} had not finished: the object is recorded as it is now, and the plan finishes the change"
            ));
        }
        Ok(settled)
    }

    /// Where each object holds a secret (JSON pointers): where the manifests put one now, and
    /// where the state recorded one when it was last applied.
    pub fn secret_places(&self, state: &State) -> BTreeMap<Address, Vec<String>> {
        let secrets = &self.loaded.desired.secrets;
        let mut places: BTreeMap<Address, Vec<String>> = BTreeMap::new();
        for (address, resource) in &self.loaded.desired.resources {
            let found = crate::redact::sensitive_pointers(&resource.spec, secrets);
            places.entry(address.clone()).or_default().extend(found);
        }
        for (address, entry) in &state.resources {
            places
                .entry(address.clone())
                .or_default()
                .extend(entry.sensitive.iter().cloned());
        }
        for pointers in places.values_mut() {
            pointers.sort();
            pointers.dedup();
        }
        places
    }

    /// Reads the live objects for `addresses`, located by their last applied spec when known.
    pub fn refresh(
        &self,
        state: &State,
        addresses: impl IntoIterator<Item = Address>,
    ) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
        // A resource that moved (`moved: {from: ...}`) is found where its old entry says.
        let moves = crate::engine::plan::moves(&self.loaded.desired, state);
        let requests: Vec<RefreshRequest> = addresses
            .into_iter()
            .filter_map(|address| {
                let entry = crate::engine::plan::prior_entry(&address, state, &moves);
                let spec = entry.map(|e| e.spec.clone()).or_else(|| {
                    self.loaded
                        .desired
                        .resources
                        .get(&address)
                        .map(|r| r.spec.clone())
                })?;
                let id = entry.and_then(|e| e.id.clone());
                let last_read = entry
                    .filter(|e| e.sensitive.is_empty() && e.write_only.is_empty())
                    .map(|e| LiveObject {
                        spec: e.spec.clone(),
                        id: e.id.clone(),
                        outputs: e.outputs.clone(),
                    });
                Some(RefreshRequest {
                    address,
                    spec,
                    id,
                    last_read,
                })
            })
            .collect();
        self.providers.refresh(requests)
    }

    /// Refresh + diff: the plan for this session against `state`.
    pub fn plan(
        &self,
        state: &State,
        options: &PlanOptions,
    ) -> Result<(Plan, BTreeMap<Address, LiveObject>), PlanError> {
        self.plan_towards(&self.loaded.desired, state, options)
    }

    /// Refresh + diff towards another desired state than the manifests' (destroy plans
    /// towards nothing).
    pub fn plan_towards(
        &self,
        desired: &crate::manifest::Desired,
        state: &State,
        options: &PlanOptions,
    ) -> Result<(Plan, BTreeMap<Address, LiveObject>), PlanError> {
        let selected = select_addresses(desired, state, &options.targets);
        if !options.targets.is_empty() && selected.is_empty() {
            return Err(PlanError::NoTargetMatch(options.targets.clone()));
        }
        // What targeted resources reference is read too, and only read: their `${ref...}`
        // values (a Genie space id, a table's full name) come from it, so a targeted plan
        // resolves them as a whole plan does instead of leaving them "known after apply".
        let mut read = selected.clone();
        if !options.targets.is_empty() {
            for address in &selected {
                if let Some(resource) = desired.resources.get(address) {
                    read.extend(resource.depends_on.iter().cloned());
                }
            }
        }
        let started = std::time::Instant::now();
        let live = self.refresh(state, read.iter().cloned())?;
        self.reporter.progress(&format!(
            "Read the live state of {} resources in {} ms",
            read.len(),
            started.elapsed().as_millis()
        ));
        let mut options = options.clone();
        options.limitations = self.providers.limitations();
        let plan = build_plan(desired, state, &live, &selected, &options, &self.env_name);
        Ok((plan, live))
    }
}

/// Why state could not be loaded for a change.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("finishing an interrupted apply failed: {0}")]
    Provider(#[from] ProviderError),
}
