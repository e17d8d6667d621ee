//! Guards and secrets (issue #2): protection also blocks replaces, saved plans cannot be widened
//! and go stale when environment values change, and `${env.*}` values never reach output or state.

use serde_json::{Value, json};

use crate::support::{PROTECTED_SHIFT_TAG, Repo, assert_contains};

#[test]
fn protect_blocks_a_replace() {
    let repo = Repo::demo();
    repo.append_document("ignition/tags.yaml", PROTECTED_SHIFT_TAG);
    repo.commit("a protected tag");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    // Turning the tag into a folder is a replace: delete first, then create.
    repo.edit(
        "ignition/tags.yaml",
        "  tagType: AtomicTag\n  valueSource: memory\n  dataType: String\n  value: day\n",
        "  tagType: Folder\n",
    );
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(
        &plan.stdout,
        "BLOCKED: it is protected (`lifecycle.protect`) and a replace deletes it first",
    );
    repo.lode_ok(&["apply", "--auto-approve"], 1);
    let tags = repo
        .gateway()
        .join("config/resources/core/ignition/tag-definition/default/Mining/Simulation/tags.json");
    assert_contains(&std::fs::read_to_string(tags).unwrap(), "\"Shift\"");
    repo.lode_ok(&["apply", "--auto-approve", "--allow-delete-protected"], 0);
    assert!(
        repo.gateway()
            .join("config/resources/core/ignition/tag-definition/default/Mining/Simulation/Shift")
            .is_dir()
    );
}

#[test]
fn a_saved_plan_cannot_be_widened() {
    let repo = Repo::demo();
    let file = repo.path().join("../widen.json");
    repo.lode_ok(&["plan", "--out", file.to_str().unwrap()], 0);
    let run = repo.lode_ok(
        &[
            "apply",
            "--auto-approve",
            "--allow-delete-protected",
            file.to_str().unwrap(),
        ],
        1,
    );
    assert_contains(&run.stderr, "was made without --allow-delete-protected");
    let run = repo.lode_ok(
        &[
            "apply",
            "--auto-approve",
            "--target",
            "udt",
            file.to_str().unwrap(),
        ],
        1,
    );
    assert_contains(&run.stderr, "cannot change a saved plan");
}

fn with_secret_description(repo: &Repo) {
    repo.edit(
        "ignition/project.yaml",
        "  description: Haul trucks, crushers and conveyors of the mining demo",
        "  description: ${env.LODE_TEST_SECRET}",
    );
    repo.commit("a secret in the project");
}

