//! The gateway's script runtime: runs the enabled gateway timer scripts of every enabled
//! project on their schedule, and the tag change scripts when a tag they watch changes, in an
//! embedded Python interpreter ([`host`]). Only a *live* gateway has one (`GatewayConfig::live`,
//! `lode emulator serve --live`); the in-process emulators of ordinary commands run nothing.
//!
//! One thread per gateway owns the interpreter (it is `!Send`), so shared and dedicated timers
//! never overlap here, where a gateway would run dedicated ones on threads of their own. The
//! thread follows the loaded view: after a scan, a changed script is recompiled, a disabled or
//! deleted one stops, a new one starts; an unchanged one keeps its schedule and its globals.
//! Fixed Rate timers keep their period and skip runs they are late for (no catch-up burst);
//! Fixed Delay timers wait their delay after each run; the first run comes one delay after a
//! script is loaded. A failing script is logged the way the gateway logs it (the traceback
//! under `gateway.TimerScripts`, repeats of the same error at debug level) and the others go
//! on; a runaway one is stopped by [`watchdog`].
//!
//! Deterministic mode ([`Deterministic`]) is for tests and snapshots: the gateway clock is
//! virtual and `random` starts from a fixed seed. Nothing runs by itself; [`ScriptRuntime::advance`]
//! moves the clock and runs every script that falls due on the way, in order, and returns when
//! they are done.

pub mod host;
pub mod log;
pub mod resources;
pub mod watchdog;

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustpython_vm::PyObjectRef;
use tokio::sync::broadcast;

use super::Shared;
use super::live_tags::{TagValue, normalize};
use super::tag_events::TagChange;
use host::{Host, TagChangeCall};
use log::{Level, TAG_CHANGE_SCRIPTS, TIMER_SCRIPTS, emit};
use resources::{ScriptKind, ScriptResource};

/// How a gateway runs its scripts.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptOptions {
    /// The longest a script may run before it is stopped.
    pub time_limit: Duration,
    /// A virtual clock and a fixed seed instead of the system clock and entropy.
    pub deterministic: Option<Deterministic>,
}

impl Default for ScriptOptions {
    fn default() -> Self {
        ScriptOptions {
            time_limit: DEFAULT_TIME_LIMIT,
            deterministic: None,
        }
    }
}

/// The default time limit of a script run.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(5);

/// Deterministic mode: the virtual clock's start and the `random` seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deterministic {
    pub start_ms: i64,
    pub seed: u64,
}

/// How soon a running gateway notices a changed view or a tag change for a tag change script
/// while no timer is due.
const POLL: Duration = Duration::from_millis(50);

/// The most tag changes handled in one go, so that tag change scripts that keep changing each
/// other's tags cannot starve the timers.
const MAX_CHANGES_AT_ONCE: usize = 10_000;

/// What one script has done so far.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptStatus {
    pub project: String,
    pub name: String,
    /// `timer` or `tag change`.
    pub kind: &'static str,
    pub runs: u64,
    pub failures: u64,
    /// The traceback of the last run, if it failed.
    pub last_error: Option<String>,
    /// Wall time of the last run, in milliseconds.
    pub last_run_ms: f64,
    /// Wall time of all runs, in milliseconds.
    pub total_run_ms: f64,
}

/// Why the clock of a script runtime could not be advanced.
#[derive(Debug, thiserror::Error)]
pub enum AdvanceScriptClockError {
    #[error("the script runtime runs on the system clock: only a deterministic one is advanced")]
    NotDeterministic,
    #[error("the script runtime has stopped")]
    Stopped,
}

enum Command {
    Advance(Duration, mpsc::Sender<()>),
    Status(mpsc::Sender<Vec<ScriptStatus>>),
    Stop,
}

