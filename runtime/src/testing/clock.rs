//! Time as the fake server sees it: it stands still until a test moves it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A clock for the fake server, in milliseconds since the Unix epoch (as
/// Mattermost's timestamps are). It starts at [`Clock::START`] and moves only
/// when told, so expiries and timestamps are the same on every run. Clones
/// share one time.
#[derive(Debug, Clone)]
pub struct Clock {
    millis: Arc<AtomicI64>,
}

impl Clock {
    /// Where a new clock starts: 2026-01-01T00:00:00Z.
    pub const START: i64 = 1_767_225_600_000;

    /// A clock at [`Clock::START`].
    pub fn new() -> Self {
        Self { millis: Arc::new(AtomicI64::new(Self::START)) }
    }

    /// The time now, in milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> i64 {
        self.millis.load(Ordering::SeqCst)
    }

    /// Moves the clock forward by `by` (whole milliseconds).
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_add(by, Ordering::SeqCst);
    }

    /// Sets the clock to `millis` since the Unix epoch.
    pub fn set_millis(&self, millis: i64) {
        self.millis.store(millis, Ordering::SeqCst);
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_only_when_told_and_clones_share_it() {
        let clock = Clock::new();
        let other = clock.clone();
        assert_eq!(clock.now_millis(), Clock::START);
        other.advance(Duration::from_millis(1500));
        assert_eq!(clock.now_millis(), Clock::START + 1500);
        clock.set_millis(7);
        assert_eq!(other.now_millis(), 7);
    }
}
