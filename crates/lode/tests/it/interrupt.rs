//! Ctrl-C during an apply (issue #14): the first one lets the running steps finish, records
//! state and an "interrupted" journal entry, releases the lock and exits 130; the next apply
//! applies the rest and the environment ends clean.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{Repo, assert_contains};

#[test]
fn issue_14_ctrl_c_during_a_slow_apply_records_it_and_releases_the_lock() {
    let repo = Repo::demo();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lode"))
        .args(["apply", "--auto-approve", "-v", "--parallelism", "1"])
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        // Slow enough that steps remain when the signal arrives.
        .env("LODE_EMULATOR_FAULTS", "latency_ms=60")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // Wait on a condition: the first finished step.
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the apply ended before a step finished:\n{seen}"
        );
        seen.push_str(&line);
        if line.starts_with("  ok ") {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest = std::io::read_to_string(stderr).unwrap();
    seen.push_str(&rest);
    let code = child.wait().unwrap().code();
    let stdout = stdout.join().unwrap();
    assert_eq!(code, Some(130), "stderr:\n{seen}\nstdout:\n{stdout}");
    assert_contains(&seen, "interrupted: no new step starts");
    assert_contains(&seen, "error: the apply was interrupted (Ctrl-C): ");
    assert_contains(&stdout, "Apply incomplete.");
    // The journal says so, and the lock was released (not taken over from a dead process).
    let history = repo.lode_ok(&["history", "--format", "json"], 0);
    let history: Value = serde_json::from_str(&history.stdout).unwrap();
    let last = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["operation"] == "apply")
        .expect("an apply in the journal");
    assert_eq!(last["outcome"], "interrupted", "{last:#}");
    let lock = std::fs::read_to_string(repo.path().join(".lode/local/lock")).unwrap();
    assert!(lock.is_empty(), "the lock still names a holder: {lock}");
    assert!(!repo.path().join(".lode/local/wal.jsonl").exists());
    // The next run applies the rest; afterwards nothing is left to do.
    let next = repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert!(
        !next.stderr.contains("took over the lock"),
        "{}",
        next.stderr
    );
    assert!(!next.stderr.contains("interrupted"), "{}", next.stderr);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}
