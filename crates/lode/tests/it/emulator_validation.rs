//! Request validation by both emulators (issue #6): a malformed request gets the real API's
//! 400 and error body, so a bug in lode's own providers fails a test instead of passing
//! against a lenient emulator. Databricks routes answer `{"error_code", "message"}`: a body or
//! field of the wrong JSON type is `MALFORMED_REQUEST`; a missing required field, an unknown
//! enum value, an out-of-range value or an ill-formed id or path is `INVALID_PARAMETER_VALUE`.
//! The gateway answers `{"success": false, "problem": {"message", "stacktrace"}}`, and the
//! Zerobus module's servlet its own `validation_failed` body. One test per family of rules,
//! each asserting the status, the code and the message, plus the checks that a valid request
//! still goes through. Where a message is the emulator's guess (the reference records none),
//! the emulator keeps it in one named function or constant; these tests pin it so a change is
//! deliberate.

use std::path::Path;
use std::time::Duration;

use lode_emulators::databricks::{EmulatorConfig, RunningEmulator};
use lode_emulators::ignition::{GatewayConfig, RunningGateway};
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const TOKEN: &str = "dapi-validation";
const GATEWAY_TOKEN: &str = "ci:validation-secret";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

fn http() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// What a call answered: status and JSON body (`Null` when the body is not JSON).
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn from(response: reqwest::blocking::Response) -> Reply {
        let status = response.status().as_u16();
        let bytes = response.bytes().unwrap();
        Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    #[track_caller]
    fn ok(self) -> Value {
        assert_eq!(self.status, 200, "expected 200: {self:#?}");
        self.body
    }

    /// Asserts a Databricks error: exactly this status, code and message.
    #[track_caller]
    fn databricks(&self, status: u16, code: &str, message: &str) {
        assert_eq!(
            (self.status, &self.body),
            (status, &json!({"error_code": code, "message": message})),
            "{self:#?}"
        );
    }

    /// Asserts a gateway error: exactly this status and problem message.
    #[track_caller]
    fn gateway(&self, status: u16, message: &str) {
        assert_eq!(
            (self.status, &self.body),
            (
                status,
                &json!({"success": false, "problem": {"message": message, "stacktrace": []}})
            ),
            "{self:#?}"
        );
    }
}

/// A Databricks emulator on a fresh data folder.
struct Workspace {
    url: String,
    http: Client,
    _running: RunningEmulator,
    _dir: tempfile::TempDir,
}