/// A gateway's script runtime; dropping it stops the script thread (after the script that
/// runs now, or its time limit).
pub struct ScriptRuntime {
    commands: mpsc::Sender<Command>,
    deterministic: bool,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Why the script runtime could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the gateway's script thread: {0}")]
pub struct StartScriptRuntimeError(#[from] std::io::Error);

impl ScriptRuntime {
    /// Starts the runtime of `gateway` with its configured [`ScriptOptions`].
    pub fn start(gateway: Shared) -> Result<ScriptRuntime, StartScriptRuntimeError> {
        let deterministic = gateway.config.scripts.deterministic.is_some();
        let (commands, inbox) = mpsc::channel();
        let (ready, started) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("gateway-scripts".into())
            .spawn(move || script_thread(gateway, &inbox, ready))?;
        // Once this returns the scripts are loaded and watch the tag change feed: nothing a
        // caller writes after it goes unseen.
        let _ = started.recv();
        Ok(ScriptRuntime {
            commands,
            deterministic,
            thread: Some(thread),
        })
    }

    /// Deterministic mode: moves the virtual clock `by` forward, running every script that
    /// falls due on the way; returns when they have run.
    pub fn advance(&self, by: Duration) -> Result<(), AdvanceScriptClockError> {
        if !self.deterministic {
            return Err(AdvanceScriptClockError::NotDeterministic);
        }
        let (done, wait) = mpsc::channel();
        self.commands
            .send(Command::Advance(by, done))
            .map_err(|_| AdvanceScriptClockError::Stopped)?;
        wait.recv().map_err(|_| AdvanceScriptClockError::Stopped)
    }

    /// What every loaded script has done so far (waits for the script that runs now).
    pub fn status(&self) -> Vec<ScriptStatus> {
        let (reply, answer) = mpsc::channel();
        if self.commands.send(Command::Status(reply)).is_err() {
            return Vec::new();
        }
        answer.recv().unwrap_or_default()
    }
}

impl Drop for ScriptRuntime {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn script_thread(gateway: Shared, inbox: &mpsc::Receiver<Command>, ready: mpsc::Sender<()>) {
    let deterministic = gateway.config.scripts.deterministic;
    host::set_context(gateway.clone(), deterministic.map(|d| d.seed));
    let mut engine = match Engine::new(gateway.clone()) {
        Ok(engine) => engine,
        Err(error) => {
            emit(
                &gateway,
                Level::Error,
                TIMER_SCRIPTS,
                &format!("The gateway script runtime did not start: {error}"),
            );
            host::clear_context();
            let _ = ready.send(());
            return;
        }
    };
    engine.refresh();
    let _ = ready.send(());
    loop {
        engine.refresh();
        let command = if deterministic.is_some() {
            inbox.recv().ok()
        } else {
            match inbox.recv_timeout(engine.wait()) {
                Ok(command) => Some(command),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    engine.refresh();
                    engine.run_due(engine.gateway.clock.now_ms());
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => None,
            }
        };
        match command {
            None | Some(Command::Stop) => break,
            Some(Command::Advance(by, done)) => {
                // What changed while the thread waited (a scan, a write) comes first.
                engine.refresh();
                engine.advance(by);
                let _ = done.send(());
            }
            Some(Command::Status(reply)) => {
                let _ = reply.send(engine.status());
            }
        }
    }
    drop(engine);
    host::clear_context();
}

/// One loaded script.
struct Loaded {
    resource: ScriptResource,
    /// The script's function, or why it did not compile.
    function: Result<PyObjectRef, String>,
    /// Timers: when the next run is due (gateway clock, ms).
    next_due_ms: i64,
    /// Tag change scripts: the lookup keys of the tags watched.
    watched: Vec<String>,
    runs: u64,
    failures: u64,
    last_error: Option<String>,
    last_run_ms: f64,
    total_run_ms: f64,
}

struct Engine {
    gateway: Shared,
    host: Option<Host>,
    watchdog: watchdog::Watchdog,
    generation: Option<u64>,
    scripts: Vec<Loaded>,
    events: broadcast::Receiver<TagChange>,
    /// The last value, quality and timestamp seen of each watched tag (`previousValue`).
    last_seen: HashMap<String, (TagValue, i32, i64)>,
}

fn same_script(a: &ScriptResource, b: &ScriptResource) -> bool {
    a.project == b.project
        && a.name == b.name
        && std::mem::discriminant(&a.kind) == std::mem::discriminant(&b.kind)
}

impl Engine {
    fn new(gateway: Shared) -> Result<Engine, String> {
        let host = Host::new(gateway.clock.is_virtual())?;
        let watchdog = watchdog::Watchdog::start(gateway.config.scripts.time_limit, host.signals())
            .map_err(|e| format!("cannot start the watchdog thread: {e}"))?;
        let events = gateway.tag_events.subscribe();
        Ok(Engine {
            gateway,
            host: Some(host),
            watchdog,
            generation: None,
            scripts: Vec::new(),
            events,
            last_seen: HashMap::new(),
        })
    }

    fn clock_ms(&self) -> i64 {
        self.gateway.clock.now_ms()
    }

    /// Follows the loaded view, then handles the tag changes that came in.
    fn refresh(&mut self) {
        let generation = self.gateway.view_generation();
        if self.generation != Some(generation) {
            self.generation = Some(generation);
            let wanted = {
                let view = self.gateway.view();
                resources::enabled_scripts(&view)
            };
            self.reload(wanted);
        }
        self.handle_tag_changes();
    }

    fn reload(&mut self, wanted: Vec<ScriptResource>) {
        let now = self.clock_ms();
        let mut previous = std::mem::take(&mut self.scripts);
        let mut started = Vec::new();
        for resource in wanted {
            let kept = previous
                .iter()
                .position(|old| same_script(&old.resource, &resource) && old.resource == resource)
                .map(|i| previous.swap_remove(i));
            match kept {
                Some(script) => self.scripts.push(script),
                None => {
                    let script = self.load(resource, now);
                    started.push(self.scripts.len());
                    self.scripts.push(script);
                }
            }
        }
        // A tag change script gets an initial change for each watched tag when it starts.
        for index in started {
            if matches!(
                self.scripts[index].resource.kind,
                ScriptKind::TagChange { .. }
            ) {
                self.initial_changes(index);
            }
        }
    }

    fn load(&mut self, resource: ScriptResource, now: i64) -> Loaded {
        let (next_due_ms, watched) = match &resource.kind {
            ScriptKind::Timer { delay_ms, .. } => (now + *delay_ms as i64, Vec::new()),
            ScriptKind::TagChange { paths, .. } => {
                (i64::MAX, paths.iter().map(|p| normalize(p).1).collect())
            }
        };
        let function = self.compile(&resource);
        Loaded {
            resource,
            function,
            next_due_ms,
            watched,
            runs: 0,
            failures: 0,
            last_error: None,
            last_run_ms: 0.0,
            total_run_ms: 0.0,
        }
    }

    fn compile(&mut self, resource: &ScriptResource) -> Result<PyObjectRef, String> {
        let Some(host) = self.host.as_mut() else {
            return Err("the interpreter could not be built".into());
        };
        self.watchdog.arm();
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            host.load(
                &resource.project,
                &resource.filename(),
                &resource.source,
                resource.function(),
            )
        }))
        .unwrap_or_else(|_| Err("the script file ran past its time limit while loading".into()));
        self.watchdog.disarm();
        loaded
    }

