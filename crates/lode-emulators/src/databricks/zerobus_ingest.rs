//! Zerobus Ingest on the workspace emulator, through its REST interface: `POST
//! /zerobus/v1/tables/{catalog.schema.table}/insert` with `Authorization: Bearer <token>` and a
//! JSON array of records; `200 {}` once the batch is durable, which here means committed to the
//! table's Delta log as one append ([`super::sql::SqlEngine::append_json_records`]). Zerobus
//! writes only into a table that exists and whose schema every record fits; errors are
//! `{"error_code", "message"}` with the codes of Zerobus' error reference (`NOT_FOUND` 404 with
//! `Table "c.s.t" cannot be found.`, `INVALID_PARAMETER_VALUE` 400, `PERMISSION_DENIED` 403).
//! Tokens come from the workspace's `/oidc/v1/token` like any other; one asked for with
//! `authorization_details` writes only the tables it grants `MODIFY` on. On Databricks the
//! service answers on its own host (`<workspace-id>.zerobus.<region>...`); here it shares the
//! workspace's port. See `docs/emulator.md` for what is verified and what is a stand-in.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::sql::{AppendRecordsError, RecordMismatch};
use super::{ApiError, Shared};

pub fn routes() -> Router<Shared> {
    Router::new().route("/zerobus/v1/tables/{table}/insert", post(insert))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
}

async fn insert(
    State(workspace): State<Shared>,
    Path(table): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match append(&workspace, &table, &headers, &body).await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({}))).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn append(
    workspace: &Shared,
    table: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let parts: Vec<&str> = table.split('.').collect();
    let [catalog, schema, name] = parts.as_slice() else {
        return Err(invalid(format!(
            "Table name \"{table}\" must have exactly 3 parts (catalog.schema.table)."
        )));
    };
    if parts.iter().any(|p| p.is_empty()) {
        return Err(invalid(format!(
            "Table name \"{table}\" must have exactly 3 non-empty parts (catalog.schema.table)."
        )));
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !workspace.tokens.may_write(token, &table.to_lowercase()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            format!("The token's authorization details do not grant MODIFY on table \"{table}\"."),
        ));
    }
    let records = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(records)) => records,
        Ok(_) => {
            return Err(invalid(
                "The request body must be a JSON array of records, even for one record.",
            ));
        }
        Err(e) => return Err(invalid(format!("The request body is not valid JSON: {e}"))),
    };
    match workspace
        .sql
        .append_json_records(catalog, schema, name, &records)
        .await
    {
        Ok(_) => Ok(()),
        Err(error @ AppendRecordsError::TableNotFound { .. }) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            error.to_string(),
        )),
        Err(AppendRecordsError::RecordMismatch { cause, message, .. }) => Err(invalid(format!(
            "Record does not match the schema of table \"{table}\" ({}): {message}",
            match cause {
                RecordMismatch::NotAnObject => "INVALID_RECORD",
                other => other.token(),
            }
        ))),
        Err(AppendRecordsError::Storage(error)) => Err(ApiError::internal(error.to_string())),
    }
}