impl Workspace {
    fn start() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let running = lode_emulators::databricks::start(EmulatorConfig {
            data_dir: dir.path().to_path_buf(),
            token: TOKEN.into(),
            oauth_client: None,
            port: 0,
            faults: Default::default(),
        })
        .expect("the Databricks emulator starts");
        Workspace {
            url: running.url.clone(),
            http: http(),
            _running: running,
            _dir: dir,
        }
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .query(query)
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(body);
        }
        Reply::from(request.send().unwrap())
    }

    /// A POST of raw bytes declared as JSON.
    fn post_raw(&self, path: &str, body: &str) -> Reply {
        Reply::from(
            self.http
                .post(format!("{}{path}", self.url))
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .unwrap(),
        )
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, query, None)
    }

    fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, &[], Some(&body))
    }

    fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, &[], Some(&body))
    }

    fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, &[], Some(&body))
    }

    fn warehouse(&self) -> String {
        self.get("/api/2.0/sql/warehouses", &[]).ok()["warehouses"][0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn statement(&self, mut body: Value) -> Reply {
        if body.get("warehouse_id").is_none() {
            body["warehouse_id"] = json!(self.warehouse());
        }
        self.post("/api/2.0/sql/statements", body)
    }

    #[track_caller]
    fn sql(&self, statement: &str) {
        let response = self
            .statement(json!({"statement": statement, "wait_timeout": "30s"}))
            .ok();
        assert_eq!(
            response["status"]["state"], "SUCCEEDED",
            "{statement}: {response:#}"
        );
    }

    /// A pipeline that passes every rule, as lode's provider sends one.
    fn pipeline(&self, name: &str) -> String {
        let created = self.post("/api/2.0/pipelines", pipeline_spec(name)).ok();
        created["pipeline_id"].as_str().unwrap().to_string()
    }
}

fn pipeline_spec(name: &str) -> Value {
    json!({
        "name": name, "catalog": "main", "schema": "default",
        "libraries": [{"file": {"path": "/Shared/p/silver.sql"}}, {"glob": {"include": "/Shared/p/**"}}],
        "configuration": {"bronze": "main.default.bronze"},
        "continuous": false, "development": true, "channel": "CURRENT", "edition": "ADVANCED",
        "photon": true, "serverless": true, "tags": {"lode": "pipeline/x"},
    })
}

/// A gateway emulator on a fresh data directory (a newly installed gateway).
struct Gateway {
    url: String,
    http: Client,
    _running: RunningGateway,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn start() -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let running = lode_emulators::ignition::start(GatewayConfig {
            data_dir: dir.path().to_path_buf(),
            token: GATEWAY_TOKEN.into(),
            read_only_token: None,
            port: 0,
            ..Default::default()
        })
        .expect("the gateway emulator starts");
        Gateway {
            url: running.url.clone(),
            http: http(),
            _running: running,
            _dir: dir,
        }
    }

    fn data_dir(&self) -> &Path {
        self._dir.path()
    }

    fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("X-Ignition-API-Token", GATEWAY_TOKEN);
        if let Some(body) = body {
            request = request.json(body);
        }
        Reply::from(request.send().unwrap())
    }

    fn send_raw(&self, method: Method, path: &str, body: &str) -> Reply {
        Reply::from(
            self.http
                .request(method, format!("{}{path}", self.url))
                .header("X-Ignition-API-Token", GATEWAY_TOKEN)
                .header("content-type", "application/octet-stream")
                .body(body.to_string())
                .send()
                .unwrap(),
        )
    }

    fn zerobus(&self, config: Value) -> Reply {
        Reply::from(
            self.http
                .post(format!("{}/system/zerobus/config", self.url))
                .json(&config)
                .send()
                .unwrap(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Databricks
// ---------------------------------------------------------------------------------------------

#[test]
fn databricks_bodies_that_are_not_json_objects_are_malformed_requests() {
    let ws = Workspace::start();
    // Not JSON at all: MALFORMED_REQUEST (the wording is the web framework's).
    let unparsable = ws.post_raw("/api/2.0/pipelines", "{not json");
    assert_eq!(unparsable.status, 400, "{unparsable:#?}");
    assert_eq!(unparsable.body["error_code"], "MALFORMED_REQUEST");
    assert!(
        unparsable.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("JSON")),
        "{unparsable:#?}"
    );
    // JSON, but not an object: the same code on every route that takes a body.
    for path in [
        "/api/2.0/pipelines",
        "/api/2.0/sql/statements",
        "/api/2.0/genie/spaces",
        "/api/2.0/workspace/mkdirs",
        "/api/2.0/workspace/delete",
        "/api/2.0/workspace/import",
        "/api/2.1/unity-catalog/schemas",
    ] {
        ws.post(path, json!(["an", "array"])).databricks(
            400,
            "MALFORMED_REQUEST",
            "Invalid JSON given in the body of the request - expected a map",
        );
    }
    let id = ws.pipeline("objects");
    ws.put(&format!("/api/2.0/pipelines/{id}"), json!("a string"))
        .databricks(
            400,
            "MALFORMED_REQUEST",
            "Invalid JSON given in the body of the request - expected a map",
        );
    ws.post(&format!("/api/2.0/pipelines/{id}/updates"), json!([true]))
        .databricks(
            400,
            "MALFORMED_REQUEST",
            "Invalid JSON given in the body of the request - expected a map",
        );
}

#[test]
fn databricks_fields_of_the_wrong_json_type_are_malformed_requests() {
    let ws = Workspace::start();
    let wrong = |field: &str, expected: &str| {
        format!("Invalid JSON given in the body of the request - '{field}' must be {expected}")
    };
    ws.statement(json!({"statement": 42})).databricks(
        400,
        "MALFORMED_REQUEST",
        &wrong("statement", "a string"),
    );
    ws.statement(json!({"statement": "SELECT 1", "row_limit": "ten"}))
        .databricks(400, "MALFORMED_REQUEST", &wrong("row_limit", "an integer"));
    ws.statement(json!({"statement": "SELECT :v", "parameters": {"v": "1"}}))
        .databricks(400, "MALFORMED_REQUEST", &wrong("parameters", "an array"));
    ws.statement(json!({"statement": "SELECT :v", "parameters": ["v"]}))
        .databricks(
            400,
            "MALFORMED_REQUEST",
            &wrong("parameters[0]", "an object"),
        );
    ws.statement(json!({"statement": "SELECT :v", "parameters": [{"name": "v", "value": 5}]}))
        .databricks(
            400,
            "MALFORMED_REQUEST",
            &wrong("parameters[0].value", "a string"),
        );

    let mut spec = pipeline_spec("typed");
    spec["continuous"] = json!("no");
    ws.post("/api/2.0/pipelines", spec).databricks(
        400,
        "MALFORMED_REQUEST",
        &wrong("continuous", "a boolean"),
    );
    let mut spec = pipeline_spec("typed");
    spec["configuration"] = json!({"threads": 4});
    ws.post("/api/2.0/pipelines", spec).databricks(
        400,
        "MALFORMED_REQUEST",
        &wrong("configuration.threads", "a string"),
    );
    let mut spec = pipeline_spec("typed");
    spec["libraries"] = json!([{"file": "/Shared/p/silver.sql"}]);
    ws.post("/api/2.0/pipelines", spec).databricks(
        400,
        "MALFORMED_REQUEST",
        &wrong("libraries[0].file", "an object"),
    );
    let id = ws.pipeline("typed");
    ws.post(
        &format!("/api/2.0/pipelines/{id}/updates"),
        json!({"full_refresh": "true"}),
    )
    .databricks(
        400,
        "MALFORMED_REQUEST",
        &wrong("full_refresh", "a boolean"),
    );

    ws.post(
        "/api/2.0/genie/spaces",
        json!({"warehouse_id": ws.warehouse(), "serialized_space": {"version": 2}}),
    )
    .databricks(
        400,
        "MALFORMED_REQUEST",
        &wrong("serialized_space", "a string"),
    );
    ws.post(
        "/api/2.0/workspace/import",
        json!({"path": "/Shared/x.txt", "format": "AUTO", "content": "eA==", "overwrite": "true"}),
    )
    .databricks(400, "MALFORMED_REQUEST", &wrong("overwrite", "a boolean"));
    ws.post("/api/2.0/workspace/mkdirs", json!({"path": ["/Shared/a"]}))
        .databricks(400, "MALFORMED_REQUEST", &wrong("path", "a string"));
    ws.post(
        "/api/2.0/workspace/delete",
        json!({"path": "/Shared", "recursive": 1}),
    )
    .databricks(400, "MALFORMED_REQUEST", &wrong("recursive", "a boolean"));
    ws.sql("CREATE TABLE main.default.t (x INT, ts TIMESTAMP)");
    ws.post(
        "/api/2.1/unity-catalog/tables/main.default.t/monitor",
        json!({"output_schema_name": "main.default", "assets_dir": "/Shared/m", "snapshot": {},
               "slicing_exprs": "x"}),
    )
    .databricks(
        400,
        "MALFORMED_REQUEST",
        &wrong("slicing_exprs", "an array"),
    );
    ws.post(
        "/api/2.1/unity-catalog/schemas",
        json!({"name": "s", "catalog_name": "main", "properties": {"owner": 1}}),
    )
    .databricks(
        400,
        "MALFORMED_REQUEST",
        &wrong("properties.owner", "a string"),
    );
}

#[test]
fn databricks_missing_required_fields_are_invalid_parameter_values() {
    let ws = Workspace::start();
    let missing = |reply: Reply, field: &str| {
        reply.databricks(
            400,
            "INVALID_PARAMETER_VALUE",
            &format!("Missing required field: {field}"),
        )
    };
    missing(ws.statement(json!({})), "statement");
    missing(
        ws.post("/api/2.0/sql/statements", json!({"statement": "SELECT 1"})),
        "warehouse_id",
    );
    missing(
        ws.statement(json!({"statement": "SELECT :v", "parameters": [{"value": "1"}]})),
        "parameters[0].name",
    );
    missing(ws.post("/api/2.0/workspace/mkdirs", json!({})), "path");
    missing(
        ws.post("/api/2.0/workspace/delete", json!({"recursive": true})),
        "path",
    );
    missing(
        ws.post(
            "/api/2.0/workspace/import",
            json!({"format": "AUTO", "content": ""}),
        ),
        "path",
    );
    missing(ws.get("/api/2.0/workspace/get-status", &[]), "path");
    missing(ws.get("/api/2.0/workspace/list", &[]), "path");
    missing(ws.get("/api/2.0/workspace/export", &[]), "path");
    missing(
        ws.get("/api/2.1/unity-catalog/schemas", &[]),
        "catalog_name",
    );
    missing(
        ws.get("/api/2.1/unity-catalog/tables", &[("catalog_name", "main")]),
        "schema_name",
    );
    missing(
        ws.post("/api/2.1/unity-catalog/schemas", json!({"name": "s"})),
        "catalog_name",
    );
    missing(
        ws.post(
            "/api/2.0/genie/spaces",
            json!({"serialized_space": "{\"version\": 2}"}),
        ),
        "warehouse_id",
    );
    missing(
        ws.post(
            "/api/2.0/genie/spaces",
            json!({"warehouse_id": ws.warehouse()}),
        ),
        "serialized_space",
    );
    let mut spec = pipeline_spec("libraries");
    spec["libraries"] = json!([{"notebook": {}}]);
    missing(
        ws.post("/api/2.0/pipelines", spec),
        "libraries[0].notebook.path",
    );
    let mut spec = pipeline_spec("libraries");
    spec["libraries"] = json!([{"glob": {"include": ""}}]);
    missing(
        ws.post("/api/2.0/pipelines", spec),
        "libraries[0].glob.include",
    );
    // A pipeline's name keeps its own message.
    let mut spec = pipeline_spec("");
    spec.as_object_mut().unwrap().remove("name");
    ws.post("/api/2.0/pipelines", spec).databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        "Pipeline name must be specified.",
    );

    ws.sql("CREATE TABLE main.default.t (x INT, ts TIMESTAMP)");
    let monitor = "/api/2.1/unity-catalog/tables/main.default.t/monitor";
    missing(
        ws.post(monitor, json!({"assets_dir": "/Shared/m", "snapshot": {}})),
        "output_schema_name",
    );
    missing(
        ws.post(
            monitor,
            json!({"output_schema_name": "main.default", "snapshot": {}}),
        ),
        "assets_dir",
    );
    missing(
        ws.post(
            monitor,
            json!({"output_schema_name": "main.default", "assets_dir": "/Shared/m",
                   "time_series": {"timestamp_col": "ts"}}),
        ),
        "time_series.granularities",
    );
    missing(
        ws.post(
            monitor,
            json!({"output_schema_name": "main.default", "assets_dir": "/Shared/m",
                   "time_series": {"granularities": ["1 day"]}}),
        ),
        "time_series.timestamp_col",
    );
    missing(
        ws.post(
            monitor,
            json!({"output_schema_name": "main.default", "assets_dir": "/Shared/m", "snapshot": {},
                   "schedule": {"quartz_cron_expression": "0 0 * * * ?"}}),
        ),
        "schedule.timezone_id",
    );
    missing(
        ws.post(
            monitor,
            json!({"output_schema_name": "main.default", "assets_dir": "/Shared/m",
                   "inference_log": {"problem_type": "PROBLEM_TYPE_REGRESSION", "timestamp_col": "ts",
                                     "granularities": ["1 day"], "model_id_col": "x"}}),
        ),
        "inference_log.prediction_col",
    );

    // A Genie question needs content.
    let space = ws
        .post(
            "/api/2.0/genie/spaces",
            json!({"warehouse_id": ws.warehouse(), "serialized_space": "{\"version\": 2}"}),
        )
        .ok();
    let space_id = space["space_id"].as_str().unwrap();
    missing(
        ws.post(
            &format!("/api/2.0/genie/spaces/{space_id}/start-conversation"),
            json!({}),
        ),
        "content",
    );
}

#[test]
fn sql_statement_requests_are_checked_before_anything_runs() {
    let ws = Workspace::start();
    // wait_timeout: 0s, or 5s to 50s.
    for wait in ["3s", "51s", "10", "5.5s", "s", "", " 10s"] {
        ws.statement(json!({"statement": "SELECT 1", "wait_timeout": wait}))
            .databricks(
                400,
                "INVALID_PARAMETER_VALUE",
                &format!("wait_timeout must be 0s or between 5s and 50s, got {wait}"),
            );
    }
    for wait in ["0s", "5s", "50s"] {
        let reply = ws
            .statement(json!({"statement": "SELECT 1", "wait_timeout": wait}))
            .ok();
        assert!(reply["statement_id"].is_string(), "{wait}: {reply:#}");
    }
    // The enums, exactly as spelled.
    ws.statement(json!({"statement": "SELECT 1", "on_wait_timeout": "WAIT"}))
        .databricks(
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid value 'WAIT' for on_wait_timeout: expected one of CONTINUE, CANCEL.",
        );
    ws.statement(json!({"statement": "SELECT 1", "disposition": "inline"}))
        .databricks(
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid value 'inline' for disposition: expected one of INLINE, EXTERNAL_LINKS.",
        );
    ws.statement(json!({"statement": "SELECT 1", "format": "PARQUET"}))
        .databricks(
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid value 'PARQUET' for format: expected one of JSON_ARRAY, ARROW_STREAM, CSV.",
        );
    // ARROW_STREAM and CSV come only as external links.
    for format in ["CSV", "ARROW_STREAM"] {
        ws.statement(json!({"statement": "SELECT 1", "format": format}))
            .databricks(
                400,
                "INVALID_PARAMETER_VALUE",
                &format!(
                    "The {format} format is not supported with the INLINE disposition; use EXTERNAL_LINKS."
                ),
            );
    }
    // EXTERNAL_LINKS is valid but not emulated: not a 400.
    ws.statement(json!({"statement": "SELECT 1", "disposition": "EXTERNAL_LINKS", "format": "CSV"}))
        .databricks(
            501,
            "NOT_IMPLEMENTED",
            "The emulator serves statement results INLINE only (disposition EXTERNAL_LINKS is not emulated).",
        );
    ws.statement(json!({"statement": "SELECT 1", "row_limit": -1}))
        .databricks(
            400,
            "INVALID_PARAMETER_VALUE",
            "row_limit must be a non-negative integer, got -1",
        );
    ws.statement(json!({"statement": "SELECT 1", "byte_limit": -5}))
        .databricks(
            400,
            "INVALID_PARAMETER_VALUE",
            "byte_limit must be a non-negative integer, got -5",
        );
    // An unknown warehouse is not found.
    ws.post(
        "/api/2.0/sql/statements",
        json!({"warehouse_id": "0123456789abcdef", "statement": "SELECT 1"}),
    )
    .databricks(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Warehouse 0123456789abcdef does not exist.",
    );
    // A chunk index that is not a number gets a Databricks body, not the framework's text.
    let id = ws
        .statement(json!({"statement": "SELECT 1", "wait_timeout": "30s"}))
        .ok()["statement_id"]
        .as_str()
        .unwrap()
        .to_string();
    ws.get(
        &format!("/api/2.0/sql/statements/{id}/result/chunks/first"),
        &[],
    )
    .databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        "chunk_index must be a non-negative integer, got 'first'",
    );

    // The request lode's provider sends (all fields spelled out) still runs, with its
    // parameters bound: a string, a typed one and a NULL.
    let done = ws
        .statement(json!({
            "statement": "SELECT :site AS site, :n AS n, :gone AS gone",
            "catalog": "main", "schema": "default",
            "parameters": [{"name": "site", "value": "A"}, {"name": "n", "value": "7", "type": "INT"},
                           {"name": "gone"}],
            "wait_timeout": "30s", "on_wait_timeout": "CONTINUE",
            "disposition": "INLINE", "format": "JSON_ARRAY", "row_limit": 10, "byte_limit": 1000000,
        }))
        .ok();
    assert_eq!(done["status"]["state"], "SUCCEEDED", "{done:#}");
    assert_eq!(done["result"]["data_array"][0][0], "A", "{done:#}");
    assert_eq!(done["result"]["data_array"][0][2], Value::Null, "{done:#}");
}

