//! The projects family (`/data/api/v1/projects...`): list, names, find, create, modify, delete,
//! and the zip export/import that is the API's only way to change a project's resources (8.3
//! has no per-resource project route). The zip holds the project folder as it is on disk
//! (`project.json`, `<module>/<type>/<path>/resource.json` + payloads). Import reproduces the
//! live-witnessed quirks: without `overwrite=true` an existing project answers HTTP 200
//! `{"success": false, "problem": "..."}` and lands nothing; a file lands only if its folder's
//! `resource.json` lists it, and a folder without `resource.json` is no resource.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Map, Value, json};

use super::scan::{Unit, gson_bytes, sign, write_unit};
use super::{ApiError, ApiResult, Shared, envelope, gson_response, parse_body};
use lode_wire::ignition::data_dir::{remove_dir, write_atomic};

/// Project properties the create and modify bodies may carry (besides `name`).
const PROPERTIES: [&str; 9] = [
    "title",
    "description",
    "enabled",
    "inheritable",
    "parent",
    "defaultDb",
    "tagProvider",
    "userSource",
    "identityProvider",
];

/// A list/find item: the name, then `project.json` with its optional keys defaulted.
fn project_item(name: &str, meta: &Value) -> Value {
    let mut item = Map::new();
    item.insert("name".into(), json!(name));
    for (key, default) in [
        ("title", json!("")),
        ("description", json!("")),
        ("enabled", json!(true)),
        ("inheritable", json!(false)),
        ("parent", json!("")),
    ] {
        item.insert(key.into(), meta.get(key).cloned().unwrap_or(default));
    }
    for (key, value) in meta.as_object().into_iter().flatten() {
        item.entry(key.clone()).or_insert(value.clone());
    }
    Value::Object(item)
}

fn success(name: &str) -> Response {
    gson_response(
        StatusCode::OK,
        &json!({"success": true, "changes": [{"name": name}]}),
    )
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.trim().is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(format!(
            "Invalid project name '{name}'"
        )));
    }
    Ok(())
}

fn project_dir(gateway: &Shared, name: &str) -> std::path::PathBuf {
    gateway.config.data_dir.join("projects").join(name)
}

async fn list(
    State(gateway): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let view = gateway.view();
    let items = view
        .projects
        .iter()
        .map(|(name, meta)| project_item(name, meta))
        .collect();
    axum::Json(envelope(items, &query)).into_response()
}

async fn names(
    State(gateway): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let view = gateway.view();
    let items = view.projects.keys().map(|n| json!(n)).collect();
    axum::Json(envelope(items, &query)).into_response()
}

async fn find(State(gateway): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    let view = gateway.view();
    let meta = view
        .projects
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("Project '{name}' not found")))?;
    Ok(axum::Json(project_item(&name, meta)).into_response())
}

/// Copies the known properties of a create/modify body onto `meta`, checking their types.
fn apply_properties(meta: &mut Map<String, Value>, body: &Value) -> ApiResult<()> {
    for key in PROPERTIES {
        let Some(value) = body.get(key) else { continue };
        let ok = match key {
            "enabled" | "inheritable" => value.is_boolean(),
            _ => value.is_string() || value.is_null(),
        };
        if !ok {
            return Err(ApiError::bad_request(format!(
                "Invalid value for '{key}': {value}"
            )));
        }
        let value = if value.is_null() {
            json!("")
        } else {
            value.clone()
        };
        meta.insert(key.into(), value);
    }
    Ok(())
}

