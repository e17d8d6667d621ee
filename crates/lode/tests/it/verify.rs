//! `lode verify` and `kind: check` manifests (issue #5): the demo's checks (row counts, tag
//! counts, pipeline state, freshness, chat page, Genie within 5 s) against the local
//! environment, a wrong expectation failing with measured vs expected, the JSON format, checks
//! staying out of plans, and invalid check manifests reported with file and line; the
//! `latency` check over seeded bronze and gold rows (issue #16).

use serde_json::Value;

use crate::support::{Repo, assert_contains};

/// The demo's checks, by name.
const DEMO_CHECKS: [&str; 13] = [
    "chat_page_serves",
    "conveyor_instances",
    "crusher_instances",
    "equipment_master_rows",
    "equipment_tags",
    "equipment_types_rows",
    "genie_answer_rows",
    "genie_answers",
    "haul_truck_instances",
    "pipeline_healthy",
    "telemetry_fresh",
    "telemetry_latency",
    "telemetry_probe",
];

/// The demo's checks of data that moves (issue #16): severity error, and on a local stack that
/// is not live (nothing streams into bronze, the pipeline is not running) they fail.
const FLOW_CHECKS: [&str; 3] = ["genie_answer_rows", "telemetry_fresh", "telemetry_latency"];

fn results(run: &crate::support::Run) -> Vec<Value> {
    serde_json::from_str::<Value>(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout))
        .as_array()
        .expect("an array")
        .clone()
}

fn by_name<'a>(results: &'a [Value], name: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no result for {name} in {results:#?}"))
}

/// The line of `name` in text output.
fn line_of<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"))
}

#[test]
fn demo_checks_pass_after_apply_but_the_flow_checks_and_stay_out_of_plans() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);

    let run = repo.lode_ok(&["verify"], 1);
    for name in DEMO_CHECKS {
        let line = line_of(&run.stdout, name);
        assert!(line.contains(" ms"), "no time in {line}");
        let expected = if FLOW_CHECKS.contains(&name) {
            "FAIL "
        } else if name == "telemetry_probe" {
            "SKIP "
        } else {
            "PASS "
        };
        assert!(
            line.starts_with(expected),
            "{name} is not {expected}:\n{}",
            run.stdout
        );
        assert!(!line.contains("severity warning"), "{line}");
    }
    assert_contains(
        line_of(&run.stdout, "telemetry_fresh"),
        "no data has arrived",
    );
    assert_contains(
        line_of(&run.stdout, "telemetry_latency"),
        "no telemetry in the last 5 minutes",
    );
    assert_contains(
        line_of(&run.stdout, "genie_answer_rows"),
        "the answer does not mention \"CR_\"",
    );
    // The probe writes to a tag, so it runs only where the environment allows it.
    assert_contains(
        line_of(&run.stdout, "telemetry_probe"),
        "the environment allows no active probe",
    );
    let tags = line_of(&run.stdout, "equipment_tags");
    assert_contains(tags, " 105 ");
    assert_contains(tags, "expected = 105");
    assert_contains(line_of(&run.stdout, "haul_truck_instances"), "expected = 5");
    assert_contains(line_of(&run.stdout, "equipment_master_rows"), " 15 ");
    assert_contains(line_of(&run.stdout, "genie_answers"), "COMPLETED in ");
    assert_contains(
        &run.stdout,
        "Verification FAILED: 9 of 13 checks passed, 3 failed, 1 skipped",
    );

    let run = repo.lode_ok(&["verify", "--format", "json"], 1);
    let results = results(&run);
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, DEMO_CHECKS);
    for result in &results {
        for field in [
            "name",
            "type",
            "status",
            "value",
            "expected",
            "duration_ms",
            "message",
        ] {
            assert!(result.get(field).is_some(), "{field} missing in {result}");
        }
        assert!(result["duration_ms"].is_u64());
    }
    for (name, value) in [
        ("equipment_tags", 105),
        ("haul_truck_instances", 5),
        ("crusher_instances", 3),
        ("conveyor_instances", 2),
        ("equipment_types_rows", 3),
        ("equipment_master_rows", 15),
        ("chat_page_serves", 200),
    ] {
        let result = by_name(&results, name);
        assert_eq!(result["status"], "PASS", "{result}");
        assert_eq!(result["value"], value, "{result}");
    }
    assert_eq!(
        by_name(&results, "pipeline_healthy")["type"],
        "pipeline_state"
    );
    assert_eq!(by_name(&results, "genie_answers")["status"], "PASS");
    for name in FLOW_CHECKS {
        let result = by_name(&results, name);
        assert_eq!(result["severity"], "error", "{result}");
        assert_eq!(result["status"], "FAIL", "{result}");
    }
    assert_eq!(by_name(&results, "telemetry_probe")["status"], "SKIP");

    // Checks are not resources: plans neither show nor change them.
    let plan = repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    assert!(!plan.stdout.contains("check"), "{}", plan.stdout);
}

