//! Fault injection for both emulators: what a real network and a busy service do to requests,
//! on purpose and repeatably, so lode's retries, lookups after uncertain creates and crash
//! recovery are exercised by tests and by people trying the local environment.
//!
//! `LODE_EMULATOR_FAULTS` turns it on for the in-process emulators and for `lode emulator
//! serve`: `error_rate=0.1,drop_rate=0.05,latency_ms=20,seed=7`, or `file=faults.yaml` for
//! rules per route (see `docs/reliability.md`). Each request draws from a generator seeded by
//! `seed` and the request's sequence number, so a run with one client is repeatable.
//!
//! What each fault looks like to a client:
//! - `latency_ms`: every request waits this long first.
//! - `error_rate`: answered 500, 503 or 429 (a third each) before anything is done; 503 and
//!   429 carry `Retry-After: retry_after_s`. `rate_500`, `rate_503`, `rate_429` set one each.
//! - `disk_full_rate`: a request that would write (any method but GET and HEAD) is answered as
//!   when the system's disk is full, before anything is done: HTTP 500 whose message carries the
//!   operating system's `No space left on device (os error 28)`, in the emulator's error shape.
//!   Both emulators answer a real full disk that way (their file writes fail with that error),
//!   and so does an Ignition gateway (its Java `IOException` message). It does not heal.
//! - `reset_rate`: the connection is cut before the request is processed.
//! - `drop_rate`: the request is processed, then the connection is cut before the answer
//!   arrives, so the client cannot know whether its change happened.
//! - `not_found_after_create`: the share of created pipelines and Genie spaces whose first read
//!   by id answers 404, as an eventually consistent store does.
//! - `slow_sql_ms`: SQL statements take this long; past the client's `wait_timeout` (or
//!   `sql_hold_ms`, a busy warehouse that answers sooner) the answer is `PENDING` and polling
//!   reports `RUNNING` until the time is up.
//!
//! A cut connection is a response whose body fails after the status line: the server closes
//! the connection and the client sees an incomplete answer, as it would after a reset.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;

/// The environment variable both emulators read.
pub const FAULTS_VARIABLE: &str = "LODE_EMULATOR_FAULTS";

/// Creates whose first read may answer 404: (collection path, id field of the answer).
const EVENTUALLY_CONSISTENT_CREATES: &[(&str, &str)] = &[
    ("/api/2.0/pipelines", "pipeline_id"),
    ("/api/2.0/genie/spaces", "space_id"),
];

const STATEMENTS: &str = "/api/2.0/sql/statements";

/// Why a fault specification was refused.
#[derive(Debug, thiserror::Error)]
pub enum FaultSpecError {
    #[error("{FAULTS_VARIABLE}: `{item}` is not KEY=VALUE")]
    NotKeyValue { item: String },
    #[error("{FAULTS_VARIABLE}: unknown key `{key}` (known: {known})")]
    UnknownKey { key: String, known: String },
    #[error("{FAULTS_VARIABLE}: `{key}={value}`: {why}")]
    BadValue {
        key: String,
        value: String,
        why: String,
    },
    #[error("cannot read the fault file {path}: {message}")]
    File { path: String, message: String },
}

/// What to do to requests; in a file every field is optional, and a route's rule overrides the
/// defaults field by field.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSettings {
    pub latency_ms: Option<u64>,
    pub error_rate: Option<f64>,
    pub rate_500: Option<f64>,
    pub rate_503: Option<f64>,
    pub rate_429: Option<f64>,
    pub retry_after_s: Option<f64>,
    pub disk_full_rate: Option<f64>,
    pub reset_rate: Option<f64>,
    pub drop_rate: Option<f64>,
    pub not_found_after_create: Option<f64>,
    pub slow_sql_ms: Option<u64>,
    pub sql_hold_ms: Option<u64>,
}

const KEYS: &[&str] = &[
    "seed",
    "file",
    "latency_ms",
    "error_rate",
    "rate_500",
    "rate_503",
    "rate_429",
    "retry_after_s",
    "disk_full_rate",
    "reset_rate",
    "drop_rate",
    "not_found_after_create",
    "slow_sql_ms",
    "sql_hold_ms",
];

