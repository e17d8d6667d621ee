//! Damaged state files (issue #14 item 7): one bad record in the journal, one unreadable
//! snapshot index, a garbage line in the write-ahead log, a state file of a format this lode
//! does not know. Each is named (file, and line where there are lines) on stderr and hides
//! nothing else; what cannot be trusted at all is refused with a hint, never read silently.

use serde_json::{Value, json};

use crate::support::{Repo, assert_contains};

/// One journal record as lode writes it, on one line.
fn journal_line(id: &str, operation: &str, started: &str, outcome: &str) -> String {
    json!({
        "id": id,
        "operation": operation,
        "started": started,
        "duration_ms": 1200,
        "who": "ops@mine",
        "command": format!("lode {operation}"),
        "revision": null,
        "summary": format!("{operation} {id}"),
        "outcome": outcome,
        "snapshot": null,
    })
    .to_string()
}

/// The ids of `lode history --format json`, which must stay one JSON document.
fn history_ids(repo: &Repo) -> (Vec<String>, String) {
    let run = repo.lode_ok(&["history", "--format", "json"], 0);
    let entries: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("history JSON: {e}\n{}", run.stdout));
    let ids = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    (ids, run.stderr)
}

#[test]
fn issue_14_a_damaged_journal_record_is_skipped_by_line_number_and_hides_nothing_after_it() {
    let repo = Repo::demo();
    let journal = repo.path().join(".lode/local/journal.jsonl");
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    let torn = |line: String| line[..line.len() / 2].to_string();
    let mut bytes: Vec<u8> = Vec::new();
    // Line 1: not UTF-8 at all.
    bytes.extend_from_slice(b"\xff\xfe\x00garbage\n");
    // Line 2: a whole record.
    bytes.extend(
        format!(
            "{}\n",
            journal_line("a", "apply", "2026-12-01T08:00:00Z", "succeeded")
        )
        .bytes(),
    );
    // Line 3: a record cut off, then the line ends.
    bytes.extend(
        format!(
            "{}\n",
            torn(journal_line(
                "b",
                "verify",
                "2026-12-01T08:01:00Z",
                "succeeded"
            ))
        )
        .bytes(),
    );
    // Line 4: a record cut off by a crash, and the next record appended right after it.
    bytes.extend(
        torn(journal_line(
            "c",
            "apply",
            "2026-12-01T08:02:00Z",
            "succeeded",
        ))
        .bytes(),
    );
    bytes.extend(
        format!(
            "{}\n",
            journal_line("d", "apply", "2026-12-01T08:03:00Z", "failed")
        )
        .bytes(),
    );
    // Line 5: a whole record.
    bytes.extend(
        format!(
            "{}\n",
            journal_line("e", "rollback", "2026-12-01T08:04:00Z", "succeeded")
        )
        .bytes(),
    );
    std::fs::write(&journal, &bytes).unwrap();

    let (ids, stderr) = history_ids(&repo);
    assert_eq!(ids, ["a", "d", "e"], "{stderr}");
    let named = journal.display().to_string();
    assert_contains(
        &stderr,
        &format!("warning: line 1 of {named}: it is not UTF-8 text"),
    );
    assert_contains(
        &stderr,
        &format!("warning: line 3 of {named}: it is not a whole record"),
    );
    assert_contains(
        &stderr,
        &format!("warning: line 4 of {named}: it begins with a torn record"),
    );

    let text = repo.lode_ok(&["history"], 0);
    for summary in ["apply a", "apply d", "rollback e"] {
        assert_contains(&text.stdout, summary);
    }
    assert_contains(&text.stderr, &format!("line 1 of {named}"));

    // The incident report reads the same journal: the failed apply is the detection, the
    // rollback the recovery.
    let report = repo.lode_ok(&["report", "incident"], 0);
    assert_contains(
        &report.stdout,
        "- Detected: 2026-12-01T08:03:00Z — apply failed",
    );
    assert_contains(&report.stdout, "- Recovery actions: 1");
    assert_contains(
        &report.stdout,
        "| 2026-12-01T08:04:00Z | rollback | succeeded |",
    );
    assert_contains(&report.stderr, &format!("line 1 of {named}"));
}

/// A snapshot index as lode writes it.
fn snapshot_index(id: &str) -> String {
    serde_json::to_string_pretty(&json!({
        "id": id,
        "created": "2026-12-01T08:00:00Z",
        "environment": "local",
        "revision": null,
        "reason": "on demand",
        "resources": [],
    }))
    .unwrap()
}

#[test]
fn issue_14_a_damaged_snapshot_index_is_named_and_the_other_snapshots_are_listed() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let snapshots = repo.path().join("snapshots/local");
    for id in [
        "20261201T080000-aaaaaa",
        "20261201T090000-bbbbbb",
        "20261201T100000-cccccc",
    ] {
        std::fs::create_dir_all(snapshots.join(id)).unwrap();
        std::fs::write(snapshots.join(id).join("index.json"), snapshot_index(id)).unwrap();
    }
    let broken = snapshots.join("20261201T090000-bbbbbb/index.json");
    std::fs::write(&broken, &snapshot_index("20261201T090000-bbbbbb")[..40]).unwrap();

    let run = repo.lode_ok(&["snapshots"], 0);
    assert_contains(&run.stdout, "20261201T080000-aaaaaa");
    assert_contains(&run.stdout, "20261201T100000-cccccc");
    assert!(!run.stdout.contains("bbbbbb"), "{}", run.stdout);
    assert_contains(
        &run.stderr,
        &format!("warning: {} is not a lode snapshot", broken.display()),
    );

    let run = repo.lode_ok(&["snapshots", "--format", "json"], 0);
    let listed: Value = serde_json::from_str(&run.stdout).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["20261201T080000-aaaaaa", "20261201T100000-cccccc"]);

    // An apply takes its snapshot and prunes old ones past the damaged index, which it leaves
    // for a person to look at.
    repo.edit(
        "databricks/genie.yaml",
        "title: Mining Operations Intelligence",
        "title: Mining Operations Intelligence (v2)",
    );
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert!(broken.is_file());
}

