//! The core loop on the Ignition side (issue #2): apply, replan empty, change, revert, roll back,
//! targets, protection, locking, saved plans, adoption and partial failures.

use crate::support::{HT_006, PROTECTED_SHIFT_TAG, Repo, assert_contains, gateway_tree};

const SCRIPT: &str = "ignition/scripts/physics_simulation.py";
const VIEW: &str = "ignition/views/equipment.view.json";

/// The v2 change of the issue: a script edit, a new tag instance and a view edit.
fn make_v2(repo: &Repo) -> String {
    repo.edit(SCRIPT, "AMBIENT_C = 34.0", "AMBIENT_C = 38.0");
    repo.append_document("ignition/tags.yaml", HT_006);
    repo.edit(
        VIEW,
        "\"text\": \"Mining Operations\"",
        "\"text\": \"Mining Operations (night shift)\"",
    );
    repo.commit("v2: hotter ambient, HT_006, view title")
}

#[test]
fn apply_then_replan_is_empty_for_every_kind() {
    let repo = Repo::demo();
    let run = repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert_contains(
        &run.stdout,
        "Plan: 35 to add, 0 to change, 0 to delete, 0 unchanged.",
    );
    assert_contains(&run.stdout, "Apply complete! Resources: 35 added");
    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    assert_contains(&plan.stdout, "No changes.");
    let again = repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert_contains(&again.stdout, "No changes.");
    let listed = repo.lode_ok(&["state", "list"], 0).stdout;
    for kind in [
        "project/",
        "udt/",
        "tag/",
        "gateway_script/",
        "perspective_view/",
        "page_config/",
        "session_props/",
        "session_event/",
    ] {
        assert!(
            listed.lines().any(|l| l.starts_with(kind)),
            "no {kind} in state:\n{listed}"
        );
    }
}

#[test]
fn the_demo_has_105_member_tags_in_its_instances() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let base = repo.gateway().join("config/resources/core/ignition");
    let types: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(base.join("tag-type-definition/default/udts.json")).unwrap(),
    )
    .unwrap();
    let members = |udt: &str| {
        types
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == udt)
            .unwrap()["tags"]
            .as_array()
            .unwrap()
            .len()
    };
    let instances: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(base.join("tag-definition/default/Mining/Equipment/udts.json"))
            .unwrap(),
    )
    .unwrap();
    let total: usize = instances
        .as_array()
        .unwrap()
        .iter()
        .map(|i| members(i["typeId"].as_str().unwrap()))
        .sum();
    assert_eq!(instances.as_array().unwrap().len(), 10);
    assert_eq!(total, 105);
}

#[test]
fn v1_v2_revert_and_rollback_move_the_gateway_both_ways() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let v1 = gateway_tree(&repo.gateway());
    make_v2(&repo);

    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 2);
    assert_contains(
        &plan.stdout,
        "Plan: 1 to add, 2 to change, 0 to delete, 33 unchanged.",
    );
    assert_contains(&plan.stdout, "+ tag/Mining/Equipment/HT_006");
    assert_contains(&plan.stdout, "~ gateway_script/physics_simulation");
    assert_contains(&plan.stdout, "~ perspective_view/Mining/Equipment");
    // The script change is a unified diff.
    assert!(
        plan.stdout.contains("-AMBIENT_C = 34.0") && plan.stdout.contains("+AMBIENT_C = 38.0"),
        "{}",
        plan.stdout
    );

    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let v2 = gateway_tree(&repo.gateway());
    assert_ne!(v1, v2);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);

    repo.git(&["revert", "--no-edit", "HEAD"]);
    let revert = repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert_contains(&revert.stdout, "1 to delete");
    assert_eq!(
        gateway_tree(&repo.gateway()),
        v1,
        "the revert did not restore v1"
    );
    repo.lode_ok(&["plan", "--rev", "HEAD~2", "--detailed-exitcode"], 0);

    // rollback --to works in either direction without touching the work tree.
    repo.lode_ok(&["rollback", "--to", "HEAD~1", "--auto-approve"], 0);
    assert_eq!(gateway_tree(&repo.gateway()), v2);
    assert!(repo.git(&["status", "--porcelain"]).trim().is_empty());
    repo.lode_ok(&["rollback", "--to", "HEAD", "--auto-approve"], 0);
    assert_eq!(gateway_tree(&repo.gateway()), v1);
}

#[test]
fn plan_at_a_revision_works_in_a_dirty_tree() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.edit(SCRIPT, "AMBIENT_C = 34.0", "AMBIENT_C = 99.0");
    repo.lode_ok(&["plan", "--detailed-exitcode"], 2);
    repo.lode_ok(&["plan", "--rev", "HEAD", "--detailed-exitcode"], 0);
    let unknown = repo.lode_ok(&["plan", "--rev", "no-such-rev"], 1);
    assert_contains(&unknown.stderr, "unknown revision `no-such-rev`");
}

