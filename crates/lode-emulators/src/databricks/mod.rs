//! The Databricks workspace emulator: an axum app serving the REST routes `lode`'s provider
//! calls — and that any standard Databricks client uses for them — with the real APIs' JSON
//! shapes, status codes and error bodies. Everything persists under one data folder: workspace
//! files as files, tables as real Delta tables (`sql`), the rest as small JSON documents. The
//! same server is the workspace's Zerobus Ingest endpoint (`zerobus_ingest`).

pub mod catalog;
pub mod genie;
pub mod identity;
pub mod pipeline_refresh;
pub mod pipeline_sql;
pub mod pipelines;
pub mod sql;
pub mod store;
pub mod workspace;
pub mod zerobus_ingest;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::data_folder::{self, Claim, ClaimFolderError, Claimed, FolderLock, Serving};

use self::sql::SqlEngine;
use self::store::JsonStore;

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where everything persists.
    pub data_dir: PathBuf,
    /// The personal access token clients must send.
    pub token: String,
    /// OAuth M2M client credentials the token endpoint accepts (client id, secret).
    pub oauth_client: Option<(String, String)>,
    /// 0: the data folder's own port ([`serve_folder`]), or any free port ([`start`]).
    pub port: u16,
    /// Faults to inject into requests (`LODE_EMULATOR_FAULTS`); none by default.
    pub faults: Option<Arc<crate::faults::Faults>>,
}

/// Shared state of one running emulator.
pub struct Workspace {
    pub config: EmulatorConfig,
    pub sql: SqlEngine,
    pub files: workspace::WorkspaceFiles,
    pub pipelines: JsonStore<pipelines::PipelineRecord>,
    /// Serialises the work on each pipeline (see [`pipelines::RunLocks`]).
    pub pipeline_runs: pipelines::RunLocks,
    pub genie: JsonStore<genie::SpaceRecord>,
    pub conversations: JsonStore<genie::ConversationRecord>,
    pub monitors: JsonStore<Value>,
    /// Statement results by id; like Databricks, they do not outlive the server for long.
    pub statements: std::sync::Mutex<std::collections::HashMap<String, Value>>,
    pub tokens: identity::IssuedTokens,
    /// `http://127.0.0.1:port`, known once bound.
    pub base_url: std::sync::OnceLock<String>,
}

pub type Shared = Arc<Workspace>;

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartEmulatorError {
    #[error("cannot use the emulator data folder {path}: {source}")]
    Data {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error(transparent)]
    Folder(#[from] ClaimFolderError),
}

impl Workspace {
    pub fn open(config: EmulatorConfig) -> Result<Workspace, StartEmulatorError> {
        let data = |source| StartEmulatorError::Data {
            path: config.data_dir.clone(),
            source,
        };
        std::fs::create_dir_all(&config.data_dir).map_err(data)?;
        let dir = &config.data_dir;
        Ok(Workspace {
            sql: SqlEngine::new(dir.join("tables")).map_err(data)?,
            files: workspace::WorkspaceFiles::open(dir.join("workspace")).map_err(data)?,
            pipelines: JsonStore::open(dir.join("pipelines.json")).map_err(data)?,
            pipeline_runs: Default::default(),
            genie: JsonStore::open(dir.join("genie-spaces.json")).map_err(data)?,
            conversations: JsonStore::open(dir.join("genie-conversations.json")).map_err(data)?,
            monitors: JsonStore::open(dir.join("quality-monitors.json")).map_err(data)?,
            statements: Default::default(),
            tokens: identity::IssuedTokens::default(),
            base_url: std::sync::OnceLock::new(),
            config,
        })
    }
}

/// The browser session cookie the emulator sets when it serves a workspace file.
pub const SESSION_COOKIE: &str = "lode-emulator-session";

impl Workspace {
    /// The session value for this emulator: derived from its token, never the token itself.
    pub fn session_token(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(
            format!("browser-session\0{}", self.config.token).as_bytes(),
        ))
    }
}

/// A Databricks-style error response: `{"error_code", "message"}` with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error_code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        error_code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            error_code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", message)
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
    }

    pub fn exists(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "RESOURCE_ALREADY_EXISTS", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"error_code": self.error_code, "message": self.message})),
        )
            .into_response()
    }
}