impl FaultSettings {
    fn overridden_by(&self, rule: &FaultSettings) -> FaultSettings {
        FaultSettings {
            latency_ms: rule.latency_ms.or(self.latency_ms),
            error_rate: rule.error_rate.or(self.error_rate),
            rate_500: rule.rate_500.or(self.rate_500),
            rate_503: rule.rate_503.or(self.rate_503),
            rate_429: rule.rate_429.or(self.rate_429),
            retry_after_s: rule.retry_after_s.or(self.retry_after_s),
            disk_full_rate: rule.disk_full_rate.or(self.disk_full_rate),
            reset_rate: rule.reset_rate.or(self.reset_rate),
            drop_rate: rule.drop_rate.or(self.drop_rate),
            not_found_after_create: rule.not_found_after_create.or(self.not_found_after_create),
            slow_sql_ms: rule.slow_sql_ms.or(self.slow_sql_ms),
            sql_hold_ms: rule.sql_hold_ms.or(self.sql_hold_ms),
        }
    }

    /// The probability of each injected status; `error_rate` is shared out where a status has
    /// no rate of its own.
    fn status_rates(&self) -> [(u16, f64); 3] {
        let share = self.error_rate.unwrap_or(0.0) / 3.0;
        [
            (500, self.rate_500.unwrap_or(share)),
            (503, self.rate_503.unwrap_or(share)),
            (429, self.rate_429.unwrap_or(share)),
        ]
    }

    fn validate(&self) -> Result<(), FaultSpecError> {
        let rates = [
            ("error_rate", self.error_rate),
            ("rate_500", self.rate_500),
            ("rate_503", self.rate_503),
            ("rate_429", self.rate_429),
            ("disk_full_rate", self.disk_full_rate),
            ("reset_rate", self.reset_rate),
            ("drop_rate", self.drop_rate),
            ("not_found_after_create", self.not_found_after_create),
        ];
        for (key, rate) in rates {
            if let Some(rate) = rate
                && !(0.0..=1.0).contains(&rate)
            {
                return Err(FaultSpecError::BadValue {
                    key: key.into(),
                    value: rate.to_string(),
                    why: "a rate is between 0 and 1".into(),
                });
            }
        }
        if let Some(wait) = self.retry_after_s
            && !(wait.is_finite() && wait >= 0.0)
        {
            return Err(FaultSpecError::BadValue {
                key: "retry_after_s".into(),
                value: wait.to_string(),
                why: "seconds are 0 or more".into(),
            });
        }
        Ok(())
    }
}

/// One rule of a fault file: requests whose method and path match get these settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// `GET`, `POST`, ...; any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// An exact path, or a prefix ending in `*` (`/api/2.0/pipelines*`).
    pub path: String,
    #[serde(flatten)]
    pub settings: FaultSettings,
}

impl RouteRule {
    fn matches(&self, method: &Method, path: &str) -> bool {
        let method_matches = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()));
        let path_matches = match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.path,
        };
        method_matches && path_matches
    }
}

/// A fault file (`file=PATH`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultFile {
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    default: FaultSettings,
    #[serde(default)]
    routes: Vec<RouteRule>,
}

/// How many faults of each kind were injected (read by tests and logged by the emulators).
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub disk_full: AtomicU64,
    pub resets: AtomicU64,
    pub drops: AtomicU64,
    pub not_found: AtomicU64,
    pub slow_statements: AtomicU64,
}