#[test]
fn databricks_unknown_enum_values_are_refused() {
    let ws = Workspace::start();
    let mut spec = pipeline_spec("enums");
    spec["channel"] = json!("BETA");
    ws.post("/api/2.0/pipelines", spec).databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 'BETA' for channel: expected one of CURRENT, PREVIEW.",
    );
    let mut spec = pipeline_spec("enums");
    spec["edition"] = json!("ULTRA");
    ws.post("/api/2.0/pipelines", spec).databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 'ULTRA' for edition: expected one of CORE, PRO, ADVANCED.",
    );
    // Channel and edition are compared ignoring case.
    let mut spec = pipeline_spec("enums");
    spec["edition"] = json!("advanced");
    spec["channel"] = json!("preview");
    let id = ws.post("/api/2.0/pipelines", spec).ok()["pipeline_id"]
        .as_str()
        .unwrap()
        .to_string();
    ws.post(
        &format!("/api/2.0/pipelines/{id}/updates"),
        json!({"cause": "BOT"}),
    )
    .databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 'BOT' for cause: expected one of API_CALL, JOB_TASK, RETRY_ON_FAILURE, \
         SCHEMA_CHANGE, SERVICE_UPGRADE, USER_ACTION, INFRASTRUCTURE_MAINTENANCE.",
    );

    let formats = "AUTO, SOURCE, HTML, JUPYTER, DBC, R_MARKDOWN, RAW";
    ws.post(
        "/api/2.0/workspace/import",
        json!({"path": "/Shared/a.zip", "format": "ZIP", "content": "eA=="}),
    )
    .databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        &format!("Invalid value 'ZIP' for format: expected one of {formats}."),
    );
    ws.post(
        "/api/2.0/workspace/import",
        json!({"path": "/Shared/nb", "format": "SOURCE", "language": "COBOL", "content": "eA=="}),
    )
    .databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 'COBOL' for language: expected one of PYTHON, SQL, SCALA, R.",
    );
    ws.post(
        "/api/2.0/workspace/import",
        json!({"path": "/Shared/a.txt", "format": "AUTO", "content": "eA=="}),
    )
    .ok();
    ws.get(
        "/api/2.0/workspace/export",
        &[("path", "/Shared/a.txt"), ("format", "PDF")],
    )
    .databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        &format!("Invalid value 'PDF' for format: expected one of {formats}."),
    );
    ws.get(
        "/api/2.0/workspace/export",
        &[("path", "/Shared/a.txt"), ("format", "SOURCE")],
    )
    .ok();

    ws.sql("CREATE TABLE main.default.t (x INT, ts TIMESTAMP)");
    let monitor = "/api/2.1/unity-catalog/tables/main.default.t/monitor";
    ws.post(
        monitor,
        json!({"output_schema_name": "main.default", "assets_dir": "/Shared/m",
               "time_series": {"timestamp_col": "ts", "granularities": ["1 hour", "2 hours"]}}),
    )
    .databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value '2 hours' for time_series.granularities: expected one of 5 minutes, \
         30 minutes, 1 hour, 1 day, 1 week, 2 weeks, 3 weeks, 4 weeks, 1 month, 1 year.",
    );
    ws.post(
        monitor,
        json!({"output_schema_name": "main.default", "assets_dir": "/Shared/m",
               "inference_log": {"problem_type": "CLASSIFICATION", "timestamp_col": "ts",
                                 "granularities": ["1 day"], "prediction_col": "x", "model_id_col": "x"}}),
    )
    .databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 'CLASSIFICATION' for inference_log.problem_type: expected one of \
         PROBLEM_TYPE_CLASSIFICATION, PROBLEM_TYPE_REGRESSION.",
    );
    // The monitor lode's provider sends passes.
    ws.post(
        monitor,
        json!({"output_schema_name": "main.default", "assets_dir": "/Workspace/Shared/m",
               "time_series": {"timestamp_col": "ts", "granularities": ["1 hour", "1 day"]},
               "slicing_exprs": ["x"],
               "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"}}),
    )
    .ok();
}

