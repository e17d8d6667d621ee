//! `lode schema`, `lode graph`, and manifests read from git with symlinked payloads (issue #2).

use crate::support::{Repo, assert_contains};

#[test]
fn schema_is_stable_and_every_ref_resolves() {
    let repo = Repo::demo();
    let run = repo.lode_ok(&["schema"], 0);
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    // 15 resource kinds and `check`.
    assert_eq!(schema["oneOf"].as_array().unwrap().len(), 16);
    assert!(schema["$defs"].get("TagConfig").is_some());
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn graph_is_dot_with_implicit_dependencies() {
    let repo = Repo::demo();
    let run = repo.lode_ok(&["graph"], 0);
    assert!(run.stdout.starts_with("digraph lode {"));
    assert_contains(
        &run.stdout,
        "\"tag/Mining/Equipment/CR_002\" -> \"udt/Crusher\";",
    );
    assert_contains(
        &run.stdout,
        "\"tag/Mining/Equipment/CR_002\" -> \"tag/Mining/Equipment\";",
    );
    assert_contains(
        &run.stdout,
        "\"page_config/mining_demo\" -> \"perspective_view/Mining/Equipment\";",
    );
    assert_contains(
        &run.stdout,
        "\"gateway_script/physics_simulation\" -> \"project/mining_demo\";",
    );
}

#[test]
fn an_in_root_symlinked_payload_reads_the_same_from_git() {
    let repo = Repo::demo();
    std::fs::rename(
        repo.path().join("ignition/scripts/fault_injection.py"),
        repo.path().join("ignition/fault_injection_body.py"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../fault_injection_body.py",
        repo.path().join("ignition/scripts/fault_injection.py"),
    )
    .unwrap();
    repo.commit("the fault script through a symlink");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.lode_ok(&["plan", "--rev", "HEAD", "--detailed-exitcode"], 0);
}