#[test]
fn gateway_churn_is_not_a_change() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let gateway = repo.gateway();
    // What a gateway does to files after a scan: re-sign resource.json with its own actor and
    // timestamp, reorder keys, Gson-escape `=` and `'`, and write 18.0 as 18.
    for entry in walk(&gateway) {
        let name = entry.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&entry).unwrap();
        if name == "resource.json" {
            let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
            value["attributes"]["lastModification"] =
                serde_json::json!({"actor": "external", "timestamp": "2026-11-24T09:00:00Z"});
            value["attributes"]["lastModificationSignature"] = serde_json::json!(
                "709fa7793c3812d0860772a57a07a488922ac4b7b751694bbbd854e0bac229a9"
            );
            let reordered: serde_json::Map<String, serde_json::Value> = value
                .as_object()
                .unwrap()
                .iter()
                .rev()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            std::fs::write(&entry, serde_json::to_string_pretty(&reordered).unwrap()).unwrap();
        } else if name.ends_with(".json") {
            let gson =
                serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&text).unwrap())
                    .unwrap()
                    .replace('=', "\\u003d")
                    .replace('\'', "\\u0027")
                    .replace(".0,", ",");
            std::fs::write(&entry, gson).unwrap();
        }
    }
    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    assert_contains(&plan.stdout, "No changes.");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn target_limits_plan_and_apply() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    make_v2(&repo);
    let plan = repo.lode_ok(&["plan", "--target", "gateway_script"], 0);
    assert_contains(&plan.stdout, "Plan: 0 to add, 1 to change, 0 to delete");
    assert!(!plan.stdout.contains("HT_006"), "{}", plan.stdout);
    repo.lode_ok(
        &[
            "apply",
            "--auto-approve",
            "--target",
            "gateway_script/physics_simulation",
        ],
        0,
    );
    let rest = repo.lode_ok(&["plan"], 0);
    assert_contains(&rest.stdout, "Plan: 1 to add, 1 to change, 0 to delete");
    repo.lode_ok(
        &[
            "apply",
            "--auto-approve",
            "--target",
            "tag/Mining/Equipment",
        ],
        0,
    );
    let last = repo.lode_ok(&["plan"], 0);
    assert_contains(&last.stdout, "Plan: 0 to add, 1 to change, 0 to delete");
    let none = repo.lode_ok(&["plan", "--target", "udt/Nope"], 1);
    assert_contains(&none.stderr, "matches no resource");
}

#[test]
fn protect_blocks_a_revert_driven_delete() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.append_document("ignition/tags.yaml", PROTECTED_SHIFT_TAG);
    repo.commit("v2: a protected tag");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.git(&["revert", "--no-edit", "HEAD"]);

    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 2);
    assert_contains(&plan.stdout, "BLOCKED: it is protected");
    assert_contains(&plan.stdout, "--allow-delete-protected");
    let apply = repo.lode_ok(&["apply", "--auto-approve"], 1);
    assert_contains(&apply.stderr, "blocked");
    let tags_file = repo
        .gateway()
        .join("config/resources/core/ignition/tag-definition/default/Mining/Simulation/tags.json");
    assert!(
        std::fs::read_to_string(&tags_file)
            .unwrap()
            .contains("Shift"),
        "the protected tag was deleted"
    );
    // The protection is still in state after the manifest is gone.
    let entry = repo.lode_ok(&["state", "show", "tag/Mining/Simulation/Shift"], 0);
    assert_contains(&entry.stdout, "\"protect\": true");

    repo.lode_ok(&["apply", "--auto-approve", "--allow-delete-protected"], 0);
    assert!(
        !std::fs::read_to_string(&tags_file)
            .unwrap()
            .contains("Shift")
    );
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn a_concurrent_apply_is_refused_naming_the_holder() {
    let repo = Repo::demo();
    let backend = lode::state::StateBackend::new(
        Box::new(lode::state::LocalStore::new(
            repo.path().join(".lode/local"),
        )),
        "local",
    );
    let lock = backend.lock("lode apply (held by the test)").unwrap();
    let run = repo.lode_ok(&["apply", "--auto-approve"], 1);
    assert_contains(&run.stderr, "is locked by");
    assert_contains(&run.stderr, "lode apply (held by the test)");
    assert!(
        !repo.gateway().join("projects/mining_demo").exists(),
        "nothing may be applied without the lock"
    );
    drop(lock);
    repo.lode_ok(&["apply", "--auto-approve"], 0);
}

