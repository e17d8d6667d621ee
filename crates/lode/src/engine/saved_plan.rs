//! Checking a saved plan against the plan derived again from what it records. A plan file is
//! an artifact anyone with write access to a CI run can edit, so `lode apply FILE` never
//! executes the file's changes: it derives the plan again (same manifests, state, options and
//! targets, live objects read now) and goes on only when the file equals it, field for field.
//! This module finds the first difference and says whether the world moved (stale) or the file
//! was edited (altered). Both sides are JSON values as a plan file holds them (secrets masked),
//! so the comparison sees exactly what a reviewer saw.

use serde_json::{Map, Value};

/// Why a saved plan is not the plan that would run now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanDifference {
    /// Something the plan was made from changed since: what, in words.
    Stale(String),
    /// The file says something its own inputs do not give: where, in words.
    Altered(String),
}

/// Top-level fields a plan derived again always differs in: informational only.
const INFORMATIONAL: &[&str] = &["created_at"];

/// The first difference between a saved plan file and the plan derived again, or `None` when
/// they are the same plan. Live objects that moved are reported first (they make every other
/// difference expected), then the changes, then the rest.
pub fn first_difference(file: &Value, derived: &Value) -> Option<PlanDifference> {
    let (Some(file), Some(derived)) = (file.as_object(), derived.as_object()) else {
        return Some(PlanDifference::Altered(
            "the file is not a JSON object".into(),
        ));
    };
    let empty = Vec::new();
    let changes = |plan: &Map<String, Value>| -> Result<Vec<Value>, ()> {
        match plan.get("changes") {
            Some(Value::Array(changes)) => Ok(changes.clone()),
            None => Ok(empty.clone()),
            Some(_) => Err(()),
        }
    };
    let Ok(file_changes) = changes(file) else {
        return Some(PlanDifference::Altered("`changes` is not a list".into()));
    };
    let derived_changes = changes(derived).unwrap_or_default();
    if let Some(difference) = stale_live_object(&file_changes, &derived_changes) {
        return Some(difference);
    }
    if let Some(difference) = changes_difference(&file_changes, &derived_changes) {
        return Some(difference);
    }
    let mut keys: Vec<&String> = file.keys().chain(derived.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        if key == "changes" || INFORMATIONAL.contains(&key.as_str()) {
            continue;
        }
        let (in_file, now) = (file.get(key), derived.get(key));
        if in_file == now {
            continue;
        }
        return Some(match key.as_str() {
            "source" => PlanDifference::Stale("the manifests".into()),
            "state" => PlanDifference::Stale("the state".into()),
            "desired_digest" => {
                PlanDifference::Stale("a value from the environment (variables or secrets)".into())
            }
            _ => PlanDifference::Altered(field_difference(key, in_file, now)),
        });
    }
    None
}

/// A resource whose live fingerprint is not the one the file recorded: it changed live.
fn stale_live_object(file: &[Value], derived: &[Value]) -> Option<PlanDifference> {
    for change in file {
        let Some(address) = change.get("address") else {
            continue;
        };
        let Some(now) = derived.iter().find(|c| c.get("address") == Some(address)) else {
            continue;
        };
        if change.get("live_fingerprint") != now.get("live_fingerprint") {
            return Some(PlanDifference::Stale(format!(
                "the live object {}",
                text_of(address)
            )));
        }
    }
    None
}

fn changes_difference(file: &[Value], derived: &[Value]) -> Option<PlanDifference> {
    let address = |c: &Value| c.get("address").map(text_of).unwrap_or_default();
    for change in file {
        if !derived.iter().any(|d| address(d) == address(change)) {
            return Some(PlanDifference::Altered(format!(
                "the file has a change for {}, which the plan does not cover",
                address(change)
            )));
        }
    }
    for change in derived {
        if !file.iter().any(|f| address(f) == address(change)) {
            return Some(PlanDifference::Altered(format!(
                "the file leaves out the change for {}",
                address(change)
            )));
        }
    }
    for (in_file, now) in file.iter().zip(derived) {
        if address(in_file) != address(now) {
            return Some(PlanDifference::Altered(format!(
                "the changes are in another order ({} where {} belongs)",
                address(in_file),
                address(now)
            )));
        }
        if in_file == now {
            continue;
        }
        let empty = Map::new();
        let file_fields = in_file.as_object().unwrap_or(&empty);
        let derived_fields = now.as_object().unwrap_or(&empty);
        let mut keys: Vec<&String> = file_fields.keys().chain(derived_fields.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let (a, b) = (file_fields.get(key), derived_fields.get(key));
            if a != b {
                return Some(PlanDifference::Altered(format!(
                    "change {}: {}",
                    address(now),
                    field_difference(key, a, b)
                )));
            }
        }
        return Some(PlanDifference::Altered(format!(
            "change {} is not an object",
            address(now)
        )));
    }
    None
}

fn field_difference(key: &str, in_file: Option<&Value>, now: Option<&Value>) -> String {
    format!(
        "`{key}` is {} in the file, {} when derived again",
        shown(in_file),
        shown(now)
    )
}

/// A value as the message shows it: compact, and short.
fn shown(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "absent".into();
    };
    let text = value.to_string();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

