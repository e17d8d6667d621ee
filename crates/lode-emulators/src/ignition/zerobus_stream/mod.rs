//! The Zerobus connector's direct subscriptions, running: while the gateway is live and the
//! stored configuration is enabled, the changes of the selected tags ([`selection`]) become
//! records ([`record`]) in a bounded in-memory queue (`maxQueueSize`, at most
//! `maxEventsPerSecond`), and every `batchFlushIntervalMs` one batch of at most `batchSize`
//! queued records goes to Zerobus Ingest ([`sink`]), as the module's `TagSubscriptionService`
//! flushes on a fixed-rate timer. A batch stays queued until it is acknowledged: a failed
//! attempt is retried `maxRetries` times `retryBackoffMs` apart when the failure may pass, then
//! the stream counts as disconnected and reconnects at most once per `max(1 s,
//! retryBackoffMs)`, as the module's `ensureConnected` does; a queue that is full drops new
//! changes, counted. Saving a different configuration restarts the stream with it; disabling
//! it stops the stream, and what was still queued is counted as dropped.
//!
//! Counters run from the gateway's start across restarts of the stream; [`StreamStatus`] is what
//! the servlet's health and diagnostics report.

pub mod record;
pub mod selection;
pub mod sink;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::tag_events::{TagChange, TagEvents};
use record::{ChangeFilter, RecordSettings};
use selection::TagSelection;
use sink::{ZerobusSink, ZerobusTarget};

/// What has happened to the changes and records since the gateway started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounters {
    /// Changes of selected tags queued as records.
    pub events_received: u64,
    /// Changes of selected tags the edge filter (deadband / only on change) held back.
    pub events_filtered: u64,
    /// Records put in insert requests, once per attempt.
    pub records_sent: u64,
    /// Records Zerobus acknowledged as durable.
    pub records_acknowledged: u64,
    /// Records in attempts that failed (they stay queued for the next attempt).
    pub records_failed: u64,
    /// Changes never queued (queue full, over `maxEventsPerSecond`, a subscription that fell
    /// behind) and records still queued or in flight when the stream stopped.
    pub records_dropped: u64,
    pub batches_acknowledged: u64,
    pub send_failures: u64,
}

/// The stream as the health and diagnostics routes report it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamStatus {
    pub running: bool,
    pub connected: bool,
    pub target_table: String,
    pub endpoint: String,
    pub selection: String,
    pub compression_mode: String,
    pub batch_size: usize,
    pub flush_interval_ms: u64,
    pub max_queue_size: usize,
    pub queued: usize,
    pub counters: StreamCounters,
    /// The last failure since the last success, in words.
    pub last_error: Option<String>,
    /// What of the configuration the emulator does not reproduce.
    pub notes: Vec<String>,
    pub last_acknowledged_ms: Option<i64>,
}

#[derive(Default)]
struct StreamState {
    /// Bumped at every start and stop: a task of another generation changes nothing.
    generation: u64,
    status: StreamStatus,
    queue: VecDeque<Value>,
}

/// The running stream's tasks and the settings they run with ([`stream_settings`]).
struct CurrentStream {
    config: Value,
    tasks: Vec<JoinHandle<()>>,
}

/// The connector's runtime on one gateway.
#[derive(Default)]
pub struct ZerobusStream {
    state: Arc<Mutex<StreamState>>,
    current: Mutex<Option<CurrentStream>>,
}

/// The timing and bounds the configuration sets.
#[derive(Debug, Clone)]
struct StreamSettings {
    batch_size: usize,
    flush_interval: Duration,
    max_queue_size: usize,
    max_events_per_second: u64,
    max_retries: u32,
    retry_backoff: Duration,
}

impl StreamSettings {
    fn from_config(config: &Value) -> StreamSettings {
        let number = |key: &str, default: u64| {
            config
                .get(key)
                .and_then(Value::as_i64)
                .map(|n| n.max(0) as u64)
                .unwrap_or(default)
        };
        StreamSettings {
            batch_size: number("batchSize", 500).max(1) as usize,
            flush_interval: Duration::from_millis(number("batchFlushIntervalMs", 2000).max(1)),
            max_queue_size: number("maxQueueSize", 10_000) as usize,
            max_events_per_second: number("maxEventsPerSecond", 1000),
            max_retries: number("maxRetries", 3) as u32,
            retry_backoff: Duration::from_millis(number("retryBackoffMs", 1000)),
        }
    }
}

fn flag(config: &Value, key: &str, default: bool) -> bool {
    config.get(key).and_then(Value::as_bool).unwrap_or(default)
}

