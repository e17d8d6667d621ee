//! Connecting to an environment: the one place that turns an environment file into providers,
//! and the only place that starts emulators. A real environment gets clients from a URL and
//! credentials; the built-in `local` and `local-api` environments (`emulator: true`) first
//! start lode's emulators in this process on loopback ports, then get the very same clients,
//! pointed at them. Without the default `emulators` feature lode is a production binary: such
//! an environment is refused with a clear error, and no emulator code is linked in.
//!
//! An emulator's data folder is served by one process at a time, always on the folder's own
//! port (`lode_emulators::data_folder`): the URLs lode writes into resources (the chat page
//! link in the gateway's session script) name that port, so no run may move it. A command that
//! finds the folder served by another command's emulator waits for it; one served by a standing
//! `lode emulator serve` uses that server.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::Reporter;

use crate::manifest::EnvironmentConfig;
use crate::manifest::environment::{
    IgnitionTransport, LOCAL_ZEROBUS_CLIENT_ID, LOCAL_ZEROBUS_CLIENT_SECRET,
};
use crate::provider::databricks::{self, auth, client};
use crate::provider::ignition::{self, client::GatewayClient};
use crate::provider::{Provider, Providers, SharedClients};

/// The API token of the in-process gateway emulator of the local environments.
pub const LOCAL_GATEWAY_TOKEN: &str = "lode:local-gateway-emulator";

/// The token the in-process Databricks emulator of the local environments accepts.
pub const LOCAL_EMULATOR_TOKEN: &str = "dapi-lode-local-emulator";

/// The longest a command waits for another command that serves an emulator's data folder
/// (a plan takes seconds, an apply minutes).
pub const EMULATOR_FOLDER_WAIT: Duration = Duration::from_secs(600);

/// How a command waits for an emulator's data folder that another command serves: whom it
/// tells, and for how long at most.
#[derive(Clone, Copy)]
pub struct EmulatorWait<'a> {
    pub reporter: &'a dyn Reporter,
    pub limit: Duration,
}

