//! Who the caller is: SCIM `Me`, and OAuth machine-to-machine (client credentials) with the
//! discovery document and token endpoint the Databricks SDKs use. Tokens it issues expire. A
//! token asked for with `authorization_details` (what the Zerobus SDKs send: Unity Catalog
//! privileges on one table) carries that scope, and Zerobus Ingest writes only to the tables
//! its scope grants `MODIFY` on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use serde_json::{Value, json};

use axum::response::{IntoResponse, Response};

use super::Shared;

/// How long an issued OAuth token is valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// One issued token: when it expires, and the tables it may write when it was asked for with
/// `authorization_details` (`None`: a workspace-wide token).
struct IssuedToken {
    expiry: Instant,
    writable_tables: Option<Vec<String>>,
}

/// OAuth access tokens issued by the token endpoint.
#[derive(Default)]
pub struct IssuedTokens {
    tokens: Mutex<HashMap<String, IssuedToken>>,
}

impl IssuedTokens {
    /// A workspace-wide token (`scope=all-apis`).
    pub fn issue(&self) -> String {
        self.issue_scoped(None)
    }

    /// A token limited to writing `writable_tables` (lower-case `catalog.schema.table`).
    pub fn issue_scoped(&self, writable_tables: Option<Vec<String>>) -> String {
        let token = format!("dapi-oauth-{}", super::hex_id());
        self.tokens.lock().expect("token lock").insert(
            token.clone(),
            IssuedToken {
                expiry: Instant::now() + TOKEN_LIFETIME,
                writable_tables,
            },
        );
        token
    }

    pub fn is_valid(&self, token: &str) -> bool {
        self.tokens
            .lock()
            .expect("token lock")
            .get(token)
            .is_some_and(|issued| issued.expiry > Instant::now())
    }

    /// Whether `token` may write `table` (lower-case `catalog.schema.table`): any token but a
    /// table-scoped one whose scope leaves the table out.
    pub fn may_write(&self, token: &str, table: &str) -> bool {
        match self.tokens.lock().expect("token lock").get(token) {
            Some(IssuedToken {
                writable_tables: Some(tables),
                ..
            }) => tables.iter().any(|t| t == table),
            _ => true,
        }
    }
}

/// The tables an `authorization_details` grant lets its token write: the `TABLE` entries of
/// type `unity_catalog_privileges` that list `MODIFY` (the Zerobus SDKs ask for `SELECT` and
/// `MODIFY` on the target table, `USE CATALOG` and `USE SCHEMA` on its parents).
fn writable_tables(details: &str) -> Result<Vec<String>, String> {
    let entries: Vec<Value> = serde_json::from_str(details)
        .map_err(|e| format!("authorization_details is not a JSON array: {e}"))?;
    Ok(entries
        .iter()
        .filter(|e| e["type"] == "unity_catalog_privileges" && e["object_type"] == "TABLE")
        .filter(|e| {
            e["privileges"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p == "MODIFY"))
        })
        .filter_map(|e| e["object_full_path"].as_str())
        .map(str::to_lowercase)
        .collect())
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/2.0/preview/scim/v2/Me", get(me))
        .route(
            "/oidc/.well-known/oauth-authorization-server",
            get(discovery),
        )
        .route("/oidc/v1/token", post(token))
        .route("/.well-known/databricks-config", get(host_metadata))
}

async fn me() -> ([(&'static str, &'static str); 1], Json<Value>) {
    (
        [("X-Databricks-Org-Id", "1000000000000000")],
        Json(json!({
            "id": "1000000000000001",
            "userName": "lode@localhost",
            "displayName": "lode emulator user",
            "active": true,
            "emails": [{"value": "lode@localhost", "primary": true, "type": "work"}],
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        })),
    )
}

/// Host metadata the SDKs read (without a token) to find the OAuth endpoints.
async fn host_metadata(State(workspace): State<Shared>) -> Json<Value> {
    let base = workspace.base_url.get().cloned().unwrap_or_default();
    Json(json!({
        "oidc_endpoint": format!("{base}/oidc"),
        "workspace_id": "1000000000000000",
        "cloud": "aws",
        "host": base,
    }))
}

async fn discovery(State(workspace): State<Shared>) -> Json<Value> {
    let base = workspace.base_url.get().cloned().unwrap_or_default();
    Json(json!({
        "issuer": format!("{base}/oidc"),
        "authorization_endpoint": format!("{base}/oidc/v1/authorize"),
        "token_endpoint": format!("{base}/oidc/v1/token"),
        "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["all-apis", "offline_access"],
    }))
}

/// An OAuth error body, as RFC 6749 §5.2 shapes it (token endpoints do not use Databricks' body).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn token(
    State(workspace): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only client_credentials is supported",
        );
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| {
            v.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        });
    let presented = basic.or_else(|| {
        Some((
            form.get("client_id")?.clone(),
            form.get("client_secret")?.clone(),
        ))
    });
    let authenticated = matches!(
        (&workspace.config.oauth_client, &presented),
        (Some(expected), Some(presented)) if expected == presented
    );
    if !authenticated {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    let scope = match form
        .get("authorization_details")
        .map(|d| writable_tables(d))
    {
        None => None,
        Some(Ok(tables)) => Some(tables),
        Some(Err(why)) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &why),
    };
    Json(json!({
        "access_token": workspace.tokens.issue_scoped(scope),
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME.as_secs(),
        "scope": form.get("scope").cloned().unwrap_or_else(|| "all-apis".into()),
    }))
    .into_response()
}
