//! `lode force-unlock ID`: remove a lock whose holder is gone (a CI runner that died while
//! holding a workspace lock). The id must match, so a live run's new lock is never broken.

use std::process::ExitCode;

use super::printer;
use super::{CommandError, GlobalArgs};

/// Remove the environment's lock if its id is ID (shown in the "locked by" error). A local lock dies with its process, so this is for shared (workspace) state.
#[derive(Debug, clap::Args)]
pub struct ForceUnlockArgs {
    /// The lock id to remove.
    pub id: String,
}

pub fn run(global: &GlobalArgs, args: &ForceUnlockArgs) -> Result<ExitCode, CommandError> {
    let session = super::open_session(global, None)?;
    let holder = session.backend.lock_holder()?;
    session.backend.force_unlock(&args.id)?;
    match holder {
        Some(info) => printer().data(&format!(
            "Removed the lock of environment `{}` held by {}.\n",
            session.env_name,
            info.describe()
        )),
        None => printer().data(&format!(
            "Environment `{}` was not locked.\n",
            session.env_name
        )),
    }
    Ok(ExitCode::SUCCESS)
}