impl FaultCounts {
    pub fn injected(&self) -> u64 {
        [
            &self.errors,
            &self.disk_full,
            &self.resets,
            &self.drops,
            &self.not_found,
            &self.slow_statements,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

/// How an emulator writes an error body: each system has its own shape.
pub type ErrorBody = fn(StatusCode, &str) -> Response;

/// The faults one emulator injects.
#[derive(Debug)]
pub struct Faults {
    seed: u64,
    default: FaultSettings,
    routes: Vec<RouteRule>,
    sequence: AtomicU64,
    pub counts: FaultCounts,
    /// Paths of created objects whose first read has not happened yet.
    unseen_creates: Mutex<std::collections::HashSet<String>>,
    /// Finished statements still reported as running, until their time is up.
    slow_statements: Mutex<HashMap<String, Instant>>,
}

impl Faults {
    /// `KEY=VALUE,...` as in `LODE_EMULATOR_FAULTS`; `file=PATH` reads a fault file, whose
    /// defaults the other keys override.
    pub fn parse(spec: &str) -> Result<Faults, FaultSpecError> {
        let mut file = FaultFile::default();
        let mut settings = FaultSettings::default();
        let mut seed = None;
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| FaultSpecError::NotKeyValue { item: item.into() })?;
            let bad = |why: &str| FaultSpecError::BadValue {
                key: key.into(),
                value: value.into(),
                why: why.into(),
            };
            let number = || value.parse::<f64>().map_err(|_| bad("not a number"));
            let whole = || {
                value
                    .parse::<u64>()
                    .map_err(|_| bad("not a whole number of 0 or more"))
            };
            match key {
                "seed" => seed = Some(whole()?),
                "file" => file = read_fault_file(value)?,
                "latency_ms" => settings.latency_ms = Some(whole()?),
                "error_rate" => settings.error_rate = Some(number()?),
                "rate_500" => settings.rate_500 = Some(number()?),
                "rate_503" => settings.rate_503 = Some(number()?),
                "rate_429" => settings.rate_429 = Some(number()?),
                "retry_after_s" => settings.retry_after_s = Some(number()?),
                "disk_full_rate" => settings.disk_full_rate = Some(number()?),
                "reset_rate" => settings.reset_rate = Some(number()?),
                "drop_rate" => settings.drop_rate = Some(number()?),
                "not_found_after_create" => settings.not_found_after_create = Some(number()?),
                "slow_sql_ms" => settings.slow_sql_ms = Some(whole()?),
                "sql_hold_ms" => settings.sql_hold_ms = Some(whole()?),
                _ => {
                    return Err(FaultSpecError::UnknownKey {
                        key: key.into(),
                        known: KEYS.join(", "),
                    });
                }
            }
        }
        let default = file.default.overridden_by(&settings);
        default.validate()?;
        for rule in &file.routes {
            rule.settings.validate()?;
        }
        Ok(Faults {
            seed: seed.or(file.seed).unwrap_or(0),
            default,
            routes: file.routes,
            sequence: AtomicU64::new(0),
            counts: FaultCounts::default(),
            unseen_creates: Mutex::default(),
            slow_statements: Mutex::default(),
        })
    }

    /// The faults `LODE_EMULATOR_FAULTS` asks for; `None` when unset or empty.
    pub fn from_env() -> Result<Option<Arc<Faults>>, FaultSpecError> {
        match std::env::var(FAULTS_VARIABLE) {
            Ok(spec) if !spec.trim().is_empty() => Ok(Some(Arc::new(Faults::parse(&spec)?))),
            _ => Ok(None),
        }
    }

    fn settings_for(&self, method: &Method, path: &str) -> FaultSettings {
        match self.routes.iter().find(|r| r.matches(method, path)) {
            Some(rule) => self.default.overridden_by(&rule.settings),
            None => self.default.clone(),
        }
    }

    /// The next uniform draw in [0, 1): SplitMix64 of the seed and a sequence number.
    fn draw(&self) -> f64 {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let mut z = self
            .seed
            .wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn read_fault_file(path: &str) -> Result<FaultFile, FaultSpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| FaultSpecError::File {
        path: path.into(),
        message: e.to_string(),
    })?;
    serde_saphyr::from_str(&text).map_err(|e| FaultSpecError::File {
        path: path.into(),
        message: e.to_string(),
    })
}

/// The state the fault middleware needs: the faults and the emulator's error shape.
#[derive(Clone)]
pub struct FaultLayer {
    pub faults: Arc<Faults>,
    pub error_body: ErrorBody,
}

/// A response whose body breaks off: the client sees the connection cut.
fn cut_connection() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection cut by the emulator's fault injection",
        ))
    });
    Response::new(Body::from_stream(stream))
}