#[test]
fn a_wrong_expectation_fails_with_measured_and_expected() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.edit(
        "checks/ignition.yaml",
        "expect: {equals: 105}",
        "expect: {equals: 104}",
    );
    repo.edit(
        "checks/databricks.yaml",
        "expect: {equals: 15}",
        "expect: {between: [16, 20]}",
    );

    let run = repo.lode_ok(&["verify"], 1);
    let tags = line_of(&run.stdout, "equipment_tags");
    assert!(tags.starts_with("FAIL "), "{tags}");
    assert_contains(tags, " 105 ");
    assert_contains(tags, "expected = 104");
    let rows = line_of(&run.stdout, "equipment_master_rows");
    assert!(rows.starts_with("FAIL "), "{rows}");
    assert_contains(rows, "expected between 16 and 20");
    assert!(line_of(&run.stdout, "haul_truck_instances").starts_with("PASS "));
    assert_contains(
        &run.stdout,
        "Verification FAILED: 7 of 13 checks passed, 5 failed, 1 skipped",
    );

    let run = repo.lode_ok(
        &["verify", "--format", "json", "--check", "equipment_tags"],
        1,
    );
    let results = results(&run);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["status"], "FAIL");
    assert_eq!(results[0]["value"], 105);
    assert_eq!(results[0]["expected"], "= 104");

    // Only the selected check runs; a passing selection exits 0.
    repo.lode_ok(&["verify", "--check", "crusher_instances"], 0);
    let run = repo.lode_ok(&["verify", "--check", "no_such_check"], 1);
    assert_contains(&run.stderr, "there is no check `no_such_check`");

    // A URL that does not answer fails (as a warning here, so the exit code stays 0).
    repo.edit(
        "checks/ignition.yaml",
        "expect: {equals: 104}",
        "expect: {equals: 105}",
    );
    repo.edit(
        "checks/databricks.yaml",
        "expect: {between: [16, 20]}",
        "expect: {equals: 15}",
    );
    repo.append_document(
        "checks/databricks.yaml",
        "kind: check\nname: nothing_listens\nspec:\n  type: http\n  severity: warning\n  url: http://127.0.0.1:9/\n  timeout_seconds: 5\n",
    );
    let run = repo.lode_ok(&["verify", "--check", "nothing_listens"], 0);
    let line = line_of(&run.stdout, "nothing_listens");
    assert!(line.starts_with("FAIL "), "{line}");
    assert_contains(line, "no answer");
    assert_contains(line, "severity warning");
}

#[test]
fn checks_error_before_anything_is_applied() {
    let repo = Repo::demo();
    let run = repo.lode_ok(&["verify", "--format", "json"], 1);
    let results = results(&run);
    let genie = by_name(&results, "genie_answers");
    assert_eq!(genie["status"], "ERROR");
    assert_contains(
        genie["message"].as_str().unwrap(),
        "genie_space/mining_ops does not exist in this environment",
    );
    assert_eq!(
        by_name(&results, "equipment_master_rows")["status"],
        "ERROR"
    );
    let tags = by_name(&results, "equipment_tags");
    assert_eq!(tags["status"], "FAIL");
    assert_eq!(tags["value"], 0);
}

