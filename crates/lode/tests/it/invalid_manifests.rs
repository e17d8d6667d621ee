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

// Messages that once were wrong: each test states the behaviour the messages must have.

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

// Issue #6, bad input: hostile or broken manifests, payloads, environment files and lode.yaml.
// Each is one `issue_6_*` test (its message, snapshotted, located `--> file:line:col`), and
// `issue_6_no_bad_input_reaches_the_live_environment` applies every one of them over a live
// environment and proves that none changed anything.

const TABLES: &str = "databricks/tables.yaml";
const PIPELINE: &str = "databricks/pipeline.yaml";
const MONITOR: &str = "databricks/monitor.yaml";
const ZEROBUS: &str = "ignition/zerobus.yaml";
const LOCAL_ENV: &str = "environments/local.yaml";
const SCRIPT: &str = "ignition/scripts/fault_injection.py";

/// `environments/local.yaml` written out as the built-in `local` environment: the bad
/// environment files below are this file with one mistake.
const LOCAL_ENV_FILE: &str = "# The built-in local environment, written out.\nignition:\n  transport: files\n  data_dir: .lode/local/ignition\n  emulator: true\ndatabricks:\n  emulator: true\nenv_defaults:\n  ZEROBUS_CLIENT_SECRET: local-emulator-zerobus-secret\n";

