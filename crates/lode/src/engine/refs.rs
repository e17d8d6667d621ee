//! Cross-resource references, `${ref.kind.name.field}`: a Genie space id written into an Ignition
//! script, a chat page URL into a view. At plan time a reference resolves only when its target
//! exists and will not change; otherwise the value is "known after apply" and the plan says so.
//! The executor resolves references again just before each call, from what it has applied.

use serde_json::Value;

use crate::manifest::Address;
use crate::manifest::interpolate::references_in;

/// What plans show for a value that depends on an object not yet applied.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// A reference that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub address: Address,
    pub field: String,
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.address, self.field)
    }
}

/// Whether a spec holds any `${ref...}`.
pub fn has_references(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("${ref."),
        Value::Array(items) => items.iter().any(has_references),
        Value::Object(map) => map.values().any(has_references),
        _ => false,
    }
}

/// Replaces every reference using `lookup`. A string that is exactly one reference takes the
/// referenced value as it is (a number stays a number); inside text it is spliced as text.
/// Unresolvable references are replaced by `KNOWN_AFTER_APPLY` and listed.
pub fn resolve(
    value: &Value,
    lookup: &dyn Fn(&Address, &str) -> Option<Value>,
) -> (Value, Vec<Unresolved>) {
    let mut missing = Vec::new();
    let resolved = resolve_into(value, lookup, &mut missing);
    (resolved, missing)
}

fn resolve_into(
    value: &Value,
    lookup: &dyn Fn(&Address, &str) -> Option<Value>,
    missing: &mut Vec<Unresolved>,
) -> Value {
    match value {
        Value::String(text) if text.contains("${ref.") => {
            let references = references_in(text);
            if references.len() == 1 && references[0].0 == *text {
                let (_, address, field) = &references[0];
                return lookup(address, field).unwrap_or_else(|| {
                    missing.push(Unresolved {
                        address: address.clone(),
                        field: field.clone(),
                    });
                    Value::String(KNOWN_AFTER_APPLY.to_string())
                });
            }
            let mut out = text.clone();
            for (token, address, field) in references {
                let replacement = match lookup(&address, &field) {
                    Some(Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => {
                        missing.push(Unresolved { address, field });
                        KNOWN_AFTER_APPLY.to_string()
                    }
                };
                out = out.replace(&token, &replacement);
            }
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve_into(v, lookup, missing))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve_into(v, lookup, missing)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Kind;
    use serde_json::json;

    #[test]
    fn resolves_whole_values_and_spliced_text() {
        let spec = json!({"id": "${ref.genie_space.ops.id}", "url": "http://x/?space=${ref.genie_space.ops.id}&n=${ref.table.t.rows}", "n": "${ref.table.t.rows}"});
        let lookup = |address: &Address, field: &str| match (address.kind, field) {
            (Kind::GenieSpace, "id") => Some(json!("abc")),
            (Kind::Table, "rows") => Some(json!(15)),
            _ => None,
        };
        let (resolved, missing) = resolve(&spec, &lookup);
        assert!(missing.is_empty());
        assert_eq!(
            resolved,
            json!({"id": "abc", "url": "http://x/?space=abc&n=15", "n": 15})
        );
        let (unknown, missing) = resolve(&json!("x ${ref.pipeline.p.id}"), &lookup);
        assert_eq!(unknown, json!(format!("x {KNOWN_AFTER_APPLY}")));
        assert_eq!(missing.len(), 1);
    }
}
