//! The one HTTP client every Databricks call goes through. It owns what each call needs and no
//! caller should repeat: the bearer token (a PAT, or an OAuth M2M token fetched, cached and
//! refreshed here), the client-side rate limit, retries with `Retry-After` within a time budget,
//! turning the workspace's several error body shapes into one `ApiError`, pagination, and the
//! SQL Statement Execution dance (submit, poll, fetch chunks, and treat HTTP 200 + `FAILED` as
//! the failure it is). It is blocking because lode's providers run on plain threads; all waiting
//! goes through a `Clock` so tests of backoff and expiry run instantly and deterministically.
//! Create and drop it outside any async runtime (reqwest's blocking client insists).

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::{Credentials, ResolvedAuth};
use crate::provider::retry::{self, Failure, RateLimiter, Unrecoverable};
pub use crate::provider::retry::{Clock, SystemClock};

const STATEMENTS: &str = "/api/2.0/sql/statements";
const OIDC_DISCOVERY: &str = "/oidc/.well-known/oauth-authorization-server";
/// An OAuth token with less than this left is replaced before use, so it cannot expire in
/// flight (the SDKs use a similar margin).
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Assumed lifetime of a token whose response has no `expires_in`; a 401 still forces a refresh.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest error message kept from a response body; HTML error pages can be huge.
const MAX_MESSAGE_CHARS: usize = 2000;

/// Tunables; the defaults are the Databricks SDKs' (60 s per request, 5 min of retrying,
/// 15 requests per second).
#[derive(Clone)]
pub struct ClientOptions {
    /// Per HTTP request, connect to last byte.
    pub timeout: Duration,
    /// How long one call may keep retrying, measured from its first attempt.
    pub retry_budget: Duration,
    /// Requests per second across all threads sharing the client; `0` or infinite disables it.
    pub rate_limit_per_second: f64,
    pub clock: Arc<dyn Clock>,
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            timeout: Duration::from_secs(60),
            retry_budget: Duration::from_secs(300),
            rate_limit_per_second: 15.0,
            clock: Arc::new(SystemClock),
            user_agent: format!("lode/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("timeout", &self.timeout)
            .field("retry_budget", &self.retry_budget)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

/// Whether sending a POST twice is harmless. It decides if a POST is retried after a transport
/// error or a 502/504, where the first attempt may already have taken effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    Idempotent,
    NotIdempotent,
}

/// One SQL statement to run on a warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SqlRequest {
    pub warehouse_id: String,
    pub statement: String,
    pub catalog: Option<String>,
    pub schema: Option<String>,
    /// Named parameters for `:name` markers, all typed STRING; `None` binds NULL.
    pub parameters: Vec<(String, Option<String>)>,
    /// Running the statement twice ends as running it once (a `MERGE` by key, `CREATE ...
    /// IF NOT EXISTS`, a read), so a submission whose answer was lost may be sent again.
    pub idempotent: bool,
}

/// A finished statement's result, every value as the API sends it (string or NULL).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SqlResult {
    pub statement_id: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl SqlResult {
    /// The value in `row` under `column`, if both exist and the value is not NULL.
    pub fn value(&self, row: usize, column: &str) -> Option<&str> {
        let index = self.columns.iter().position(|c| c == column)?;
        self.rows.get(row)?.get(index)?.as_deref()
    }
}

/// Why a Databricks API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{method} {path} failed with HTTP {status} {error_code}: {message}")]
    Http {
        method: &'static str,
        path: String,
        status: u16,
        error_code: String,
        message: String,
    },

    #[error(
        "{method} {path} failed: {} (HTTP {status} {error_code}: {message}); nothing more was \
         retried, as waiting does not change that",
        cause.describe("the workspace")
    )]
    Unrecoverable {
        method: &'static str,
        path: String,
        status: u16,
        error_code: String,
        message: String,
        cause: Unrecoverable,
    },

    #[error("{method} {path} got no answer from the workspace: {message}")]
    Transport {
        method: &'static str,
        path: String,
        message: String,
    },

    #[error(
        "SQL statement {statement_id} failed with {error_code}{}: {message}",
        sql_state.as_deref().map(|s| format!(" (SQLSTATE {s})")).unwrap_or_default()
    )]
    Sql {
        statement_id: String,
        error_code: String,
        message: String,
        sql_state: Option<String>,
    },

    #[error("{what} did not finish within {}s", after.as_secs_f64())]
    Timeout { what: String, after: Duration },

    #[error(
        "{method} {path} still failing after {attempts} attempts, which used up the retry \
         budget; last failure: {last}"
    )]
    RetryBudgetExhausted {
        method: &'static str,
        path: String,
        attempts: u32,
        last: String,
    },

    #[error("unexpected response from {path}: {message}")]
    Decode { path: String, message: String },

    #[error("OAuth sign-in failed: {0}")]
    Auth(#[from] TokenError),

    #[error("could not set up the HTTP client: {message}")]
    Setup { message: String },
}

impl ApiError {
    /// The HTTP status, for errors that got one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Http { status, .. } | ApiError::Unrecoverable { status, .. } => Some(*status),
            ApiError::Auth(TokenError::Rejected { status, .. }) => Some(*status),
            _ => None,
        }
    }

    /// The object is not there: an HTTP 404 (except `ENDPOINT_NOT_FOUND`, which means the URL
    /// itself is wrong), or a SQL error whose class ends in `_NOT_FOUND`
    /// (`[TABLE_OR_VIEW_NOT_FOUND]`, `[SCHEMA_NOT_FOUND]`, ...).
    pub fn is_not_found(&self) -> bool {
        match self {
            ApiError::Http {
                status: 404,
                error_code,
                ..
            } => error_code != "ENDPOINT_NOT_FOUND",
            ApiError::Sql { .. } => self
                .sql_error_class()
                .is_some_and(|class| class.ends_with("_NOT_FOUND")),
            _ => false,
        }
    }

    /// The request may or may not have been carried out: no complete answer came, or the server
    /// failed (500, 502, 504) without saying what it did. A create that ends this way must be
    /// looked for before it is sent again.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            ApiError::Transport { .. } | ApiError::Timeout { .. } => true,
            ApiError::Http { status, .. } => matches!(status, 500 | 502 | 504),
            _ => false,
        }
    }

    /// `RESOURCE_DOES_NOT_EXIST`, `BAD_REQUEST`, ...: the body's code, or one derived from the
    /// status when the body had none.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            ApiError::Http { error_code, .. }
            | ApiError::Unrecoverable { error_code, .. }
            | ApiError::Sql { error_code, .. } => Some(error_code),
            ApiError::Auth(TokenError::Rejected { error_code, .. }) => Some(error_code),
            _ => None,
        }
    }

    /// For SQL failures, the Spark error class from the message (`TABLE_OR_VIEW_NOT_FOUND` for
    /// `[TABLE_OR_VIEW_NOT_FOUND] The table ...`), which is more telling than `error_code`.
    pub fn sql_error_class(&self) -> Option<&str> {
        let ApiError::Sql { message, .. } = self else {
            return None;
        };
        let start = message.find('[')? + 1;
        let len = message[start..].find(']')?;
        let class = &message[start..start + len];
        let class = class.split('.').next().unwrap_or(class);
        (!class.is_empty() && class.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
            .then_some(class)
    }
}

/// Why an OAuth M2M token could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "could not find the workspace's OAuth token endpoint at {url}: {message}; check the \
         host, or use a personal access token instead"
    )]
    Discovery { url: String, message: String },

    #[error(
        "the token endpoint refused the service principal (HTTP {status} {error_code}: \
         {message}); check DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET (or the profile's \
         client_id / client_secret) and that the principal belongs to this workspace"
    )]
    Rejected {
        status: u16,
        error_code: String,
        message: String,
    },

    #[error("the token endpoint answered without a usable access token: {message}")]
    Malformed { message: String },
}

