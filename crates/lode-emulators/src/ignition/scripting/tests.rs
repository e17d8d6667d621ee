//! The script runtime on gateways laid out as lode's `files` transport writes them (project
//! resources, tag and UDT files), in deterministic mode: a virtual clock, `random` seeded with
//! 42, and `advance` instead of waiting. The demo's two scripts are read from `manifests/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::log::Level;
use super::{Deterministic, ScriptOptions, ScriptRuntime};
use crate::ignition::live_tags::{TagValue, quality};
use crate::ignition::{GatewayConfig, RunningGateway, scan, start};
use lode_wire::ignition::tag_files::TagFolder;

const PROJECT: &str = "mining_demo";
/// 2026-12-08T00:00:00Z
const START_MS: i64 = 1_796_688_000_000;
const EQUIPMENT: &str = "[default]Mining/Equipment/";

fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests")
}

/// A gateway script file as 8.3 stores it: the `def` line, then the body indented by a tab.
fn script_file(signature: &str, body: &str) -> String {
    let mut out = format!("{signature}\n");
    for line in body.trim_end_matches('\n').split('\n') {
        if !line.is_empty() {
            out.push('\t');
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn write_resource(dir: &Path, file: &str, content: &str, attributes: Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(file), content).unwrap();
    let manifest = json!({
        "scope": "G", "version": 1, "restricted": false, "overridable": true,
        "files": [file], "attributes": attributes,
    });
    std::fs::write(
        dir.join("resource.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

/// A gateway data directory with the demo project (no scripts yet).
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    scan::seed_fresh(dir.path()).unwrap();
    let project = dir.path().join("projects").join(PROJECT);
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("project.json"),
        r#"{"title": "Mining Operations", "enabled": true, "inheritable": false}"#,
    )
    .unwrap();
    dir
}

fn timer(dir: &Path, name: &str, body: &str, delay_ms: u64, fixed_delay: bool, enabled: bool) {
    write_resource(
        &dir.join("projects")
            .join(PROJECT)
            .join("ignition/timer")
            .join(name),
        "handleTimerEvent.py",
        &script_file("def handleTimerEvent():", body),
        json!({"delay": delay_ms, "fixedDelay": fixed_delay, "sharedThread": true, "enabled": enabled}),
    );
}

fn tag_change(dir: &Path, name: &str, body: &str, paths: &[&str]) {
    write_resource(
        &dir.join("projects")
            .join(PROJECT)
            .join("ignition/tag-change")
            .join(name),
        "onTagChange.py",
        &script_file(
            "def onTagChange(initialChange, newValue, previousValue, event, executionCount):",
            body,
        ),
        json!({"paths": paths, "changeTypes": ["ValueChange", "QualityChange"], "enabled": true}),
    );
}

/// The demo's UDTs and tags from the manifests, written as the `files` transport writes them.
fn demo_tags(dir: &Path) {
    let documents = |file: &str| -> Vec<Value> {
        let text = std::fs::read_to_string(manifests().join("ignition").join(file)).unwrap();
        serde_saphyr::from_multiple(&text).unwrap()
    };
    let types = TagFolder::type_definitions(dir, "core", "default");
    for udt in documents("udts.yaml") {
        let spec = &udt["spec"];
        let entry = json!({
            "tagType": "UdtType", "typeId": null,
            "parameters": spec["parameters"], "tags": spec["tags"],
        });
        types
            .write_entry(udt["name"].as_str().unwrap(), &entry)
            .unwrap();
    }
    let tags = TagFolder::tag_definitions(dir, "core", "default");
    for tag in documents("tags.yaml") {
        let mut config = tag["spec"].clone();
        config.as_object_mut().unwrap().remove("provider");
        tags.write_entry(tag["name"].as_str().unwrap(), &config)
            .unwrap();
    }
}

/// The demo's two timer scripts as `manifests/ignition/scripts.yaml` configures them.
fn demo_scripts(dir: &Path) {
    let body = |file: &str| {
        std::fs::read_to_string(manifests().join("ignition/scripts").join(file)).unwrap()
    };
    timer(
        dir,
        "Physics Simulation",
        &body("physics_simulation.py"),
        1000,
        false,
        true,
    );
    timer(
        dir,
        "Fault Injection",
        &body("fault_injection.py"),
        1000,
        false,
        true,
    );
}

/// Memory tags of the small test projects: `Test/<name>`.
fn memory_tags(dir: &Path, tags: &[(&str, &str, Value)]) {
    let folder = TagFolder::tag_definitions(dir, "core", "default");
    folder
        .write_entry("Test", &json!({"tagType": "Folder"}))
        .unwrap();
    for (name, data_type, value) in tags {
        folder
            .write_entry(
                &format!("Test/{name}"),
                &json!({"tagType": "AtomicTag", "valueSource": "memory", "dataType": data_type, "value": value}),
            )
            .unwrap();
    }
}

fn live(dir: &Path, time_limit: Duration) -> RunningGateway {
    start(GatewayConfig {
        data_dir: dir.to_path_buf(),
        token: "lode:secret".into(),
        live: true,
        scripts: ScriptOptions {
            time_limit,
            deterministic: Some(Deterministic {
                start_ms: START_MS,
                seed: 42,
            }),
        },
        ..Default::default()
    })
    .unwrap()
}

fn scripts(running: &RunningGateway) -> &ScriptRuntime {
    running
        .scripts
        .as_ref()
        .expect("a live gateway runs scripts")
}

fn ticks(running: &RunningGateway, seconds: u64) {
    for _ in 0..seconds {
        scripts(running).advance(Duration::from_secs(1)).unwrap();
    }
}

fn value(running: &RunningGateway, path: &str) -> TagValue {
    let read = running.gateway.read_tags(&[path.to_string()]).remove(0);
    assert_eq!(read.quality, quality::GOOD, "{path}: {read:?}");
    read.value
}

fn number(running: &RunningGateway, path: &str) -> f64 {
    match value(running, path) {
        TagValue::Float(f) => f,
        TagValue::Int(i) => i as f64,
        other => panic!("{path} is not a number: {other:?}"),
    }
}

fn status(running: &RunningGateway, name: &str) -> super::ScriptStatus {
    scripts(running)
        .status()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no script {name}"))
}

/// Every file under `dir` but the emulator's own dot files, with its bytes.
fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                files.insert(entry.path(), std::fs::read(entry.path()).unwrap());
            }
        }
    }
    files
}

