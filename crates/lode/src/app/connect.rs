//! Connecting to an environment: the one place that turns an environment file into providers,
//! and the only place that starts emulators. A real environment gets clients from a URL and
//! credentials; the built-in `local` and `local-api` environments (`emulator: true`) first
//! start lode's emulators in this process on loopback ports, then get the very same clients,
//! pointed at them. Without the default `emulators` feature lode is a production binary: such
//! an environment is refused with a clear error, and no emulator code is linked in.

use std::path::Path;
use std::sync::Arc;

use crate::manifest::EnvironmentConfig;
use crate::manifest::environment::IgnitionTransport;
use crate::provider::databricks::{self, auth, client};
use crate::provider::ignition::{self, client::GatewayClient};
use crate::provider::{Provider, Providers, SharedClients};

/// The API token of the in-process gateway emulator of the local environments.
pub const LOCAL_GATEWAY_TOKEN: &str = "lode:local-gateway-emulator";

/// The token the in-process Databricks emulator of the local environments accepts.
pub const LOCAL_EMULATOR_TOKEN: &str = "dapi-lode-local-emulator";

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

/// Builds the providers an environment configures, rooted at the manifest root; starts the
/// in-process emulators the environment asks for. Any system that cannot be set up is an
/// error.
pub fn connect(
    environment: &EnvironmentConfig,
    root: &Path,
    env_name: &str,
) -> Result<Connection, ConnectError> {
    let (connection, mut failed) = connect_each(environment, root, env_name);
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
) -> (Connection, Vec<(&'static str, ConnectError)>) {
    let mut providers: Vec<Box<dyn Provider>> = Vec::new();
    let mut shared = SharedClients::default();
    let mut emulators = LocalEmulators::default();
    let mut failed = Vec::new();
    if let Some(config) = &environment.ignition {
        match connect_ignition(config, root, env_name, &mut emulators) {
            Ok((provider, gateway)) => {
                providers.push(provider);
                shared.ignition_gateway = gateway;
            }
            Err(error) => failed.push(("ignition", error)),
        }
    }
    if let Some(config) = &environment.databricks {
        match connect_databricks(config, root, env_name, &mut emulators) {
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
) -> Result<IgnitionConnection, ConnectError> {
    let data_dir = config.data_dir.as_ref().map(|d| root.join(d));
    let gateway = if config.emulator {
        let data_dir = data_dir
            .clone()
            .ok_or(ConnectError::Config("an emulated gateway needs `data_dir`"))?;
        let url = emulators.start_gateway(&data_dir, env_name)?;
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
) -> Result<DatabricksConnection, ConnectError> {
    let resolved = if config.emulator {
        let data_dir = root.join(".lode").join(env_name).join("databricks");
        auth::ResolvedAuth {
            host: emulators.start_databricks(&data_dir, env_name)?,
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
    /// Starts the gateway emulator on `data_dir` (remembering its port across runs, so the
    /// URLs lode records stay valid); returns its URL.
    fn start_gateway(&mut self, data_dir: &Path, _env_name: &str) -> Result<String, ConnectError> {
        let failed = |message: String| ConnectError::EmulatorStart {
            system: "Ignition gateway",
            message,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| failed(e.to_string()))?;
        let running = lode_emulators::ignition::start_remembering_port(
            lode_emulators::ignition::GatewayConfig {
                data_dir: data_dir.to_path_buf(),
                token: LOCAL_GATEWAY_TOKEN.to_string(),
                read_only_token: None,
                port: 0,
                faults: emulator_faults()?,
            },
        )
        .map_err(|e| failed(e.to_string()))?;
        let url = running.url.clone();
        self.gateway = Some(running);
        Ok(url)
    }

    /// Starts the Databricks workspace emulator on `data_dir`; returns its URL.
    fn start_databricks(
        &mut self,
        data_dir: &Path,
        _env_name: &str,
    ) -> Result<String, ConnectError> {
        let running = lode_emulators::databricks::start_remembering_port(
            lode_emulators::databricks::EmulatorConfig {
                data_dir: data_dir.to_path_buf(),
                token: LOCAL_EMULATOR_TOKEN.to_string(),
                oauth_client: None,
                port: 0,
                faults: emulator_faults()?,
            },
        )
        .map_err(|e| ConnectError::EmulatorStart {
            system: "Databricks",
            message: e.to_string(),
        })?;
        let url = running.url.clone();
        self.databricks = Some(running);
        Ok(url)
    }
}

/// The faults `LODE_EMULATOR_FAULTS` asks the emulators to inject; read only when an emulator
/// is started, so real systems never get injected faults.
#[cfg(feature = "emulators")]
fn emulator_faults() -> Result<Option<Arc<lode_emulators::faults::Faults>>, ConnectError> {
    lode_emulators::faults::Faults::from_env().map_err(|e| ConnectError::Faults(e.to_string()))
}

#[cfg(not(feature = "emulators"))]
impl LocalEmulators {
    fn start_gateway(&mut self, _data_dir: &Path, env_name: &str) -> Result<String, ConnectError> {
        Err(ConnectError::EmulatorsNotBuilt {
            env_name: env_name.to_string(),
        })
    }

    fn start_databricks(
        &mut self,
        _data_dir: &Path,
        env_name: &str,
    ) -> Result<String, ConnectError> {
        Err(ConnectError::EmulatorsNotBuilt {
            env_name: env_name.to_string(),
        })
    }
}
