//! Ground truth from a real Ignition 8.3 gateway: the files in
//! `../shared/fixtures/ignition-83-gateway` (a project with ten Perspective views, page config and
//! session props; provider `example-tags` with seven UDTs, two folders, twelve atomic tags and
//! twenty-one UDT instances) and the manifests in `tests/fixtures/ignition-83-manifests` that
//! describe them exactly. Planned against a copy of that gateway, lode must see nothing to do but
//! adopt, must not rewrite what it adopts, and a one-field edit must touch that tag alone. The
//! fixture stores every tag twice (nested `Folder` entries in the provider root's `tags.json`
//! and each folder's own `tags.json` / `udts.json`); lode reads both and the folder's files win,
//! so the tag comparisons here apply the same rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Repo, assert_contains, copy_dir};

const PROVIDER: &str = "example-tags";
const CONFIG: &str = "config/resources/core/ignition";
const TAG_FILES: [&str; 2] = ["tags.json", "udts.json"];

/// The gateway data directory written by a real Ignition 8.3 gateway (read only).
pub fn fixture_gateway() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/ignition-83-gateway");
    assert!(
        dir.join("projects/example-project/project.json").is_file(),
        "the Ignition 8.3 gateway fixture is missing at {}",
        dir.display()
    );
    dir
}

/// The manifests that describe the fixture gateway.
pub fn fixture_manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ignition-83-manifests")
}

/// A repository holding the fixture manifests (committed), with a copy of the real gateway as
/// the local environment's gateway folder.
fn fixture_repo() -> Repo {
    let repo = Repo::empty();
    copy_dir(&fixture_manifests(), repo.path());
    repo.commit("manifests of the Ignition 8.3 fixture gateway");
    copy_dir(&fixture_gateway(), &repo.gateway());
    repo
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every file under `dir`, relative to it, with `/` separators.
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                found.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut found = BTreeSet::new();
    walk(dir, dir, &mut found);
    found
}

/// A file's content for comparison: JSON parsed (formatting, key order and `\u003d` escapes never
/// matter) without the gateway's own modification stamp; other files as text.
fn content(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("unreadable: {e}"))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(mut value) => {
            if let Some(attributes) = value.get_mut("attributes").and_then(Value::as_object_mut) {
                attributes.shift_remove("lastModification");
                attributes.shift_remove("lastModificationSignature");
            }
            Ok(value)
        }
        Err(_) if path.extension().is_none_or(|e| e != "json") => Ok(Value::String(text)),
        Err(e) => Err(format!("no longer parses as JSON: {e}")),
    }
}

/// Sorts arrays whose items all have a `name` by that name, recursively: Ignition does not give
/// member order a meaning, and the fixture's two copies of a tag list members in different orders.
fn sorted_members(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), sorted_members(v)))
                .collect(),
        ),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(sorted_members).collect();
            if items
                .iter()
                .all(|i| i.get("name").is_some_and(Value::is_string))
            {
                items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            }
            Value::Array(items)
        }
        other => other.clone(),
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// Every tag path one tag file mentions, nested folders and UDT members included
/// (`Overview`, `Overview/Motor 6`, `Overview/Motor 6/Amps`), with `prefix` as its folder.
fn paths_in_entries(entries: &Value, prefix: &str, found: &mut BTreeSet<String>) {
    for entry in entries.as_array().into_iter().flatten() {
        let Some(name) = entry.get("name").and_then(Value::as_str) else {
            continue;
        };
        let path = join(prefix, name);
        found.insert(path.clone());
        if let Some(children) = entry.get("tags") {
            paths_in_entries(children, &path, found);
        }
    }
}

/// Tag paths per tag file (`tags.json`, `Overview/udts.json`, ...) of a provider folder.
fn tag_paths_by_file(base: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_file = BTreeMap::new();
    for file in files_under(base) {
        let (folder, name) = file.rsplit_once('/').unwrap_or(("", &file));
        if TAG_FILES.contains(&name) {
            let mut found = BTreeSet::new();
            paths_in_entries(&read_json(&base.join(&file)), folder, &mut found);
            by_file.insert(file, found);
        }
    }
    by_file
}

fn all_paths(by_file: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    by_file.values().flatten().cloned().collect()
}

