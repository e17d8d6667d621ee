//! The Databricks side against the workspace emulator (issue #3): every kind is created, replans
//! empty, updates, is replaced or deleted, and drift made behind lode's back is corrected; seed
//! changes are single Delta commits that a revert undoes; the data-loss guard holds. The
//! workspace emulator's data folder keeps one port, whoever serves it (issue #14).

use crate::support::{Repo, assert_contains};

/// A small manifest root with one object of every Databricks kind.
pub(crate) fn small_repo() -> Repo {
    let repo = Repo::empty();
    repo.write(
        "lode.yaml",
        "project: dbx-test\nvariables:\n  catalog: main\n  schema: plant\n",
    );
    repo.write(
        "environments/local.yaml",
        "variables: {}\ndatabricks:\n  emulator: true\n",
    );
    repo.write(
        "schema.yaml",
        "kind: schema\nname: plant\nspec:\n  catalog: ${var.catalog}\n  comment: Plant data\n",
    );
    repo.write(
        "tables.yaml",
        "kind: table\nname: sites\nspec:\n  catalog: ${var.catalog}\n  schema: ${var.schema}\n  comment: Sites\n  primary_key: [site_id]\n  columns:\n    - name: site_id\n      type: string\n      nullable: false\n      comment: The site\n    - name: name\n      type: string\n    - name: capacity\n      type: double\n  seed: sites.csv\n",
    );
    repo.write(
        "sites.csv",
        "site_id,name,capacity\nS1,North Pit,1200\nS2,South Pit,800.5\n",
    );
    repo.write(
        "files.yaml",
        "kind: workspace_file\nname: source\nspec:\n  path: /Workspace/Shared/plant/pipeline.sql\n  source: pipeline.sql\n---\nkind: workspace_file\nname: page\nspec:\n  path: /Workspace/Shared/plant/page.html\n  source: page.html\n",
    );
    repo.write(
        "pipeline.sql",
        "CREATE OR REFRESH MATERIALIZED VIEW site_summary (site_id STRING NOT NULL, name STRING, capacity DOUBLE) AS SELECT * FROM sites;\n",
    );
    repo.write(
        "page.html",
        "<!doctype html><title>page</title><p>hello</p>\n",
    );
    repo.write(
        "pipeline.yaml",
        "kind: pipeline\nname: summary\nspec:\n  catalog: ${var.catalog}\n  schema: ${var.schema}\n  libraries:\n    - file:\n        path: /Workspace/Shared/plant/pipeline.sql\n  development: true\n  serverless: true\n",
    );
    repo.write(
        "genie.yaml",
        "kind: genie_space\nname: ops\ndepends_on: [pipeline/summary]\nspec:\n  title: Plant Ops\n  description: Ask about sites\n  parent_path: /Workspace/Shared/plant\n  tables:\n    - main.plant.sites\n    - main.plant.site_summary\n  instructions: |\n    Capacity is in tonnes per hour.\n  sample_questions:\n    - Which site is biggest?\n",
    );
    repo.write(
        "monitor.yaml",
        "kind: quality_monitor\nname: summary_quality\ndepends_on: [pipeline/summary]\nspec:\n  table: main.plant.site_summary\n  output_schema: main.plant\n  assets_dir: /Workspace/Shared/plant/monitoring\n  snapshot: {}\n",
    );
    repo.commit("v1");
    repo
}

fn sql(repo: &Repo, statement: &str) -> serde_json::Value {
    let emulator =
        lode_emulators::databricks::Workspace::open(lode_emulators::databricks::EmulatorConfig {
            data_dir: repo.path().join(".lode/local/databricks"),
            token: "t".into(),
            oauth_client: None,
            port: 0,
            faults: None,
        })
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime
        .block_on(
            emulator
                .sql
                .execute(statement, Some("main"), Some("plant"), &[]),
        )
        .unwrap();
    serde_json::json!({"columns": result.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(), "rows": result.rows})
}

#[test]
fn every_kind_creates_and_replans_empty() {
    let repo = small_repo();
    let run = repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert_contains(
        &run.stdout,
        "Plan: 7 to add, 0 to change, 0 to delete, 0 unchanged.",
    );
    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    assert_contains(&plan.stdout, "No changes.");
    let rows = sql(
        &repo,
        "SELECT site_id, capacity FROM sites ORDER BY site_id",
    );
    assert_eq!(
        rows["rows"],
        serde_json::json!([["S1", "1200.0"], ["S2", "800.5"]])
    );
    // The pipeline's update ran its SQL: the materialized view holds the sites.
    let summary = sql(&repo, "SELECT COUNT(*) FROM site_summary");
    assert_eq!(summary["rows"][0][0], "2");
}

