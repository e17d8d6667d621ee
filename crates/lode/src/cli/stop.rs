//! `lode stop`: the emergency stop (`app::stop`). It works from the state alone and never waits
//! for the apply lock: a running apply halts before its next step.

use std::process::ExitCode;

use super::printer;
use super::{CommandError, ErrorClass, GlobalArgs};
use crate::app::stop::{StopError, StopEvent};
use crate::redact::Redactor;

/// Emergency stop: stop pipeline updates, disable gateway timer scripts and the Zerobus
/// connector. `lode apply --resume` undoes it.
#[derive(Debug, clap::Args)]
pub struct StopArgs {}

pub fn run(global: &GlobalArgs, _: &StopArgs) -> Result<ExitCode, CommandError> {
    // From the state alone: the manifests may be what is broken (issue #13).
    let access = std::sync::Arc::new(crate::app::session::open_state(
        &global.session(),
        &crate::app::connect::EmulatorWait::patient(printer()),
    )?);
    // Secrets the manifests name are masked when the manifests load; a stop never waits on it.
    let redactor = crate::app::session::load_manifests(&global.session(), None)
        .map(|loaded| Redactor::new(&loaded.desired.secrets))
        .unwrap_or_else(|_| Redactor::new(&[]));
    let outcome = crate::app::stop::stop(&access, &redactor, &|event| match event {
        StopEvent::Stopped(done) => printer().data(&format!("{done}\n")),
        StopEvent::Failed(failure) => printer().error_line(&format!("error: {failure}")),
    })?;
    printer().data(&format!(
        "Environment `{}` is stopped. `lode apply --resume` lifts the stop.\n",
        access.env_name
    ));
    if !outcome.failures.is_empty() {
        return Err(CommandError::user(format!(
            "{} object(s) could not be stopped; the rest are",
            outcome.failures.len()
        ))
        .with_class(ErrorClass::Remote));
    }
    Ok(ExitCode::SUCCESS)
}

impl From<StopError> for CommandError {
    fn from(error: StopError) -> CommandError {
        match error {
            StopError::State(error) => error.into(),
            StopError::Provider(error) => error.into(),
        }
    }
}
