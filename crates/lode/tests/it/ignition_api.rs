//! The Ignition gateway over HTTP (issue #4): both transports (`files` with scans, `api` with
//! export/import) reach the same gateway state, change and revert it; the API's limits show in
//! plans; churn after scans is not a change; gateway refusals carry its message; and the Zerobus
//! connector's secret never leaks while its changes are still detected.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{HT_006, Repo, assert_contains, gateway_tree};

/// A gateway tree for comparing transports: JSON parsed, arrays of named entries as sets, and
/// what legitimately differs between two gateways (generated uuids, emulator dot files, the
/// session script that names each environment's own Genie space) left out.
fn comparable_tree(dir: &Path) -> BTreeMap<String, String> {
    gateway_tree(dir)
        .into_iter()
        .filter(|(path, _)| {
            !path.starts_with('.')
                && !path.contains("/.")
                && !path.contains("tag-provider/")
                && !path.ends_with("onStartup.py")
        })
        .map(|(path, text)| {
            let normalized = match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Array(mut items)) => {
                    items.sort_by_key(|i| i["name"].as_str().unwrap_or("").to_string());
                    serde_json::to_string(&items).unwrap()
                }
                _ => text,
            };
            (path, normalized)
        })
        .collect()
}

fn gateway(repo: &Repo, env: &str) -> std::path::PathBuf {
    repo.path().join(".lode").join(env).join("ignition")
}

#[test]
fn both_transports_reach_the_same_gateway_state_and_revert_it() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.lode_ok(&["--env", "local-api", "apply", "--auto-approve"], 0);
    let files_v1 = comparable_tree(&gateway(&repo, "local"));
    assert_eq!(files_v1, comparable_tree(&gateway(&repo, "local-api")));
    repo.lode_ok(&["--env", "local-api", "plan", "--detailed-exitcode"], 0);

    // v2 through both transports: a script, a view, a new instance.
    repo.edit(
        "ignition/scripts/physics_simulation.py",
        "AMBIENT_C = 34.0",
        "AMBIENT_C = 36.0",
    );
    repo.edit(
        "ignition/views/equipment.view.json",
        "\"text\": \"Mining Operations\"",
        "\"text\": \"Mining Ops\"",
    );
    repo.append_document("ignition/tags.yaml", HT_006);
    repo.commit("v2");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let plan = repo.lode_ok(&["--env", "local-api", "plan", "--detailed-exitcode"], 2);
    assert_contains(&plan.stdout, "Plan: 1 to add, 2 to change, 0 to delete");
    repo.lode_ok(&["--env", "local-api", "apply", "--auto-approve"], 0);
    assert_eq!(
        comparable_tree(&gateway(&repo, "local")),
        comparable_tree(&gateway(&repo, "local-api"))
    );
    repo.lode_ok(&["--env", "local-api", "plan", "--detailed-exitcode"], 0);

    // The revert removes HT_006: the files transport deletes it; the 8.3 API cannot.
    repo.git(&["revert", "--no-edit", "HEAD"]);
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert_eq!(comparable_tree(&gateway(&repo, "local")), files_v1);
    let plan = repo.lode_ok(&["--env", "local-api", "plan"], 0);
    assert_contains(
        &plan.stdout,
        "BLOCKED: the Ignition 8.3 REST API has no way to delete a tag or a UDT; allow with the files transport",
    );
    let apply = repo.lode_ok(&["--env", "local-api", "apply", "--auto-approve"], 1);
    assert_contains(&apply.stderr, "blocked");
    let api_tree = comparable_tree(&gateway(&repo, "local-api"));
    for (path, content) in &files_v1 {
        if path.ends_with("Equipment/udts.json") {
            assert_contains(&api_tree[path], "HT_006");
        } else {
            assert_eq!(
                api_tree.get(path),
                Some(content),
                "{path} differs after the revert through the API"
            );
        }
    }
}

