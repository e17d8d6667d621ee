//! The gateway's run-time clock: what `system.date.now()`, `time.time()` and the timestamps of
//! run-time tag values read. A live gateway reads the system clock; a deterministic one (tests,
//! snapshots) reads a virtual clock that only moves when the script runtime is told to advance
//! it, so a test can run an hour of simulated time in milliseconds and get the same numbers
//! every time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of "now" in milliseconds since the epoch.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    Virtual(Arc<AtomicI64>),
}

impl Clock {
    /// A virtual clock standing at `start_ms`.
    pub fn virtual_at(start_ms: i64) -> Clock {
        Clock::Virtual(Arc::new(AtomicI64::new(start_ms)))
    }

    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => super::now_ms(),
            Clock::Virtual(ms) => ms.load(Ordering::SeqCst),
        }
    }

    /// Moves a virtual clock to `ms` (never backwards); the system clock cannot be set.
    pub fn set_ms(&self, ms: i64) {
        if let Clock::Virtual(current) = self {
            current.fetch_max(ms, Ordering::SeqCst);
        }
    }

    pub fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual(_))
    }
}