/// A cached OAuth access token. Not `Debug`, so it cannot be printed by accident.
struct CachedToken {
    access_token: String,
    expires_at: Instant,
}

#[derive(Default)]
struct OAuthState {
    token_endpoint: Option<String>,
    token: Option<CachedToken>,
}

/// A blocking Databricks REST client; share it between threads by reference or `Arc`.
pub struct DatabricksClient {
    host: String,
    credentials: Credentials,
    http: reqwest::blocking::Client,
    options: ClientOptions,
    limiter: RateLimiter,
    requests: AtomicU64,
    /// Held while a token is fetched, so parallel callers wait for one fetch instead of each
    /// starting their own.
    oauth: Mutex<OAuthState>,
}

impl fmt::Debug for DatabricksClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabricksClient")
            .field("host", &self.host)
            .field("credentials", &self.credentials)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// How a request proves who sends it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sign {
    /// API calls: `Authorization: Bearer`.
    Bearer,
    /// The OAuth token request: HTTP Basic with the client id and secret.
    ClientBasic,
    /// OIDC discovery is public.
    Anonymous,
}

enum Payload {
    Empty,
    Json(Vec<u8>),
    Bytes(Vec<u8>),
    Form(&'static [(&'static str, &'static str)]),
}

/// One logical call, which may take several attempts.
struct Call<'a> {
    method: Method,
    method_name: &'static str,
    url: String,
    /// Shown in errors and logs: the path without host or query.
    path: &'a str,
    query: &'a [(&'a str, String)],
    payload: Payload,
    idempotent: bool,
    sign: Sign,
}

