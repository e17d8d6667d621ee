//! Invalid manifests: each test starts from the demo, makes one mistake people really make, and
//! snapshots what `lode validate` (or `lode apply`) prints. Every problem must name its file, line
//! and column and say what to do; nothing may be applied while any manifest is invalid.

use crate::support::{Repo, Run, assert_contains};

const PROJECT: &str = "ignition/project.yaml";
const SCRIPTS: &str = "ignition/scripts.yaml";
const TAGS: &str = "ignition/tags.yaml";
const UDTS: &str = "ignition/udts.yaml";
const PERSPECTIVE: &str = "ignition/perspective.yaml";
const VIEW: &str = "ignition/views/equipment.view.json";

/// Snapshot settings that hide the temporary repository's path, should a message show it.
fn filters(repo: &Repo) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    let mut paths = vec![repo.path().to_path_buf()];
    if let Ok(canonical) = repo.path().canonicalize() {
        paths.push(canonical);
    }
    for path in paths {
        settings.add_filter(&regex_escape(&path.to_string_lossy()), "[REPO]");
    }
    settings
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Runs `lode args`, asserting exit code 1 and that every problem is located `--> file:line:col`.
fn fails(repo: &Repo, args: &[&str]) -> Run {
    let run = repo.lode(args);
    assert_eq!(
        run.code, 1,
        "lode {args:?} exited {}\nstdout:\n{}\nstderr:\n{}",
        run.code, run.stdout, run.stderr
    );
    let problems = run
        .stderr
        .lines()
        .filter(|l| {
            l.starts_with("error: ") && !l.contains("in the manifests; lode changed nothing")
        })
        .count();
    let located = run
        .stderr
        .lines()
        .filter(|l| {
            l.trim_start()
                .strip_prefix("--> ")
                .and_then(|at| at.rsplit(':').nth(1))
                .is_some_and(|line| line.parse::<usize>().is_ok())
        })
        .count();
    assert!(problems > 0, "no problem reported:\n{}", run.stderr);
    assert_eq!(
        problems, located,
        "every problem needs `--> file:line:col`:\n{}",
        run.stderr
    );
    run
}

/// `lode validate`, which must fail.
fn validate(repo: &Repo) -> Run {
    fails(repo, &["validate"])
}

/// `lode apply --auto-approve`, which must fail before touching the gateway.
fn apply(repo: &Repo) -> Run {
    let run = fails(repo, &["apply", "--auto-approve"]);
    assert!(
        !repo.gateway().exists(),
        "apply wrote to the gateway although the manifests are invalid"
    );
    assert_contains(&run.stderr, "lode changed nothing");
    run
}

/// Asserts the (first) problem's location.
fn assert_at(run: &Run, location: &str) {
    assert!(
        run.stderr.contains(&format!("--> {location}\n")),
        "expected a problem at {location}:\n{}",
        run.stderr
    );
}

macro_rules! snapshot {
    ($repo:expr, $run:expr) => {
        filters(&$repo).bind(|| insta::assert_snapshot!($run.stderr))
    };
}

// The baseline.

#[test]
fn untouched_demo_is_valid() {
    let repo = Repo::demo();
    let run = repo.lode_ok(&["validate"], 0);
    assert_contains(&run.stdout, "The manifests are valid");
    assert_eq!(run.stderr, "");
}

// Unknown fields, wrong types, wrong values, missing fields.

#[test]
fn gateway_script_field_typo_delay_msec() {
    let repo = Repo::demo();
    repo.edit(SCRIPTS, "  delay_ms: 1000", "  delay_msec: 1000");
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:9:3");
    assert_contains(&run.stderr, "delay_ms");
    snapshot!(repo, run);
}

#[test]
fn gateway_script_field_typo_delay_msec_is_not_applied() {
    let repo = Repo::demo();
    repo.edit(SCRIPTS, "  delay_ms: 1000", "  delay_msec: 1000");
    let run = apply(&repo);
    assert_at(&run, "ignition/scripts.yaml:9:3");
    snapshot!(repo, run);
}

