//! Snapshots of the three plan formats for one representative change set: an update with a
//! script diff, a view diff, a create, a delete, a replace and a blocked delete.

use crate::support::{HT_006, PROTECTED_SHIFT_TAG, Repo};

/// Applies the demo with a protected tag, then makes every kind of change.
fn representative_change_set() -> Repo {
    let repo = Repo::demo();
    repo.append_document("ignition/tags.yaml", PROTECTED_SHIFT_TAG);
    repo.commit("a protected tag");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    // Update (script diff and a timer setting), replace (resource folder renamed), create,
    // delete, blocked delete (the protected tag's manifest removed), view diff.
    repo.edit(
        "ignition/scripts/physics_simulation.py",
        "AMBIENT_C = 34.0",
        "AMBIENT_C = 38.0",
    );
    repo.edit(
        "ignition/scripts.yaml",
        "resource_name: Fault Injection",
        "resource_name: CR_002 Fault Injection",
    );
    repo.edit(
        "ignition/views/equipment.view.json",
        "\"text\": \"Mining Operations\"",
        "\"text\": \"Mining Operations (night shift)\"",
    );
    let tags = repo.read("ignition/tags.yaml");
    let without_shift = tags
        .split("---\nkind: tag\nname: Mining/Simulation/Shift")
        .next()
        .unwrap()
        .to_string();
    let without_ht5 = remove_document(&without_shift, "name: Mining/Equipment/HT_005\n");
    repo.write("ignition/tags.yaml", &without_ht5);
    repo.append_document("ignition/tags.yaml", HT_006);
    repo.edit("ignition/udts.yaml", "engHigh: 100", "engHigh: 120");
    repo.commit("v2: the representative change set");
    repo
}

fn remove_document(text: &str, marker: &str) -> String {
    text.split("---\n")
        .filter(|doc| !doc.contains(marker))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn filters() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"[0-9a-f]{64}", "[DIGEST]");
    settings.add_filter(r"[0-9a-f]{40}", "[COMMIT]");
    settings.add_filter(r"manifests at [0-9a-f]{12}", "manifests at [COMMIT]");
    settings.add_filter(r"`[0-9a-f]{12}`", "`[COMMIT]`");
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[LINEAGE]",
    );
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "[TIME]");
    settings
}

#[test]
fn text_plan() {
    let repo = representative_change_set();
    let run = repo.lode_ok(&["plan", "--detailed-exitcode"], 2);
    filters().bind(|| insta::assert_snapshot!(run.stdout));
}

#[test]
fn json_plan() {
    let repo = representative_change_set();
    let run = repo.lode_ok(&["plan", "--format", "json"], 0);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["format_version"], 1);
    filters().bind(|| insta::assert_snapshot!(run.stdout));
}

#[test]
fn markdown_plan() {
    let repo = representative_change_set();
    let run = repo.lode_ok(&["plan", "--format", "markdown"], 0);
    // Risky changes come first: the blocked delete, then deletes and replaces.
    let blocked = run.stdout.find("blocked delete").unwrap();
    let update = run.stdout.find("| medium | update |").unwrap();
    assert!(blocked < update);
    filters().bind(|| insta::assert_snapshot!(run.stdout));
}

#[test]
fn markdown_plan_stays_under_the_github_comment_limit() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    // A huge script change: the diff alone is far over 65,536 characters.
    let huge: String = (0..6000)
        .map(|i| format!("value_{i} = {i} * 2  # a long line to make a large diff\n"))
        .collect();
    repo.write("ignition/scripts/fault_injection.py", &huge);
    repo.write(
        "ignition/scripts/physics_simulation.py",
        &huge.replace("value_", "other_"),
    );
    let run = repo.lode_ok(&["plan", "--format", "markdown"], 0);
    assert!(
        run.stdout.len() <= 65_536,
        "{} characters",
        run.stdout.len()
    );
    assert!(
        run.stdout.contains("too large for one comment"),
        "{}",
        &run.stdout[..500]
    );
    assert!(run.stdout.contains("gateway_script/fault_injection"));
}

#[test]
fn no_changes_in_every_format() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let text = repo.lode_ok(&["plan"], 0).stdout;
    assert!(
        text.contains("No changes. The live environment matches the manifests (35 resources)."),
        "{text}"
    );
    let markdown = repo.lode_ok(&["plan", "--format", "markdown"], 0).stdout;
    assert!(markdown.contains("**No changes.**"), "{markdown}");
    let json: serde_json::Value =
        serde_json::from_str(&repo.lode_ok(&["plan", "--format", "json"], 0).stdout).unwrap();
    assert_eq!(json["summary"]["unchanged"], 35);
}
