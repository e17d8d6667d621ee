//! The engine: pure planning and the executor. It works on plain data — `Desired` from the
//! manifests, `Live` objects from providers, `State` — and knows nothing about HTTP, files or
//! rendering. `plan` is `apply` without the execute step: [`apply::apply_plan`] only ever runs a
//! [`plan::Plan`] value.

pub mod apply;
pub mod canonical;
pub mod graph;
pub mod plan;
pub mod pull;
pub mod refs;
pub mod saved_plan;

/// Now, as RFC 3339 UTC with seconds (for state, locks and plans).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests;
