//! Renamed addresses (issue #14): a document whose `name` changed must not delete the live
//! object it still describes. Without `moved:` the plan refuses; with `moved: {from: ...}` or
//! `lode state mv` the state entry follows the object and nothing live is touched.

use crate::support::{Repo, assert_contains};

const SCRIPT_DIR: &str = "projects/mining_demo/ignition/timer/Physics Simulation";

fn rename_the_physics_script(repo: &Repo, moved: bool) {
    let to = if moved {
        "name: physics_sim\nmoved:\n  from: gateway_script/physics_simulation\n"
    } else {
        "name: physics_sim\n"
    };
    repo.edit("ignition/scripts.yaml", "name: physics_simulation\n", to);
    repo.commit("rename the physics script");
}

fn script_is_live(repo: &Repo) -> bool {
    repo.gateway()
        .join(SCRIPT_DIR)
        .join("handleTimerEvent.py")
        .is_file()
}

#[test]
fn issue_14_a_rename_without_moved_is_refused_and_the_script_stays() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    rename_the_physics_script(&repo, false);
    let plan = repo.lode_ok(&["plan"], 0);
    assert_contains(
        &plan.stdout,
        "gateway_script/physics_sim wants the same live object",
    );
    assert_contains(
        &plan.stdout,
        "`moved: {from: gateway_script/physics_simulation}`",
    );
    let run = repo.lode_ok(&["apply", "--auto-approve"], 1);
    assert!(
        script_is_live(&repo),
        "the script was deleted:\n{}",
        run.stdout
    );
    let state = repo.lode_ok(&["state", "list"], 0).stdout;
    assert_contains(&state, "gateway_script/physics_simulation\n");
    assert!(!state.contains("gateway_script/physics_sim\n"), "{state}");
}

#[test]
fn issue_14_a_rename_with_moved_carries_the_state_entry_over() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    rename_the_physics_script(&repo, true);
    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 2);
    assert_contains(&plan.stdout, "gateway_script/physics_sim has moved");
    assert_contains(&plan.stdout, "1 moved");
    assert!(!plan.stdout.contains("will be deleted"), "{}", plan.stdout);
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert!(script_is_live(&repo));
    let state = repo.lode_ok(&["state", "list"], 0).stdout;
    assert_contains(&state, "gateway_script/physics_sim\n");
    assert!(
        !state.contains("gateway_script/physics_simulation\n"),
        "{state}"
    );
    // The move is done; `moved:` stays as history and changes nothing.
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn issue_14_state_mv_moves_the_entry_without_touching_the_object() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    rename_the_physics_script(&repo, false);
    let moved = repo.lode_ok(
        &[
            "state",
            "mv",
            "gateway_script/physics_simulation",
            "gateway_script/physics_sim",
        ],
        0,
    );
    assert_contains(
        &moved.stdout,
        "Moved gateway_script/physics_simulation to gateway_script/physics_sim in state",
    );
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    assert!(script_is_live(&repo));
    let history = repo.lode_ok(&["history"], 0).stdout;
    assert_contains(&history, "state mv");
    // Refused, changing nothing: a missing source, an existing target, another kind.
    let missing = repo.lode_ok(&["state", "mv", "udt/Nope", "udt/Other"], 1);
    assert_contains(&missing.stderr, "udt/Nope is not in the state");
    let taken = repo.lode_ok(
        &["state", "mv", "gateway_script/physics_sim", "udt/Crusher"],
        1,
    );
    assert_contains(&taken.stderr, "a move keeps the kind");
}

#[test]
fn issue_14_a_renamed_table_is_not_dropped_even_with_allow_data_loss() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    // The document's name changes; the live table it describes does not.
    repo.edit(
        "databricks/tables.yaml",
        "name: equipment_types\nspec:\n",
        "name: equipment_classes\nspec:\n  name: equipment_types\n",
    );
    repo.edit(
        "databricks/pipeline.yaml",
        "  - table/equipment_types\n",
        "  - table/equipment_classes\n",
    );
    repo.commit("rename the table's address");
    let run = repo.lode_ok(&["apply", "--auto-approve", "--allow-data-loss"], 1);
    assert_contains(
        &run.stdout,
        "table/equipment_classes wants the same live object",
    );
    let state = repo.lode_ok(&["state", "list"], 0).stdout;
    assert_contains(&state, "table/equipment_types\n");
    // With the move declared, the entry follows and the table and its rows stay.
    repo.edit(
        "databricks/tables.yaml",
        "name: equipment_classes\nspec:\n",
        "name: equipment_classes\nmoved:\n  from: table/equipment_types\nspec:\n",
    );
    repo.commit("declare the move");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn issue_14_a_moved_from_that_is_still_declared_is_a_manifest_error() {
    let repo = Repo::demo();
    repo.edit(
        "ignition/scripts.yaml",
        "name: physics_simulation\n",
        "name: physics_simulation\nmoved:\n  from: gateway_script/fault_injection\n",
    );
    let run = repo.lode_ok(&["validate"], 1);
    assert_contains(
        &run.stderr,
        "gateway_script/physics_simulation says it moved from gateway_script/fault_injection, but gateway_script/fault_injection is still declared",
    );
}
