//! The text plan: what a person reads in a terminal or a CI log. It reads right without colour;
//! colour (only when asked for) marks the action symbols and diff lines.

use std::fmt::Write;

use owo_colors::OwoColorize;

use super::{FieldEdit, describe_field, summary_line, symbol, verb};
use crate::engine::plan::{Action, Plan, ResourceChange};
use crate::redact::Redactor;

/// Text rendering options.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextStyle {
    pub color: bool,
}

fn paint(style: TextStyle, text: &str, action: Action) -> String {
    if !style.color {
        return text.to_string();
    }
    match action {
        Action::Create => text.green().to_string(),
        Action::Update => text.yellow().to_string(),
        Action::Replace | Action::Delete => text.red().to_string(),
        Action::Forget | Action::NoOp => text.cyan().to_string(),
    }
}

fn paint_diff_line(style: TextStyle, line: &str) -> String {
    if !style.color {
        return line.to_string();
    }
    if line.starts_with('+') && !line.starts_with("+++") {
        line.green().to_string()
    } else if line.starts_with('-') && !line.starts_with("---") {
        line.red().to_string()
    } else if line.starts_with("@@") {
        line.cyan().to_string()
    } else {
        line.to_string()
    }
}

fn render_change(out: &mut String, change: &ResourceChange, style: TextStyle, redactor: &Redactor) {
    let mut heading = format!("  # {} {}", change.address, verb(change));
    if let Some(reason) = &change.reason {
        heading.push_str(&format!(" ({reason})"));
    }
    let _ = writeln!(out, "{heading}");
    if let Some(blocked) = &change.blocked {
        let _ = writeln!(
            out,
            "  # BLOCKED: {}; allow with {}",
            blocked.reason, blocked.allow_with
        );
    }
    let _ = writeln!(
        out,
        "{} {}",
        paint(style, &format!("{:>3}", symbol(change)), change.action),
        change.address
    );
    for field in &change.fields {
        if let Some(diff) = &field.diff {
            let _ = writeln!(
                out,
                "      {} {}:",
                paint(style, "~", Action::Update),
                field.path
            );
            for line in redactor.text(diff).lines() {
                let _ = writeln!(out, "          {}", paint_diff_line(style, line));
            }
            continue;
        }
        let Some((edit, line)) = describe_field(field, redactor) else {
            continue;
        };
        let (mark, action) = match edit {
            FieldEdit::Added => ("+", Action::Create),
            FieldEdit::Removed => ("-", Action::Delete),
            FieldEdit::Changed => ("~", Action::Update),
        };
        let line = paint(style, &format!("      {mark} {line}"), action);
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out);
}

/// The whole plan as text.
pub fn render(plan: &Plan, style: TextStyle, redactor: &Redactor) -> String {
    let mut out = String::new();
    let targets = if plan.targets.is_empty() {
        String::new()
    } else {
        format!(", targets {}", plan.targets.join(" "))
    };
    let _ = writeln!(
        out,
        "lode plan: environment `{}`, manifests at {}{targets}",
        plan.environment,
        plan.source.describe()
    );
    let _ = writeln!(out);
    let shown: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.changes_something() || c.drift)
        .collect();
    if !plan.has_changes() {
        let drifted = shown.len();
        let _ = writeln!(
            out,
            "No changes. The live environment matches the manifests ({}).",
            super::resources(plan.changes.len())
        );
        if drifted > 0 {
            let _ = writeln!(
                out,
                "({drifted} changed outside lode but already match the manifests.)"
            );
        }
        return out;
    }
    let _ = writeln!(out, "lode will perform the following actions:");
    let _ = writeln!(out);
    for change in shown {
        if !change.changes_something() {
            continue;
        }
        render_change(&mut out, change, style, redactor);
    }
    let _ = writeln!(out, "{}", summary_line(&plan.summary));
    out
}
