//! The HTTP clients' pacing rules (Databricks and Ignition), kept apart from the HTTP code so they can be read (and tested) as
//! plain arithmetic: which failures are retried, how long to wait before the next attempt, and
//! the client-side rate limiter. The policy follows the Databricks SDKs: 429 and 503 mean the
//! request was turned away unprocessed, so any method may try again after `Retry-After`;
//! anything else that might have reached the server is only retried when repeating it is safe,
//! and never when the server said why in words that waiting cannot change (a full disk, a used
//! up quota, a request too large).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Time as the client sees it: real in production, scripted in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration);
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// What one failed attempt was, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with this status.
    Status(u16),
    /// No (complete) answer: connect error, reset, timeout, truncated body.
    Transport,
}

/// Whether an attempt that failed this way may be repeated.
pub fn is_retryable(failure: Failure, idempotent: bool) -> bool {
    match failure {
        // Rejected before processing: safe for every method.
        Failure::Status(429 | 503) => true,
        // A gateway gave up waiting, or the server failed: it may or may not have acted on
        // the request. The SDKs do not retry 500, but a reconciler's reads are safe to repeat
        // and one failed read would otherwise fail a whole plan.
        Failure::Status(500 | 502 | 504) => idempotent,
        Failure::Status(_) => false,
        Failure::Transport => idempotent,
    }
}

/// A failure that waiting does not heal: repeating the request only delays the error (a gateway
/// whose disk was full answered every upload with 500 for the five minutes the retries lasted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrecoverable {
    /// The server has no room to write: `No space left on device` (ENOSPC), HTTP 507.
    DiskFull,
    /// The server refuses to store more for this account: a disk or storage quota.
    QuotaExceeded,
    /// The request is larger than the server takes: HTTP 413.
    TooLarge,
}

impl Unrecoverable {
    /// What happened, said of `server` ("the gateway", "the workspace").
    pub fn describe(self, server: &str) -> String {
        match self {
            Unrecoverable::DiskFull => format!("{server}'s disk is full"),
            Unrecoverable::QuotaExceeded => format!("{server} is over its storage quota"),
            Unrecoverable::TooLarge => format!("the request is too large for {server}"),
        }
    }
}

/// Whether an answered failure is one that waiting does not heal, from its status and what the
/// server said (its error code and message). 429 and 503 are the servers' own "try again later",
/// so they are never unrecoverable, whatever their message says (a rate limit's "quota" heals).
pub fn unrecoverable(status: u16, said: &str) -> Option<Unrecoverable> {
    if matches!(status, 429 | 503) {
        return None;
    }
    let said = said.to_ascii_lowercase().replace('_', " ");
    let says = |phrases: &[&str]| phrases.iter().any(|p| said.contains(p));
    if status == 507
        || says(&[
            "no space left on device",
            "not enough space on the disk",
            "disk full",
            "disk is full",
            "enospc",
            "insufficient storage",
        ])
    {
        Some(Unrecoverable::DiskFull)
    } else if says(&["disk quota exceeded", "quota exceeded", "edquot"]) {
        Some(Unrecoverable::QuotaExceeded)
    } else if status == 413 || says(&["payload too large", "request entity too large"]) {
        Some(Unrecoverable::TooLarge)
    } else {
        None
    }
}

/// The wait `Retry-After` asks for. Only the delay-seconds form is read; a missing, negative or
/// unparseable value (including the rarely used HTTP-date form) means one second, as in the
/// Python SDK.
pub fn retry_after(header: Option<&str>) -> Duration {
    header
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(1))
}

