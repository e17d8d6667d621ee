//! The Ignition 8.3 gateway emulator: an axum app serving the gateway HTTP API routes `lode`'s
//! Ignition provider calls (`/StatusPing`, `/data/api/v1/...`, the Zerobus module's servlet at
//! `/system/zerobus/*`) with the real gateway's JSON shapes, status codes and awkward parts.
//! Its storage is a real 8.3 gateway data directory (`projects/`, `config/resources/...`), so
//! the `files` transport and the REST transport meet the same bytes. Like the real gateway it
//! serves a *loaded view* (`scan`): what it read at start or at its last scan, not what is on
//! disk now.

pub mod clock;
pub mod gateway;
pub mod live_tags;
pub mod projects;
pub mod resources;
pub mod scan;
pub mod scripting;
pub mod tag_events;
pub mod tags;
pub mod zerobus;
pub mod zerobus_stream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use lode_wire::ignition::data_dir::DataDirError;

use crate::data_folder::{self, Claim, ClaimFolderError, Claimed, FolderLock, Serving};

/// How to run the gateway emulator.
#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    /// A real 8.3 gateway data directory: `projects/`, `config/resources/<collection>/...`.
    pub data_dir: PathBuf,
    /// The API token clients must send, `name:secret`.
    pub token: String,
    /// A token (`name:secret`) allowed to read but refused (403) on writes, like a key whose
    /// security levels are in the gateway's Read list but not in its Write list.
    pub read_only_token: Option<String>,
    /// 0: the data directory's own port ([`serve_folder`]), or any free port ([`start`]).
    pub port: u16,
    /// Faults to inject into requests (`LODE_EMULATOR_FAULTS`); none by default.
    pub faults: Option<Arc<crate::faults::Faults>>,
    /// A live gateway runs its projects' timer and tag change scripts ([`scripting`]), and its
    /// Zerobus connector streams the selected tags' changes to Databricks when its stored
    /// configuration is enabled ([`zerobus_stream`]). The in-process emulators of ordinary
    /// commands (`lode plan`, `lode apply`) are not live: they only store the settings.
    pub live: bool,
    /// How a live gateway runs scripts: time limit, deterministic mode.
    pub scripts: scripting::ScriptOptions,
}

/// Shared state of one running gateway.
pub struct Gateway {
    pub config: GatewayConfig,
    /// When the emulator started, for `overview.uptime`.
    pub started_ms: i64,
    /// What the gateway has loaded; every API read and write goes through this lock (see
    /// [`Gateway::view`]), which also serialises writes to the data directory.
    view: Mutex<scan::LoadedView>,
    /// Counts the changes of `view`, so that what is derived from it (the run-time tag table,
    /// the script runtime) knows when to follow.
    view_generation: AtomicU64,
    pub scans: Mutex<scan::ScanState>,
    pub zerobus: zerobus::ZerobusStore,
    /// The Zerobus connector's running stream, when the gateway is live.
    pub zerobus_stream: zerobus_stream::ZerobusStream,
    /// Every run-time change of a tag's value (see [`tag_events`]).
    pub tag_events: tag_events::TagEvents,
    /// The run-time values of the tags (see [`live_tags`]).
    pub live_tags: live_tags::LiveTags,
    /// What scripts and the script runtime logged (see [`scripting::log`]).
    pub script_log: scripting::log::ScriptLog,
    /// The run-time clock: the system's, or a virtual one in deterministic mode.
    pub clock: clock::Clock,
    /// `http://127.0.0.1:port`, known once bound.
    pub base_url: OnceLock<String>,
}

pub type Shared = Arc<Gateway>;

