//! The time a store reads. Production uses [`SystemClock`]; the store contract suite
//! (`server/tests/store_contract`) gives a store a [`ManualClock`] and moves time by advancing it,
//! so no case sleeps.
//!
//! Two readings, as the stores used them before the clock was injected: Unix time for what is
//! stored or compared with stored values (tombstone times, deadlines, token expiry, budget and
//! statistics scores, the `now` the Redis scripts are given), and a monotonic instant for the
//! embedded store's secret expiry, which a change of the wall clock must not move.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub trait Clock: Send + Sync + 'static {
    /// Unix milliseconds.
    fn now_ms(&self) -> u64;
    /// A monotonic instant.
    fn instant(&self) -> Instant;
    /// Unix seconds: `now_ms() / 1000`.
    fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }
}

/// The machine's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        super::now_ms()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// The clock a store is built with by default.
pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// A clock for tests: it starts at the machine's time and then moves only when advanced.
/// Clones share one time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Manual>);

#[derive(Debug)]
struct Manual {
    start_ms: u64,
    start: Instant,
    advanced_ms: AtomicU64,
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock(Arc::new(Manual {
            start_ms: super::now_ms(),
            start: Instant::now(),
            advanced_ms: AtomicU64::new(0),
        }))
    }

    /// Moves the time forward by `d` (whole milliseconds).
    pub fn advance(&self, d: Duration) {
        self.0
            .advanced_ms
            .fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// How far it was advanced in all.
    pub fn advanced(&self) -> Duration {
        Duration::from_millis(self.0.advanced_ms.load(Ordering::SeqCst))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.start_ms + self.advanced().as_millis() as u64
    }

    fn instant(&self) -> Instant {
        self.0.start + self.advanced()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_clones_share_it() {
        let clock = ManualClock::new();
        let (ms, at) = (clock.now_ms(), clock.instant());
        let other = clock.clone();
        other.advance(Duration::from_millis(1500));
        assert_eq!(clock.now_ms(), ms + 1500);
        assert_eq!(clock.instant(), at + Duration::from_millis(1500));
        assert_eq!(clock.now_secs(), (ms + 1500) / 1000);
        assert_eq!(clock.advanced(), Duration::from_millis(1500));
    }
}
