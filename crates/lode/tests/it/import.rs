//! `lode import` (issue #17): live objects lode does not manage become manifests and state
//! entries, and the next plan shows no changes. Against the real 8.3 gateway fixture, the
//! applied demo (files and api transports), a workspace the official SDK built, and the
//! options: `--select`, `--dry-run`, `--with-rows`; secrets are written by name only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use lode::manifest::{Address, Loaded, ManifestFiles, load_desired};
use serde_json::Value;

use crate::support::{Repo, assert_contains, copy_dir, demo_manifests};

/// A repository with the demo's `lode.yaml` and environment files only, committed.
fn demo_settings_repo() -> Repo {
    let repo = Repo::empty();
    let demo = demo_manifests();
    repo.write(
        "lode.yaml",
        &std::fs::read_to_string(demo.join("lode.yaml")).unwrap(),
    );
    copy_dir(
        &demo.join("environments"),
        &repo.path().join("environments"),
    );
    repo.commit("the demo's settings, no resources");
    repo
}

/// The demo, applied on its local environment.
fn applied_demo() -> Repo {
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo
}

/// Copies the live systems of `from`'s local environment (not its state) into `to`'s.
fn copy_live(from: &Repo, to: &Repo) {
    for system in ["databricks", "ignition"] {
        copy_dir(
            &from.path().join(".lode/local").join(system),
            &to.path().join(".lode/local").join(system),
        );
    }
}

fn load(root: &Path, env: &str) -> Loaded {
    let files = ManifestFiles::from_work_tree(root).unwrap();
    load_desired(&files, env, &|name| std::env::var(name).ok())
        .unwrap_or_else(|e| panic!("the manifests at {} do not load: {e:?}", root.display()))
}

/// Every file under `dir` (relative, `/`), minus lode's own `.lode` and git's `.git`.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, found: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name == ".lode" || name == ".git" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy();
                found.insert(relative.replace('\\', "/"), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut found = BTreeMap::new();
    walk(dir, dir, &mut found);
    found
}