/// The provider's tags as the gateway resolves them: path → configuration without `name`
/// (folders without children). A folder's own files are read after its nested copy in the
/// parent's `tags.json`, so they win.
fn effective_tags(base: &Path) -> BTreeMap<String, Value> {
    fn flatten(entry: &Value, prefix: &str, found: &mut BTreeMap<String, Value>) {
        let Some(name) = entry.get("name").and_then(Value::as_str) else {
            return;
        };
        let path = join(prefix, name);
        let mut config = entry.as_object().cloned().unwrap_or_default();
        config.shift_remove("name");
        let is_folder = entry.get("tagType").and_then(Value::as_str) == Some("Folder");
        if is_folder {
            config.shift_remove("tags");
        }
        found.insert(path.clone(), sorted_members(&Value::Object(config)));
        if is_folder {
            for child in entry
                .get("tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                flatten(child, &path, found);
            }
        }
    }
    fn walk(dir: &Path, rel: &str, found: &mut BTreeMap<String, Value>) {
        if !rel.is_empty() {
            if !dir.join("unary-resource.json").is_file() {
                return;
            }
            found.insert(rel.to_string(), serde_json::json!({"tagType": "Folder"}));
        }
        for file in TAG_FILES {
            let path = dir.join(file);
            if path.is_file() {
                for entry in read_json(&path).as_array().into_iter().flatten() {
                    flatten(entry, rel, found);
                }
            }
        }
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        subdirs.sort();
        for sub in subdirs {
            let name = sub.file_name().unwrap().to_string_lossy().to_string();
            walk(&sub, &join(rel, &name), found);
        }
    }
    let mut found = BTreeMap::new();
    walk(base, "", &mut found);
    found
}

fn tag_base(gateway: &Path) -> PathBuf {
    gateway.join(CONFIG).join("tag-definition").join(PROVIDER)
}

fn type_base(gateway: &Path) -> PathBuf {
    gateway
        .join(CONFIG)
        .join("tag-type-definition")
        .join(PROVIDER)
}

fn plan_json(repo: &Repo) -> Value {
    let run = repo.lode_ok(&["plan", "--format", "json"], 0);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("plan JSON does not parse: {e}\n{}", run.stdout))
}

fn changes(plan: &Value) -> &Vec<Value> {
    plan["changes"].as_array().expect("plan has `changes`")
}

fn address(change: &Value) -> String {
    change["address"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| change["address"].to_string())
}