fn lock(state: &Mutex<StreamState>) -> MutexGuard<'_, StreamState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The part of a configuration whose change restarts the stream: all of it but
/// `debugLogging`, as the module's `ConfigModel.requiresRestart` compares.
fn stream_settings(config: &Value) -> Value {
    let mut settings = config.clone();
    if let Some(fields) = settings.as_object_mut() {
        fields.remove("debugLogging");
    }
    settings
}

/// Whether a configuration asks for a running Zerobus stream.
pub fn wants_stream(config: &Value) -> bool {
    flag(config, "enabled", false) && flag(config, "enableZerobusSink", true)
}

impl ZerobusStream {
    pub fn status(&self) -> StreamStatus {
        let state = lock(&self.state);
        StreamStatus {
            queued: state.queue.len(),
            ..state.status.clone()
        }
    }

    /// Brings the stream in line with `config`: started when the gateway is `live` and the
    /// configuration wants a stream, restarted when the configuration changed, stopped
    /// otherwise. Must run inside the gateway's tokio runtime. The new subscription exists when
    /// this returns, so every change published afterwards is seen; a stopped stream accepts
    /// nothing more once this returns.
    pub fn apply(&self, config: &Value, live: bool, events: &TagEvents) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let wanted = live && wants_stream(config);
        if wanted
            && current
                .as_ref()
                .is_some_and(|c| c.config == stream_settings(config))
        {
            return;
        }
        if let Some(old) = current.take() {
            self.stop(old);
        }
        if wanted {
            *current = Some(self.start(config, events));
        }
    }

    fn stop(&self, old: CurrentStream) {
        let mut state = lock(&self.state);
        state.generation += 1;
        state.status.running = false;
        state.status.connected = false;
        state.status.counters.records_dropped += state.queue.len() as u64;
        state.queue.clear();
        for task in old.tasks {
            task.abort();
        }
    }

    fn start(&self, config: &Value, events: &TagEvents) -> CurrentStream {
        let settings = StreamSettings::from_config(config);
        let target = ZerobusTarget::from_config(config);
        let (filter, unsupported) = ChangeFilter::from_config(config);
        let selection = TagSelection::from_config(config);
        let generation = {
            let mut state = lock(&self.state);
            state.generation += 1;
            let status = &mut state.status;
            status.running = true;
            status.connected = false;
            status.target_table = target.table.clone();
            status.endpoint = target.endpoint.clone();
            status.compression_mode = filter.mode().to_string();
            status.batch_size = settings.batch_size;
            status.flush_interval_ms = settings.flush_interval.as_millis() as u64;
            status.max_queue_size = settings.max_queue_size;
            status.notes = unsupported.iter().map(ToString::to_string).collect();
            status.last_error = None;
            status.selection = match (&selection, flag(config, "enableDirectSubscriptions", true)) {
                (_, false) => "none (enableDirectSubscriptions is off)".to_string(),
                (Ok(selection), true) => selection.describe(),
                (Err(error), true) => {
                    status.last_error = Some(error.to_string());
                    "none (invalid selection)".to_string()
                }
            };
            state.generation
        };
        let mut tasks = Vec::new();
        if let (Ok(selection), true) = (selection, flag(config, "enableDirectSubscriptions", true))
        {
            let subscription = Subscription {
                state: self.state.clone(),
                generation,
                selection,
                filter,
                records: RecordSettings::from_config(config),
                settings: settings.clone(),
            };
            tasks.push(tokio::spawn(subscription.run(events.subscribe())));
        }
        let sender = Sender {
            state: self.state.clone(),
            generation,
            sink: ZerobusSink::new(target),
            settings,
        };
        tasks.push(tokio::spawn(sender.run()));
        CurrentStream {
            config: stream_settings(config),
            tasks,
        }
    }
}

fn now_ms() -> i64 {
    super::now_ms()
}

/// Turns the changes of selected tags into queued records.
struct Subscription {
    state: Arc<Mutex<StreamState>>,
    generation: u64,
    selection: TagSelection,
    filter: ChangeFilter,
    records: RecordSettings,
    settings: StreamSettings,
}

