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
