//! The one place the daemon reads the clock: `CLOCK_MONOTONIC` as the engine's [`Instant`].

use crate::time::Instant;

/// Reads the monotonic clock. Its origin (boot) is the engine's origin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock;

impl Clock {
    /// Now, on the monotonic timeline.
    #[allow(clippy::disallowed_methods)] // the shell is where time is read
    pub fn now(&self) -> Instant {
        let origin = *ORIGIN.get_or_init(std::time::Instant::now);
        let elapsed = std::time::Instant::now().saturating_duration_since(origin);
        // Start at one second so that "zero" never means "now" in the engine.
        Instant::from_millis(1_000 + u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
    }
}

static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
