//! Plans that cost what changed (issue #7): after an apply, a plan reads Genie spaces and
//! workspace files through one listing each and reads an object whole only when the listing
//! says it changed since, so drift made behind lode's back is still found; the seed rows of a
//! schema's tables come back in one statement.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{Repo, assert_contains};

/// What a `lode plan` printed, and the requests it made.
fn plan_requests(repo: &Repo) -> (String, Vec<String>) {
    let (run, requests) = requests_of(repo, "local", &["plan"]);
    (run.stdout, requests)
}

/// Runs `f` against the local environment's Databricks emulator, served for the moment.
fn with_served_workspace(repo: &Repo, f: impl FnOnce(&str)) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lode"))
        .args(["emulator", "serve", "--data"])
        .arg(repo.path().join(".lode/local"))
        .env_remove("LODE_EMULATOR_FAULTS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    f(&url);
    child.kill().unwrap();
    child.wait().unwrap();
}

fn call(method: reqwest::Method, url: String, body: Value) -> Value {
    let response = reqwest::blocking::Client::new()
        .request(method, url)
        .bearer_auth("dapi-lode-local-emulator")
        .json(&body)
        .send()
        .unwrap();
    assert!(response.status().is_success(), "{:?}", response.text());
    response.json().unwrap_or(Value::Null)
}

#[test]
fn issue_7_a_plan_lists_spaces_and_files_and_reads_only_what_changed() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);

    let (stdout, requests) = plan_requests(&repo);
    assert_contains(&stdout, "No changes.");
    assert!(
        requests.contains(&"GET /api/2.0/genie/spaces".to_string()),
        "{requests:?}"
    );
    let reads_whole = |requests: &[String], prefix: &str| {
        requests.iter().filter(|r| r.starts_with(prefix)).count()
    };
    assert_eq!(
        reads_whole(&requests, "GET /api/2.0/genie/spaces/"),
        0,
        "{requests:?}"
    );
    assert_eq!(
        reads_whole(&requests, "GET /api/2.0/workspace/export"),
        0,
        "{requests:?}"
    );
    // The demo's two seeded tables share a schema: one statement reads both.
    assert_eq!(
        reads_whole(&requests, "POST /api/2.0/sql/statements"),
        1,
        "{requests:?}"
    );

    // Behind lode's back: a space retitled and a pipeline source rewritten.
    with_served_workspace(&repo, |url| {
        let spaces = call(
            reqwest::Method::GET,
            format!("{url}/api/2.0/genie/spaces"),
            json!({}),
        );
        let id = spaces["spaces"][0]["space_id"]
            .as_str()
            .unwrap()
            .to_string();
        call(
            reqwest::Method::PATCH,
            format!("{url}/api/2.0/genie/spaces/{id}"),
            json!({"title": "Retitled by hand"}),
        );
        let source = "-- edited by hand\nSELECT 1";
        use base64::Engine as _;
        call(
            reqwest::Method::POST,
            format!("{url}/api/2.0/workspace/import"),
            json!({
                "path": "/Shared/mining_demo/pipeline/silver.sql",
                "content": base64::engine::general_purpose::STANDARD.encode(source),
                "format": "RAW",
                "overwrite": true,
            }),
        );
    });
    let (stdout, requests) = plan_requests(&repo);
    assert_contains(
        &stdout,
        "genie_space/mining_ops will be updated in place (it was changed outside lode)",
    );
    assert_contains(&stdout, "(it was changed outside lode)");
    assert_eq!(
        reads_whole(&requests, "GET /api/2.0/genie/spaces/"),
        1,
        "{requests:?}"
    );
    assert_eq!(
        reads_whole(&requests, "GET /api/2.0/workspace/export"),
        1,
        "{requests:?}"
    );
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

/// One `lode` run with `LODE_ENV=env`, and its requests as `METHOD path` lines (ids kept).
fn requests_of(repo: &Repo, env: &str, args: &[&str]) -> (crate::support::Run, Vec<String>) {
    let run = repo.lode_with_env(
        args,
        &[
            ("LODE_ENV", env),
            ("LODE_EMULATOR_FAULTS", "latency_ms=0"),
            ("RUST_LOG", "warn,lode_emulators::faults=debug"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = run
        .stderr
        .lines()
        .filter(|l| l.contains("emulator request"))
        .map(|l| {
            let field = |name: &str| {
                l.split(&format!("{name}="))
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .unwrap_or_default()
                    .to_string()
            };
            format!("{} {}", field("method"), field("path"))
        })
        .collect();
    (run, requests)
}

#[test]
fn issue_7_tags_and_project_resources_are_written_in_batches() {
    let repo = Repo::demo();
    // Ten more gateway scripts, so one kind of project resource has many writes.
    for n in 0..10 {
        repo.append_document(
            "ignition/scripts.yaml",
            &format!(
                "kind: gateway_script\nname: extra_{n}\nspec:\n  project: ${{var.ignition_project}}\n  resource_name: Extra {n}\n  type: timer\n  enabled: false\n  delay_ms: 1000\n  delay_type: fixed_rate\n  threading: shared\n  script: scripts/fault_injection.py\n"
            ),
        );
    }
    repo.commit("ten more scripts");
    let plan = repo.lode_ok(&["plan", "--format", "json"], 0);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let count = |kinds: &[&str]| {
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                kinds.iter().any(|k| {
                    c["address"]
                        .as_str()
                        .is_some_and(|a| a.starts_with(&format!("{k}/")))
                })
            })
            .count()
    };
    let tag_writes = count(&["tag", "udt"]);
    let resource_writes = count(&["gateway_script", "perspective_view", "session_event"]);
    assert!(
        tag_writes >= 15 && resource_writes >= 14,
        "{tag_writes} {resource_writes}"
    );

    // Files: one scan lock (and scan) per batch, not per tag or resource.
    let (_, files) = requests_of(&repo, "local", &["apply", "--auto-approve"]);
    let locks = |area: &str| {
        files
            .iter()
            .filter(|r| *r == &format!("POST /data/api/v1/scan-lock/{area}"))
            .count()
    };
    assert!(locks("config") <= 6, "{files:?}");
    assert!(locks("projects") <= 6, "{files:?}");
    assert!(locks("config") + locks("projects") < (tag_writes + resource_writes) / 2);

    // API: one tag import per folder of a batch, one project export and import per batch.
    let (_, api) = requests_of(&repo, "local-api", &["apply", "--auto-approve"]);
    let imports = api
        .iter()
        .filter(|r| r.starts_with("POST /data/api/v1/tags/import"))
        .count();
    let project_imports = api
        .iter()
        .filter(|r| r.starts_with("POST /data/api/v1/projects/import/"))
        .count();
    assert!(imports <= 10 && imports < tag_writes / 2, "{api:?}");
    assert!(
        project_imports <= 6 && project_imports < resource_writes,
        "{api:?}"
    );
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}