fn check_parent(
    view: &super::scan::LoadedView,
    name: &str,
    meta: &Map<String, Value>,
) -> ApiResult<()> {
    match meta.get("parent").and_then(Value::as_str) {
        Some(parent) if !parent.is_empty() => {
            if parent == name {
                return Err(ApiError::bad_request("A project cannot be its own parent"));
            }
            if !view.projects.contains_key(parent) {
                return Err(ApiError::bad_request(format!(
                    "Parent project '{parent}' not found"
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

async fn create(State(gateway): State<Shared>, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object",
        ));
    }
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid value for 'name': {other}"
            )));
        }
    }
    .filter(|n| !n.is_empty())
    .ok_or_else(|| ApiError::bad_request("Missing required parameter 'name'"))?;
    check_name(&name)?;
    let mut view = gateway.view();
    if let Some(existing) = view.projects.keys().find(|n| n.eq_ignore_ascii_case(&name)) {
        return Err(ApiError::conflict(format!(
            "Project '{name}' already exists (as '{existing}')"
        )));
    }
    let mut meta = Map::new();
    for (key, default) in [
        ("title", json!("")),
        ("description", json!("")),
        ("enabled", json!(true)),
        ("inheritable", json!(false)),
        ("parent", json!("")),
    ] {
        meta.insert(key.into(), default);
    }
    apply_properties(&mut meta, &body)?;
    check_parent(&view, &name, &meta)?;
    let meta = Value::Object(meta);
    write_atomic(
        &project_dir(&gateway, &name).join("project.json"),
        &gson_bytes(&meta),
    )?;
    view.projects.insert(name.clone(), meta);
    Ok(success(&name))
}

async fn modify(
    State(gateway): State<Shared>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object",
        ));
    }
    let mut view = gateway.view();
    let mut meta = view
        .projects
        .get(&name)
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("Project '{name}' not found")))?;
    apply_properties(&mut meta, &body)?;
    check_parent(&view, &name, &meta)?;
    let meta = Value::Object(meta);
    write_atomic(
        &project_dir(&gateway, &name).join("project.json"),
        &gson_bytes(&meta),
    )?;
    view.projects.insert(name.clone(), meta);
    Ok(success(&name))
}

async fn delete(
    State(gateway): State<Shared>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    if query.get("confirm").map(String::as_str) != Some("true") {
        return Err(ApiError::bad_request(
            "Deleting a project requires confirm=true",
        ));
    }
    let mut view = gateway.view();
    if !view.projects.contains_key(&name) {
        return Err(ApiError::not_found(format!("Project '{name}' not found")));
    }
    remove_dir(&project_dir(&gateway, &name))?;
    view.projects.remove(&name);
    let prefix = format!("{name}/");
    view.project_units
        .retain(|key, _| !key.starts_with(&prefix));
    Ok(success(&name))
}

/// The loaded project as an export zip: `project.json`, then each resource folder's
/// `resource.json` (as the gateway writes it) and payload files.
pub fn export_zip(view: &super::scan::LoadedView, name: &str) -> ApiResult<Vec<u8>> {
    let meta = view
        .projects
        .get(name)
        .ok_or_else(|| ApiError::not_found(format!("Project '{name}' not found")))?;
    let zip_error = |e: zip::result::ZipError| ApiError::internal(format!("cannot build zip: {e}"));
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut add = |path: String, bytes: &[u8]| -> ApiResult<()> {
        writer.start_file(path, options).map_err(zip_error)?;
        writer.write_all(bytes)?;
        Ok(())
    };
    add("project.json".into(), &gson_bytes(meta))?;
    let prefix = format!("{name}/");
    for (key, unit) in view
        .project_units
        .range(prefix.clone()..)
        .take_while(|(key, _)| key.starts_with(&prefix))
    {
        let rel = &key[prefix.len()..];
        if let Some(manifest) = &unit.manifest {
            add(format!("{rel}/resource.json"), &gson_bytes(manifest))?;
        }
        for (file, bytes) in &unit.files {
            add(format!("{rel}/{file}"), bytes)?;
        }
    }
    let cursor = writer.finish().map_err(zip_error)?;
    Ok(cursor.into_inner())
}

async fn export(State(gateway): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    let bytes = export_zip(&gateway.view(), &name)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.zip\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The zip's file members by their (safe, `/`-separated) path.
fn read_zip(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let mut members = BTreeMap::new();
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).map_err(|e| e.to_string())?;
        if file.is_dir() {
            continue;
        }
        // Members that would escape the project folder are dropped.
        let Some(path) = file.enclosed_name() else {
            continue;
        };
        let path: Vec<String> = path
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => Some(s.to_string_lossy().to_string()),
                _ => None,
            })
            .collect();
        if path.is_empty() || path.iter().any(|s| s.starts_with('.')) {
            continue;
        }
        let mut content = Vec::new();
        file.read_to_end(&mut content).map_err(|e| e.to_string())?;
        members.insert(path.join("/"), content);
    }
    Ok(members)
}

