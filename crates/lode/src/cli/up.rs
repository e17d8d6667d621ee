//! `lode up`: run a local environment's stack live until Ctrl-C. Both emulators serve the
//! environment's data folders as one standing server: the gateway runs its projects' timer and
//! tag change scripts (the tags move) and its Zerobus connector streams the selected tags into
//! the workspace, whose continuous pipelines refresh as bronze grows. Every other lode command
//! on the environment meanwhile uses this stack instead of starting emulators of its own (see
//! `lode_emulators::data_folder`); a second `lode up` is refused, naming this one.

use std::process::ExitCode;

use super::emulator::{StackOptions, serve_stack, wait_for_ctrl_c};
use super::{CommandError, GlobalArgs, printer};
use crate::app::Reporter;
use crate::app::connect::{EmulatorWait, LOCAL_EMULATOR_TOKEN, LOCAL_GATEWAY_TOKEN};
use crate::manifest::environment::{LOCAL_ZEROBUS_CLIENT_ID, LOCAL_ZEROBUS_CLIENT_SECRET};

/// Run the local stack live until Ctrl-C: scripts move the tags, Zerobus streams them, the
/// pipeline refreshes, Genie answers. Prints the chat page's and the gateway's URLs.
#[derive(Debug, clap::Args)]
pub struct UpArgs {}

pub fn run(global: &GlobalArgs, _args: &UpArgs) -> Result<ExitCode, CommandError> {
    let session = global.session();
    if !matches!(session.env.as_str(), "local" | "local-api") {
        return Err(CommandError::user(format!(
            "`lode up` runs lode's emulators, and `{}` is not a local environment",
            session.env
        ))
        .hint("use `--env local` (the default) or `--env local-api`"));
    }
    let root = crate::app::session::find_root(session.dir.as_deref())?;
    crate::app::connect::reserve_local_endpoints(&root, &session.env);
    let stack = serve_stack(&StackOptions {
        command: "lode up",
        data: root.join(".lode").join(&session.env),
        databricks_port: 0,
        token: LOCAL_EMULATOR_TOKEN.to_string(),
        oauth_client: Some((
            LOCAL_ZEROBUS_CLIENT_ID.to_string(),
            LOCAL_ZEROBUS_CLIENT_SECRET.to_string(),
        )),
        ignition_port: Some(0),
        ignition_token: LOCAL_GATEWAY_TOKEN.to_string(),
        live: true,
    })?;
    let gateway_url = stack
        .gateway
        .as_ref()
        .map(|g| g.url.clone())
        .unwrap_or_default();

    // The chat pages come from the state lode last applied: the stack serves whatever that is.
    let wait = EmulatorWait::patient(printer());
    let pages = match crate::app::session::open_state(&session, &wait) {
        Ok(access) => access.backend.load().map(|(state, _)| {
            state
                .resources
                .iter()
                .filter(|(address, entry)| {
                    address.kind == crate::manifest::Kind::WorkspaceFile
                        && entry
                            .spec
                            .get("path")
                            .and_then(|p| p.as_str())
                            .is_some_and(|p| p.ends_with(".html"))
                })
                .filter_map(|(_, entry)| entry.outputs.get("url")?.as_str().map(str::to_string))
                .collect::<Vec<_>>()
        }),
        Err(error) => {
            printer().warn(&format!("cannot read the state: {error}"));
            Ok(Vec::new())
        }
    };
    match pages {
        Ok(pages) if pages.is_empty() => printer().status(
            "No chat page is applied yet: run `lode apply` (it uses this stack) and open the URL it prints.",
        ),
        Ok(pages) => {
            for page in pages {
                printer().data(&format!("Chat page: {page}\n"));
            }
        }
        Err(error) => printer().warn(&format!("cannot read the state: {error}")),
    }
    printer().data(&format!("Gateway:   {gateway_url}\n"));
    printer().status(&format!(
        "The `{}` stack is live. Every lode command on it uses this stack; Ctrl-C stops it.",
        session.env
    ));
    wait_for_ctrl_c()?;
    printer().status("Stopping the stack.");
    drop(stack);
    Ok(ExitCode::SUCCESS)
}
