//! Log lines to stderr (procd forwards them to logd), one per event, rate-limited.

use crate::time::Instant;
use core::time::Duration;

/// A token bucket: `burst` lines at once, then `per_second`. Suppressed lines are counted
/// and reported in the next line that passes.
#[derive(Debug)]
pub struct RateLimitedLog {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    pub fn new(burst: u32, per_second: u32) -> RateLimitedLog {
        RateLimitedLog {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_second: f64::from(per_second),
            last: None,
            suppressed: 0,
        }
    }

    /// The line to print now, if the budget allows; `None` if it was suppressed.
    pub fn admit(&mut self, now: Instant, line: &str) -> Option<String> {
        if let Some(last) = self.last {
            let elapsed = now.saturating_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens < 1.0 {
            self.suppressed += 1;
            return None;
        }
        self.tokens -= 1.0;
        let line = if self.suppressed > 0 {
            let n = std::mem::take(&mut self.suppressed);
            format!("{line} ({n} earlier lines suppressed)")
        } else {
            line.to_string()
        };
        Some(line)
    }

    /// Prints the line on stderr if admitted.
    pub fn log(&mut self, now: Instant, line: &str) {
        if let Some(line) = self.admit(now, line) {
            eprintln!("{line}");
        }
    }

    /// Lines suppressed and not yet reported.
    pub fn pending_suppressed(&self) -> u64 {
        self.suppressed
    }
}

/// How long until the bucket refills by one line.
pub fn refill_interval(per_second: u32) -> Duration {
    Duration::from_secs_f64(1.0 / f64::from(per_second.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_a_burst_then_counts_what_it_holds_back() {
        let mut log = RateLimitedLog::new(2, 1);
        let t = Instant::from_secs(10);
        assert!(log.admit(t, "a").is_some());
        assert!(log.admit(t, "b").is_some());
        assert!(log.admit(t, "c").is_none());
        assert!(log.admit(t, "d").is_none());
        assert_eq!(log.pending_suppressed(), 2);
        assert_eq!(log.admit(Instant::from_secs(11), "e").as_deref(), Some("e (2 earlier lines suppressed)"));
    }
}
