//! The command line's contract with scripts and CI (issue #12): usage errors exit 1, never 2;
//! Terraform-style single-dash flags get a hint; and every `--format json` prints exactly one
//! JSON document on stdout, with every line for people on stderr.

use serde_json::Value;

use crate::support::{Repo, Run, assert_contains};

const SCRIPT: &str = "ignition/scripts/physics_simulation.py";

/// Stdout parses as exactly one JSON value (serde_json refuses trailing content).
fn one_document(args: &[&str], run: &Run) -> Value {
    serde_json::from_str::<Value>(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "lode {args:?}: stdout is not one JSON document ({e}); exit {}\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        )
    })
}

#[test]
fn issue_12_usage_errors_exit_1_never_2() {
    let repo = Repo::demo();
    for args in [
        &["plan", "--no-such-flag"][..],
        &["plan", "--format", "xml"],
        &["plan", "--detailed-exitcode", "--no-such-flag"],
        &["restore"],
        &["no-such-command"],
        &["state"],
    ] {
        let run = repo.lode(args);
        assert_eq!(run.code, 1, "lode {args:?}\nstderr:\n{}", run.stderr);
        // A missing subcommand shows the usage instead of an `error:` line.
        assert_contains(
            &run.stderr,
            if args == ["state"] {
                "Usage:"
            } else {
                "error:"
            },
        );
        assert!(
            run.stdout.is_empty(),
            "lode {args:?} printed data: {}",
            run.stdout
        );
    }
    let help = repo.lode_ok(&["--help"], 0);
    assert_contains(&help.stdout, "Usage: lode");
    repo.lode_ok(&["--version"], 0);
    // 2 is kept for "changes present" under --detailed-exitcode, and nothing else.
    repo.lode_ok(&["plan", "--detailed-exitcode"], 2);
}

#[test]
fn issue_12_terraform_single_dash_flags_get_a_hint() {
    let repo = Repo::demo();
    let run = repo.lode(&["apply", "-auto-approve"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_contains(
        &run.stderr,
        "hint: lode's flags take two dashes: use `--auto-approve`",
    );
    let run = repo.lode(&["plan", "-target=udt/Crusher"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_contains(
        &run.stderr,
        "use `--target=udt/Crusher` instead of `-target=udt/Crusher`",
    );
    // Short flags are not mistaken for long ones.
    let run = repo.lode(&["-q", "validate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("hint:"), "{}", run.stderr);
}

#[test]
fn issue_12_every_json_format_prints_exactly_one_document() {
    let repo = Repo::demo();

    let args = ["validate", "--format", "json"];
    let validate = one_document(&args, &repo.lode_ok(&args, 0));
    assert_eq!(validate["valid"], true);
    assert_eq!(validate["resources"], 35);

    let args = ["plan", "--format", "json"];
    let plan = one_document(&args, &repo.lode_ok(&args, 0));
    assert!(plan["format_version"].is_number());

    let args = ["apply", "--auto-approve", "--format", "json"];
    let run = repo.lode_ok(&args, 0);
    let applied = one_document(&args, &run);
    assert_eq!(applied["summary"]["add"], 35);
    // The outcome line is for people: under --format json it goes to stderr.
    assert_contains(&run.stderr, "Apply complete! Resources: 35 added");

    // A change, so that a snapshot exists to restore.
    repo.edit(SCRIPT, "AMBIENT_C = 34.0", "AMBIENT_C = 36.0");
    repo.commit("v2");
    let args = ["apply", "--auto-approve", "--verify", "--format", "json"];
    let run = repo.lode(&args);
    one_document(&args, &run);
    assert_contains(&run.stderr, "Verifying:");

    let args = ["verify", "--format", "json"];
    one_document(&args, &repo.lode(&args));
    let args = ["status", "--format", "json"];
    one_document(&args, &repo.lode(&args));
    let args = ["history", "--format", "json"];
    let history = one_document(&args, &repo.lode_ok(&args, 0));
    assert!(
        history.as_array().is_some_and(|h| h.len() >= 2),
        "{history}"
    );
    let args = ["state", "list", "--format", "json"];
    let state = one_document(&args, &repo.lode_ok(&args, 0));
    assert_eq!(state.as_array().map(Vec::len), Some(35));
    assert!(state[0]["address"].is_string() && state[0]["kind"].is_string());

    let args = ["snapshots", "--format", "json"];
    let snapshots = one_document(&args, &repo.lode_ok(&args, 0));
    let id = snapshots[0]["id"]
        .as_str()
        .expect("a snapshot id")
        .to_string();

    // Without --auto-approve and without a terminal these show their plan and refuse (exit 1):
    // still exactly one document.
    let args = ["restore", &id, "--format", "json"];
    one_document(&args, &repo.lode(&args));
    let args = ["rollback", "--to", "HEAD~1", "--format", "json"];
    one_document(&args, &repo.lode(&args));
    let args = ["destroy", "--format", "json"];
    one_document(&args, &repo.lode(&args));

    // Invalid manifests: the diagnostics are the document, each with file, line and column.
    repo.write("broken.yaml", "kind: udt\nname: Broken\nspec:\n  nope: 1\n");
    let args = ["validate", "--format", "json"];
    let run = repo.lode(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let invalid = one_document(&args, &run);
    assert_eq!(invalid["valid"], false);
    let first = &invalid["diagnostics"][0];
    assert_eq!(first["file"], "broken.yaml", "{invalid}");
    assert!(first["line"].as_u64().unwrap() >= 1 && first["column"].as_u64().unwrap() >= 1);
    assert!(first["message"].is_string());
}
