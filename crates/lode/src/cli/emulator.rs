//! `lode emulator serve`: run the emulators standalone (for a person exploring the local
//! environment, or any Databricks client pointed at it) until interrupted. It holds each data
//! folder it serves (`lode_emulators::data_folder`): on the folder's own port and with the
//! local environments' tokens it is a standing server that lode commands on that folder use
//! instead of starting their own emulator. With `--live` the gateway runs its projects'
//! scripts, so the tags move.
//!
//! `lode emulator tag read|write`: the emulator-only operator controls, what a person does in
//! the Designer's tag browser: they find the live gateway that serves a data folder and read or
//! write one tag through its `/system/lode-emulator/tags/*` routes. No real gateway has them.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::printer;
use super::{CommandError, ErrorClass};
use crate::app::connect::{EMULATOR_FOLDER_WAIT, LOCAL_EMULATOR_TOKEN, LOCAL_GATEWAY_TOKEN};
use lode_emulators::data_folder::{Claim, Holder, Serving};
use lode_emulators::databricks::EmulatorConfig;
use lode_emulators::ignition::GatewayConfig;

/// Run lode's emulators of the live systems.
#[derive(Debug, clap::Subcommand)]
pub enum EmulatorCommand {
    Serve(ServeArgs),
    /// Read or write a tag of the live gateway emulator (emulator-only operator controls).
    #[command(subcommand)]
    Tag(TagCommand),
}

/// What an operator does to a tag in the Designer, on the live gateway emulator that serves a
/// data folder (`lode emulator serve --live`). Emulator-only: no real gateway offers it.
#[derive(Debug, clap::Subcommand)]
pub enum TagCommand {
    /// Write a value to a tag, e.g. `'[default]Mining/Equipment/CR_002/Vibration_MM_S' 45`;
    /// the value is converted to the tag's data type as the gateway does.
    Write(TagWriteArgs),
    /// Print a tag's value, quality and timestamp.
    Read(TagReadArgs),
}

#[derive(Debug, clap::Args)]
pub struct TagWriteArgs {
    /// The tag path; `[default]` is assumed without a provider.
    pub path: String,
    /// The value, as typed in the Designer (`45`, `true`, `RUNNING`).
    pub value: String,
    #[command(flatten)]
    pub target: TagTarget,
}

#[derive(Debug, clap::Args)]
pub struct TagReadArgs {
    /// The tag path; `[default]` is assumed without a provider.
    pub path: String,
    /// `text` (a line for people) or `json` (one JSON document: path, value, quality, timestamp).
    #[arg(long, value_enum, default_value = "text")]
    pub format: super::TextOrJson,
    #[command(flatten)]
    pub target: TagTarget,
}

/// Which live gateway: the one serving a data folder.
#[derive(Debug, clap::Args)]
pub struct TagTarget {
    /// The data folder the live stack serves (its gateway is in `ignition/`).
    #[arg(long, default_value = "manifests/.lode/local")]
    pub data: PathBuf,
    /// The gateway API token (`name:secret`) the stack was started with.
    #[arg(long = "ignition-token", default_value = crate::app::connect::LOCAL_GATEWAY_TOKEN)]
    pub ignition_token: String,
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
    /// Run the gateway live: its projects' enabled timer scripts run on their schedule and tag
    /// change scripts on changes, so the tags move (needs --ignition-port).
    #[arg(long, requires = "ignition_port")]
    pub live: bool,
}

pub fn run(command: &EmulatorCommand) -> Result<ExitCode, CommandError> {
    match command {
        EmulatorCommand::Serve(args) => serve(args),
        EmulatorCommand::Tag(TagCommand::Write(args)) => tag_write(args),
        EmulatorCommand::Tag(TagCommand::Read(args)) => tag_read(args),
    }
}