fn text_of(value: &Value) -> String {
    value
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{PlanDifference, first_difference};

    /// A plan file with every field the format has, at least once.
    fn plan_file() -> Value {
        json!({
            "format_version": 1,
            "environment": "local",
            "source": {"rev": null, "commit": "abc", "dirty": false, "digest": "d1"},
            "desired_digest": "dd",
            "state": {"lineage": "l1", "serial": 3},
            "created_at": "2026-12-07T09:00:00Z",
            "targets": ["table"],
            "change_options": {
                "allow_data_loss": false, "allow_full_refresh": false,
                "allow_delete_protected": false, "no_data": false
            },
            "summary": {"add": 0, "change": 1, "replace": 0, "delete": 0, "forget": 0,
                        "unchanged": 1, "blocked": 1, "adopt": 1},
            "changes": [
                {"address": "schema/main.mining", "action": "no-op", "risk": "low",
                 "live_fingerprint": "f0", "lifecycle": {"protect": false, "retain": false}},
                {"address": "table/equipment_types", "action": "update",
                 "reason": "it was changed outside lode", "risk": "high",
                 "blocked": {"reason": "dropping column `x` deletes its data",
                             "allow_with": "--allow-data-loss"},
                 "adopt": true, "drift": true,
                 "fields": [{"path": "columns", "before": [1], "after": [2], "diff": "-a\n+b"}],
                 "live_fingerprint": "f1",
                 "depends_on": ["schema/main.mining"],
                 "lifecycle": {"protect": true, "retain": false, "data": "seeded"}}
            ]
        })
    }

    /// Every place in a JSON value: (path of keys and indexes, value).
    fn leaves(value: &Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    let mut next = path.clone();
                    next.push(key.clone());
                    out.push(next.clone());
                    leaves(value, next, out);
                }
            }
            Value::Array(items) => {
                for (index, value) in items.iter().enumerate() {
                    let mut next = path.clone();
                    next.push(index.to_string());
                    out.push(next.clone());
                    leaves(value, next, out);
                }
            }
            _ => {}
        }
    }

    fn slot<'a>(value: &'a mut Value, path: &[String]) -> &'a mut Value {
        path.iter().fold(value, |v, key| match v {
            Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
            other => &mut other[key.as_str()],
        })
    }

    /// Another value of a kind that a hand edit would write.
    fn edited(value: &Value) -> Value {
        match value {
            Value::Bool(b) => Value::Bool(!b),
            Value::Number(n) => json!(n.as_i64().unwrap_or(0) + 1),
            Value::String(s) if s == "no-op" => json!("delete"),
            Value::String(s) => json!(format!("{s}-edited")),
            Value::Null => json!("edited"),
            Value::Array(items) if items.is_empty() => json!(["edited"]),
            Value::Array(_) => json!([]),
            Value::Object(_) => json!({}),
        }
    }

    #[test]
    fn issue_14_the_same_plan_has_no_difference_whenever_it_was_made() {
        let derived = plan_file();
        let mut file = plan_file();
        file["created_at"] = json!("2020-01-01T00:00:00Z");
        assert_eq!(first_difference(&file, &derived), None);
    }

    #[test]
    fn issue_14_every_field_of_a_saved_plan_edited_one_at_a_time_is_refused() {
        let derived = plan_file();
        let mut paths = Vec::new();
        leaves(&derived, Vec::new(), &mut paths);
        assert!(
            paths.len() > 60,
            "the fixture covers the format: {}",
            paths.len()
        );
        for path in paths.iter().filter(|p| p[0] != "created_at") {
            let mut file = derived.clone();
            let place = slot(&mut file, path);
            *place = edited(place);
            assert!(
                first_difference(&file, &derived).is_some(),
                "editing {path:?} went unnoticed"
            );
            // Removing a field (where it sits in an object) is an edit too.
            let (last, parent) = path.split_last().unwrap();
            let mut file = derived.clone();
            if let Value::Object(map) = slot(&mut file, parent) {
                map.remove(last);
                assert!(
                    first_difference(&file, &derived).is_some(),
                    "removing {path:?} went unnoticed"
                );
            }
        }
        // So is adding one the derived plan does not have.
        let mut file = derived.clone();
        file["changes"][0]["blocked_override"] = json!(true);
        assert!(first_difference(&file, &derived).is_some());
    }

    #[test]
    fn issue_14_an_edited_action_names_the_change_and_both_values() {
        let derived = plan_file();
        let mut file = derived.clone();
        file["changes"][0]["action"] = json!("delete");
        let Some(PlanDifference::Altered(message)) = first_difference(&file, &derived) else {
            panic!("an edited action is an alteration");
        };
        assert_eq!(
            message,
            "change schema/main.mining: `action` is \"delete\" in the file, \"no-op\" when derived again"
        );
    }

    #[test]
    fn issue_14_a_live_object_that_moved_makes_the_plan_stale_not_altered() {
        let mut derived = plan_file();
        let file = plan_file();
        derived["changes"][1]["live_fingerprint"] = json!("f9");
        derived["changes"][1]["action"] = json!("no-op");
        assert_eq!(
            first_difference(&file, &derived),
            Some(PlanDifference::Stale(
                "the live object table/equipment_types".into()
            ))
        );
    }
}
