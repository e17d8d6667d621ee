//! `lode emulator serve`: run the emulators standalone (for a person exploring the local
//! environment, or any Databricks client pointed at it) until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;

use super::CommandError;
use crate::emulator::databricks::{EmulatorConfig, start, start_remembering_port};

/// Run lode's emulators of the live systems.
#[derive(Debug, clap::Subcommand)]
pub enum EmulatorCommand {
    Serve(ServeArgs),
}

/// Serve the Databricks workspace emulator on 127.0.0.1 until interrupted (Ctrl-C). With
/// `--data <manifest root>/.lode/local` it serves exactly the local environment's live state.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The data folder; Databricks data lives in its `databricks/` subfolder.
    #[arg(long)]
    pub data: PathBuf,
    /// Port of the Databricks emulator (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub databricks_port: u16,
    /// The personal access token clients must send.
    #[arg(long, default_value = crate::provider::LOCAL_EMULATOR_TOKEN)]
    pub token: String,
    /// OAuth machine-to-machine client credentials the token endpoint accepts, as ID:SECRET.
    #[arg(long, value_name = "ID:SECRET")]
    pub oauth_client: Option<String>,
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
    let config = EmulatorConfig {
        data_dir: args.data.join("databricks"),
        token: args.token.clone(),
        oauth_client,
        port: args.databricks_port,
    };
    // Without an explicit port, serve where the local environment's URLs point.
    let running = if args.databricks_port == 0 {
        start_remembering_port(config)
    } else {
        start(config)
    }
    .map_err(|e| CommandError::user(e.to_string()))?;
    // The URL is data (scripts read it); the rest is for people.
    println!("{}", running.url);
    eprintln!(
        "Databricks emulator serving {} at {}; Ctrl-C stops it.",
        args.data.display(),
        running.url
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::user(format!("cannot wait for Ctrl-C: {e}")))?;
    runtime.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    eprintln!("Stopping the emulator.");
    drop(running);
    Ok(ExitCode::SUCCESS)
}