#[test]
fn seed_changes_are_single_delta_commits_that_a_revert_undoes() {
    let repo = small_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.write(
        "sites.csv",
        "site_id,name,capacity\nS1,North Pit,1500\nS3,East Pit,300\n",
    );
    repo.commit("v2: seeds");
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(&plan.stdout, "~ table/sites");
    assert_contains(&plan.stdout, "-[\"S2\",\"South Pit\",\"800.5\"]");
    let before = sql(&repo, "DESCRIBE HISTORY sites");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let after = sql(&repo, "DESCRIBE HISTORY sites");
    let commits =
        after["rows"].as_array().unwrap().len() - before["rows"].as_array().unwrap().len();
    assert_eq!(commits, 1, "one atomic commit per seed change: {after}");
    assert_eq!(
        after["rows"][0][after["columns"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c == "operation")
            .unwrap()],
        "MERGE"
    );
    let entry = repo.lode_ok(&["state", "show", "table/sites"], 0);
    assert_contains(&entry.stdout, "version_before_apply");

    repo.git(&["revert", "--no-edit", "HEAD"]);
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let rows = sql(
        &repo,
        "SELECT site_id, name, capacity FROM sites ORDER BY site_id",
    );
    assert_eq!(
        rows["rows"],
        serde_json::json!([["S1", "North Pit", "1200.0"], ["S2", "South Pit", "800.5"]])
    );
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn dropping_a_column_is_blocked_without_the_data_loss_flag() {
    let repo = small_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.edit(
        "tables.yaml",
        "    - name: capacity\n      type: double\n",
        "",
    );
    repo.write("sites.csv", "site_id,name\nS1,North Pit\nS2,South Pit\n");
    repo.commit("drop capacity");
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(
        &plan.stdout,
        "BLOCKED: dropping column `capacity` deletes its data; allow with --allow-data-loss",
    );
    repo.lode_ok(&["apply", "--auto-approve"], 1);
    let rows = sql(&repo, "SELECT capacity FROM sites ORDER BY site_id");
    assert_eq!(
        rows["rows"],
        serde_json::json!([["1200.0"], ["800.5"]]),
        "the table was touched"
    );
    repo.lode_ok(&["apply", "--auto-approve", "--allow-data-loss"], 0);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn issue_14_a_saved_plan_whose_data_loss_guard_was_removed_is_refused() {
    let repo = small_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.edit(
        "tables.yaml",
        "    - name: capacity\n      type: double\n",
        "",
    );
    repo.write("sites.csv", "site_id,name\nS1,North Pit\nS2,South Pit\n");
    repo.commit("drop capacity");
    let file = repo.path().join("../guarded.json");
    let file = file.to_str().unwrap();
    repo.lode_ok(&["plan", "--out", file], 0);
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let change = plan["changes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["address"] == "table/sites")
        .unwrap();
    assert!(change["blocked"].is_object(), "{change}");
    change.as_object_mut().unwrap().remove("blocked");
    let unguarded = plan.clone();
    std::fs::write(file, serde_json::to_string(&unguarded).unwrap()).unwrap();
    // The guard removed alone: the plan derived again still has it.
    let run = repo.lode_ok(&["apply", "--auto-approve", file], 1);
    assert_contains(
        &run.stderr,
        "change table/sites: `blocked` is absent in the file",
    );
    // The option set too: the file cannot give the consent the flag gives.
    plan["change_options"]["allow_data_loss"] = serde_json::json!(true);
    std::fs::write(file, serde_json::to_string(&plan).unwrap()).unwrap();
    let run = repo.lode_ok(&["apply", "--auto-approve", file], 1);
    assert_contains(
        &run.stderr,
        "the saved plan was made with --allow-data-loss, which `lode apply FILE` must be given too",
    );
    let rows = sql(&repo, "SELECT capacity FROM sites ORDER BY site_id");
    assert_eq!(
        rows["rows"],
        serde_json::json!([["1200.0"], ["800.5"]]),
        "the guarded column was dropped"
    );
}

#[test]
fn additive_table_changes_apply_in_place() {
    let repo = small_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.edit(
        "tables.yaml",
        "  comment: Sites\n",
        "  comment: Mine sites\n  properties:\n    owner_team: geology\n",
    );
    repo.edit("tables.yaml", "    - name: capacity\n      type: double\n", "    - name: capacity\n      type: double\n      comment: t/h\n    - name: region\n      type: string\n");
    repo.commit("additive");
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(&plan.stdout, "~ table/sites");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    let rows = sql(&repo, "SELECT region FROM sites");
    assert_eq!(rows["rows"].as_array().unwrap().len(), 2);
}

#[test]
fn pipeline_genie_monitor_and_file_update_replace_and_delete() {
    let repo = small_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.edit(
        "pipeline.yaml",
        "  development: true\n",
        "  development: false\n  configuration:\n    mode: strict\n",
    );
    repo.edit(
        "genie.yaml",
        "Capacity is in tonnes per hour.",
        "Capacity is in tonnes per hour; sites are open pits.",
    );
    repo.edit("page.html", "hello", "hello again");
    repo.edit(
        "monitor.yaml",
        "assets_dir: /Workspace/Shared/plant/monitoring",
        "assets_dir: /Workspace/Shared/plant/monitoring2",
    );
    repo.commit("v2");
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(&plan.stdout, "~ pipeline/summary");
    assert_contains(&plan.stdout, "~ genie_space/ops");
    assert_contains(
        &plan.stdout,
        "+<!doctype html><title>page</title><p>hello again</p>",
    );
    assert_contains(&plan.stdout, "-/+ quality_monitor/summary_quality");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);

    // Removing manifests deletes (the pipeline keeps its datasets: cascade=false).
    std::fs::remove_file(repo.path().join("monitor.yaml")).unwrap();
    std::fs::remove_file(repo.path().join("genie.yaml")).unwrap();
    std::fs::remove_file(repo.path().join("pipeline.yaml")).unwrap();
    repo.commit("drop pipeline, genie, monitor");
    let run = repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert_contains(&run.stdout, "3 deleted");
    let summary = sql(&repo, "SELECT COUNT(*) FROM site_summary");
    assert_eq!(summary["rows"][0][0], "2");
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn drift_behind_lodes_back_is_shown_and_corrected() {
    let repo = small_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    // Someone deletes a seed row and edits the comment by hand.
    sql(&repo, "DELETE FROM sites WHERE site_id = 'S2'");
    sql(&repo, "COMMENT ON TABLE sites IS 'edited by hand'");
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(
        &plan.stdout,
        "table/sites will be updated in place (it was changed outside lode)",
    );
    assert_contains(&plan.stdout, "+[\"S2\",\"South Pit\",\"800.5\"]");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn a_lost_state_does_not_duplicate_pipelines_or_genie_spaces() {
    let repo = small_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    std::fs::remove_file(repo.path().join(".lode/local/state.json")).unwrap();
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(
        &plan.stdout,
        "Plan: 0 to add, 0 to change, 0 to delete, 7 unchanged, 7 to adopt.",
    );
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let pipelines =
        std::fs::read_to_string(repo.path().join(".lode/local/databricks/pipelines.json")).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&pipelines)
            .unwrap()
            .len(),
        1
    );
    let spaces: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join(".lode/local/databricks/genie-spaces.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(spaces.values().filter(|s| s["trashed"] == false).count(), 1);
}

/// An environment that keeps state, log and lock as workspace files (shared by CI runners).
fn workspace_state_repo() -> Repo {
    let repo = small_repo();
    repo.write(
        "environments/local.yaml",
        "variables: {}\ndatabricks:\n  emulator: true\nstate:\n  backend: workspace\n",
    );
    repo.commit("state in the workspace");
    repo
}

fn emulator_files(repo: &Repo) -> lode_emulators::databricks::Workspace {
    lode_emulators::databricks::Workspace::open(lode_emulators::databricks::EmulatorConfig {
        data_dir: repo.path().join(".lode/local/databricks"),
        token: "t".into(),
        oauth_client: None,
        port: 0,
        faults: None,
    })
    .unwrap()
}

#[test]
fn workspace_state_backend_keeps_state_and_lock_in_the_workspace() {
    let repo = workspace_state_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert!(
        !repo.path().join(".lode/local/state.json").exists(),
        "state must not be local"
    );
    let workspace = emulator_files(&repo);
    let (_, state) = workspace
        .files
        .read("/Shared/.lode/dbx-test/local/state.json")
        .unwrap();
    let state: serde_json::Value = serde_json::from_slice(&state).unwrap();
    assert_eq!(state["serial"], 1);
    assert!(state["resources"].get("table/sites").is_some());
    assert!(
        workspace
            .files
            .status("/Shared/.lode/dbx-test/local/lock")
            .is_none(),
        "the lock is released"
    );
    assert!(
        workspace
            .files
            .status("/Shared/.lode/dbx-test/local/wal.jsonl")
            .is_none(),
        "the log is compacted"
    );
    drop(workspace);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);

    // A runner that died holding the lock: refused, named, and removable only by its id.
    let workspace = emulator_files(&repo);
    let lock = serde_json::json!({"id": "lock-of-a-dead-runner", "holder": "ci@runner-7", "host": "runner-7", "pid": 4242, "command": "lode apply", "created": "2026-11-24T08:00:00Z"});
    workspace
        .files
        .write(
            "/Shared/.lode/dbx-test/local/lock",
            lock.to_string().as_bytes(),
            "FILE",
            None,
            false,
        )
        .unwrap();
    drop(workspace);
    let refused = repo.lode_ok(&["apply", "--auto-approve"], 1);
    assert_contains(&refused.stderr, "is locked by ci@runner-7");
    assert_contains(&refused.stderr, "lock-of-a-dead-runner");
    let wrong = repo.lode_ok(&["force-unlock", "some-other-id"], 1);
    assert_contains(&wrong.stderr, "nothing was unlocked");
    repo.lode_ok(&["force-unlock", "lock-of-a-dead-runner"], 0);
    repo.lode_ok(&["apply", "--auto-approve"], 0);
}

/// What the demo's Databricks objects look like live, for comparing revisions.
fn demo_databricks_state(repo: &Repo) -> serde_json::Value {
    let run = repo.lode_ok(&["plan", "--format", "json", "--target", "databricks"], 0);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["summary"]["change"], 0, "{}", run.stdout);
    let rows = sql_in(
        repo,
        "main",
        "mining_demo",
        "SELECT * FROM equipment_master ORDER BY equipment_id",
    );
    let workspace = emulator_files(repo);
    let (_, page) = workspace
        .files
        .read("/Shared/mining_demo/chat/index.html")
        .unwrap();
    let pipelines: Vec<serde_json::Value> = workspace
        .pipelines
        .all()
        .into_iter()
        .map(|(_, p)| p.spec)
        .collect();
    let spaces: Vec<serde_json::Value> = workspace
        .genie
        .all()
        .into_iter()
        .filter(|(_, s)| !s.trashed)
        .map(|(_, s)| s.serialized_space)
        .collect();
    serde_json::json!({"rows": rows, "page": String::from_utf8(page).unwrap(), "pipelines": pipelines, "spaces": spaces})
}

fn sql_in(repo: &Repo, catalog: &str, schema: &str, statement: &str) -> serde_json::Value {
    let emulator = emulator_files(repo);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime
        .block_on(
            emulator
                .sql
                .execute(statement, Some(catalog), Some(schema), &[]),
        )
        .unwrap();
    serde_json::json!(result.rows)
}

#[test]
fn the_whole_demo_reverts_seed_rows_pipeline_settings_genie_instructions_and_the_chat_page() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let v1 = demo_databricks_state(&repo);

    repo.edit(
        "databricks/seeds/equipment_master.csv",
        "HT_002,HAUL_TRUCK,Pilbara North Pit,Caterpillar 793F",
        "HT_002,HAUL_TRUCK,Pilbara South Pit,Caterpillar 793F",
    );
    repo.edit(
        "databricks/pipeline.yaml",
        "  development: true",
        "  development: false",
    );
    repo.edit(
        "databricks/genie.yaml",
        "healthy crushers run at about 16-18 mm/s",
        "healthy crushers run at about 15-19 mm/s",
    );
    repo.edit("databricks/chat/index.html", "</title>", " (v2)</title>");
    repo.commit("v2: four Databricks changes");
    let plan = repo.lode_ok(&["plan"], 0);
    for address in [
        "~ table/equipment_master",
        "~ pipeline/mining_telemetry",
        "~ genie_space/mining_ops",
        "~ workspace_file/chat_page",
    ] {
        assert_contains(&plan.stdout, address);
    }
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let v2 = demo_databricks_state(&repo);
    assert_ne!(v1["rows"], v2["rows"]);
    assert_ne!(v1["page"], v2["page"]);
    assert_ne!(v1["pipelines"], v2["pipelines"]);
    assert_ne!(v1["spaces"], v2["spaces"]);

    repo.git(&["revert", "--no-edit", "HEAD"]);
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert_eq!(
        demo_databricks_state(&repo),
        v1,
        "the revert did not restore v1"
    );
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn emulator_serve_serves_the_local_environments_live_state() {
    let repo = small_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("lode"))
        .args(["emulator", "serve", "--data"])
        .arg(repo.path().join(".lode/local"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut url,
    )
    .unwrap();
    let url = url.trim().to_string();
    let remembered =
        std::fs::read_to_string(repo.path().join(".lode/local/databricks/port")).unwrap();
    assert!(
        url.ends_with(&format!(":{}", remembered.trim())),
        "{url} is not the local environment's port {remembered}"
    );
    let client = reqwest::blocking::Client::new();
    let tables: serde_json::Value = client
        .get(format!(
            "{url}/api/2.1/unity-catalog/tables?catalog_name=main&schema_name=plant"
        ))
        .bearer_auth(lode::app::connect::LOCAL_EMULATOR_TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let names: Vec<&str> = tables["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"sites") && names.contains(&"site_summary"),
        "{tables}"
    );
    let unauthorized = client
        .get(format!("{url}/api/2.0/preview/scim/v2/Me"))
        .send()
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_changed_pipeline_source_runs_a_pipeline_update() {
    let repo = small_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.edit(
        "pipeline.sql",
        "capacity DOUBLE) AS SELECT *",
        "capacity DOUBLE, region STRING) AS SELECT *, CAST(NULL AS STRING) AS region",
    );
    repo.commit("new column in the source");
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(
        &plan.stdout,
        "pipeline/summary will be updated in place (its source workspace_file/source changed: the pipeline runs an update)",
    );
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let columns = sql(&repo, "DESCRIBE TABLE site_summary");
    assert_contains(&columns.to_string(), "region");
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn removing_the_seed_stops_managing_rows_and_nullability_changes_are_guarded() {
    let repo = small_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.edit("tables.yaml", "  seed: sites.csv\n", "");
    repo.commit("no more seed");
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    repo.edit(
        "tables.yaml",
        "    - name: name\n      type: string\n",
        "    - name: name\n      type: string\n      nullable: false\n",
    );
    repo.commit("name must be set");
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(
        &plan.stdout,
        "BLOCKED: changing whether column `name` may be null rewrites the table",
    );
}

#[test]
fn a_reference_to_a_missing_field_is_blocked_with_its_name() {
    let repo = small_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.edit(
        "genie.yaml",
        "  description: Ask about sites\n",
        "  description: Sites of ${ref.table.sites.no_such_field}\n",
    );
    repo.commit("bad reference");
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(
        &plan.stdout,
        "BLOCKED: it references `table/sites.no_such_field`, but table/sites has no field `no_such_field`",
    );
    repo.edit(
        "genie.yaml",
        "${ref.table.sites.no_such_field}",
        "${ref.table.sites.full_name}",
    );
    repo.commit("good reference");
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(
        &plan.stdout,
        "~ description: \"Ask about sites\" -> \"Sites of main.plant.sites\"",
    );
}

/// Issue #13 (6): `lode state` reads the backend the environment configures, also while other
/// manifests are broken, and fails when it cannot tell which backend that is, instead of
/// falling back to an empty local state.
#[test]
fn issue_13_state_reads_the_configured_backend_or_fails() {
    let repo = workspace_state_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.write("broken.yaml", "kind: table\nname: [unclosed\n");
    let listed = repo.lode_ok(&["state", "list"], 0);
    assert_contains(&listed.stdout, "table/sites");
    assert!(
        !repo.path().join(".lode/local/state.json").exists(),
        "no local state was read or made"
    );
    // An environment file that cannot be read: say why, never show another backend's state.
    repo.write("environments/local.yaml", "state: [unclosed\n");
    let run = repo.lode(&["state", "list"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_contains(&run.stderr, "environments/local.yaml");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

/// Issue #13 (10): with state in the workspace, snapshots live there too (same retention), so
/// a CI runner whose checkout is wiped still finds and restores them; nothing is written to
/// the checkout's `snapshots/` folder.
#[test]
fn issue_13_snapshots_go_with_the_workspace_state() {
    let repo = workspace_state_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.edit("sites.csv", "S2,South Pit,800.5\n", "S2,South Pit,900\n");
    repo.commit("v2: a capacity changes");
    let applied = repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert_contains(&applied.stderr, "Saved snapshot");
    assert!(
        !repo.path().join("snapshots").exists(),
        "snapshots of a workspace state stay out of the checkout"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&repo.lode_ok(&["snapshots", "--format", "json"], 0).stdout).unwrap();
    let id = listed[0]["id"].as_str().expect("a snapshot").to_string();
    let workspace = emulator_files(&repo);
    // Its index, and one workspace file per resource (each within the import size limit).
    for file in [
        format!("snapshots/{id}.index.json"),
        format!("snapshots/{id}/resources/table/sites.json"),
    ] {
        assert!(
            workspace
                .files
                .status(&format!("/Shared/.lode/dbx-test/local/{file}"))
                .is_some(),
            "{file} is a workspace file"
        );
    }
    // Restoring it puts the old capacity back (a seeded table's data).
    repo.lode_ok(&["restore", &id, "--auto-approve"], 0);
    let plan = repo.lode_ok(&["plan", "--detailed-exitcode", "--rev", "HEAD~1"], 0);
    assert_contains(&plan.stdout, "No changes");
}

/// The local workspace's port, as its data folder records it.
fn local_workspace_port(repo: &Repo) -> String {
    repo.read(".lode/local/databricks/port").trim().to_string()
}

/// Issue #14 (6): concurrent plans on `local` each ran their own workspace emulator, and all but
/// one took a new port and recorded it, so the chat page URL in the gateway's session script
/// (desired state) moved and the next plans showed a change forever. The folder's port now
/// never moves: a plan waits for the one that serves the folder, then serves it on that port.
#[test]
fn issue_14_concurrent_plans_on_local_keep_the_workspace_port_and_leave_no_diff() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let port = local_workspace_port(&repo);
    let startup = repo.read(
        ".lode/local/ignition/projects/mining_demo/com.inductiveautomation.perspective/startup/onStartup.py",
    );
    assert_contains(
        &startup,
        &format!("http://127.0.0.1:{port}/workspace-files/Shared/mining_demo/chat/index.html"),
    );
    for round in 1..=8 {
        let plans: Vec<_> = (0..3)
            .map(|_| {
                repo.lode_command(&["plan", "--detailed-exitcode"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for plan in plans {
            let output = plan.wait_with_output().unwrap();
            assert_eq!(
                output.status.code(),
                Some(0),
                "round {round}: a concurrent plan saw changes\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert_eq!(
            local_workspace_port(&repo),
            port,
            "round {round} moved the port"
        );
    }
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

/// `lode emulator serve` on the local environment's data, in its own process; killed on drop.
struct ServingLocal {
    child: std::process::Child,
    /// The URLs it printed: the workspace's, then the gateway's when it serves one.
    urls: Vec<String>,
}

impl ServingLocal {
    fn start(repo: &Repo, extra: &[&str]) -> ServingLocal {
        let mut child = repo
            .lode_command(&["emulator", "serve", "--data", ".lode/local"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let expected = if extra.contains(&"--ignition-port") {
            2
        } else {
            1
        };
        // The URLs are printed once every folder is held, so a command started after this
        // finds them held.
        let urls = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()))
            .take(expected)
            .map(Result::unwrap)
            .collect();
        ServingLocal { child, urls }
    }
}

impl Drop for ServingLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue #14 (6): while `lode emulator serve` serves the local environment's data, a plan used
/// to start emulators of its own on new ports (two writers of one folder, and a moved URL). It
/// now uses the standing server, which is where the URLs point.
#[test]
fn issue_14_a_plan_uses_the_emulators_that_emulator_serve_runs_on_the_folder() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let port = local_workspace_port(&repo);
    let served = ServingLocal::start(&repo, &["--ignition-port", "0"]);
    assert_eq!(served.urls[0], format!("http://127.0.0.1:{port}"));
    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    let pid = served.child.id();
    assert_contains(
        &plan.stderr,
        &format!(
            "Using the Databricks emulator that `lode emulator serve` (pid {pid}) at {}",
            served.urls[0]
        ),
    );
    assert_contains(
        &plan.stderr,
        &format!(
            "Using the Ignition gateway emulator that `lode emulator serve` (pid {pid}) at {}",
            served.urls[1]
        ),
    );
    assert_eq!(local_workspace_port(&repo), port);
}

/// Issue #14 (6): a standing server that lode commands cannot use (it takes another token) is
/// named at once, not waited for, and the folder is not served a second time.
#[test]
fn issue_14_a_standing_server_with_other_credentials_is_refused_at_once() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let port = local_workspace_port(&repo);
    let served = ServingLocal::start(&repo, &["--token", "dapi-someone-else"]);
    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 1);
    assert_contains(
        &plan.stderr,
        &format!(
            "is served by `lode emulator serve` (pid {}) at http://127.0.0.1:{port}, which other processes cannot use",
            served.child.id()
        ),
    );
    assert_contains(&plan.stderr, "hint: one process at a time serves");
    drop(served);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

/// A manifest root holding one seeded table, `main.plant.equipment`, shaped like the demo's
/// equipment register (about 80 bytes a row).
fn large_seed_repo(csv: &str) -> Repo {
    let repo = Repo::empty();
    repo.write(
        "lode.yaml",
        "project: big-seed\nvariables:\n  catalog: main\n  schema: plant\n",
    );
    repo.write(
        "environments/local.yaml",
        "variables: {}\ndatabricks:\n  emulator: true\n",
    );
    repo.write(
        "schema.yaml",
        "kind: schema\nname: plant\nspec:\n  catalog: ${var.catalog}\n",
    );
    repo.write(
        "tables.yaml",
        "kind: table\nname: equipment\nspec:\n  catalog: ${var.catalog}\n  schema: ${var.schema}\n  primary_key: [equipment_id]\n  columns:\n    - name: equipment_id\n      type: string\n      nullable: false\n    - name: equipment_type\n      type: string\n      nullable: false\n    - name: site\n      type: string\n    - name: commissioning_date\n      type: date\n    - name: vibration_limit_mm_s\n      type: double\n    - name: capacity_tph\n      type: double\n    - name: active\n      type: boolean\n  seed: equipment.csv\n",
    );
    repo.write("equipment.csv", csv);
    repo.commit("a large seed");
    repo
}

/// `rows` equipment rows, `EQ_000000` onwards.
fn equipment_csv(rows: usize) -> String {
    let mut csv = String::from(
        "equipment_id,equipment_type,site,commissioning_date,vibration_limit_mm_s,capacity_tph,active\n",
    );
    for i in 0..rows {
        let capacity = if i % 3 == 0 {
            format!("{}", 1200 + i % 100)
        } else {
            String::new()
        };
        csv.push_str(&format!(
            "EQ_{i:06},HAUL_TRUCK,Pilbara North Pit,2020-03-{:02},{}.5,{capacity},{}\n",
            1 + i % 28,
            20 + i % 7,
            i % 5 != 0
        ));
    }
    csv
}

/// The commits in a table's Delta log (`_delta_log/<version>.json`), oldest first: each one's
/// operation and operation metrics.
fn delta_commits(repo: &Repo, table: &str) -> Vec<(String, serde_json::Value)> {
    let log = table_folder(repo, table).join("_delta_log");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&log)
        .unwrap_or_else(|e| panic!("{}: {e}", log.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let info = text
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .find_map(|action| action.get("commitInfo").cloned())
                .unwrap_or_else(|| panic!("{} has no commitInfo", file.display()));
            (
                info["operation"].as_str().unwrap_or_default().to_string(),
                info["lodeOperationMetrics"].clone(),
            )
        })
        .collect()
}

fn table_folder(repo: &Repo, table: &str) -> std::path::PathBuf {
    repo.path()
        .join(".lode/local/databricks/tables/main/plant")
        .join(table)
}

#[test]
fn issue_14_a_100000_row_seed_lands_in_one_delta_commit_and_a_change_in_one_more() {
    const ROWS: usize = 100_000;
    let started = std::time::Instant::now();
    let repo = large_seed_repo(&equipment_csv(ROWS));
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let created = delta_commits(&repo, "equipment");
    let operations: Vec<&str> = created.iter().map(|(op, _)| op.as_str()).collect();
    assert_eq!(operations, ["CREATE TABLE", "MERGE"], "{created:?}");
    assert_eq!(created[1].1["numTargetRowsInserted"], ROWS.to_string());
    let count = sql(&repo, "SELECT COUNT(*) AS n FROM equipment");
    assert_eq!(count["rows"], serde_json::json!([[ROWS.to_string()]]));
    let row = sql(
        &repo,
        "SELECT equipment_type, capacity_tph, active FROM equipment WHERE equipment_id = 'EQ_054322'",
    );
    assert_eq!(
        row["rows"],
        serde_json::json!([["HAUL_TRUCK", null, "true"]])
    );
    assert!(
        !table_folder(&repo, "__lode_seed_equipment").exists(),
        "the staging table is dropped"
    );
    eprintln!("created in {:.1} s", started.elapsed().as_secs_f64());

    // One row changed, one removed, one added.
    let csv = equipment_csv(ROWS)
        .replacen("EQ_000007,HAUL_TRUCK", "EQ_000007,CRUSHER", 1)
        .replacen(
            "EQ_000008,HAUL_TRUCK,Pilbara North Pit,2020-03-09,21.5,,true\n",
            "",
            1,
        )
        + "EQ_100000,CONVEYOR,Pilbara North Pit,2026-11-01,18.5,4000,true\n";
    assert_eq!(csv.lines().count(), ROWS + 1);
    assert!(csv.contains("EQ_000007,CRUSHER") && !csv.contains("EQ_000008"));
    repo.write("equipment.csv", &csv);
    repo.commit("a change of three rows");

    // An apply killed while it stages the rows has not touched the table.
    let staging_batch =
        table_folder(&repo, "__lode_seed_equipment").join("_delta_log/00000000000000000001.json");
    let mut apply = std::process::Command::new(env!("CARGO_BIN_EXE_lode"))
        .args(["apply", "--auto-approve"])
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .env_remove("LODE_ENV")
        .env_remove("LODE_DIR")
        .env_remove("LODE_EMULATOR_FAULTS")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while !staging_batch.exists() {
        assert!(
            apply.try_wait().unwrap().is_none(),
            "the apply ended before it staged a batch of rows"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    apply.kill().unwrap(); // SIGKILL
    apply.wait().unwrap();
    assert_eq!(delta_commits(&repo, "equipment").len(), created.len());
    let untouched = sql(
        &repo,
        "SELECT equipment_id, equipment_type FROM equipment WHERE equipment_id IN ('EQ_000007', 'EQ_000008', 'EQ_100000') ORDER BY equipment_id",
    );
    assert_eq!(
        untouched["rows"],
        serde_json::json!([["EQ_000007", "HAUL_TRUCK"], ["EQ_000008", "HAUL_TRUCK"]])
    );

    // The next apply lands the change in one more commit and drops the staging table.
    let changing = std::time::Instant::now();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let changed = delta_commits(&repo, "equipment");
    assert_eq!(changed.len(), created.len() + 1, "{changed:?}");
    let (operation, metrics) = &changed[created.len()];
    assert_eq!(operation, "MERGE");
    assert_eq!(metrics["numTargetRowsInserted"], "1");
    assert_eq!(metrics["numTargetRowsDeleted"], "1");
    let rows = sql(
        &repo,
        "SELECT equipment_id, equipment_type FROM equipment WHERE equipment_id IN ('EQ_000007', 'EQ_000008', 'EQ_100000') ORDER BY equipment_id",
    );
    assert_eq!(
        rows["rows"],
        serde_json::json!([["EQ_000007", "CRUSHER"], ["EQ_100000", "CONVEYOR"]])
    );
    let count = sql(&repo, "SELECT COUNT(*) AS n FROM equipment");
    assert_eq!(count["rows"], serde_json::json!([[ROWS.to_string()]]));
    assert!(!table_folder(&repo, "__lode_seed_equipment").exists());
    eprintln!(
        "changed in {:.1} s; {:.1} s in all",
        changing.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