#[test]
fn alarm_uses_setpoint_instead_of_setpoint_a() {
    let repo = Repo::demo();
    repo.edit(
        UDTS,
        "AboveValue, setpointA: 55",
        "AboveValue, setpoint: 55",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/udts.yaml:39:47");
    assert_contains(&run.stderr, "hint:");
    assert_contains(&run.stderr, "setpointA");
    snapshot!(repo, run);
}

#[test]
fn delay_ms_is_a_word_not_a_number() {
    let repo = Repo::demo();
    repo.edit(SCRIPTS, "  delay_ms: 1000", "  delay_ms: fast");
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:9:13");
    snapshot!(repo, run);
}

#[test]
fn delay_type_with_a_dash_instead_of_an_underscore() {
    let repo = Repo::demo();
    repo.edit(
        SCRIPTS,
        "  delay_type: fixed_rate",
        "  delay_type: fixed-rate",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:10:15");
    assert_contains(&run.stderr, "fixed_rate");
    snapshot!(repo, run);
}

#[test]
fn gateway_script_without_script() {
    let repo = Repo::demo();
    repo.edit(SCRIPTS, "  script: scripts/physics_simulation.py\n", "");
    let run = validate(&repo);
    assert_contains(&run.stderr, "`script`");
    assert_contains(&run.stderr, "ignition/scripts.yaml:");
    snapshot!(repo, run);
}

#[test]
fn top_level_spec_misspelled_spce() {
    let repo = Repo::demo();
    repo.edit(PROJECT, "\nspec:\n", "\nspce:\n");
    let run = validate(&repo);
    assert_at(&run, "ignition/project.yaml:4:1");
    snapshot!(repo, run);
}

// Kinds and addresses.

#[test]
fn unknown_kind() {
    let repo = Repo::demo();
    repo.edit(PROJECT, "kind: project", "kind: ignition_project");
    let run = validate(&repo);
    assert_at(&run, "ignition/project.yaml:2:7");
    assert_contains(&run.stderr, "gateway_script");
    snapshot!(repo, run);
}

#[test]
fn document_without_kind() {
    let repo = Repo::demo();
    repo.edit(PROJECT, "kind: project\n", "");
    let run = validate(&repo);
    assert_contains(&run.stderr, "--> ignition/project.yaml:2:");
    snapshot!(repo, run);
}

#[test]
fn same_project_declared_twice_in_two_files() {
    let repo = Repo::demo();
    repo.write(
        "ignition/project_copy.yaml",
        "# A copy of the project, pasted by mistake.\nkind: project\nname: mining_demo\nspec:\n  title: Mining Operations (copy)\n",
    );
    let run = validate(&repo);
    assert_contains(&run.stderr, "ignition/project.yaml:3");
    assert_contains(&run.stderr, "ignition/project_copy.yaml:3:7");
    snapshot!(repo, run);
}

#[test]
fn two_scripts_write_the_same_gateway_timer() {
    let repo = Repo::demo();
    repo.write(
        "ignition/more_scripts.yaml",
        "kind: gateway_script\nname: physics_simulation_v2\nspec:\n  project: mining_demo\n  resource_name: Physics Simulation\n  type: timer\n  script: scripts/physics_simulation.py\n",
    );
    let run = validate(&repo);
    assert_contains(&run.stderr, "physics_simulation_v2");
    assert_contains(&run.stderr, "gateway_script/physics_simulation ");
    snapshot!(repo, run);
}

#[test]
fn tag_name_with_provider_prefix() {
    let repo = Repo::demo();
    repo.edit(
        TAGS,
        "name: Mining/Simulation/Fault_Enabled",
        "name: \"[default]Mining/Simulation/Fault_Enabled\"",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/tags.yaml:111:7");
    assert_contains(&run.stderr, "spec.provider");
    snapshot!(repo, run);
}

#[test]
fn tag_name_with_unquoted_provider_prefix() {
    let repo = Repo::demo();
    repo.edit(
        TAGS,
        "name: Mining/Simulation/Fault_Enabled",
        "name: [default]Mining/Simulation/Fault_Enabled",
    );
    let run = validate(&repo);
    assert_contains(&run.stderr, "--> ignition/tags.yaml:111:");
    snapshot!(repo, run);
}

#[test]
fn project_name_with_a_slash() {
    let repo = Repo::demo();
    repo.edit(PROJECT, "name: mining_demo", "name: mining/demo");
    let run = validate(&repo);
    assert_at(&run, "ignition/project.yaml:3:7");
    snapshot!(repo, run);
}

// References and the dependency graph.

#[test]
fn depends_on_names_an_undeclared_resource() {
    let repo = Repo::demo();
    repo.edit(
        SCRIPTS,
        "name: fault_injection\n",
        "name: fault_injection\ndepends_on:\n  - gateway_script/physics_simulatoin\n",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:17:5");
    snapshot!(repo, run);
}

#[test]
fn depends_on_is_not_an_address() {
    let repo = Repo::demo();
    repo.edit(
        SCRIPTS,
        "name: fault_injection\n",
        "name: fault_injection\ndepends_on: [nonsense]\n",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:16:14");
    assert_contains(&run.stderr, "kind/name");
    snapshot!(repo, run);
}

#[test]
fn udt_instance_of_an_undeclared_udt() {
    let repo = Repo::demo();
    repo.edit(TAGS, "  typeId: HaulTruck", "  typeId: Excavator");
    let run = validate(&repo);
    assert_at(&run, "ignition/tags.yaml:25:11");
    assert_contains(&run.stderr, "udt/Excavator");
    snapshot!(repo, run);
}

#[test]
fn udt_instance_of_an_undeclared_udt_is_not_applied() {
    let repo = Repo::demo();
    repo.edit(TAGS, "  typeId: HaulTruck", "  typeId: Excavator");
    let run = apply(&repo);
    assert_at(&run, "ignition/tags.yaml:25:11");
    snapshot!(repo, run);
}

#[test]
fn script_in_an_undeclared_project() {
    let repo = Repo::demo();
    repo.edit(
        SCRIPTS,
        "  project: ${var.ignition_project}\n  resource_name: Fault Injection",
        "  project: mining_demo_old\n  resource_name: Fault Injection",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:17:3");
    assert_contains(&run.stderr, "project/mining_demo_old");
    snapshot!(repo, run);
}

#[test]
fn page_routes_to_an_undeclared_view() {
    let repo = Repo::demo();
    repo.edit(
        PERSPECTIVE,
        "viewPath: Mining/Equipment,",
        "viewPath: Mining/Equipmnet,",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/perspective.yaml:14:21");
    snapshot!(repo, run);
}

#[test]
fn depends_on_cycle_across_three_resources() {
    let repo = Repo::demo();
    repo.edit(
        SCRIPTS,
        "name: physics_simulation\n",
        "name: physics_simulation\ndepends_on: [gateway_script/fault_injection]\n",
    );
    repo.edit(
        SCRIPTS,
        "name: fault_injection\n",
        "name: fault_injection\ndepends_on: [session_props/mining_demo]\n",
    );
    repo.edit(
        PERSPECTIVE,
        "kind: session_props\nname: mining_demo\n",
        "kind: session_props\nname: mining_demo\ndepends_on: [gateway_script/physics_simulation]\n",
    );
    let run = validate(&repo);
    assert_contains(
        &run.stderr,
        "gateway_script/fault_injection -> session_props/mining_demo -> gateway_script/physics_simulation -> gateway_script/fault_injection",
    );
    snapshot!(repo, run);
}

// Payload files.

#[test]
fn script_payload_file_does_not_exist() {
    let repo = Repo::demo();
    repo.edit(
        SCRIPTS,
        "script: scripts/fault_injection.py",
        "script: scripts/fault_injector.py",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:24:3");
    snapshot!(repo, run);
}

#[test]
fn script_payload_path_escapes_the_root() {
    let repo = Repo::demo();
    repo.edit(
        SCRIPTS,
        "script: scripts/fault_injection.py",
        "script: ../../etc/passwd",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:24:3");
    snapshot!(repo, run);
}

#[test]
fn script_payload_is_a_symlink_out_of_the_root() {
    let repo = Repo::demo();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("fault_injection.py");
    std::fs::write(&target, "system.tag.writeBlocking(['[default]x'], [1])\n").unwrap();
    std::os::unix::fs::symlink(&target, repo.path().join("ignition/scripts/linked.py")).unwrap();
    repo.edit(
        SCRIPTS,
        "script: scripts/fault_injection.py",
        "script: scripts/linked.py",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:24:3");
    assert_contains(&run.stderr, "symlink");
    snapshot!(repo, run);
}

#[test]
fn view_payload_is_invalid_json() {
    let repo = Repo::demo();
    repo.edit(VIEW, "  \"custom\": {},\n", "  \"custom\": {}\n");
    let run = validate(&repo);
    assert_contains(&run.stderr, "--> ignition/views/equipment.view.json:3:");
    snapshot!(repo, run);
}

// YAML syntax.

#[test]
fn yaml_bad_indentation() {
    let repo = Repo::demo();
    repo.edit(
        PROJECT,
        "  description: Haul trucks",
        "    description: Haul trucks",
    );
    let run = validate(&repo);
    assert_contains(&run.stderr, "--> ignition/project.yaml:6:");
    snapshot!(repo, run);
}

#[test]
fn yaml_unclosed_quote() {
    let repo = Repo::demo();
    repo.edit(
        PROJECT,
        "title: Mining Operations",
        "title: \"Mining Operations",
    );
    let run = validate(&repo);
    // The quote opens on line 5; see `known_bug_unclosed_quote_points_at_the_opening_quote`.
    assert_contains(&run.stderr, "--> ignition/project.yaml:");
    snapshot!(repo, run);
}

#[test]
fn yaml_duplicate_key_in_a_mapping() {
    let repo = Repo::demo();
    repo.edit(
        PROJECT,
        "  enabled: true\n",
        "  enabled: true\n  title: Mining Ops\n",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/project.yaml:8:3");
    snapshot!(repo, run);
}

#[test]
fn manifest_file_is_not_utf8() {
    let repo = Repo::demo();
    let mut bytes = repo.read(PROJECT).into_bytes();
    let at = bytes.windows(10).position(|w| w == b"Operations").unwrap();
    // Latin-1 `é` in "Opérations".
    bytes.splice(at..at + 10, b"Op\xe9rations".iter().copied());
    std::fs::write(repo.path().join(PROJECT), bytes).unwrap();
    let run = validate(&repo);
    assert_contains(&run.stderr, "--> ignition/project.yaml:");
    snapshot!(repo, run);
}

// Interpolation.

#[test]
fn unknown_variable() {
    let repo = Repo::demo();
    repo.edit(
        SCRIPTS,
        "  project: ${var.ignition_project}\n  resource_name: Fault Injection",
        "  project: ${var.nope}\n  resource_name: Fault Injection",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:17:12");
    snapshot!(repo, run);
}

#[test]
fn environment_variable_not_set_and_no_default() {
    let repo = Repo::demo();
    repo.edit(
        PROJECT,
        "  description: Haul trucks, crushers and conveyors of the mining demo",
        "  description: ${env.LODE_TEST_UNSET_VAR}",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/project.yaml:6:16");
    assert_contains(&run.stderr, "LODE_TEST_UNSET_VAR:-");
    snapshot!(repo, run);
}

#[test]
fn unterminated_interpolation() {
    let repo = Repo::demo();
    repo.edit(
        SCRIPTS,
        "  project: ${var.ignition_project}\n  resource_name: Fault Injection",
        "  project: ${var.ignition_project\n  resource_name: Fault Injection",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:17:12");
    snapshot!(repo, run);
}

// Kind-specific rules.

#[test]
fn folder_tag_with_a_data_type() {
    let repo = Repo::demo();
    repo.edit(
        TAGS,
        "name: Mining/Simulation\nspec:\n  provider: ${var.tag_provider}\n  tagType: Folder\n",
        "name: Mining/Simulation\nspec:\n  provider: ${var.tag_provider}\n  tagType: Folder\n  dataType: Boolean\n",
    );
    let run = validate(&repo);
    assert_contains(&run.stderr, "--> ignition/tags.yaml:19:3");
    snapshot!(repo, run);
}

#[test]
fn udt_instance_without_type_id() {
    let repo = Repo::demo();
    repo.edit(TAGS, "  typeId: Crusher\n", "");
    let run = validate(&repo);
    assert_contains(&run.stderr, "--> ignition/tags.yaml:69:");
    assert_contains(&run.stderr, "typeId");
    snapshot!(repo, run);
}

#[test]
fn startup_script_with_a_timer_delay() {
    let repo = Repo::demo();
    repo.write(
        "ignition/startup.yaml",
        "# Runs once when the gateway starts.\nkind: gateway_script\nname: gateway_startup\nspec:\n  project: mining_demo\n  type: startup\n  delay_ms: 5000\n  script: scripts/fault_injection.py\n",
    );
    let run = validate(&repo);
    // `delay_ms` is on line 7; see `known_bug_timer_field_on_startup_script_points_at_the_field`.
    assert_contains(&run.stderr, "--> ignition/startup.yaml:");
    assert_contains(&run.stderr, "delay_ms");
    snapshot!(repo, run);
}

#[test]
fn timer_with_zero_delay() {
    let repo = Repo::demo();
    repo.edit(SCRIPTS, "  delay_ms: 1000", "  delay_ms: 0");
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:9:3");
    snapshot!(repo, run);
}

// Environments.

#[test]
fn unknown_environment() {
    let repo = Repo::demo();
    let run = fails(&repo, &["--env", "nope", "validate"]);
    assert_contains(&run.stderr, "local");
    snapshot!(repo, run);
}

// Several problems at once.

#[test]
fn three_mistakes_in_three_files_are_reported_together() {
    let repo = Repo::demo();
    repo.edit(SCRIPTS, "  delay_ms: 1000", "  delay_msec: 1000");
    repo.edit(TAGS, "  typeId: HaulTruck", "  typeId: Excavator");
    repo.edit(
        PERSPECTIVE,
        "viewPath: Mining/Equipment,",
        "viewPath: Mining/Equipmnet,",
    );
    let run = validate(&repo);
    assert_contains(&run.stderr, "error: 3 problems");
    assert_at(&run, "ignition/perspective.yaml:14:21");
    assert_at(&run, "ignition/scripts.yaml:9:3");
    assert_at(&run, "ignition/tags.yaml:25:11");
    snapshot!(repo, run);
}

#[test]
fn three_mistakes_in_three_files_are_not_applied() {
    let repo = Repo::demo();
    repo.edit(SCRIPTS, "  delay_ms: 1000", "  delay_msec: 1000");
    repo.edit(TAGS, "  typeId: HaulTruck", "  typeId: Excavator");
    repo.edit(
        PERSPECTIVE,
        "viewPath: Mining/Equipment,",
        "viewPath: Mining/Equipmnet,",
    );
    let run = apply(&repo);
    assert_contains(&run.stderr, "error: 3 problems");
    snapshot!(repo, run);
}

// Known bugs in src/: each test states the behaviour the messages should have. They fail today;
// remove `#[ignore]` once src/ is fixed (`cargo test --test it invalid_manifests -- --ignored`).

/// Only the `problem` lines, without the summary.
fn problems(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| {
            l.starts_with("error: ") && !l.contains("in the manifests; lode changed nothing")
        })
        .collect()
}

#[test]
fn issue_2_invalid_udt_does_not_make_its_instances_dangling() {
    let repo = Repo::demo();
    repo.edit(
        UDTS,
        "AboveValue, setpointA: 55",
        "AboveValue, setpoint: 55",
    );
    let run = validate(&repo);
    assert_eq!(problems(&run).len(), 1, "{}", run.stderr);
    assert!(
        !run.stderr.contains("which no manifest declares"),
        "{}",
        run.stderr
    );
}

#[test]
fn issue_2_unparseable_project_does_not_make_its_resources_dangling() {
    for (from, to) in [
        ("kind: project\n", ""),
        ("kind: project", "kind: ignition_project"),
        ("\nspec:\n", "\nspce:\n"),
        (
            "  enabled: true\n",
            "  enabled: true\n  title: Mining Ops\n",
        ),
        ("  description: Haul", "    description: Haul"),
        (
            "  description: Haul trucks, crushers and conveyors of the mining demo",
            "  description: ${env.LODE_TEST_UNSET_VAR}",
        ),
    ] {
        let repo = Repo::demo();
        repo.edit(PROJECT, from, to);
        let run = validate(&repo);
        assert_eq!(problems(&run).len(), 1, "{to:?}:\n{}", run.stderr);
    }
}

#[test]
fn issue_2_invalid_view_payload_does_not_make_its_route_dangling() {
    let repo = Repo::demo();
    repo.edit(VIEW, "  \"custom\": {},\n", "  \"custom\": {}\n");
    let run = validate(&repo);
    assert_eq!(problems(&run).len(), 1, "{}", run.stderr);
}

#[test]
fn issue_2_three_mistakes_including_an_invalid_udt_count_three() {
    let repo = Repo::demo();
    repo.edit(
        UDTS,
        "AboveValue, setpointA: 55",
        "AboveValue, setpoint: 55",
    );
    repo.edit(SCRIPTS, "  delay_ms: 1000", "  delay_msec: 1000");
    repo.edit(TAGS, "  typeId: HaulTruck", "  typeId: Excavator");
    let run = validate(&repo);
    assert_contains(&run.stderr, "error: 3 problems");
}

#[test]
fn issue_2_unknown_field_hint_does_not_repeat_one_of() {
    let repo = Repo::demo();
    repo.edit(SCRIPTS, "  delay_ms: 1000", "  delay_msec: 1000");
    let run = validate(&repo);
    assert!(!run.stderr.contains("one of: one of"), "{}", run.stderr);
}

#[test]

fn issue_2_wrong_type_names_the_field_and_gives_a_hint() {
    let repo = Repo::demo();
    repo.edit(SCRIPTS, "  delay_ms: 1000", "  delay_ms: fast");
    let run = validate(&repo);
    let message = run.stderr.lines().next().unwrap_or("");
    assert!(message.contains("delay_ms"), "{}", run.stderr);
    assert!(message.contains("fast"), "{}", run.stderr);
    assert_contains(&run.stderr, "= hint:");
}

#[test]

fn issue_2_missing_field_points_at_the_spec() {
    let repo = Repo::demo();
    repo.edit(SCRIPTS, "  script: scripts/physics_simulation.py\n", "");
    let run = validate(&repo);
    assert_at(&run, "ignition/scripts.yaml:4:1");
}

#[test]
fn issue_2_duplicate_key_message_speaks_to_users() {
    let repo = Repo::demo();
    repo.edit(
        PROJECT,
        "  enabled: true\n",
        "  enabled: true\n  title: Mining Ops\n",
    );
    let run = validate(&repo);
    assert!(!run.stderr.contains("DuplicateKeyPolicy"), "{}", run.stderr);
}

#[test]

fn issue_2_unclosed_quote_points_at_the_opening_quote() {
    let repo = Repo::demo();
    repo.edit(
        PROJECT,
        "title: Mining Operations",
        "title: \"Mining Operations",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/project.yaml:5:10");
}

#[test]

fn issue_2_timer_field_on_startup_script_points_at_the_field() {
    let repo = Repo::demo();
    repo.write(
        "ignition/startup.yaml",
        "kind: gateway_script\nname: gateway_startup\nspec:\n  project: mining_demo\n  type: startup\n  delay_ms: 5000\n  script: scripts/fault_injection.py\n",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/startup.yaml:6:3");
}

#[test]

fn issue_2_folder_data_type_points_at_the_field() {
    let repo = Repo::demo();
    repo.edit(
        TAGS,
        "name: Mining/Simulation\nspec:\n  provider: ${var.tag_provider}\n  tagType: Folder\n",
        "name: Mining/Simulation\nspec:\n  provider: ${var.tag_provider}\n  tagType: Folder\n  dataType: Boolean\n",
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/tags.yaml:19:3");
    assert_contains(&run.stderr, "`dataType`");
}

#[test]
fn issue_2_non_utf8_points_at_the_bad_byte() {
    let repo = Repo::demo();
    let text = repo.read(PROJECT).replace("Operations", "Op\u{0}rations");
    let bytes: Vec<u8> = text
        .bytes()
        .map(|b| if b == 0 { 0xe9 } else { b })
        .collect();
    std::fs::write(repo.path().join(PROJECT), bytes).unwrap();
    let run = validate(&repo);
    assert_at(&run, "ignition/project.yaml:5:19");
}

#[test]

fn issue_2_same_gateway_object_names_both_locations() {
    let repo = Repo::demo();
    repo.write(
        "ignition/more_scripts.yaml",
        "kind: gateway_script\nname: physics_simulation_v2\nspec:\n  project: mining_demo\n  resource_name: Physics Simulation\n  type: timer\n  script: scripts/physics_simulation.py\n",
    );
    let run = validate(&repo);
    assert_contains(&run.stderr, "ignition/more_scripts.yaml:2");
    assert_contains(&run.stderr, "ignition/scripts.yaml:3");
}
