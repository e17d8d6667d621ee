//! The gateway's script log: what scripts log through `system.util.getLogger(name)` and what
//! the gateway logs about them (`gateway.TimerScripts` errors). Each line goes to `tracing`
//! (target `gateway.TimerScripts`, `gateway.TagChangeScripts`, or `gateway.scripts` with the
//! script logger's name as the `logger` field) and into a bounded in-memory log, the
//! emulator's stand-in for the gateway's log viewer, which tests and diagnostics read.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::super::Gateway;

/// How many lines the in-memory log keeps; older ones are dropped first.
pub const KEPT_LINES: usize = 2000;

/// The logger the gateway reports timer script failures under.
pub const TIMER_SCRIPTS: &str = "gateway.TimerScripts";
/// The logger the gateway reports tag change script failures under.
pub const TAG_CHANGE_SCRIPTS: &str = "gateway.TagChangeScripts";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn parse(name: &str) -> Option<Level> {
        Some(match name.to_ascii_uppercase().as_str() {
            "TRACE" => Level::Trace,
            "DEBUG" => Level::Debug,
            "INFO" => Level::Info,
            "WARN" | "WARNING" => Level::Warn,
            "ERROR" => Level::Error,
            _ => return None,
        })
    }
}

/// One logged line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub level: Level,
    pub logger: String,
    pub message: String,
    /// Gateway clock, milliseconds since the epoch.
    pub time_ms: i64,
}

/// The most recent [`KEPT_LINES`] lines.
#[derive(Debug, Default)]
pub struct ScriptLog {
    lines: Mutex<VecDeque<LogLine>>,
}

impl ScriptLog {
    pub fn lines(&self) -> Vec<LogLine> {
        self.lines
            .lock()
            .expect("script log lock")
            .iter()
            .cloned()
            .collect()
    }

    fn push(&self, line: LogLine) {
        let mut lines = self.lines.lock().expect("script log lock");
        if lines.len() == KEPT_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }
}

/// `tracing` needs constant targets and levels: one call site per pair.
macro_rules! trace_at {
    ($target:literal, $level:expr, $logger:expr, $message:expr) => {
        match $level {
            Level::Trace => tracing::trace!(target: $target, logger = $logger, "{}", $message),
            Level::Debug => tracing::debug!(target: $target, logger = $logger, "{}", $message),
            Level::Info => tracing::info!(target: $target, logger = $logger, "{}", $message),
            Level::Warn => tracing::warn!(target: $target, logger = $logger, "{}", $message),
            Level::Error => tracing::error!(target: $target, logger = $logger, "{}", $message),
        }
    };
}

/// Logs one line as the gateway would, under `logger`.
pub fn emit(gateway: &Gateway, level: Level, logger: &str, message: &str) {
    match logger {
        TIMER_SCRIPTS => trace_at!("gateway.TimerScripts", level, logger, message),
        TAG_CHANGE_SCRIPTS => trace_at!("gateway.TagChangeScripts", level, logger, message),
        _ => trace_at!("gateway.scripts", level, logger, message),
    }
    gateway.script_log.push(LogLine {
        level,
        logger: logger.to_string(),
        message: message.to_string(),
        time_ms: gateway.clock.now_ms(),
    });
}