/// Why the gateway emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartGatewayError {
    #[error("cannot use the gateway data directory {path}: {source}")]
    Data {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error(transparent)]
    Folder(#[from] ClaimFolderError),
    #[error(transparent)]
    Scripts(#[from] scripting::StartScriptRuntimeError),
}

/// The script runtime a live gateway runs; none for one that is not live.
fn scripts_of(gateway: &Shared) -> Result<Option<scripting::ScriptRuntime>, StartGatewayError> {
    if !gateway.config.live {
        return Ok(None);
    }
    Ok(Some(scripting::ScriptRuntime::start(gateway.clone())?))
}

impl Gateway {
    /// Opens the data directory (seeding a fresh one like a newly installed gateway) and loads
    /// its view, as the gateway does when it starts.
    pub fn open(config: GatewayConfig) -> Result<Gateway, StartGatewayError> {
        let data = |source| StartGatewayError::Data {
            path: config.data_dir.clone(),
            source,
        };
        std::fs::create_dir_all(&config.data_dir).map_err(data)?;
        scan::seed_fresh(&config.data_dir).map_err(data)?;
        let view = scan::LoadedView::load(&config.data_dir).map_err(data)?;
        let zerobus = zerobus::ZerobusStore::open(&config.data_dir).map_err(data)?;
        let now = now_ms();
        let clock = match config.scripts.deterministic {
            Some(deterministic) => clock::Clock::virtual_at(deterministic.start_ms),
            None => clock::Clock::System,
        };
        Ok(Gateway {
            started_ms: now,
            view: Mutex::new(view),
            view_generation: AtomicU64::new(0),
            scans: Mutex::new(scan::ScanState::new(now)),
            zerobus,
            zerobus_stream: Default::default(),
            tag_events: tag_events::TagEvents::default(),
            live_tags: live_tags::LiveTags::default(),
            script_log: scripting::log::ScriptLog::default(),
            clock,
            base_url: OnceLock::new(),
            config,
        })
    }

    /// The name part of the API token: the actor the gateway records for API writes.
    pub fn token_name(&self) -> String {
        self.config
            .token
            .split_once(':')
            .map(|(name, _)| name)
            .unwrap_or(&self.config.token)
            .to_string()
    }

    /// The loaded view, locked. Changing it (any mutable use) counts as a new generation
    /// once the lock is released.
    pub fn view(&self) -> ViewGuard<'_> {
        ViewGuard {
            view: self.view.lock().expect("gateway view lock"),
            generation: &self.view_generation,
            changed: false,
        }
    }

    /// How many times the loaded view has changed.
    pub fn view_generation(&self) -> u64 {
        self.view_generation.load(Ordering::SeqCst)
    }

    /// Starts the Zerobus stream the stored configuration asks for, as the module does when the
    /// gateway starts. Runs inside the gateway's runtime.
    pub fn start_zerobus_stream(&self) {
        self.zerobus
            .apply_to(&self.zerobus_stream, self.config.live, &self.tag_events);
    }
}

/// The locked loaded view; a mutable use of it bumps the view's generation when the lock is
/// released, so every change a scan, a restart, an import or a resource write makes is seen.
pub struct ViewGuard<'a> {
    view: MutexGuard<'a, scan::LoadedView>,
    generation: &'a AtomicU64,
    changed: bool,
}

impl std::ops::Deref for ViewGuard<'_> {
    type Target = scan::LoadedView;

    fn deref(&self) -> &scan::LoadedView {
        &self.view
    }
}

impl std::ops::DerefMut for ViewGuard<'_> {
    fn deref_mut(&mut self) -> &mut scan::LoadedView {
        self.changed = true;
        &mut self.view
    }
}

impl Drop for ViewGuard<'_> {
    fn drop(&mut self) {
        // Before the lock is released: whoever reads the new generation then finds the
        // changed view behind the lock.
        if self.changed {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The work a gateway does besides answering requests: the Zerobus stream of a live gateway.
fn background_tasks(gateway: &Shared) -> Vec<crate::server::BackgroundTask> {
    let gateway = gateway.clone();
    vec![Box::pin(async move { gateway.start_zerobus_stream() })]
}

/// An error in the shape the gateway's data API answers with:
/// `{"success": false, "problem": {"message", "stacktrace"}}` and an HTTP status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({
                "success": false,
                "problem": {"message": self.message, "stacktrace": []},
            })),
        )
            .into_response()
    }
}

