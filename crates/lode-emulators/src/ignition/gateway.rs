//! Gateway-level routes: `/StatusPing` (unauthenticated health), `gateway-info`, `overview`,
//! the restart task (a restart re-reads the data directory, exactly what a real restart does to
//! the loaded view), and a trimmed `/openapi.json` listing the routes this emulator serves, so
//! clients that probe the spec for capabilities find what is here and nothing more.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;

use super::scan::LoadedView;
use super::{ApiError, ApiResult, Shared, now_ms};

/// The version the emulator reports; the form is the gateway's `8.3.x (bNNN)`.
pub const IGNITION_VERSION: &str = "8.3.6 (b2026042713)";

async fn status_ping() -> impl IntoResponse {
    axum::Json(json!({"state": "RUNNING"}))
}

fn port_of(gateway: &Shared) -> u16 {
    gateway
        .base_url
        .get()
        .and_then(|u| u.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(gateway.config.port)
}

async fn gateway_info(State(gateway): State<Shared>) -> impl IntoResponse {
    axum::Json(json!({
        "allowUnsignedModules": true,
        "deploymentMode": super::scan::WRITE_COLLECTION,
        "edition": "standard",
        "hostname": "localhost",
        "ignitionVersion": IGNITION_VERSION,
        "jvmVersion": "17.0.13+11",
        "license": {"state": "TRIAL", "trialRemainingSeconds": 7200},
        "name": "Ignition-lode-emulator",
        "port": port_of(&gateway),
        "redundancyRole": "Independent",
        "timeZone": "Coordinated Universal Time",
        "timeZoneId": "UTC",
    }))
}

async fn overview(State(gateway): State<Shared>) -> impl IntoResponse {
    axum::Json(json!({
        "version": IGNITION_VERSION,
        "redundancy": {"role": "Independent", "activityLevel": "Active", "projectState": "Good"},
        "java": "17.0.13+11",
        "os": std::env::consts::OS,
        "uptime": now_ms() - gateway.started_ms,
        "memory": [268_435_456_i64, 1_073_741_824_i64],
        "cpu": 0.02,
        "disk": [1_073_741_824_i64, 10_737_418_240_i64],
        "license": {"state": "TRIAL", "trialRemaining": 7_200_000},
    }))
}

async fn pending_restart() -> impl IntoResponse {
    axum::Json(json!([]))
}

/// `POST /restart-tasks/restart?confirm=true`: answers `true` and reloads every part of the
/// view from disk without re-signing anything, as a gateway restart does.
async fn restart(
    State(gateway): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<axum::Json<Value>> {
    if query.get("confirm").map(String::as_str) != Some("true") {
        return Err(ApiError::bad_request(
            "Restarting the gateway requires confirm=true",
        ));
    }
    let view = LoadedView::load(&gateway.config.data_dir)?;
    *gateway.view() = view;
    Ok(axum::Json(json!(true)))
}

/// The routes this emulator serves, as `(path, methods)`.
const SERVED: &[(&str, &[&str])] = &[
    ("/data/api/v1/gateway-info", &["get"]),
    ("/data/api/v1/overview", &["get"]),
    ("/data/api/v1/restart-tasks/pending", &["get"]),
    ("/data/api/v1/restart-tasks/restart", &["post"]),
    ("/data/api/v1/scan/projects", &["get", "post"]),
    ("/data/api/v1/scan/config", &["get", "post"]),
    ("/data/api/v1/scan-lock/projects", &["get", "post"]),
    ("/data/api/v1/scan-lock/config", &["get", "post"]),
    ("/data/api/v1/projects", &["post"]),
    ("/data/api/v1/projects/list", &["get"]),
    ("/data/api/v1/projects/names", &["get"]),
    ("/data/api/v1/projects/find/{name}", &["get"]),
    ("/data/api/v1/projects/{name}", &["put", "delete"]),
    ("/data/api/v1/projects/export/{name}", &["get"]),
    ("/data/api/v1/projects/import/{name}", &["post"]),
    ("/data/api/v1/resources/{module}/{type}", &["post", "put"]),
    ("/data/api/v1/resources/list/{module}/{type}", &["get"]),
    ("/data/api/v1/resources/names/{module}/{type}", &["get"]),
    (
        "/data/api/v1/resources/find/{module}/{type}/{name}",
        &["get"],
    ),
    ("/data/api/v1/resources/singleton/{module}/{type}", &["get"]),
    (
        "/data/api/v1/resources/{module}/{type}/{name}/{signature}",
        &["delete"],
    ),
    ("/data/api/v1/resources/delete/{module}/{type}", &["post"]),
    ("/data/api/v1/tags/export", &["get"]),
    ("/data/api/v1/tags/import", &["post"]),
];

async fn openapi() -> impl IntoResponse {
    let mut paths = serde_json::Map::new();
    for (path, methods) in SERVED {
        let operations: serde_json::Map<String, Value> = methods
            .iter()
            .map(|m| {
                (
                    m.to_string(),
                    json!({"responses": {"200": {"description": "OK"}}}),
                )
            })
            .collect();
        paths.insert(path.to_string(), Value::Object(operations));
    }
    axum::Json(json!({
        "openapi": "3.0.1",
        "info": {"title": "Ignition HTTP API", "version": "1.0.0"},
        "paths": paths,
    }))
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/StatusPing", get(status_ping))
        .route("/openapi.json", get(openapi))
        .route("/data/api/v1/gateway-info", get(gateway_info))
        .route("/data/api/v1/overview", get(overview))
        .route("/data/api/v1/restart-tasks/pending", get(pending_restart))
        .route("/data/api/v1/restart-tasks/restart", post(restart))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn gateway_info_and_overview() {
        let (_dir, gateway) = gateway(true);
        let info = get_json(&gateway, "/data/api/v1/gateway-info");
        assert_eq!(info["deploymentMode"], "core");
        let version = info["ignitionVersion"].as_str().unwrap();
        assert!(
            version.starts_with("8.3.") && version.contains(" (b"),
            "{version}"
        );
        let port: u16 = gateway.url.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(info["port"], port);
        let overview = get_json(&gateway, "/data/api/v1/overview");
        assert_eq!(overview["version"], info["ignitionVersion"]);
        assert!(overview["uptime"].as_i64().unwrap() >= 0);
        let spec = get_json(&gateway, "/openapi.json");
        assert!(spec["paths"]["/data/api/v1/tags/import"]["post"].is_object());
    }

    #[test]
    fn a_restart_reloads_the_data_directory_without_churn() {
        let (dir, gateway) = gateway(true);
        let project = dir.path().join("projects/Added");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join("project.json"), r#"{"title": "Added"}"#).unwrap();
        let missing = get(&gateway, "/data/api/v1/projects/find/Added");
        assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
        let unconfirmed = send(
            &gateway,
            reqwest::Method::POST,
            "/data/api/v1/restart-tasks/restart",
            None,
        );
        assert_eq!(unconfirmed.status(), reqwest::StatusCode::BAD_REQUEST);
        let restarted = send(
            &gateway,
            reqwest::Method::POST,
            "/data/api/v1/restart-tasks/restart?confirm=true",
            None,
        );
        assert_eq!(restarted.json::<serde_json::Value>().unwrap(), true);
        assert_eq!(
            get_json(&gateway, "/data/api/v1/projects/find/Added")["title"],
            "Added"
        );
    }
}