/// The state file and the entry of one address in it, after a real apply.
fn applied_state(repo: &Repo) -> Value {
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    serde_json::from_str(&repo.read(".lode/local/state.json")).unwrap()
}

#[test]
fn issue_14_a_garbage_line_in_the_middle_of_the_wal_is_named_and_the_records_after_it_replay() {
    let repo = Repo::demo();
    let state = applied_state(&repo);
    let resources = state["resources"].as_object().unwrap();
    let mut addresses = resources.keys();
    let (first, second) = (addresses.next().unwrap(), addresses.next().unwrap());
    let marked = |address: &str, revision: &str| {
        let mut entry = resources[address].clone();
        entry["revision"] = json!(revision);
        entry
    };
    let lines = [
        json!({"phase": "open", "lineage": state["lineage"], "serial": state["serial"]}).to_string(),
        json!({"phase": "begin", "seq": 1, "address": first, "action": "update"}).to_string(),
        "\u{1}this is not a record".to_string(),
        json!({"phase": "end", "seq": 1, "address": first, "entry": marked(first, "after-the-garbage")})
            .to_string(),
        json!({"phase": "begin", "seq": 2, "address": second, "action": "update"}).to_string(),
        json!({"phase": "end", "seq": 2, "address": second, "entry": marked(second, "last-record")})
            .to_string(),
    ];
    let wal = repo.path().join(".lode/local/wal.jsonl");
    std::fs::write(&wal, lines.join("\n") + "\n").unwrap();

    // Read, the records after the garbage line count; the line is named.
    for (address, revision) in [(first, "after-the-garbage"), (second, "last-record")] {
        let shown = repo.lode_ok(&["state", "show", address], 0);
        let entry: Value = serde_json::from_str(&shown.stdout).unwrap();
        assert_eq!(entry["revision"], revision, "{address}: {entry:#}");
    }
    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    assert_contains(
        &plan.stderr,
        &format!(
            "warning: line 3 of {}: it is not a whole record",
            wal.display()
        ),
    );
    assert!(
        !plan.stderr.contains("interrupted during"),
        "{}",
        plan.stderr
    );

    // The next command that changes things compacts the log into state.
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    assert!(!wal.exists(), "the write-ahead log was left behind");
    let state: Value = serde_json::from_str(&repo.read(".lode/local/state.json")).unwrap();
    assert_eq!(state["resources"][first]["revision"], "after-the-garbage");
    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    assert!(!plan.stderr.contains("warning"), "{}", plan.stderr);
}

#[test]
fn issue_14_a_wal_whose_first_record_is_garbage_is_refused_with_a_hint() {
    let repo = Repo::demo();
    let wal = repo.path().join(".lode/local/wal.jsonl");
    std::fs::create_dir_all(wal.parent().unwrap()).unwrap();
    let begin =
        json!({"phase": "begin", "seq": 1, "address": "table/equipment_types", "action": "create"});
    std::fs::write(&wal, format!("{{\"phase\": \"op\n{begin}\n")).unwrap();
    for args in [&["plan"][..], &["apply", "--auto-approve"]] {
        let run = repo.lode_ok(args, 1);
        assert_contains(&run.stderr, &format!("line 1 of {}", wal.display()));
        assert_contains(&run.stderr, "the write-ahead log cannot be replayed");
        assert_contains(&run.stderr, "hint: the state file is intact");
        assert_contains(&run.stderr, "move wal.jsonl aside");
    }
    assert!(
        wal.exists(),
        "a log that cannot be read is left for a person"
    );
}

#[test]
fn issue_14_a_state_file_of_an_unknown_format_version_is_refused_with_a_hint() {
    let repo = Repo::demo();
    let path = repo.path().join(".lode/local/state.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let newer = serde_json::to_string_pretty(&json!({
        "format_version": 999,
        "lineage": "6f1d3c9e-7f55-4d1e-9a59-0d4f1b3a2c11",
        "serial": 7,
        "environment": "local",
        "resources": {},
        "moved_to_a_new_layout": true,
    }))
    .unwrap();
    std::fs::write(&path, &newer).unwrap();
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve"],
        &["state", "list"],
    ] {
        let run = repo.lode_ok(args, 1);
        assert_contains(
            &run.stderr,
            &format!(
                "{} has format_version 999; this lode reads format_version 1 only",
                path.display()
            ),
        );
        assert_contains(
            &run.stderr,
            "hint: it was written by a newer lode: upgrade lode",
        );
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        newer,
        "the file was rewritten"
    );
}
