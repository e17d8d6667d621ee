//! The Markdown plan for pull-request comments: risky changes first, a table a reviewer can scan,
//! details collapsed per resource, and always under GitHub's 65,536-character comment limit (the
//! tail is summarised with a clear note rather than cut mid-way).

use std::fmt::Write;

use super::{FieldEdit, describe_field, summary_line, symbol, verb};
use crate::engine::plan::{Plan, ResourceChange, Risk};
use crate::redact::Redactor;

/// GitHub rejects comments longer than this.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;
/// Room kept for the closing note.
const RESERVE: usize = 1_500;

/// A marker so CI can find and update its own comment in place.
pub const COMMENT_MARKER: &str = "<!-- lode-plan -->";

fn details(change: &ResourceChange, redactor: &Redactor) -> String {
    let mut body = String::new();
    for field in &change.fields {
        if let Some(diff) = &field.diff {
            let _ = writeln!(body, "~ {}:", field.path);
            body.push_str(&redactor.text(diff));
            if !body.ends_with('\n') {
                body.push('\n');
            }
            continue;
        }
        if let Some((edit, line)) = describe_field(field, redactor) {
            let mark = match edit {
                FieldEdit::Added => "+",
                FieldEdit::Removed => "-",
                FieldEdit::Changed => "!",
            };
            let _ = writeln!(body, "{mark} {line}");
        }
    }
    let summary = format!(
        "<code>{} {}</code> {}",
        symbol(change).trim(),
        change.address,
        verb(change)
    );
    if body.is_empty() {
        return format!(
            "<details><summary>{summary}</summary>\n\nNo field changes.\n</details>\n\n"
        );
    }
    // A fence longer than any backtick run inside cannot be closed early by the content.
    let fence = "`".repeat(
        body.split('\n')
            .map(|l| l.chars().take_while(|c| *c == '`').count())
            .max()
            .unwrap_or(0)
            .max(2)
            + 1,
    );
    format!("<details><summary>{summary}</summary>\n\n{fence}diff\n{body}{fence}\n</details>\n\n")
}

fn risk_label(risk: Risk) -> &'static str {
    match risk {
        Risk::High => "**high**",
        Risk::Medium => "medium",
        Risk::Low => "low",
    }
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The plan as a pull-request comment.
pub fn render(plan: &Plan, redactor: &Redactor) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{COMMENT_MARKER}");
    let _ = writeln!(out, "### lode plan for `{}`", plan.environment);
    let _ = writeln!(out);
    let _ = writeln!(out, "Manifests at `{}`.", plan.source.describe());
    let _ = writeln!(out);
    if !plan.has_changes() {
        let _ = writeln!(
            out,
            "**No changes.** The live environment matches the manifests ({}).",
            super::resources(plan.changes.len())
        );
        return out;
    }
    let _ = writeln!(out, "**{}**", summary_line(&plan.summary));
    let _ = writeln!(out);
    let mut changes: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.changes_something())
        .collect();
    // Risky first; the plan order (dependency order) breaks ties.
    changes.sort_by_key(|c| {
        (
            std::cmp::Reverse(c.blocked.is_some()),
            std::cmp::Reverse(c.risk),
        )
    });
    if plan.summary.blocked > 0 {
        let _ = writeln!(out, "> [!WARNING]");
        let _ = writeln!(
            out,
            "> {} change(s) are blocked by a guard and will not be applied:",
            plan.summary.blocked
        );
        for change in changes.iter().filter(|c| c.blocked.is_some()) {
            let blocked = change.blocked.as_ref().expect("filtered");
            let _ = writeln!(
                out,
                "> - `{}`: {} (allow with `{}`)",
                change.address, blocked.reason, blocked.allow_with
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "| Risk | Action | Resource | Why |");
    let _ = writeln!(out, "|---|---|---|---|");
    let mut rows_left_out = 0;
    for change in &changes {
        let row = format!(
            "| {} | {} | `{}` | {} |\n",
            risk_label(change.risk),
            if change.blocked.is_some() {
                "blocked ".to_string() + change.action.as_str()
            } else {
                change.action.as_str().to_string()
            },
            change.address,
            escape_cell(change.reason.as_deref().unwrap_or(""))
        );
        if out.len() + row.len() > GITHUB_COMMENT_LIMIT / 2 {
            rows_left_out += 1;
            continue;
        }
        out.push_str(&row);
    }
    if rows_left_out > 0 {
        let _ = writeln!(out, "| | | … and {rows_left_out} more | |");
    }
    let _ = writeln!(out);
    let mut details_left_out = 0;
    for change in &changes {
        let block = details(change, redactor);
        if out.len() + block.len() + RESERVE > GITHUB_COMMENT_LIMIT {
            details_left_out += 1;
            continue;
        }
        out.push_str(&block);
    }
    if details_left_out > 0 || rows_left_out > 0 {
        let _ = writeln!(
            out,
            "> [!NOTE]\n> This plan is too large for one comment: details of {details_left_out} resource(s) were left out to stay under GitHub's 65,536-character limit. Run `lode plan --env {}` for the full plan.",
            plan.environment
        );
    }
    out
}