fn demo() -> (tempfile::TempDir, RunningGateway) {
    let dir = data_dir();
    demo_tags(dir.path());
    demo_scripts(dir.path());
    let running = live(dir.path(), super::DEFAULT_TIME_LIMIT);
    (dir, running)
}

#[test]
fn issue_16_the_demo_scripts_move_the_105_equipment_tags() {
    let (dir, running) = demo();
    let equipment: Vec<String> = running
        .gateway
        .live_tag_paths()
        .into_iter()
        .filter(|p| p.starts_with(EQUIPMENT))
        .collect();
    assert_eq!(equipment.len(), 105, "{equipment:?}");
    let before = running.gateway.read_tags(&equipment);
    let files_before = tree(dir.path());
    let mut feed = running.gateway.tag_events.subscribe();

    ticks(&running, 30);

    let after = running.gateway.read_tags(&equipment);
    let moved: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.value != a.value)
        .map(|(b, _)| b.path.as_str())
        .collect();
    assert!(after.iter().all(|r| r.quality == quality::GOOD));
    assert!(
        moved.len() >= 80,
        "only {} tags moved: {moved:?}",
        moved.len()
    );
    for asset in [
        "HT_001", "HT_002", "HT_003", "HT_004", "HT_005", "CR_001", "CR_002", "CR_003", "CV_001",
        "CV_002",
    ] {
        assert!(
            moved.iter().any(|p| p.contains(asset)),
            "{asset} did not move"
        );
    }
    // Every change went out on the tag change feed, with the gateway's timestamps.
    let mut published = std::collections::BTreeSet::new();
    while let Ok(change) = feed.try_recv() {
        assert!(change.timestamp_ms > START_MS && change.timestamp_ms <= START_MS + 30_000);
        published.insert(change.path);
    }
    for path in &moved {
        assert!(published.contains(*path), "{path} moved unannounced");
    }
    let physics = status(&running, "Physics Simulation");
    assert_eq!((physics.runs, physics.failures), (30, 0), "{physics:?}");
    // Run-time values stay in memory: the tag files do not drift.
    assert_eq!(tree(dir.path()), files_before);
    eprintln!(
        "physics tick (this build): last {:.2} ms, mean {:.2} ms; fault injection mean {:.2} ms",
        physics.last_run_ms,
        physics.total_run_ms / physics.runs as f64,
        {
            let fault = status(&running, "Fault Injection");
            fault.total_run_ms / fault.runs as f64
        }
    );
}

