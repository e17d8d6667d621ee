//! `lode pull` (issue #17): edits made live, outside git (a view changed in the Designer, a UDT
//! member added, Genie instructions edited in the UI), come back into the manifests as the
//! smallest diff: only the changed lines of the changed objects; afterwards `lode plan` shows
//! no change. A field changed both in git and live is a conflict that changes nothing without
//! `--force`; `--check` exits 2 when live differs, for CI.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{Repo, assert_contains};

/// The demo view's folder on the local gateway.
const LIVE_VIEW: &str =
    "projects/mining_demo/com.inductiveautomation.perspective/views/Mining/Equipment/view.json";
/// The default provider's UDT definitions on the local gateway.
const LIVE_UDTS: &str = "config/resources/core/ignition/tag-type-definition/default/udts.json";

/// The demo applied to the local environment, its manifests committed.
fn applied_demo() -> Repo {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo
}

/// `git diff -U0` as `file: +line` / `file: -line`, hunk headers left out.
fn diff_lines(repo: &Repo) -> Vec<String> {
    let mut file = String::new();
    let mut lines = Vec::new();
    for line in repo.git(&["diff", "-U0"]).lines() {
        if let Some(name) = line.strip_prefix("+++ b/") {
            file = name.to_string();
        } else if line.starts_with("+++ ") || line.starts_with("--- ") {
            continue;
        } else if line.starts_with('+') || line.starts_with('-') {
            lines.push(format!("{file}: {line}"));
        }
    }
    lines
}

/// What `git status` shows besides lode's own `.lode/` folder.
fn work_tree_changes(repo: &Repo) -> Vec<String> {
    repo.git(&["status", "--porcelain"])
        .lines()
        .filter(|line| !line.ends_with(".lode/"))
        .map(str::to_string)
        .collect()
}

/// Rewrites a JSON file of the local gateway, as the Designer saves it.
fn edit_live_json(repo: &Repo, relative: &str, change: impl FnOnce(&mut Value)) {
    let path = repo.gateway().join(relative);
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    change(&mut value);
    std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

/// Replaces every string `from` in `value` by `to`; how many it replaced.
fn replace_strings(value: &mut Value, from: &str, to: &str) -> usize {
    match value {
        Value::String(text) if text == from => {
            *text = to.to_string();
            1
        }
        Value::Array(items) => items.iter_mut().map(|v| replace_strings(v, from, to)).sum(),
        Value::Object(map) => map.values_mut().map(|v| replace_strings(v, from, to)).sum(),
        _ => 0,
    }
}

/// The one file under `dir` whose text contains `needle`.
fn file_containing(dir: &Path, needle: &str) -> PathBuf {
    fn walk(dir: &Path, needle: &str, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, needle, found);
            } else if std::fs::read_to_string(&path).is_ok_and(|t| t.contains(needle)) {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, needle, &mut found);
    assert_eq!(found.len(), 1, "{needle:?} in {found:?}");
    found.remove(0)
}

/// The line of `relative` (a manifest) that contains `needle`, which must be one line.
fn line_with(repo: &Repo, relative: &str, needle: &str) -> String {
    let text = repo.read(relative);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(needle)).collect();
    assert_eq!(lines.len(), 1, "{needle:?} in {relative}: {lines:?}");
    lines[0].to_string()
}