#[test]
fn databricks_out_of_range_values_are_refused() {
    let ws = Workspace::start();
    for max in ["0", "101", "-1", "many"] {
        ws.get("/api/2.0/pipelines", &[("max_results", max)])
            .databricks(
                400,
                "INVALID_PARAMETER_VALUE",
                "max_results must be between 1 and 100.",
            );
    }
    ws.get("/api/2.0/pipelines", &[("max_results", "100")]).ok();
    for max in ["-1", "x"] {
        ws.get(
            "/api/2.1/unity-catalog/tables",
            &[
                ("catalog_name", "main"),
                ("schema_name", "default"),
                ("max_results", max),
            ],
        )
        .databricks(
            400,
            "INVALID_PARAMETER_VALUE",
            &format!("max_results must be a non-negative integer, got '{max}'"),
        );
    }
    ws.get(
        "/api/2.1/unity-catalog/tables",
        &[
            ("catalog_name", "main"),
            ("schema_name", "default"),
            ("max_results", "0"),
        ],
    )
    .ok();
    let mut spec = pipeline_spec("tags");
    spec["tags"] = Value::Object((0..26).map(|i| (format!("t{i}"), json!("v"))).collect());
    ws.post("/api/2.0/pipelines", spec).databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        "A pipeline may have at most 25 tags.",
    );
    ws.sql("CREATE TABLE main.default.t (x INT)");
    ws.post(
        "/api/2.1/unity-catalog/tables/main.default.t/monitor",
        json!({"output_schema_name": "main.default", "assets_dir": "Shared/m", "snapshot": {}}),
    )
    .databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        "assets_dir must be an absolute workspace path, got 'Shared/m'.",
    );
    ws.post(
        "/api/2.1/unity-catalog/tables/main.default.t/monitor",
        json!({"output_schema_name": "main.default.t", "assets_dir": "/Shared/m", "snapshot": {}}),
    )
    .databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        "output_schema_name must be a two-level name: catalog.schema.",
    );
}