/// A response that arrived in full.
struct Answer {
    status: u16,
    reason: &'static str,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl DatabricksClient {
    pub fn new(auth: ResolvedAuth, options: ClientOptions) -> Result<DatabricksClient, ApiError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(30)))
            .user_agent(options.user_agent.clone())
            // API calls are never redirected by a healthy workspace; a redirect usually means
            // a login page, which is better reported than followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ApiError::Setup {
                message: error_chain(&e),
            })?;
        Ok(DatabricksClient {
            host: auth.host.trim_end_matches('/').to_string(),
            credentials: auth.credentials,
            http,
            limiter: RateLimiter::new(options.rate_limit_per_second),
            options,
            requests: AtomicU64::new(0),
            oauth: Mutex::new(OAuthState::default()),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Every HTTP request sent so far, retries and token requests included.
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ApiError> {
        let body = self.execute(&self.call(Method::GET, path, query, Payload::Empty, true))?;
        decode(path, &body)
    }

    /// Like `get`, but a missing object is `None` instead of an error.
    pub fn get_optional<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, ApiError> {
        match self.get(path, query) {
            Ok(value) => Ok(Some(value)),
            Err(e) if matches!(e, ApiError::Http { .. }) && e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads an object known to exist (just created, or just listed): a 404 is the store not
    /// having caught up yet, so it is asked again a few times (0.25 s, 0.5 s, 1 s, 2 s) before
    /// the object is believed gone. Trusting the first 404 would make a lookup miss an object
    /// and create it twice.
    pub fn get_visible<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, ApiError> {
        let mut wait = Duration::from_millis(250);
        for _ in 0..4 {
            if let Some(found) = self.get_optional(path, query)? {
                return Ok(Some(found));
            }
            tracing::info!(path, "not found right after it was seen; asking again");
            self.options.clock.sleep(wait);
            wait *= 2;
        }
        self.get_optional(path, query)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        idempotent: Idempotency,
    ) -> Result<T, ApiError> {
        let payload = json_payload(path, body)?;
        let call = self.call(
            Method::POST,
            path,
            &[],
            payload,
            idempotent == Idempotency::Idempotent,
        );
        decode(path, &self.execute(&call)?)
    }

    pub fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let payload = json_payload(path, body)?;
        decode(
            path,
            &self.execute(&self.call(Method::PUT, path, &[], payload, true))?,
        )
    }

    pub fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let payload = json_payload(path, body)?;
        decode(
            path,
            &self.execute(&self.call(Method::PATCH, path, &[], payload, true))?,
        )
    }

    /// Deletes; whatever the response body holds is ignored. A missing object is an error the
    /// caller can recognise with `is_not_found`.
    pub fn delete(&self, path: &str, query: &[(&str, String)]) -> Result<(), ApiError> {
        self.execute(&self.call(Method::DELETE, path, query, Payload::Empty, true))
            .map(drop)
    }

    /// The raw body of a GET (Files API downloads).
    pub fn get_bytes(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<u8>, ApiError> {
        self.execute(&self.call(Method::GET, path, query, Payload::Empty, true))
    }

    /// PUTs raw bytes as `application/octet-stream` (Files API uploads); the response body is
    /// ignored.
    pub fn put_bytes(
        &self,
        path: &str,
        query: &[(&str, String)],
        bytes: Vec<u8>,
    ) -> Result<(), ApiError> {
        self.execute(&self.call(Method::PUT, path, query, Payload::Bytes(bytes), true))
            .map(drop)
    }

    /// Follows next_page_token → page_token until absent/empty; collects `items_field` arrays.
    pub fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        items_field: &str,
    ) -> Result<Vec<T>, ApiError> {
        let mut items = Vec::new();
        let mut page_token: Option<String> = None;
        // A server that hands back a token it already gave would make this loop forever.
        let mut seen_tokens = HashSet::new();
        loop {
            let mut page_query: Vec<(&str, String)> = query
                .iter()
                .filter(|(key, _)| *key != "page_token")
                .cloned()
                .collect();
            if let Some(token) = &page_token {
                page_query.push(("page_token", token.clone()));
            }
            let mut page: Value = self.get(path, &page_query)?;
            match page.get_mut(items_field).map(Value::take) {
                None | Some(Value::Null) => {}
                Some(Value::Array(array)) => {
                    for item in array {
                        items.push(serde_json::from_value(item).map_err(|e| ApiError::Decode {
                            path: path.to_string(),
                            message: format!("an item of `{items_field}`: {e}"),
                        })?);
                    }
                }
                Some(_) => {
                    return Err(ApiError::Decode {
                        path: path.to_string(),
                        message: format!("`{items_field}` is not an array"),
                    });
                }
            }
            match page
                .get("next_page_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                Some(next) => {
                    if !seen_tokens.insert(next.to_string()) {
                        return Err(ApiError::Decode {
                            path: path.to_string(),
                            message: "the server repeated a page token".to_string(),
                        });
                    }
                    page_token = Some(next.to_string());
                }
                None => return Ok(items),
            }
        }
    }

    /// POST /api/2.0/sql/statements (wait_timeout 30s, on_wait_timeout CONTINUE), then poll
    /// GET /api/2.0/sql/statements/{id} with backoff until SUCCEEDED / FAILED / CANCELED /
    /// CLOSED, fetching further result chunks (GET .../result/chunks/{n}) while
    /// `next_chunk_index` is present. HTTP 200 with state FAILED is `ApiError::Sql` carrying
    /// error_code, the SQL error message (which holds the error class like
    /// `[TABLE_OR_VIEW_NOT_FOUND]`) and sql_state. A statement still running after `timeout`
    /// is cancelled (best effort) and reported as `ApiError::Timeout`.
    pub fn execute_sql(
        &self,
        request: &SqlRequest,
        timeout: Duration,
    ) -> Result<SqlResult, ApiError> {
        let started = self.options.clock.now();
        // The server may hold the POST for wait_timeout; keep that well inside the HTTP
        // timeout and the caller's timeout. The API accepts 0s or 5s..50s.
        let wait_secs = timeout
            .as_secs()
            .min(30)
            .min(self.options.timeout.as_secs().saturating_sub(10));
        let wait_timeout = if wait_secs >= 5 {
            format!("{wait_secs}s")
        } else {
            "0s".to_string()
        };
        let mut body = Map::new();
        body.insert("warehouse_id".into(), request.warehouse_id.clone().into());
        body.insert("statement".into(), request.statement.clone().into());
        if let Some(catalog) = &request.catalog {
            body.insert("catalog".into(), catalog.clone().into());
        }
        if let Some(schema) = &request.schema {
            body.insert("schema".into(), schema.clone().into());
        }
        if !request.parameters.is_empty() {
            let parameters = request
                .parameters
                .iter()
                .map(|(name, value)| {
                    let mut parameter = Map::new();
                    parameter.insert("name".into(), name.clone().into());
                    // An omitted value binds NULL.
                    if let Some(value) = value {
                        parameter.insert("value".into(), value.clone().into());
                    }
                    Value::Object(parameter)
                })
                .collect();
            body.insert("parameters".into(), Value::Array(parameters));
        }
        body.insert("wait_timeout".into(), wait_timeout.into());
        body.insert("on_wait_timeout".into(), "CONTINUE".into());
        body.insert("disposition".into(), "INLINE".into());
        body.insert("format".into(), "JSON_ARRAY".into());

        // Only statements the caller vouches for are sent again after a lost answer: repeating
        // an INSERT would insert twice.
        let idempotency = if request.idempotent {
            Idempotency::Idempotent
        } else {
            Idempotency::NotIdempotent
        };
        let mut response: StatementResponse =
            self.post(STATEMENTS, &Value::Object(body), idempotency)?;
        let statement_id = response
            .statement_id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| ApiError::Decode {
                path: STATEMENTS.to_string(),
                message: "no statement_id in the response".to_string(),
            })?;
        let statement_path = format!("{STATEMENTS}/{}", encode_path_segment(&statement_id));

        let mut poll_interval = Duration::from_millis(500);
        loop {
            let state = response
                .status
                .as_ref()
                .and_then(|s| s.state.clone())
                .unwrap_or_default();
            match state.as_str() {
                "SUCCEEDED" | "CLOSED" => {
                    return self.collect_result(&statement_id, &statement_path, &state, response);
                }
                "FAILED" | "CANCELED" => {
                    return Err(sql_failure(&statement_id, &state, response.status));
                }
                // PENDING, RUNNING, or a state this client does not know yet: keep waiting.
                _ => {}
            }
            let elapsed = self.options.clock.now().saturating_duration_since(started);
            if elapsed >= timeout {
                self.cancel_statement(&statement_path);
                return Err(ApiError::Timeout {
                    what: format!("SQL statement {statement_id}"),
                    after: timeout,
                });
            }
            self.options
                .clock
                .sleep(poll_interval.min(timeout - elapsed));
            poll_interval = (poll_interval * 3 / 2).min(Duration::from_secs(5));
            response = self.get(&statement_path, &[])?;
        }
    }

    fn collect_result(
        &self,
        statement_id: &str,
        statement_path: &str,
        state: &str,
        response: StatementResponse,
    ) -> Result<SqlResult, ApiError> {
        let manifest = response.manifest.unwrap_or_default();
        let columns = manifest
            .schema
            .map(|s| s.columns.into_iter().map(|c| c.name).collect())
            .unwrap_or_default();
        let mut rows = Vec::new();
        let mut next_chunk = match response.result {
            Some(data) => {
                rows.extend(data.data_array.into_iter().map(cells));
                data.next_chunk_index
            }
            // A succeeded statement whose first chunk was not inlined; CLOSED results are gone.
            None if state == "SUCCEEDED" && manifest.total_chunk_count.unwrap_or(0) > 0 => Some(0),
            None => None,
        };
        let mut fetched = HashSet::new();
        while let Some(index) = next_chunk {
            if !fetched.insert(index) {
                return Err(ApiError::Decode {
                    path: statement_path.to_string(),
                    message: format!("result chunk {index} was announced twice"),
                });
            }
            let data: ResultData =
                self.get(&format!("{statement_path}/result/chunks/{index}"), &[])?;
            rows.extend(data.data_array.into_iter().map(cells));
            next_chunk = data.next_chunk_index;
        }
        Ok(SqlResult {
            statement_id: statement_id.to_string(),
            columns,
            rows,
        })
    }

    /// Best effort: the statement has already failed the caller; this only stops it from
    /// running on for nothing.
    fn cancel_statement(&self, statement_path: &str) {
        let path = format!("{statement_path}/cancel");
        let result: Result<Value, ApiError> =
            self.post(&path, &Map::new(), Idempotency::Idempotent);
        if let Err(e) = result {
            tracing::warn!(path = %path, error = %e, "could not cancel a timed-out statement");
        }
    }

    fn call<'a>(
        &self,
        method: Method,
        path: &'a str,
        query: &'a [(&'a str, String)],
        payload: Payload,
        idempotent: bool,
    ) -> Call<'a> {
        Call {
            method_name: method_name(&method),
            method,
            url: format!("{}{path}", self.host),
            path,
            query,
            payload,
            idempotent,
            sign: Sign::Bearer,
        }
    }

    /// Sends `call` until it succeeds, fails in a way that must not be retried, or the retry
    /// budget would be overrun by the next wait. Returns the body of a 2xx response.
    fn execute(&self, call: &Call<'_>) -> Result<Vec<u8>, ApiError> {
        let clock = &*self.options.clock;
        let started = clock.now();
        let mut attempts: u32 = 0;
        let mut refreshed_token = false;
        loop {
            attempts += 1;
            let token = match call.sign {
                Sign::Bearer => Some(self.bearer_token()?),
                _ => None,
            };
            self.limiter.acquire(clock);
            let (wait, last) = match self.attempt(call, token.as_deref()) {
                Ok(answer) if (200..300).contains(&answer.status) => return Ok(answer.body),
                Ok(answer)
                    if answer.status == 401
                        && call.sign == Sign::Bearer
                        && matches!(self.credentials, Credentials::OAuthM2m { .. })
                        && !refreshed_token =>
                {
                    // The cached token may have been revoked or expired early: get a new one
                    // and try once more; a second 401 is reported.
                    refreshed_token = true;
                    self.forget_token();
                    tracing::warn!(
                        method = call.method_name,
                        path = call.path,
                        "HTTP 401 with a cached OAuth token; fetching a new token and retrying"
                    );
                    continue;
                }
                Ok(answer) => {
                    let (error_code, message) =
                        parse_error_body(answer.status, answer.reason, &answer.body);
                    if let Some(cause) =
                        retry::unrecoverable(answer.status, &format!("{error_code}: {message}"))
                    {
                        return Err(ApiError::Unrecoverable {
                            method: call.method_name,
                            path: call.path.to_string(),
                            status: answer.status,
                            error_code,
                            message,
                            cause,
                        });
                    }
                    if !retry::is_retryable(Failure::Status(answer.status), call.idempotent) {
                        return Err(ApiError::Http {
                            method: call.method_name,
                            path: call.path.to_string(),
                            status: answer.status,
                            error_code,
                            message,
                        });
                    }
                    let wait = if matches!(answer.status, 429 | 503) {
                        retry::retry_after(answer.retry_after.as_deref())
                    } else {
                        retry::backoff(attempts, call.path)
                    };
                    (
                        wait,
                        format!("HTTP {} {error_code}: {message}", answer.status),
                    )
                }
                Err(message) => {
                    if !retry::is_retryable(Failure::Transport, call.idempotent) {
                        return Err(ApiError::Transport {
                            method: call.method_name,
                            path: call.path.to_string(),
                            message,
                        });
                    }
                    (retry::backoff(attempts, call.path), message)
                }
            };
            let elapsed = clock.now().saturating_duration_since(started);
            if elapsed + wait > self.options.retry_budget {
                return Err(ApiError::RetryBudgetExhausted {
                    method: call.method_name,
                    path: call.path.to_string(),
                    attempts,
                    last,
                });
            }
            tracing::warn!(
                method = call.method_name,
                path = call.path,
                attempt = attempts,
                wait_ms = wait.as_millis() as u64,
                failure = %last,
                "retrying Databricks request"
            );
            clock.sleep(wait);
        }
    }

    /// One HTTP exchange. `Err` is a transport failure (no complete response), described.
    fn attempt(&self, call: &Call<'_>, token: Option<&str>) -> Result<Answer, String> {
        let mut request = self
            .http
            .request(call.method.clone(), &call.url)
            .header(ACCEPT, "application/json");
        if !call.query.is_empty() {
            request = request.query(call.query);
        }
        request = match &call.payload {
            Payload::Empty => request,
            Payload::Json(bytes) => request
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Payload::Bytes(bytes) => request
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(bytes.clone()),
            Payload::Form(fields) => request.form(fields),
        };
        request = match (call.sign, token, &self.credentials) {
            (Sign::Bearer, Some(token), _) => request.bearer_auth(token),
            (
                Sign::ClientBasic,
                _,
                Credentials::OAuthM2m {
                    client_id,
                    client_secret,
                },
            ) => request.basic_auth(client_id, Some(client_secret)),
            _ => request,
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = request.send().map_err(|e| self.describe_transport(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // A body cut off half-way is as much a transport failure as no response at all.
        let body = response
            .bytes()
            .map_err(|e| self.describe_transport(&e))?
            .to_vec();
        Ok(Answer {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or(""),
            retry_after,
            body,
        })
    }

    fn describe_transport(&self, error: &reqwest::Error) -> String {
        if error.is_timeout() {
            format!(
                "timed out after {}s ({})",
                self.options.timeout.as_secs_f64(),
                error_chain(error)
            )
        } else {
            error_chain(error)
        }
    }

    /// The bearer token for API calls: the PAT, or a cached OAuth token refreshed when fewer
    /// than 60 s remain.
    fn bearer_token(&self) -> Result<String, ApiError> {
        if let Credentials::Pat { token } = &self.credentials {
            return Ok(token.clone());
        }
        let mut state = self.oauth.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.options.clock.now();
        if let Some(cached) = &state.token
            && cached.expires_at.saturating_duration_since(now) > TOKEN_REFRESH_MARGIN
        {
            return Ok(cached.access_token.clone());
        }
        let endpoint = match &state.token_endpoint {
            Some(endpoint) => endpoint.clone(),
            None => {
                let endpoint = self.discover_token_endpoint()?;
                state.token_endpoint = Some(endpoint.clone());
                endpoint
            }
        };
        let token = self.fetch_token(&endpoint)?;
        let access_token = token.access_token.clone();
        state.token = Some(token);
        Ok(access_token)
    }

    fn forget_token(&self) {
        self.oauth.lock().unwrap_or_else(|e| e.into_inner()).token = None;
    }

    fn discover_token_endpoint(&self) -> Result<String, ApiError> {
        let url = format!("{}{OIDC_DISCOVERY}", self.host);
        let call = Call {
            method: Method::GET,
            method_name: "GET",
            url: url.clone(),
            path: OIDC_DISCOVERY,
            query: &[],
            payload: Payload::Empty,
            idempotent: true,
            sign: Sign::Anonymous,
        };
        let discovery_error = |message: String| {
            ApiError::Auth(TokenError::Discovery {
                url: url.clone(),
                message,
            })
        };
        let body = match self.execute(&call) {
            Ok(body) => body,
            Err(e @ ApiError::Http { .. }) => return Err(discovery_error(e.to_string())),
            Err(e) => return Err(e),
        };
        let document: Value = serde_json::from_slice(&body)
            .map_err(|e| discovery_error(format!("not JSON ({e})")))?;
        document
            .get("token_endpoint")
            .and_then(Value::as_str)
            .filter(|e| e.starts_with("https://") || e.starts_with("http://"))
            .map(str::to_string)
            .ok_or_else(|| discovery_error("no token_endpoint URL in the document".to_string()))
    }

    fn fetch_token(&self, endpoint: &str) -> Result<CachedToken, ApiError> {
        let path = url::Url::parse(endpoint)
            .map(|u| u.path().to_string())
            .unwrap_or_else(|_| endpoint.to_string());
        let call = Call {
            method: Method::POST,
            method_name: "POST",
            url: endpoint.to_string(),
            path: &path,
            query: &[],
            payload: Payload::Form(&[("grant_type", "client_credentials"), ("scope", "all-apis")]),
            // Asking for a token twice only yields two tokens.
            idempotent: true,
            sign: Sign::ClientBasic,
        };
        let body = match self.execute(&call) {
            Ok(body) => body,
            Err(ApiError::Http {
                status,
                error_code,
                message,
                ..
            }) => {
                return Err(ApiError::Auth(TokenError::Rejected {
                    status,
                    error_code,
                    message,
                }));
            }
            Err(e) => return Err(e),
        };
        // Parsed by hand so that a decode error can never quote the token.
        let response: Value = serde_json::from_slice(&body).map_err(|_| TokenError::Malformed {
            message: "the response is not JSON".to_string(),
        })?;
        let access_token = response
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| TokenError::Malformed {
                message: "no access_token".to_string(),
            })?;
        if let Some(kind) = response.get("token_type").and_then(Value::as_str)
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(TokenError::Malformed {
                message: format!("token_type is `{kind}`, not Bearer"),
            }
            .into());
        }
        let lifetime = match response.get("expires_in") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        Ok(CachedToken {
            access_token: access_token.to_string(),
            expires_at: self.options.clock.now() + lifetime,
        })
    }
}

