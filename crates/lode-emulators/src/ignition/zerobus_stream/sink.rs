//! The connector's end of the wire to Databricks: an OAuth token from the workspace (client
//! credentials, HTTP Basic, `scope=all-apis`, the `zerobusDirectWriteApi` resource and the
//! table-scoped `authorization_details` the Zerobus SDKs ask for), cached until a minute before
//! it expires, and batches of records posted to Zerobus Ingest's REST route `POST
//! {endpoint}/zerobus/v1/tables/{table}/insert`, where `200` is the durability
//! acknowledgement. The module itself streams protobuf `OTEvent`s over the SDK's gRPC
//! `EphemeralStream`; this REST exchange is the emulator's stand-in for it (`docs/emulator.md`).
//! "Opening the stream" is fetching a token and posting an empty batch, so a missing table or a
//! refused client shows at start, as the SDK's `createStream` shows it.
//!
//! An endpoint or workspace URL without a scheme is `http://` on `127.0.0.1` / `localhost` and
//! `https://` anywhere else.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A cached token is renewed this long before it expires.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(60);

/// Where and as whom the connector writes.
#[derive(Debug, Clone)]
pub struct ZerobusTarget {
    /// `zerobusEndpoint` as configured (`host[:port]`), for messages.
    pub endpoint: String,
    pub endpoint_url: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// `catalog.schema.table`.
    pub table: String,
    /// The number before `.zerobus.` in the endpoint's host, when it has one.
    pub workspace_id: Option<String>,
    pub connection_timeout: Duration,
    pub request_timeout: Duration,
}

/// `host[:port]` (or a URL) as a base URL.
fn base_url(address: &str) -> String {
    let address = address.trim().trim_end_matches('/');
    if address.contains("://") {
        return address.to_string();
    }
    let host = address.split([':', '/']).next().unwrap_or("");
    if host == "127.0.0.1" || host.eq_ignore_ascii_case("localhost") {
        format!("http://{address}")
    } else {
        format!("https://{address}")
    }
}

impl ZerobusTarget {
    pub fn from_config(config: &Value) -> ZerobusTarget {
        let text = |key: &str| {
            config
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let millis = |key: &str, default: u64| {
            Duration::from_millis(
                config
                    .get(key)
                    .and_then(Value::as_u64)
                    .filter(|ms| *ms > 0)
                    .unwrap_or(default),
            )
        };
        let endpoint = text("zerobusEndpoint");
        let endpoint_url = base_url(&endpoint);
        let host = endpoint_url
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split([':', '/'])
            .next()
            .unwrap_or("");
        let workspace_id = host
            .split_once(".zerobus.")
            .map(|(id, _)| id.to_string())
            .filter(|id| !id.is_empty());
        let token_url = match text("oauthTokenEndpoint") {
            explicit if !explicit.is_empty() => base_url(&explicit),
            _ => format!("{}/oidc/v1/token", base_url(&text("workspaceUrl"))),
        };
        ZerobusTarget {
            endpoint,
            endpoint_url,
            token_url,
            client_id: text("oauthClientId"),
            client_secret: config
                .get("oauthClientSecret")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            table: text("targetTable"),
            workspace_id,
            connection_timeout: millis("connectionTimeoutMs", 30_000),
            request_timeout: millis("requestTimeoutMs", 60_000),
        }
    }

    fn insert_url(&self) -> String {
        format!(
            "{}/zerobus/v1/tables/{}/insert",
            self.endpoint_url, self.table
        )
    }

    /// The Unity Catalog privileges the SDKs ask for: USE CATALOG, USE SCHEMA, and SELECT and
    /// MODIFY on the table.
    fn authorization_details(&self) -> Value {
        let parts: Vec<&str> = self.table.split('.').collect();
        let (catalog, schema) = match parts.as_slice() {
            [catalog, schema, _] => (*catalog, format!("{catalog}.{schema}")),
            _ => ("", String::new()),
        };
        json!([
            {"type": "unity_catalog_privileges", "privileges": ["USE CATALOG"],
             "object_type": "CATALOG", "object_full_path": catalog},
            {"type": "unity_catalog_privileges", "privileges": ["USE SCHEMA"],
             "object_type": "SCHEMA", "object_full_path": schema},
            {"type": "unity_catalog_privileges", "privileges": ["SELECT", "MODIFY"],
             "object_type": "TABLE", "object_full_path": self.table},
        ])
    }
}

/// The innermost cause of a transport error ("Connection refused (os error 111)").
fn transport_reason(error: &reqwest::Error) -> String {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason = cause.to_string();
        source = cause.source();
    }
    if error.is_timeout() {
        format!("timed out ({reason})")
    } else {
        reason
    }
}

