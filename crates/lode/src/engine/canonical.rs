//! Canonical JSON and field diffs. Both sides of a diff (desired and live) are canonicalised by
//! the same per-kind rules, so formatting, key order, `1` versus `1.0`, absent versus `null`,
//! and (for tags) member order never show as changes. Text payloads (scripts) and JSON documents
//! (views, page config, session props) are shown as unified diffs.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use similar::TextDiff;

use crate::manifest::Kind;

/// Spec fields holding program text, diffed line by line.
fn text_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::GatewayScript | Kind::SessionEvent => &["script"],
        Kind::WorkspaceFile => &["content"],
        _ => &[],
    }
}

/// Spec fields holding whole JSON documents, diffed as pretty-printed text.
fn document_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::PerspectiveView => &["view"],
        Kind::PageConfig => &["config"],
        Kind::SessionProps => &["props"],
        _ => &[],
    }
}

/// Fields the live system never shows (it answers `****`): they are compared through a keyed
/// fingerprint of the value last applied, kept in state.
pub fn write_only_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::ZerobusConnection => &["oauthClientSecret"],
        _ => &[],
    }
}

/// Spec fields holding lists of records (table rows), diffed one record per line.
fn line_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Table => &["rows"],
        _ => &[],
    }
}

/// Tag configuration rules (Ignition tags, UDTs): arrays of named objects are sets (members,
/// alarms), and `null` means "not set" (types carry `"typeId": null`). Elsewhere — views, page
/// config, session props — order and `null` are meaningful and kept.
fn tag_rules(kind: Kind) -> bool {
    matches!(kind, Kind::Udt | Kind::Tag)
}

/// The canonical form of a spec of `kind`.
pub fn canonical_spec(kind: Kind, spec: &Value) -> Value {
    canonicalize(spec, tag_rules(kind))
}

fn canonicalize(value: &Value, tag_rules: bool) -> Value {
    match value {
        Value::Number(number) => match number.as_f64() {
            Some(f) if number.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Value::from(f as i64)
            }
            _ => value.clone(),
        },
        Value::Object(map) => {
            // Sorted keys: canonical text (and so fingerprints) must not depend on file order.
            let mut entries: Vec<(&String, &Value)> = map
                .iter()
                .filter(|(_, v)| !(tag_rules && v.is_null()))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonicalize(v, tag_rules)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(|v| canonicalize(v, tag_rules)).collect();
            if tag_rules
                && !items.is_empty()
                && items
                    .iter()
                    .all(|i| i.get("name").is_some_and(Value::is_string))
            {
                items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            }
            Value::Array(items)
        }
        _ => value.clone(),
    }
}

/// Stable text of a value (sorted keys), for digests.
pub fn canonical_json(value: &Value) -> String {
    serde_json::to_string(&canonicalize(value, false)).expect("JSON values serialise")
}

/// One changed field between live (before) and desired (after).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Dotted path; list items matched by name appear as `tags[Speed_KPH]`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// A unified diff, for text and document fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// One step into a spec: a key of an object, the item of a list of named objects (tag members,
/// alarms, table columns: the engine matches them by name), or a list position.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SpecSegment {
    Key(String),
    Named(String),
    Index(usize),
}

/// Where a value is in a spec. Structured, since keys may hold dots (pipeline configuration
/// keys such as `mining_demo.bronze_table`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SpecPath(pub Vec<SpecSegment>);

impl SpecPath {
    pub fn key(key: &str) -> SpecPath {
        SpecPath(vec![SpecSegment::Key(key.to_string())])
    }

    fn child(&self, segment: SpecSegment) -> SpecPath {
        let mut segments = self.0.clone();
        segments.push(segment);
        SpecPath(segments)
    }

    /// The spec field it starts at.
    pub fn field(&self) -> Option<&str> {
        match self.0.first() {
            Some(SpecSegment::Key(key)) => Some(key),
            _ => None,
        }
    }