#[test]
fn scans_churn_resource_json_and_the_churn_is_not_a_change() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let manifest = std::fs::read_to_string(
        gateway(&repo, "local")
            .join("projects/mining_demo/ignition/timer/Physics Simulation/resource.json"),
    )
    .unwrap();
    // The emulated gateway scanned lode's writes and re-signed them as the real one does.
    assert_contains(&manifest, "\"actor\": \"external\"");
    assert_contains(&manifest, "lastModificationSignature");
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn gateway_refusals_carry_the_gateways_message() {
    use lode::provider::ignition::client::GatewayClient;
    let dir = tempfile::tempdir().unwrap();
    let running = lode_emulators::ignition::start(lode_emulators::ignition::GatewayConfig {
        data_dir: dir.path().to_path_buf(),
        token: "ci:secret".into(),
        read_only_token: Some("viewer:secret".into()),
        port: 0,
        ..Default::default()
    })
    .unwrap();
    let client = GatewayClient::new(&running.url, "ci:secret").unwrap();
    client
        .post_json(
            "/data/api/v1/projects",
            &serde_json::json!({"name": "demo", "title": "Demo"}),
            false,
        )
        .unwrap();
    // Importing over an existing project without overwrite: 200 with success=false.
    let zip = client
        .get_bytes("/data/api/v1/projects/export/demo")
        .unwrap();
    let refused = client
        .post_bytes("/data/api/v1/projects/import/demo", &zip, false)
        .unwrap_err()
        .to_string();
    assert_contains(&refused, "success=false");
    // A stale signature on a config resource is a conflict with the gateway's reason.
    client
        .post_json(
            "/data/api/v1/resources/ignition/database-connection",
            &serde_json::json!([{"name": "historian", "collection": "core", "enabled": true, "config": {"driver": "PostgreSQL"}}]),
            false,
        )
        .unwrap();
    let stale = client
        .put_json(
            "/data/api/v1/resources/ignition/database-connection",
            &serde_json::json!([{"name": "historian", "collection": "core", "signature": "0000", "config": {"driver": "MariaDB"}}]),
        )
        .unwrap_err();
    assert_eq!(stale.status(), Some(409), "{stale}");
    // Wrong and read-only tokens get messages that say what to do.
    let wrong = GatewayClient::new(&running.url, "ci:nope")
        .unwrap()
        .get("/data/api/v1/gateway-info")
        .unwrap_err();
    assert_contains(&wrong.to_string(), "refused the API token (401)");
    let viewer = GatewayClient::new(&running.url, "viewer:secret").unwrap();
    viewer.get("/data/api/v1/gateway-info").unwrap();
    let forbidden = viewer
        .post_json(
            "/data/api/v1/projects",
            &serde_json::json!({"name": "other"}),
            false,
        )
        .unwrap_err();
    assert_contains(&forbidden.to_string(), "(403)");
}

