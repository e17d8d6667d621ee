//! The Workspace API (`/api/2.0/workspace/*`): import, export, get-status, list, mkdirs and
//! delete of files, notebooks and directories. Objects are stored as real files under the data
//! folder, with an index of their ids, types and times. `/Workspace/x` and `/x` name the same
//! object, as on a real workspace; paths are reported without the `/Workspace` prefix.

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::catalog::request::{Fields, missing, not_one_of};
use super::store::JsonStore;
use super::{ApiError, ApiResult, Body, Params, Shared, now_ms};

/// Larger imports are refused, as on Databricks.
const MAX_IMPORT_BYTES: usize = 10 * 1024 * 1024;

/// One object's metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub object_type: String,
    pub path: String,
    pub object_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub created_at: i64,
    pub modified_at: i64,
}

/// Workspace objects on disk.
pub struct WorkspaceFiles {
    root: PathBuf,
    index: JsonStore<ObjectInfo>,
}

/// `/Workspace/Shared/x/` → `/Shared/x`.
pub fn normalize_path(path: &str) -> Result<String, ApiError> {
    if !path.starts_with('/') {
        return Err(ApiError::invalid(format!("Path ({path}) is not absolute.")));
    }
    let trimmed = path.trim_end_matches('/');
    let stripped = trimmed
        .strip_prefix("/Workspace")
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        .unwrap_or(trimmed);
    let normalized = if stripped.is_empty() {
        "/".to_string()
    } else {
        stripped.to_string()
    };
    if normalized
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        return Err(ApiError::invalid(format!(
            "Path ({path}) is not a valid workspace path."
        )));
    }
    Ok(normalized)
}

/// `RESOURCE_ALREADY_EXISTS` for a create-only import over an existing object. A real
/// workspace answers it with 409 for a file and 400 for a notebook (reference
/// `databricks-api.md`: the CLI's workspace filer sees "409 = file exists; 400 ... already
/// exists. for notebooks"): **unverified** for `/workspace/import` itself, so clients must
/// recognise the error code, not the status.
const FILE_EXISTS_STATUS: StatusCode = StatusCode::CONFLICT;
const NOTEBOOK_EXISTS_STATUS: StatusCode = StatusCode::BAD_REQUEST;

fn already_exists(existing: &ObjectInfo, path: &str) -> ApiError {
    let status = if existing.object_type == "NOTEBOOK" {
        NOTEBOOK_EXISTS_STATUS
    } else {
        FILE_EXISTS_STATUS
    };
    ApiError::new(
        status,
        "RESOURCE_ALREADY_EXISTS",
        format!("Path ({path}) already exists."),
    )
}

fn parent(path: &str) -> Option<String> {
    let (parent, _) = path.rsplit_once('/')?;
    Some(if parent.is_empty() {
        "/".to_string()
    } else {
        parent.to_string()
    })
}

impl WorkspaceFiles {
    pub fn open(root: PathBuf) -> std::io::Result<WorkspaceFiles> {
        std::fs::create_dir_all(root.join("objects"))?;
        let index = JsonStore::open(root.join("index.json"))?;
        let files = WorkspaceFiles { root, index };
        // The folders every workspace has.
        for dir in ["/", "/Shared", "/Users", "/Users/lode@localhost"] {
            if files.index.get(dir).is_none() {
                files
                    .put_directory(dir)
                    .map_err(|e| std::io::Error::other(e.message))?;
            }
        }
        Ok(files)
    }

    fn disk_path(&self, path: &str) -> PathBuf {
        self.root.join("objects").join(path.trim_start_matches('/'))
    }

    pub fn status(&self, path: &str) -> Option<ObjectInfo> {
        self.index.get(path)
    }

    /// Content of a file or notebook.
    pub fn read(&self, path: &str) -> ApiResult<(ObjectInfo, Vec<u8>)> {
        let info = self
            .status(path)
            .ok_or_else(|| ApiError::not_found(format!("Path ({path}) doesn't exist.")))?;
        if info.object_type == "DIRECTORY" {
            return Err(ApiError::invalid(format!("Path ({path}) is a directory.")));
        }
        let bytes =
            std::fs::read(self.disk_path(path)).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok((info, bytes))
    }

    fn next_id(&self) -> i64 {
        self.index
            .all()
            .iter()
            .map(|(_, i)| i.object_id)
            .max()
            .unwrap_or(1_000_000)
            + 1
    }