    /// The value at this path in `spec`, if there is one.
    pub fn get<'a>(&self, spec: &'a Value) -> Option<&'a Value> {
        self.0
            .iter()
            .try_fold(spec, |value, segment| match segment {
                SpecSegment::Key(key) => value.get(key),
                SpecSegment::Named(name) => value
                    .as_array()?
                    .iter()
                    .find(|item| item.get("name").and_then(Value::as_str) == Some(name)),
                SpecSegment::Index(index) => value.get(*index),
            })
    }

    /// A JSON pointer to the same place when every step is a key or a position (a state
    /// entry's `sensitive` pointers are written so); a named item has none.
    pub fn pointer(&self) -> Option<String> {
        self.0
            .iter()
            .map(|segment| match segment {
                SpecSegment::Key(key) => {
                    Some(format!("/{}", key.replace('~', "~0").replace('/', "~1")))
                }
                SpecSegment::Index(index) => Some(format!("/{index}")),
                SpecSegment::Named(_) => None,
            })
            .collect()
    }
}

/// As plans show it: `a.b`, `tags[Speed_KPH].engHigh`, `items[2]`.
impl std::fmt::Display for SpecPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                SpecSegment::Key(key) if i == 0 => f.write_str(key)?,
                SpecSegment::Key(key) => write!(f, ".{key}")?,
                SpecSegment::Named(name) => write!(f, "[{name}]")?,
                SpecSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// One value that differs between two canonical specs.
#[derive(Debug, Clone, PartialEq)]
pub struct PathDiff {
    pub path: SpecPath,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Whether a spec field is compared whole (program text, documents, table rows): a change
/// anywhere in it is a change of the field.
pub fn whole_field(kind: Kind, field: &str) -> bool {
    text_fields(kind).contains(&field)
        || document_fields(kind).contains(&field)
        || line_fields(kind).contains(&field)
}

/// Where canonical `before` and `after` differ, as deep as a diff goes: into objects and lists
/// of named objects, but not into whole fields ([`whole_field`]) or other lists.
pub fn diff_paths(kind: Kind, before: &Value, after: &Value) -> Vec<PathDiff> {
    let mut diffs = Vec::new();
    let empty = Map::new();
    let before_map = before.as_object().unwrap_or(&empty);
    let after_map = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = before_map.keys().chain(after_map.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (b, a) = (before_map.get(key), after_map.get(key));
        if b == a {
            continue;
        }
        let path = SpecPath::key(key);
        if whole_field(kind, key) {
            diffs.push(PathDiff {
                path,
                before: b.cloned(),
                after: a.cloned(),
            });
        } else {
            diff_values(&path, b, a, &mut diffs);
        }
    }
    diffs
}

/// The field changes that turn canonical `before` into canonical `after`.
pub fn diff_fields(kind: Kind, before: &Value, after: &Value) -> Vec<FieldChange> {
    diff_paths(kind, before, after)
        .into_iter()
        .map(
            |PathDiff {
                 path,
                 before,
                 after,
             }| {
                let field = path.field().unwrap_or_default().to_string();
                let (b, a) = (before.as_ref(), after.as_ref());
                let diff = if text_fields(kind).contains(&field.as_str()) {
                    let text =
                        |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
                    Some(unified_diff(&text(b), &text(a)))
                } else if line_fields(kind).contains(&field.as_str()) {
                    let lines = |v: Option<&Value>| -> String {
                        v.and_then(Value::as_array)
                            .map(|items| {
                                items
                                    .iter()
                                    .map(|i| serde_json::to_string(i).expect("JSON") + "\n")
                                    .collect()
                            })
                            .unwrap_or_default()
                    };
                    Some(unified_diff(&lines(b), &lines(a)))
                } else if document_fields(kind).contains(&field.as_str()) {
                    let pretty = |v: Option<&Value>| {
                        v.map(|v| serde_json::to_string_pretty(v).expect("JSON") + "\n")
                            .unwrap_or_default()
                    };
                    Some(unified_diff(&pretty(b), &pretty(a)))
                } else {
                    None
                };
                match diff {
                    Some(diff) => FieldChange {
                        path: field,
                        before: None,
                        after: None,
                        diff: Some(diff),
                    },
                    None => FieldChange {
                        path: path.to_string(),
                        before,
                        after,
                        diff: None,
                    },
                }
            },
        )
        .collect()
}

fn diff_values(
    path: &SpecPath,
    before: Option<&Value>,
    after: Option<&Value>,
    diffs: &mut Vec<PathDiff>,
) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                if b.get(key) != a.get(key) {
                    diff_values(
                        &path.child(SpecSegment::Key(key.clone())),
                        b.get(key),
                        a.get(key),
                        diffs,
                    );
                }
            }
        }
        (Some(Value::Array(b)), Some(Value::Array(a))) if is_named(b) && is_named(a) => {
            let name = |v: &Value| v["name"].as_str().unwrap_or("").to_string();
            let mut names: Vec<String> = b.iter().chain(a.iter()).map(name).collect();
            names.sort();
            names.dedup();
            for item in names {
                let find = |list: &Vec<Value>| list.iter().find(|v| name(v) == item).cloned();
                let (bi, ai) = (find(b), find(a));
                if bi != ai {
                    diff_values(
                        &path.child(SpecSegment::Named(item)),
                        bi.as_ref(),
                        ai.as_ref(),
                        diffs,
                    );
                }
            }
        }
        _ => diffs.push(PathDiff {
            path: path.clone(),
            before: before.cloned(),
            after: after.cloned(),
        }),
    }
}