/// The middleware: wraps every route of an emulator.
pub async fn inject(State(layer): State<FaultLayer>, request: Request, next: Next) -> Response {
    let faults = &layer.faults;
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let settings = faults.settings_for(&method, &path);
    faults.counts.requests.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(%method, %path, "emulator request");
    if let Some(ms) = settings.latency_ms.filter(|ms| *ms > 0) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    let mut roll = faults.draw();
    if roll < settings.reset_rate.unwrap_or(0.0) {
        faults.counts.resets.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%method, %path, "emulator fault: connection reset before processing");
        return cut_connection();
    }
    roll -= settings.reset_rate.unwrap_or(0.0);
    if method != Method::GET && method != Method::HEAD {
        let rate = settings.disk_full_rate.unwrap_or(0.0);
        if roll < rate {
            faults.counts.disk_full.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%method, %path, "emulator fault: disk full");
            return (layer.error_body)(
                StatusCode::INTERNAL_SERVER_ERROR,
                "No space left on device (os error 28) (injected fault)",
            );
        }
        roll -= rate;
    }
    for (status, rate) in settings.status_rates() {
        if roll < rate {
            faults.counts.errors.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%method, %path, status, "emulator fault: error answer");
            return error_answer(&layer, status, &settings);
        }
        roll -= rate;
    }

    if method == Method::GET
        && let Some(response) = unseen_create(&layer, &path, &settings)
    {
        return response;
    }
    if let Some(response) = still_running_statement(faults, &method, &path) {
        return response;
    }

    let slow_sql = (method == Method::POST && path == STATEMENTS)
        .then_some(settings.slow_sql_ms)
        .flatten()
        .filter(|ms| *ms > 0);
    let (request, wait_timeout) = match slow_sql {
        Some(_) => requested_wait_timeout(request).await,
        None => (request, None),
    };
    let response = next.run(request).await;

    let response = match slow_sql {
        Some(ms) => {
            let hold = match (wait_timeout, settings.sql_hold_ms) {
                (Some(wait), Some(hold)) => Some(wait.min(Duration::from_millis(hold))),
                (None, Some(hold)) => Some(Duration::from_millis(hold)),
                (wait, None) => wait,
            };
            slow_statement(faults, response, Duration::from_millis(ms), hold).await
        }
        None => response,
    };
    let response = if method == Method::POST {
        remember_create(faults, &path, response, &settings).await
    } else {
        response
    };
    if faults.draw() < settings.drop_rate.unwrap_or(0.0) {
        faults.counts.drops.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%method, %path, status = response.status().as_u16(),
            "emulator fault: answer dropped after processing");
        return cut_connection();
    }
    response
}

fn error_answer(layer: &FaultLayer, status: u16, settings: &FaultSettings) -> Response {
    let status = StatusCode::from_u16(status).expect("injected statuses are valid");
    let message = match status.as_u16() {
        429 => "Too many requests. Please wait a moment and try again. (injected fault)",
        503 => "The service is temporarily unavailable. (injected fault)",
        _ => "An internal error occurred. (injected fault)",
    };
    let mut response = (layer.error_body)(status, message);
    if status != StatusCode::INTERNAL_SERVER_ERROR {
        let seconds = settings.retry_after_s.unwrap_or(1.0);
        if let Ok(value) = HeaderValue::from_str(&format!("{seconds}")) {
            response.headers_mut().insert("retry-after", value);
        }
    }
    response
}

/// The first read of a freshly created object may not find it yet.
fn unseen_create(layer: &FaultLayer, path: &str, settings: &FaultSettings) -> Option<Response> {
    let faults = &layer.faults;
    let first_read = faults
        .unseen_creates
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(path);
    if !first_read || faults.draw() >= settings.not_found_after_create.unwrap_or(0.0) {
        return None;
    }
    faults.counts.not_found.fetch_add(1, Ordering::Relaxed);
    tracing::info!(%path, "emulator fault: 404 on the first read after a create");
    Some((layer.error_body)(
        StatusCode::NOT_FOUND,
        &format!(
            "Resource {path} does not exist. (injected fault: not yet visible after its create)"
        ),
    ))
}

async fn remember_create(
    faults: &Faults,
    path: &str,
    response: Response,
    settings: &FaultSettings,
) -> Response {
    let Some((_, id_field)) = EVENTUALLY_CONSISTENT_CREATES
        .iter()
        .find(|(collection, _)| *collection == path)
    else {
        return response;
    };
    if settings.not_found_after_create.unwrap_or(0.0) <= 0.0 || !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return cut_connection();
    };
    if let Some(id) = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get(*id_field)
                .and_then(|id| id.as_str())
                .map(str::to_string)
        })
    {
        faults
            .unseen_creates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(format!("{path}/{id}"));
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Reads the statement request's `wait_timeout` (`0s`, `5s`..`50s`; default 10 s) and gives
/// the request back whole.
async fn requested_wait_timeout(request: Request) -> (Request, Option<Duration>) {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let wait = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("wait_timeout")
                .and_then(|w| w.as_str())
                .map(str::to_string)
        })
        .and_then(|w| w.strip_suffix('s').and_then(|s| s.parse::<u64>().ok()))
        .map(Duration::from_secs);
    (Request::from_parts(parts, Body::from(bytes)), wait)
}

