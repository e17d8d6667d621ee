//! Saved plans: `lode plan --out FILE` writes one, `lode apply FILE` executes exactly it. A
//! saved plan is verified, not trusted. It is refused when its format, its environment, the
//! manifests it was made from (their digest, and the git commit of a work-tree plan), the
//! state (lineage and serial) or a value from the environment changed since it was made. Then
//! the plan is derived again from what the file records (manifests, state, targets, options,
//! live objects read now), and only that derived plan runs, and only when the file equals it
//! change for change (`engine::saved_plan`): an edited action, a removed guard or a loosened
//! option is refused, never executed. A plan that loosens a guard (`--allow-*`) also needs the
//! same flag from the person who applies it: the file alone cannot give that consent.

use std::path::Path;
use std::sync::Arc;

use super::Reporter;
use super::apply::{
    ApplyError, ApplyOutcome, ApplySettings, ApplyView, PlanRole, Planned, execute,
};
use super::session::{OpenSessionError, Session, SessionArgs, find_root};
use crate::engine::plan::{PLAN_FORMAT_VERSION, Plan, PlanOptions, desired_digest};
use crate::engine::saved_plan::{PlanDifference, first_difference};
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
    #[error(
        "the saved plan is not what its manifests, state and live objects give: {0}; nothing was applied"
    )]
    Altered(String),
    #[error(
        "the saved plan was made with {0}, which `lode apply FILE` must be given too; nothing was applied"
    )]
    FlagNotRepeated(&'static str),
    #[error(
        "the saved plan was made without {0}; it is applied as it was made, nothing was applied"
    )]
    FlagNotInPlan(&'static str),
    #[error(transparent)]
    Open(#[from] OpenSessionError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// The guard flags given to `lode apply FILE`. A saved plan that loosens a guard is applied
/// only when they name the same flags, so an edited file cannot loosen one on its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepeatedFlags {
    pub allow_delete_protected: bool,
    pub allow_data_loss: bool,
    pub allow_full_refresh: bool,
}

impl RepeatedFlags {
    fn check(&self, plan: &Plan) -> Result<(), SavedPlanError> {
        let options = &plan.change_options;
        for (flag, in_plan, given) in [
            (
                "--allow-delete-protected",
                options.allow_delete_protected,
                self.allow_delete_protected,
            ),
            (
                "--allow-data-loss",
                options.allow_data_loss,
                self.allow_data_loss,
            ),
            (
                "--allow-full-refresh",
                options.allow_full_refresh,
                self.allow_full_refresh,
            ),
        ] {
            match (in_plan, given) {
                (true, false) => return Err(SavedPlanError::FlagNotRepeated(flag)),
                (false, true) => return Err(SavedPlanError::FlagNotInPlan(flag)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// A saved plan as read: the plan, and the file's JSON as written (to compare field for field).
pub struct SavedPlan {
    pub plan: Plan,
    pub file: serde_json::Value,
}

/// Reads and checks a saved plan file (format and environment); the rest is checked against
/// what is live when it is applied.
pub fn read_saved_plan(file: &Path, environment: &str) -> Result<SavedPlan, SavedPlanError> {
    let path = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| SavedPlanError::Unreadable {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let not_a_plan = |e: serde_json::Error| SavedPlanError::NotAPlan {
        path: path.clone(),
        message: e.to_string(),
    };
    let raw: serde_json::Value = serde_json::from_str(&text).map_err(not_a_plan)?;
    let plan: Plan = serde_json::from_value(raw.clone()).map_err(not_a_plan)?;
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
    Ok(SavedPlan { plan, file: raw })
}

/// Executes a plan saved by `lode plan --out`, refusing if anything it was made from moved.
/// Opens its own session: the manifests of the plan's revision.
pub fn apply_saved(
    args: &SessionArgs,
    reporter: Arc<dyn Reporter>,
    file: &Path,
    flags: &RepeatedFlags,
    settings: &ApplySettings,
    view: &dyn ApplyView,
) -> Result<ApplyOutcome, SavedPlanError> {
    let SavedPlan { plan, file } = read_saved_plan(file, &args.env)?;
    flags.check(&plan)?;
    let root = find_root(args.dir.as_deref()).map_err(OpenSessionError::from)?;
    super::connect::reserve_local_endpoints(&root, &args.env);
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
    // The plan that would run now, from what the file records; only it is ever executed.
    let (derived, live) = session
        .plan(&state, &PlanOptions::of_plan(&plan))
        .map_err(ApplyError::from)?;
    let derived_file = serde_json::to_value(&derived).expect("plans serialise");
    match first_difference(&file, &session.redactor.value(&derived_file)) {
        None => {}
        Some(PlanDifference::Stale(what)) => return Err(SavedPlanError::Stale(what)),
        Some(PlanDifference::Altered(what)) => return Err(SavedPlanError::Altered(what)),
    }
    view.show_plan(&derived, &session.redactor, PlanRole::Requested);
    super::apply::lift_stop(&session, settings.resume, command)?;
    let planned = Planned::new(&session.loaded.desired, derived, live, state);
    Ok(execute(
        &session, planned, settings, view, &lock, "apply", command,
    )?)
}
