//! Time, behind a trait, so tests control what `received_at` and the checkpoint interval see.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of wall-clock time in Unix nanoseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_unix_nanos(&self) -> i128;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
    fn now_unix_nanos(&self) -> i128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0)
    }
}

/// A clock that tests move by hand (milliseconds since the Unix epoch).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(unix_millis: i64) -> Self {
        ManualClock(AtomicI64::new(unix_millis))
    }
    pub fn advance_millis(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_nanos(&self) -> i128 {
        self.0.load(Ordering::SeqCst) as i128 * 1_000_000
    }
}