#[test]
fn databricks_ill_formed_ids_and_paths_are_refused() {
    let ws = Workspace::start();
    let bad_pipeline = "Invalid pipeline id 'not-a-pipeline': expected a UUID.";
    let path = "/api/2.0/pipelines/not-a-pipeline";
    ws.get(path, &[])
        .databricks(400, "INVALID_PARAMETER_VALUE", bad_pipeline);
    ws.put(path, pipeline_spec("x"))
        .databricks(400, "INVALID_PARAMETER_VALUE", bad_pipeline);
    ws.send(Method::DELETE, path, &[], None).databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        bad_pipeline,
    );
    ws.post(&format!("{path}/updates"), json!({})).databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        bad_pipeline,
    );
    ws.post(&format!("{path}/stop"), json!({})).databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        bad_pipeline,
    );
    // A well-formed id that names nothing is not found.
    ws.get(
        "/api/2.0/pipelines/00000000-0000-0000-0000-000000000000",
        &[],
    )
    .databricks(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Pipeline 00000000-0000-0000-0000-000000000000 does not exist.",
    );

    let bad_space = "Invalid space id 'E1EF': expected 32 lowercase hex characters.";
    ws.get("/api/2.0/genie/spaces/E1EF", &[])
        .databricks(400, "INVALID_PARAMETER_VALUE", bad_space);
    ws.patch("/api/2.0/genie/spaces/E1EF", json!({"title": "x"}))
        .databricks(400, "INVALID_PARAMETER_VALUE", bad_space);
    ws.get(
        "/api/2.0/genie/spaces/0123456789abcdef0123456789abcdef",
        &[],
    )
    .databricks(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Genie space 0123456789abcdef0123456789abcdef does not exist.",
    );

    // Workspace paths are absolute and plain.
    ws.post("/api/2.0/workspace/mkdirs", json!({"path": "Shared/x"}))
        .databricks(
            400,
            "INVALID_PARAMETER_VALUE",
            "Path (Shared/x) is not absolute.",
        );
    ws.get(
        "/api/2.0/workspace/get-status",
        &[("path", "/Shared/../Users")],
    )
    .databricks(
        400,
        "INVALID_PARAMETER_VALUE",
        "Path (/Shared/../Users) is not a valid workspace path.",
    );
    // Unity Catalog names have their number of parts.
    ws.get("/api/2.1/unity-catalog/tables/main.default", &[])
        .databricks(
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid table full name: main.default",
        );
    ws.get("/api/2.1/unity-catalog/schemas/main", &[])
        .databricks(
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid schema full name: main",
        );

    // The ids the emulator hands out pass their own check.
    let id = ws.pipeline("well-formed");
    ws.get(&format!("/api/2.0/pipelines/{id}"), &[]).ok();
    ws.post(
        &format!("/api/2.0/pipelines/{id}/updates"),
        json!({"full_refresh": false, "cause": "API_CALL"}),
    )
    .ok();
}