fn write_bytes(repo: &Repo, relative: &str, bytes: &[u8]) {
    let path = repo.path().join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Replaces `from` with `to` in `relative`, where `to` may hold bytes that are not UTF-8.
fn edit_bytes(repo: &Repo, relative: &str, from: &str, to: &[u8]) {
    let text = repo.read(relative);
    let at = text
        .find(from)
        .unwrap_or_else(|| panic!("{relative} has no {from:?}"));
    let mut bytes = text.as_bytes()[..at].to_vec();
    bytes.extend_from_slice(to);
    bytes.extend_from_slice(&text.as_bytes()[at + from.len()..]);
    write_bytes(repo, relative, &bytes);
}

/// A local environment file with `from` replaced by `to`.
fn local_env(repo: &Repo, from: &str, to: &str) {
    assert!(LOCAL_ENV_FILE.contains(from), "{from:?}");
    repo.write(LOCAL_ENV, &LOCAL_ENV_FILE.replacen(from, to, 1));
}

/// A symlink at `link` (relative to the repository) to a new file `name` with `content` in a
/// folder outside the repository (to the folder itself when `name` is empty). The folder is
/// left behind: it is small, under the system's temporary folder.
fn link_outside(repo: &Repo, link: &str, name: &str, content: &str) {
    let outside = tempfile::tempdir().unwrap().keep();
    let target = if name.is_empty() {
        outside
    } else {
        std::fs::write(outside.join(name), content).unwrap();
        outside.join(name)
    };
    let _ = std::fs::remove_file(repo.path().join(link));
    std::os::unix::fs::symlink(target, repo.path().join(link)).unwrap();
}

/// The mining demo's quality monitor with another schedule line.
fn monitor_schedule(repo: &Repo, from: &str, to: &str) {
    repo.edit(MONITOR, from, to);
}

/// A tag change gateway script triggered by `path`.
fn tag_change_script(repo: &Repo, path: &str) {
    repo.append_document(
        SCRIPTS,
        &format!(
            "kind: gateway_script\nname: on_fault\nspec:\n  project: mining_demo\n  type: tag_change\n  tag_paths:\n    - \"{path}\"\n  script: scripts/fault_injection.py\n"
        ),
    );
}

/// The YAML "billion laughs": ten aliases of ten aliases of ... nine levels deep.
fn billion_laughs() -> String {
    let mut text = String::from(
        "kind: project\nname: laughs\nspec:\n  title: &l0 \"lol\"\n  parent: \"\"\n  laughs:\n",
    );
    for level in 1..=9 {
        let aliases = vec![format!("*l{}", level - 1); 10].join(", ");
        text.push_str(&format!("    l{level}: &l{level} [{aliases}]\n"));
    }
    text
}

/// Declares the issue #6 inputs: `test_name: |repo| make the mistake => "file:line:col"` (where
/// the first problem must be reported). Each becomes a test that snapshots `lode validate`;
/// `ISSUE_6_INPUTS` lists them all for the live-environment test.
macro_rules! issue_6 {
    ($($name:ident: |$repo:ident| $make:expr => $location:expr;)*) => {
        const ISSUE_6_INPUTS: &[(&str, fn(&Repo))] = &[$((stringify!($name), |$repo: &Repo| $make)),*];
        $(
            #[test]
            fn $name() {
                let demo = Repo::demo();
                let $repo = &demo;
                $make;
                let run = validate($repo);
                snapshot!($repo, run);
                assert_at(&run, $location);
            }
        )*
    };
}

issue_6! {
    // Sizes, nesting, aliases.
    issue_6_yaml_alias_bomb: |repo| repo.write("ignition/laughs.yaml", &billion_laughs())
        => "ignition/laughs.yaml:12:19";
    issue_6_huge_manifest_file: |repo| {
        let mut text = repo.read(PROJECT);
        let padding = "# padding padding padding padding padding padding padding padding\n";
        while text.len() < 20 * 1024 * 1024 {
            text.push_str(padding);
        }
        repo.write(PROJECT, &text);
    } => "ignition/project.yaml:1:1";
    issue_6_huge_payload_file: |repo| {
        let line = "# comment comment comment comment comment comment comment comment\n";
        repo.write(SCRIPT, &line.repeat(9 * 1024 * 1024 / line.len() + 1));
    } => "ignition/scripts.yaml:24:3";
    issue_6_ten_thousand_nested_flow_sequences: |repo| {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        repo.edit(PROJECT, "  parent: \"\"", &format!("  parent: \"\"\n  deep: {deep}"));
    } => "ignition/project.yaml:10:264";
    issue_6_deeply_nested_block_mappings: |repo| {
        let deep: String = (1..=200).map(|i| format!("{}k{i}:\n", " ".repeat(i * 2))).collect();
        repo.edit(PROJECT, "  parent: \"\"\n", &format!("  parent: \"\"\n  deep:\n{deep}    leaf: 1\n"));
    } => "ignition/project.yaml:74:129";
    // Encodings and characters.
    issue_6_manifest_in_utf16: |repo| {
        let mut bytes = vec![0xff, 0xfe];
        bytes.extend(repo.read(PROJECT).encode_utf16().flat_map(|unit| unit.to_le_bytes()));
        write_bytes(repo, PROJECT, &bytes);
    } => "ignition/project.yaml:1:1";
    issue_6_payload_not_utf8: |repo| edit_bytes(repo, SCRIPT, "import", b"imp\xf6rt")
        => "ignition/scripts/fault_injection.py:10:4";
    issue_6_view_payload_not_utf8: |repo| edit_bytes(repo, VIEW, "Mining Operations", b"Mining Op\xe9rations")
        => "ignition/views/equipment.view.json:28:33";
    issue_6_control_character_in_a_manifest: |repo| edit_bytes(repo, PROJECT, "title: Mining", b"title: Min\x07ing")
        => "ignition/project.yaml:5:10";
    issue_6_tab_indentation: |repo| repo.edit(PROJECT, "  enabled: true", "\tenabled: true")
        => "ignition/project.yaml:7:1";
    issue_6_undefined_yaml_alias: |repo| repo.edit(PROJECT, "title: Mining Operations", "title: *mining_title")
        => "ignition/project.yaml:5:10";
    // Payload paths that leave the manifest root.
    issue_6_view_payload_escapes_the_root: |repo| repo.edit(PERSPECTIVE, "view: views/equipment.view.json", "view: ../../../equipment.view.json")
        => "ignition/perspective.yaml:6:3";
    issue_6_seed_payload_is_an_absolute_path: |repo| repo.edit(TABLES, "seed: seeds/equipment_types.csv", "seed: /etc/passwd")
        => "databricks/tables.yaml:48:3";
    issue_6_workspace_file_source_climbs_out_through_its_folder: |repo| repo.edit(PIPELINE, "source: pipeline/silver.sql", "source: pipeline/../../../../silver.sql")
        => "databricks/pipeline.yaml:6:3";
    issue_6_view_payload_is_a_symlink_out_of_the_root: |repo| {
        link_outside(repo, "ignition/views/linked.view.json", "linked.view.json", "{\"root\": {\"type\": \"ia.container.flex\"}}");
        repo.edit(PERSPECTIVE, "view: views/equipment.view.json", "view: views/linked.view.json");
    } => "ignition/perspective.yaml:6:3";
    issue_6_payload_in_a_symlinked_folder_out_of_the_root: |repo| {
        link_outside(repo, "databricks/outside", "", "");
        repo.edit(TABLES, "seed: seeds/equipment_types.csv", "seed: outside/equipment_types.csv");
    } => "databricks/tables.yaml:48:3";
    issue_6_manifest_file_is_a_symlink_out_of_the_root: |repo| {
        link_outside(repo, "ignition/extra.yaml", "extra.yaml", "kind: project\nname: extra\nspec: {}\n");
    } => "ignition/extra.yaml:1:1";
    // Tag paths and UDT references.
    issue_6_tag_name_with_a_doubled_slash: |repo| repo.edit(TAGS, "name: Mining/Equipment/HT_001", "name: Mining//Equipment/HT_001")
        => "ignition/tags.yaml:21:7";
    issue_6_tag_name_with_a_wildcard: |repo| repo.edit(TAGS, "name: Mining/Equipment/HT_001", "name: Mining/Equipment/HT_*")
        => "ignition/tags.yaml:21:7";
    // Names that would make the files transport write outside the gateway's data directory.
    issue_17_tag_name_with_a_parent_segment: |repo| repo.edit(TAGS, "name: Mining/Equipment/HT_001", "name: Mining/../../HT_001")
        => "ignition/tags.yaml:21:7";
    issue_17_script_resource_name_that_leaves_its_folder: |repo| repo.edit(SCRIPTS, "resource_name: Physics Simulation", "resource_name: ../../../Physics")
        => "ignition/scripts.yaml:6:3";
    issue_17_project_that_leaves_the_projects_folder: |repo| repo.edit(SCRIPTS, "  project: ${var.ignition_project}\n  resource_name: Physics Simulation", "  project: ../../outside\n  resource_name: Physics Simulation")
        => "ignition/scripts.yaml:5:3";
    issue_6_tag_change_script_with_a_doubled_slash: |repo| tag_change_script(repo, "[default]Mining//Simulation/Fault_Enabled")
        => "ignition/scripts.yaml:32:8";
    issue_6_tag_change_script_with_an_unclosed_provider: |repo| tag_change_script(repo, "[default Mining/Simulation/Fault_Enabled")
        => "ignition/scripts.yaml:32:8";
    issue_6_zerobus_folder_path_with_a_trailing_slash: |repo| repo.edit(ZEROBUS, "\"[default]Mining/Equipment\"", "\"[default]Mining/Equipment/\"")
        => "ignition/zerobus.yaml:13:19";
    issue_6_udt_member_name_is_a_path: |repo| repo.edit(UDTS, "- name: Location_Lat", "- name: Location/Lat")
        => "ignition/udts.yaml:9:7";
    issue_6_type_id_with_provider_and_types_folder: |repo| repo.edit(TAGS, "  typeId: HaulTruck", "  typeId: \"[default]_types_/HaulTruck\"")
        => "ignition/tags.yaml:25:3";
    issue_6_udt_parent_type_is_not_declared: |repo| repo.edit(UDTS, "name: Crusher\nspec:\n", "name: Crusher\nspec:\n  parent_type: Vehicle\n")
        => "ignition/udts.yaml:150:16";
    issue_6_udt_member_instance_of_an_undeclared_udt: |repo| repo.edit(UDTS, "  tags:\n    - name: Location_Lat", "  tags:\n    - {name: Engine, tagType: UdtInstance, typeId: DieselEngine}\n    - name: Location_Lat")
        => "ignition/udts.yaml:9:52";
    issue_6_udt_inherits_from_itself: |repo| repo.edit(UDTS, "name: Crusher\nspec:\n", "name: Crusher\nspec:\n  parent_type: Crusher\n")
        => "ignition/udts.yaml:150:3";
    // Schedules.
    issue_6_unix_cron_instead_of_quartz: |repo| monitor_schedule(repo, "\"0 0 * * * ?\"", "\"0 * * * *\"")
        => "databricks/monitor.yaml:19:5";
    issue_6_quartz_hour_out_of_range: |repo| monitor_schedule(repo, "\"0 0 * * * ?\"", "\"0 0 25 * * ?\"")
        => "databricks/monitor.yaml:19:5";
    issue_6_quartz_both_day_fields_set: |repo| monitor_schedule(repo, "\"0 0 * * * ?\"", "\"0 0 6 * * MON\"")
        => "databricks/monitor.yaml:19:5";
    issue_6_quartz_step_of_zero: |repo| monitor_schedule(repo, "\"0 0 * * * ?\"", "\"0 */0 * * * ?\"")
        => "databricks/monitor.yaml:19:5";
    issue_6_quartz_month_name_misspelled: |repo| monitor_schedule(repo, "\"0 0 * * * ?\"", "\"0 0 6 ? JANUARY MON\"")
        => "databricks/monitor.yaml:19:5";
    issue_6_schedule_time_zone_with_a_space: |repo| monitor_schedule(repo, "timezone_id: UTC", "timezone_id: America/New York")
        => "databricks/monitor.yaml:20:5";
    // Values the Databricks APIs refuse, caught before any request.
    issue_6_pipeline_channel_misspelled: |repo| repo.edit("databricks/pipeline.yaml", "channel: CURRENT", "channel: CURRNT")
        => "databricks/pipeline.yaml:36:3";
    issue_6_pipeline_library_path_as_a_string: |repo| repo.edit("databricks/pipeline.yaml", "    - file:\n        path: ${var.workspace_root}/pipeline/gold.sql", "    - file: ${var.workspace_root}/pipeline/gold.sql")
        => "databricks/pipeline.yaml:27:3";
    issue_6_monitor_granularity_not_offered: |repo| repo.edit("databricks/monitor.yaml", "      - 1 day", "      - 2 hours")
        => "databricks/monitor.yaml:12:5";
    // Kinds.
    issue_6_kind_with_a_capital_letter: |repo| repo.edit(PROJECT, "kind: project", "kind: Project")
        => "ignition/project.yaml:2:7";
    issue_6_kubernetes_manifest_in_the_root: |repo| repo.write("ignition/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lode\n")
        => "ignition/configmap.yaml:2:7";
    issue_6_kind_is_a_list: |repo| repo.edit(PROJECT, "kind: project", "kind: [project]")
        => "ignition/project.yaml:2:7";
    // Duplicate keys.
    issue_6_duplicate_name_key: |repo| repo.edit(PROJECT, "name: mining_demo\n", "name: mining_demo\nname: mining_demo_2\n")
        => "ignition/project.yaml:4:1";
    issue_6_duplicate_key_in_an_environment_file: |repo| local_env(repo, "databricks:\n  emulator: true\n", "databricks:\n  emulator: true\ndatabricks:\n  emulator: false\n")
        => "environments/local.yaml:8:1";
    issue_6_duplicate_key_in_lode_yaml: |repo| repo.edit("lode.yaml", "project: mining-demo\n", "project: mining-demo\nproject: mining\n")
        => "lode.yaml:3:1";
    // Cycles.
    issue_6_resource_depends_on_itself: |repo| repo.edit(SCRIPTS, "name: fault_injection\n", "name: fault_injection\ndepends_on: [gateway_script/fault_injection]\n")
        => "ignition/scripts.yaml:16:14";
    issue_6_udt_inheritance_cycle: |repo| {
        repo.edit(UDTS, "name: Crusher\nspec:\n", "name: Crusher\nspec:\n  parent_type: Conveyor\n");
        repo.edit(UDTS, "name: Conveyor\nspec:\n", "name: Conveyor\nspec:\n  parent_type: Crusher\n");
    } => "ignition/udts.yaml:234:1";
    issue_6_cycle_through_a_udt_instance: |repo| repo.edit(UDTS, "name: Crusher\n", "name: Crusher\ndepends_on: [tag/Mining/Equipment/CR_001]\n")
        => "ignition/udts.yaml:148:1";
    // Environment files.
    issue_6_environment_unknown_transport: |repo| local_env(repo, "transport: files", "transport: ftp")
        => "environments/local.yaml:3:14";
    issue_6_environment_unknown_section: |repo| local_env(repo, "ignition:", "ignitoin:")
        => "environments/local.yaml:2:1";
    issue_6_environment_unknown_field: |repo| local_env(repo, "  data_dir:", "  data_directory:")
        => "environments/local.yaml:4:3";
    issue_6_environment_bad_yaml: |repo| local_env(repo, "databricks:\n  emulator: true\n", "databricks: {emulator: true\n")
        => "environments/local.yaml:6:24";
    issue_6_environment_wrong_type: |repo| local_env(repo, "  emulator: true\ndatabricks", "  emulator: yes please\ndatabricks")
        => "environments/local.yaml:5:13";
    issue_6_environment_unknown_state_backend: |repo| local_env(repo, "env_defaults:", "state:\n  backend: s3\nenv_defaults:")
        => "environments/local.yaml:9:12";
    issue_6_environment_two_documents: |repo| local_env(repo, "databricks:", "---\ndatabricks:")
        => "environments/local.yaml:7:1";
    issue_6_environment_file_is_empty: |repo| repo.write(LOCAL_ENV, "# nothing here yet\n")
        => "environments/local.yaml:1:1";
    issue_6_environment_not_utf8: |repo| {
        local_env(repo, "", "");
        edit_bytes(repo, LOCAL_ENV, "written out", b"\xe9crit");
    } => "environments/local.yaml:1:35";
    issue_6_environment_unknown_variable: |repo| local_env(repo, "env_defaults:", "variables:\n  catalog: ${var.catalgo}\nenv_defaults:")
        => "environments/local.yaml:9:12";
    issue_6_environment_file_is_a_symlink_out_of_the_root: |repo| link_outside(repo, LOCAL_ENV, "local.yaml", LOCAL_ENV_FILE)
        => "environments/local.yaml:1:1";
    // lode.yaml.
    issue_6_lode_yaml_without_project: |repo| repo.edit("lode.yaml", "project: mining-demo\n", "")
        => "lode.yaml:2:1";
    issue_6_lode_yaml_unknown_field: |repo| repo.edit("lode.yaml", "variables:", "variabels:")
        => "lode.yaml:3:1";
    issue_6_lode_yaml_bad_yaml: |repo| repo.edit("lode.yaml", "  catalog: main\n", "  catalog: [main\n")
        => "lode.yaml:7:12";
    issue_6_lode_yaml_not_utf8: |repo| edit_bytes(repo, "lode.yaml", "demo:", b"d\xe9mo:")
        => "lode.yaml:1:32";
    issue_6_lode_yaml_negative_parallelism: |repo| repo.edit("lode.yaml", "project: mining-demo\n", "project: mining-demo\nparallelism: -4\n")
        => "lode.yaml:3:14";
}

/// What a failed apply must leave as it was: the gateway's files, the Databricks emulator's
/// files (Delta tables included) and the state file, each file's content read in full.
fn live_environment(repo: &Repo) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(
        root: &std::path::Path,
        dir: &std::path::Path,
        out: &mut std::collections::BTreeMap<String, Vec<u8>>,
    ) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if !path.ends_with("lock") && !path.ends_with("journal.jsonl") {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let root = repo.path().join(".lode/local");
    let mut files = std::collections::BTreeMap::new();
    walk(&root, &root, &mut files);
    files
}

#[test]
fn issue_6_no_bad_input_reaches_the_live_environment() {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    // The written-out local environment is the built-in one (whose variables point the
    // connector at the workspace emulator's port): the bad copies differ only in their mistake.
    let port = repo.read(".lode/local/databricks/port").trim().to_string();
    repo.write(
        LOCAL_ENV,
        &format!(
            "{LOCAL_ENV_FILE}variables:\n  workspace_url: http://127.0.0.1:{port}\n  zerobus_endpoint: 127.0.0.1:{port}\n  zerobus_client_id: lode-local-zerobus\n"
        ),
    );
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    std::fs::remove_file(repo.path().join(LOCAL_ENV)).unwrap();
    let gateway = crate::support::gateway_tree(&repo.gateway());
    let live = live_environment(&repo);
    assert!(
        live.keys().any(|k| k.starts_with("databricks/")),
        "{:?}",
        live.keys()
    );

    let mut problems = Vec::new();
    for (name, make) in ISSUE_6_INPUTS {
        make(&repo);
        let run = repo.lode(&["apply", "--auto-approve"]);
        if run.code != 1 || !run.stderr.contains("lode changed nothing") {
            problems.push(format!("{name}: exit {}\n{}", run.code, run.stderr));
        }
        if crate::support::gateway_tree(&repo.gateway()) != gateway {
            problems.push(format!("{name}: the gateway changed"));
        }
        if live_environment(&repo) != live {
            problems.push(format!("{name}: the live environment or its state changed"));
        }
        // Back to the applied revision (tracked files), without the files the input added.
        repo.git(&["checkout", "-q", "--", "."]);
        repo.git(&["clean", "-fdq", "-e", ".lode", "-e", "snapshots"]);
    }
    assert!(
        problems.is_empty(),
        "{} of {} bad inputs:\n{}",
        problems.len(),
        ISSUE_6_INPUTS.len(),
        problems.join("\n")
    );
    assert!(ISSUE_6_INPUTS.len() >= 40, "{}", ISSUE_6_INPUTS.len());
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn issue_6_alias_bomb_fails_fast() {
    let repo = Repo::demo();
    // Twelve levels: a trillion values if expanded.
    let mut text = billion_laughs();
    for level in 10..=12 {
        let aliases = vec![format!("*l{}", level - 1); 10].join(", ");
        text.push_str(&format!("    l{level}: &l{level} [{aliases}]\n"));
    }
    repo.write("ignition/laughs.yaml", &text);
    let started = std::time::Instant::now();
    let run = validate(&repo);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_contains(&run.stderr, "alias");
    assert_contains(&run.stderr, "--> ignition/laughs.yaml:");
}

#[test]
fn issue_6_many_documents_load_in_linear_time() {
    let repo = Repo::demo();
    // Each document used to be parsed behind as many blank lines as precede it.
    let documents: Vec<String> = (0..20_000)
        .map(|i| {
            format!(
                "kind: tag\nname: Mining/Bulk/T{i}\nspec:\n  tagType: AtomicTag\n  dataType: Int4\n"
            )
        })
        .collect();
    repo.write("ignition/bulk.yaml", &documents.join("---\n"));
    let started = std::time::Instant::now();
    let run = repo.lode_ok(&["validate"], 0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert_contains(&run.stdout, "20035 resources");
}

#[test]
fn issue_6_thousands_of_problems_are_capped() {
    let repo = Repo::demo();
    let documents: Vec<String> = (0..1_000)
        .map(|i| format!("kind: projct\nname: p{i}\n"))
        .collect();
    repo.write("ignition/typos.yaml", &documents.join("---\n"));
    let run = validate(&repo);
    assert_eq!(problems(&run).len(), 201, "{}", run.stderr);
    assert_contains(
        &run.stderr,
        "error: 800 more problems, from here on, are not shown",
    );
}

#[test]
fn issue_6_long_lines_are_not_echoed() {
    let repo = Repo::demo();
    let long = "x".repeat(100_000);
    repo.edit(
        PROJECT,
        "  enabled: true",
        &format!("  enabled: true\n  mistake: {long}"),
    );
    let run = validate(&repo);
    assert_at(&run, "ignition/project.yaml:8:3");
    assert!(run.stderr.len() < 2_000, "{}", run.stderr.len());
}

#[test]
fn issue_6_broken_lode_yaml_is_the_only_problem_reported() {
    let repo = Repo::demo();
    repo.edit(
        "lode.yaml",
        "project: mining-demo\n",
        "project: mining-demo\nproject: again\n",
    );
    let run = validate(&repo);
    assert_eq!(problems(&run).len(), 1, "{}", run.stderr);
}

#[test]
fn issue_6_schedule_from_a_variable_is_checked_after_interpolation() {
    let repo = Repo::demo();
    repo.edit(
        "lode.yaml",
        "variables:\n",
        "variables:\n  refresh: \"0 0 */6 * * ?\"\n",
    );
    repo.edit(MONITOR, "\"0 0 * * * ?\"", "${var.refresh}");
    repo.lode_ok(&["validate"], 0);
    repo.edit("lode.yaml", "\"0 0 */6 * * ?\"", "\"0 */6 * * *\"");
    let run = validate(&repo);
    assert_at(&run, "databricks/monitor.yaml:19:5");
    assert_contains(&run.stderr, "5 fields");
}

// Issue #16: the active probe's settings and checks.

/// The demo's `environments/local.yaml` with its probe section switched on, then `from`
/// replaced by `to`.
fn probe_env(repo: &Repo, from: &str, to: &str) {
    let text = repo
        .read(LOCAL_ENV)
        .replace("# probe:", "probe:")
        .replace("#   ", "  ");
    assert!(text.contains(from), "{LOCAL_ENV} has no {from:?}:\n{text}");
    repo.write(LOCAL_ENV, &text.replacen(from, to, 1));
}

#[test]
fn issue_16_the_demo_with_its_probe_switched_on_is_valid() {
    let repo = Repo::demo();
    probe_env(&repo, "", "");
    let run = repo.lode_ok(&["validate"], 0);
    assert_contains(&run.stdout, "The manifests are valid");
}

#[test]
fn issue_16_a_probe_tag_without_its_provider() {
    let repo = Repo::demo();
    probe_env(&repo, "\"[default]Mining", "\"Mining");
    let run = validate(&repo);
    assert_at(&run, "environments/local.yaml:11:3");
    snapshot!(repo, run);
}

#[test]
fn issue_16_a_probe_that_names_a_folder_of_tags() {
    let repo = Repo::demo();
    probe_env(&repo, "/Vibration_MM_S\"", "/*\"");
    let run = validate(&repo);
    assert_at(&run, "environments/local.yaml:11:3");
}

#[test]
fn issue_16_the_emulator_probe_writer_on_a_real_gateway() {
    let repo = Repo::demo();
    probe_env(
        &repo,
        "extends: local\n",
        "extends: local\nignition:\n  transport: files\n  data_dir: gateway/data\n  gateway_url: http://gateway:8088\n",
    );
    let run = validate(&repo);
    assert_at(&run, "environments/local.yaml:17:3");
    snapshot!(repo, run);
}

#[test]
fn issue_16_a_probe_command_without_a_program() {
    let repo = Repo::demo();
    probe_env(&repo, "write: emulator", "write: {command: []}");
    let run = validate(&repo);
    assert_at(&run, "environments/local.yaml:13:3");
}

#[test]
fn issue_16_extends_in_a_file_that_is_not_the_built_in_environments() {
    let repo = Repo::demo();
    repo.write("environments/staging.yaml", "# Staging.\nextends: local\n");
    let run = fails(&repo, &["validate", "--env", "staging"]);
    assert_at(&run, "environments/staging.yaml:2:1");
    snapshot!(repo, run);
}

#[test]
fn issue_16_a_probe_check_with_a_latency_budget() {
    let repo = Repo::demo();
    repo.edit(
        "checks/databricks.yaml",
        "budgets: {to_bronze_seconds: 2,",
        "budgets: {tag_to_bronze_p95_seconds: 2,",
    );
    let run = validate(&repo);
    assert_contains(&run.stderr, "is not a budget of a probe check");
    snapshot!(repo, run);
}

#[test]
fn issue_16_a_probe_check_that_asks_genie_without_a_space() {
    let repo = Repo::demo();
    repo.edit(
        "checks/databricks.yaml",
        "  space: ${ref.genie_space.mining_ops.id}\n  question: Why is",
        "  question: Why is",
    );
    let run = validate(&repo);
    assert_contains(&run.stderr, "`question` without `space`");
    assert_contains(
        &run.stderr,
        "`to_answer_seconds` needs `space` and `question`",
    );
}