fn serve(args: &ServeArgs) -> Result<ExitCode, CommandError> {
    let oauth_client = match &args.oauth_client {
        Some(pair) => Some(
            pair.split_once(':')
                .map(|(id, secret)| (id.to_string(), secret.to_string()))
                .ok_or_else(|| CommandError::user("--oauth-client takes ID:SECRET"))?,
        ),
        None => None,
    };
    let stack = serve_stack(&StackOptions {
        command: "lode emulator serve",
        data: args.data.clone(),
        databricks_port: args.databricks_port,
        token: args.token.clone(),
        oauth_client,
        ignition_port: args.ignition_port,
        ignition_token: args.ignition_token.clone(),
        live: args.live,
    })?;
    // The URLs are data (scripts read them), the workspace's first.
    printer().data(&format!("{}\n", stack.workspace.url));
    if let Some(gateway) = &stack.gateway {
        printer().data(&format!("{}\n", gateway.url));
    }
    printer().status("Ctrl-C stops them.");
    wait_for_ctrl_c()?;
    printer().status("Stopping the emulators.");
    drop(stack);
    Ok(ExitCode::SUCCESS)
}

/// What to serve: the data folder, ports, credentials, and whether the gateway is live.
pub(super) struct StackOptions {
    /// Who serves, as the folders' lock files name it (`lode up`, `lode emulator serve`).
    pub command: &'static str,
    pub data: PathBuf,
    pub databricks_port: u16,
    pub token: String,
    pub oauth_client: Option<(String, String)>,
    pub ignition_port: Option<u16>,
    pub ignition_token: String,
    pub live: bool,
}

/// The emulators this process serves; dropping it stops them (the gateway first).
pub(super) struct RunningStack {
    pub gateway: Option<lode_emulators::ignition::RunningGateway>,
    pub workspace: lode_emulators::databricks::RunningEmulator,
}

impl Drop for RunningStack {
    fn drop(&mut self) {
        // The gateway's scripts and Zerobus stream stop before the workspace they write to.
        self.gateway.take();
    }
}

/// Claims and serves the data folder's emulators as a standing server, reporting each on
/// stderr. With the local environments' tokens it is offered to other lode commands.
pub(super) fn serve_stack(options: &StackOptions) -> Result<RunningStack, CommandError> {
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
        command: options.command.into(),
        standing: true,
        offer_to_others,
        wait: EMULATOR_FOLDER_WAIT,
        on_wait: &on_wait,
    };
    let data = &options.data;
    // The gateway's folder is claimed first, as every lode command does (`app::connect`), so
    // this server and a command never each hold one folder and wait for the other.
    let gateway = match options.ignition_port {
        Some(port) => {
            let config = GatewayConfig {
                data_dir: data.join("ignition"),
                token: options.ignition_token.clone(),
                read_only_token: None,
                port,
                faults: faults.clone(),
                live: options.live,
                ..Default::default()
            };
            let offer = options.ignition_token == LOCAL_GATEWAY_TOKEN;
            let serving = lode_emulators::ignition::serve_folder(config, &claim(offer))
                .map_err(|e| CommandError::user(e.to_string()))?;
            Some(own(serving, &data.join("ignition"))?)
        }
        None => None,
    };
    let config = EmulatorConfig {
        data_dir: data.join("databricks"),
        token: options.token.clone(),
        oauth_client: options.oauth_client.clone(),
        port: options.databricks_port,
        faults: faults.clone(),
    };
    let offer = options.token == LOCAL_EMULATOR_TOKEN;
    let serving = lode_emulators::databricks::serve_folder(config, &claim(offer))
        .map_err(|e| CommandError::user(e.to_string()))?;
    let workspace = own(serving, &data.join("databricks"))?;
    printer().status(&format!(
        "Databricks emulator serving {} at {}",
        data.join("databricks").display(),
        workspace.url
    ));
    if let Some(gateway) = &gateway {
        printer().status(&format!(
            "Ignition gateway emulator serving {} at {}{}",
            data.join("ignition").display(),
            gateway.url,
            if options.live {
                ", live: its timer and tag change scripts run and its Zerobus connector streams"
            } else {
                ""
            }
        ));
    }
    Ok(RunningStack { gateway, workspace })
}

/// Blocks until the user presses Ctrl-C (or the process gets SIGINT).
pub(super) fn wait_for_ctrl_c() -> Result<(), CommandError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::user(format!("cannot wait for Ctrl-C: {e}")))?;
    runtime.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    Ok(())
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