// ---------------------------------------------------------------------------------------------
// Ignition gateway
// ---------------------------------------------------------------------------------------------

#[test]
fn gateway_refuses_tag_definitions_on_every_config_resource_write_including_delete() {
    let gw = Gateway::start();
    // A tag lands through tags/import, the gateway's only tag write route.
    let imported = gw.send_raw(
        Method::POST,
        "/data/api/v1/tags/import?provider=default&type=json&collisionPolicy=Abort&path=Mining",
        r#"{"tags": [{"name": "Speed", "tagType": "AtomicTag", "valueSource": "memory", "dataType": "Float8"}]}"#,
    );
    assert_eq!(imported.ok(), json!([]));
    let folder = gw
        .data_dir()
        .join("config/resources/core/ignition/tag-definition/default/Mining");
    assert!(folder.join("tags.json").is_file());

    for kind in ["tag-definition", "tag-type-definition"] {
        let refused = format!(
            "Resource type ignition/{kind} cannot be managed through this API; use tags/import"
        );
        let base = format!("/data/api/v1/resources/ignition/{kind}");
        gw.send(
            Method::POST,
            &base,
            Some(&json!([{"name": "default", "config": {}}])),
        )
        .gateway(400, &refused);
        gw.send(
            Method::PUT,
            &base,
            Some(&json!([{"name": "default", "signature": "abc", "config": {}}])),
        )
        .gateway(400, &refused);
        // Delete by name and signature, by a folder path, as a singleton, and in bulk.
        gw.send(
            Method::DELETE,
            &format!("{base}/default/abc?confirm=true"),
            None,
        )
        .gateway(400, &refused);
        gw.send(Method::DELETE, &format!("{base}/default/Mining/abc"), None)
            .gateway(400, &refused);
        gw.send(Method::DELETE, &format!("{base}/abc"), None)
            .gateway(400, &refused);
        gw.send(
            Method::POST,
            &format!("/data/api/v1/resources/delete/ignition/{kind}"),
            Some(&json!([{"name": "default", "signature": "abc"}])),
        )
        .gateway(400, &refused);
    }
    // Nothing was deleted: the tag is on disk and still exported.
    assert!(folder.join("tags.json").is_file());
    let export = gw
        .send(
            Method::GET,
            "/data/api/v1/tags/export?provider=default&type=json&path=Mining",
            None,
        )
        .ok();
    assert_eq!(export["tags"][0]["name"], "Speed", "{export:#}");
}

