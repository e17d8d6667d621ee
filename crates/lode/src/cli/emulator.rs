//! `lode emulator serve`: run the emulators standalone (for a person exploring the local
//! environment, or any Databricks client pointed at it) until interrupted. It holds each data
//! folder it serves (`lode_emulators::data_folder`): on the folder's own port and with the
//! local environments' tokens it is a standing server that lode commands on that folder use
//! instead of starting their own emulator.

use std::path::PathBuf;
use std::process::ExitCode;

use super::CommandError;
use super::printer;
use crate::app::connect::{EMULATOR_FOLDER_WAIT, LOCAL_EMULATOR_TOKEN, LOCAL_GATEWAY_TOKEN};
use lode_emulators::data_folder::{Claim, Holder, Serving};
use lode_emulators::databricks::EmulatorConfig;
use lode_emulators::ignition::GatewayConfig;

/// Run lode's emulators of the live systems.
#[derive(Debug, clap::Subcommand)]
pub enum EmulatorCommand {
    Serve(ServeArgs),
}

/// Serve the emulators on 127.0.0.1 until interrupted (Ctrl-C): the Databricks workspace, and
/// the Ignition 8.3 gateway when `--ignition-port` is given (both at once when both are). With
/// `--data <manifest root>/.lode/local` they serve exactly the local environment's live state.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The data folder; Databricks data lives in its `databricks/` subfolder.
    #[arg(long)]
    pub data: PathBuf,
    /// Port of the Databricks emulator (0: the data folder's own port, chosen when it was first
    /// served).
    #[arg(long, default_value_t = 0)]
    pub databricks_port: u16,
    /// The personal access token clients must send.
    #[arg(long, default_value = crate::app::connect::LOCAL_EMULATOR_TOKEN)]
    pub token: String,
    /// OAuth machine-to-machine client credentials the token endpoint accepts, as ID:SECRET.
    #[arg(long, value_name = "ID:SECRET")]
    pub oauth_client: Option<String>,
    /// Also serve the Ignition gateway emulator on this port (0: the data folder's own port);
    /// its data is the `ignition/` subfolder, a real 8.3 gateway data directory.
    #[arg(long)]
    pub ignition_port: Option<u16>,
    /// The gateway API token (`name:secret`) clients must send in `X-Ignition-API-Token`.
    #[arg(long = "ignition-token", default_value = crate::app::connect::LOCAL_GATEWAY_TOKEN)]
    pub ignition_token: String,
}

pub fn run(command: &EmulatorCommand) -> Result<ExitCode, CommandError> {
    let EmulatorCommand::Serve(args) = command;
    let oauth_client = match &args.oauth_client {
        Some(pair) => Some(
            pair.split_once(':')
                .map(|(id, secret)| (id.to_string(), secret.to_string()))
                .ok_or_else(|| CommandError::user("--oauth-client takes ID:SECRET"))?,
        ),
        None => None,
    };
    let faults = lode_emulators::faults::Faults::from_env()
        .map_err(|e| CommandError::user(e.to_string()))?;
    if faults.is_some() {
        printer().status(&format!(
            "Injecting faults from {}",
            lode_emulators::faults::FAULTS_VARIABLE
        ));
    }
    let on_wait = |holder: &Holder| {
        printer().status(&format!(
            "Waiting for {}, which uses this data folder (at most {} s)",
            holder.describe(),
            EMULATOR_FOLDER_WAIT.as_secs()
        ))
    };
    let claim = |offer_to_others| Claim {
        command: "lode emulator serve".into(),
        standing: true,
        offer_to_others,
        wait: EMULATOR_FOLDER_WAIT,
        on_wait: &on_wait,
    };
    // The gateway's folder is claimed first, as every lode command does (`app::connect`), so
    // this server and a command never each hold one folder and wait for the other.
    let gateway = match args.ignition_port {
        Some(port) => {
            let config = GatewayConfig {
                data_dir: args.data.join("ignition"),
                token: args.ignition_token.clone(),
                read_only_token: None,
                port,
                faults: faults.clone(),
                stream_zerobus: false,
            };
            let offer = args.ignition_token == LOCAL_GATEWAY_TOKEN;
            let serving = lode_emulators::ignition::serve_folder(config, &claim(offer))
                .map_err(|e| CommandError::user(e.to_string()))?;
            Some(own(serving, &args.data.join("ignition"))?)
        }
        None => None,
    };
    let config = EmulatorConfig {
        data_dir: args.data.join("databricks"),
        token: args.token.clone(),
        oauth_client,
        port: args.databricks_port,
        faults: faults.clone(),
    };
    let offer = args.token == LOCAL_EMULATOR_TOKEN;
    let serving = lode_emulators::databricks::serve_folder(config, &claim(offer))
        .map_err(|e| CommandError::user(e.to_string()))?;
    let workspace = own(serving, &args.data.join("databricks"))?;
    // The URLs are data (scripts read them), the workspace's first; the rest is for people.
    printer().data(&format!("{}\n", workspace.url));
    printer().status(&format!(
        "Databricks emulator serving {} at {}",
        args.data.join("databricks").display(),
        workspace.url
    ));
    if let Some(gateway) = &gateway {
        printer().data(&format!("{}\n", gateway.url));
        printer().status(&format!(
            "Ignition gateway emulator serving {} at {}",
            args.data.join("ignition").display(),
            gateway.url
        ));
    }
    printer().status("Ctrl-C stops them.");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::user(format!("cannot wait for Ctrl-C: {e}")))?;
    runtime.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    printer().status("Stopping the emulators.");
    drop(gateway);
    drop(workspace);
    Ok(ExitCode::SUCCESS)
}

/// The server this process runs. A standing server never shares another's (the claim refuses a
/// served folder), so a shared answer is a folder someone else serves.
fn own<T>(serving: Serving<T>, folder: &std::path::Path) -> Result<T, CommandError> {
    match serving {
        Serving::Own(server) => Ok(server),
        Serving::Shared(holder) => Err(CommandError::user(format!(
            "{} is served already, by {}",
            folder.display(),
            holder.describe()
        ))),
    }
}