/// Why no token was obtained.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum FetchTokenError {
    #[error("OAuth client `{client_id}` rejected by {url}: {error} ({description})")]
    Rejected {
        client_id: String,
        url: String,
        error: String,
        description: String,
    },
    #[error("OAuth token endpoint {url} unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("OAuth token endpoint {url} answered HTTP {status}: {body}")]
    Failed {
        url: String,
        status: u16,
        body: String,
    },
}

/// Why a batch was not acknowledged.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum InsertBatchError {
    #[error(transparent)]
    Token(#[from] FetchTokenError),
    #[error("target table {table} does not exist (Zerobus: {message})")]
    TableNotFound { table: String, message: String },
    #[error("Zerobus refused the batch for {table}: {code}: {message}")]
    Refused {
        table: String,
        code: String,
        message: String,
    },
    #[error("Zerobus rejected the OAuth token of client `{client_id}`: {message}")]
    Unauthenticated { client_id: String, message: String },
    #[error("OAuth client `{client_id}` may not write {table}: {message}")]
    PermissionDenied {
        client_id: String,
        table: String,
        message: String,
    },
    #[error("endpoint {endpoint} unreachable: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("Zerobus endpoint {endpoint} answered HTTP {status} {code}: {message}")]
    Server {
        endpoint: String,
        status: u16,
        code: String,
        message: String,
    },
}

impl InsertBatchError {
    /// Transport failures, 5xx and 429 may pass; a refusal repeats until the setup changes.
    pub fn is_retryable(&self) -> bool {
        match self {
            InsertBatchError::Token(FetchTokenError::Unreachable { .. }) => true,
            InsertBatchError::Token(FetchTokenError::Failed { status, .. }) => {
                *status >= 500 || *status == 429
            }
            InsertBatchError::Unreachable { .. } | InsertBatchError::Server { .. } => true,
            _ => false,
        }
    }
}

/// A client of one target, holding its current token.
pub struct ZerobusSink {
    target: ZerobusTarget,
    http: reqwest::Client,
    token: Option<(String, Instant)>,
}

impl ZerobusSink {
    pub fn new(target: ZerobusTarget) -> ZerobusSink {
        let http = reqwest::Client::builder()
            .connect_timeout(target.connection_timeout)
            .timeout(target.request_timeout)
            .build()
            .expect("an HTTP client with timeouts builds");
        ZerobusSink {
            target,
            http,
            token: None,
        }
    }