#[test]
fn tag_checks_read_the_gateway_over_its_api() {
    let repo = Repo::demo();
    repo.lode_ok(&["--env", "local-api", "apply", "--auto-approve"], 0);
    let run = repo.lode_ok(
        &[
            "--env",
            "local-api",
            "verify",
            "--format",
            "json",
            "--check",
            "equipment_tags",
            "--check",
            "crusher_instances",
        ],
        0,
    );
    let results = results(&run);
    assert_eq!(by_name(&results, "equipment_tags")["value"], 105);
    assert_eq!(by_name(&results, "crusher_instances")["value"], 3);
}

#[test]
fn invalid_check_manifests_are_reported_with_file_and_line() {
    let repo = Repo::demo();
    repo.write(
        "checks/bad.yaml",
        "\
kind: check
name: typo
spec:
  type: row_count
  table: main.mining_demo.equipment_master
  expcet: {equals: 15}
---
kind: check
name: missing_table
spec:
  type: row_count
  expect: {equals: 15}
---
kind: check
name: url_on_tags
spec:
  type: tag_count
  path: Mining/Equipment
  url: http://example.com
  expect: {equals: 105}
---
kind: check
name: dangling
spec:
  type: genie
  space: ${ref.genie_space.nope.id}
  question: hello
  within_seconds: 5
---
kind: check
name: unknown_var
spec:
  type: sql
  statement: SELECT count(*) FROM ${var.nope}
  expect: {at_least: 1}
---
kind: check
name: equipment_tags
spec:
  type: http
  url: http://example.com
---
kind: check
name: empty_between
spec:
  type: sql
  statement: SELECT 1
  expect: {between: [5, 1]}
",
    );
    let run = repo.lode_ok(&["validate"], 1);
    for (at, message) in [
        ("checks/bad.yaml:6:", "unknown field `expcet`"),
        ("checks/bad.yaml:11:", "a row_count check needs `table`"),
        (
            "checks/bad.yaml:19:3",
            "`url` does not apply to a tag_count check",
        ),
        (
            "checks/bad.yaml:26:10",
            "check dangling references genie_space/nope",
        ),
        ("checks/bad.yaml:34:", "unknown variable `nope`"),
        // Files load in path order, so the demo's own check is the later duplicate.
        (
            "checks/ignition.yaml:5:7",
            "duplicate check equipment_tags: already declared in checks/bad.yaml:38",
        ),
        ("checks/bad.yaml:48:", "`between: [5, 1]` is empty"),
    ] {
        assert_contains(&run.stderr, &format!("--> {at}"));
        assert_contains(&run.stderr, message);
    }
    assert_contains(&run.stderr, "7 problems in the manifests");

    // Nothing is applied while a check is invalid.
    let apply = repo.lode_ok(&["apply", "--auto-approve"], 1);
    assert_contains(&apply.stderr, "lode changed nothing");
    assert!(!repo.path().join(".lode/local/state.json").exists());
}