impl<'a> EmulatorWait<'a> {
    /// The wait of a command that needs the systems to do its work.
    pub fn patient(reporter: &'a dyn Reporter) -> EmulatorWait<'a> {
        EmulatorWait {
            reporter,
            limit: EMULATOR_FOLDER_WAIT,
        }
    }
}

/// Why the providers of an environment could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "environment `{env_name}` runs on lode's emulators, and this lode was built without them (--no-default-features)"
    )]
    EmulatorsNotBuilt { env_name: String },
    #[error("the {system} emulator did not start: {message}")]
    EmulatorStart {
        system: &'static str,
        message: String,
    },
    /// Another process serves the emulator's data folder, and this one may not use it or
    /// gave up waiting for it.
    #[error("the {system} emulator did not start: {message}")]
    EmulatorFolderBusy {
        system: &'static str,
        message: String,
    },
    #[error("Databricks authentication: {0}")]
    Auth(#[from] auth::AuthError),
    #[error("Databricks client: {0}")]
    Client(#[from] client::ApiError),
    #[error("Ignition gateway: {0}")]
    Gateway(String),
    #[error("the environment file is incomplete: {0}")]
    Config(&'static str),
    /// `LODE_EMULATOR_FAULTS` does not parse.
    #[error("{0}")]
    Faults(String),
}

/// An environment's providers, and the emulators they talk to when the environment is local.
pub struct Connection {
    pub providers: Providers,
    /// Kept alive while the providers are in use; declared last so it is dropped last.
    pub emulators: LocalEmulators,
}

/// The emulators a local environment runs in this process (none for a real environment).
#[derive(Default)]
pub struct LocalEmulators {
    #[cfg(feature = "emulators")]
    databricks: Option<lode_emulators::databricks::RunningEmulator>,
    #[cfg(feature = "emulators")]
    gateway: Option<lode_emulators::ignition::RunningGateway>,
}

/// Reserves the port of a built-in local environment's workspace emulator, if it has none
/// yet, before its manifests are read: the built-in environment's variables carry the
/// emulator's URL (see `EnvironmentConfig::builtin`), and a plan must see the same URL before
/// and after the emulator first starts. Other environments are left alone; a failure here
/// only leaves those variables at their `lode.yaml` values, and the emulator's own start
/// reports the problem.
pub fn reserve_local_endpoints(root: &Path, env_name: &str) {
    if !matches!(env_name, "local" | "local-api") {
        return;
    }
    #[cfg(feature = "emulators")]
    {
        let file = crate::manifest::environment::local_workspace_port_file(root, env_name);
        if let Some(folder) = file.parent() {
            let _ = lode_emulators::data_folder::reserve_port(
                folder,
                lode_emulators::databricks::PORT_FILE,
            );
        }
    }
    #[cfg(not(feature = "emulators"))]
    let _ = root;
}

/// Builds the providers an environment configures, rooted at the manifest root; starts the
/// in-process emulators the environment asks for. Any system that cannot be set up is an
/// error.
pub fn connect(
    environment: &EnvironmentConfig,
    root: &Path,
    env_name: &str,
    wait: &EmulatorWait<'_>,
) -> Result<Connection, ConnectError> {
    let (connection, mut failed) = connect_each(environment, root, env_name, wait);
    match failed.pop() {
        Some((_, error)) => Err(error),
        None => Ok(connection),
    }
}

/// Like [`connect`], but a system that cannot be set up (a missing token, an emulator that
/// does not start) is left out and reported, so the commands for bad days (`stop`, `status`,
/// `state`) still reach the others.
pub fn connect_each(
    environment: &EnvironmentConfig,
    root: &Path,
    env_name: &str,
    wait: &EmulatorWait<'_>,
) -> (Connection, Vec<(&'static str, ConnectError)>) {
    let mut providers: Vec<Box<dyn Provider>> = Vec::new();
    let mut shared = SharedClients::default();
    let mut emulators = LocalEmulators::default();
    let mut failed = Vec::new();
    // The gateway's folder is claimed before the workspace's, in every process, so two
    // processes never each hold one and wait for the other.
    if let Some(config) = &environment.ignition {
        match connect_ignition(config, root, env_name, &mut emulators, wait) {
            Ok((provider, gateway)) => {
                providers.push(provider);
                shared.ignition_gateway = gateway;
            }
            Err(error) => failed.push(("ignition", error)),
        }
    }
    if let Some(config) = &environment.databricks {
        match connect_databricks(config, root, env_name, &mut emulators, wait) {
            Ok((provider, client, warehouse_id)) => {
                providers.push(provider);
                shared.databricks = Some(client);
                shared.databricks_warehouse_id = warehouse_id;
            }
            Err(error) => failed.push(("databricks", error)),
        }
    }
    let connection = Connection {
        providers: Providers::new(providers, shared),
        emulators,
    };
    (connection, failed)
}

/// The gateway's provider, and its HTTP client when it has one.
type IgnitionConnection = (Box<dyn Provider>, Option<Arc<GatewayClient>>);

fn connect_ignition(
    config: &crate::manifest::environment::IgnitionConfig,
    root: &Path,
    env_name: &str,
    emulators: &mut LocalEmulators,
    wait: &EmulatorWait<'_>,
) -> Result<IgnitionConnection, ConnectError> {
    let data_dir = config.data_dir.as_ref().map(|d| root.join(d));
    let gateway = if config.emulator {
        let data_dir = data_dir
            .clone()
            .ok_or(ConnectError::Config("an emulated gateway needs `data_dir`"))?;
        let url = emulators.start_gateway(&data_dir, env_name, wait)?;
        Some(gateway_client(&url, LOCAL_GATEWAY_TOKEN)?)
    } else if let Some(url) = &config.gateway_url {
        let variable = config.token_env.as_deref().unwrap_or("IGNITION_API_TOKEN");
        let token = std::env::var(variable).map_err(|_| {
            ConnectError::Gateway(format!(
                "set {variable} to the gateway API token (`name:secret`)"
            ))
        })?;
        Some(gateway_client(url, &token)?)
    } else {
        None
    };
    let provider: Box<dyn Provider> = match config.transport {
        IgnitionTransport::Files => {
            let data_dir = data_dir.ok_or(ConnectError::Config(
                "the files transport needs `ignition.data_dir`",
            ))?;
            Box::new(ignition::files::IgnitionFiles::new(
                data_dir,
                config.collection.clone(),
                gateway.clone(),
            ))
        }
        IgnitionTransport::Api => {
            let client = gateway.clone().ok_or(ConnectError::Config(
                "the api transport needs `ignition.gateway_url`",
            ))?;
            Box::new(ignition::api::IgnitionApi::new(client))
        }
    };
    Ok((provider, gateway))
}

/// The workspace's provider, its client, and the SQL warehouse it uses.
type DatabricksConnection = (
    Box<dyn Provider>,
    Arc<client::DatabricksClient>,
    Option<String>,
);

fn connect_databricks(
    config: &crate::manifest::environment::DatabricksConfig,
    root: &Path,
    env_name: &str,
    emulators: &mut LocalEmulators,
    wait: &EmulatorWait<'_>,
) -> Result<DatabricksConnection, ConnectError> {
    let resolved = if config.emulator {
        let data_dir = root.join(".lode").join(env_name).join("databricks");
        auth::ResolvedAuth {
            host: emulators.start_databricks(&data_dir, env_name, wait)?,
            credentials: auth::Credentials::Pat {
                token: LOCAL_EMULATOR_TOKEN.to_string(),
            },
            warehouse_id: None,
            source: "the in-process emulator".to_string(),
        }
    } else {
        let settings = auth::AuthSettings {
            host: config.host.clone(),
            profile: config.profile.clone(),
            token_env: config.token_env.clone(),
        };
        auth::resolve_auth(&settings, &|name| std::env::var(name).ok(), None)?
    };
    let warehouse_id = config
        .warehouse_id
        .clone()
        .or_else(|| resolved.warehouse_id.clone());
    let mut options = client::ClientOptions::default();
    // The SDKs' setting: requests per second the client sends at most (default 15).
    if let Some(limit) = std::env::var("DATABRICKS_RATE_LIMIT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        options.rate_limit_per_second = limit;
    }
    let client = Arc::new(client::DatabricksClient::new(resolved, options)?);
    let mut settings = databricks::provider::DatabricksSettings {
        warehouse_id: warehouse_id.clone(),
        ..Default::default()
    };
    if let Some(seconds) = config.pipeline_timeout_seconds {
        settings.pipeline_timeout = std::time::Duration::from_secs(seconds);
    }
    let provider = Box::new(databricks::provider::DatabricksProvider::new(
        client.clone(),
        settings,
    ));
    Ok((provider, client, warehouse_id))
}

fn gateway_client(url: &str, token: &str) -> Result<Arc<GatewayClient>, ConnectError> {
    GatewayClient::new(url, token)
        .map(Arc::new)
        .map_err(|e| ConnectError::Gateway(e.to_string()))
}

#[cfg(feature = "emulators")]
impl LocalEmulators {
    /// Serves the gateway emulator's `data_dir` on its own port, or uses the standing server
    /// that serves it; returns its URL.
    fn start_gateway(
        &mut self,
        data_dir: &Path,
        _env_name: &str,
        wait: &EmulatorWait<'_>,
    ) -> Result<String, ConnectError> {
        use lode_emulators::ignition::{GatewayConfig, StartGatewayError, serve_folder};
        let config = GatewayConfig {
            data_dir: data_dir.to_path_buf(),
            token: LOCAL_GATEWAY_TOKEN.to_string(),
            read_only_token: None,
            port: 0,
            faults: emulator_faults()?,
            ..Default::default()
        };
        serve_emulator(
            "Ignition gateway",
            wait,
            &mut self.gateway,
            |claim| serve_folder(config, claim),
            |error| match error {
                StartGatewayError::Folder(error) => Ok(error),
                other => Err(other.to_string()),
            },
            |running| running.url.clone(),
        )
    }

    /// Serves the Databricks workspace emulator's `data_dir` on its own port, or uses the
    /// standing server that serves it; returns its URL.
    fn start_databricks(
        &mut self,
        data_dir: &Path,
        _env_name: &str,
        wait: &EmulatorWait<'_>,
    ) -> Result<String, ConnectError> {
        use lode_emulators::databricks::{EmulatorConfig, StartEmulatorError, serve_folder};
        let config = EmulatorConfig {
            data_dir: data_dir.to_path_buf(),
            token: LOCAL_EMULATOR_TOKEN.to_string(),
            oauth_client: Some((
                LOCAL_ZEROBUS_CLIENT_ID.to_string(),
                LOCAL_ZEROBUS_CLIENT_SECRET.to_string(),
            )),
            port: 0,
            faults: emulator_faults()?,
        };
        serve_emulator(
            "Databricks",
            wait,
            &mut self.databricks,
            |claim| serve_folder(config, claim),
            |error| match error {
                StartEmulatorError::Folder(error) => Ok(error),
                other => Err(other.to_string()),
            },
            |running| running.url.clone(),
        )
    }
}

/// Claims an emulator's data folder and serves it (keeping the server in `slot`), or uses the
/// standing server that serves it; returns the URL. `folder_of` picks out of the emulator's
/// start error the ones about the folder (the person's to sort out) from the rest.
#[cfg(feature = "emulators")]
fn serve_emulator<R, E>(
    system: &'static str,
    wait: &EmulatorWait<'_>,
    slot: &mut Option<R>,
    serve: impl FnOnce(
        &lode_emulators::data_folder::Claim<'_>,
    ) -> Result<lode_emulators::data_folder::Serving<R>, E>,
    folder_of: impl FnOnce(E) -> Result<lode_emulators::data_folder::ClaimFolderError, String>,
    url_of: impl FnOnce(&R) -> String,
) -> Result<String, ConnectError> {
    let on_wait = announce_wait(system, wait);
    let serving =
        serve(&command_claim(wait, &on_wait)).map_err(|error| match folder_of(error) {
            Ok(error) => folder_error(system, error),
            Err(message) => ConnectError::EmulatorStart { system, message },
        })?;
    Ok(match serving {
        lode_emulators::data_folder::Serving::Own(running) => {
            let url = url_of(&running);
            *slot = Some(running);
            url
        }
        lode_emulators::data_folder::Serving::Shared(holder) => {
            using_standing_server(system, &holder, wait.reporter)
        }
    })
}

/// How this command claims an emulator's data folder: for as long as it runs, waiting for
/// another command that serves it.
#[cfg(feature = "emulators")]
fn command_claim<'a>(
    wait: &EmulatorWait<'_>,
    on_wait: &'a dyn Fn(&lode_emulators::data_folder::Holder),
) -> lode_emulators::data_folder::Claim<'a> {
    lode_emulators::data_folder::Claim {
        command: this_command(),
        standing: false,
        offer_to_others: false,
        wait: wait.limit,
        on_wait,
    }
}

/// Tells the person whom the command waits for, as the wait could otherwise pass for a hang.
#[cfg(feature = "emulators")]
fn announce_wait<'a>(
    system: &'static str,
    wait: &EmulatorWait<'a>,
) -> impl Fn(&lode_emulators::data_folder::Holder) + 'a {
    let EmulatorWait { reporter, limit } = *wait;
    move |holder| {
        reporter.info(&format!(
            "Waiting for {}, which runs the {system} emulator on this environment's data \
             (at most {} s)",
            holder.describe(),
            limit.as_secs()
        ))
    }
}