impl Subscription {
    async fn run(mut self, mut changes: broadcast::Receiver<TagChange>) {
        let (mut second, mut in_second) = (0_i64, 0_u64);
        loop {
            match changes.recv().await {
                Ok(change) => {
                    if !self.selection.selects(&change.path) {
                        continue;
                    }
                    let now = now_ms();
                    if now / 1000 != second {
                        (second, in_second) = (now / 1000, 0);
                    }
                    in_second += 1;
                    let mut state = lock(&self.state);
                    if state.generation != self.generation {
                        return;
                    }
                    if in_second > self.settings.max_events_per_second {
                        state.status.counters.records_dropped += 1;
                        continue;
                    }
                    if !self.filter.passes(&change) {
                        state.status.counters.events_filtered += 1;
                        continue;
                    }
                    if state.queue.len() >= self.settings.max_queue_size {
                        state.status.counters.records_dropped += 1;
                        state.status.last_error = Some(format!(
                            "the queue is full ({} records, maxQueueSize): new changes are dropped",
                            self.settings.max_queue_size
                        ));
                        continue;
                    }
                    let record = record::record(&change, &self.records, now * 1000);
                    state.queue.push_back(record);
                    state.status.counters.events_received += 1;
                }
                Err(broadcast::error::RecvError::Lagged(lost)) => {
                    let mut state = lock(&self.state);
                    if state.generation != self.generation {
                        return;
                    }
                    state.status.counters.records_dropped += lost;
                    state.status.last_error = Some(format!(
                        "the tag subscription fell behind and lost {lost} change(s)"
                    ));
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// Sends the queue to Zerobus, one batch per flush interval.
struct Sender {
    state: Arc<Mutex<StreamState>>,
    generation: u64,
    sink: ZerobusSink,
    settings: StreamSettings,
}

/// How a send attempt went, for the caller's next step.
enum Attempt {
    Done,
    Retry,
    GiveUp,
}

impl Sender {
    async fn run(mut self) {
        let mut connected = self.open(self.settings.max_retries).await;
        let mut last_open = tokio::time::Instant::now();
        let period = self.settings.flush_interval;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let reconnect_every = self.settings.retry_backoff.max(Duration::from_secs(1));
        loop {
            ticks.tick().await;
            if !connected {
                if last_open.elapsed() < reconnect_every {
                    continue;
                }
                last_open = tokio::time::Instant::now();
                connected = self.open(0).await;
                if !connected {
                    continue;
                }
            }
            let batch: Vec<Value> = {
                let state = lock(&self.state);
                if state.generation != self.generation {
                    return;
                }
                state
                    .queue
                    .iter()
                    .take(self.settings.batch_size)
                    .cloned()
                    .collect()
            };
            if !batch.is_empty() {
                connected = self.deliver(&batch).await;
            }
        }
    }

    /// Records the outcome of one exchange with Zerobus; `None` when the stream has moved on.
    fn record_outcome(
        &self,
        records: usize,
        outcome: Result<(), sink::InsertBatchError>,
        retries_left: bool,
    ) -> Option<Attempt> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        if state.generation != self.generation {
            return None;
        }
        let status = &mut state.status;
        match outcome {
            Ok(()) => {
                status.connected = true;
                status.last_error = None;
                if records > 0 {
                    let acknowledged = records.min(state.queue.len());
                    state.queue.drain(..acknowledged);
                    status.counters.records_acknowledged += records as u64;
                    status.counters.batches_acknowledged += 1;
                    status.last_acknowledged_ms = Some(now_ms());
                }
                Some(Attempt::Done)
            }
            Err(error) => {
                if records > 0 {
                    status.counters.records_failed += records as u64;
                    status.counters.send_failures += 1;
                }
                let retry = error.is_retryable() && retries_left;
                if !retry {
                    status.connected = false;
                    tracing::warn!("Zerobus stream to {}: {error}", status.target_table);
                }
                status.last_error = Some(error.to_string());
                Some(if retry {
                    Attempt::Retry
                } else {
                    Attempt::GiveUp
                })
            }
        }
    }

    /// Opens the stream (token and table check), with up to `retries` retries.
    async fn open(&mut self, retries: u32) -> bool {
        for attempt in 0..=retries {
            let outcome = self.sink.open().await;
            match self.record_outcome(0, outcome, attempt < retries) {
                Some(Attempt::Done) => return true,
                Some(Attempt::Retry) => tokio::time::sleep(self.settings.retry_backoff).await,
                Some(Attempt::GiveUp) | None => return false,
            }
        }
        false
    }

    /// Sends one batch until it is acknowledged or the retries are spent; whether the stream
    /// is still connected.
    async fn deliver(&mut self, batch: &[Value]) -> bool {
        for attempt in 0..=self.settings.max_retries {
            {
                let mut state = lock(&self.state);
                if state.generation != self.generation {
                    return false;
                }
                state.status.counters.records_sent += batch.len() as u64;
            }
            let outcome = self.sink.insert(batch).await;
            match self.record_outcome(batch.len(), outcome, attempt < self.settings.max_retries) {
                Some(Attempt::Done) => return true,
                Some(Attempt::Retry) => tokio::time::sleep(self.settings.retry_backoff).await,
                Some(Attempt::GiveUp) | None => return false,
            }
        }
        false
    }
}