#[test]
fn gateway_config_resource_items_with_wrong_json_types_are_refused_before_any_write() {
    let gw = Gateway::start();
    let base = "/data/api/v1/resources/ignition/database-connection";
    for (item, message) in [
        (
            json!({"name": "db", "description": 5}),
            "'description' must be a string",
        ),
        (
            json!({"name": "db", "collection": true}),
            "'collection' must be a string",
        ),
        (
            json!({"name": "db", "signature": 1}),
            "'signature' must be a string",
        ),
        (
            json!({"name": "db", "enabled": "yes"}),
            "'enabled' must be a boolean",
        ),
        (
            json!({"name": "db", "config": []}),
            "'config' must be a JSON object",
        ),
        (json!({"name": 7}), "'name' must be a string"),
    ] {
        // The valid first item is not written either: every item is checked first.
        gw.send(
            Method::POST,
            base,
            Some(&json!([{"name": "first", "config": {}}, item])),
        )
        .gateway(400, message);
    }
    gw.send(Method::POST, base, Some(&json!({"name": "db"})))
        .gateway(
            400,
            "The request body must be a JSON array of resource objects",
        );
    let names = gw
        .send(
            Method::GET,
            "/data/api/v1/resources/names/ignition/database-connection",
            None,
        )
        .ok();
    assert_eq!(names["items"], json!([]), "{names:#}");
    // A well-formed create still works.
    gw.send(
        Method::POST,
        base,
        Some(&json!([{"name": "db", "collection": "core", "enabled": true, "description": "Historian",
                      "config": {"driver": "PostgreSQL"}}])),
    )
    .ok();
}

#[test]
fn gateway_project_bodies_must_be_objects_with_a_string_name() {
    let gw = Gateway::start();
    gw.send(
        Method::POST,
        "/data/api/v1/projects",
        Some(&json!(["Mining"])),
    )
    .gateway(400, "The request body must be a JSON object");
    gw.send(
        Method::POST,
        "/data/api/v1/projects",
        Some(&json!({"name": 5})),
    )
    .gateway(400, "Invalid value for 'name': 5");
    gw.send(
        Method::POST,
        "/data/api/v1/projects",
        Some(&json!({"title": "x"})),
    )
    .gateway(400, "Missing required parameter 'name'");
    gw.send(
        Method::POST,
        "/data/api/v1/projects",
        Some(&json!({"name": "Mining", "enabled": "yes"})),
    )
    .gateway(400, "Invalid value for 'enabled': \"yes\"");
    gw.send(
        Method::POST,
        "/data/api/v1/projects",
        Some(&json!({"name": "Mining"})),
    )
    .ok();
    gw.send(Method::DELETE, "/data/api/v1/projects/Mining", None)
        .gateway(400, "Deleting a project requires confirm=true");
}