fn state_addresses(repo: &Repo) -> BTreeSet<String> {
    let text = repo.read(".lode/local/state.json");
    let state: Value = serde_json::from_str(&text).unwrap();
    state["resources"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

fn import_json(repo: &Repo, args: &[&str]) -> Value {
    let mut all = vec!["import", "--format", "json"];
    all.extend_from_slice(args);
    let run = repo.lode_ok(&all, 0);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("import JSON does not parse: {e}\n{}", run.stdout))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn written_paths(report: &Value) -> Vec<String> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

/// Each resource by what it is live (kind and locator), with its canonical spec.
fn by_locator(loaded: &Loaded) -> BTreeMap<(String, String), (Address, Value)> {
    loaded
        .desired
        .resources
        .iter()
        .map(|(address, resource)| {
            (
                (
                    address.kind.to_string(),
                    // A Genie space's locator is its address name; its title says which it is.
                    match address.kind {
                        lode::manifest::Kind::GenieSpace => {
                            resource.spec["title"].as_str().unwrap_or("").to_string()
                        }
                        kind => lode::manifest::locator(kind, &address.name, &resource.spec),
                    },
                ),
                (
                    address.clone(),
                    lode::engine::canonical::canonical_spec(address.kind, &resource.spec),
                ),
            )
        })
        .collect()
}

#[test]
fn issue_17_import_of_the_real_8_3_gateway_plans_no_changes() {
    let repo = Repo::empty();
    repo.write("lode.yaml", "project: fixture\n");
    repo.commit("an empty project");
    copy_dir(&crate::fixtures::fixture_gateway(), &repo.gateway());
    let gateway_before = crate::support::gateway_tree(&repo.gateway());

    let report = import_json(&repo, &[]);
    assert!(
        report["skipped"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    repo.lode_ok(&["validate"], 0);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    // Import wrote manifests, never the gateway (the emulator's own port and lock files aside).
    let gateway_after = crate::support::gateway_tree(&repo.gateway());
    let changed: Vec<&String> = gateway_after
        .keys()
        .chain(gateway_before.keys())
        .filter(|path| {
            !path.starts_with('.') && gateway_after.get(*path) != gateway_before.get(*path)
        })
        .collect();
    assert!(
        changed.is_empty(),
        "import changed the gateway: {changed:?}"
    );

    // What it wrote describes the gateway as the hand-written manifests do (the local
    // workspace's own `main.default` schema is imported too, and is not the gateway's).
    let mut imported = by_locator(&load(repo.path(), "local"));
    imported.retain(|_, (address, _)| address.kind.system() == "ignition");
    let written = by_locator(&load(&crate::fixtures::fixture_manifests(), "local"));
    assert_eq!(
        imported.keys().collect::<Vec<_>>(),
        written.keys().collect::<Vec<_>>()
    );
    for (key, (address, spec)) in &written {
        let (ours, our_spec) = &imported[key];
        assert_eq!(our_spec, spec, "{address} (imported as {ours})");
    }

    // Views are payload files, pretty JSON as Designer writes them.
    let files = tree(repo.path());
    let views: Vec<&String> = files.keys().filter(|p| p.ends_with(".json")).collect();
    assert_eq!(views.len(), 10, "{:?}", files.keys().collect::<Vec<_>>());
    let gateway_views = crate::fixtures::fixture_gateway()
        .join("projects/example-project/com.inductiveautomation.perspective/views");
    for path in &views {
        let view_path = path
            .strip_prefix("ignition/views/")
            .and_then(|p| p.strip_suffix(".view.json"))
            .unwrap();
        let live: Value = serde_json::from_str(
            &std::fs::read_to_string(gateway_views.join(view_path).join("view.json")).unwrap(),
        )
        .unwrap();
        let written: Value = serde_json::from_slice(&files[*path]).unwrap();
        assert_eq!(written, live, "{path}");
    }
    let listing: String = files
        .iter()
        .map(|(path, content)| {
            if path.ends_with(".json") {
                format!("==> {path} (view JSON)\n")
            } else {
                format!("==> {path}\n{}", String::from_utf8_lossy(content))
            }
        })
        .collect();
    insta::assert_snapshot!(listing);
}

#[test]
fn issue_17_round_trip_of_the_demo_through_import() {
    round_trip("local");
}

#[test]
fn issue_17_round_trip_through_the_api_transport() {
    round_trip("local-api");
}

/// The applied demo's live systems copied into an empty root, imported there: both roots plan
/// no changes, and each demo resource has one imported twin with the same canonical spec
/// (Zerobus keys at the module default, seed rows and the demo's own `depends_on` aside).
fn round_trip(env: &str) {
    let a = Repo::demo();
    a.lode_ok(&["--env", env, "apply", "--auto-approve"], 0);
    let b = demo_settings_repo();
    let live_env = if env == "local" { "local" } else { env };
    for system in ["databricks", "ignition"] {
        copy_dir(
            &a.path().join(".lode").join(live_env).join(system),
            &b.path().join(".lode").join(live_env).join(system),
        );
    }
    let report = import_json(&b, &["--env", env]);
    // Only the pipeline's datasets are left out: the pipeline defines them.
    for skipped in report["skipped"].as_array().unwrap() {
        assert_contains(
            skipped["reason"].as_str().unwrap(),
            "the pipeline defines it",
        );
    }
    b.lode_ok(&["--env", env, "plan", "--detailed-exitcode"], 0);
    a.lode_ok(&["--env", env, "plan", "--detailed-exitcode"], 0);

    let imported = by_locator(&load(b.path(), env));
    let demo = by_locator(&load(a.path(), env));
    assert_eq!(
        imported.keys().collect::<Vec<_>>(),
        demo.keys().collect::<Vec<_>>(),
        "import found other objects than the demo declares"
    );
    // References name the imported objects by their imported names: read them as the demo's.
    let renames: Vec<(String, String)> = demo
        .iter()
        .map(|(key, (address, _))| {
            let ours = &imported[key].0;
            (
                format!("${{ref.{}.{}.", ours.kind, ours.name),
                format!("${{ref.{}.{}.", address.kind, address.name),
            )
        })
        .collect();
    for (key, (address, spec)) in &demo {
        let (ours, our_spec) = &imported[key];
        let comparable = |spec: &Value| {
            let mut text = spec.to_string();
            for (from, to) in &renames {
                text = text.replace(from.as_str(), to.as_str());
            }
            let mut spec: Value = serde_json::from_str(&text).unwrap();
            if let Some(map) = spec.as_object_mut() {
                // Seed rows come only with --with-rows; the secret is compared by fingerprint.
                map.remove("rows");
                map.remove("seed");
                map.remove("oauthClientSecret");
                if address.kind == lode::manifest::Kind::ZerobusConnection {
                    map.retain(|_, v| !v.is_null());
                }
            }
            spec
        };
        if address.kind == lode::manifest::Kind::ZerobusConnection {
            // Keys at the module's default are left out: every key import wrote is the demo's.
            for (field, value) in comparable(our_spec).as_object().unwrap() {
                assert_eq!(
                    spec.get(field),
                    Some(value),
                    "{address} {field} (imported as {ours})"
                );
            }
            continue;
        }
        assert_eq!(
            comparable(our_spec),
            comparable(spec),
            "{address} (imported as {ours})"
        );
    }
}

#[test]
fn issue_17_import_skips_what_the_manifests_declare() {
    let repo = applied_demo();
    let before = tree(repo.path());
    let report = import_json(&repo, &[]);
    assert!(written_paths(&report).is_empty(), "{report:#}");
    assert!(strings(&report["adopted"]).is_empty(), "{report:#}");
    assert_eq!(tree(repo.path()), before);

    // One tag leaves the manifests and the state: import brings exactly that tag back.
    skips_one_tag(&repo, "Mining/Equipment/HT_005");
}

/// Drops the tag `name` from the manifests and the state: import brings exactly it back,
/// appended to the file it was in, and the plan is empty again.
fn skips_one_tag(repo: &Repo, name: &str) {
    let text = repo.read("ignition/tags.yaml");
    let marker = format!("name: {name}\n");
    let kept: Vec<&str> = text
        .split("---\n")
        .filter(|d| !d.contains(&marker))
        .collect();
    assert_eq!(
        kept.len() + 1,
        text.split("---\n").count(),
        "{name} is one document"
    );
    repo.write("ignition/tags.yaml", &kept.join("---\n"));
    let address = format!("tag/{name}");
    repo.lode_ok(&["state", "rm", &address], 0);
    let report = import_json(repo, &[]);
    assert_eq!(
        strings(&report["adopted"]),
        [address.as_str()],
        "{report:#}"
    );
    assert_eq!(written_paths(&report), ["ignition/tags.yaml"], "{report:#}");
    assert_eq!(report["files"][0]["action"], "append");
    assert_contains(&repo.read("ignition/tags.yaml"), &marker);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn issue_17_import_dry_run_writes_nothing() {
    let a = applied_demo();
    let b = demo_settings_repo();
    copy_live(&a, &b);
    let before = tree(b.path());
    let run = b.lode_ok(&["import", "--dry-run"], 0);
    assert_contains(&run.stdout, "create ignition/tags.yaml");
    assert_contains(&run.stdout, "would adopt tag/");
    assert_contains(&run.stdout, "Would write");
    assert_eq!(tree(b.path()), before, "--dry-run wrote files");
    assert!(
        !b.path().join(".lode/local/state.json").exists() || state_addresses(&b).is_empty(),
        "--dry-run adopted resources"
    );
    let report = import_json(&b, &["--dry-run"]);
    assert_eq!(report["dry_run"], true);
    assert!(!written_paths(&report).is_empty());
    assert_eq!(
        tree(b.path()),
        before,
        "--dry-run --format json wrote files"
    );
}

#[test]
fn issue_17_import_select_kind_prefix_folder_project_and_schema() {
    let a = applied_demo();
    type Expected<'a> = &'a dyn Fn(&str) -> bool;
    let cases: [(&str, Expected); 5] = [
        ("udt", &|a| a.starts_with("udt/")),
        ("tag/Mining/Equipment", &|a| {
            a.starts_with("tag/Mining/Equipment") || a.starts_with("udt/")
        }),
        ("[default]Mining/Equipment", &|a| {
            a.starts_with("tag/Mining/Equipment") || a.starts_with("udt/")
        }),
        ("project:mining_demo", &|a| {
            [
                "project/",
                "gateway_script/",
                "perspective_view/",
                "page_config/",
                "session_props/",
                "session_event/",
            ]
            .iter()
            .any(|k| a.starts_with(k))
        }),
        ("schema:main.mining_demo", &|a| {
            [
                "schema/",
                "table/",
                "pipeline/",
                "genie_space/",
                "quality_monitor/",
                "workspace_file/",
            ]
            .iter()
            .any(|k| a.starts_with(k))
        }),
    ];
    for (selector, expected) in cases {
        let b = demo_settings_repo();
        copy_live(&a, &b);
        let report = import_json(&b, &["--dry-run", "--select", selector]);
        let adopted = strings(&report["adopted"]);
        assert!(!adopted.is_empty(), "--select {selector}: {report:#}");
        for address in &adopted {
            assert!(expected(address), "--select {selector} took {address}");
        }
    }
    // An instance brings its UDT along (its type must be declared for the tag to load).
    let b = demo_settings_repo();
    copy_live(&a, &b);
    let report = import_json(&b, &["--select", "tag/Mining/Equipment"]);
    let adopted = strings(&report["adopted"]);
    assert!(adopted.iter().any(|a| a.starts_with("udt/")), "{adopted:?}");
    b.lode_ok(&["plan", "--detailed-exitcode"], 0);

    // A selector that matches nothing is an error naming the forms; nothing is written.
    let before = tree(b.path());
    let run = b.lode_ok(&["import", "--select", "tag/No/Such/Folder"], 1);
    assert_contains(&run.stderr, "matches no live object");
    assert_contains(&run.stderr, "project:NAME");
    assert_eq!(tree(b.path()), before);
    let run = b.lode_ok(&["import", "--select", "nonsense:x"], 1);
    assert_contains(&run.stderr, "the forms are");
}

#[test]
fn issue_17_import_reports_the_secret_by_name() {
    const SECRET: &str = "s3cr3t-zerobus-value-for-the-import-test";
    let a = Repo::demo();
    a.lode_with_env(
        &["apply", "--auto-approve"],
        &[("ZEROBUS_CLIENT_SECRET", SECRET)],
    );
    let b = demo_settings_repo();
    copy_live(&a, &b);
    let run = b.lode_with_env(
        &["import", "--format", "json"],
        &[("ZEROBUS_CLIENT_SECRET", SECRET)],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let secrets = report["secrets"].as_array().unwrap();
    assert!(
        secrets
            .iter()
            .any(|s| s["env"] == "ZEROBUS_CLIENT_SECRET" && s["set"] == true),
        "{report:#}"
    );
    assert_contains(&run.stderr, "ZEROBUS_CLIENT_SECRET");
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
    let zerobus = b.read("ignition/zerobus.yaml");
    assert_contains(&zerobus, "${env.ZEROBUS_CLIENT_SECRET}");
    for (path, content) in tree(b.path()) {
        assert!(
            !String::from_utf8_lossy(&content).contains(SECRET),
            "{path} holds the secret"
        );
    }
    let state = std::fs::read_to_string(b.path().join(".lode/local/state.json")).unwrap();
    assert!(!state.contains(SECRET), "state holds the secret");
    let plan = b.lode_with_env(
        &["plan", "--detailed-exitcode"],
        &[("ZEROBUS_CLIENT_SECRET", SECRET)],
    );
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
}

#[test]
fn issue_17_with_rows_writes_the_seed() {
    let a = applied_demo();
    let b = demo_settings_repo();
    copy_live(&a, &b);
    // The demo's seeded table, by its full name.
    let seeded = "equipment_types.csv";
    let table = "equipment_types";
    let full = format!("main.mining_demo.{table}");
    let report = import_json(&b, &["--select", "table", "--with-rows", &full]);
    let seed = format!("databricks/seeds/{table}.csv");
    assert!(written_paths(&report).contains(&seed), "{report:#}");
    let csv = b.read(&seed);
    let demo_csv =
        std::fs::read_to_string(demo_manifests().join("databricks/seeds").join(seeded)).unwrap();
    assert_eq!(
        csv.lines().count(),
        demo_csv.lines().count(),
        "{csv}\n---\n{demo_csv}"
    );
    assert_contains(
        &b.read("databricks/tables.yaml"),
        &format!("seed: seeds/{table}.csv"),
    );
    b.lode_ok(&["plan", "--detailed-exitcode"], 0);

    // A table without a primary key cannot have a seed: an error with a hint, nothing written.
    let c = demo_settings_repo();
    copy_live(&a, &c);
    let before = tree(c.path());
    let run = c.lode_ok(&["import", "--with-rows", "ot_telemetry_bronze"], 1);
    assert_contains(&run.stderr, "primary key");
    assert_contains(&run.stderr, "hint: declare a PRIMARY KEY");
    assert_eq!(tree(c.path()), before);
}

#[test]
fn issue_17_import_of_an_sdk_populated_workspace_plans_no_changes() {
    let Some(python) = crate::support::sdk_python() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide the databricks-sdk virtualenv (see .ci/run)"
        );
        eprintln!(
            "skipped: no databricks-sdk virtualenv (run .ci/run once, or set LODE_SDK_PYTHON)"
        );
        return;
    };
    let repo = demo_settings_repo();
    std::fs::create_dir_all(repo.path().join(".lode/local/databricks")).unwrap();
    let emulator = crate::support::serve_local_workspace(repo.path(), "the import test");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/emulator_sdk.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .arg("import-estate")
        .env("DATABRICKS_HOST", &emulator.url)
        .env("DATABRICKS_TOKEN", lode::app::connect::LOCAL_EMULATOR_TOKEN)
        .env("DATABRICKS_CONFIG_FILE", "/nonexistent/databrickscfg")
        .env_remove("DATABRICKS_CONFIG_PROFILE")
        .env_remove("DATABRICKS_CLIENT_ID")
        .env_remove("DATABRICKS_CLIENT_SECRET")
        .env_remove("DATABRICKS_AUTH_TYPE")
        .env_remove("DATABRICKS_WAREHOUSE_ID")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the SDK estate failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = import_json(&repo, &["--select", "databricks"]);
    let adopted = strings(&report["adopted"]);
    for kind in [
        "schema/",
        "table/",
        "pipeline/",
        "genie_space/",
        "quality_monitor/",
        "workspace_file/",
    ] {
        assert!(
            adopted.iter().any(|a| a.starts_with(kind)),
            "no {kind} adopted: {report:#}"
        );
    }
    repo.lode_ok(&["validate"], 0);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    let listing: String = tree(repo.path())
        .iter()
        .filter(|(path, _)| !path.starts_with("environments/") && *path != "lode.yaml")
        .map(|(path, content)| format!("==> {path}\n{}", String::from_utf8_lossy(content)))
        .collect();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(r"[0-9a-f]{32}", "[ID]");
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[UUID]",
    );
    settings.bind(|| insta::assert_snapshot!(listing));
    drop(emulator);
}

/// Names come from a live system: a tag folder named to climb out of the manifest root (as a
/// hostile or broken gateway could serve it) is written inside the root, like any other.
#[test]
fn issue_17_import_of_hostile_live_names_stays_in_the_manifest_root() {
    let repo = Repo::empty();
    repo.write("lode.yaml", "project: fixture\n");
    repo.commit("an empty project");
    copy_dir(&crate::fixtures::fixture_gateway(), &repo.gateway());
    let tags = repo
        .gateway()
        .join("config/resources/core/ignition/tag-definition/example-tags/tags.json");
    let mut root: Value = serde_json::from_str(&std::fs::read_to_string(&tags).unwrap()).unwrap();
    let outside = repo.path().parent().unwrap().join("lode-import-escape");
    for name in [
        format!("../../../../../..{}", outside.display()),
        "..".to_string(),
    ] {
        root.as_array_mut().unwrap().push(serde_json::json!({
            "name": name,
            "tagType": "Folder",
            "tags": [{"name": "x", "tagType": "AtomicTag", "valueSource": "memory",
                      "dataType": "Int4", "value": 1}],
        }));
    }
    std::fs::write(&tags, root.to_string()).unwrap();

    let report = import_json(&repo, &[]);
    // The hostile names are reported, not written: the manifests would not load them.
    let refused: Vec<&str> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["reason"]
                .as_str()
                .unwrap()
                .contains("cannot be written in a manifest")
        })
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(refused.iter().any(|n| n.starts_with("../")), "{report:#}");
    for path in written_paths(&report) {
        assert!(
            !path
                .split('/')
                .any(|segment| segment == ".." || segment.is_empty()),
            "{path}"
        );
        assert!(repo.path().join(&path).is_file(), "{path} was not written");
    }
    assert!(!outside.exists(), "import wrote outside the manifest root");
    assert!(!outside.with_extension("yaml").exists());
}
