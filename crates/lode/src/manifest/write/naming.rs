//! The addresses `lode import` gives live objects: a tag, UDT or view is named by its path, a
//! project by its name, everything else by a slug of what a person calls it (`Physics
//! Simulation` → `physics_simulation`, a pipeline by its display name, a Genie space by its
//! title). A name already taken within its kind gets the project's or schema's name in front,
//! then `_2`, `_3`...; two tags or UDTs at one path in two providers cannot both be named by
//! that path, so the first provider keeps it and the others are reported.

use std::collections::BTreeSet;

use serde_json::Value;

use super::ImportedObject;
use super::reverse::affinity;
use crate::manifest::load::str_field;
use crate::manifest::{Address, Kind};

/// `Physics Simulation` → `physics_simulation`: lower case, runs of anything but letters and
/// digits become one `_`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// The last segment of a `/` or `.` separated name.
fn last_segment(text: &str) -> &str {
    text.rsplit(['/', '.']).next().unwrap_or(text)
}

/// The name an object would have if nothing else had it.
pub fn base_name(object: &ImportedObject) -> String {
    let spec = &object.spec;
    let hint = || slug(&object.name_hint);
    let from = |text: &str| {
        let name = slug(text);
        if name.is_empty() { hint() } else { name }
    };
    let name = match object.kind {
        Kind::Tag | Kind::Udt => object.name_hint.clone(),
        Kind::PerspectiveView => match spec.get("view_path").and_then(Value::as_str) {
            Some(path) if !path.is_empty() => path.to_string(),
            _ => object.name_hint.clone(),
        },
        Kind::Project => object.name_hint.clone(),
        Kind::GatewayScript => match str_field(spec, "type") {
            "startup" => "startup".to_string(),
            "shutdown" => "shutdown".to_string(),
            _ => from(str_field(spec, "resource_name")),
        },
        Kind::SessionEvent => format!("session_{}", str_field(spec, "event")),
        // One per project: named as the project is (which has no `/`).
        Kind::PageConfig | Kind::SessionProps => match str_field(spec, "project") {
            project if !project.is_empty() && !project.contains('/') => project.to_string(),
            project => from(project),
        },
        Kind::Schema | Kind::Table => from(str_field(spec, "name")),
        Kind::Pipeline => from(str_field(spec, "name")),
        Kind::GenieSpace => from(str_field(spec, "title")),
        Kind::QualityMonitor => from(last_segment(str_field(spec, "table"))),
        Kind::WorkspaceFile => {
            let path = str_field(spec, "path");
            let (folder, file) = path.rsplit_once('/').unwrap_or(("", path));
            let stem = file.split('.').next().unwrap_or(file);
            from(&format!("{} {stem}", last_segment(folder)))
        }
        Kind::ZerobusConnection => "telemetry".to_string(),
    };
    if name.is_empty() {
        object.kind.as_str().to_string()
    } else {
        name
    }
}

/// What goes in front of a name that is taken: the project or the schema it belongs to.
fn qualifier(object: &ImportedObject) -> Option<String> {
    let spec = &object.spec;
    let project = str_field(spec, "project");
    if !project.is_empty() {
        return Some(project.to_string());
    }
    let schema = match object.kind {
        Kind::Table | Kind::Pipeline => str_field(spec, "schema").to_string(),
        Kind::Schema => str_field(spec, "catalog").to_string(),
        Kind::QualityMonitor => {
            let table = str_field(spec, "table");
            table.rsplit('.').nth(1).unwrap_or("").to_string()
        }
        _ => String::new(),
    };
    (!schema.is_empty()).then_some(schema)
}

/// The address each object gets, in the objects' order, or why it gets none. `taken` holds the
/// declared addresses; each assigned one is added. `preferred_provider` is the tag provider a
/// variable names (it keeps a path two providers share).
pub fn assign(
    objects: &[ImportedObject],
    taken: &mut BTreeSet<Address>,
    variables: &std::collections::BTreeMap<String, String>,
) -> Vec<Result<Address, String>> {
    let preferred: BTreeSet<&str> = variables
        .iter()
        .filter(|(name, _)| affinity(name, "provider"))
        .map(|(_, value)| value.as_str())
        .collect();
    // Tags and UDTs of the preferred provider are named first, then the others by provider.
    let mut order: Vec<usize> = (0..objects.len()).collect();
    order.sort_by_key(|&index| {
        let object = &objects[index];
        let provider = str_field(&object.spec, "provider");
        let by_path = matches!(object.kind, Kind::Tag | Kind::Udt);
        (
            by_path && !preferred.contains(provider),
            if by_path {
                provider.to_string()
            } else {
                String::new()
            },
            index,
        )
    });
    let mut names: Vec<Option<Result<Address, String>>> = vec![None; objects.len()];
    // Which provider named each tag and UDT path, to say who kept it.
    let mut path_owner: std::collections::BTreeMap<Address, String> = Default::default();
    for index in order {
        let object = &objects[index];
        let base = base_name(object);
        let address = Address::new(object.kind, base.clone());
        let result = if !taken.contains(&address) {
            Ok(address)
        } else if matches!(object.kind, Kind::Tag | Kind::Udt) {
            let owner = path_owner
                .get(&address)
                .map(|provider| {
                    format!("provider `{provider}` has one there too and keeps the name")
                })
                .unwrap_or_else(|| "the manifests already declare that address".to_string());
            Err(format!(
                "{address} of provider `{}` cannot be imported: {owner}",
                str_field(&object.spec, "provider")
            ))
        } else {
            Ok(free_name(object, &base, taken))
        };
        if let Ok(address) = &result {
            taken.insert(address.clone());
            if matches!(object.kind, Kind::Tag | Kind::Udt) {
                path_owner.insert(
                    address.clone(),
                    str_field(&object.spec, "provider").to_string(),
                );
            }
        }
        names[index] = Some(result);
    }
    names
        .into_iter()
        .map(|name| name.expect("every object is named"))
        .collect()
}