/// After a pull: the work tree differs from the commit by exactly `expected`, and the plan
/// is empty.
#[track_caller]
fn assert_pulled_exactly(repo: &Repo, expected: &[String]) {
    assert_eq!(diff_lines(repo), expected);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn issue_17_pull_after_a_designer_view_edit() {
    let repo = applied_demo();
    edit_live_json(&repo, LIVE_VIEW, |view| {
        assert_eq!(
            replace_strings(view, "Mining Operations", "Mining Operations (night shift)"),
            1
        );
    });
    repo.lode_ok(&["plan", "--detailed-exitcode"], 2);
    let file = "ignition/views/equipment.view.json";
    let before = line_with(&repo, file, "\"Mining Operations\"");
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(
        &run.stdout,
        "Pulled perspective_view/Mining/Equipment: view",
    );
    assert_contains(&run.stdout, "wrote ignition/views/equipment.view.json");
    let after = before.replace("Mining Operations", "Mining Operations (night shift)");
    assert_pulled_exactly(
        &repo,
        &[format!("{file}: -{before}"), format!("{file}: +{after}")],
    );
    // Recorded as the base: nothing more to pull.
    repo.lode_ok(&["pull", "--check"], 0);
}

/// A member added to the Conveyor UDT (the last document of `ignition/udts.yaml`), as the
/// lines of one new list item after the last one.
fn oil_temp_member() -> Value {
    json!({
        "name": "Oil_Temp_C",
        "tagType": "AtomicTag",
        "valueSource": "memory",
        "dataType": "Float4",
        "value": 45.0,
        "engUnit": "°C",
        "documentation": "Gearbox oil temperature"
    })
}

fn add_member_to_conveyor(types: &mut Value) {
    let conveyor = types
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["name"] == "Conveyor")
        .expect("the Conveyor UDT is live");
    conveyor["tags"]
        .as_array_mut()
        .unwrap()
        .push(oil_temp_member());
}

/// The lines `ignition/udts.yaml` gains for [`oil_temp_member`], after its last line.
fn oil_temp_lines() -> Vec<String> {
    [
        "    - name: Oil_Temp_C",
        "      tagType: AtomicTag",
        "      valueSource: memory",
        "      dataType: Float4",
        "      value: 45.0",
        "      engUnit: °C",
        "      documentation: Gearbox oil temperature",
    ]
    .iter()
    .map(|line| format!("ignition/udts.yaml: +{line}"))
    .collect()
}

#[test]
fn issue_17_pull_after_a_udt_member_is_added() {
    let repo = applied_demo();
    edit_live_json(&repo, LIVE_UDTS, add_member_to_conveyor);
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(&run.stdout, "Pulled udt/Conveyor: tags[Oil_Temp_C]");
    assert_pulled_exactly(&repo, &oil_temp_lines());
}

#[test]
fn issue_17_pull_after_a_udt_member_is_added_through_the_api() {
    let repo = Repo::demo();
    let env = ["--env", "local-api"];
    repo.lode_ok(&[env[0], env[1], "apply", "--auto-approve"], 0);
    let data = repo.path().join(".lode/local-api/ignition");
    let types: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join(LIVE_UDTS)).unwrap()).unwrap();
    let mut conveyor = types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Conveyor")
        .unwrap()
        .clone();
    conveyor["tags"]
        .as_array_mut()
        .unwrap()
        .push(oil_temp_member());
    {
        // The gateway serves its folder from this process meanwhile, as a Designer session
        // would edit it; the import is the API's one way to change a type.
        let gateway = match lode_emulators::ignition::serve_folder(
            lode_emulators::ignition::GatewayConfig {
                data_dir: data.clone(),
                token: lode::app::connect::LOCAL_GATEWAY_TOKEN.into(),
                port: 0,
                ..Default::default()
            },
            &lode_emulators::data_folder::Claim {
                command: "the pull test".into(),
                standing: true,
                offer_to_others: true,
                wait: std::time::Duration::ZERO,
                on_wait: &|_| {},
            },
        )
        .expect("the gateway serves the applied folder")
        {
            lode_emulators::data_folder::Serving::Own(gateway) => gateway,
            lode_emulators::data_folder::Serving::Shared(holder) => {
                panic!("the gateway folder is still served by {holder:?}")
            }
        };
        let answer = reqwest::blocking::Client::new()
            .post(format!(
                "{}/data/api/v1/tags/import?provider=default&type=json&collisionPolicy=Overwrite",
                gateway.url
            ))
            .header(
                "X-Ignition-API-Token",
                lode::app::connect::LOCAL_GATEWAY_TOKEN,
            )
            .json(&json!({"tags": [{"name": "_types_", "tagType": "Folder", "tags": [conveyor]}]}))
            .send()
            .unwrap();
        assert!(answer.status().is_success(), "{:?}", answer.text());
        let run = repo.lode_ok(&[env[0], env[1], "pull"], 0);
        assert_contains(&run.stdout, "Pulled udt/Conveyor: tags[Oil_Temp_C]");
        assert_eq!(diff_lines(&repo), oil_temp_lines());
        repo.lode_ok(&[env[0], env[1], "plan", "--detailed-exitcode"], 0);
    }
}

