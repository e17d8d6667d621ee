//! `lode status`: the runbook's health check on one screen (the report is `app::status`):
//! connectivity and auth of each live system within a short deadline, pipeline state, Genie
//! availability, drift in the systems that answer, the lock holder, the last apply, and
//! whether the environment is stopped. Exit 0 when healthy, 1 otherwise.

use std::process::ExitCode;
use std::time::Duration;

use super::printer;
use super::{CommandError, GlobalArgs};
use crate::app::status::{DEFAULT_TIMEOUT, StatusReport};

/// Show the environment's health: connections, pipelines, Genie, drift, lock, last apply, the
/// emergency stop. Works while a system is down (each is asked with a short deadline), while
/// the lock is held and while manifests are broken. Exits 0 when every system answers, the
/// state reads, the environment is not stopped and its pipeline, freshness and latency checks
/// pass; 1 otherwise.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// text (default) or json (the same report as data).
    #[arg(long, value_enum, default_value = "text")]
    pub format: super::TextOrJson,
    /// Seconds to wait for each system (and for the state) before reporting it as not
    /// answering; reading the live objects for drift may take four times that.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
}

pub fn run(global: &GlobalArgs, args: &StatusArgs) -> Result<ExitCode, CommandError> {
    let report = crate::app::status::status(
        &global.session(),
        Duration::from_secs(args.timeout),
        printer(),
    )?;
    if args.format == super::TextOrJson::Json {
        printer().json(&serde_json::to_value(&report).expect("the report serialises"));
    } else {
        printer().data(&render_text(&report));
    }
    Ok(if report.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn render_text(report: &StatusReport) -> String {
    let mut out = String::new();
    let reachable = report.connections.iter().all(|c| c.ok);
    out.push_str(&format!(
        "Environment `{}`: {}\n",
        report.environment,
        match (report.healthy, reachable) {
            (true, _) => "reachable",
            (false, true) => "reachable, NOT healthy",
            (false, false) => "NOT reachable",
        }
    ));
    for connection in &report.connections {
        out.push_str(&format!(
            "  {:<10} {}  {}\n",
            connection.system,
            if connection.ok { "ok  " } else { "FAIL" },
            connection.detail
        ));
    }
    if let Some(stop) = &report.stopped {
        out.push_str(&format!(
            "STOPPED since {} by {} — `lode apply --resume` lifts it\n",
            stop.since, stop.by
        ));
    }
    for pipeline in &report.pipelines {
        out.push_str(&format!(
            "  pipeline {}: {}\n",
            pipeline.address,
            pipeline
                .state
                .as_ref()
                .and_then(|s| s.as_str())
                .unwrap_or("unknown")
        ));
    }
    let health = report.health_checks.as_array().cloned().unwrap_or_default();
    if health.is_empty()
        && report
            .connections
            .iter()
            .any(|c| c.system == "databricks" && c.ok)
    {
        out.push_str(
            "  freshness: no `pipeline_state`, `freshness` or `latency` checks in the manifests\n",
        );
    }
    for result in &health {
        let text = |field: &str| result[field].as_str().unwrap_or("").to_string();
        let message = result["message"]
            .as_str()
            .and_then(|m| m.lines().next())
            .map(|m| format!(" — {m}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {} {}: {} {} (expected {}){message}\n",
            text("type"),
            text("name"),
            text("status"),
            crate::verify::format_value(&result["value"]),
            text("expected"),
        ));
    }
    for space in &report.genie_spaces {
        out.push_str(&format!(
            "  genie {}: {}\n",
            space.address,
            if space.available {
                "available"
            } else {
                "MISSING"
            }
        ));
    }
    out.push_str(&format!(
        "  drift: {} object(s) changed outside lode{}\n",
        report.drift.len(),
        if report.drift.is_empty() {
            String::new()
        } else {
            format!(" ({})", report.drift.join(", "))
        }
    ));
    out.push_str(&format!(
        "  pending: {} change(s) to reach the manifests\n",
        report.pending_changes
    ));
    out.push_str(&format!(
        "  lock: {}\n",
        report.lock.as_deref().unwrap_or("free")
    ));
    match &report.last_apply {
        Some(last) => out.push_str(&format!(
            "  last apply: {} {} {} ({})\n",
            last.started,
            last.operation,
            last.outcome,
            last.summary.as_deref().unwrap_or("")
        )),
        None => out.push_str("  last apply: none\n"),
    }
    for problem in &report.problems {
        out.push_str(&format!("  not measured: {problem}\n"));
    }
    out
}