/// Says which server the command uses, as it is not the command's own: stopping that one cuts
/// the command off.
#[cfg(feature = "emulators")]
fn using_standing_server(
    system: &'static str,
    holder: &lode_emulators::data_folder::Holder,
    reporter: &dyn Reporter,
) -> String {
    reporter.info(&format!(
        "Using the {system} emulator that {} serves",
        holder.describe()
    ));
    holder.url.clone()
}

/// A data folder that another process serves is the person's to sort out (wait, stop it);
/// anything else about the folder (its port taken, its port file broken) is an emulator that
/// did not start.
#[cfg(feature = "emulators")]
fn folder_error(
    system: &'static str,
    error: lode_emulators::data_folder::ClaimFolderError,
) -> ConnectError {
    use lode_emulators::data_folder::ClaimFolderError;
    match error {
        ClaimFolderError::StillInUse { .. } | ClaimFolderError::ServedByStandingServer { .. } => {
            ConnectError::EmulatorFolderBusy {
                system,
                message: error.to_string(),
            }
        }
        other => ConnectError::EmulatorStart {
            system,
            message: other.to_string(),
        },
    }
}

/// How the holder of a data folder is named to whoever waits for it: `lode` and its subcommand
/// words (`lode plan`, `lode state list`), never an option's value, which may be a secret.
#[cfg(feature = "emulators")]
fn this_command() -> String {
    let mut words = vec!["lode".to_string()];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if matches!(arg.as_str(), "--env" | "--dir" | "--color") {
            args.next();
        } else if arg.starts_with('-') {
            if words.len() > 1 {
                break;
            }
        } else if words.len() < 3 && arg.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            words.push(arg);
        } else {
            break;
        }
    }
    words.join(" ")
}

/// The faults `LODE_EMULATOR_FAULTS` asks the emulators to inject; read only when an emulator
/// is started, so real systems never get injected faults.
#[cfg(feature = "emulators")]
fn emulator_faults() -> Result<Option<Arc<lode_emulators::faults::Faults>>, ConnectError> {
    lode_emulators::faults::Faults::from_env().map_err(|e| ConnectError::Faults(e.to_string()))
}

#[cfg(not(feature = "emulators"))]
impl LocalEmulators {
    fn start_gateway(
        &mut self,
        _data_dir: &Path,
        env_name: &str,
        _wait: &EmulatorWait<'_>,
    ) -> Result<String, ConnectError> {
        Err(ConnectError::EmulatorsNotBuilt {
            env_name: env_name.to_string(),
        })
    }

    fn start_databricks(
        &mut self,
        _data_dir: &Path,
        env_name: &str,
        _wait: &EmulatorWait<'_>,
    ) -> Result<String, ConnectError> {
        Err(ConnectError::EmulatorsNotBuilt {
            env_name: env_name.to_string(),
        })
    }
}