/// The first free name among `<qualifier>_<base>` (`<project>/<path>` for a view), then
/// `_2`, `_3`... after either.
fn free_name(object: &ImportedObject, base: &str, taken: &BTreeSet<Address>) -> Address {
    let kind = object.kind;
    let qualified = qualifier(object).map(|q| {
        if kind == Kind::PerspectiveView {
            format!("{q}/{base}")
        } else {
            format!("{}_{base}", slug(&q))
        }
    });
    let first = qualified.unwrap_or_else(|| base.to_string());
    let candidate = Address::new(kind, first.clone());
    if !taken.contains(&candidate) {
        return candidate;
    }
    (2..)
        .map(|n| Address::new(kind, format!("{first}_{n}")))
        .find(|a| !taken.contains(a))
        .expect("some suffix is free")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn object(kind: Kind, hint: &str, spec: Value) -> ImportedObject {
        ImportedObject {
            kind,
            name_hint: hint.to_string(),
            spec,
            id: None,
            outputs: BTreeMap::new(),
        }
    }

    #[test]
    fn issue_17_names_follow_what_people_call_the_objects() {
        assert_eq!(slug("Physics Simulation"), "physics_simulation");
        assert_eq!(
            slug("Mining Operations Intelligence!"),
            "mining_operations_intelligence"
        );
        assert_eq!(slug("mining-telemetry"), "mining_telemetry");
        let cases = [
            (
                object(
                    Kind::GatewayScript,
                    "x",
                    json!({"project": "p", "type": "timer", "resource_name": "Physics Simulation"}),
                ),
                "physics_simulation",
            ),
            (
                object(
                    Kind::GatewayScript,
                    "x",
                    json!({"project": "p", "type": "startup"}),
                ),
                "startup",
            ),
            (
                object(
                    Kind::SessionEvent,
                    "x",
                    json!({"project": "p", "event": "page_startup"}),
                ),
                "session_page_startup",
            ),
            (
                object(
                    Kind::WorkspaceFile,
                    "x",
                    json!({"path": "/Shared/mining_demo/pipeline/silver.sql"}),
                ),
                "pipeline_silver",
            ),
            (
                object(
                    Kind::WorkspaceFile,
                    "x",
                    json!({"path": "/Shared/mining_demo/chat/index.html"}),
                ),
                "chat_index",
            ),
            (
                object(
                    Kind::QualityMonitor,
                    "x",
                    json!({"table": "main.s.ot_telemetry_gold"}),
                ),
                "ot_telemetry_gold",
            ),
            (
                object(
                    Kind::Tag,
                    "Mining/Equipment",
                    json!({"provider": "default"}),
                ),
                "Mining/Equipment",
            ),
            (object(Kind::ZerobusConnection, "x", json!({})), "telemetry"),
        ];
        for (object, name) in cases {
            assert_eq!(base_name(&object), name);
        }
    }

    #[test]
    fn issue_17_clashes_get_the_project_then_a_number_and_tag_paths_stay_with_one_provider() {
        let variables = BTreeMap::from([("tag_provider".to_string(), "default".to_string())]);
        let objects = vec![
            object(
                Kind::SessionEvent,
                "",
                json!({"project": "a", "event": "startup"}),
            ),
            object(
                Kind::SessionEvent,
                "",
                json!({"project": "b", "event": "startup"}),
            ),
            object(
                Kind::SessionEvent,
                "",
                json!({"project": "b", "event": "startup"}),
            ),
            object(Kind::Tag, "Line/Motor", json!({"provider": "edge"})),
            object(Kind::Tag, "Line/Motor", json!({"provider": "default"})),
        ];
        let mut taken = BTreeSet::new();
        let names = assign(&objects, &mut taken, &variables);
        let shown: Vec<String> = names
            .iter()
            .map(|n| match n {
                Ok(address) => address.to_string(),
                Err(why) => format!("skipped: {why}"),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "session_event/session_startup",
                "session_event/b_session_startup",
                "session_event/b_session_startup_2",
                "skipped: tag/Line/Motor of provider `edge` cannot be imported: provider `default` has one there too and keeps the name",
                "tag/Line/Motor",
            ]
        );
    }
}