impl From<DataDirError> for ApiError {
    fn from(error: DataDirError) -> ApiError {
        ApiError::internal(error.to_string())
    }
}

impl From<std::io::Error> for ApiError {
    fn from(error: std::io::Error) -> ApiError {
        ApiError::internal(error.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Parses a JSON request body; the gateway answers unparseable bodies with 400.
pub fn parse_body(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Unable to parse request body as JSON: {e}")))
}

/// A JSON response written the way the gateway's Gson writes it (HTML-safe escapes).
pub fn gson_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        scan::gson_string(value, false),
    )
        .into_response()
}

/// The `{items, metadata}` envelope of every 8.3 list route, applying its `limit` (`-1` = all),
/// `offset` and `search` (a case-insensitive substring of the item's name) parameters.
pub fn envelope(items: Vec<Value>, query: &HashMap<String, String>) -> Value {
    let total = items.len();
    let search = query
        .get("search")
        .map(|s| s.to_lowercase())
        .filter(|s| !s.is_empty());
    let matching: Vec<Value> = items
        .into_iter()
        .filter(|item| {
            let Some(search) = &search else { return true };
            let name = item
                .get("name")
                .and_then(Value::as_str)
                .or(item.as_str())
                .unwrap_or("");
            name.to_lowercase().contains(search)
        })
        .collect();
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(-1);
    let offset = query
        .get("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let count = matching.len();
    let page: Vec<Value> = matching
        .into_iter()
        .skip(offset)
        .take(if limit < 0 {
            usize::MAX
        } else {
            limit as usize
        })
        .collect();
    json!({
        "items": page,
        "metadata": {"total": total, "matching": count, "limit": limit, "offset": offset},
    })
}

/// What the request presented as its API token, from either header the gateway's
/// documentation mentions (`X-Ignition-API-Token`, or `Authorization: Bearer`).
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-ignition-api-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        })
        .map(str::trim)
}

/// API-token auth on `/data/**` and on the emulator's own operator routes
/// (`/system/lode-emulator/**`): 401 without a valid token, 403 when a read-only token asks
/// for a change. `/StatusPing`, the OpenAPI document and the Zerobus servlet (whose handler has
/// no auth check) are open.
async fn authenticate(
    State(gateway): State<Shared>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !path.starts_with("/data/") && !path.starts_with(live_tags::OPERATOR_PREFIX) {
        return next.run(request).await;
    }
    let token = presented_token(&headers);
    let full = token.is_some_and(|t| t == gateway.config.token);
    let read_only = token.is_some_and(|t| gateway.config.read_only_token.as_deref() == Some(t));
    if !full && !read_only {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            if token.is_some() {
                "Invalid API token"
            } else {
                "Unauthorized: an API token is required (X-Ignition-API-Token)"
            },
        )
        .into_response();
    }
    let mutating = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !full && mutating {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "The API token's security levels do not meet the gateway's Write permission",
        )
        .into_response();
    }
    next.run(request).await
}

/// The largest request body the emulator takes. The gateway's web server (Jetty) sets no small
/// limit on the raw bodies of project and tag imports (a project zip of views runs to tens of
/// megabytes), so the web framework's 2 MB default, which answered 413 to a large tag import,
/// is lifted; the real gateway's own ceiling is not documented (unverified), and this one only
/// keeps a runaway client from exhausting memory.
pub const MAX_REQUEST_BODY_BYTES: usize = 512 * 1024 * 1024;