/// Percent-encodes one path segment (a statement id, a table's full name, a workspace path
/// piece), keeping only RFC 3986 unreserved characters as they are.
pub fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn method_name(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        _ => "REQUEST",
    }
}

fn json_payload<B: Serialize>(path: &str, body: &B) -> Result<Payload, ApiError> {
    serde_json::to_vec(body)
        .map(Payload::Json)
        .map_err(|e| ApiError::Decode {
            path: path.to_string(),
            message: format!("the request body cannot be written as JSON: {e}"),
        })
}

/// Decodes a 2xx body. Several endpoints answer with an empty body (cancel, some deletes), which
/// reads as `null` for `()`/`Option`/`Value` and as `{}` for structs whose fields all default.
fn decode<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, ApiError> {
    let result = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_str("null").or_else(|_| serde_json::from_str("{}"))
    } else {
        serde_json::from_slice(body)
    };
    result.map_err(|e| ApiError::Decode {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// Joins an error with its sources: reqwest's top-level message alone ("error sending request")
/// hides the useful part ("connection closed before message completed").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The code used when an error body carries none, after the SDKs' status mapping.
fn status_error_code(status: u16) -> String {
    match status {
        400 => "BAD_REQUEST",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "RESOURCE_CONFLICT",
        429 => "TOO_MANY_REQUESTS",
        499 => "CANCELLED",
        500 => "INTERNAL_ERROR",
        501 => "NOT_IMPLEMENTED",
        502 => "BAD_GATEWAY",
        503 => "TEMPORARILY_UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => return format!("HTTP_{status}"),
    }
    .to_string()
}

/// `(error_code, message)` from an error response, whichever of the workspace's shapes it has:
/// `{error_code, message, details}`, API 1.2 `{error}`, OAuth `{error, error_description}`,
/// bare `{message}`, SCIM `{detail, status, scimType}`, plain `CODE: message` text, an HTML page
/// with a `<pre>` block, or nothing (then the HTTP reason phrase).
fn parse_error_body(status: u16, reason: &str, body: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let fallback_message = if reason.is_empty() {
        format!("HTTP {status}")
    } else {
        reason.to_string()
    };
    if text.is_empty() {
        return (status_error_code(status), fallback_message);
    }
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) {
        let field = |key: &str| {
            map.get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let (oauth_code, oauth_message) = match (field("error"), field("error_description")) {
            (Some(code), Some(description)) => (Some(code), Some(description)),
            (error, _) => (None, error),
        };
        let code = field("error_code")
            .or(oauth_code)
            .or_else(|| field("scimType"))
            .unwrap_or_else(|| status_error_code(status));
        let message = field("message")
            .or(oauth_message)
            .or_else(|| field("detail"))
            .unwrap_or(fallback_message);
        return (code, truncate(&message));
    }
    let text = match (text.find("<pre>"), text.find("</pre>")) {
        (Some(start), Some(end)) if start + 5 <= end => text[start + 5..end].trim(),
        _ if text.starts_with('<') => return (status_error_code(status), fallback_message),
        _ => text,
    };
    if let Some((head, tail)) = text.split_once(':') {
        let head = head.trim();
        if !head.is_empty()
            && head
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            return (head.to_string(), truncate(tail.trim()));
        }
    }
    (status_error_code(status), truncate(text))
}

fn truncate(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_string(),
    }
}