/// The resources a zip defines: each folder with a `resource.json` object (not inside another
/// resource), with only the payload files that manifest lists.
fn units_from_zip(members: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Unit> {
    let dirs: Vec<&str> = members
        .keys()
        .filter_map(|path| path.strip_suffix("/resource.json"))
        .collect();
    let mut units = BTreeMap::new();
    for dir in &dirs {
        let nested = dirs
            .iter()
            .any(|other| other != dir && dir.starts_with(&format!("{other}/")));
        if nested {
            continue;
        }
        let Ok(manifest @ Value::Object(_)) =
            serde_json::from_slice::<Value>(&members[&format!("{dir}/resource.json")])
        else {
            continue;
        };
        let mut files = BTreeMap::new();
        for name in manifest
            .get("files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if let Some(bytes) = members.get(&format!("{dir}/{name}")) {
                files.insert(name.to_string(), bytes.clone());
            }
        }
        units.insert(
            dir.to_string(),
            Unit {
                manifest: Some(manifest),
                files,
            },
        );
    }
    units
}

/// A manifest without what the gateway stamps on it, for "did this resource change?".
fn unsigned(manifest: &Option<Value>) -> Option<Value> {
    let mut manifest = manifest.clone()?;
    if let Some(attributes) = manifest
        .get_mut("attributes")
        .and_then(Value::as_object_mut)
    {
        attributes.retain(|k, _| k != "lastModification" && k != "lastModificationSignature");
    }
    Some(manifest)
}