    fn put_directory(&self, path: &str) -> ApiResult<()> {
        std::fs::create_dir_all(self.disk_path(path))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let id = self.next_id();
        self.index
            .update(|index| {
                index.entry(path.to_string()).or_insert(ObjectInfo {
                    object_type: "DIRECTORY".into(),
                    path: path.to_string(),
                    object_id: id,
                    language: None,
                    size: None,
                    created_at: now_ms(),
                    modified_at: now_ms(),
                });
            })
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    /// `mkdirs`: creates the folder and its parents; a file in the way is a conflict.
    pub fn mkdirs(&self, path: &str) -> ApiResult<()> {
        let mut prefix = String::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            prefix = format!("{prefix}/{segment}");
            match self.status(&prefix) {
                Some(info) if info.object_type != "DIRECTORY" => {
                    return Err(ApiError::exists(format!(
                        "Cannot create directory {path} because {prefix} is an existing file."
                    )));
                }
                Some(_) => {}
                None => self.put_directory(&prefix)?,
            }
        }
        Ok(())
    }

    /// Writes a file or notebook; the parent folder must exist. A create-only write
    /// (`overwrite=false`) over an existing object is refused as a real workspace refuses it
    /// (see [`already_exists`]).
    pub fn write(
        &self,
        path: &str,
        bytes: &[u8],
        object_type: &str,
        language: Option<String>,
        overwrite: bool,
    ) -> ApiResult<ObjectInfo> {
        if path == "/" {
            return Err(ApiError::invalid("Path (/) is a directory."));
        }
        let parent = parent(path).unwrap_or_else(|| "/".into());
        match self.status(&parent) {
            Some(info) if info.object_type == "DIRECTORY" => {}
            _ => {
                return Err(ApiError::not_found(format!(
                    "The parent folder ({parent}) does not exist."
                )));
            }
        }
        let existing = self.status(path);
        if let Some(existing) = &existing {
            if existing.object_type == "DIRECTORY" {
                return Err(ApiError::exists(format!(
                    "Path ({path}) already exists as a directory."
                )));
            }
            if !overwrite {
                return Err(already_exists(existing, path));
            }
        }
        let disk = self.disk_path(path);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut temp =
                tempfile::NamedTempFile::new_in(disk.parent().expect("objects have folders"))?;
            temp.write_all(bytes)?;
            temp.as_file().sync_all()?;
            temp.persist(&disk).map_err(|e| e.error)?;
            Ok(())
        };
        write().map_err(|e| ApiError::internal(e.to_string()))?;
        let id = existing
            .as_ref()
            .map(|e| e.object_id)
            .unwrap_or_else(|| self.next_id());
        let info = ObjectInfo {
            object_type: object_type.to_string(),
            path: path.to_string(),
            object_id: id,
            language,
            size: Some(bytes.len() as u64),
            created_at: existing
                .as_ref()
                .map(|e| e.created_at)
                .unwrap_or_else(now_ms),
            modified_at: now_ms(),
        };
        self.index
            .update(|index| index.insert(path.to_string(), info.clone()))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(info)
    }

    pub fn list(&self, path: &str) -> ApiResult<Vec<ObjectInfo>> {
        let info = self
            .status(path)
            .ok_or_else(|| ApiError::not_found(format!("Path ({path}) doesn't exist.")))?;
        if info.object_type != "DIRECTORY" {
            return Ok(vec![info]);
        }
        Ok(self
            .index
            .all()
            .into_iter()
            .filter(|(p, _)| p != path && parent(p).as_deref() == Some(path))
            .map(|(_, i)| i)
            .collect())
    }

    pub fn delete(&self, path: &str, recursive: bool) -> ApiResult<()> {
        let info = self
            .status(path)
            .ok_or_else(|| ApiError::not_found(format!("Path ({path}) doesn't exist.")))?;
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let children: Vec<String> = self
            .index
            .all()
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| p.starts_with(&prefix))
            .collect();
        if info.object_type == "DIRECTORY" && !children.is_empty() && !recursive {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "DIRECTORY_NOT_EMPTY",
                format!("Folder ({path}) is not empty."),
            ));
        }
        let disk = self.disk_path(path);
        let removed = if info.object_type == "DIRECTORY" {
            std::fs::remove_dir_all(&disk)
        } else {
            std::fs::remove_file(&disk)
        };
        removed.map_err(|e| ApiError::internal(e.to_string()))?;
        self.index
            .update(|index| {
                index.remove(path);
                for child in children {
                    index.remove(&child);
                }
            })
            .map_err(|e| ApiError::internal(e.to_string()))
    }
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/2.0/workspace/import", post(import))
        .route("/api/2.0/workspace/export", get(export))
        .route("/api/2.0/workspace/get-status", get(get_status))
        .route("/api/2.0/workspace/list", get(list))
        .route("/api/2.0/workspace/mkdirs", post(mkdirs))
        .route("/api/2.0/workspace/delete", post(delete))
        .route("/workspace-files/{*path}", get(serve_file))
}