    /// When the thread must wake up next on a running gateway.
    fn wait(&self) -> Duration {
        let now = self.clock_ms();
        self.scripts
            .iter()
            .map(|s| s.next_due_ms)
            .min()
            .map(|due| Duration::from_millis(due.saturating_sub(now).max(0) as u64))
            .unwrap_or(POLL)
            .min(POLL)
    }

    /// The timer that is due first, at or before `until`.
    fn next_due(&self, until: i64) -> Option<usize> {
        self.scripts
            .iter()
            .enumerate()
            .filter(|(_, s)| s.next_due_ms <= until)
            .min_by_key(|(_, s)| s.next_due_ms)
            .map(|(i, _)| i)
    }

    /// Runs every timer due by `now` (system clock).
    fn run_due(&mut self, now: i64) {
        while let Some(index) = self.next_due(now) {
            self.run_timer(index);
            self.handle_tag_changes();
        }
    }

    /// Deterministic mode: moves the virtual clock, running what falls due on the way.
    fn advance(&mut self, by: Duration) {
        let target = self.clock_ms() + by.as_millis() as i64;
        while let Some(index) = self.next_due(target) {
            let due = self.scripts[index].next_due_ms;
            self.gateway.clock.set_ms(due);
            self.run_timer(index);
            self.handle_tag_changes();
        }
        self.gateway.clock.set_ms(target);
        self.handle_tag_changes();
    }

