//! The Ignition 8.3 gateway HTTP API client: the `X-Ignition-API-Token: name:secret` header, the
//! `{items, metadata}` lists, project zip export and import, tag export and import, scans and the
//! scan lock, and the Zerobus module's servlet. A `200 {"success": false}` answer is a failure
//! carrying the gateway's message; 401, 403 and 409 get messages that say what to do. Only
//! idempotent calls are retried after a lost answer; 429 and 503 are retried for any call; a
//! failure waiting cannot heal (a full disk, a used up quota) is never retried.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

use crate::provider::retry::{self, Clock, Failure, SystemClock, Unrecoverable};

/// Why a gateway call failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(
        "{method} {path}: the gateway refused the API token (401); check the token name and secret"
    )]
    Unauthorized { method: &'static str, path: String },
    #[error(
        "{method} {path}: the API token's security levels do not allow this (403); give the key Write access under Platform > Security > Gateway access"
    )]
    Forbidden { method: &'static str, path: String },
    #[error("{method} {path}: conflict (409): {message}")]
    Conflict {
        method: &'static str,
        path: String,
        message: String,
    },
    #[error("{method} {path}: HTTP {status}: {message}")]
    Http {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    #[error(
        "{method} {path}: {} (HTTP {status}: {message}); nothing more was retried, as waiting \
         does not change that",
        cause.describe("the gateway")
    )]
    Unrecoverable {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
        cause: Unrecoverable,
    },
    #[error("{method} {path}: the gateway answered success=false: {message}")]
    Refused {
        method: &'static str,
        path: String,
        message: String,
    },
    #[error("{method} {path}: {message}")]
    Transport {
        method: &'static str,
        path: String,
        message: String,
    },
    #[error("{method} {path}: unexpected answer: {message}")]
    Decode {
        method: &'static str,
        path: String,
        message: String,
    },
}

impl GatewayError {
    /// The request may or may not have been carried out (no complete answer, or a server
    /// failure that does not say): a create must be looked for before it is sent again.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            GatewayError::Transport { .. } => true,
            GatewayError::Http { status, .. } => matches!(status, 500 | 502 | 504),
            _ => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            GatewayError::Unauthorized { .. } => Some(401),
            GatewayError::Forbidden { .. } => Some(403),
            GatewayError::Conflict { .. } => Some(409),
            GatewayError::Http { status, .. } | GatewayError::Unrecoverable { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// A gateway reached over HTTP.
pub struct GatewayClient {
    base: String,
    token: String,
    http: Client,
    clock: Arc<dyn Clock>,
    retry_budget: Duration,
}

impl std::fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayClient")
            .field("base", &self.base)
            .field("token", &"(sensitive)")
            .finish()
    }
}

/// The error message in a gateway error body (`{"problem": {"message"}}`, `{"message"}`, text).
fn message_of(body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        // The Zerobus servlet answers `{"error": "validation_failed", "details": [...]}`.
        if let (Some(error), Some(Value::Array(details))) = (
            value.get("error").and_then(Value::as_str),
            value.get("details"),
        ) {
            let details: Vec<String> = details
                .iter()
                .map(|d| {
                    d.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| d.to_string())
                })
                .collect();
            return format!("{error}: {}", details.join("; "));
        }
        for pointer in [
            "/problem/message",
            "/problem",
            "/message",
            "/error",
            "/details",
        ] {
            match value.pointer(pointer) {
                Some(Value::String(text)) => return text.clone(),
                Some(Value::Array(items)) if !items.is_empty() => {
                    return items
                        .iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join("; ");
                }
                _ => {}
            }
        }
    }
    let text = body.trim();
    if text.is_empty() {
        "(no message)".to_string()
    } else {
        text.chars().take(500).collect()
    }
}

impl GatewayClient {
    /// `base` is the gateway URL (`http://host:8088`); `token` is `name:secret`.
    pub fn new(base: &str, token: &str) -> Result<GatewayClient, GatewayError> {
        let http = Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GatewayError::Transport {
                method: "SETUP",
                path: base.to_string(),
                message: e.to_string(),
            })?;
        Ok(GatewayClient {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http,
            clock: Arc::new(SystemClock),
            retry_budget: Duration::from_secs(120),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends with retries: 429/503 for any method, transport errors only when `idempotent`.
    fn send(
        &self,
        method: Method,
        path: &str,
        idempotent: bool,
        build: &dyn Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, GatewayError> {
        let method_name: &'static str = match method.as_str() {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "DELETE" => "DELETE",
            _ => "REQUEST",
        };
        let started = self.clock.now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = build(
                self.http
                    .request(method.clone(), format!("{}{path}", self.base))
                    .header("X-Ignition-API-Token", &self.token),
            );
            let (failure, wait, error) = match request.send() {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if response.status().is_success() {
                        return Ok(response);
                    }
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let body = response.text().unwrap_or_default();
                    let message = message_of(&body);
                    if let Some(cause) = retry::unrecoverable(status, &message) {
                        return Err(GatewayError::Unrecoverable {
                            method: method_name,
                            path: path.to_string(),
                            status,
                            message,
                            cause,
                        });
                    }
                    let error = match status {
                        401 => GatewayError::Unauthorized {
                            method: method_name,
                            path: path.to_string(),
                        },
                        403 => GatewayError::Forbidden {
                            method: method_name,
                            path: path.to_string(),
                        },
                        409 => GatewayError::Conflict {
                            method: method_name,
                            path: path.to_string(),
                            message,
                        },
                        _ => GatewayError::Http {
                            method: method_name,
                            path: path.to_string(),
                            status,
                            message,
                        },
                    };
                    let wait = match retry_after {
                        Some(header) => retry::retry_after(Some(&header)),
                        None => retry::backoff(attempt, path),
                    };
                    (Failure::Status(status), wait, error)
                }
                Err(error) => (
                    Failure::Transport,
                    retry::backoff(attempt, path),
                    GatewayError::Transport {
                        method: method_name,
                        path: path.to_string(),
                        message: error.to_string(),
                    },
                ),
            };
            let elapsed = self.clock.now().saturating_duration_since(started);
            if !retry::is_retryable(failure, idempotent) || elapsed + wait > self.retry_budget {
                return Err(error);
            }
            tracing::warn!(
                "{method_name} {path} failed ({error}); retrying in {} ms",
                wait.as_millis()
            );
            self.clock.sleep(wait);
        }
    }

