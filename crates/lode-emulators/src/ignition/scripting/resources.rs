//! The gateway event scripts the loaded view defines, as 8.3 stores them in a project:
//! `ignition/timer/<Name>/handleTimerEvent.py` (attributes `delay`, `fixedDelay`,
//! `sharedThread`, `enabled`) and `ignition/tag-change/<Name>/onTagChange.py` (attributes
//! `paths`, `changeTypes`, `enabled`), with the gateway's defaults for missing attributes
//! (`delay` 1000 ms, Fixed Delay, shared thread, enabled). Scripts of a disabled project do not
//! run, so they are not listed.

use serde_json::Value;

use super::super::scan::LoadedView;

/// What kind of gateway event script, with its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptKind {
    Timer {
        delay_ms: u64,
        /// Fixed Delay waits `delay` after each run; Fixed Rate (`false`) keeps a fixed period
        /// and skips runs it is too late for.
        fixed_delay: bool,
    },
    TagChange {
        /// The tag paths it watches, as configured.
        paths: Vec<String>,
        /// `ValueChange`, `QualityChange`, `TimestampChange`; empty means all of them.
        change_types: Vec<String>,
    },
}

/// One enabled script of one project.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptResource {
    pub project: String,
    pub name: String,
    pub kind: ScriptKind,
    /// The payload file as stored: `def handleTimerEvent():` and the tab-indented body.
    pub source: String,
}

impl ScriptResource {
    /// What tracebacks call the file: `<TimerScript:mining_demo/Physics Simulation>`.
    pub fn filename(&self) -> String {
        let kind = match self.kind {
            ScriptKind::Timer { .. } => "TimerScript",
            ScriptKind::TagChange { .. } => "TagChangeScript",
        };
        format!("<{kind}:{}/{}>", self.project, self.name)
    }

    /// The function the file defines.
    pub fn function(&self) -> &'static str {
        match self.kind {
            ScriptKind::Timer { .. } => "handleTimerEvent",
            ScriptKind::TagChange { .. } => "onTagChange",
        }
    }
}

const TIMER: &str = "ignition/timer/";
const TAG_CHANGE: &str = "ignition/tag-change/";

/// Every enabled timer and tag change script of every enabled project, by project and name.
pub fn enabled_scripts(view: &LoadedView) -> Vec<ScriptResource> {
    let mut scripts = Vec::new();
    for (key, unit) in &view.project_units {
        let Some((project, rest)) = key.split_once('/') else {
            continue;
        };
        let project_enabled = view
            .projects
            .get(project)
            .and_then(|p| p.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        if !project_enabled {
            continue;
        }
        let (name, file, timer) = if let Some(name) = rest.strip_prefix(TIMER) {
            (name, "handleTimerEvent.py", true)
        } else if let Some(name) = rest.strip_prefix(TAG_CHANGE) {
            (name, "onTagChange.py", false)
        } else {
            continue;
        };
        if name.contains('/') {
            continue;
        }
        let empty = serde_json::Map::new();
        let attributes = unit
            .manifest
            .as_ref()
            .and_then(|m| m.get("attributes"))
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if attributes.get("enabled").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let Some(bytes) = unit.files.get(file) else {
            continue;
        };
        let strings = |key: &str| -> Vec<String> {
            attributes
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        let kind = if timer {
            ScriptKind::Timer {
                delay_ms: attributes
                    .get("delay")
                    .and_then(Value::as_u64)
                    .unwrap_or(1000)
                    .max(1),
                fixed_delay: attributes
                    .get("fixedDelay")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
            }
        } else {
            ScriptKind::TagChange {
                paths: strings("paths"),
                change_types: strings("changeTypes"),
            }
        };
        scripts.push(ScriptResource {
            project: project.to_string(),
            name: name.to_string(),
            kind,
            source: String::from_utf8_lossy(bytes).replace("\r\n", "\n"),
        });
    }
    scripts
}