    async fn fetch_token(&self) -> Result<(String, Instant), FetchTokenError> {
        let url = &self.target.token_url;
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("scope", "all-apis".to_string()),
            (
                "authorization_details",
                self.target.authorization_details().to_string(),
            ),
        ];
        if let Some(id) = &self.target.workspace_id {
            form.push((
                "resource",
                format!("api://databricks/workspaces/{id}/zerobusDirectWriteApi"),
            ));
        }
        let response = self
            .http
            .post(url)
            .basic_auth(&self.target.client_id, Some(&self.target.client_secret))
            .form(&form)
            .send()
            .await
            .map_err(|e| FetchTokenError::Unreachable {
                url: url.clone(),
                reason: transport_reason(&e),
            })?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let text = |key: &str| parsed[key].as_str().unwrap_or("").to_string();
        match status {
            200 => {
                let token = text("access_token");
                if token.is_empty() {
                    return Err(FetchTokenError::Failed {
                        url: url.clone(),
                        status,
                        body: "no access_token in the answer".into(),
                    });
                }
                let lifetime = parsed["expires_in"].as_u64().unwrap_or(3600);
                Ok((token, Instant::now() + Duration::from_secs(lifetime)))
            }
            400 | 401 | 403 if !text("error").is_empty() => Err(FetchTokenError::Rejected {
                client_id: self.target.client_id.clone(),
                url: url.clone(),
                error: text("error"),
                description: text("error_description"),
            }),
            _ => Err(FetchTokenError::Failed {
                url: url.clone(),
                status,
                body,
            }),
        }
    }

    async fn token(&mut self) -> Result<String, FetchTokenError> {
        match &self.token {
            Some((token, expiry)) if *expiry > Instant::now() + RENEW_BEFORE_EXPIRY => {
                Ok(token.clone())
            }
            _ => {
                let (token, expiry) = self.fetch_token().await?;
                self.token = Some((token.clone(), expiry));
                Ok(token)
            }
        }
    }

    /// Posts `records` and waits for the acknowledgement; a token the endpoint no longer takes
    /// is renewed once.
    pub async fn insert(&mut self, records: &[Value]) -> Result<(), InsertBatchError> {
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            let response = self
                .http
                .post(self.target.insert_url())
                .bearer_auth(&token)
                .json(records)
                .send()
                .await
                .map_err(|e| InsertBatchError::Unreachable {
                    endpoint: self.target.endpoint.clone(),
                    reason: transport_reason(&e),
                })?;
            let status = response.status().as_u16();
            if status == 200 {
                return Ok(());
            }
            if status == 401 && !renewed {
                self.token = None;
                renewed = true;
                continue;
            }
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let code = body["error_code"].as_str().unwrap_or("").to_string();
            let message = body["message"].as_str().unwrap_or("").to_string();
            let table = self.target.table.clone();
            let client_id = self.target.client_id.clone();
            return Err(match status {
                401 => InsertBatchError::Unauthenticated { client_id, message },
                403 => InsertBatchError::PermissionDenied {
                    client_id,
                    table,
                    message,
                },
                404 if code == "NOT_FOUND" => InsertBatchError::TableNotFound { table, message },
                400..=499 if status != 429 => InsertBatchError::Refused {
                    table,
                    code,
                    message,
                },
                _ => InsertBatchError::Server {
                    endpoint: self.target.endpoint.clone(),
                    status,
                    code,
                    message,
                },
            });
        }
    }

    /// What the SDK's `createStream` checks: the client gets a token and the table takes
    /// writes (an empty batch writes nothing).
    pub async fn open(&mut self) -> Result<(), InsertBatchError> {
        self.insert(&[]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_16_loopback_endpoints_are_plain_http_and_others_https() {
        assert_eq!(base_url("127.0.0.1:8800"), "http://127.0.0.1:8800");
        assert_eq!(base_url("localhost:8800/"), "http://localhost:8800");
        assert_eq!(
            base_url("1234.zerobus.us-west-2.cloud.databricks.com"),
            "https://1234.zerobus.us-west-2.cloud.databricks.com"
        );
        assert_eq!(base_url("http://10.0.0.5:9000"), "http://10.0.0.5:9000");
        let target = ZerobusTarget::from_config(&json!({
            "workspaceUrl": "https://example.cloud.databricks.com",
            "zerobusEndpoint": "1234.zerobus.us-west-2.cloud.databricks.com",
            "targetTable": "main.ot.bronze",
        }));
        assert_eq!(target.workspace_id.as_deref(), Some("1234"));
        assert_eq!(
            target.token_url,
            "https://example.cloud.databricks.com/oidc/v1/token"
        );
        assert_eq!(
            target.insert_url(),
            "https://1234.zerobus.us-west-2.cloud.databricks.com/zerobus/v1/tables/main.ot.bronze/insert"
        );
        assert_eq!(
            target.authorization_details()[2]["privileges"],
            json!(["SELECT", "MODIFY"])
        );
    }
}
