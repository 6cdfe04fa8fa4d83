//! Log lines to stderr (procd forwards them to logd), one per event, rate-limited: the
//! engine's routine events and the refusals and errors under budgets of their own.

use crate::engine::Event;
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

/// The daemon's log: the engine's routine events under one budget, and refusals (dropped
/// messages and packets, limits) and the shell's own errors under another, so that lines
/// of one kind, however many, never crowd out the other's.
#[derive(Debug)]
pub struct DaemonLog {
    routine: RateLimitedLog,
    trouble: RateLimitedLog,
}

impl DaemonLog {
    /// Each budget: `burst` lines at once, then `per_second`.
    pub fn new(burst: u32, per_second: u32) -> DaemonLog {
        DaemonLog { routine: RateLimitedLog::new(burst, per_second), trouble: RateLimitedLog::new(burst, per_second) }
    }

    /// The line for an engine event, if its budget allows.
    pub fn admit_event(&mut self, now: Instant, event: &Event) -> Option<String> {
        let line = format!("ike-esp-alg: {event}");
        if event.is_refusal() {
            self.trouble.admit(now, &line)
        } else {
            self.routine.admit(now, &line)
        }
    }

    /// Prints an engine event's line on stderr if admitted.
    pub fn event(&mut self, now: Instant, event: &Event) {
        if let Some(line) = self.admit_event(now, event) {
            eprintln!("{line}");
        }
    }

    /// Prints one of the shell's own lines (errors, recoveries) under the refusals' budget.
    pub fn log(&mut self, now: Instant, line: &str) {
        self.trouble.log(now, line);
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

    #[test]
    fn a_burst_of_routine_events_does_not_hide_a_refusal() {
        use crate::wire::Spi;
        let mut log = DaemonLog::new(2, 1);
        let t = Instant::from_secs(10);
        let client = std::net::Ipv4Addr::new(192, 168, 1, 10);
        let nat = std::net::Ipv4Addr::new(203, 0, 113, 7);
        let routine = Event::BindingCreated { client, nat, shared_with: 0 };
        let refusal = Event::InboundEspDropped { server: std::net::Ipv4Addr::new(198, 51, 100, 1), nat, spi: Spi(7) };
        for _ in 0..10 {
            log.admit_event(t, &routine);
        }
        assert!(log.admit_event(t, &routine).is_none(), "the routine budget is spent");
        let line = log.admit_event(t, &refusal).expect("a refusal has a budget of its own");
        assert!(line.starts_with("ike-esp-alg: ") && !line.contains("suppressed"), "{line}");
        let next = log.admit_event(Instant::from_secs(11), &routine).unwrap();
        assert!(next.ends_with("(9 earlier lines suppressed)"), "{next}");
    }
}