/// Issue #13 (11): a genie check judges the answer's content, not only its status and time:
/// its query's rows (how many, and how fresh by a named column) and its text.
#[test]
fn issue_13_genie_checks_judge_the_rows_and_the_text_of_the_answer() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    // Genie answers from the gold table (issue #15), which holds no telemetry until some is
    // streamed: give it the rows a pipeline run would have written.
    crate::chat_page::give_the_demo_gold_rows(repo.path());
    let genie = |name: &str, extra: &str| {
        format!(
            "kind: check\nname: {name}\nspec:\n  type: genie\n  space: ${{ref.genie_space.mining_ops.id}}\n  question: Show me current crusher status\n  within_seconds: 5\n{extra}"
        )
    };
    repo.write(
        "checks/genie_content.yaml",
        &[
            genie("enough_rows", "  min_rows: 1\n  answer_contains: cr_\n"),
            genie("too_few_rows", "  min_rows: 100000\n"),
            genie("wrong_text", "  answer_contains: Excavator 99\n"),
            genie("stale_rows", "  column: window_end\n  within_minutes: 15\n"),
        ]
        .join("---\n"),
    );
    let names = ["enough_rows", "too_few_rows", "wrong_text", "stale_rows"];
    let mut args = vec!["verify", "--format", "json"];
    for name in names {
        args.extend(["--check", name]);
    }
    let run = repo.lode(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let results = results(&run);
    assert_eq!(by_name(&results, "enough_rows")["status"], "PASS");
    let too_few = by_name(&results, "too_few_rows");
    assert_eq!(too_few["status"], "FAIL", "{too_few}");
    assert_contains(too_few["message"].as_str().unwrap(), "fewer than 100000");
    let wrong = by_name(&results, "wrong_text");
    assert_eq!(wrong["status"], "FAIL", "{wrong}");
    assert_contains(wrong["message"].as_str().unwrap(), "does not mention");
    // The example query's rows name their time `as_of_utc`: they carry no window_end.
    let stale = by_name(&results, "stale_rows");
    assert_eq!(stale["status"], "FAIL", "{stale}");
    assert_contains(stale["message"].as_str().unwrap(), "window_end");

    // `column` without `within_minutes` is refused before anything runs.
    repo.write(
        "checks/genie_content.yaml",
        &genie("half", "  column: window_end\n"),
    );
    let run = repo.lode(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_contains(&run.stderr, "`column` without `within_minutes`");
}

#[test]
fn issue_15_pipeline_state_reports_an_update_that_failed_on_its_sql() {
    let repo = crate::databricks::small_repo();
    repo.write(
        "checks.yaml",
        "kind: check\nname: summary_healthy\nspec:\n  type: pipeline_state\n  pipeline: ${ref.pipeline.summary.id}\n  expect_state: [IDLE, RUNNING]\n  expect_last_update: [COMPLETED, RUNNING]\n",
    );
    repo.commit("a pipeline check");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.lode_ok(&["verify", "--check", "summary_healthy"], 0);

    repo.edit(
        "pipeline.sql",
        "AS SELECT * FROM sites",
        "AS SELECT site_id, name, capacity_tph AS capacity FROM sites",
    );
    repo.commit("a misspelled column in the pipeline's SQL");
    let apply = repo.lode_ok(&["apply", "--auto-approve"], 1);
    assert_contains(&apply.stderr, "capacity_tph");

    let run = repo.lode_ok(&["verify", "--check", "summary_healthy"], 1);
    let line = line_of(&run.stdout, "summary_healthy");
    assert!(line.starts_with("FAIL "), "{}", run.stdout);
    assert_contains(line, "FAILED, last update FAILED");
    assert_contains(line, "[UNRESOLVED_COLUMN.WITH_SUGGESTION]");
    assert_contains(line, "capacity_tph");
}

/// Milliseconds since the epoch, now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One bronze row as the Zerobus connector writes it: the tag changed at `event_ms` and the
/// connector sent it `delay_ms` later (ingestion_timestamp in epoch microseconds, as current
/// connector builds send it).
fn bronze_event(id: &str, tag: &str, event_ms: i64, delay_ms: i64) -> String {
    format!(
        "('{id}', timestamp_millis({event_ms}), '[default]Mining/Equipment/{tag}', 'default', 1.5, '', false, 'Good', 192, 'ignition-mining-demo', {}, 'DOUBLE', '', 0)",
        (event_ms + delay_ms) * 1000
    )
}

fn insert_bronze(repo: &Repo, rows: &[String]) {
    repo.local_sql(&format!(
        "INSERT INTO ot_telemetry_bronze VALUES {}",
        rows.join(",\n")
    ));
}

/// Gold rows that show each `(tag, newest event)`, as a pipeline update would have computed
/// them.
fn insert_gold(repo: &Repo, shown: &[(String, i64)]) {
    let rows: Vec<String> = shown
        .iter()
        .map(|(tag, event_ms)| {
            let (equipment, metric) = tag.split_once('/').unwrap();
            format!(
                "('{equipment}', '{metric}', date_trunc('MINUTE', timestamp_millis({event_ms})), date_trunc('MINUTE', timestamp_millis({event_ms})) + INTERVAL 1 MINUTE, 1.5, 1, '[default]Mining/Equipment/{tag}', timestamp_millis({event_ms}))"
            )
        })
        .collect();
    repo.local_sql(&format!(
        "INSERT INTO ot_telemetry_gold (equipment_id, metric, window_start, window_end, last_value, sample_count, tag_path, last_event_time) VALUES {}",
        rows.join(",\n")
    ));
}

/// The demo with its pipeline triggered instead of continuous: these tests write bronze and
/// gold rows by hand, which a continuous pipeline would recompute from bronze meanwhile.
fn demo_with_a_triggered_pipeline() -> Repo {
    let repo = Repo::demo();
    repo.edit(
        "databricks/pipeline.yaml",
        "  continuous: true",
        "  continuous: false",
    );
    repo.commit("a triggered pipeline");
    repo
}

/// The demo's latency check without its `newest_event_age_seconds` budget: for tests whose
/// events are minutes old on purpose.
fn without_the_newest_event_age_budget(repo: &Repo) {
    let checks = repo
        .read("checks/databricks.yaml")
        .replace(", newest_event_age_seconds: 10}", "}");
    repo.write("checks/databricks.yaml", &checks);
    repo.commit("the latency budgets only");
}

/// The demo's latency check alone, as JSON.
fn latency_result(repo: &Repo, code: i32) -> Value {
    let run = repo.lode_ok(
        &["verify", "--format", "json", "--check", "telemetry_latency"],
        code,
    );
    results(&run)[0].clone()
}

/// Issue #16: the demo's `latency` check measures tag change → bronze per event and bronze →
/// gold per tag from the data's own timestamps, and judges their p95 against the runbook's
/// budgets (2 s and 3 s), with the figures in the message and in `figures`.
#[test]
fn issue_16_the_latency_check_passes_within_its_budgets_and_fails_over_them_with_the_figures() {
    let repo = demo_with_a_triggered_pipeline();
    // The events below are minutes old on purpose; how fresh the newest one is has its own test.
    without_the_newest_event_age_budget(&repo);
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    // 20 crusher and conveyor tags, each changed once in the last two minutes and ingested
    // 100 ms, 200 ms, ... 2000 ms later; and a string tag, which gold has no row for, whose
    // ingestion time comes in milliseconds as early connector builds send it.
    let base = now_ms() - 120_000;
    let tags: Vec<String> = ["CR_001", "CR_002", "CR_003", "CV_001", "CV_002"]
        .iter()
        .flat_map(|equipment| {
            [
                "Vibration_MM_S",
                "Motor_Current_A",
                "Bearing_Temp_C",
                "Load_Pct",
            ]
            .iter()
            .map(move |metric| format!("{equipment}/{metric}"))
        })
        .collect();
    let mut rows: Vec<String> = tags
        .iter()
        .enumerate()
        .map(|(i, tag)| {
            bronze_event(
                &format!("e{i}"),
                tag,
                base + i as i64 * 1000,
                (i as i64 + 1) * 100,
            )
        })
        .collect();
    rows.push(format!(
        "('status', timestamp_millis({base}), '[default]Mining/Equipment/CR_001/Status', 'default', 0, 'RUNNING', false, 'Good', 192, 'ignition-mining-demo', {}, 'STRING', '', 0)",
        base + 100
    ));
    insert_bronze(&repo, &rows);

    // Bronze has data, gold none of it: the pipeline is not running.
    let result = latency_result(&repo, 1);
    assert_eq!(result["status"], "FAIL", "{result}");
    assert_contains(
        result["message"].as_str().unwrap(),
        "main.mining_demo.ot_telemetry_gold shows none of the 21 tags with telemetry in the last 5 minutes: is the pipeline running?",
    );

    // Gold shows every tag's newest event: nothing waits.
    let shown: Vec<(String, i64)> = tags
        .iter()
        .enumerate()
        .map(|(i, tag)| (tag.clone(), base + i as i64 * 1000))
        .collect();
    insert_gold(&repo, &shown);
    let run = repo.lode_ok(&["verify", "--check", "telemetry_latency"], 0);
    let line = line_of(&run.stdout, "telemetry_latency");
    println!("within budget: {line}");
    assert!(line.starts_with("PASS "), "{line}");
    assert_contains(line, "p95 1.9 s to bronze, 0 s to gold");
    assert_contains(line, "expected to bronze p95 <= 2 s, to gold p95 <= 3 s");
    let result = latency_result(&repo, 0);
    assert_eq!(result["status"], "PASS", "{result}");
    assert_eq!(
        result["message"],
        "tag change → bronze p50 1 s, p95 1.9 s (21 events); bronze → gold p50 0 s, p95 0 s (20 tags, 0 waiting) over the last 5 minutes"
    );
    let figures = &result["figures"];
    assert_eq!(figures["window_minutes"], 5);
    assert_eq!(
        figures["tag_to_bronze"],
        serde_json::json!({"p50_seconds": 1.0, "p95_seconds": 1.9, "samples": 21})
    );
    assert_eq!(
        figures["bronze_to_gold"],
        serde_json::json!({"p50_seconds": 0.0, "p95_seconds": 0.0, "samples": 20,
                           "tags_waiting": 0, "tags_not_in_gold": 1})
    );

    // Three tags change again, reach bronze 5 s late, and gold does not show them: both p95s
    // are over budget (3 of 24 events, and 3 of 20 tags, are more than 5 %).
    let late = now_ms() - 60_000;
    insert_bronze(
        &repo,
        &(0..3)
            .map(|i| bronze_event(&format!("late{i}"), &tags[i], late + i as i64, 5000))
            .collect::<Vec<_>>(),
    );
    let run = repo.lode_ok(&["verify", "--check", "telemetry_latency"], 1);
    let line = line_of(&run.stdout, "telemetry_latency");
    println!("over budget: {line}");
    assert!(line.starts_with("FAIL "), "{line}");
    assert_contains(
        line,
        "tag_to_bronze_p95_seconds is 5 s, over its budget of 2 s",
    );
    assert_contains(
        &run.stdout,
        "Verification FAILED: 0 of 1 checks passed, 1 failed",
    );
    let result = latency_result(&repo, 1);
    assert_eq!(result["status"], "FAIL", "{result}");
    let figures = &result["figures"];
    assert_eq!(
        figures["tag_to_bronze"],
        serde_json::json!({"p50_seconds": 1.1, "p95_seconds": 5.0, "samples": 24})
    );
    let gold = &figures["bronze_to_gold"];
    assert_eq!(gold["p50_seconds"], 0.0);
    assert_eq!(gold["tags_waiting"], 3);
    // They have waited since their ingestion, 55 s before the measurement at least.
    let waited = gold["p95_seconds"].as_f64().unwrap();
    assert!((55.0..300.0).contains(&waited), "{gold}");
    let message = result["message"].as_str().unwrap();
    assert_contains(message, "bronze_to_gold_p95_seconds is ");
    assert_contains(message, "over its budget of 3 s");
    assert_contains(message, "(20 tags, 3 waiting)");
}

/// Issue #16: a window without telemetry is a failure that says so, whatever older data the
/// bronze table holds; `window_minutes` widens the window.
#[test]
fn issue_16_the_latency_check_fails_when_no_telemetry_arrived_in_its_window() {
    let repo = demo_with_a_triggered_pipeline();
    without_the_newest_event_age_budget(&repo);
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let empty = "no telemetry in the last 5 minutes: main.mining_demo.ot_telemetry_bronze received no event; is the connector streaming?";
    let result = latency_result(&repo, 1);
    assert_eq!(result["status"], "FAIL", "{result}");
    assert_eq!(result["message"], empty);
    assert_eq!(result["figures"]["tag_to_bronze"]["samples"], 0);

    // Events ingested ten minutes ago are outside the window.
    let old = now_ms() - 600_000;
    insert_bronze(
        &repo,
        &[
            bronze_event("old1", "CR_001/Vibration_MM_S", old, 300),
            bronze_event("old2", "CR_002/Vibration_MM_S", old, 500),
        ],
    );
    let run = repo.lode_ok(&["verify", "--check", "telemetry_latency"], 1);
    assert_contains(line_of(&run.stdout, "telemetry_latency"), empty);

    // A 15-minute window holds them; gold still shows nothing, which fails on its own.
    repo.edit(
        "checks/databricks.yaml",
        "window_minutes: 5",
        "window_minutes: 15",
    );
    let result = latency_result(&repo, 1);
    assert_eq!(
        result["figures"]["tag_to_bronze"],
        serde_json::json!({"p50_seconds": 0.3, "p95_seconds": 0.5, "samples": 2})
    );
    assert_contains(
        result["message"].as_str().unwrap(),
        "shows none of the 2 tags with telemetry in the last 15 minutes",
    );

    // A gold table without the columns the check compares cannot be measured: an error that
    // says what the check needs.
    repo.edit(
        "checks/databricks.yaml",
        "gold_table: ${var.catalog}.${var.schema}.ot_telemetry_gold",
        "gold_table: ${var.catalog}.${var.schema}.equipment_master",
    );
    let result = latency_result(&repo, 1);
    assert_eq!(result["status"], "ERROR", "{result}");
    assert_contains(
        result["message"].as_str().unwrap(),
        "(a latency check reads `tag_path` and `last_event_time` of main.mining_demo.equipment_master, `tag_path` of main.mining_demo.ot_telemetry_bronze;",
    );
}

/// Issue #16: latency checks that cannot work are refused when the manifests load, each
/// problem with its file and line.
#[test]
fn issue_16_invalid_latency_checks_are_refused_with_file_and_line() {
    let repo = Repo::demo();
    repo.write(
        "checks/latency.yaml",
        "\
kind: check
name: unknown_budget
spec:
  type: latency
  table: main.mining_demo.ot_telemetry_bronze
  budgets: {tag_to_bronze_p99_seconds: 2}
---
kind: check
name: negative_budget
spec:
  type: latency
  table: main.mining_demo.ot_telemetry_bronze
  budgets:
    tag_to_bronze_p95_seconds: -1
---
kind: check
name: no_table
spec:
  type: latency
  budgets: {tag_to_bronze_p95_seconds: 2}
---
kind: check
name: gold_budget_without_gold
spec:
  type: latency
  table: main.mining_demo.ot_telemetry_bronze
  budgets:
    bronze_to_gold_p95_seconds: 3
---
kind: check
name: no_budget
spec:
  type: latency
  table: main.mining_demo.ot_telemetry_bronze
  gold_table: not a table
  window_minutes: 0
  budgets: {}
",
    );
    let run = repo.lode_ok(&["validate"], 1);
    for (at, message) in [
        (
            "checks/latency.yaml:6:",
            "unknown field `tag_to_bronze_p99_seconds`",
        ),
        (
            "checks/latency.yaml:14:5",
            "`tag_to_bronze_p95_seconds: -1` is not a positive number of seconds",
        ),
        ("checks/latency.yaml:19:", "a latency check needs `table`"),
        (
            "checks/latency.yaml:28:5",
            "`bronze_to_gold_p95_seconds` needs `gold_table`",
        ),
        (
            "checks/latency.yaml:35:3",
            "`not a table` is not a table name",
        ),
        (
            "checks/latency.yaml:36:3",
            "`window_minutes: 0` is outside 1 to 1440",
        ),
        ("checks/latency.yaml:37:3", "`budgets` gives no budget"),
    ] {
        assert_contains(&run.stderr, &format!("--> {at}"));
        assert_contains(&run.stderr, message);
    }
    assert_contains(&run.stderr, "7 problems in the manifests");
}

/// The demo's latency check with only the budgets of this test, and a short settle time.
fn latency_check_only(repo: &Repo, budgets: &str, settle_seconds: u64) {
    repo.write(
        "checks/databricks.yaml",
        &format!(
            "kind: check\nname: telemetry_latency\nspec:\n  type: latency\n  table: ${{var.catalog}}.${{var.schema}}.ot_telemetry_bronze\n  gold_table: ${{var.catalog}}.${{var.schema}}.ot_telemetry_gold\n  budgets: {budgets}\n  settle_seconds: {settle_seconds}\n"
        ),
    );
    repo.write("checks/ignition.yaml", "");
    repo.commit("the latency check only");
}

/// One fresh event of CR_002's vibration, changed and ingested now, and a gold row showing it.
fn fresh_event(repo: &Repo, id: &str) {
    let now = now_ms();
    insert_bronze(
        repo,
        &[bronze_event(id, "CR_002/Vibration_MM_S", now - 200, 100)],
    );
    insert_gold(repo, &[("CR_002/Vibration_MM_S".to_string(), now - 200)]);
}

/// Issue #16: data that stopped flowing fails `newest_event_age_seconds` at once, although the
/// window still holds events; a fresh event passes it.
#[test]
fn issue_16_the_latency_check_fails_when_the_newest_event_is_too_old() {
    let repo = demo_with_a_triggered_pipeline();
    latency_check_only(&repo, "{newest_event_age_seconds: 30}", 0);
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let old = now_ms() - 90_000;
    insert_bronze(
        &repo,
        &[bronze_event("old", "CR_002/Vibration_MM_S", old, 100)],
    );
    insert_gold(&repo, &[("CR_002/Vibration_MM_S".to_string(), old)]);
    let result = latency_result(&repo, 1);
    let message = result["message"].as_str().unwrap();
    assert_contains(message, "newest_event_age_seconds is 9");
    assert_contains(message, "over its budget of 30 s");
    assert!(
        result["figures"]["newest_event_age_seconds"]
            .as_f64()
            .unwrap()
            >= 90.0
    );

    fresh_event(&repo, "fresh");
    let result = latency_result(&repo, 0);
    assert_eq!(result["status"], "PASS", "{result}");
    assert_eq!(result["expected"], "newest event <= 30 s old");
}

/// Issue #16: after an apply, a flow check wants events that arrived after it: events from
/// before prove nothing about the system as it is now. It is measured again for its
/// `settle_seconds`, so it passes as soon as such an event arrives, and fails, saying so, when
/// none does.
#[test]
fn issue_16_after_an_apply_the_latency_check_waits_for_events_that_arrived_after_it() {
    let repo = demo_with_a_triggered_pipeline();
    latency_check_only(&repo, "{newest_event_age_seconds: 600}", 15);
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    fresh_event(&repo, "before");
    repo.lode_ok(&["verify"], 0);

    // Nothing arrives after the apply: the check waits 15 s, then fails.
    let run = repo.lode(&["apply", "--auto-approve", "--verify"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_contains(&run.stderr, "Waiting for telemetry_latency to pass");
    let line = line_of(&run.stdout, "telemetry_latency");
    assert!(line.starts_with("FAIL "), "{line}");
    assert_contains(
        line,
        "no event has arrived in main.mining_demo.ot_telemetry_bronze since the change being verified",
    );

    // An event arrives while the check waits: it passes.
    let mut apply = std::process::Command::new(env!("CARGO_BIN_EXE_lode"))
        .args(["apply", "--auto-approve", "--verify"])
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .env_remove("LODE_ENV")
        .env_remove("LODE_DIR")
        .env_remove("LODE_EMULATOR_FAULTS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = apply.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let mut seen = String::new();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the apply ended without waiting:\n{seen}"))
            .unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("Waiting for telemetry_latency to pass") {
            break;
        }
    }
    fresh_event(&repo, "after");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let output = apply.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{seen}{}",
        rest.join("\n")
    );
    let line = line_of(&stdout, "telemetry_latency");
    assert!(line.starts_with("PASS "), "{line}");
}

/// Issue #16: an environment that allows the probe, on a stack that is not live: the probe
/// says why it cannot run (nothing would carry its value) and writes nothing.
#[test]
fn issue_16_the_probe_on_a_stack_that_is_not_live_says_to_start_it() {
    let repo = Repo::demo();
    let env = repo
        .read("environments/local.yaml")
        .replace("# probe:", "probe:")
        .replace("#   ", "  ");
    repo.write("environments/local.yaml", &env);
    repo.commit("allow the probe");
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let run = repo.lode_ok(
        &["verify", "--check", "telemetry_probe", "--format", "json"],
        1,
    );
    let result = &results(&run)[0];
    assert_eq!(result["status"], "ERROR", "{result}");
    let message = result["message"].as_str().unwrap();
    assert_contains(message, "the gateway emulator is not live");
    assert_contains(message, "lode up");
}
