//! The JSON plan (`--format json`, and saved plan files): the `Plan` value itself with every
//! string redacted. Its shape is versioned by `format_version` and documented in
//! `docs/plan-format.md`.

use crate::engine::plan::Plan;
use crate::redact::Redactor;

pub fn render(plan: &Plan, redactor: &Redactor) -> String {
    let value = serde_json::to_value(plan).expect("plans serialise");
    let mut text =
        serde_json::to_string_pretty(&redactor.value(&value)).expect("JSON values serialise");
    text.push('\n');
    text
}
