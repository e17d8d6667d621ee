//! Destroy: delete every object lode manages in the environment (or the targeted ones) — the
//! first half of the runbook's "rebuild from scratch". It is a plan like any other, whose
//! desired state is empty: protected objects, retained objects and table data are guarded as
//! in every apply.

use super::apply::{
    ApplyError, ApplyOutcome, ApplySettings, ApplyView, PlanRole, Planned, execute,
};
use super::session::Session;
use crate::engine::plan::PlanOptions;
use crate::manifest::Desired;

pub fn destroy(
    session: &Session,
    options: &PlanOptions,
    settings: &ApplySettings,
    view: &dyn ApplyView,
) -> Result<ApplyOutcome, ApplyError> {
    let command = "lode destroy";
    let lock = session.backend.lock(command)?;
    super::apply::lift_stop(session, settings.resume, command)?;
    let state = session.load_state_for_change(&lock)?;
    let nothing = Desired {
        resources: Default::default(),
        ..session.loaded.desired.clone()
    };
    let (plan, live) = session.plan_towards(&nothing, &state, options)?;
    view.show_plan(&plan, &session.redactor, PlanRole::Requested);
    let planned = Planned::new(&nothing, plan, live, state);
    execute(session, planned, settings, view, &lock, "destroy", command)
}