/// Serves a workspace file to a browser (the chat page), starting a browser session so the page
/// can call the Genie API from the same origin without ever holding a token.
async fn serve_file(
    State(workspace): State<Shared>,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    let path = normalize_path(&format!("/{path}"))?;
    let (info, bytes) = workspace.files.read(&path)?;
    if info.object_type != "FILE" {
        return Err(ApiError::not_found(format!("Path ({path}) is not a file.")));
    }
    let content_type = match path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "text/plain; charset=utf-8",
    };
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict",
        super::SESSION_COOKIE,
        workspace.session_token()
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::SET_COOKIE, cookie),
        ],
        bytes,
    )
        .into_response())
}

struct ImportRequest {
    path: String,
    content: Option<String>,
    format: Option<String>,
    language: Option<String>,
    overwrite: bool,
}

/// Import formats (reference `databricks-api.md` §4).
const IMPORT_FORMATS: [&str; 7] = [
    "AUTO",
    "SOURCE",
    "HTML",
    "JUPYTER",
    "DBC",
    "R_MARKDOWN",
    "RAW",
];
/// Notebook languages (reference §4: `SOURCE` needs one of them).
const LANGUAGES: [&str; 4] = ["PYTHON", "SQL", "SCALA", "R"];

impl ImportRequest {
    /// The JSON form: `{path, content (base64), format, language, overwrite}`.
    fn from_json(body: &Value) -> ApiResult<ImportRequest> {
        let fields = Fields::of(body)?;
        Ok(ImportRequest {
            path: fields.required_string("path")?.to_string(),
            content: fields.string("content")?.map(str::to_string),
            format: fields.string("format")?.map(str::to_string),
            language: fields.string("language")?.map(str::to_string),
            overwrite: fields.boolean("overwrite")?.unwrap_or(false),
        })
    }
}

/// Notebook language from a source header, as `AUTO` import detects it.
fn notebook_language(bytes: &[u8]) -> Option<&'static str> {
    let text = std::str::from_utf8(bytes.get(..bytes.len().min(64))?).ok()?;
    if text.starts_with("# Databricks notebook source") {
        Some("PYTHON")
    } else if text.starts_with("-- Databricks notebook source") {
        Some("SQL")
    } else {
        None
    }
}

/// The import request as JSON (base64 content) or as the multipart form the SDKs' `upload`
/// sends (raw content).
async fn import_request(request: axum::extract::Request) -> ApiResult<(ImportRequest, Vec<u8>)> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        use axum::extract::FromRequest;
        let Body(body) = Body::<Value>::from_request(request, &()).await?;
        let parsed = ImportRequest::from_json(&body)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(parsed.content.clone().unwrap_or_default())
            .map_err(|_| ApiError::invalid("content is not valid base64"))?;
        return Ok((parsed, bytes));
    }
    use axum::extract::FromRequest;
    let malformed = |e: String| ApiError::new(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", e);
    let mut form = axum::extract::Multipart::from_request(request, &())
        .await
        .map_err(|e| malformed(e.body_text()))?;
    let mut parsed = ImportRequest {
        path: String::new(),
        content: None,
        format: None,
        language: None,
        overwrite: false,
    };
    let mut bytes = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| malformed(e.body_text()))?
    {
        let name = field.name().unwrap_or("").to_string();
        let data = field.bytes().await.map_err(|e| malformed(e.body_text()))?;
        let text = || String::from_utf8_lossy(&data).to_string();
        match name.as_str() {
            "path" => parsed.path = text(),
            "format" => parsed.format = Some(text()),
            "language" => parsed.language = Some(text()),
            "overwrite" => parsed.overwrite = text().eq_ignore_ascii_case("true"),
            "content" => bytes = data.to_vec(),
            _ => {}
        }
    }
    if parsed.path.is_empty() {
        return Err(missing("path"));
    }
    Ok((parsed, bytes))
}