impl From<sql::SqlError> for ApiError {
    fn from(error: sql::SqlError) -> ApiError {
        let status = match error.error_class.as_str() {
            c if c.contains("NOT_FOUND") || c.contains("NO_SUCH") => StatusCode::NOT_FOUND,
            c if c.contains("ALREADY_EXISTS") => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        let code = match status {
            StatusCode::NOT_FOUND => "RESOURCE_DOES_NOT_EXIST",
            StatusCode::CONFLICT => "RESOURCE_ALREADY_EXISTS",
            _ => "INVALID_PARAMETER_VALUE",
        };
        ApiError::new(status, code, error.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Bearer-token auth on every route but the OAuth discovery and token endpoints.
async fn authenticate(
    State(workspace): State<Shared>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path.starts_with("/oidc/")
        || path.starts_with("/.well-known/")
        || path.starts_with("/workspace-files/")
    {
        return next.run(request).await;
    }
    // A page served from the workspace talks to the Genie API with the browser session the
    // page opened, as a logged-in browser does on Databricks; no token reaches the page.
    let session = headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim() == format!("{SESSION_COOKIE}={}", workspace.session_token()));
    if session && path.starts_with("/api/2.0/genie/") {
        return next.run(request).await;
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        Some(token) if token == workspace.config.token || workspace.tokens.is_valid(token) => {
            next.run(request).await
        }
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Invalid access token.",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Credential was not sent or was of an unsupported type for this API.",
        )
        .into_response(),
    }
}

/// The largest request body the emulator reads. Databricks documents no gateway-wide body limit,
/// only per-field ones (a statement's 16 MiB of text, an import's 10 MB of content), which have
/// their own errors; this is set above what those fields allow once JSON-encoded (a statement
/// doubles at worst for ordinary SQL quoting, an import grows by a third in base64), so those
/// limits, not the web framework's 2 MB default, are what refuse an oversized request.
pub const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Every route, with auth, behind the configured fault injection.
pub fn router(workspace: Shared) -> Router {
    let faults = workspace.config.faults.clone();
    let router = Router::new()
        .merge(identity::routes())
        .merge(workspace::routes())
        .merge(catalog::routes())
        .merge(pipelines::routes())
        .merge(genie::routes())
        .merge(zerobus_ingest::routes())
        .fallback(|request: Request| async move {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "ENDPOINT_NOT_FOUND",
                format!(
                    "No API found for '{} {}'",
                    request.method(),
                    request.uri().path()
                ),
            )
        })
        .layer(middleware::from_fn_with_state(
            workspace.clone(),
            authenticate,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
        .with_state(workspace);
    match faults {
        Some(faults) => router.layer(middleware::from_fn_with_state(
            crate::faults::FaultLayer {
                faults,
                error_body: fault_error_body,
            },
            crate::faults::inject,
        )),
        None => router,
    }
}

/// Injected failures in Databricks' error shape, with the codes its gateway uses.
fn fault_error_body(status: StatusCode, message: &str) -> Response {
    let code = match status.as_u16() {
        404 => "RESOURCE_DOES_NOT_EXIST",
        429 => "REQUEST_LIMIT_EXCEEDED",
        503 => "TEMPORARILY_UNAVAILABLE",
        _ => "INTERNAL_ERROR",
    };
    ApiError::new(status, code, message).into_response()
}

/// An emulator running on its own thread and tokio runtime (in-process use).
pub struct RunningEmulator {
    pub url: String,
    pub workspace: Shared,
    _server: crate::server::BackgroundServer,
    /// The data folder's lock, released after the server has stopped (fields drop in order).
    _folder: Option<FolderLock>,
}

/// Binds 127.0.0.1:`port` and serves until the returned handle is dropped.
pub fn start(config: EmulatorConfig) -> Result<RunningEmulator, StartEmulatorError> {
    let port = config.port;
    let workspace = Arc::new(Workspace::open(config)?);
    let (listener, url) = crate::server::bind_loopback(port)
        .map_err(|source| StartEmulatorError::Bind { port, source })?;
    let _ = workspace.base_url.set(url.clone());
    let app = router(workspace.clone());
    let follower = Box::pin(pipelines::follow(Arc::downgrade(&workspace)));
    Ok(RunningEmulator {
        url,
        workspace,
        _server: crate::server::serve_in_background_with(
            "databricks-emulator",
            listener,
            app,
            vec![follower],
        ),
        _folder: None,
    })
}

/// The file in the data folder that records the folder's port.
pub const PORT_FILE: &str = "port";

/// Serves `config.data_dir` as [`crate::data_folder`] lays down: on the folder's own port (or
/// on `config.port` when it is not 0) once no other process serves the folder, or through the
/// standing server that serves it already.
pub fn serve_folder(
    config: EmulatorConfig,
    claim: &Claim<'_>,
) -> Result<Serving<RunningEmulator>, StartEmulatorError> {
    let tenancy = match data_folder::claim(&config.data_dir, PORT_FILE, config.port, claim)? {
        Claimed::Shared(holder) => return Ok(Serving::Shared(holder)),
        Claimed::Own(tenancy) => tenancy,
    };
    let workspace = Arc::new(Workspace::open(config)?);
    let _ = workspace.base_url.set(tenancy.url.clone());
    let app = router(workspace.clone());
    let follower = Box::pin(pipelines::follow(Arc::downgrade(&workspace)));
    Ok(Serving::Own(RunningEmulator {
        url: tenancy.url,
        workspace,
        _server: crate::server::serve_in_background_with(
            "databricks-emulator",
            tenancy.listener,
            app,
            vec![follower],
        ),
        _folder: Some(tenancy.lock),
    }))
}

/// Milliseconds since the epoch, as Databricks timestamps are.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// 32 lowercase hex characters, like Genie space and message ids.
pub fn hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A JSON body whose rejection is a Databricks error body (400 `MALFORMED_REQUEST`), not the web
/// framework's plain text, as clients parse error bodies.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            // Unverified shape: the HTTP status every front end uses, with the error code
            // Databricks gives its other size refusals ("BAD_REQUEST", "Size exceeds ... bytes").
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "BAD_REQUEST",
                    format!(
                        "The request body exceeds the limit of {MAX_REQUEST_BODY_BYTES} bytes."
                    ),
                ))
            }
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "MALFORMED_REQUEST",
                rejection.body_text(),
            )),
        }
    }
}

/// Query parameters whose rejection is a Databricks error body (400 `INVALID_PARAMETER_VALUE`).
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for Params<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}
