//! `lode-bench` (issue #7): a small run end to end, checked for the shape of its JSON report and
//! for which scenarios reach the emulators. Timings are never asserted: they depend on the
//! machine; the figures that matter are in docs/performance.md.

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;

const SCENARIOS: [&str; 8] = [
    "validate",
    "full_apply",
    "noop_plan",
    "import",
    "change_plan",
    "change_apply",
    "rollback",
    "manifests_at_revision",
];

/// Scenarios that must talk to the live systems (the others read only files).
const LIVE: [&str; 6] = [
    "full_apply",
    "noop_plan",
    "import",
    "change_plan",
    "change_apply",
    "rollback",
];

#[test]
fn issue_7_bench_reports_every_scenario_as_json() {
    // The bench runs the `lode` binary beside it: `cargo test --workspace` builds both.
    let output = cargo_bin_cmd!("lode-bench")
        .args(["--tags", "200", "--latency-ms", "0", "--format", "json"])
        // The client-side Databricks rate limit (15 requests per second) only adds waiting
        // here; the test checks what is reported, not how fast.
        .env("DATABRICKS_RATE_LIMIT", "0")
        .env("NO_COLOR", "1")
        .env_remove("LODE_ENV")
        .env_remove("LODE_DIR")
        .env_remove("LODE_EMULATOR_FAULTS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "lode-bench failed:\n{stderr}\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    });

    let scenarios = report["scenarios"].as_array().expect("a scenarios array");
    let names: Vec<&str> = scenarios
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, SCENARIOS);
    for scenario in scenarios {
        let name = scenario["name"].as_str().unwrap();
        let keys: Vec<&String> = scenario.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "name",
                "wall_s",
                "requests",
                "peak_rss_mb",
                "baseline_requests",
                "baseline_wall_s"
            ],
            "{name}"
        );
        assert!(scenario["wall_s"].as_f64().unwrap() >= 0.0, "{name}");
        let requests = scenario["requests"].as_u64().expect("a request count");
        if LIVE.contains(&name) {
            assert!(requests > 0, "{name} made no request: {scenario}");
        } else {
            assert_eq!(requests, 0, "{name} reads files only: {scenario}");
        }
        #[cfg(target_os = "linux")]
        assert!(
            scenario["peak_rss_mb"].as_f64().unwrap() > 0.0,
            "{name}: {scenario}"
        );
        assert!(scenario["baseline_requests"].as_u64().is_some(), "{name}");
        // No latency: the modelled per-object refresh takes no time either.
        assert_eq!(scenario["baseline_wall_s"].as_f64(), Some(0.0), "{name}");
    }

    // The baseline model: every object read, plus every object written for applies.
    let by_name = |name: &str| {
        scenarios
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    let resources = report["estate"]["resources"].as_u64().unwrap();
    let changed = report["estate"]["changed_resources"].as_u64().unwrap();
    assert!(changed * 100 >= resources, "1 % of {resources} must change");
    assert_eq!(by_name("validate")["baseline_requests"], 0);
    assert_eq!(by_name("full_apply")["baseline_requests"], 2 * resources);
    assert_eq!(by_name("noop_plan")["baseline_requests"], resources);
    // Issue 17: an import reads every object once, as a per-object tool would.
    assert_eq!(by_name("import")["baseline_requests"], resources);
    assert_eq!(by_name("change_plan")["baseline_requests"], resources);
    assert_eq!(
        by_name("change_apply")["baseline_requests"],
        resources + changed
    );
    assert_eq!(
        by_name("rollback")["baseline_requests"],
        resources + changed
    );
    assert_eq!(report["estate"]["tags"], 200);

    // The issue's targets, each judged or marked not applicable at this size.
    let targets = report["targets"].as_array().expect("a targets array");
    assert_eq!(targets.len(), 5);
    for target in targets {
        let status = target["status"].as_str().unwrap();
        assert!(["PASS", "MISS", "N/A"].contains(&status), "{target}");
        assert!(target["measured"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let status = |name: &str| {
        targets
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no target {name}"))["status"]
            .clone()
    };
    assert_eq!(status("noop_plan_10k"), "N/A");
    assert_eq!(status("plan_100k"), "N/A");
    assert_eq!(status("import_10k"), "N/A");
    assert!(report["machine"]["nproc"].as_u64().unwrap() >= 1);

    // Requests by route add up to the emulators' own counters.
    for name in LIVE {
        let routes = report["routes"][name].as_object().expect("routes");
        let sum: u64 = routes
            .values()
            .map(|r| r["requests"].as_u64().unwrap())
            .sum();
        assert_eq!(Some(sum), by_name(name)["requests"].as_u64(), "{name}");
    }
}

#[test]
fn issue_7_bench_refuses_a_non_empty_keep_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("something"), "x").unwrap();
    let output = cargo_bin_cmd!("lode-bench")
        .args(["--tags", "200", "--keep"])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the folder is not empty"), "{stderr}");
}

/// Issue #16: `--live` runs the demo manifests. Where there are none it says which folder it
/// looked in and which flag names another; a root whose environment has no `probe:` section is
/// refused, naming the file, before anything starts; and the live flags need `--live`.
#[test]
fn issue_16_the_live_bench_names_what_it_needs_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let run = |args: &[&str]| {
        let output = cargo_bin_cmd!("lode-bench")
            .args(args)
            .current_dir(&root)
            .env("NO_COLOR", "1")
            .env_remove("LODE_ENV")
            .env_remove("LODE_DIR")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        String::from_utf8_lossy(&output.stderr).to_string()
    };

    let stderr = run(&["--live"]);
    let missing = root.join("manifests");
    assert!(
        stderr.contains(&format!("{} has no lode.yaml", missing.display())),
        "{stderr}"
    );
    assert!(stderr.contains("--manifests DIR"), "{stderr}");

    // The demo without its probe section.
    let demo = root.join("demo");
    copy(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests"),
        &demo,
    );
    std::fs::write(
        demo.join("environments/local.yaml"),
        "extends: local\n# No probe here.\n",
    )
    .unwrap();
    let stderr = run(&[
        "--live",
        "--manifests",
        demo.to_str().unwrap(),
        "--rounds",
        "1",
        "--minutes",
        "0",
        "--keep",
        root.join("work").to_str().unwrap(),
    ]);
    assert!(
        stderr.contains(&format!(
            "{}: no `probe:` section",
            demo.join("environments/local.yaml").display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("The active probe"), "{stderr}");

    let stderr = run(&["--minutes", "3"]);
    assert!(stderr.contains("--live"), "{stderr}");
    let stderr = run(&["--live", "--tags", "200"]);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

fn copy(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == ".lode" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