#[test]
fn issue_17_pull_after_a_gateway_script_edit() {
    let repo = applied_demo();
    let live = file_containing(&repo.gateway().join("projects"), "AMBIENT_C = 34.0");
    let text = std::fs::read_to_string(&live).unwrap();
    std::fs::write(&live, text.replace("AMBIENT_C = 34.0", "AMBIENT_C = 31.5")).unwrap();
    let file = "ignition/scripts/physics_simulation.py";
    let before = line_with(&repo, file, "AMBIENT_C = 34.0");
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(
        &run.stdout,
        "Pulled gateway_script/physics_simulation: script",
    );
    assert_pulled_exactly(
        &repo,
        &[
            format!("{file}: -{before}"),
            format!("{file}: +{}", before.replace("34.0", "31.5")),
        ],
    );
}

#[test]
fn issue_17_pull_after_a_tag_property_edit() {
    let repo = applied_demo();
    let live = file_containing(
        &repo
            .gateway()
            .join("config/resources/core/ignition/tag-definition"),
        "Fault_Enabled",
    );
    let relative = live
        .strip_prefix(repo.gateway())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    edit_live_json(&repo, &relative, |tags| {
        let documentation = "Set to true to ramp up CR_002 vibration through its alarm setpoints (Fault Injection script)";
        assert_eq!(
            replace_strings(tags, documentation, "Ramps CR_002 vibration up when true"),
            1
        );
    });
    let file = "ignition/tags.yaml";
    let before = line_with(&repo, file, "Fault Injection script");
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(
        &run.stdout,
        "Pulled tag/Mining/Simulation/Fault_Enabled: documentation",
    );
    assert_pulled_exactly(
        &repo,
        &[
            format!("{file}: -{before}"),
            format!("{file}: +  documentation: Ramps CR_002 vibration up when true"),
        ],
    );
}

#[test]
fn issue_17_pull_after_a_session_props_edit() {
    let repo = applied_demo();
    let live = file_containing(
        &repo.gateway().join("projects/mining_demo"),
        "Australia/Perth",
    );
    let relative = live
        .strip_prefix(repo.gateway())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    edit_live_json(&repo, &relative, |props| {
        assert_eq!(
            replace_strings(props, "Australia/Perth", "Australia/Adelaide"),
            1
        );
    });
    let file = "ignition/perspective.yaml";
    let before = line_with(&repo, file, "Australia/Perth");
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(&run.stdout, "Pulled session_props/mining_demo: props");
    assert_pulled_exactly(
        &repo,
        &[
            format!("{file}: -{before}"),
            format!(
                "{file}: +{}",
                before.replace("Australia/Perth", "Australia/Adelaide")
            ),
        ],
    );
}

#[test]
fn issue_17_pull_after_a_page_config_edit() {
    let repo = applied_demo();
    let relative =
        "projects/mining_demo/com.inductiveautomation.perspective/page-config/config.json";
    edit_live_json(&repo, relative, |config| {
        assert_eq!(
            replace_strings(config, "Mining Operations", "Pilbara North Operations"),
            1
        );
    });
    let file = "ignition/perspective.yaml";
    let before = line_with(&repo, file, "title: Mining Operations");
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(&run.stdout, "Pulled page_config/mining_demo: config");
    assert_pulled_exactly(
        &repo,
        &[
            format!("{file}: -{before}"),
            format!(
                "{file}: +{}",
                before.replace("Mining Operations", "Pilbara North Operations")
            ),
        ],
    );
}

