//! Guards and secrets (issue #2): protection also blocks replaces, saved plans cannot be widened
//! and go stale when environment values change, and `${env.*}` values never reach output or state.

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
    assert_contains(&run.stderr, "cannot change a saved plan");
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
