//! `lode verify` and `kind: check` manifests (issue #5): the demo's checks (row counts, tag
//! counts, pipeline state, freshness, chat page, Genie within 5 s) against the local
//! environment, a wrong expectation failing with measured vs expected, the JSON format, checks
//! staying out of plans, and invalid check manifests reported with file and line.

use serde_json::Value;

use crate::support::{Repo, assert_contains};

/// The demo's checks, by name.
const DEMO_CHECKS: [&str; 11] = [
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
];

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
fn demo_checks_pass_after_apply_and_stay_out_of_plans() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);

    let run = repo.lode_ok(&["verify"], 0);
    for name in DEMO_CHECKS {
        let line = line_of(&run.stdout, name);
        assert!(line.trim_end().contains(" ms"), "no time in {line}");
        if name != "telemetry_fresh" && name != "genie_answer_rows" {
            assert!(
                line.starts_with("PASS "),
                "{name} did not pass:\n{}",
                run.stdout
            );
        }
    }
    let tags = line_of(&run.stdout, "equipment_tags");
    assert_contains(tags, " 105 ");
    assert_contains(tags, "expected = 105");
    assert_contains(line_of(&run.stdout, "haul_truck_instances"), "expected = 5");
    assert_contains(line_of(&run.stdout, "equipment_master_rows"), " 15 ");
    assert_contains(line_of(&run.stdout, "genie_answers"), "COMPLETED in ");
    assert_contains(&run.stdout, "Verification passed:");

    let run = repo.lode_ok(&["verify", "--format", "json"], 0);
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
    // Freshness and the rows of Genie's answer are warnings: on the emulator no telemetry
    // streams, so they may honestly fail without failing verification.
    for name in ["telemetry_fresh", "genie_answer_rows"] {
        let result = by_name(&results, name);
        assert_eq!(result["severity"], "warning");
        assert!(
            result["status"] == "PASS" || result["status"] == "FAIL",
            "{result}"
        );
    }

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
        "Verification FAILED: 7 of 11 checks passed, 2 failed",
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
    let run = repo.lode_ok(&["--env", "local-api", "verify", "--format", "json"], 0);
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
