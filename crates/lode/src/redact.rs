//! Secret masking. Values that came from `${env.NAME}` in manifests are collected while loading;
//! every string that leaves the process (plans, state, logs, errors) passes through a
//! `Redactor`, which replaces each secret value with `(sensitive)`.

use serde_json::Value;

/// The mask shown in place of a secret.
pub const MASK: &str = "(sensitive)";

/// Replaces known secret values in text and JSON.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: &[String]) -> Redactor {
        let mut secrets: Vec<String> = secrets.iter().filter(|s| s.len() >= 3).cloned().collect();
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }

    pub fn value(&self, value: &Value) -> Value {
        if self.secrets.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// JSON pointers of the strings in `value` that contain a secret.
pub fn sensitive_pointers(value: &Value, secrets: &[String]) -> Vec<String> {
    fn walk(value: &Value, pointer: String, secrets: &[String], found: &mut Vec<String>) {
        match value {
            Value::String(s)
                if secrets
                    .iter()
                    .any(|secret| !secret.is_empty() && s.contains(secret.as_str())) =>
            {
                found.push(pointer)
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    walk(item, format!("{pointer}/{index}"), secrets, found);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let key = key.replace('~', "~0").replace('/', "~1");
                    walk(item, format!("{pointer}/{key}"), secrets, found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(value, String::new(), secrets, &mut found);
    found
}

/// `value` with the strings at `pointers` replaced by the mask.
pub fn mask_pointers(value: &Value, pointers: &[String]) -> Value {
    let mut masked = value.clone();
    for pointer in pointers {
        if let Some(slot) = masked.pointer_mut(pointer) {
            *slot = Value::String(MASK.to_string());
        }
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_in_nested_json() {
        let redactor = Redactor::new(&["hunter22".to_string()]);
        let value = serde_json::json!({"a": ["x hunter22 y"], "b": 1});
        assert_eq!(
            redactor.value(&value),
            serde_json::json!({"a": ["x (sensitive) y"], "b": 1})
        );
    }
}