/// The wait before attempt `attempt + 1` when the server gave no `Retry-After`:
/// `min(10 s, attempt s)` plus up to 10% jitter. The jitter is derived from the request's
/// path and the attempt number, so parallel workers on different objects spread out while
/// tests stay deterministic.
pub fn backoff(attempt: u32, salt: &str) -> Duration {
    let base = Duration::from_secs(u64::from(attempt.clamp(1, 10)));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a
    for byte in salt.bytes().chain(attempt.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let jitter_millis = (base.as_millis() as u64 / 10) * (hash % 1000) / 1000;
    base + Duration::from_millis(jitter_millis)
}

/// A token bucket holding one token, refilled at `per_second`: requests are spaced at least
/// `1 / per_second` apart, which is what the SDKs' limiter (burst 1) does. Each caller reserves
/// its slot under the lock and sleeps outside it, so parallel workers queue fairly.
pub struct RateLimiter {
    interval: Option<Duration>,
    next_free: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A non-positive or non-finite rate turns limiting off.
    pub fn new(per_second: f64) -> RateLimiter {
        let interval = (per_second.is_finite() && per_second > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / per_second));
        RateLimiter {
            interval,
            next_free: Mutex::new(None),
        }
    }

    /// Waits (on `clock`) until this request may go.
    pub fn acquire(&self, clock: &dyn Clock) {
        let Some(interval) = self.interval else {
            return;
        };
        let wait = {
            let mut next_free = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
            let now = clock.now();
            let slot = match *next_free {
                Some(free) if free > now => free,
                _ => now,
            };
            *next_free = Some(slot + interval);
            slot - now
        };
        if !wait.is_zero() {
            clock.sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_rules() {
        for idempotent in [true, false] {
            assert!(is_retryable(Failure::Status(429), idempotent));
            assert!(is_retryable(Failure::Status(503), idempotent));
            assert_eq!(is_retryable(Failure::Status(500), idempotent), idempotent);
            assert!(!is_retryable(Failure::Status(400), idempotent));
        }
        assert!(is_retryable(Failure::Status(502), true));
        assert!(!is_retryable(Failure::Status(504), false));
        assert!(is_retryable(Failure::Transport, true));
        assert!(!is_retryable(Failure::Transport, false));
    }

    #[test]
    fn failures_waiting_does_not_heal() {
        assert_eq!(
            unrecoverable(500, "java.io.IOException: No space left on device"),
            Some(Unrecoverable::DiskFull)
        );
        assert_eq!(
            unrecoverable(500, "INTERNAL_ERROR: No space left on device (os error 28)"),
            Some(Unrecoverable::DiskFull)
        );
        assert_eq!(unrecoverable(507, ""), Some(Unrecoverable::DiskFull));
        assert_eq!(
            unrecoverable(500, "Disk quota exceeded (os error 122)"),
            Some(Unrecoverable::QuotaExceeded)
        );
        assert_eq!(
            unrecoverable(
                400,
                "QUOTA_EXCEEDED: the workspace storage quota is used up"
            ),
            Some(Unrecoverable::QuotaExceeded)
        );
        assert_eq!(unrecoverable(413, ""), Some(Unrecoverable::TooLarge));
        // Throttling heals by waiting, whatever it calls itself; so does an unexplained 500.
        assert_eq!(unrecoverable(429, "request quota exceeded"), None);
        assert_eq!(unrecoverable(503, "disk full, try later"), None);
        assert_eq!(unrecoverable(500, "An internal error occurred."), None);
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(retry_after(Some("3")), Duration::from_secs(3));
        assert_eq!(retry_after(Some(" 0.5 ")), Duration::from_millis(500));
        assert_eq!(retry_after(Some("-2")), Duration::from_secs(1));
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Duration::from_secs(1)
        );
        assert_eq!(retry_after(None), Duration::from_secs(1));
    }

    #[test]
    fn backoff_grows_to_ten_seconds_with_small_deterministic_jitter() {
        for attempt in 1..=15u32 {
            let wait = backoff(attempt, "/api/2.0/x");
            let base = Duration::from_secs(u64::from(attempt.min(10)));
            assert!(
                wait >= base && wait <= base + base / 10,
                "{attempt}: {wait:?}"
            );
            assert_eq!(wait, backoff(attempt, "/api/2.0/x"));
        }
    }
}
