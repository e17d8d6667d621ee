//! What every command opens: the manifest root, the manifests (from the work tree or a git
//! revision), the environment, its state backend and its providers; and the refresh + plan step
//! that `plan`, `apply` and `rollback` share.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::{CommandError, GlobalArgs};
use crate::engine::plan::{Plan, PlanOptions, build_plan, select_addresses};
use crate::manifest::environment::StateBackendKind;
use crate::manifest::{Address, Loaded, ManifestFiles, load_desired};
use crate::provider::{LiveObject, Providers, RefreshRequest};
use crate::redact::Redactor;
use crate::state::{LocalStore, LockGuard, Recovery, State, StateBackend};

/// An opened manifest root and environment.
pub struct Workspace {
    pub root: PathBuf,
    pub env_name: String,
    pub loaded: Loaded,
    pub backend: StateBackend,
    pub providers: Providers,
    pub redactor: Redactor,
}

/// Finds the manifest root: `--dir`, else the current folder or an ancestor with lode.yaml,
/// else `./manifests`.
pub fn find_root(dir: Option<&Path>) -> Result<PathBuf, CommandError> {
    if let Some(dir) = dir {
        return Ok(dir.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| CommandError::user(format!("cannot read the current folder: {e}")))?;
    if let Some(found) = cwd.ancestors().find(|p| p.join("lode.yaml").is_file()) {
        return Ok(found.to_path_buf());
    }
    let manifests = cwd.join("manifests");
    if manifests.join("lode.yaml").is_file() {
        return Ok(manifests);
    }
    Err(
        CommandError::user("no lode.yaml here, in a parent folder, or in ./manifests")
            .hint("run lode in the manifest root, or pass --dir PATH"),
    )
}

/// The environment's state backend: a local folder, or workspace files through the
/// environment's Databricks client.
fn state_backend(
    loaded: &Loaded,
    root: &Path,
    env_name: &str,
    providers: &Providers,
) -> Result<StateBackend, CommandError> {
    let config = &loaded.environment.state;
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
                CommandError::user(format!("environment `{env_name}` keeps state in the workspace but has no `databricks:` section"))
                    .hint("add `databricks:` to the environment file, or use `state: {backend: local}`")
            })?;
            let folder = config.path.clone().unwrap_or_else(|| {
                format!(
                    "/Workspace/Shared/.lode/{}/{env_name}",
                    loaded.project.project
                )
            });
            Box::new(crate::state::workspace::WorkspaceStore::new(
                client, &folder,
            ))
        }
    };
    Ok(StateBackend::new(store, env_name))
}

/// The state backend alone (for `lode state` on broken manifests): the local default.
pub fn local_backend(root: &Path, env_name: &str) -> StateBackend {
    StateBackend::new(
        Box::new(LocalStore::new(root.join(".lode").join(env_name))),
        env_name,
    )
}

/// The manifests and environment only, without connecting to anything (validate, graph).
pub fn load_manifests(global: &GlobalArgs, rev: Option<&str>) -> Result<Loaded, CommandError> {
    let root = find_root(global.dir.as_deref())?;
    let files = match rev {
        Some(rev) => ManifestFiles::from_git_revision(&root, rev)?,
        None => ManifestFiles::from_work_tree(&root)?,
    };
    Ok(load_desired(&files, &global.env, &|name| {
        std::env::var(name).ok()
    })?)
}

impl Workspace {
    /// Opens the manifests (at `rev` when given) and the environment.
    pub fn open(global: &GlobalArgs, rev: Option<&str>) -> Result<Workspace, CommandError> {
        let root = find_root(global.dir.as_deref())?;
        let files = match rev {
            Some(rev) => ManifestFiles::from_git_revision(&root, rev)?,
            None => ManifestFiles::from_work_tree(&root)?,
        };
        Workspace::from_files(global, files)
    }

    pub fn from_files(
        global: &GlobalArgs,
        files: ManifestFiles,
    ) -> Result<Workspace, CommandError> {
        let root = files.root.clone();
        let loaded = load_desired(&files, &global.env, &|name| std::env::var(name).ok())?;
        let providers = Providers::for_environment(&loaded.environment, &root, &global.env)
            .map_err(|e| CommandError::user(e.to_string()).with_class(super::ErrorClass::Remote))?;
        let backend = state_backend(&loaded, &root, &global.env, &providers)?;
        let redactor = Redactor::new(&loaded.desired.secrets);
        Ok(Workspace {
            root,
            env_name: global.env.clone(),
            loaded,
            backend,
            providers,
            redactor,
        })
    }

    /// Loads state, warning on stderr about calls an earlier apply did not finish.
    pub fn load_state(&self) -> Result<State, CommandError> {
        Ok(self.load_state_with_recovery()?.0)
    }

    fn load_state_with_recovery(&self) -> Result<(State, Recovery), CommandError> {
        let (state, recovery) = self.backend.load()?;
        for (address, action) in &recovery.interrupted {
            eprintln!(
                "warning: an earlier apply was interrupted during `{action}` of {address}; its live state is read again now"
            );
        }
        Ok((state, recovery))
    }

    /// Loads state for a command about to change things (it holds the lock). When an earlier
    /// apply was interrupted (its write-ahead log is still there), the live systems are first
    /// asked to finish what it may have left half done: a gateway scan lock it held, files
    /// it wrote that the gateway has not read.
    pub fn load_state_for_change(&self, _lock: &LockGuard) -> Result<State, CommandError> {
        let (state, recovery) = self.load_state_with_recovery()?;
        if recovery.was_interrupted() {
            for done in self
                .providers
                .recover_interrupted()
                .map_err(|e| CommandError::from(e).with_class(super::ErrorClass::Remote))?
            {
                eprintln!("Recovered from the interrupted apply: {done}");
            }
        }
        Ok(state)
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
    ) -> Result<BTreeMap<Address, LiveObject>, CommandError> {
        let requests: Vec<RefreshRequest> = addresses
            .into_iter()
            .filter_map(|address| {
                let entry = state.resources.get(&address);
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
        Ok(self.providers.refresh(requests)?)
    }

    /// Refresh + diff: the plan for this workspace against `state`.
    pub fn plan(
        &self,
        state: &State,
        options: &PlanOptions,
    ) -> Result<(Plan, BTreeMap<Address, LiveObject>), CommandError> {
        let desired = &self.loaded.desired;
        let selected = select_addresses(desired, state, &options.targets);
        if !options.targets.is_empty() && selected.is_empty() {
            return Err(CommandError::user(format!("--target {} matches no resource", options.targets.join(" ")))
                .hint("targets are addresses (udt/Crusher), kinds (gateway_script), systems (ignition) or address prefixes (tag/Mining/Equipment)"));
        }
        // Progress only on a terminal: CI logs stay quiet and plain.
        let progress = std::io::stderr().is_terminal();
        if progress {
            eprint!("Reading the live state of {} resources...", selected.len());
        }
        let started = std::time::Instant::now();
        let live = self.refresh(state, selected.iter().cloned());
        if progress {
            eprintln!(" {} ms", started.elapsed().as_millis());
        }
        let live = live?;
        let mut options = options.clone();
        options.limitations = self.providers.limitations();
        let plan = build_plan(desired, state, &live, &selected, &options, &self.env_name);
        Ok((plan, live))
    }
}
