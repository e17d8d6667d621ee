//! `lode stop`: the emergency stop. Stops pipeline updates, disables the gateway's timer scripts
//! and the Zerobus connector, records it in the journal, and marks the environment stopped: plans
//! say so, and `lode apply` refuses until `--resume`, which lifts the stop and re-applies.

use std::process::ExitCode;

use super::printer;
use super::{CommandError, ErrorClass, GlobalArgs};
use crate::app::stop::{StopError, StopEvent};

/// Emergency stop: stop pipeline updates, disable gateway timer scripts and the Zerobus
/// connector. `lode apply --resume` undoes it.
#[derive(Debug, clap::Args)]
pub struct StopArgs {}

pub fn run(global: &GlobalArgs, _: &StopArgs) -> Result<ExitCode, CommandError> {
    let session = super::open_session(global, None)?;
    let outcome = crate::app::stop::stop(&session, &|event| match event {
        StopEvent::Stopped(done) => printer().data(&format!("{done}\n")),
        StopEvent::Failed(failure) => printer().error_line(&format!("error: {failure}")),
    })?;
    printer().data(&format!(
        "Environment `{}` is stopped. `lode apply --resume` lifts the stop.\n",
        session.env_name
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