#[test]
fn the_zerobus_secret_never_leaks_but_its_changes_are_applied() {
    let repo = Repo::demo();
    let secret = "zerobus-planted-secret-1234";
    let vars = [("ZEROBUS_CLIENT_SECRET", secret)];
    let mut printed = String::new();
    for args in [
        vec!["plan"],
        vec!["plan", "--format", "json"],
        vec!["apply", "--auto-approve"],
        vec!["state", "show", "zerobus_connection/telemetry"],
    ] {
        let run = repo.lode_with_env(&args, &vars);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        printed.push_str(&run.stdout);
        printed.push_str(&run.stderr);
    }
    assert!(!printed.contains(secret), "the secret was printed");
    for entry in std::fs::read_dir(repo.path().join(".lode/local")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert!(
                !std::fs::read_to_string(&path)
                    .unwrap_or_default()
                    .contains(secret),
                "{} holds the secret",
                path.display()
            );
        }
    }
    // The gateway has it, and shows it masked.
    let stored =
        std::fs::read_to_string(gateway(&repo, "local").join(".zerobus/config.json")).unwrap();
    assert_contains(&stored, secret);
    let plan = repo.lode_with_env(&["plan", "--detailed-exitcode"], &vars);
    assert_eq!(
        plan.code, 0,
        "an unchanged secret is not a change:\n{}",
        plan.stdout
    );

    // A new value is detected (keyed fingerprint), shown masked, and applied.
    let rotated = [("ZEROBUS_CLIENT_SECRET", "zerobus-rotated-secret-5678")];
    let plan = repo.lode_with_env(&["plan", "--detailed-exitcode"], &rotated);
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    assert_contains(&plan.stdout, "~ zerobus_connection/telemetry");
    assert!(
        !plan.stdout.contains("zerobus-rotated-secret-5678") && !plan.stdout.contains(secret),
        "{}",
        plan.stdout
    );
    assert_eq!(
        repo.lode_with_env(&["apply", "--auto-approve"], &rotated)
            .code,
        0
    );
    assert_contains(
        &std::fs::read_to_string(gateway(&repo, "local").join(".zerobus/config.json")).unwrap(),
        "zerobus-rotated-secret-5678",
    );
    assert_eq!(
        repo.lode_with_env(&["plan", "--detailed-exitcode"], &rotated)
            .code,
        0
    );

    // enabled: false and back.
    repo.edit(
        "ignition/zerobus.yaml",
        "  enabled: true\n",
        "  enabled: false\n",
    );
    let run = repo.lode_with_env(&["apply", "--auto-approve"], &rotated);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_contains(&run.stdout, "~ enabled: true -> false");
    assert_contains(
        &std::fs::read_to_string(gateway(&repo, "local").join(".zerobus/config.json")).unwrap(),
        "\"enabled\": false",
    );
    repo.edit(
        "ignition/zerobus.yaml",
        "  enabled: false\n",
        "  enabled: true\n",
    );
    assert_eq!(
        repo.lode_with_env(&["apply", "--auto-approve"], &rotated)
            .code,
        0
    );
    assert_eq!(
        repo.lode_with_env(&["plan", "--detailed-exitcode"], &rotated)
            .code,
        0
    );
}

#[test]
fn emulator_serve_runs_both_emulators_on_the_local_state() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("lode"))
        .args(["emulator", "serve", "--ignition-port", "0", "--data"])
        .arg(repo.path().join(".lode/local"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let _workspace = lines.next().unwrap().unwrap();
    let url = lines.next().unwrap().unwrap();
    let remembered =
        std::fs::read_to_string(gateway(&repo, "local").join(".emulator-port")).unwrap();
    assert!(
        url.ends_with(&format!(":{}", remembered.trim())),
        "{url} is not the local gateway's port"
    );
    let client = lode::provider::ignition::client::GatewayClient::new(
        &url,
        lode::app::connect::LOCAL_GATEWAY_TOKEN,
    )
    .unwrap();
    let projects = client.get("/data/api/v1/projects/names").unwrap();
    assert_contains(&projects.to_string(), "mining_demo");
    let export = client.get("/data/api/v1/tags/export?provider=default&type=json&path=Mining/Equipment&recursive=true").unwrap();
    assert_contains(&export.to_string(), "CR_002");
    client.scan("projects").unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A UDT member removed from the manifests is removed through the API too: the definition is
/// imported with collision policy Overwrite (replace the whole definition), not MergeOverwrite,
/// which keeps members the import does not mention and never converges.
#[test]
fn removing_a_udt_member_through_the_api_converges() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.lode_ok(&["--env", "local-api", "apply", "--auto-approve"], 0);
    repo.edit(
        "ignition/udts.yaml",
        "    - name: Throughput_TPH
      tagType: AtomicTag
      valueSource: memory
      dataType: Float4
      value: 2400.0
      engUnit: t/h
      engLow: 0
      engHigh: 3500
      documentation: Crushed product rate leaving the crusher
",
        "",
    );
    repo.commit("drop a crusher member");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let plan = repo.lode_ok(&["--env", "local-api", "plan", "--detailed-exitcode"], 2);
    assert_contains(&plan.stdout, "~ udt/");
    repo.lode_ok(&["--env", "local-api", "apply", "--auto-approve"], 0);
    repo.lode_ok(&["--env", "local-api", "plan", "--detailed-exitcode"], 0);
    let api_tree = comparable_tree(&gateway(&repo, "local-api"));
    assert_eq!(comparable_tree(&gateway(&repo, "local")), api_tree);
    assert!(
        !api_tree
            .values()
            .any(|c| c.contains("Crushed product rate")),
        "the member is still defined"
    );
}