#[test]
fn a_saved_plan_applies_exactly_and_is_refused_once_stale() {
    let repo = Repo::demo();
    let plan_file = repo.path().join("../lode-plan.json");
    let plan_path = plan_file.to_str().unwrap();
    repo.lode_ok(&["plan", "--out", plan_path], 0);
    repo.lode_ok(&["apply", "--auto-approve", plan_path], 0);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);

    make_v2(&repo);
    repo.lode_ok(&["plan", "--out", plan_path], 0);
    // The state moves on after the plan was made.
    repo.lode_ok(
        &["apply", "--auto-approve", "--target", "gateway_script"],
        0,
    );
    let stale = repo.lode_ok(&["apply", "--auto-approve", plan_path], 1);
    assert_contains(&stale.stderr, "the saved plan is stale: the state");

    // A live object changed behind lode's back also makes it stale.
    repo.lode_ok(&["plan", "--out", plan_path], 0);
    let view = repo.gateway().join(
        "projects/mining_demo/com.inductiveautomation.perspective/views/Mining/Equipment/view.json",
    );
    let text = std::fs::read_to_string(&view).unwrap();
    std::fs::write(&view, text.replace("Mining Operations", "Edited by hand")).unwrap();
    let stale = repo.lode_ok(&["apply", "--auto-approve", plan_path], 1);
    assert!(
        stale
            .stderr
            .contains("the live object perspective_view/Mining/Equipment"),
        "{}",
        stale.stderr
    );

    // And so do changed manifests.
    repo.lode_ok(&["plan", "--out", plan_path], 0);
    repo.edit(SCRIPT, "AMBIENT_C = 38.0", "AMBIENT_C = 40.0");
    let stale = repo.lode_ok(&["apply", "--auto-approve", plan_path], 1);
    assert_contains(&stale.stderr, "the manifests changed");
}

#[test]
fn an_existing_object_is_adopted_not_overwritten_blindly() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    // Forget everything: the gateway now predates lode's state.
    std::fs::remove_file(repo.path().join(".lode/local/state.json")).unwrap();
    repo.edit(SCRIPT, "AMBIENT_C = 34.0", "AMBIENT_C = 35.0");
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(
        &plan.stdout,
        "gateway_script/physics_simulation will be adopted and updated in place",
    );
    assert_contains(&plan.stdout, "+AMBIENT_C = 35.0");
    assert_contains(&plan.stdout, "will be adopted into state (no change)");
    assert_contains(
        &plan.stdout,
        // The Zerobus secret is masked live: without state, lode cannot know it matches, so
        // adopting the connector rewrites it.
        "Plan: 0 to add, 2 to change, 0 to delete, 33 unchanged, 35 to adopt.",
    );
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn state_rm_stops_managing_without_touching() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let before = gateway_tree(&repo.gateway());
    let run = repo.lode_ok(&["state", "rm", "gateway_script/fault_injection"], 0);
    assert_contains(&run.stdout, "Removed gateway_script/fault_injection");
    assert_eq!(gateway_tree(&repo.gateway()), before);
    assert!(
        !repo
            .lode_ok(&["state", "list"], 0)
            .stdout
            .contains("fault_injection")
    );
    let missing = repo.lode_ok(&["state", "show", "gateway_script/fault_injection"], 1);
    assert_contains(&missing.stderr, "is not in the state");
}

#[test]
fn a_failed_step_skips_its_dependents_and_a_rerun_converges() {
    let repo = Repo::demo();
    // A file where the project's folder must go makes every write to the project fail.
    std::fs::create_dir_all(repo.gateway().join("projects")).unwrap();
    std::fs::write(repo.gateway().join("projects/mining_demo"), "not a folder").unwrap();
    let run = repo.lode_ok(&["apply", "--auto-approve"], 1);
    assert_contains(&run.stderr, "create project/mining_demo failed");
    assert_contains(
        &run.stderr,
        "skipped: create gateway_script/physics_simulation: project/mining_demo did not apply",
    );
    // Independent branches (the tags) still applied and are recorded.
    let listed = repo.lode_ok(&["state", "list"], 0).stdout;
    assert!(listed.contains("tag/Mining/Equipment/CR_002"), "{listed}");
    assert!(!listed.contains("project/mining_demo"), "{listed}");

    std::fs::remove_file(repo.gateway().join("projects/mining_demo")).unwrap();
    let rerun = repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert!(
        rerun
            .stdout
            .contains("Plan: 7 to add, 0 to change, 0 to delete, 28 unchanged."),
        "{}",
        rerun.stdout
    );
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn removing_a_manifest_deletes_and_retain_forgets() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let scripts = repo.read("ignition/scripts.yaml");
    // Keep only the first document (physics), drop fault injection; retain the physics script.
    let first = scripts.split("\n---").next().unwrap().to_string();
    repo.write(
        "ignition/scripts.yaml",
        &first.replace(
            "name: physics_simulation\n",
            "name: physics_simulation\nlifecycle:\n  retain: true\n",
        ),
    );
    repo.commit("drop fault injection");
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(&plan.stdout, "- gateway_script/fault_injection");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert!(
        !repo
            .gateway()
            .join("projects/mining_demo/ignition/timer/Fault Injection")
            .exists()
    );

    // With retain, removing the manifest leaves the object in place.
    std::fs::remove_file(repo.path().join("ignition/scripts.yaml")).unwrap();
    repo.commit("drop the physics script manifest");
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(
        &plan.stdout,
        "gateway_script/physics_simulation will be forgotten",
    );
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert!(
        repo.gateway()
            .join("projects/mining_demo/ignition/timer/Physics Simulation/handleTimerEvent.py")
            .exists()
    );
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}