#[test]
fn gateway_tag_import_and_export_check_their_parameters_and_entries() {
    let gw = Gateway::start();
    let import = |query: &str, body: &str| {
        gw.send_raw(
            Method::POST,
            &format!("/data/api/v1/tags/import?{query}"),
            body,
        )
    };
    let one = r#"{"tags": [{"name": "A", "tagType": "AtomicTag", "valueSource": "memory", "dataType": "Int4"}]}"#;
    import("type=json&collisionPolicy=Abort", one)
        .gateway(400, "Missing required parameter 'provider'");
    import("provider=default&collisionPolicy=Abort", one)
        .gateway(400, "Missing required parameter 'type'");
    import("provider=default&type=json", one)
        .gateway(400, "Missing required parameter 'collisionPolicy'");
    import("provider=default&type=json&collisionPolicy=Replace", one).gateway(
        400,
        "Invalid collisionPolicy 'Replace': expected Abort, Overwrite, Rename, Ignore or MergeOverwrite",
    );
    import("provider=nope&type=json&collisionPolicy=Abort", one)
        .gateway(400, "Tag provider 'nope' not found");
    import("provider=default&type=json&collisionPolicy=Abort", "[]")
        .gateway(400, "Not a JSON Object");
    // An entry with an unknown tagType is refused by quality code; the others land.
    let qualities = import(
        "provider=default&type=json&collisionPolicy=Abort&path=Plant",
        r#"{"tags": [{"name": "Bad", "tagType": "Atomic"}, {"name": "Odd", "tagType": 3},
                     {"name": "Good", "tagType": "AtomicTag", "valueSource": "memory", "dataType": "Int4"}]}"#,
    )
    .ok();
    assert_eq!(
        qualities,
        json!([
            {"quality": "Bad_Failure", "path": "[default]Plant/Bad", "diagnosticMessage": "Unknown tagType \"Atomic\""},
            {"quality": "Bad_Failure", "path": "[default]Plant/Odd", "diagnosticMessage": "Unknown tagType 3"},
        ])
    );
    let export = gw
        .send(
            Method::GET,
            "/data/api/v1/tags/export?provider=default&type=json&path=Plant",
            None,
        )
        .ok();
    let names: Vec<&str> = export["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["Good"], "{export:#}");
    gw.send(
        Method::GET,
        "/data/api/v1/tags/export?provider=default",
        None,
    )
    .gateway(400, "Missing required parameter 'type'");
    gw.send(
        Method::GET,
        "/data/api/v1/tags/export?provider=default&type=json&path=Plant/Good",
        None,
    )
    .gateway(400, "[default]Plant/Good is not a folder");
}

#[test]
fn gateway_scan_routes_check_their_target_and_lock_request() {
    let gw = Gateway::start();
    gw.send(Method::POST, "/data/api/v1/scan/everything", None)
        .gateway(404, "Unknown scan target 'everything'");
    let unreadable = "Cannot deserialize scan lock request: a JSON object {acquireTimeout, holdTimeout} is required";
    gw.send(Method::POST, "/data/api/v1/scan-lock/config", None)
        .gateway(500, unreadable);
    gw.send(
        Method::POST,
        "/data/api/v1/scan-lock/config",
        Some(&json!({"acquireTimeout": "soon", "holdTimeout": 60})),
    )
    .gateway(500, unreadable);
    gw.send(
        Method::POST,
        "/data/api/v1/scan-lock/config",
        Some(&json!({"acquireTimeout": 1, "holdTimeout": [60]})),
    )
    .gateway(500, unreadable);
    let held = gw
        .send(
            Method::POST,
            "/data/api/v1/scan-lock/config",
            Some(&json!({"acquireTimeout": 1, "holdTimeout": 60})),
        )
        .ok();
    assert_eq!(held["locked"], true, "{held:#}");
    gw.send(Method::POST, "/data/api/v1/restart-tasks/restart", None)
        .gateway(400, "Restarting the gateway requires confirm=true");
}

#[test]
fn zerobus_checks_the_target_table_and_the_batching_ranges() {
    let gw = Gateway::start();
    let enabled = |changes: Value| {
        let mut config = json!({
            "enabled": true,
            "workspaceUrl": "https://example.cloud.databricks.com",
            "zerobusEndpoint": "1234.zerobus.us-west-2.cloud.databricks.com",
            "oauthClientId": "client", "oauthClientSecret": "secret",
            "targetTable": "mining.ot.raw_tags",
            "tagSelectionMode": "folder", "tagFolderPath": "[default]Mining",
        });
        for (key, value) in changes.as_object().unwrap() {
            config[key] = value.clone();
        }
        config
    };
    let refused = |reply: Reply, details: &[&str]| {
        assert_eq!(
            (reply.status, &reply.body),
            (
                400,
                &json!({"success": false, "error": "validation_failed", "details": details})
            ),
            "{reply:#?}"
        );
    };
    let table = "Target table must be in format: catalog.schema.table";
    for target in ["mining.raw_tags", "a.b.c.d", "a..c", ".b.c", "raw_tags"] {
        refused(
            gw.zerobus(enabled(json!({"targetTable": target}))),
            &[table],
        );
    }
    refused(
        gw.zerobus(enabled(json!({"targetTable": ""}))),
        &["Target table is required"],
    );
    let flush = "Batch flush interval must be between 100ms and 60000ms";
    for interval in [99, 60001, 0, -5] {
        refused(
            gw.zerobus(enabled(json!({"batchFlushIntervalMs": interval}))),
            &[flush],
        );
    }
    // Disabled or not, the ranges hold.
    refused(gw.zerobus(json!({"batchFlushIntervalMs": 60001})), &[flush]);
    let batch = "Batch size must be between 1 and 10000";
    for size in [0, 10001] {
        refused(gw.zerobus(enabled(json!({"batchSize": size}))), &[batch]);
    }
    refused(
        gw.zerobus(enabled(
            json!({"targetTable": "x", "batchSize": 0, "batchFlushIntervalMs": 50}),
        )),
        &[table, batch, flush],
    );
    // A wrong JSON type is not a configuration at all.
    let invalid = gw.zerobus(enabled(json!({"batchFlushIntervalMs": "fast"})));
    assert_eq!(
        (invalid.status, invalid.body),
        (400, json!({"error": "invalid_json"}))
    );
    // Nothing above was saved.
    let shown = Reply::from(
        gw.http
            .get(format!("{}/system/zerobus/config", gw.url))
            .send()
            .unwrap(),
    )
    .ok();
    assert_eq!(shown["enabled"], false, "{shown:#}");
    // The bounds themselves are valid, and the three parts are split out.
    for (target, interval, size) in [("a.b.c", 100, 1), ("mining.ot.raw_tags", 60000, 10000)] {
        assert_eq!(
            gw.zerobus(enabled(
                json!({"targetTable": target, "batchFlushIntervalMs": interval, "batchSize": size})
            ))
            .ok(),
            json!({"success": true})
        );
    }
    let shown = Reply::from(
        gw.http
            .get(format!("{}/system/zerobus/config", gw.url))
            .send()
            .unwrap(),
    )
    .ok();
    assert_eq!(
        (
            &shown["catalogName"],
            &shown["schemaName"],
            &shown["tableName"]
        ),
        (&json!("mining"), &json!("ot"), &json!("raw_tags"))
    );
    // Like the module, a disabled connector may be saved with a partial target.
    assert_eq!(
        gw.zerobus(json!({"targetTable": "mining.raw_tags"})).ok(),
        json!({"success": true})
    );
}

/// A tag import larger than the web framework's 2 MB default is taken, as the gateway takes
/// it: five memory tags with half a megabyte of documentation each.
#[test]
fn gateway_takes_a_tag_import_larger_than_two_megabytes() {
    let gw = Gateway::start();
    let tags: Vec<Value> = (0..5)
        .map(|i| {
            json!({"name": format!("T{i}"), "tagType": "AtomicTag", "valueSource": "memory",
                   "dataType": "Float8", "documentation": "x".repeat(500_000)})
        })
        .collect();
    let body = json!({ "tags": tags }).to_string();
    assert!(body.len() > 2 * 1024 * 1024, "{}", body.len());
    let qualities = gw
        .send_raw(
            Method::POST,
            "/data/api/v1/tags/import?provider=default&type=json&collisionPolicy=Abort&path=Big",
            &body,
        )
        .ok();
    assert_eq!(qualities, json!([]), "{qualities}");
}
