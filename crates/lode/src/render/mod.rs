//! Rendering plans and apply results: text for terminals and logs, JSON for machines, Markdown
//! for pull-request comments. Renderers read plain `Plan` values and never see live systems;
//! every string passes through the `Redactor`, so no secret reaches stdout.

pub mod json;
pub mod markdown;
pub mod text;

use serde_json::Value;

use crate::engine::canonical::FieldChange;
use crate::engine::plan::{Action, ResourceChange, Summary};
use crate::redact::Redactor;

/// The symbol and verb of a change, as in Terraform's plans.
pub fn symbol(change: &ResourceChange) -> &'static str {
    match change.action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Replace => "-/+",
        Action::Delete => "-",
        Action::Forget => ".",
        Action::NoOp if change.adopt => "<=",
        Action::NoOp if change.moved_from.is_some() => "->",
        Action::NoOp => " ",
    }
}

/// "will be created", "will be updated in place"...
pub fn verb(change: &ResourceChange) -> &'static str {
    match (change.action, change.adopt) {
        (Action::Create, _) => "will be created",
        (Action::Update, true) => "will be adopted and updated in place",
        (Action::Update, false) => "will be updated in place",
        (Action::Replace, _) => "must be replaced",
        (Action::Delete, _) => "will be deleted",
        (Action::Forget, _) => "will be forgotten (left in place, no longer managed)",
        (Action::NoOp, true) => "will be adopted into state (no change)",
        (Action::NoOp, false) if change.moved_from.is_some() => "has moved (state only, no change)",
        (Action::NoOp, false) => "is unchanged",
    }
}

/// `Plan: 1 to add, 2 to change, 0 to delete, 40 unchanged.` (+ replace/forget/blocked when any).
pub fn summary_line(summary: &Summary) -> String {
    let mut parts = vec![
        format!("{} to add", summary.add),
        format!("{} to change", summary.change),
    ];
    if summary.replace > 0 {
        parts.push(format!("{} to replace", summary.replace));
    }
    parts.push(format!("{} to delete", summary.delete));
    if summary.forget > 0 {
        parts.push(format!("{} to forget", summary.forget));
    }
    parts.push(format!("{} unchanged", summary.unchanged));
    if summary.adopt > 0 {
        parts.push(format!("{} to adopt", summary.adopt));
    }
    if summary.moved > 0 {
        parts.push(format!("{} moved", summary.moved));
    }
    let mut line = format!("Plan: {}.", parts.join(", "));
    if summary.blocked > 0 {
        line.push_str(&format!(" {} blocked.", summary.blocked));
    }
    line
}

/// A value on one line: JSON, shortened when long.
pub fn short_value(value: &Value) -> String {
    let text = serde_json::to_string(value).expect("JSON values serialise");
    if text.chars().count() <= 100 {
        return text;
    }
    match value {
        Value::Array(items) => format!("[{} items]", items.len()),
        Value::Object(map) => format!("{{{} keys}}", map.len()),
        Value::String(s) => format!(
            "{:?}… ({} characters)",
            s.chars().take(60).collect::<String>(),
            s.chars().count()
        ),
        _ => text,
    }
}

/// How a non-diff field changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldEdit {
    Added,
    Removed,
    Changed,
}

/// A field change on one line (`path: before -> after`), redacted; `None` for diff fields.
pub fn describe_field(field: &FieldChange, redactor: &Redactor) -> Option<(FieldEdit, String)> {
    let shown = |v: &Option<Value>| v.as_ref().map(|v| short_value(&redactor.value(v)));
    match (shown(&field.before), shown(&field.after)) {
        (None, Some(after)) => Some((FieldEdit::Added, format!("{}: {after}", field.path))),
        (Some(before), None) => Some((FieldEdit::Removed, format!("{}: {before}", field.path))),
        (Some(before), Some(after)) => Some((
            FieldEdit::Changed,
            format!("{}: {before} -> {after}", field.path),
        )),
        (None, None) => None,
    }
}

/// `1 resource`, `24 resources`.
pub fn resources(count: usize) -> String {
    if count == 1 {
        "1 resource".to_string()
    } else {
        format!("{count} resources")
    }
}