#[test]
fn a_saved_plan_is_stale_when_a_secret_changes() {
    let repo = Repo::demo();
    with_secret_description(&repo);
    let file = repo.path().join("../secret-plan.json");
    let file = file.to_str().unwrap();
    repo.lode_with_env(
        &["plan", "--out", file],
        &[("LODE_TEST_SECRET", "first-secret-value")],
    );
    let run = repo.lode_with_env(
        &["apply", "--auto-approve", file],
        &[("LODE_TEST_SECRET", "second-secret-value")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_contains(&run.stderr, "a value from the environment");
    assert!(
        !run.stderr.contains("second-secret-value") && !run.stderr.contains("first-secret-value")
    );
    let run = repo.lode_with_env(
        &["apply", "--auto-approve", file],
        &[("LODE_TEST_SECRET", "first-secret-value")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn secret_values_never_reach_plans_files_or_state() {
    let repo = Repo::demo();
    with_secret_description(&repo);
    let secret = "planted-secret-4711";
    let vars = [("LODE_TEST_SECRET", secret)];
    let file = repo.path().join("../plan-with-secret.json");
    let mut printed = String::new();
    for args in [
        vec!["plan"],
        vec!["plan", "--format", "json"],
        vec!["plan", "--format", "markdown"],
        vec!["plan", "--out", file.to_str().unwrap()],
        vec!["apply", "--auto-approve"],
        vec!["state", "show", "project/mining_demo"],
    ] {
        let run = repo.lode_with_env(&args, &vars);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        printed.push_str(&run.stdout);
        printed.push_str(&run.stderr);
    }
    assert!(
        !printed.contains(secret),
        "a secret was printed:\n{printed}"
    );
    assert_contains(&printed, "(sensitive)");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(!saved.contains(secret));
    for entry in std::fs::read_dir(repo.path().join(".lode/local")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                !text.contains(secret),
                "{} holds the secret",
                path.display()
            );
        }
    }
    // The gateway itself gets the real value, and the next plan is empty.
    let project =
        std::fs::read_to_string(repo.gateway().join("projects/mining_demo/project.json")).unwrap();
    assert_contains(&project, secret);
    let run = repo.lode_with_env(&["plan", "--detailed-exitcode"], &vars);
    assert_eq!(run.code, 0, "{}", run.stdout);
    // A new secret value is a change, shown masked.
    let run = repo.lode_with_env(
        &["plan", "--detailed-exitcode"],
        &[("LODE_TEST_SECRET", "rotated-secret-0815")],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        !run.stdout.contains("rotated-secret-0815") && !run.stdout.contains(secret),
        "{}",
        run.stdout
    );
}

/// Edits `file` (a saved plan) with `edit` and returns the path of the edited copy.
fn edited_plan(file: &std::path::Path, name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut plan: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    edit(&mut plan);
    let edited = file.with_file_name(name);
    std::fs::write(&edited, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    edited.to_str().unwrap().to_string()
}

fn change_of<'a>(plan: &'a mut Value, address: &str) -> &'a mut Value {
    plan["changes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["address"] == address)
        .unwrap()
}

#[test]
fn issue_14_a_saved_plan_edited_to_delete_is_refused_and_nothing_is_deleted() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let file = repo.path().join("../issue-14-edited-to-delete.json");
    repo.lode_ok(&["plan", "--out", file.to_str().unwrap()], 0);
    let tampered = edited_plan(&file, "issue-14-edited-to-delete-tampered.json", |plan| {
        for address in ["table/equipment_types", "pipeline/mining_telemetry"] {
            change_of(plan, address)["action"] = json!("delete");
        }
        plan["summary"]["delete"] = json!(2);
    });
    let run = repo.lode_ok(&["apply", "--auto-approve", &tampered], 1);
    assert_contains(
        &run.stderr,
        "the saved plan is not what its manifests, state and live objects give: change table/equipment_types: `action` is \"delete\" in the file, \"no-op\" when derived again; nothing was applied",
    );
    assert_contains(&run.stderr, "hint: the file was edited");
    // Nothing was deleted: the environment still matches, and the untouched file applies.
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    repo.lode_ok(&["apply", "--auto-approve", file.to_str().unwrap()], 0);
}

#[test]
fn issue_14_every_field_of_a_saved_plan_edited_one_at_a_time_is_refused() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let file = repo.path().join("../issue-14-every-field.json");
    repo.lode_ok(&["plan", "--out", file.to_str().unwrap()], 0);
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    // Every top-level field and every field of one change (the engine's unit test covers
    // every field of every change on plain data; here the whole binary is in the loop).
    let mut edits: Vec<(String, Value)> = Vec::new();
    for (key, value) in plan.as_object().unwrap() {
        match value {
            Value::Object(fields) => {
                for (field, inner) in fields {
                    edits.push((format!("/{key}/{field}"), other_value(inner)));
                }
            }
            _ if key == "changes" || key == "created_at" => {}
            _ => edits.push((format!("/{key}"), other_value(value))),
        }
    }
    edits.push(("/targets".into(), json!(["table"])));
    let index = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["address"] == "table/equipment_types")
        .unwrap();
    for field in [
        "address",
        "action",
        "risk",
        "live_fingerprint",
        "depends_on",
        "lifecycle",
        "reason",
        "adopt",
        "drift",
        "blocked",
        "fields",
    ] {
        // A field the change leaves out gets a value that means something in the format.
        let edit = match (field, &plan["changes"][index][field]) {
            ("adopt" | "drift", Value::Null) => json!(true),
            ("reason", Value::Null) => json!("edited"),
            ("blocked", Value::Null) => json!({"reason": "edited", "allow_with": "--edited"}),
            ("fields", Value::Null) => json!([{"path": "comment", "before": "a", "after": "b"}]),
            (_, now) => other_value(now),
        };
        edits.push((format!("/changes/{index}/{field}"), edit));
    }
    for (pointer, value) in edits {
        let tampered = edited_plan(&file, "issue-14-every-field-tampered.json", |plan| {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let parent = if parent.is_empty() {
                &mut *plan
            } else {
                plan.pointer_mut(parent).unwrap()
            };
            parent[key] = value.clone();
        });
        let run = repo.lode(&["apply", "--auto-approve", &tampered]);
        if pointer == "/change_options/no_data" {
            // Only ever narrows a plan: derived again with it, this plan is the same (nothing
            // to change), and that is what runs.
            assert_eq!(run.code, 0, "{}", run.stderr);
            assert_contains(&run.stdout, "No changes");
            continue;
        }
        assert_eq!(
            run.code, 1,
            "editing {pointer} to {value} was not refused:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("nothing was applied")
                || run.stderr.contains("is not a lode plan")
                || run.stderr.contains("has plan format")
                || run.stderr.contains("the plan is for environment"),
            "editing {pointer}: {}",
            run.stderr
        );
    }
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

/// A different value of the kind a hand edit would write.
fn other_value(value: &Value) -> Value {
    match value {
        Value::Bool(b) => json!(!b),
        Value::Number(n) => json!(n.as_u64().unwrap_or(0) + 1),
        Value::String(s) if s == "no-op" => json!("delete"),
        Value::String(s) if s == "low" => json!("high"),
        Value::String(s) => json!(format!("{s}0")),
        Value::Null => json!("0"),
        Value::Array(items) if items.is_empty() => json!(["schema/mining_demo"]),
        Value::Array(_) => json!([]),
        Value::Object(_) => json!({"protect": true, "retain": false}),
    }
}
