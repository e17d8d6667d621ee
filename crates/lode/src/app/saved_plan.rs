//! Saved plans: `lode plan --out FILE` writes one, `lode apply FILE` executes exactly it. A
//! saved plan is verified, not trusted: it is refused when its format, its environment, the
//! manifests it was made from (their digest, and the git commit of a work-tree plan), the
//! state (lineage and serial), a value from the environment, or any live object it touches
//! changed since it was made.

use std::path::Path;
use std::sync::Arc;

use super::Reporter;
use super::apply::{
    ApplyError, ApplyOutcome, ApplySettings, ApplyView, PlanRole, Planned, execute,
};
use super::session::{OpenSessionError, Session, SessionArgs, find_root};
use crate::engine::plan::{PLAN_FORMAT_VERSION, Plan, desired_digest};
use crate::manifest::ManifestFiles;

/// Why a saved plan was not applied.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot read {path}: {message}")]
    Unreadable { path: String, message: String },
    #[error("{path} is not a lode plan: {message}")]
    NotAPlan { path: String, message: String },
    #[error("{path} has plan format {found}, this lode reads {PLAN_FORMAT_VERSION}")]
    FormatVersion { path: String, found: u32 },
    #[error("the plan is for environment `{plan}`, not `{given}`")]
    WrongEnvironment { plan: String, given: String },
    #[error("the saved plan is stale: {0} changed since it was made; nothing was applied")]
    Stale(String),
    #[error(transparent)]
    Open(#[from] OpenSessionError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// Reads and checks a saved plan file (format and environment); the rest is checked against
/// what is live when it is applied.
pub fn read_saved_plan(file: &Path, environment: &str) -> Result<Plan, SavedPlanError> {
    let path = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| SavedPlanError::Unreadable {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| SavedPlanError::NotAPlan {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if plan.format_version != PLAN_FORMAT_VERSION {
        return Err(SavedPlanError::FormatVersion {
            path,
            found: plan.format_version,
        });
    }
    if plan.environment != environment {
        return Err(SavedPlanError::WrongEnvironment {
            plan: plan.environment,
            given: environment.to_string(),
        });
    }
    Ok(plan)
}

/// Executes a plan saved by `lode plan --out`, refusing if anything it was made from moved.
/// Opens its own session: the manifests of the plan's revision.
pub fn apply_saved(
    args: &SessionArgs,
    reporter: Arc<dyn Reporter>,
    file: &Path,
    settings: &ApplySettings,
    view: &dyn ApplyView,
) -> Result<ApplyOutcome, SavedPlanError> {
    let plan = read_saved_plan(file, &args.env)?;
    let root = find_root(args.dir.as_deref()).map_err(OpenSessionError::from)?;
    let files = match (&plan.source.rev, &plan.source.commit) {
        (Some(_), Some(commit)) => ManifestFiles::from_git_revision(&root, commit),
        _ => ManifestFiles::from_work_tree(&root),
    }
    .map_err(OpenSessionError::from)?;
    if files.info.digest != plan.source.digest {
        return Err(SavedPlanError::Stale("the manifests".into()));
    }
    // A plan of the work tree is bound to the commit it was made on: a new commit (a rebase,
    // a merge that happens to leave the manifests equal) is a different thing to review.
    if plan.source.rev.is_none() && files.info.commit != plan.source.commit {
        let short = |c: &Option<String>| {
            c.as_deref()
                .map(|c| c.chars().take(12).collect::<String>())
                .unwrap_or_else(|| "none".into())
        };
        return Err(SavedPlanError::Stale(format!(
            "the git revision ({} → {})",
            short(&plan.source.commit),
            short(&files.info.commit)
        )));
    }
    let session = Session::from_files(args, files, reporter)?;
    let command = "lode apply (saved plan)";
    let lock = session.backend.lock(command).map_err(ApplyError::from)?;
    let mut state = session
        .load_state_for_change(&lock)
        .map_err(ApplyError::from)?;
    if state.serial == 0 && plan.state.serial == 0 && state.resources.is_empty() {
        // A first deployment: the new state takes the plan's lineage, so its fingerprints hold.
        state.lineage = plan.state.lineage.clone();
    }
    if state.lineage != plan.state.lineage || state.serial != plan.state.serial {
        return Err(SavedPlanError::Stale(format!(
            "the state (serial {} → {})",
            plan.state.serial, state.serial
        )));
    }
    if desired_digest(&session.loaded.desired, &state.lineage) != plan.desired_digest {
        return Err(SavedPlanError::Stale(
            "a value from the environment (variables or secrets)".into(),
        ));
    }
    // Everything the plan covers is read: touched objects to check, the rest for references.
    let live = session
        .refresh(&state, plan.changes.iter().map(|c| c.address.clone()))
        .map_err(ApplyError::from)?;
    for change in plan.changes.iter().filter(|c| c.needs_apply()) {
        let now = live
            .get(&change.address)
            .map(|l| state.fingerprint(&l.spec));
        if now != change.live_fingerprint {
            return Err(SavedPlanError::Stale(format!(
                "the live object {}",
                change.address
            )));
        }
    }
    view.show_plan(&plan, &session.redactor, PlanRole::Requested);
    super::apply::lift_stop(&session, settings.resume, command)?;
    let planned = Planned::new(&session.loaded.desired, plan, live, state);
    Ok(execute(
        &session, planned, settings, view, &lock, "apply", command,
    )?)
}
