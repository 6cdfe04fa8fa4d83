//! The shell's periodic jobs and when each is due. Pure: the loop reads the clock once per
//! wake and asks what is due at that `now`; the engine's own timers are separate (its
//! `poll_timeout`).
//!
//! - Table check: whether `fw4 flush` deleted our table (see the daemon's re-install);
//!   at most every 250 ms, and the loop wakes at least once a second.
//! - Activity read: the kernel's per-SA counters, with renewal of elements past half their
//!   timeout; every quarter session timeout, at most every minute. Reads asked for between
//!   those (a `show`, a session expiry) are allowed at most every 2 s, because a read of a
//!   full table takes a noticeable part of a second.
//! - State save: every 15 s while something changed.
//! - Promotion (with the eBPF fast path): which SAs passed the forward filters, and
//!   whether someone else changed the ruleset; every second.

use crate::time::Instant;
use core::time::Duration;

/// The loop wakes at least this often, with nothing to do or not.
pub const HOUSEKEEPING: Duration = Duration::from_secs(1);
const TABLE_CHECK: Duration = Duration::from_millis(250);
const STATE_SAVE: Duration = Duration::from_secs(15);
const ACTIVITY_MIN_INTERVAL: Duration = Duration::from_secs(2);
const RENEWAL_MAX_INTERVAL: Duration = Duration::from_secs(60);
const PROMOTION: Duration = Duration::from_secs(1);

/// A job that runs every `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Every {
    period: Duration,
    last: Instant,
}

impl Every {
    fn new(period: Duration, last: Instant) -> Every {
        Every { period, last }
    }

    fn is_due(&self, now: Instant) -> bool {
        now.saturating_since(self.last) >= self.period
    }

    /// Whether the job is due; if so, it counts as run now.
    fn take(&mut self, now: Instant) -> bool {
        let due = self.is_due(now);
        if due {
            self.last = now;
        }
        due
    }
}

/// What to do at one wake.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Due {
    pub table_check: bool,
    /// Read activity and renew what needs it.
    pub renewal: bool,
    pub save: bool,
    /// Promote SAs to the eBPF fast path and watch the firewall.
    pub promotion: bool,
}

/// The periodic jobs' clocks.
#[derive(Clone, Debug)]
pub struct Schedule {
    table_check: Every,
    renewal: Every,
    activity: Every,
    save: Every,
    promotion: Every,
    /// Something changed since the last save.
    dirty: bool,
    /// Saves failed in a row since the last one that worked (a full `/var/run`).
    failed_saves: u32,
}

impl Schedule {
    /// Jobs for a session timeout, started at `now` (the first activity read may run at once).
    pub fn new(now: Instant, esp_session_timeout: Duration) -> Schedule {
        Schedule {
            table_check: Every::new(TABLE_CHECK, now),
            renewal: Every::new(renewal_period(esp_session_timeout), now),
            activity: Every::new(ACTIVITY_MIN_INTERVAL, Instant::ZERO),
            save: Every::new(STATE_SAVE, now),
            promotion: Every::new(PROMOTION, now),
            dirty: true,
            failed_saves: 0,
        }
    }

    /// A reload changed the session timeout.
    pub fn set_session_timeout(&mut self, esp_session_timeout: Duration) {
        self.renewal.period = renewal_period(esp_session_timeout);
    }

    /// The jobs due at `now`; each counts as run.
    pub fn take_due(&mut self, now: Instant) -> Due {
        let renewal = self.renewal.take(now);
        if renewal {
            self.activity.last = now;
        }
        Due {
            table_check: self.table_check.take(now),
            renewal,
            save: self.dirty && self.save.is_due(now),
            promotion: self.promotion.take(now),
        }
    }

    /// Whether an activity read asked for outside the renewal pass may run now; if so, it
    /// counts as run.
    pub fn take_activity_read(&mut self, now: Instant) -> bool {
        self.activity.take(now)
    }

    /// Something changed that the state file should get.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// The state was written at `now` (periodically or on the way out). Returns how many
    /// saves had failed in a row before it, for one line saying saving works again.
    pub fn saved(&mut self, now: Instant) -> u32 {
        self.save.last = now;
        self.dirty = false;
        std::mem::take(&mut self.failed_saves)
    }