/// A statement that takes `slow`: within the client's wait it is simply late; past it the
/// client gets `PENDING` and must poll until the time is up.
async fn slow_statement(
    faults: &Faults,
    response: Response,
    slow: Duration,
    wait_timeout: Option<Duration>,
) -> Response {
    faults
        .counts
        .slow_statements
        .fetch_add(1, Ordering::Relaxed);
    let wait = wait_timeout.unwrap_or(Duration::from_secs(10));
    if slow <= wait || !response.status().is_success() {
        tokio::time::sleep(slow).await;
        return response;
    }
    tokio::time::sleep(wait).await;
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return cut_connection();
    };
    let Some(id) = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("statement_id")
                .and_then(|id| id.as_str())
                .map(str::to_string)
        })
    else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    faults
        .slow_statements
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), Instant::now() + (slow - wait));
    tracing::info!(statement_id = %id, "emulator fault: slow statement reported PENDING");
    json_response(serde_json::json!({"statement_id": id, "status": {"state": "PENDING"}}))
}

/// While a slow statement's time is not up, polling it answers `RUNNING`.
fn still_running_statement(faults: &Faults, method: &Method, path: &str) -> Option<Response> {
    if method != Method::GET {
        return None;
    }
    let id = path.strip_prefix(STATEMENTS)?.strip_prefix('/')?;
    if id.contains('/') {
        return None;
    }
    let mut slow = faults
        .slow_statements
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let ready = *slow.get(id)?;
    if Instant::now() >= ready {
        slow.remove(id);
        return None;
    }
    Some(json_response(
        serde_json::json!({"statement_id": id, "status": {"state": "RUNNING"}}),
    ))
}

fn json_response(value: serde_json::Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let faults = Faults::parse("error_rate=0.1,drop_rate=0.05,latency_ms=20,seed=7").unwrap();
        assert_eq!(faults.seed, 7);
        assert_eq!(faults.default.latency_ms, Some(20));
        assert_eq!(faults.default.drop_rate, Some(0.05));
        let rates = faults.default.status_rates();
        assert!((rates.iter().map(|(_, r)| r).sum::<f64>() - 0.1).abs() < 1e-12);
    }

    #[test]
    fn refuses_unknown_keys_bad_values_and_rates_outside_0_to_1() {
        let message = Faults::parse("eror_rate=0.1").unwrap_err().to_string();
        assert!(message.contains("unknown key `eror_rate`"), "{message}");
        assert!(message.contains("error_rate"), "{message}");
        let message = Faults::parse("latency_ms=fast").unwrap_err().to_string();
        assert!(message.contains("latency_ms=fast"), "{message}");
        let message = Faults::parse("drop_rate=1.5").unwrap_err().to_string();
        assert!(message.contains("between 0 and 1"), "{message}");
        assert!(matches!(
            Faults::parse("seed"),
            Err(FaultSpecError::NotKeyValue { .. })
        ));
    }

    #[test]
    fn a_route_rule_overrides_the_defaults_field_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("faults.yaml");
        std::fs::write(
            &file,
            "seed: 3\ndefault:\n  latency_ms: 5\nroutes:\n  - method: POST\n    path: /api/2.0/pipelines*\n    drop_rate: 1\n",
        )
        .unwrap();
        let faults = Faults::parse(&format!("file={},latency_ms=9", file.display())).unwrap();
        assert_eq!(faults.seed, 3);
        let post = faults.settings_for(&Method::POST, "/api/2.0/pipelines");
        assert_eq!((post.latency_ms, post.drop_rate), (Some(9), Some(1.0)));
        let get = faults.settings_for(&Method::GET, "/api/2.0/pipelines/x");
        assert_eq!((get.latency_ms, get.drop_rate), (Some(9), None));
    }

    #[test]
    fn draws_are_uniform_enough_and_repeat_for_a_seed() {
        let a = Faults::parse("seed=42").unwrap();
        let b = Faults::parse("seed=42").unwrap();
        let draws: Vec<f64> = (0..10_000).map(|_| a.draw()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        assert_eq!(
            draws[..50],
            (0..50).map(|_| b.draw()).collect::<Vec<_>>()[..]
        );
        let below_tenth = draws.iter().filter(|d| **d < 0.1).count();
        assert!((800..1200).contains(&below_tenth), "{below_tenth}");
    }
}