    fn json(&self, method: Method, path: &str, response: Response) -> Result<Value, GatewayError> {
        let method_name: &'static str = if method == Method::GET { "GET" } else { "POST" };
        let text = response.text().map_err(|e| GatewayError::Transport {
            method: method_name,
            path: path.to_string(),
            message: e.to_string(),
        })?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        let value: Value = serde_json::from_str(&text).map_err(|e| GatewayError::Decode {
            method: method_name,
            path: path.to_string(),
            message: e.to_string(),
        })?;
        // An import can answer 200 and land nothing; `success: false` is that failure.
        if value.get("success") == Some(&Value::Bool(false)) {
            return Err(GatewayError::Refused {
                method: method_name,
                path: path.to_string(),
                message: message_of(&text),
            });
        }
        Ok(value)
    }

    pub fn get(&self, path: &str) -> Result<Value, GatewayError> {
        let response = self.send(Method::GET, path, true, &|r| r)?;
        self.json(Method::GET, path, response)
    }

    /// GET returning `None` on 404.
    pub fn get_optional(&self, path: &str) -> Result<Option<Value>, GatewayError> {
        match self.get(path) {
            Err(error) if error.status() == Some(404) => Ok(None),
            other => other.map(Some),
        }
    }

    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, GatewayError> {
        let response = self.send(Method::GET, path, true, &|r| r)?;
        response
            .bytes()
            .map(|b| b.to_vec())
            .map_err(|e| GatewayError::Transport {
                method: "GET",
                path: path.to_string(),
                message: e.to_string(),
            })
    }

    pub fn post_json(
        &self,
        path: &str,
        body: &Value,
        idempotent: bool,
    ) -> Result<Value, GatewayError> {
        let response = self.send(Method::POST, path, idempotent, &|r| r.json(body))?;
        self.json(Method::POST, path, response)
    }

    pub fn put_json(&self, path: &str, body: &Value) -> Result<Value, GatewayError> {
        let response = self.send(Method::PUT, path, true, &|r| r.json(body))?;
        self.json(Method::PUT, path, response)
    }

    /// POST of raw bytes (`application/octet-stream`): project zips and tag imports.
    pub fn post_bytes(
        &self,
        path: &str,
        bytes: &[u8],
        idempotent: bool,
    ) -> Result<Value, GatewayError> {
        let body = bytes.to_vec();
        let response = self.send(Method::POST, path, idempotent, &|r| {
            r.header("Content-Type", "application/octet-stream")
                .body(body.clone())
        })?;
        self.json(Method::POST, path, response)
    }

    pub fn delete(&self, path: &str) -> Result<Value, GatewayError> {
        let response = self.send(Method::DELETE, path, true, &|r| r)?;
        self.json(Method::DELETE, path, response)
    }

    /// Tells the gateway to read changed files: `projects` or `config`.
    pub fn scan(&self, area: &str) -> Result<(), GatewayError> {
        self.post_json(&format!("/data/api/v1/scan/{area}"), &Value::Null, true)
            .map(|_| ())
    }

    /// After an interrupted apply: scans both areas, which releases a scan lock the dead
    /// apply held (the gateway would otherwise hold it for `holdTimeout`, and every write
    /// would time out waiting) and makes the gateway read files it wrote but never scanned.
    pub fn finish_interrupted_writes(&self) -> Result<String, GatewayError> {
        self.scan("projects")?;
        self.scan("config")?;
        Ok("the gateway scanned projects and config, releasing any scan lock it held".into())
    }

    /// Holds scans of `area` off while several files change; the next scan releases it.
    ///
    /// Taking the lock is not idempotent: after a lost answer the lock may be ours already, and
    /// asking again would wait `acquireTimeout` for ourselves. So the lock's status is read
    /// instead: held means the lost request took it (the lock names no owner, so another
    /// client's lock cannot be told apart; that only means our scan releases it early, which
    /// the gateway tolerates), free means it was not taken and is asked for again.
    pub fn scan_lock(&self, area: &str) -> Result<(), GatewayError> {
        let path = format!("/data/api/v1/scan-lock/{area}");
        let body = serde_json::json!({"acquireTimeout": 10, "holdTimeout": 60});
        let mut attempt = 1;
        loop {
            match self.post_json(&path, &body, false) {
                Ok(_) => return Ok(()),
                Err(error) if error.outcome_unknown() && attempt < 3 => {
                    let status = self.get(&path)?;
                    if status.get("locked") == Some(&Value::Bool(true)) {
                        return Ok(());
                    }
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// `a/b c` → `a/b%20c` for a path segment list in a URL.
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}