#[test]
fn issue_16_fault_enabled_drives_cr_002_vibration_above_40_and_its_alarm_on() {
    let (_dir, running) = demo();
    ticks(&running, 3);
    let vibration = format!("{EQUIPMENT}CR_002/Vibration_MM_S");
    let alarm = format!("{EQUIPMENT}CR_002/Alarm_Active");
    assert!(number(&running, &vibration) < 25.0);
    assert_eq!(value(&running, &alarm), TagValue::Bool(false));

    let written = running.gateway.write_tags(&[(
        "Mining/Simulation/Fault_Enabled".into(),
        TagValue::Bool(true),
    )]);
    assert_eq!(written, [quality::GOOD]);
    let mut seconds = 0;
    while number(&running, &vibration) <= 40.0 {
        assert!(
            seconds < 20,
            "CR_002 vibration stayed at or below 40 for 20 s"
        );
        ticks(&running, 1);
        seconds += 1;
    }
    assert_eq!(value(&running, &alarm), TagValue::Bool(true));
    // A Float4 tag holds an f32, as on a gateway.
    let v = number(&running, &vibration);
    assert_eq!(v, v as f32 as f64);

    running.gateway.write_tags(&[(
        "[default]Mining/Simulation/Fault_Enabled".into(),
        TagValue::Bool(false),
    )]);
    let mut seconds = 0;
    while value(&running, &alarm) != TagValue::Bool(false) || number(&running, &vibration) > 22.0 {
        assert!(seconds < 30, "CR_002 did not recover in 30 s");
        ticks(&running, 1);
        seconds += 1;
    }
    assert!(status(&running, "Fault Injection").failures == 0);
}

#[test]
fn issue_16_runtime_hours_advance_one_3600th_of_an_hour_per_simulated_second() {
    let (_dir, running) = demo();
    let seconds = 120;
    ticks(&running, seconds);
    // CR_001 starts from its service history, 41250 h, at the first tick.
    let expected = 41250.0 + seconds as f64 / 3600.0;
    for (asset, start) in [("CR_001", 41250.0), ("CV_002", 29875.0)] {
        let hours = number(&running, &format!("{EQUIPMENT}{asset}/Runtime_Hours"));
        let expected = expected - 41250.0 + start;
        assert!(
            (hours - expected).abs() < 0.0002,
            "{asset} Runtime_Hours is {hours} after {seconds} s, expected {expected:.4}"
        );
    }
}

#[test]
fn issue_16_a_failing_script_is_logged_as_the_gateway_logs_it_and_the_others_go_on() {
    let dir = data_dir();
    memory_tags(dir.path(), &[("Counter", "Int4", json!(0))]);
    timer(
        dir.path(),
        "Broken",
        "x = 1\ny = 0\nz = x / y\n",
        1000,
        true,
        true,
    );
    timer(
        dir.path(),
        "Counter",
        "n = system.tag.readBlocking(['Test/Counter'])[0].value\nsystem.tag.writeBlocking(['Test/Counter'], [n + 1])\n",
        1000,
        true,
        true,
    );
    let running = live(dir.path(), super::DEFAULT_TIME_LIMIT);
    ticks(&running, 3);

    assert_eq!(number(&running, "[default]Test/Counter"), 3.0);
    let broken = status(&running, "Broken");
    assert_eq!((broken.runs, broken.failures), (3, 3));
    let lines: Vec<_> = running
        .gateway
        .script_log
        .lines()
        .into_iter()
        .filter(|l| l.logger == "gateway.TimerScripts")
        .collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let first = &lines[0];
    assert_eq!(first.level, Level::Error);
    assert!(
        first.message.starts_with(
            "Error executing global timer script: mining_demo/Broken @1000ms. Repeat errors of this type will be logged as 'debug' messages."
        ),
        "{}",
        first.message
    );
    // The traceback names the file as stored: the body's third line is the file's fourth.
    assert!(
        first
            .message
            .contains("File \"<TimerScript:mining_demo/Broken>\", line 4, in handleTimerEvent"),
        "{}",
        first.message
    );
    assert!(
        first.message.contains("ZeroDivisionError"),
        "{}",
        first.message
    );
    // Repeats of the same error are throttled to debug.
    assert!(lines[1..].iter().all(|l| l.level == Level::Debug));
}