    /// A save at `now` failed: try again a period later, still dirty. True for the first
    /// failure of a run, the one worth a log line: a full filesystem fails every period.
    pub fn save_failed(&mut self, now: Instant) -> bool {
        self.save.last = now;
        self.failed_saves = self.failed_saves.saturating_add(1);
        self.failed_saves == 1
    }

    /// When the loop must wake next: the engine's deadline or `extra` if sooner, and at
    /// least once per [`HOUSEKEEPING`].
    pub fn next_wake(&self, now: Instant, deadlines: impl IntoIterator<Item = Option<Instant>>) -> Instant {
        deadlines.into_iter().flatten().fold(now + HOUSEKEEPING, Instant::min)
    }
}

fn renewal_period(esp_session_timeout: Duration) -> Duration {
    (esp_session_timeout / 4).min(RENEWAL_MAX_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn the_table_check_runs_at_most_every_250_ms() {
        let mut s = Schedule::new(ms(1000), Duration::from_secs(1800));
        assert!(!s.take_due(ms(1100)).table_check);
        assert!(s.take_due(ms(1250)).table_check);
        assert!(!s.take_due(ms(1400)).table_check);
        assert!(s.take_due(ms(1500)).table_check);
    }

    #[test]
    fn renewal_runs_every_quarter_timeout_capped_at_a_minute() {
        let mut short = Schedule::new(ms(0), Duration::from_secs(20));
        assert!(!short.take_due(ms(4_999)).renewal);
        assert!(short.take_due(ms(5_000)).renewal);
        let mut long = Schedule::new(ms(0), Duration::from_secs(1800));
        assert!(long.take_due(ms(60_000)).renewal, "capped at 60 s, not 450 s");
        long.set_session_timeout(Duration::from_secs(8));
        assert!(long.take_due(ms(62_000)).renewal, "a reload's new timeout applies at once");
    }

    #[test]
    fn activity_reads_on_demand_are_spaced_and_a_renewal_pass_counts_as_one() {
        let mut s = Schedule::new(ms(10_000), Duration::from_secs(20));
        assert!(s.take_activity_read(ms(10_000)), "the first may run at once");
        assert!(!s.take_activity_read(ms(11_000)));
        assert!(s.take_activity_read(ms(12_000)));
        assert!(s.take_due(ms(15_000)).renewal);
        assert!(!s.take_activity_read(ms(16_000)), "the renewal pass just read");
        assert!(s.take_activity_read(ms(17_000)));
    }

    #[test]
    fn state_is_saved_every_15_s_only_while_dirty() {
        let mut s = Schedule::new(ms(0), Duration::from_secs(1800));
        assert!(!s.take_due(ms(14_999)).save);
        assert!(s.take_due(ms(15_000)).save, "dirty from the start");
        s.saved(ms(15_000));
        assert!(!s.take_due(ms(40_000)).save, "nothing changed");
        s.mark_dirty();
        assert!(s.take_due(ms(40_000)).save);
        assert!(s.save_failed(ms(40_000)), "the first failure is worth a line");
        assert!(!s.take_due(ms(50_000)).save, "a failed save waits a period");
        assert!(s.take_due(ms(55_000)).save, "and stays dirty");
        assert!(!s.save_failed(ms(55_000)), "the next failures are not");
        assert_eq!(s.saved(ms(70_000)), 2, "saving works again after two failures");
        assert_eq!(s.saved(ms(85_000)), 0);
    }

    #[test]
    fn the_loop_wakes_for_the_soonest_deadline_and_at_least_every_second() {
        let s = Schedule::new(ms(0), Duration::from_secs(1800));
        assert_eq!(s.next_wake(ms(5_000), [None, None]), ms(6_000));
        assert_eq!(s.next_wake(ms(5_000), [Some(ms(5_300)), Some(ms(5_200))]), ms(5_200));
        assert_eq!(s.next_wake(ms(5_000), [Some(ms(9_000))]), ms(6_000));
    }
}