fn is_named(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").is_some_and(Value::is_string))
}

/// A unified diff with three lines of context, headed live → desired.
pub fn unified_diff(before: &str, after: &str) -> String {
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header("live", "desired")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_nulls_and_member_order_are_not_changes() {
        let a = json!({"tags": [{"name": "b", "engHigh": 1.0}, {"name": "a", "x": null}]});
        let b = json!({"tags": [{"name": "a"}, {"name": "b", "engHigh": 1}]});
        assert_eq!(canonical_spec(Kind::Udt, &a), canonical_spec(Kind::Udt, &b));
    }

    #[test]
    fn named_lists_diff_by_name() {
        let before = json!({"tags": [{"name": "Speed", "engHigh": 60}]});
        let after = json!({"tags": [{"name": "Speed", "engHigh": 70}, {"name": "Load"}]});
        let changes = diff_fields(Kind::Udt, &before, &after);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["tags[Load]", "tags[Speed].engHigh"]);
    }

    #[test]
    fn issue_17_spec_paths_keep_dotted_keys_whole_and_find_named_items() {
        let spec = json!({
            "configuration": {"mining_demo.bronze_table": "b"},
            "tags": [{"name": "Speed", "alarms": [{"name": "High", "setpointA": 60}]}],
            "libraries": [{"file": {"path": "/x/a~b.sql"}}]
        });
        let diffs = diff_paths(
            Kind::Pipeline,
            &spec,
            &json!({"configuration": {"mining_demo.bronze_table": "c"}}),
        );
        let configuration = diffs
            .iter()
            .find(|d| d.path.field() == Some("configuration"))
            .unwrap();
        assert_eq!(
            configuration.path,
            SpecPath(vec![
                SpecSegment::Key("configuration".into()),
                SpecSegment::Key("mining_demo.bronze_table".into())
            ])
        );
        assert_eq!(configuration.path.get(&spec), Some(&json!("b")));
        assert_eq!(
            configuration.path.pointer().as_deref(),
            Some("/configuration/mining_demo.bronze_table")
        );
        let alarm = SpecPath(vec![
            SpecSegment::Key("tags".into()),
            SpecSegment::Named("Speed".into()),
            SpecSegment::Key("alarms".into()),
            SpecSegment::Named("High".into()),
            SpecSegment::Key("setpointA".into()),
        ]);
        assert_eq!(alarm.get(&spec), Some(&json!(60)));
        assert_eq!(alarm.to_string(), "tags[Speed].alarms[High].setpointA");
        assert_eq!(alarm.pointer(), None);
        let path = SpecPath(vec![
            SpecSegment::Key("libraries".into()),
            SpecSegment::Index(0),
            SpecSegment::Key("file".into()),
        ]);
        assert_eq!(path.pointer().as_deref(), Some("/libraries/0/file"));
        assert_eq!(path.to_string(), "libraries[0].file");
    }
}