    fn run_timer(&mut self, index: usize) {
        let ScriptKind::Timer {
            delay_ms,
            fixed_delay,
        } = self.scripts[index].resource.kind
        else {
            return;
        };
        let delay = delay_ms as i64;
        self.invoke(index, None);
        let now = self.clock_ms();
        let Some(script) = self.scripts.get_mut(index) else {
            return;
        };
        if fixed_delay {
            script.next_due_ms = now + delay;
        } else {
            script.next_due_ms += delay;
            // Fixed rate does not stack up runs it missed while a run was still going.
            while script.next_due_ms <= now {
                script.next_due_ms += delay;
            }
        }
    }

    /// Runs one script under the watchdog; a tag change script with its change.
    fn invoke(&mut self, index: usize, change: Option<&TagChangeCall<'_>>) {
        let function = match &self.scripts[index].function {
            Ok(function) => Ok(function.clone()),
            Err(error) => Err(error.clone()),
        };
        let started = Instant::now();
        let mut rebuilt = false;
        let outcome = match (function, self.host.as_ref()) {
            (Err(compile_error), _) => Err(compile_error),
            (Ok(_), None) => Err("the interpreter could not be built".into()),
            (Ok(function), Some(host)) => {
                self.watchdog.arm();
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match change {
                        None => host.call_timer(&function),
                        Some(change) => host.call_tag_change(&function, change),
                    }));
                self.watchdog.disarm();
                outcome.unwrap_or_else(|_| {
                    rebuilt = true;
                    Err(format!(
                        "ScriptTimeout: the script ignored its time limit of {} ms and was \
                         stopped by force; the interpreter was rebuilt (getGlobals() starts \
                         empty again, as after a gateway restart)",
                        self.gateway.config.scripts.time_limit.as_millis()
                    ))
                })
            }
        };
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        let script = &mut self.scripts[index];
        script.runs += 1;
        script.last_run_ms = elapsed;
        script.total_run_ms += elapsed;
        match outcome {
            Ok(()) => script.last_error = None,
            Err(error) => {
                script.failures += 1;
                let repeated = script.last_error.as_deref() == Some(error.as_str());
                let resource = &script.resource;
                let (logger, header) = match (&resource.kind, change) {
                    (ScriptKind::Timer { delay_ms, .. }, _) => (
                        TIMER_SCRIPTS,
                        format!(
                            "Error executing global timer script: {}/{} @{delay_ms}ms.",
                            resource.project, resource.name
                        ),
                    ),
                    (ScriptKind::TagChange { .. }, change) => (
                        TAG_CHANGE_SCRIPTS,
                        format!(
                            "Error executing tag change script {}/{} for {}.",
                            resource.project,
                            resource.name,
                            change.map(|c| c.path).unwrap_or("a tag")
                        ),
                    ),
                };
                let (level, message) = if repeated {
                    (Level::Debug, format!("{header}\n{error}"))
                } else {
                    (
                        Level::Error,
                        format!(
                            "{header} Repeat errors of this type will be logged as 'debug' \
                             messages.\n{error}"
                        ),
                    )
                };
                script.last_error = Some(error);
                emit(&self.gateway, level, logger, &message);
            }
        }
        if rebuilt {
            self.rebuild();
        }
    }

    /// A new interpreter after a forced stop: RustPython does not promise a consistent state
    /// after an unwind. Every script is compiled again and keeps its schedule.
    fn rebuild(&mut self) {
        self.host = None;
        match Host::new(self.gateway.clock.is_virtual()) {
            Ok(host) => {
                self.watchdog.set_signals(host.signals());
                self.host = Some(host);
            }
            Err(error) => {
                emit(
                    &self.gateway,
                    Level::Error,
                    TIMER_SCRIPTS,
                    &format!("The gateway script interpreter could not be rebuilt: {error}"),
                );
                return;
            }
        }
        for index in 0..self.scripts.len() {
            let resource = self.scripts[index].resource.clone();
            self.scripts[index].function = self.compile(&resource);
        }
    }

    fn status(&self) -> Vec<ScriptStatus> {
        self.scripts
            .iter()
            .map(|s| ScriptStatus {
                project: s.resource.project.clone(),
                name: s.resource.name.clone(),
                kind: match s.resource.kind {
                    ScriptKind::Timer { .. } => "timer",
                    ScriptKind::TagChange { .. } => "tag change",
                },
                runs: s.runs,
                failures: s.failures,
                last_error: s.last_error.clone(),
                last_run_ms: s.last_run_ms,
                total_run_ms: s.total_run_ms,
            })
            .collect()
    }

    // -----------------------------------------------------------------------------------------
    // Tag change scripts

    /// Runs a starting tag change script once for each watched tag, with `initialChange`.
    fn initial_changes(&mut self, index: usize) {
        let paths = match &self.scripts[index].resource.kind {
            ScriptKind::TagChange { paths, .. } => paths.clone(),
            ScriptKind::Timer { .. } => return,
        };
        let reads = self.gateway.read_tags(&paths);
        for read in reads {
            let key = normalize(&read.path).1;
            let current = (read.value.clone(), read.quality, read.timestamp_ms);
            self.last_seen.insert(key, current.clone());
            if read.data_type.is_none() {
                continue;
            }
            let execution_count = self.scripts[index].runs + 1;
            let call = TagChangeCall {
                path: &read.path,
                new: current,
                previous: None,
                is_date: read.data_type.as_deref() == Some("DateTime"),
                initial: true,
                execution_count,
            };
            self.invoke(index, Some(&call));
        }
    }

    /// Handles the tag changes published since the last call.
    fn handle_tag_changes(&mut self) {
        let watching = self
            .scripts
            .iter()
            .any(|s| matches!(s.resource.kind, ScriptKind::TagChange { .. }));
        for _ in 0..MAX_CHANGES_AT_ONCE {
            let change = match self.events.try_recv() {
                Ok(change) => change,
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    if watching {
                        emit(
                            &self.gateway,
                            Level::Warn,
                            TAG_CHANGE_SCRIPTS,
                            &format!(
                                "Tag change scripts missed {missed} tag changes (the feed ran ahead)"
                            ),
                        );
                    }
                    continue;
                }
                Err(_) => return,
            };
            if watching {
                self.tag_changed(&change);
            }
        }
    }

    fn tag_changed(&mut self, change: &TagChange) {
        let key = normalize(&change.path).1;
        let listeners: Vec<usize> = self
            .scripts
            .iter()
            .enumerate()
            .filter(|(_, s)| s.watched.contains(&key))
            .map(|(i, _)| i)
            .collect();
        if listeners.is_empty() {
            return;
        }
        let current = (
            TagValue::from_json(&change.value),
            change.quality,
            change.timestamp_ms,
        );
        let previous = self.last_seen.insert(key, current.clone());
        let kind = match &previous {
            Some((value, _, _)) if *value != current.0 => "ValueChange",
            None => "ValueChange",
            Some((_, quality, _)) if *quality != current.1 => "QualityChange",
            Some(_) => "TimestampChange",
        };
        for index in listeners {
            let wanted = match &self.scripts[index].resource.kind {
                ScriptKind::TagChange { change_types, .. } => {
                    change_types.is_empty() || change_types.iter().any(|t| t == kind)
                }
                ScriptKind::Timer { .. } => false,
            };
            if !wanted {
                continue;
            }
            let execution_count = self.scripts[index].runs + 1;
            let call = TagChangeCall {
                path: &change.path,
                new: current.clone(),
                previous: previous.clone(),
                is_date: change.data_type == "DateTime",
                initial: false,
                execution_count,
            };
            self.invoke(index, Some(&call));
        }
    }
}

#[cfg(test)]
mod tests;