#[test]
fn real_gateway_files_plan_no_changes() {
    let repo = fixture_repo();
    let fixture = fixture_gateway();
    let gateway = repo.gateway();
    let tags_before = effective_tags(&tag_base(&gateway));
    let types_before = effective_tags(&type_base(&gateway));
    let paths_before = all_paths(&tag_paths_by_file(&tag_base(&gateway)));
    assert_eq!(
        tags_before.len(),
        35,
        "2 folders, 12 atomic tags, 21 UDT instances"
    );
    assert_eq!(types_before.len(), 7, "7 UDT definitions");

    // Every resource is found, read as the manifests say it, and only adopted.
    let plan = plan_json(&repo);
    let phantom: Vec<String> = changes(&plan)
        .iter()
        .filter(|c| c["action"] != "no-op" || c["adopt"] != true || c.get("fields").is_some())
        .map(|c| serde_json::to_string_pretty(c).unwrap())
        .collect();
    assert!(
        phantom.is_empty(),
        "lode mis-reads the real gateway: {} change(s) beyond adoption:\n{}",
        phantom.len(),
        phantom.join("\n")
    );
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for change in changes(&plan) {
        let address = address(change);
        *kinds
            .entry(address.split_once('/').unwrap().0.to_string())
            .or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = [
        ("page_config", 1),
        ("perspective_view", 10),
        ("project", 1),
        ("session_props", 1),
        ("tag", 35),
        ("udt", 7),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(kinds, expected, "resources in the plan, by kind");
    assert_eq!(plan["summary"]["adopt"], 55, "{}", plan["summary"]);
    assert_eq!(plan["summary"]["unchanged"], 55, "{}", plan["summary"]);

    // Adoption is the only pending work, so the detailed exit code is 2.
    let text = repo.lode_ok(&["plan", "--detailed-exitcode"], 2);
    assert_contains(&text.stdout, "0 to add, 0 to change, 0 to delete");

    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let replan = repo.lode_ok(&["plan", "--detailed-exitcode"], 0);
    assert_contains(&replan.stdout, "No changes.");

    // Every file of the real gateway is still there and means the same; a tag file lode
    // rewrote must still hold every tag, with the same configuration.
    let mut problems = Vec::new();
    let mut rewritten = Vec::new();
    for file in files_under(&fixture) {
        let (before, after) = (content(&fixture.join(&file)), content(&gateway.join(&file)));
        match (before, after) {
            (_, Err(e)) => problems.push(format!("{file}: {e}")),
            (Ok(before), Ok(after)) if before == after => {}
            (Ok(_), Ok(_)) => rewritten.push(file),
            (Err(e), _) => panic!("fixture file {file}: {e}"),
        }
    }
    let is_tag_file = |f: &str| {
        f.starts_with(&format!("{CONFIG}/tag-")) && TAG_FILES.iter().any(|t| f.ends_with(t))
    };
    for file in rewritten.iter().filter(|f| !is_tag_file(f)) {
        problems.push(format!("{file}: rewritten with different content"));
    }
    let paths_after = all_paths(&tag_paths_by_file(&tag_base(&gateway)));
    let lost: Vec<&String> = paths_before.difference(&paths_after).collect();
    if !lost.is_empty() {
        problems.push(format!("tag paths lost: {lost:?}"));
    }
    if effective_tags(&tag_base(&gateway)) != tags_before {
        problems.push("the provider's tags no longer resolve to the same configuration".into());
    }
    if effective_tags(&type_base(&gateway)) != types_before {
        problems.push("the provider's UDT definitions changed".into());
    }
    assert!(
        problems.is_empty(),
        "adopting the real gateway changed it (rewritten: {rewritten:?}):\n{}",
        problems.join("\n")
    );
}

#[test]
fn changing_one_fixture_tag_touches_only_that_tag() {
    const OLD: &str = "ns=1;s=[Simulator]Overview/CaseCount";
    const NEW: &str = "ns=1;s=[Simulator]Overview/CaseCount_v2";
    let repo = fixture_repo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let gateway = repo.gateway();
    let tags_before = effective_tags(&tag_base(&gateway));
    let files_before = tag_paths_by_file(&tag_base(&gateway));
    let types_before = content(&type_base(&gateway).join("udts.json")).unwrap();
    let project_files: BTreeMap<String, Value> = files_under(&gateway.join("projects"))
        .into_iter()
        .map(|f| {
            let value = content(&gateway.join("projects").join(&f)).unwrap();
            (f, value)
        })
        .collect();

    repo.edit(
        "ignition/tags/overview.yaml",
        &format!("opcItemPath: \"{OLD}\""),
        &format!("opcItemPath: \"{NEW}\""),
    );
    let plan = plan_json(&repo);
    let summary = &plan["summary"];
    let counts: BTreeMap<&str, Value> = ["add", "change", "replace", "delete", "adopt"]
        .into_iter()
        .map(|k| (k, summary[k].clone()))
        .collect();
    let one_change: BTreeMap<&str, Value> = [
        ("add", 0),
        ("change", 1),
        ("replace", 0),
        ("delete", 0),
        ("adopt", 0),
    ]
    .into_iter()
    .map(|(k, n)| (k, Value::from(n)))
    .collect();
    assert_eq!(counts, one_change, "{summary}");
    let touched: Vec<&Value> = changes(&plan)
        .iter()
        .filter(|c| c["action"] != "no-op" || c.get("fields").is_some())
        .collect();
    assert_eq!(touched.len(), 1, "{touched:#?}");
    let change = touched[0];
    assert_eq!(address(change), "tag/Overview/CaseCount");
    assert_eq!(change["action"], "update");
    assert_eq!(
        change["fields"],
        serde_json::json!([{"path": "opcItemPath", "before": OLD, "after": NEW}]),
        "{change:#}"
    );
    let text = repo.lode_ok(&["plan", "--detailed-exitcode"], 2);
    assert_contains(&text.stdout, "opcItemPath");

    repo.lode_ok(&["apply", "--auto-approve"], 0);
    repo.lode_ok(&["plan", "--detailed-exitcode"], 0);

    // The tag has its new item path and kept the rest of its configuration; every other tag
    // resolves as before.
    let mut tags_after = effective_tags(&tag_base(&gateway));
    let case_count = tags_after
        .remove("Overview/CaseCount")
        .expect("CaseCount is gone");
    let mut expected = tags_before["Overview/CaseCount"].clone();
    expected["opcItemPath"] = Value::String(NEW.to_string());
    assert_eq!(case_count, expected);
    let mut others_before = tags_before.clone();
    others_before.remove("Overview/CaseCount");
    assert_eq!(
        tags_after, others_before,
        "tags other than CaseCount changed"
    );

    // Each tag file keeps its tags; the only one that may go is a nested (duplicate) copy of
    // the tag lode rewrote, and it must stay in the folder's own tags.json.
    let files_after = tag_paths_by_file(&tag_base(&gateway));
    for (file, before) in &files_before {
        let after = files_after.get(file).cloned().unwrap_or_default();
        let lost: Vec<&String> = before
            .difference(&after)
            .filter(|p| !(p.as_str() == "Overview/CaseCount" && file != "Overview/tags.json"))
            .collect();
        assert!(lost.is_empty(), "{file} lost {lost:?}");
    }
    assert!(files_after["Overview/tags.json"].contains("Overview/CaseCount"));
    let new_files: Vec<&String> = files_after
        .keys()
        .filter(|f| !files_before.contains_key(*f))
        .collect();
    assert!(new_files.is_empty(), "new tag files: {new_files:?}");

    // Nothing outside the provider's tag definitions moved.
    assert_eq!(
        content(&type_base(&gateway).join("udts.json")).unwrap(),
        types_before,
        "UDT definitions changed"
    );
    for (file, before) in &project_files {
        let after = content(&gateway.join("projects").join(file));
        assert_eq!(after.as_ref(), Ok(before), "projects/{file} changed");
    }
}