fn sql_failure(statement_id: &str, state: &str, status: Option<StatementStatus>) -> ApiError {
    let status = status.unwrap_or_default();
    let error = status.error.unwrap_or_default();
    let (default_code, default_message) = if state == "CANCELED" {
        ("CANCELED", "the statement was canceled")
    } else {
        ("UNKNOWN", "the statement failed without a message")
    };
    ApiError::Sql {
        statement_id: statement_id.to_string(),
        error_code: error.error_code.unwrap_or_else(|| default_code.to_string()),
        message: error.message.unwrap_or_else(|| default_message.to_string()),
        sql_state: status.sql_state,
    }
}

/// One JSON_ARRAY row: values are strings or null; anything else is kept as its JSON text.
fn cells(row: Vec<Value>) -> Vec<Option<String>> {
    row.into_iter()
        .map(|value| match value {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
struct StatementResponse {
    #[serde(default)]
    statement_id: Option<String>,
    #[serde(default)]
    status: Option<StatementStatus>,
    #[serde(default)]
    manifest: Option<ResultManifest>,
    #[serde(default)]
    result: Option<ResultData>,
}

#[derive(Debug, Default, Deserialize)]
struct StatementStatus {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<ServiceError>,
    #[serde(default)]
    sql_state: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ServiceError {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ResultManifest {
    #[serde(default)]
    schema: Option<ResultSchema>,
    #[serde(default)]
    total_chunk_count: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct ResultSchema {
    #[serde(default)]
    columns: Vec<ColumnInfo>,
}

#[derive(Debug, Default, Deserialize)]
struct ColumnInfo {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
struct ResultData {
    #[serde(default)]
    data_array: Vec<Vec<Value>>,
    #[serde(default)]
    next_chunk_index: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    use serde_json::json;

    use super::super::test_server::{Reply, Seen, TestServer};

    const PAT: &str = "dapi-test-secret-token";

    /// Time that moves only when slept on or advanced, recording every sleep.
    struct FakeClock {
        start: Instant,
        elapsed: Mutex<Duration>,
        sleeps: Mutex<Vec<Duration>>,
    }

    impl FakeClock {
        fn new() -> Arc<FakeClock> {
            Arc::new(FakeClock {
                start: Instant::now(),
                elapsed: Mutex::new(Duration::ZERO),
                sleeps: Mutex::new(Vec::new()),
            })
        }

        fn advance(&self, by: Duration) {
            *self.elapsed.lock().unwrap() += by;
        }

        fn sleeps(&self) -> Vec<Duration> {
            self.sleeps.lock().unwrap().clone()
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.start + *self.elapsed.lock().unwrap()
        }

        fn sleep(&self, duration: Duration) {
            self.sleeps.lock().unwrap().push(duration);
            self.advance(duration);
        }
    }

    fn options(clock: &Arc<FakeClock>) -> ClientOptions {
        ClientOptions {
            timeout: Duration::from_secs(10),
            retry_budget: Duration::from_secs(300),
            // Off unless a test is about it, so recorded sleeps are only retry waits.
            rate_limit_per_second: f64::INFINITY,
            clock: clock.clone(),
            user_agent: "lode-test/1".to_string(),
        }
    }

    fn client_with(
        server: &TestServer,
        credentials: Credentials,
        options: ClientOptions,
    ) -> DatabricksClient {
        DatabricksClient::new(
            ResolvedAuth {
                host: server.base.clone(),
                credentials,
                warehouse_id: None,
                source: "test".to_string(),
            },
            options,
        )
        .unwrap()
    }

    fn pat_client(server: &TestServer, clock: &Arc<FakeClock>) -> DatabricksClient {
        client_with(
            server,
            Credentials::Pat {
                token: PAT.to_string(),
            },
            options(clock),
        )
    }

    /// Replies from `replies` in turn, repeating the last one.
    fn sequence(replies: Vec<Reply>) -> impl Fn(&Seen) -> Reply + Send + Sync {
        let next = AtomicUsize::new(0);
        move |_| {
            let index = next.fetch_add(1, Ordering::SeqCst).min(replies.len() - 1);
            replies[index].clone()
        }
    }

    #[test]
    fn sends_bearer_token_user_agent_and_json() {
        let server = TestServer::start(|seen| match seen.method.as_str() {
            "GET" => Reply::json(200, json!({"ok": true})),
            _ => Reply::json(200, json!({"pipeline_id": "p1"})),
        });
        let clock = FakeClock::new();
        let client = pat_client(&server, &clock);
        let value: Value = client
            .get("/api/2.0/pipelines/p1", &[("include", "a b".to_string())])
            .unwrap();
        assert_eq!(value, json!({"ok": true}));
        let created: Value = client
            .post(
                "/api/2.0/pipelines",
                &json!({"name": "scada"}),
                Idempotency::NotIdempotent,
            )
            .unwrap();
        assert_eq!(created["pipeline_id"], "p1");
        let seen = server.seen();
        assert_eq!(seen[0].header("authorization"), format!("Bearer {PAT}"));
        assert_eq!(seen[0].header("user-agent"), "lode-test/1");
        assert_eq!(seen[0].query, "include=a+b");
        assert_eq!(seen[1].header("content-type"), "application/json");
        assert_eq!(seen[1].json(), json!({"name": "scada"}));
        assert_eq!(client.request_count(), 2);
        assert!(clock.sleeps().is_empty());
    }

    #[test]
    fn retries_429_after_retry_after_even_for_a_non_idempotent_post() {
        let server = TestServer::start(sequence(vec![
            Reply::json(
                429,
                json!({"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}),
            )
            .header("retry-after", "3"),
            Reply::json(200, json!({"pipeline_id": "p1"})),
        ]));
        let clock = FakeClock::new();
        let client = pat_client(&server, &clock);
        let created: Value = client
            .post("/api/2.0/pipelines", &json!({}), Idempotency::NotIdempotent)
            .unwrap();
        assert_eq!(created["pipeline_id"], "p1");
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(3)]);
        assert_eq!(server.count(), 2);
    }

    #[test]
    fn retries_503_without_retry_after_after_one_second() {
        let server = TestServer::start(sequence(vec![
            Reply::text(503, ""),
            Reply::json(200, json!({})),
        ]));
        let clock = FakeClock::new();
        let client = pat_client(&server, &clock);
        let _: Value = client.get("/api/2.0/x", &[]).unwrap();
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(1)]);
        assert_eq!(server.count(), 2);
    }

    #[test]
    fn gives_up_when_the_next_wait_would_overrun_the_budget() {
        let server = TestServer::start(|_| {
            Reply::json(
                503,
                json!({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}),
            )
            .header("retry-after", "30")
        });
        let clock = FakeClock::new();
        let client = pat_client(&server, &clock);
        let err = client.get::<Value>("/api/2.0/x", &[]).unwrap_err();
        let ApiError::RetryBudgetExhausted { attempts, last, .. } = &err else {
            panic!("{err:?}");
        };
        // Ten 30 s waits fill the 5 min budget; the eleventh failure would overrun it.
        assert_eq!(*attempts, 11);
        assert_eq!(last, "HTTP 503 TEMPORARILY_UNAVAILABLE: busy");
        assert_eq!(
            clock.sleeps().iter().sum::<Duration>(),
            Duration::from_secs(300)
        );
        assert_eq!(server.count(), 11);
    }

    #[test]
    fn a_dropped_connection_is_retried_for_get_but_not_for_a_non_idempotent_post() {
        let server = TestServer::start(sequence(vec![
            Reply::Drop,
            Reply::json(200, json!({"ok": 1})),
        ]));
        let clock = FakeClock::new();
        let client = pat_client(&server, &clock);
        let err = client
            .post::<_, Value>("/api/2.0/pipelines", &json!({}), Idempotency::NotIdempotent)
            .unwrap_err();
        assert!(
            matches!(err, ApiError::Transport { method: "POST", .. }),
            "{err:?}"
        );
        assert_eq!(server.count(), 1);
        assert!(clock.sleeps().is_empty());

        let server = TestServer::start(sequence(vec![
            Reply::Drop,
            Reply::json(200, json!({"ok": 1})),
        ]));
        let client = pat_client(&server, &clock);
        let value: Value = client.get("/api/2.0/pipelines/p1", &[]).unwrap();
        assert_eq!(value["ok"], 1);
        assert_eq!(server.count(), 2);
        let sleeps = clock.sleeps();
        assert_eq!(sleeps.len(), 1);
        assert!(
            sleeps[0] >= Duration::from_secs(1) && sleeps[0] <= Duration::from_millis(1100),
            "{sleeps:?}"
        );

        // A POST marked idempotent is retried like a GET.
        let server = TestServer::start(sequence(vec![
            Reply::Drop,
            Reply::json(200, json!({"ok": 2})),
        ]));
        let client = pat_client(&server, &clock);
        let value: Value = client
            .post("/api/2.0/x/cancel", &json!({}), Idempotency::Idempotent)
            .unwrap();
        assert_eq!(value["ok"], 2);
    }

    #[test]
    fn a_full_disk_is_reported_at_once_even_for_a_call_safe_to_repeat() {
        let server = TestServer::start(|_| {
            Reply::json(
                500,
                json!({"error_code": "INTERNAL_ERROR", "message": "No space left on device (os error 28)"}),
            )
        });
        let clock = FakeClock::new();
        let client = pat_client(&server, &clock);
        let err = client
            .post::<_, Value>(
                "/api/2.0/workspace/import",
                &json!({}),
                Idempotency::Idempotent,
            )
            .unwrap_err();
        assert_eq!(server.count(), 1);
        assert!(clock.sleeps().is_empty());
        assert!(!err.outcome_unknown(), "the workspace said what failed");
        assert_eq!(err.status(), Some(500));
        let message = err.to_string();
        assert!(
            message.contains("the workspace's disk is full")
                && message.contains("No space left on device")
                && message.contains("nothing more was retried"),
            "{message}"
        );
    }

    #[test]
    fn server_errors_that_may_have_acted_are_not_retried_blindly() {
        // A read is safe to repeat: a 500 is tried again, then reported.
        let server = TestServer::start(sequence(vec![
            Reply::json(
                500,
                json!({"error_code": "INTERNAL_ERROR", "message": "boom"}),
            ),
            Reply::json(200, json!({"ok": 1})),
        ]));
        let clock = FakeClock::new();
        let client = pat_client(&server, &clock);
        let value: Value = client.get("/api/2.0/x", &[]).unwrap();
        assert_eq!(value["ok"], 1);
        assert_eq!(server.count(), 2);

        // A create is not: the server may have made the object before failing.
        let server = TestServer::start(|_| {
            Reply::json(
                500,
                json!({"error_code": "INTERNAL_ERROR", "message": "boom"}),
            )
        });
        let client = pat_client(&server, &clock);
        let err = client
            .post::<_, Value>("/api/2.0/x", &json!({}), Idempotency::NotIdempotent)
            .unwrap_err();
        assert_eq!(err.status(), Some(500));
        assert!(err.outcome_unknown());
        assert_eq!(server.count(), 1);

        let clock = FakeClock::new();
        let server = TestServer::start(|_| Reply::text(502, "Bad Gateway"));
        let client = pat_client(&server, &clock);
        let err = client
            .post::<_, Value>("/api/2.0/x", &json!({}), Idempotency::NotIdempotent)
            .unwrap_err();
        assert_eq!(err.status(), Some(502));
        assert_eq!(server.count(), 1);
        assert!(clock.sleeps().is_empty());
    }

    #[test]
    fn error_body_shapes() {
        let cases: &[(u16, &str, (&str, &str))] = &[
            (
                404,
                r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Path (/x) doesn't exist.","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"r"}]}"#,
                ("RESOURCE_DOES_NOT_EXIST", "Path (/x) doesn't exist."),
            ),
            (
                400,
                r#"{"error": "legacy message"}"#,
                ("BAD_REQUEST", "legacy message"),
            ),
            (
                404,
                r#"{"message": "No pipeline"}"#,
                ("NOT_FOUND", "No pipeline"),
            ),
            (
                404,
                r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"User not found","status":"404"}"#,
                ("NOT_FOUND", "User not found"),
            ),
            (
                401,
                r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
                ("invalid_client", "Client authentication failed"),
            ),
            (
                400,
                "INVALID_PARAMETER_VALUE: bad thing",
                ("INVALID_PARAMETER_VALUE", "bad thing"),
            ),
            (
                500,
                "<html><body><pre>INTERNAL_ERROR: oops</pre></body></html>",
                ("INTERNAL_ERROR", "oops"),
            ),
            (
                502,
                "<html><body>Bad gateway</body></html>",
                ("BAD_GATEWAY", "Bad Gateway"),
            ),
            (503, "", ("TEMPORARILY_UNAVAILABLE", "Service Unavailable")),
            (418, "some text", ("HTTP_418", "some text")),
        ];
        for (status, body, (code, message)) in cases {
            let reason = axum::http::StatusCode::from_u16(*status)
                .unwrap()
                .canonical_reason()
                .unwrap_or("");
            let parsed = parse_error_body(*status, reason, body.as_bytes());
            assert_eq!(parsed, (code.to_string(), message.to_string()), "{body}");
        }
    }

    #[test]
    fn not_found_handling() {
        let server = TestServer::start(|seen| match seen.path.as_str() {
            "/api/2.0/pipelines/gone" => Reply::json(
                404,
                json!({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Pipeline gone not found"}),
            ),
            "/api/2.0/genie/spaces/gone" => Reply::text(404, ""),
            _ => Reply::json(
                404,
                json!({"error_code": "ENDPOINT_NOT_FOUND", "message": "No API found"}),
            ),
        });
        let clock = FakeClock::new();
        let client = pat_client(&server, &clock);
        assert!(
            client
                .get_optional::<Value>("/api/2.0/pipelines/gone", &[])
                .unwrap()
                .is_none()
        );
        assert!(
            client
                .get_optional::<Value>("/api/2.0/genie/spaces/gone", &[])
                .unwrap()
                .is_none()
        );
        let err = client
            .get::<Value>("/api/2.0/pipelines/gone", &[])
            .unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(err.error_code(), Some("RESOURCE_DOES_NOT_EXIST"));
        assert_eq!(
            err.to_string(),
            "GET /api/2.0/pipelines/gone failed with HTTP 404 RESOURCE_DOES_NOT_EXIST: Pipeline gone not found"
        );
        // A wrong URL is a bug, not an absent object.
        let err = client
            .get_optional::<Value>("/api/2.0/typo", &[])
            .unwrap_err();
        assert!(!err.is_not_found());
        let err = client.delete("/api/2.0/pipelines/gone", &[]).unwrap_err();
        assert!(err.is_not_found());
    }

    #[test]
    fn list_all_follows_page_tokens() {
        let server = TestServer::start(|seen| {
            let token = seen
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page_token="))
                .unwrap_or("");
            match token {
                "" => Reply::json(
                    200,
                    json!({"tables": [{"name": "a"}, {"name": "b"}], "next_page_token": "p2"}),
                ),
                "p2" => Reply::json(
                    200,
                    json!({"tables": [{"name": "c"}], "next_page_token": "p3"}),
                ),
                "p3" => Reply::json(
                    200,
                    json!({"tables": [{"name": "d"}], "next_page_token": ""}),
                ),
                other => Reply::text(400, &format!("BAD_REQUEST: unknown token {other}")),
            }
        });
        let clock = FakeClock::new();
        let client = pat_client(&server, &clock);
        #[derive(Deserialize)]
        struct Table {
            name: String,
        }
        let tables: Vec<Table> = client
            .list_all(
                "/api/2.1/unity-catalog/tables",
                &[
                    ("catalog_name", "demo".to_string()),
                    ("schema_name", "scada".to_string()),
                ],
                "tables",
            )
            .unwrap();
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        let queries: Vec<String> = server.seen().into_iter().map(|s| s.query).collect();
        assert_eq!(
            queries,
            [
                "catalog_name=demo&schema_name=scada",
                "catalog_name=demo&schema_name=scada&page_token=p2",
                "catalog_name=demo&schema_name=scada&page_token=p3",
            ]
        );
    }

    #[test]
    fn execute_sql_polls_and_fetches_chunks() {
        let polls = Arc::new(AtomicUsize::new(0));
        let server_polls = polls.clone();
        let server = TestServer::start(move |seen| {
            match (seen.method.as_str(), seen.path.as_str()) {
                ("POST", "/api/2.0/sql/statements") => Reply::json(
                    200,
                    json!({"statement_id": "st-1", "status": {"state": "PENDING"}}),
                ),
                ("GET", "/api/2.0/sql/statements/st-1") => {
                    if server_polls.fetch_add(1, Ordering::SeqCst) == 0 {
                        Reply::json(
                            200,
                            json!({"statement_id": "st-1", "status": {"state": "RUNNING"}}),
                        )
                    } else {
                        Reply::json(
                            200,
                            json!({
                                "statement_id": "st-1",
                                "status": {"state": "SUCCEEDED"},
                                "manifest": {
                                    "format": "JSON_ARRAY",
                                    "schema": {"column_count": 2, "columns": [
                                        {"name": "id", "position": 0, "type_name": "INT"},
                                        {"name": "label", "position": 1, "type_name": "STRING"}]},
                                    "total_chunk_count": 3
                                },
                                "result": {"chunk_index": 0, "row_offset": 0, "row_count": 1,
                                           "data_array": [["1", "pump"]], "next_chunk_index": 1}
                            }),
                        )
                    }
                }
                ("GET", "/api/2.0/sql/statements/st-1/result/chunks/1") => Reply::json(
                    200,
                    json!({"chunk_index": 1, "data_array": [["2", null]], "next_chunk_index": 2}),
                ),
                ("GET", "/api/2.0/sql/statements/st-1/result/chunks/2") => {
                    Reply::json(200, json!({"chunk_index": 2, "data_array": [["3", "fan"]]}))
                }
                _ => Reply::json(404, json!({"error_code": "ENDPOINT_NOT_FOUND"})),
            }
        });
        let clock = FakeClock::new();
        let client = pat_client(&server, &clock);
        let request = SqlRequest {
            warehouse_id: "wh-1".to_string(),
            statement: "SELECT id, label FROM t WHERE site = :site AND x = :x".to_string(),
            catalog: Some("demo".to_string()),
            schema: Some("scada".to_string()),
            parameters: vec![
                ("site".to_string(), Some("A".to_string())),
                ("x".to_string(), None),
            ],
            idempotent: false,
        };
        let result = client
            .execute_sql(&request, Duration::from_secs(120))
            .unwrap();
        assert_eq!(result.statement_id, "st-1");
        assert_eq!(result.columns, ["id", "label"]);
        assert_eq!(
            result.rows,
            vec![
                vec![Some("1".to_string()), Some("pump".to_string())],
                vec![Some("2".to_string()), None],
                vec![Some("3".to_string()), Some("fan".to_string())],
            ]
        );
        assert_eq!(result.value(2, "label"), Some("fan"));
        assert_eq!(result.value(1, "label"), None);
        let seen = server.seen();
        assert_eq!(
            seen[0].json(),
            json!({
                "warehouse_id": "wh-1",
                "statement": "SELECT id, label FROM t WHERE site = :site AND x = :x",
                "catalog": "demo",
                "schema": "scada",
                "parameters": [{"name": "site", "value": "A"}, {"name": "x"}],
                "wait_timeout": "0s",
                "on_wait_timeout": "CONTINUE",
                "disposition": "INLINE",
                "format": "JSON_ARRAY"
            }),
            "a 10 s HTTP timeout leaves no room to wait on the POST"
        );
        assert_eq!(seen.len(), 5);
        assert_eq!(
            clock.sleeps(),
            vec![Duration::from_millis(500), Duration::from_millis(750)]
        );
    }

    #[test]
    fn execute_sql_waits_thirty_seconds_on_the_post_with_default_timeouts() {
        let server = TestServer::start(|_| {
            Reply::json(
                200,
                json!({"statement_id": "st-2", "status": {"state": "SUCCEEDED"}}),
            )
        });
        let clock = FakeClock::new();
        let client = client_with(
            &server,
            Credentials::Pat { token: PAT.into() },
            ClientOptions {
                timeout: Duration::from_secs(60),
                ..options(&clock)
            },
        );
        let result = client
            .execute_sql(
                &SqlRequest {
                    warehouse_id: "wh".into(),
                    statement: "CREATE SCHEMA IF NOT EXISTS demo.scada".into(),
                    ..SqlRequest::default()
                },
                Duration::from_secs(600),
            )
            .unwrap();
        assert!(result.columns.is_empty() && result.rows.is_empty());
        assert_eq!(server.seen()[0].json()["wait_timeout"], "30s");
        assert_eq!(server.seen()[0].json()["on_wait_timeout"], "CONTINUE");
    }

    #[test]
    fn a_failed_statement_in_an_http_200_is_an_sql_error() {
        let server = TestServer::start(|_| {
            Reply::json(
                200,
                json!({
                    "statement_id": "st-3",
                    "status": {
                        "state": "FAILED",
                        "error": {
                            "error_code": "BAD_REQUEST",
                            "message": "[TABLE_OR_VIEW_NOT_FOUND] The table or view `demo`.`scada`.`nope` cannot be found."
                        },
                        "sql_state": "42P01"
                    }
                }),
            )
        });
        let clock = FakeClock::new();
        let client = pat_client(&server, &clock);
        let err = client
            .execute_sql(
                &SqlRequest {
                    warehouse_id: "wh".into(),
                    statement: "SELECT * FROM demo.scada.nope".into(),
                    ..SqlRequest::default()
                },
                Duration::from_secs(60),
            )
            .unwrap_err();
        let ApiError::Sql {
            statement_id,
            error_code,
            message,
            sql_state,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(statement_id, "st-3");
        assert_eq!(error_code, "BAD_REQUEST");
        assert!(message.starts_with("[TABLE_OR_VIEW_NOT_FOUND]"));
        assert_eq!(sql_state.as_deref(), Some("42P01"));
        assert_eq!(err.sql_error_class(), Some("TABLE_OR_VIEW_NOT_FOUND"));
        assert!(err.is_not_found());
        assert_eq!(err.error_code(), Some("BAD_REQUEST"));
        assert!(err.to_string().contains("(SQLSTATE 42P01)"), "{err}");
    }

    #[test]
    fn a_statement_that_runs_too_long_is_cancelled() {
        let server = TestServer::start(|seen| {
            if seen.path.ends_with("/cancel") {
                Reply::text(200, "")
            } else {
                Reply::json(
                    200,
                    json!({"statement_id": "st-4", "status": {"state": "RUNNING"}}),
                )
            }
        });
        let clock = FakeClock::new();
        let client = pat_client(&server, &clock);
        let err = client
            .execute_sql(
                &SqlRequest {
                    warehouse_id: "wh".into(),
                    statement: "OPTIMIZE t".into(),
                    ..SqlRequest::default()
                },
                Duration::from_secs(10),
            )
            .unwrap_err();
        assert!(matches!(err, ApiError::Timeout { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "SQL statement st-4 did not finish within 10s"
        );
        assert_eq!(
            clock.sleeps().iter().sum::<Duration>(),
            Duration::from_secs(10)
        );
        let last = server.seen().pop().unwrap();
        assert_eq!(
            (last.method.as_str(), last.path.as_str()),
            ("POST", "/api/2.0/sql/statements/st-4/cancel")
        );
    }

    /// An OAuth server and an API that accepts only the newest token.
    fn oauth_server() -> (TestServer, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let issued = Arc::new(AtomicUsize::new(0));
        let discoveries = Arc::new(AtomicUsize::new(0));
        let (server_issued, server_discoveries) = (issued.clone(), discoveries.clone());
        let server = TestServer::start(move |seen| match seen.path.as_str() {
            "/oidc/.well-known/oauth-authorization-server" => {
                server_discoveries.fetch_add(1, Ordering::SeqCst);
                Reply::json(
                    200,
                    json!({"token_endpoint": format!("http://{}/oidc/v1/token", seen.header("host"))}),
                )
            }
            "/oidc/v1/token" => {
                use base64::Engine;
                let expected = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("sp-id:sp-secret-value")
                );
                if seen.header("authorization") != expected {
                    return Reply::json(
                        401,
                        json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
                    );
                }
                assert_eq!(seen.body, "grant_type=client_credentials&scope=all-apis");
                let n = server_issued.fetch_add(1, Ordering::SeqCst) + 1;
                Reply::json(
                    200,
                    json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}),
                )
            }
            _ => {
                let newest = format!("Bearer tok-{}", server_issued.load(Ordering::SeqCst));
                if seen.header("authorization") == newest {
                    Reply::json(200, json!({"who": seen.header("authorization")}))
                } else {
                    Reply::json(
                        401,
                        json!({"error_code": "UNAUTHENTICATED", "message": "bad token"}),
                    )
                }
            }
        });
        (server, issued, discoveries)
    }

    #[test]
    fn oauth_token_is_fetched_once_cached_and_refreshed_near_expiry() {
        let (server, issued, discoveries) = oauth_server();
        let clock = FakeClock::new();
        let client = client_with(
            &server,
            Credentials::OAuthM2m {
                client_id: "sp-id".into(),
                client_secret: "sp-secret-value".into(),
            },
            options(&clock),
        );
        for _ in 0..3 {
            let who: Value = client.get("/api/2.0/preview/scim/v2/Me", &[]).unwrap();
            assert_eq!(who["who"], "Bearer tok-1");
        }
        assert_eq!(issued.load(Ordering::SeqCst), 1);
        assert_eq!(discoveries.load(Ordering::SeqCst), 1);
        assert_eq!(client.request_count(), 5);

        // 59 minutes on, 60 s are left: still good. One more second and it is replaced.
        clock.advance(Duration::from_secs(3539));
        let who: Value = client.get("/api/2.0/x", &[]).unwrap();
        assert_eq!(who["who"], "Bearer tok-1");
        clock.advance(Duration::from_secs(1));
        let who: Value = client.get("/api/2.0/x", &[]).unwrap();
        assert_eq!(who["who"], "Bearer tok-2");
        assert_eq!(issued.load(Ordering::SeqCst), 2);
        assert_eq!(
            discoveries.load(Ordering::SeqCst),
            1,
            "the endpoint is cached"
        );

        // The server revokes tok-2 (it issues tok-3 to someone else): the 401 forces a refresh.
        issued.fetch_add(1, Ordering::SeqCst);
        let who: Value = client.get("/api/2.0/x", &[]).unwrap();
        assert_eq!(who["who"], "Bearer tok-4");
        assert!(clock.sleeps().is_empty());
    }

    #[test]
    fn rejected_client_secret_is_an_auth_error_without_the_secret() {
        let (server, _, _) = oauth_server();
        let clock = FakeClock::new();
        let client = client_with(
            &server,
            Credentials::OAuthM2m {
                client_id: "sp-id".into(),
                client_secret: "wrong-secret-value".into(),
            },
            options(&clock),
        );
        let err = client.get::<Value>("/api/2.0/x", &[]).unwrap_err();
        assert!(
            matches!(
                err,
                ApiError::Auth(TokenError::Rejected { status: 401, .. })
            ),
            "{err:?}"
        );
        let text = format!("{err} {err:?} {client:?}");
        assert!(
            text.contains("HTTP 401 invalid_client: Client authentication failed"),
            "{text}"
        );
        assert!(!text.contains("wrong-secret-value"), "{text}");
        let pat_client = pat_client(&server, &clock);
        assert!(!format!("{pat_client:?}").contains(PAT));
    }

    #[test]
    fn rate_limiter_spaces_requests() {
        let server = TestServer::start(|_| Reply::json(200, json!({})));
        let clock = FakeClock::new();
        let client = client_with(
            &server,
            Credentials::Pat { token: PAT.into() },
            ClientOptions {
                rate_limit_per_second: 10.0,
                ..options(&clock)
            },
        );
        for _ in 0..4 {
            let _: Value = client.get("/api/2.0/x", &[]).unwrap();
        }
        assert_eq!(clock.sleeps(), vec![Duration::from_millis(100); 3]);
        // After a quiet second the next request goes at once.
        clock.advance(Duration::from_secs(1));
        let _: Value = client.get("/api/2.0/x", &[]).unwrap();
        assert_eq!(clock.sleeps().len(), 3);
    }

    #[test]
    fn the_client_can_be_shared_between_worker_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<DatabricksClient>();
        assert_send_sync::<ApiError>();
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_path_segment("demo.scada.t_1"), "demo.scada.t_1");
        assert_eq!(encode_path_segment("a b/c%"), "a%20b%2Fc%25");
    }
}