async fn import(
    State(gateway): State<Shared>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Response> {
    check_name(&name)?;
    let overwrite = super::scan::query_flag(&query, "overwrite").unwrap_or(false);
    let members = read_zip(&body).map_err(|e| {
        ApiError::bad_request(format!("The request body is not a project zip: {e}"))
    })?;
    let refuse = |problem: String| {
        gson_response(
            StatusCode::OK,
            &json!({"success": false, "problem": problem}),
        )
    };
    let mut view = gateway.view();
    if let Some(other) = view
        .projects
        .keys()
        .find(|n| n.eq_ignore_ascii_case(&name) && **n != name)
    {
        return Ok(refuse(format!(
            "Project name '{name}' conflicts with existing project '{other}'"
        )));
    }
    if view.projects.contains_key(&name) && !overwrite {
        return Ok(refuse(format!(
            "Project '{name}' already exists; import with overwrite=true to replace it"
        )));
    }
    let meta = match members.get("project.json") {
        Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(meta @ Value::Object(_)) => meta,
            _ => return Ok(refuse("project.json is not a JSON object".into())),
        },
        None => {
            json!({"title": "", "description": "", "enabled": true, "inheritable": false, "parent": ""})
        }
    };
    let actor = gateway.token_name();
    let prefix = format!("{name}/");
    let mut imported = BTreeMap::new();
    for (dir, mut unit) in units_from_zip(&members) {
        let key = format!("{prefix}{dir}");
        // An unchanged resource keeps its stamp; anything else is re-signed as written by
        // the token's user.
        match view.project_units.get(&key) {
            Some(loaded)
                if loaded.files == unit.files
                    && unsigned(&loaded.manifest) == unsigned(&unit.manifest) =>
            {
                unit.manifest = loaded.manifest.clone();
            }
            _ => {
                if let Some(manifest) = unit.manifest.as_mut() {
                    sign(manifest, &unit.files, &actor);
                }
            }
        }
        imported.insert(key, unit);
    }
    // The import replaces the project: resources absent from the zip are gone afterwards.
    let dir = project_dir(&gateway, &name);
    remove_dir(&dir)?;
    write_atomic(&dir.join("project.json"), &gson_bytes(&meta))?;
    for (key, unit) in &imported {
        write_unit(&dir.join(&key[prefix.len()..]), unit, false)?;
    }
    view.projects.insert(name.clone(), meta);
    view.project_units
        .retain(|key, _| !key.starts_with(&prefix));
    view.project_units.extend(imported);
    Ok(success(&name))
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/data/api/v1/projects", post(create))
        .route("/data/api/v1/projects/list", get(list))
        .route("/data/api/v1/projects/names", get(names))
        .route("/data/api/v1/projects/find/{name}", get(find))
        .route("/data/api/v1/projects/export/{name}", get(export))
        .route("/data/api/v1/projects/import/{name}", post(import))
        .route("/data/api/v1/projects/{name}", put(modify).delete(delete))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};

    use super::super::test_support::*;

    fn zip_members(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        (0..archive.len())
            .map(|i| {
                let mut file = archive.by_index(i).unwrap();
                let name = file
                    .enclosed_name()
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                let mut content = Vec::new();
                file.read_to_end(&mut content).unwrap();
                (name, content)
            })
            .collect()
    }

    fn build_zip(members: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        for (name, content) in members {
            writer.start_file(name.as_str(), options).unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn import(
        gateway: &super::super::RunningGateway,
        name: &str,
        query: &str,
        zip: Vec<u8>,
    ) -> reqwest::blocking::Response {
        client()
            .post(format!(
                "{}/data/api/v1/projects/import/{name}{query}",
                gateway.url
            ))
            .header("X-Ignition-API-Token", TOKEN)
            .header("Content-Type", "application/octet-stream")
            .body(zip)
            .send()
            .unwrap()
    }

    #[test]
    fn list_names_find_create_modify_delete() {
        let (dir, gateway) = gateway(true);
        let list = get_json(&gateway, "/data/api/v1/projects/list");
        assert_eq!(list["metadata"]["total"], 1);
        assert_eq!(list["items"][0]["name"], "example-project");
        assert_eq!(list["items"][0]["title"], "example");
        assert_eq!(
            get_json(&gateway, "/data/api/v1/projects/names")["items"],
            json!(["example-project"])
        );
        let created = send(
            &gateway,
            Method::POST,
            "/data/api/v1/projects",
            Some(json!({"name": "Mining", "title": "Mining demo", "enabled": true})),
        );
        assert_eq!(created.status(), StatusCode::OK);
        assert_eq!(created.json::<Value>().unwrap()["success"], true);
        assert!(dir.path().join("projects/Mining/project.json").is_file());
        let clash = send(
            &gateway,
            Method::POST,
            "/data/api/v1/projects",
            Some(json!({"name": "mining"})),
        );
        assert_eq!(clash.status(), StatusCode::CONFLICT);
        let no_name = send(
            &gateway,
            Method::POST,
            "/data/api/v1/projects",
            Some(json!({})),
        );
        assert_eq!(no_name.status(), StatusCode::BAD_REQUEST);

        let modified = send(
            &gateway,
            Method::PUT,
            "/data/api/v1/projects/Mining",
            Some(json!({"description": "Haul trucks", "parent": "example-project"})),
        );
        assert_eq!(modified.status(), StatusCode::OK);
        let found = get_json(&gateway, "/data/api/v1/projects/find/Mining");
        assert_eq!(found["description"], "Haul trucks");
        assert_eq!(found["title"], "Mining demo");
        assert_eq!(found["parent"], "example-project");

        let unconfirmed = send(
            &gateway,
            Method::DELETE,
            "/data/api/v1/projects/Mining",
            None,
        );
        assert_eq!(unconfirmed.status(), StatusCode::BAD_REQUEST);
        let deleted = send(
            &gateway,
            Method::DELETE,
            "/data/api/v1/projects/Mining?confirm=true",
            None,
        );
        assert_eq!(deleted.status(), StatusCode::OK);
        assert!(!dir.path().join("projects/Mining").exists());
        assert_eq!(
            get(&gateway, "/data/api/v1/projects/find/Mining").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn export_import_round_trip_with_the_gateway_quirks() {
        let (dir, gateway) = gateway(true);
        let exported = get(&gateway, "/data/api/v1/projects/export/example-project");
        assert_eq!(exported.status(), StatusCode::OK);
        assert_eq!(
            exported.headers()["content-type"].to_str().unwrap(),
            "application/zip"
        );
        let members = zip_members(&exported.bytes().unwrap());
        let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "project.json");
        let view = "com.inductiveautomation.perspective/views/pages/overview";
        assert!(names.contains(&format!("{view}/view.json").as_str()));
        assert!(names.contains(&format!("{view}/resource.json").as_str()));
        // Payloads are byte-identical to the disk.
        let on_disk = std::fs::read(
            dir.path()
                .join("projects/example-project")
                .join(view)
                .join("view.json"),
        )
        .unwrap();
        let in_zip = &members
            .iter()
            .find(|(n, _)| n == &format!("{view}/view.json"))
            .unwrap()
            .1;
        assert_eq!(in_zip, &on_disk);

        // Without overwrite, an existing project is refused with HTTP 200 and nothing lands.
        let mut changed = members.clone();
        changed.push((
            "ignition/timer/Tick/handleTimerEvent.py".into(),
            b"def handleTimerEvent():\n\tpass\n".to_vec(),
        ));
        changed.push((
            "ignition/timer/Tick/resource.json".into(),
            serde_json::to_vec(&json!({"scope": "G", "version": 1, "restricted": false, "overridable": true,
                "files": ["handleTimerEvent.py"], "attributes": {"delay": 1000, "fixedDelay": false, "enabled": true}})).unwrap(),
        ));
        // Not listed in its folder's resource.json: ignored.
        changed.push((format!("{view}/notes.txt"), b"ignored".to_vec()));
        // A folder without resource.json: no resource.
        changed.push((
            "ignition/timer/Orphan/handleTimerEvent.py".into(),
            b"x".to_vec(),
        ));
        let refused = import(&gateway, "example-project", "", build_zip(&changed));
        assert_eq!(refused.status(), StatusCode::OK);
        let body: Value = refused.json().unwrap();
        assert_eq!(body["success"], false);
        assert!(body["problem"].as_str().unwrap().contains("already exists"));
        let timer = dir
            .path()
            .join("projects/example-project/ignition/timer/Tick");
        assert!(!timer.exists());

        let landed = import(
            &gateway,
            "example-project",
            "?overwrite=true",
            build_zip(&changed),
        );
        assert_eq!(landed.status(), StatusCode::OK);
        assert_eq!(landed.json::<Value>().unwrap()["success"], true);
        assert!(timer.join("handleTimerEvent.py").is_file());
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(timer.join("resource.json")).unwrap()).unwrap();
        assert_eq!(manifest["attributes"]["lastModification"]["actor"], "lode");
        assert_eq!(manifest["attributes"]["delay"], 1000);
        let project = dir.path().join("projects/example-project");
        assert!(!project.join(view).join("notes.txt").exists());
        assert!(!project.join("ignition/timer/Orphan").exists());
        // Unchanged resources keep their manifests (no churn for an identical re-import).
        let overview_manifest: Value = serde_json::from_slice(
            &std::fs::read(project.join(view).join("resource.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            overview_manifest["attributes"]["lastModification"]["actor"],
            "admin"
        );

        // The gateway loaded what it imported: the next export has the timer.
        let again = zip_members(
            &get(&gateway, "/data/api/v1/projects/export/example-project")
                .bytes()
                .unwrap(),
        );
        assert!(
            again
                .iter()
                .any(|(n, _)| n == "ignition/timer/Tick/handleTimerEvent.py")
        );

        // A new project lands without overwrite.
        let fresh = import(&gateway, "Copy", "", build_zip(&members));
        assert_eq!(fresh.json::<Value>().unwrap()["success"], true);
        assert_eq!(
            get_json(&gateway, "/data/api/v1/projects/find/Copy")["title"],
            "example"
        );
    }
}