/// Every route, with auth, behind the configured fault injection.
pub fn router(gateway: Shared) -> Router {
    let faults = gateway.config.faults.clone();
    let router = Router::new()
        .merge(gateway::routes())
        .merge(scan::routes())
        .merge(projects::routes())
        .merge(resources::routes())
        .merge(tags::routes())
        .merge(zerobus::routes())
        .merge(live_tags::routes())
        .fallback(|request: Request| async move {
            ApiError::not_found(format!(
                "No route for {} {}",
                request.method(),
                request.uri().path()
            ))
        })
        .layer(middleware::from_fn_with_state(
            gateway.clone(),
            authenticate,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
        .with_state(gateway);
    match faults {
        Some(faults) => router.layer(middleware::from_fn_with_state(
            crate::faults::FaultLayer {
                faults,
                error_body: |status, message| ApiError::new(status, message).into_response(),
            },
            crate::faults::inject,
        )),
        None => router,
    }
}

/// A gateway emulator running on its own thread and tokio runtime (in-process use); dropping
/// it stops the server.
pub struct RunningGateway {
    pub url: String,
    pub gateway: Shared,
    /// The script runtime of a live gateway; stopped first when the gateway stops.
    pub scripts: Option<scripting::ScriptRuntime>,
    _server: crate::server::BackgroundServer,
    /// The data directory's lock, released after the server has stopped (fields drop in order).
    _folder: Option<FolderLock>,
}

/// Binds 127.0.0.1:`port` and serves until the returned handle is dropped.
pub fn start(config: GatewayConfig) -> Result<RunningGateway, StartGatewayError> {
    let port = config.port;
    let (listener, url) = crate::server::bind_loopback(port)
        .map_err(|source| StartGatewayError::Bind { port, source })?;
    let gateway = Arc::new(Gateway::open(config)?);
    let _ = gateway.base_url.set(url.clone());
    let app = router(gateway.clone());
    let tasks = background_tasks(&gateway);
    Ok(RunningGateway {
        url,
        scripts: scripts_of(&gateway)?,
        gateway,
        _server: crate::server::serve_in_background_with("ignition-emulator", listener, app, tasks),
        _folder: None,
    })
}

/// The file in the data directory that records the directory's port (a dot file, which the
/// gateway's own loaders skip).
pub const PORT_FILE: &str = ".emulator-port";

/// Serves `config.data_dir` as [`crate::data_folder`] lays down: on the directory's own port
/// (or on `config.port` when it is not 0) once no other process serves it, or through the
/// standing server that serves it already.
pub fn serve_folder(
    config: GatewayConfig,
    claim: &Claim<'_>,
) -> Result<Serving<RunningGateway>, StartGatewayError> {
    let tenancy = match data_folder::claim(&config.data_dir, PORT_FILE, config.port, claim)? {
        Claimed::Shared(holder) => return Ok(Serving::Shared(holder)),
        Claimed::Own(tenancy) => tenancy,
    };
    let gateway = Arc::new(Gateway::open(config)?);
    let _ = gateway.base_url.set(tenancy.url.clone());
    let app = router(gateway.clone());
    let tasks = background_tasks(&gateway);
    Ok(Serving::Own(RunningGateway {
        url: tenancy.url,
        scripts: scripts_of(&gateway)?,
        gateway,
        _server: crate::server::serve_in_background_with(
            "ignition-emulator",
            tenancy.listener,
            app,
            tasks,
        ),
        _folder: Some(tenancy.lock),
    }))
}

/// Milliseconds since the epoch, as the gateway reports times.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A gateway on a private copy of the fixture data directory, and request helpers.

    use std::path::{Path, PathBuf};

    use super::{GatewayConfig, RunningGateway, start};

    pub const TOKEN: &str = "lode:secret-key";
    pub const READ_ONLY: &str = "viewer:read-only-key";

    pub fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/ignition-83-gateway")
    }

    pub fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    /// A running gateway on a copy of the fixture (or an empty directory).
    pub fn gateway(with_fixture: bool) -> (tempfile::TempDir, RunningGateway) {
        let dir = tempfile::tempdir().unwrap();
        if with_fixture {
            copy_dir(&fixture(), dir.path());
        }
        let running = start(GatewayConfig {
            data_dir: dir.path().to_path_buf(),
            token: TOKEN.into(),
            read_only_token: Some(READ_ONLY.into()),
            port: 0,
            ..Default::default()
        })
        .unwrap();
        (dir, running)
    }

    pub fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::new()
    }

    pub fn get(gateway: &RunningGateway, path: &str) -> reqwest::blocking::Response {
        client()
            .get(format!("{}{path}", gateway.url))
            .header("X-Ignition-API-Token", TOKEN)
            .send()
            .unwrap()
    }

    pub fn get_json(gateway: &RunningGateway, path: &str) -> serde_json::Value {
        let response = get(gateway, path);
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().unwrap()
    }

    pub fn send(
        gateway: &RunningGateway,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::blocking::Response {
        let request = client()
            .request(method, format!("{}{path}", gateway.url))
            .header("X-Ignition-API-Token", TOKEN);
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
        .send()
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    use super::test_support::*;

    #[test]
    fn status_ping_is_open_and_data_routes_need_a_token() {
        let (_dir, gateway) = gateway(true);
        let ping: serde_json::Value = client()
            .get(format!("{}/StatusPing", gateway.url))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(ping, serde_json::json!({"state": "RUNNING"}));

        let url = format!("{}/data/api/v1/gateway-info", gateway.url);
        let none = client().get(&url).send().unwrap();
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
        let wrong = client()
            .get(&url)
            .header("X-Ignition-API-Token", "lode:wrong")
            .send()
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let bearer = client().get(&url).bearer_auth(TOKEN).send().unwrap();
        assert_eq!(bearer.status(), StatusCode::OK);
        let basic = client()
            .get(&url)
            .basic_auth("admin", Some("password"))
            .send()
            .unwrap();
        assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

        // A read-only token reads, but is refused on any change.
        let read = client()
            .get(format!("{}/data/api/v1/projects/list", gateway.url))
            .header("X-Ignition-API-Token", READ_ONLY)
            .send()
            .unwrap();
        assert_eq!(read.status(), StatusCode::OK);
        let write = client()
            .post(format!("{}/data/api/v1/scan/projects", gateway.url))
            .header("X-Ignition-API-Token", READ_ONLY)
            .send()
            .unwrap();
        assert_eq!(write.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn everything_persists_in_the_data_directory() {
        let (dir, gateway) = gateway(false);
        let created = send(
            &gateway,
            reqwest::Method::POST,
            "/data/api/v1/projects",
            Some(serde_json::json!({"name": "Mining"})),
        );
        assert_eq!(created.status(), StatusCode::OK);
        let saved = client()
            .post(format!("{}/system/zerobus/config", gateway.url))
            .json(&serde_json::json!({"targetTable": "a.b.c"}))
            .send()
            .unwrap();
        assert_eq!(saved.status(), StatusCode::OK);
        drop(gateway);
        let again = super::start(super::GatewayConfig {
            data_dir: dir.path().to_path_buf(),
            token: TOKEN.into(),
            read_only_token: None,
            port: 0,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            get_json(&again, "/data/api/v1/projects/names")["items"],
            serde_json::json!(["Mining"])
        );
        let config: serde_json::Value = client()
            .get(format!("{}/system/zerobus/config", again.url))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(config["targetTable"], "a.b.c");
    }

    #[test]
    fn the_port_is_remembered_per_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let config = super::GatewayConfig {
            data_dir: dir.path().to_path_buf(),
            token: TOKEN.into(),
            read_only_token: None,
            port: 0,
            ..Default::default()
        };
        let claim = crate::data_folder::Claim {
            command: "test".into(),
            standing: false,
            offer_to_others: false,
            wait: std::time::Duration::ZERO,
            on_wait: &|_| {},
        };
        let own = |serving| match serving {
            crate::data_folder::Serving::Own(running) => running,
            crate::data_folder::Serving::Shared(holder) => panic!("shared {holder:?}"),
        };
        let first = own(super::serve_folder(config.clone(), &claim).unwrap());
        let url = first.url.clone();
        drop(first);
        let second = own(super::serve_folder(config, &claim).unwrap());
        assert_eq!(second.url, url);
    }
}