async fn import(
    State(workspace): State<Shared>,
    request: axum::extract::Request,
) -> ApiResult<Json<Value>> {
    let (request, bytes) = import_request(request).await?;
    let path = normalize_path(&request.path)?;
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MAX_NOTEBOOK_SIZE_EXCEEDED",
            "File size imported is (over 10 MB) too large.",
        ));
    }
    let format = request.format.as_deref().unwrap_or("SOURCE");
    if !IMPORT_FORMATS.contains(&format) {
        return Err(not_one_of("format", format, &IMPORT_FORMATS));
    }
    if let Some(language) = request.language.as_deref()
        && !LANGUAGES.contains(&language)
    {
        return Err(not_one_of("language", language, &LANGUAGES));
    }
    let (object_type, language, path) = match format {
        "AUTO" | "RAW" => match notebook_language(&bytes).filter(|_| format == "AUTO") {
            // Notebooks lose their extension, as on Databricks.
            Some(language) => (
                "NOTEBOOK",
                Some(language.to_string()),
                path.rsplit_once('.')
                    .map(|(p, _)| p.to_string())
                    .unwrap_or(path),
            ),
            None => ("FILE", None, path),
        },
        "SOURCE" => {
            let language = request
                .language
                .clone()
                .ok_or_else(|| ApiError::invalid("The language must be set for SOURCE format."))?;
            ("NOTEBOOK", Some(language), path)
        }
        _ => ("NOTEBOOK", request.language.clone(), path),
    };
    workspace
        .files
        .write(&path, &bytes, object_type, language, request.overwrite)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct PathQuery {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    direct_download: bool,
    #[serde(default)]
    format: Option<String>,
}

impl PathQuery {
    /// The `path` parameter, required by every route that takes it, normalised.
    fn path(&self) -> ApiResult<String> {
        match self.path.as_deref() {
            Some(path) if !path.is_empty() => normalize_path(path),
            _ => Err(missing("path")),
        }
    }
}

/// Export formats (reference §4: `SOURCE|AUTO|...`, the import formats).
const EXPORT_FORMATS: [&str; 7] = IMPORT_FORMATS;

async fn export(
    State(workspace): State<Shared>,
    Params(query): Params<PathQuery>,
) -> ApiResult<Response> {
    let path = query.path()?;
    if let Some(format) = query.format.as_deref()
        && !EXPORT_FORMATS.contains(&format)
    {
        return Err(not_one_of("format", format, &EXPORT_FORMATS));
    }
    let (info, bytes) = workspace.files.read(&path)?;
    if query.direct_download {
        return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response());
    }
    let file_type = match (info.object_type.as_str(), info.language.as_deref()) {
        ("NOTEBOOK", Some("PYTHON")) => "py",
        ("NOTEBOOK", Some("SQL")) => "sql",
        _ => path.rsplit_once('.').map(|(_, e)| e).unwrap_or(""),
    };
    Ok(Json(json!({
        "content": base64::engine::general_purpose::STANDARD.encode(bytes),
        "file_type": file_type,
    }))
    .into_response())
}

async fn get_status(
    State(workspace): State<Shared>,
    Params(query): Params<PathQuery>,
) -> ApiResult<Json<ObjectInfo>> {
    let path = query.path()?;
    workspace
        .files
        .status(&path)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("Path ({path}) doesn't exist.")))
}

async fn list(
    State(workspace): State<Shared>,
    Params(query): Params<PathQuery>,
) -> ApiResult<Json<Value>> {
    let path = query.path()?;
    let objects = workspace.files.list(&path)?;
    if objects.is_empty() {
        return Ok(Json(json!({})));
    }
    Ok(Json(json!({"objects": objects})))
}

async fn mkdirs(
    State(workspace): State<Shared>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let path = Fields::of(&body)?.required_string("path")?;
    workspace.files.mkdirs(&normalize_path(path)?)?;
    Ok(Json(json!({})))
}

async fn delete(
    State(workspace): State<Shared>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let fields = Fields::of(&body)?;
    let path = fields.required_string("path")?;
    let recursive = fields.boolean("recursive")?.unwrap_or(false);
    workspace.files.delete(&normalize_path(path)?, recursive)?;
    Ok(Json(json!({})))
}
