//! Who the caller is: SCIM `Me`, and OAuth machine-to-machine (client credentials) with the
//! discovery document and token endpoint the Databricks SDKs use. Tokens it issues expire.

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

/// OAuth access tokens issued by the token endpoint.
#[derive(Default)]
pub struct IssuedTokens {
    tokens: Mutex<HashMap<String, Instant>>,
}

impl IssuedTokens {
    pub fn issue(&self) -> String {
        let token = format!("dapi-oauth-{}", super::hex_id());
        self.tokens
            .lock()
            .expect("token lock")
            .insert(token.clone(), Instant::now() + TOKEN_LIFETIME);
        token
    }

    pub fn is_valid(&self, token: &str) -> bool {
        self.tokens
            .lock()
            .expect("token lock")
            .get(token)
            .is_some_and(|expiry| *expiry > Instant::now())
    }
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
    match (&workspace.config.oauth_client, presented) {
        (Some(expected), Some(presented)) if *expected == presented => Json(json!({
            "access_token": workspace.tokens.issue(),
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME.as_secs(),
            "scope": form.get("scope").cloned().unwrap_or_else(|| "all-apis".into()),
        }))
        .into_response(),
        _ => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        ),
    }
}
