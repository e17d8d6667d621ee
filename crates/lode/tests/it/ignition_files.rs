//! What the `files` transport writes into a gateway directory (issue #2): resource.json keeps
//! what the gateway listed, and meaningful `null`s in documents survive a round trip.

use crate::support::{Repo, assert_contains};

const VIEW_DIR: &str =
    "projects/mining_demo/com.inductiveautomation.perspective/views/Mining/Equipment";

#[test]
fn a_view_update_keeps_the_gateway_thumbnail_listed() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let dir = repo.gateway().join(VIEW_DIR);
    // The Designer adds a thumbnail and lists it.
    std::fs::write(dir.join("thumbnail.png"), b"\x89PNG").unwrap();
    let manifest = std::fs::read_to_string(dir.join("resource.json")).unwrap();
    std::fs::write(
        dir.join("resource.json"),
        manifest.replace("\"view.json\"", "\"view.json\", \"thumbnail.png\""),
    )
    .unwrap();
    repo.edit(
        "ignition/views/equipment.view.json",
        "\"text\": \"Mining Operations\"",
        "\"text\": \"Mining Ops\"",
    );
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("resource.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["files"],
        serde_json::json!(["view.json", "thumbnail.png"])
    );
    // lode writes no signature; the (emulated) gateway signed the file when it scanned it.
    assert_eq!(
        manifest["attributes"]["lastModification"]["actor"],
        "external"
    );
}

#[test]
fn null_in_a_view_is_a_value_not_an_absence() {
    let repo = Repo::demo();
    repo.edit(
        "ignition/views/equipment.view.json",
        "\"custom\": {},",
        "\"custom\": {\"interlock\": null},",
    );
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    repo.edit(
        "ignition/views/equipment.view.json",
        "\"interlock\": null",
        "\"interlock\": true",
    );
    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 2);
    assert_contains(&plan.stdout, "-    \"interlock\": null");
    assert_contains(&plan.stdout, "+    \"interlock\": true");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.edit(
        "ignition/views/equipment.view.json",
        "\"interlock\": true",
        "\"interlock\": null",
    );
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let view = std::fs::read_to_string(repo.gateway().join(VIEW_DIR).join("view.json")).unwrap();
    assert_contains(&view, "\"interlock\": null");
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}