/// Why an operator control could not reach the live gateway or do its work.
#[derive(Debug, thiserror::Error)]
pub enum OperateTagError {
    #[error("no live stack serves {}", .folder.display())]
    NotServed { folder: PathBuf },
    #[error("the gateway emulator serving {} (`{command}`, pid {pid}) is not live: its scripts do not run", .folder.display())]
    NotLive {
        folder: PathBuf,
        command: String,
        pid: u32,
    },
    #[error("cannot read the emulator lock of {}: {source}", .folder.display())]
    Lock {
        folder: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Gateway(#[from] crate::provider::ignition::client::GatewayError),
    #[error("{operation} {path} failed with quality {quality}")]
    Refused {
        operation: &'static str,
        path: String,
        quality: String,
    },
}

impl From<OperateTagError> for CommandError {
    fn from(error: OperateTagError) -> CommandError {
        let command = CommandError::user(error.to_string());
        match &error {
            OperateTagError::NotServed { folder } | OperateTagError::NotLive { folder, .. } => {
                let data = folder.parent().unwrap_or(folder);
                command.with_class(ErrorClass::Config).hint(format!(
                    "start the live stack first: `lode emulator serve --live --ignition-port 0 --data {}`",
                    data.display()
                ))
            }
            OperateTagError::Lock { .. } => command.with_class(ErrorClass::Config),
            OperateTagError::Gateway(_) => command.with_class(ErrorClass::Remote),
            OperateTagError::Refused { quality, .. } => {
                let hint = match quality.as_str() {
                    "Bad_NotFound" => {
                        "no tag has that path: check the folder and the provider (`[default]` when none is given)"
                    }
                    "Bad_ReadOnly" => {
                        "only memory tags (and references to them) take writes in the emulator"
                    }
                    "Error_TypeConversion" => "the value does not convert to the tag's data type",
                    _ => "the gateway refused the write",
                };
                command.with_class(ErrorClass::User).hint(hint)
            }
        }
    }
}

/// The client of the live gateway serving `data`'s `ignition/` folder.
fn live_gateway(
    target: &TagTarget,
) -> Result<crate::provider::ignition::client::GatewayClient, OperateTagError> {
    let folder = target.data.join("ignition");
    let holder = lode_emulators::data_folder::serving_holder(&folder)
        .map_err(|source| OperateTagError::Lock {
            folder: folder.clone(),
            source,
        })?
        .ok_or_else(|| OperateTagError::NotServed {
            folder: folder.clone(),
        })?;
    let client =
        crate::provider::ignition::client::GatewayClient::new(&holder.url, &target.ignition_token)?;
    let status = client.get("/system/lode-emulator/status")?;
    if status.get("live").and_then(Value::as_bool) != Some(true) {
        return Err(OperateTagError::NotLive {
            folder,
            command: holder.command,
            pid: holder.pid,
        });
    }
    Ok(client)
}

fn tag_line(tag: &Value) -> String {
    format!(
        "{} = {} ({}, {})",
        tag["path"].as_str().unwrap_or(""),
        tag["value"],
        tag["quality"].as_str().unwrap_or(""),
        tag["timestamp"]
    )
}

fn tag_write(args: &TagWriteArgs) -> Result<ExitCode, CommandError> {
    let client = live_gateway(&args.target)?;
    let answer = client
        .post_json(
            "/system/lode-emulator/tags/write",
            &json!({"path": args.path, "value": args.value}),
            false,
        )
        .map_err(OperateTagError::from)?;
    let quality = answer["quality"].as_str().unwrap_or("").to_string();
    if quality != "Good" {
        return Err(OperateTagError::Refused {
            operation: "writing",
            path: args.path.clone(),
            quality,
        }
        .into());
    }
    printer().data(&format!("{}\n", tag_line(&answer["tag"])));
    Ok(ExitCode::SUCCESS)
}

fn tag_read(args: &TagReadArgs) -> Result<ExitCode, CommandError> {
    let client = live_gateway(&args.target)?;
    let path = format!(
        "/system/lode-emulator/tags/read?path={}",
        url_component(&args.path)
    );
    let tag = client.get(&path).map_err(OperateTagError::from)?;
    if tag["quality"] == "Bad_NotFound" {
        return Err(OperateTagError::Refused {
            operation: "reading",
            path: args.path.clone(),
            quality: "Bad_NotFound".into(),
        }
        .into());
    }
    if args.format == super::TextOrJson::Json {
        printer().data(&format!("{tag}\n"));
    } else {
        printer().data(&format!("{}\n", tag_line(&tag)));
    }
    Ok(ExitCode::SUCCESS)
}

/// A query parameter value, percent-encoded.
fn url_component(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
