//! The live local stack: `lode emulator serve --live` runs the demo's gateway timer scripts, so
//! the tags move, and the emulator-only operator controls (`lode emulator tag read|write`) find
//! it through the data folder's lock file.

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const VIBRATION: &str = "[default]Mining/Equipment/CR_002/Vibration_MM_S";
const LATITUDE: &str = "[default]Mining/Equipment/HT_002/Location_Lat";

/// The server process, stopped with Ctrl-C (SIGINT) when the test ends, however it ends.
struct Stack(Child);

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tag(repo: &Repo, data: &str, path: &str) -> serde_json::Value {
    let run = repo.lode_ok(
        &["emulator", "tag", "read", path, "--json", "--data", data],
        0,
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn issue_16_a_live_stack_moves_the_tags_and_takes_an_operator_write() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let data_dir = repo.path().join(".lode/local");
    let data = data_dir.to_str().unwrap();

    // Without a live stack the controls say how to start one.
    let refused = repo.lode(&["emulator", "tag", "read", VIBRATION, "--data", data]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert_contains(&refused.stderr, "no live stack serves");
    assert_contains(&refused.stderr, "lode emulator serve --live");

    let mut child = repo
        .lode_command(&[
            "emulator",
            "serve",
            "--live",
            "--ignition-port",
            "0",
            "--data",
            data,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let stack = Stack(child);
    // Both URLs are printed once both emulators serve.
    let _workspace = lines.next().unwrap().unwrap();
    let _gateway = lines.next().unwrap().unwrap();

    // The physics script moves the trucks once a second.
    let first = tag(&repo, data, LATITUDE);
    assert_eq!(first["quality"], "Good", "{first}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = tag(&repo, data, LATITUDE);
        if now["value"] != first["value"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{LATITUDE} did not move in 60 s: {now}"
        );
    }

    // The operator's write, as in the Designer; the answer is the tag as written.
    let written = repo.lode_ok(
        &["emulator", "tag", "write", VIBRATION, "45", "--data", data],
        0,
    );
    assert_contains(&written.stdout, &format!("{VIBRATION} = 45.0 (Good, "));
    // Read back: 45, or already decaying by about 4 mm/s per second under Fault Injection,
    // which owns the vibration above 22 mm/s.
    let back = tag(&repo, data, VIBRATION);
    let value = back["value"].as_f64().unwrap();
    assert!((30.0..=45.0).contains(&value), "{back}");
    assert_eq!(back["quality"], "Good");

    // A tag that does not exist, and a value that does not convert, are refused.
    let missing = repo.lode(&[
        "emulator",
        "tag",
        "write",
        "Mining/Nope",
        "1",
        "--data",
        data,
    ]);
    assert_eq!(missing.code, 1);
    assert_contains(&missing.stderr, "Bad_NotFound");
    let wrong = repo.lode(&[
        "emulator", "tag", "write", VIBRATION, "loud", "--data", data,
    ]);
    assert_eq!(wrong.code, 1);
    assert_contains(&wrong.stderr, "Error_TypeConversion");

    // Ctrl-C stops the stack; the folder is free again.
    let mut stack = stack;
    let stopped = std::process::Command::new("kill")
        .args(["-INT", &stack.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(stack.0.wait().unwrap().success());
    let after = repo.lode(&["emulator", "tag", "read", VIBRATION, "--data", data]);
    assert_contains(&after.stderr, "no live stack serves");
}