#[test]
fn issue_16_a_runaway_script_is_stopped_by_the_time_limit() {
    let dir = data_dir();
    memory_tags(dir.path(), &[("Counter", "Int4", json!(0))]);
    timer(
        dir.path(),
        "Counter",
        "system.util.getGlobals()['runs'] = system.util.getGlobals().get('runs', 0) + 1\nn = system.tag.readBlocking(['Test/Counter'])[0].value\nsystem.tag.writeBlocking(['Test/Counter'], [n + 1])\n",
        1000,
        false,
        true,
    );
    // `except Exception` does not catch the time limit.
    timer(
        dir.path(),
        "Spin",
        "while True:\n\ttry:\n\t\tpass\n\texcept Exception:\n\t\tpass\n",
        1000,
        false,
        true,
    );
    let running = live(dir.path(), Duration::from_millis(300));
    ticks(&running, 2);

    let spin = status(&running, "Spin");
    assert_eq!((spin.runs, spin.failures), (2, 2));
    let error = spin.last_error.unwrap();
    assert!(
        error.contains("ScriptTimeout: the script ran past its time limit of 300 ms"),
        "{error}"
    );
    assert_eq!(number(&running, "[default]Test/Counter"), 2.0);

    // A script that swallows everything (`except:`) is stopped by force, and the interpreter
    // is rebuilt; the other scripts go on.
    timer(
        dir.path(),
        "Spin",
        "while True:\n\ttry:\n\t\twhile True:\n\t\t\tpass\n\texcept:\n\t\tpass\n",
        1000,
        false,
        true,
    );
    scan::run_scan(&running.gateway, scan::Target::Projects).unwrap();
    ticks(&running, 2);
    let spin = status(&running, "Spin");
    assert!(spin.failures >= 1, "{spin:?}");
    assert!(
        spin.last_error
            .as_deref()
            .unwrap_or("")
            .contains("stopped by force"),
        "{spin:?}"
    );
    assert_eq!(number(&running, "[default]Test/Counter"), 4.0);
}

#[test]
fn issue_16_a_disabled_script_does_not_run_and_a_scan_that_disables_one_stops_it() {
    let dir = data_dir();
    memory_tags(
        dir.path(),
        &[
            ("Disabled", "Int4", json!(0)),
            ("Enabled", "Int4", json!(0)),
        ],
    );
    let counting = |tag: &str| {
        format!(
            "n = system.tag.readBlocking(['Test/{tag}'])[0].value\nsystem.tag.writeBlocking(['Test/{tag}'], [n + 1])\n"
        )
    };
    timer(
        dir.path(),
        "Disabled",
        &counting("Disabled"),
        1000,
        true,
        false,
    );
    timer(dir.path(), "Enabled", &counting("Enabled"), 500, true, true);
    let running = live(dir.path(), super::DEFAULT_TIME_LIMIT);
    ticks(&running, 3);
    assert_eq!(number(&running, "[default]Test/Disabled"), 0.0);
    assert_eq!(number(&running, "[default]Test/Enabled"), 6.0);

    // What `lode stop` does: the timer's resource gets `enabled: false`, then a scan.
    timer(
        dir.path(),
        "Enabled",
        &counting("Enabled"),
        500,
        true,
        false,
    );
    scan::run_scan(&running.gateway, scan::Target::Projects).unwrap();
    ticks(&running, 3);
    assert_eq!(number(&running, "[default]Test/Enabled"), 6.0);
    assert!(scripts(&running).status().is_empty());
}

#[test]
fn issue_16_a_tag_change_script_fires_on_a_change_of_its_path() {
    let dir = data_dir();
    memory_tags(
        dir.path(),
        &[
            ("Input", "Float8", json!(1.0)),
            ("Other", "Float8", json!(0.0)),
            ("Output", "Float8", json!(0.0)),
            ("Calls", "String", json!("")),
        ],
    );
    tag_change(
        dir.path(),
        "Doubler",
        "calls = system.tag.readBlocking(['Test/Calls'])[0].value\n\
         calls += '%s:%s:%s:%s;' % (initialChange, newValue.value, previousValue.value if previousValue else None, executionCount)\n\
         system.tag.writeBlocking(['Test/Calls', 'Test/Output'], [calls, newValue.value * 2])\n",
        &["[default]Test/Input"],
    );
    let running = live(dir.path(), super::DEFAULT_TIME_LIMIT);
    // It started with an initial change of the tag it watches.
    assert_eq!(number(&running, "[default]Test/Output"), 2.0);

    running
        .gateway
        .write_tags(&[("test/input".into(), TagValue::Float(21.0))]);
    running
        .gateway
        .write_tags(&[("Test/Other".into(), TagValue::Float(5.0))]);
    scripts(&running).advance(Duration::ZERO).unwrap();
    assert_eq!(number(&running, "[default]Test/Output"), 42.0);
    assert_eq!(
        value(&running, "[default]Test/Calls"),
        TagValue::Text("True:1.0:None:1;False:21.0:1.0:2;".into())
    );
    // Writing the same value again is no change.
    running
        .gateway
        .write_tags(&[("Test/Input".into(), TagValue::Float(21.0))]);
    scripts(&running).advance(Duration::ZERO).unwrap();
    assert_eq!(status(&running, "Doubler").runs, 2);
}