/// The untouched documents of a touched file, and every untouched file, keep their bytes:
/// comments, flow and block styles, odd key order.
#[test]
fn issue_17_pull_keeps_untouched_documents_byte_for_byte() {
    let repo = Repo::demo();
    let udts = repo.read("ignition/udts.yaml");
    // Comments, a flow mapping and a reordered spec in documents pull must not touch.
    let udts = udts
        .replacen(
            "kind: udt\nname: HaulTruck\nspec:\n  provider: ${var.tag_provider}\n  parameters:\n",
            "kind: udt # the trucks\nname: HaulTruck\nspec:\n  # parameters before provider, on purpose\n  parameters:\n",
            1,
        )
        .replacen(
            "    AssetId: {dataType: String, value: HT_000}\n",
            "    AssetId: {dataType: String, value: HT_000}\n  provider:   ${var.tag_provider}   # spaced\n",
            1,
        );
    repo.write("ignition/udts.yaml", &udts);
    let tags = repo.read("ignition/tags.yaml").replacen(
        "kind: tag\nname: Mining\nspec:\n  provider: ${var.tag_provider}\n  tagType: Folder\n",
        "kind: tag\nname: Mining\nspec: {tagType: Folder, provider: \"${var.tag_provider}\"}  # flow\n",
        1,
    );
    repo.write("ignition/tags.yaml", &tags);
    repo.commit("hand-formatted udts and tags");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let files_before = manifest_files(repo.path());
    edit_live_json(&repo, LIVE_UDTS, add_member_to_conveyor);
    repo.lode_ok(&["pull"], 0);
    let files_after = manifest_files(repo.path());
    for (path, bytes) in &files_before {
        if path == "ignition/udts.yaml" {
            continue;
        }
        assert!(files_after[path] == *bytes, "{path} changed");
    }
    // In the touched file, the bytes before the Conveyor's last line are the same too.
    let after = String::from_utf8(files_after["ignition/udts.yaml"].clone()).unwrap();
    assert!(after.starts_with(&udts), "the edited udts.yaml:\n{after}");
    assert_eq!(diff_lines(&repo), oil_temp_lines());
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

/// Every file of the manifest root (not `.lode/` or `.git/`), with its bytes.
fn manifest_files(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, files: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                files.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut files = std::collections::BTreeMap::new();
    walk(root, root, &mut files);
    files
}

#[test]
fn issue_17_pull_check_exits_2_on_live_edits() {
    let repo = applied_demo();
    repo.lode_ok(&["pull", "--check"], 0);
    edit_live_json(&repo, LIVE_UDTS, add_member_to_conveyor);
    let files_before = manifest_files(repo.path());
    let run = repo.lode_ok(&["pull", "--check"], 2);
    assert_contains(&run.stdout, "Would pull udt/Conveyor: tags[Oil_Temp_C]");
    let json = repo.lode_ok(&["pull", "--check", "--format", "json"], 2);
    let document: Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    assert_eq!(document["pulled"][0]["address"], "udt/Conveyor");
    assert_eq!(manifest_files(repo.path()), files_before);
    assert!(work_tree_changes(&repo).is_empty());
    // A usage error is never 2.
    repo.lode_ok(&["pull", "--check", "--select"], 1);
    repo.lode_ok(&["pull", "--check", "--select", "nonsense!"], 1);
}

/// The demo applied, with the local Databricks emulator served from this process on the
/// folder's own port, so every `lode` command (and the test) reaches the same workspace.
struct ServedWorkspace {
    repo: Repo,
    emulator: lode_emulators::databricks::RunningEmulator,
}

impl ServedWorkspace {
    fn start() -> ServedWorkspace {
        let repo = applied_demo();
        let emulator = crate::support::serve_local_workspace(repo.path(), "the pull test");
        ServedWorkspace { repo, emulator }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = reqwest::blocking::Client::new()
            .request(method, format!("{}{path}", self.emulator.url))
            .bearer_auth(lode::app::connect::LOCAL_EMULATOR_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().unwrap();
        let status = answer.status();
        let text = answer.text().unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    fn genie_space_id(&self) -> String {
        let spaces = self.call(reqwest::Method::GET, "/api/2.0/genie/spaces", None);
        spaces["spaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["title"] == "Mining Operations Intelligence")
            .expect("the demo's space")["space_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Edits the Genie space's instructions in the UI: one line of them replaced.
    fn edit_instructions_live(&self, from: &str, to: &str) {
        let id = self.genie_space_id();
        let space = self.call(
            reqwest::Method::GET,
            &format!("/api/2.0/genie/spaces/{id}?include_serialized_space=true"),
            None,
        );
        let serialized = space["serialized_space"]
            .as_str()
            .expect("a serialized space");
        assert!(serialized.contains(from), "{serialized}");
        let edited = serialized.replacen(from, to, 1);
        self.call(
            reqwest::Method::PATCH,
            &format!("/api/2.0/genie/spaces/{id}"),
            Some(json!({"serialized_space": edited})),
        );
    }
}

const GENIE_LINE: &str = "- Only include equipment with equipment_master.active = true in fleet-wide questions unless asked about parked equipment.";

#[test]
fn issue_17_pull_after_genie_instructions_edit() {
    let served = ServedWorkspace::start();
    let repo = &served.repo;
    served.edit_instructions_live(
        "unless asked about parked equipment.",
        "unless asked about parked or stood-down equipment.",
    );
    let file = "databricks/genie.yaml";
    let before = line_with(repo, file, GENIE_LINE);
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(&run.stdout, "Pulled genie_space/mining_ops: instructions");
    assert_pulled_exactly(
        repo,
        &[
            format!("{file}: -{before}"),
            format!(
                "{file}: +{}",
                before.replace("parked equipment", "parked or stood-down equipment")
            ),
        ],
    );
}

#[test]
fn issue_17_pull_refuses_a_conflict_and_changes_nothing() {
    let served = ServedWorkspace::start();
    let repo = &served.repo;
    // In git (committed, not applied) and live, differently.
    repo.edit(
        "databricks/genie.yaml",
        "unless asked about parked equipment.",
        "unless asked about idle equipment.",
    );
    repo.commit("genie: idle equipment");
    served.edit_instructions_live(
        "unless asked about parked equipment.",
        "unless asked about stood-down equipment.",
    );
    let git_before = repo.read("databricks/genie.yaml");
    let run = repo.lode_ok(&["pull"], 1);
    assert_contains(&run.stderr, "genie_space/mining_ops instructions: git ");
    assert_contains(&run.stderr, "idle equipment");
    assert_contains(&run.stderr, "stood-down equipment");
    assert_contains(&run.stderr, "(databricks/genie.yaml:");
    assert!(
        work_tree_changes(repo).is_empty(),
        "{:?}",
        work_tree_changes(repo)
    );
    assert_eq!(repo.read("databricks/genie.yaml"), git_before);
    repo.lode_ok(&["pull", "--check"], 2);
    let json = repo.lode_ok(&["pull", "--format", "json"], 1);
    let document: Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    assert_eq!(
        document["conflicts"][0]["address"],
        "genie_space/mining_ops"
    );
    assert_eq!(document["conflicts"][0]["field"], "instructions");
    assert!(document["files"].as_array().unwrap().is_empty());
    assert!(work_tree_changes(repo).is_empty());

    let forced = repo.lode_ok(&["pull", "--force"], 0);
    assert_contains(
        &forced.stdout,
        "Took live over git (--force): genie_space/mining_ops instructions",
    );
    let file = "databricks/genie.yaml";
    let before = line_with(repo, file, "stood-down equipment");
    assert_eq!(
        diff_lines(repo),
        [
            format!(
                "{file}: -{}",
                before.replace("stood-down equipment", "idle equipment")
            ),
            format!("{file}: +{before}"),
        ]
    );
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn issue_17_pull_after_a_table_column_comment_edit() {
    let repo = applied_demo();
    repo.local_sql(
        "ALTER TABLE equipment_types ALTER COLUMN display_name COMMENT 'Class name shown to operators'",
    );
    let file = "databricks/tables.yaml";
    let before = line_with(&repo, file, "Human-readable class name");
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(
        &run.stdout,
        "Pulled table/equipment_types: columns[display_name].comment",
    );
    assert_pulled_exactly(
        &repo,
        &[
            format!("{file}: -{before}"),
            format!(
                "{file}: +{}",
                before.replace("Human-readable class name", "Class name shown to operators")
            ),
        ],
    );
}

#[test]
fn issue_17_pull_after_a_pipeline_setting_edit() {
    let served = ServedWorkspace::start();
    let repo = &served.repo;
    let listed = served.call(reqwest::Method::GET, "/api/2.0/pipelines", None);
    let id = listed["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mining-telemetry")
        .expect("the demo's pipeline")["pipeline_id"]
        .as_str()
        .unwrap()
        .to_string();
    let pipeline = served.call(
        reqwest::Method::GET,
        &format!("/api/2.0/pipelines/{id}"),
        None,
    );
    let mut spec = pipeline["spec"].clone();
    spec["tags"]["project"] = json!("mining-demo-north");
    served.call(
        reqwest::Method::PUT,
        &format!("/api/2.0/pipelines/{id}"),
        Some(spec),
    );
    let file = "databricks/pipeline.yaml";
    let before = line_with(repo, file, "project: mining-demo");
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(
        &run.stdout,
        "Pulled pipeline/mining_telemetry: tags.project",
    );
    assert_pulled_exactly(
        repo,
        &[
            format!("{file}: -{before}"),
            format!(
                "{file}: +{}",
                before.replace("mining-demo", "mining-demo-north")
            ),
        ],
    );
}

#[test]
fn issue_17_pull_after_a_monitor_schedule_edit() {
    let served = ServedWorkspace::start();
    let repo = &served.repo;
    let path = "/api/2.1/unity-catalog/tables/main.mining_demo.ot_telemetry_gold/monitor";
    let monitor = served.call(reqwest::Method::GET, path, None);
    let mut request = serde_json::Map::new();
    for field in [
        "output_schema_name",
        "assets_dir",
        "time_series",
        "slicing_exprs",
        "schedule",
    ] {
        if let Some(value) = monitor.get(field) {
            request.insert(field.to_string(), value.clone());
        }
    }
    request["schedule"]["quartz_cron_expression"] = json!("0 30 * * * ?");
    served.call(reqwest::Method::PUT, path, Some(Value::Object(request)));
    let file = "databricks/monitor.yaml";
    let before = line_with(repo, file, "quartz_cron_expression");
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(
        &run.stdout,
        "Pulled quality_monitor/gold_quality: schedule.quartz_cron_expression",
    );
    assert_pulled_exactly(
        repo,
        &[
            format!("{file}: -{before}"),
            format!("{file}: +{}", before.replace("0 0 * * * ?", "0 30 * * * ?")),
        ],
    );
}

#[test]
fn issue_17_pull_after_a_workspace_file_edit() {
    use base64::Engine as _;
    let served = ServedWorkspace::start();
    let repo = &served.repo;
    let path = "/Workspace/Shared/mining_demo/chat/index.html";
    let exported = served.call(
        reqwest::Method::GET,
        &format!("/api/2.0/workspace/export?path={path}&format=SOURCE"),
        None,
    );
    let content = base64::engine::general_purpose::STANDARD
        .decode(exported["content"].as_str().unwrap())
        .unwrap();
    let content = String::from_utf8(content).unwrap();
    let edited = content.replacen(
        "<title>Ask Genie · Mining Operations</title>",
        "<title>Ask Genie · Pilbara North</title>",
        1,
    );
    assert_ne!(content, edited);
    served.call(
        reqwest::Method::POST,
        "/api/2.0/workspace/import",
        Some(json!({
            "path": path,
            "format": "AUTO",
            "overwrite": true,
            "content": base64::engine::general_purpose::STANDARD.encode(edited),
        })),
    );
    let file = "databricks/chat/index.html";
    let before = line_with(repo, file, "<title>");
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(&run.stdout, "Pulled workspace_file/chat_page: content");
    assert_pulled_exactly(
        repo,
        &[
            format!("{file}: -{before}"),
            format!(
                "{file}: +{}",
                before.replace("Mining Operations", "Pilbara North")
            ),
        ],
    );
}

/// The Zerobus connector's settings as the local gateway keeps them.
const LIVE_ZEROBUS: &str = ".zerobus/config.json";

/// A setting of the connector changed on the gateway's page is pulled; its secret, changed
/// there too, is never written anywhere (the gateway masks it; `lode apply` owns it).
#[test]
fn issue_17_pull_after_a_zerobus_setting_edit() {
    let repo = applied_demo();
    let mut secrets = 0;
    edit_live_json(&repo, LIVE_ZEROBUS, |config| {
        let text = config.to_string();
        assert!(text.contains("\"batchSize\":500"), "{text}");
        fn walk(value: &mut Value, secrets: &mut usize) {
            match value {
                Value::Object(map) => {
                    for (key, value) in map.iter_mut() {
                        match key.as_str() {
                            "batchSize" => *value = json!(250),
                            "oauthClientSecret" => {
                                *value = json!("attacker-chosen-secret-value");
                                *secrets += 1;
                            }
                            _ => walk(value, secrets),
                        }
                    }
                }
                Value::Array(items) => items.iter_mut().for_each(|v| walk(v, secrets)),
                _ => {}
            }
        }
        walk(config, &mut secrets);
    });
    assert_eq!(secrets, 1, "the gateway keeps the connector's secret");
    let file = "ignition/zerobus.yaml";
    let before = line_with(&repo, file, "batchSize: 500");
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(
        &run.stdout,
        "Pulled zerobus_connection/telemetry: batchSize",
    );
    assert_pulled_exactly(
        &repo,
        &[
            format!("{file}: -{before}"),
            format!("{file}: +{}", before.replace("500", "250")),
        ],
    );
    for (path, bytes) in manifest_files(repo.path()) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("attacker-chosen-secret-value")
                && !text.contains("local-emulator-zerobus-secret"),
            "a secret was written to {path}"
        );
    }
    assert!(!run.stdout.contains("attacker-chosen") && !run.stderr.contains("attacker-chosen"));
}

/// A live value that holds a secret the manifests read from the environment is written as
/// that `${env.NAME}`, never as the value.
#[test]
fn issue_17_pull_writes_a_known_secret_as_its_env_name() {
    let repo = applied_demo();
    let secret = "local-emulator-zerobus-secret";
    let live = file_containing(
        &repo
            .gateway()
            .join("config/resources/core/ignition/tag-definition"),
        "Fault_Enabled",
    );
    let relative = live
        .strip_prefix(repo.gateway())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    edit_live_json(&repo, &relative, |tags| {
        let documentation = "Set to true to ramp up CR_002 vibration through its alarm setpoints (Fault Injection script)";
        assert_eq!(replace_strings(tags, documentation, secret), 1);
    });
    let run = repo.lode_ok(&["pull"], 0);
    assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    let tags = repo.read("ignition/tags.yaml");
    assert!(!tags.contains(secret));
    assert_contains(&tags, "  documentation: ${env.ZEROBUS_CLIENT_SECRET}\n");
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn issue_17_pull_select_limits_what_is_pulled() {
    let repo = applied_demo();
    edit_live_json(&repo, LIVE_UDTS, add_member_to_conveyor);
    let other = repo.lode_ok(&["pull", "--select", "databricks"], 0);
    assert_contains(&other.stdout, "Nothing to pull");
    assert!(diff_lines(&repo).is_empty());
    let nothing = repo.lode_ok(&["pull", "--select", "udt/Nowhere"], 1);
    assert_contains(&nothing.stderr, "matches no declared resource");
    repo.lode_ok(&["pull", "--select", "udt/Conveyor"], 0);
    assert_pulled_exactly(&repo, &oil_temp_lines());
}

/// A git edit not applied yet is kept (the next apply writes it), while a live edit elsewhere
/// is taken; the journal records the pull.
#[test]
fn issue_17_pull_keeps_a_git_edit_that_is_not_applied_yet() {
    let repo = applied_demo();
    repo.edit(
        "ignition/tags.yaml",
        "  value: false\n  documentation: Set to true",
        "  value: false\n  documentation: When true, ramps up",
    );
    repo.commit("tags: a git edit, not applied");
    edit_live_json(&repo, LIVE_UDTS, add_member_to_conveyor);
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(
        &run.stdout,
        "Kept tag/Mining/Simulation/Fault_Enabled documentation: changed in git, not applied yet",
    );
    assert_contains(&run.stdout, "Pulled udt/Conveyor: tags[Oil_Temp_C]");
    assert_eq!(diff_lines(&repo), oil_temp_lines());
    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 2);
    assert_contains(&plan.stdout, "~ tag/Mining/Simulation/Fault_Enabled");
    assert!(!plan.stdout.contains("udt/Conveyor"), "{}", plan.stdout);
    let history = repo.lode_ok(&["history", "--last", "1"], 0);
    assert_contains(&history.stdout, "pull");
    assert_contains(&history.stdout, "udt/Conveyor: tags[Oil_Temp_C]");
}

/// A value the manifests take from another resource (`${ref...}`) is never pulled: the
/// reference is the truth and `lode apply` writes it again; pull says so and writes nothing.
#[test]
fn issue_17_pull_leaves_values_taken_from_other_resources() {
    let repo = applied_demo();
    let live = file_containing(
        &repo.gateway().join("projects"),
        "session.custom.genie_space_id =",
    );
    let text = std::fs::read_to_string(&live).unwrap();
    std::fs::write(
        &live,
        text.replace("# Perspective session startup", "# Edited live"),
    )
    .unwrap();
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(
        &run.stdout,
        "Not pulled session_event/session_startup script: the manifests take it from another resource",
    );
    assert!(work_tree_changes(&repo).is_empty());
    repo.lode_ok(&["pull", "--check"], 0);
}

/// A member deleted live (in the middle of the list) goes away as its own lines only, and a
/// property dropped live (a member's `engUnit`) as its one line.
#[test]
fn issue_17_pull_after_a_udt_member_and_a_property_are_removed_live() {
    let repo = applied_demo();
    edit_live_json(&repo, LIVE_UDTS, |types| {
        let conveyor = types
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|t| t["name"] == "Conveyor")
            .unwrap();
        let members = conveyor["tags"].as_array_mut().unwrap();
        let before = members.len();
        members.retain(|m| m["name"] != "Motor_Temp_C");
        assert_eq!(members.len(), before - 1);
        let runtime = members
            .iter_mut()
            .find(|m| m["name"] == "Runtime_Hours")
            .unwrap();
        assert!(runtime.as_object_mut().unwrap().remove("engUnit").is_some());
    });
    let text = repo.read("ignition/udts.yaml");
    let start = text.find("    - name: Motor_Temp_C\n").unwrap();
    let end = start + text[start..].find("    - name: Runtime_Hours\n").unwrap();
    let mut expected: Vec<String> = text[start..end]
        .lines()
        .map(|line| format!("ignition/udts.yaml: -{line}"))
        .collect();
    expected.push("ignition/udts.yaml: -      engUnit: h".to_string());
    let run = repo.lode_ok(&["pull"], 0);
    assert_contains(&run.stdout, "Pulled udt/Conveyor: ");
    assert_pulled_exactly(&repo, &expected);
}

/// Live values are data, whatever they hold: a string crafted to end its scalar and open a new
/// document (block context) or a new key (inside a flow mapping) is written as one quoted
/// value, and nothing else in the manifests changes.
#[test]
fn issue_17_pull_writes_crafted_live_strings_as_plain_values() {
    let repo = applied_demo();
    let block_injection =
        "Harmless\n---\nkind: tag\nname: Mining/Injected\nspec: {tagType: Folder}\n";
    let flow_injection = "Ops}, \"/evil\": {viewPath: Evil, title: x";
    let tags = file_containing(
        &repo
            .gateway()
            .join("config/resources/core/ignition/tag-definition"),
        "Fault_Enabled",
    );
    let tags = tags
        .strip_prefix(repo.gateway())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    edit_live_json(&repo, &tags, |tags| {
        let documentation = "Set to true to ramp up CR_002 vibration through its alarm setpoints (Fault Injection script)";
        assert_eq!(replace_strings(tags, documentation, block_injection), 1);
    });
    edit_live_json(
        &repo,
        "projects/mining_demo/com.inductiveautomation.perspective/page-config/config.json",
        |config| {
            assert_eq!(
                replace_strings(config, "Mining Operations", flow_injection),
                1
            )
        },
    );
    let documentation_line = line_with(&repo, "ignition/tags.yaml", "Fault Injection script");
    let title_line = line_with(
        &repo,
        "ignition/perspective.yaml",
        "title: Mining Operations",
    );
    repo.lode_ok(&["pull"], 0);
    let removed: Vec<String> = diff_lines(&repo)
        .into_iter()
        .filter(|line| line.contains(": -"))
        .collect();
    assert_eq!(
        removed,
        [
            format!("ignition/perspective.yaml: -{title_line}"),
            format!("ignition/tags.yaml: -{documentation_line}"),
        ]
    );
    // What the manifests now say is exactly live: no new resource, nothing to change.
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    let listed = repo.lode_ok(&["state", "list"], 0).stdout;
    assert!(!listed.contains("Injected"), "{listed}");
    repo.lode_ok(&["pull", "--check"], 0);
}
