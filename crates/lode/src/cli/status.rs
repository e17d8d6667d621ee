//! `lode status`: the runbook's health check on one screen — connectivity and auth of each live
//! system, pipeline state, Genie availability, drift, the lock holder, the last apply, and
//! whether the environment is stopped. Pipeline last updates and data freshness come from the
//! manifests' `pipeline_state` and `freshness` checks (the same measurement `lode verify` makes),
//! so status and verify can never disagree.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::printer;
use super::{CommandError, GlobalArgs};
use crate::engine::plan::{Action, PlanOptions};
use crate::manifest::kinds::CheckType;
use crate::manifest::{Check, Kind};
use crate::verify::{CheckResult, VerifyOptions, format_value};

/// Show the environment's health: connections, pipelines, Genie, drift, lock, last apply.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// text (default) or json.
    #[arg(long, value_enum, default_value = "text")]
    pub format: super::TextOrJson,
}

pub fn run(global: &GlobalArgs, args: &StatusArgs) -> Result<ExitCode, CommandError> {
    let session = super::open_session(global, None)?;
    let connections: Vec<Value> = session
        .providers
        .check_connections()
        .into_iter()
        .map(|(system, result)| match result {
            Ok(detail) => json!({"system": system, "ok": true, "detail": detail}),
            Err(error) => json!({"system": system, "ok": false, "detail": session.redactor.text(&error.to_string())}),
        })
        .collect();
    let state = session.load_state()?;
    let (plan, live) = session.plan(&state, &PlanOptions::default())?;
    let pipelines: Vec<Value> = live
        .iter()
        .filter(|(a, _)| a.kind == Kind::Pipeline)
        .map(
            |(a, l)| json!({"address": a.to_string(), "id": l.id, "state": l.outputs.get("state")}),
        )
        .collect();
    let health_checks: Vec<Check> = session
        .loaded
        .desired
        .checks
        .iter()
        .filter(|c| {
            matches!(
                c.spec.check_type,
                CheckType::PipelineState | CheckType::Freshness
            )
        })
        .cloned()
        .collect();
    let health: Vec<CheckResult> = if health_checks.is_empty() {
        Vec::new()
    } else {
        crate::app::verify::verify_session(
            &session,
            &state,
            &health_checks,
            &VerifyOptions::default(),
        )
    };
    let genie: Vec<Value> = session
        .loaded
        .desired
        .resources
        .keys()
        .filter(|a| a.kind == Kind::GenieSpace)
        .map(|a| json!({"address": a.to_string(), "available": live.contains_key(a), "id": live.get(a).and_then(|l| l.id.clone())}))
        .collect();
    let drifted: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.drift)
        .map(|c| c.address.to_string())
        .collect();
    let pending = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.adopt)
        .count();
    let lock = session.backend.lock_holder()?.map(|l| l.describe());
    let journal = session.backend.journal()?;
    let last_apply = journal
        .iter()
        .rev()
        .find(|e| matches!(e.operation.as_str(), "apply" | "rollback" | "restore" | "destroy"))
        .map(|e| json!({"started": e.started, "operation": e.operation, "outcome": e.outcome, "revision": e.revision, "summary": e.summary}));
    let stopped = session
        .backend
        .stopped()?
        .map(|s| json!({"since": s.started, "by": s.who}));
    let healthy = connections.iter().all(|c| c["ok"] == true);
    let report = json!({
        "environment": session.env_name,
        "healthy": healthy,
        "connections": connections,
        "pipelines": pipelines,
        "genie_spaces": genie,
        "health_checks": session.redactor.value(&serde_json::to_value(&health).expect("results serialise")),
        "drift": drifted,
        "pending_changes": pending,
        "lock": lock,
        "last_apply": last_apply,
        "stopped": stopped,
        "state_serial": state.serial,
    });
    if args.format == super::TextOrJson::Json {
        printer().json(&serde_json::to_value(&report).expect("JSON serialises"));
    } else {
        printer().data(&format!(
            "Environment `{}`: {}\n",
            session.env_name,
            if healthy {
                "reachable"
            } else {
                "NOT reachable"
            }
        ));
        for connection in report["connections"].as_array().into_iter().flatten() {
            printer().data(&format!(
                "  {:<10} {}  {}\n",
                connection["system"].as_str().unwrap_or(""),
                if connection["ok"] == true {
                    "ok  "
                } else {
                    "FAIL"
                },
                connection["detail"].as_str().unwrap_or("")
            ));
        }
        if let Some(stop) = report["stopped"].as_object() {
            printer().data(&format!(
                "STOPPED since {} by {} — `lode apply --resume` lifts it\n",
                stop["since"].as_str().unwrap_or(""),
                stop["by"].as_str().unwrap_or("")
            ));
        }
        for pipeline in report["pipelines"].as_array().into_iter().flatten() {
            printer().data(&format!(
                "  pipeline {}: {}\n",
                pipeline["address"].as_str().unwrap_or(""),
                pipeline["state"].as_str().unwrap_or("unknown")
            ));
        }
        if health.is_empty() {
            printer()
                .data("  freshness: no `pipeline_state` or `freshness` checks in the manifests\n");
        }
        for result in &health {
            printer().data(&format!(
                "  {} {}: {} {} (expected {}){}\n",
                result.check_type.as_str(),
                result.name,
                result.status.as_str(),
                format_value(&result.value),
                result.expected,
                result
                    .message
                    .as_deref()
                    .and_then(|m| m.lines().next())
                    .map(|m| format!(" — {}", session.redactor.text(m)))
                    .unwrap_or_default()
            ));
        }
        for space in report["genie_spaces"].as_array().into_iter().flatten() {
            printer().data(&format!(
                "  genie {}: {}\n",
                space["address"].as_str().unwrap_or(""),
                if space["available"] == true {
                    "available"
                } else {
                    "MISSING"
                }
            ));
        }
        printer().data(&format!(
            "  drift: {} object(s) changed outside lode{}\n",
            drifted.len(),
            if drifted.is_empty() {
                String::new()
            } else {
                format!(" ({})", drifted.join(", "))
            }
        ));
        printer().data(&format!(
            "  pending: {pending} change(s) to reach the manifests\n"
        ));
        printer().data(&format!("  lock: {}\n", lock.as_deref().unwrap_or("free")));
        match &last_apply {
            Some(last) => printer().data(&format!(
                "  last apply: {} {} {} ({})\n",
                last["started"].as_str().unwrap_or(""),
                last["operation"].as_str().unwrap_or(""),
                last["outcome"].as_str().unwrap_or(""),
                last["summary"].as_str().unwrap_or("")
            )),
            None => printer().data("  last apply: none\n"),
        }
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
