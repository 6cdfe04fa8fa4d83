//! Turning the kernel's per-SA counters into activity reports for the engine, and deciding
//! which SAs' kernel elements to renew. Pure: the shell hands in what a dump read and `now`.
//!
//! The maps `esp_out` and `esp_in` count each SA's packets and bytes in its element (see
//! [`super::nft`]). An SA whose count grew since the last read was active; only the growth
//! is reported, so the engine's own totals stay right. An element added again (a renewal, a
//! re-install after `fw4 flush`) counts from zero, so a count that went down is all new.
//! Renewal restarts an element's timeout before it runs out for an SA in use: one whose
//! time left is under half the session timeout and that was active since the last read.

use crate::engine::{ActivityReport, SessionKey};
use crate::time::Instant;
use core::time::Duration;
use std::collections::HashMap;

/// One element as a dump read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterRead {
    pub key: SessionKey,
    pub packets: u64,
    pub bytes: u64,
    /// Time left before the kernel expires the element.
    pub expires: Option<Duration>,
}

/// What one read means.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accounting {
    /// SAs active since the last read, with what is new.
    pub active: Vec<(SessionKey, ActivityReport)>,
    /// Active SAs whose elements should be renewed now.
    pub renew: Vec<SessionKey>,
}

/// The counters as last read, per SA. Holds only SAs the engine still has (see
/// [`KernelCounters::retain`]), so it is bounded by the engine's session table.
#[derive(Clone, Debug, Default)]
pub struct KernelCounters {
    last: HashMap<SessionKey, (u64, u64)>,
}

impl KernelCounters {
    /// Starts from counts already taken into the engine (the records restored from the
    /// kernel carry them).
    pub fn from_restored(counts: impl IntoIterator<Item = (SessionKey, u64, u64)>) -> KernelCounters {
        KernelCounters { last: counts.into_iter().map(|(key, packets, bytes)| (key, (packets, bytes))).collect() }
    }

    /// Accounts one read. With `renew_below` (half the session timeout on a renewal pass),
    /// active SAs with less time left than that are listed for renewal, and their counts
    /// restart from zero here, as the re-added elements' will in the kernel.
    pub fn account(&mut self, now: Instant, reads: &[CounterRead], renew_below: Option<Duration>) -> Accounting {
        let mut out = Accounting::default();
        for read in reads {
            let (old_packets, old_bytes) = self.last.insert(read.key, (read.packets, read.bytes)).unwrap_or((0, 0));
            let (packets, bytes) = if read.packets >= old_packets && read.bytes >= old_bytes {
                (read.packets - old_packets, read.bytes - old_bytes)
            } else {
                (read.packets, read.bytes)
            };
            if packets == 0 {
                continue;
            }
            out.active.push((read.key, ActivityReport { packets, bytes, last_seen: now }));
            if renew_below.zip(read.expires).is_some_and(|(below, left)| left < below) {
                out.renew.push(read.key);
            }
        }
        for key in &out.renew {
            self.last.insert(*key, (0, 0));
        }
        out
    }

    /// Keeps only the SAs `keep` names (the engine's sessions).
    pub fn retain(&mut self, mut keep: impl FnMut(&SessionKey) -> bool) {
        self.last.retain(|key, _| keep(key));
    }

    /// Forgets every count: the elements were all added again and count from zero.
    pub fn clear(&mut self) {
        self.last.clear();
    }

    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Direction;
    use crate::wire::Spi;
    use std::net::Ipv4Addr;

    fn key(spi: u32) -> SessionKey {
        SessionKey {
            direction: Direction::Outbound,
            src: Ipv4Addr::new(192, 168, 1, 10),
            dst: Ipv4Addr::new(198, 51, 100, 1),
            spi: Spi(spi),
        }
    }

    fn read(spi: u32, packets: u64, bytes: u64, left: u64) -> CounterRead {
        CounterRead { key: key(spi), packets, bytes, expires: Some(Duration::from_secs(left)) }
    }

    const NOW: Instant = Instant::from_millis(5_000);

    #[test]
    fn only_growth_is_reported() {
        let mut counters = KernelCounters::default();
        let first = counters.account(NOW, &[read(1, 10, 1000, 1700), read(2, 0, 0, 1700)], None);
        assert_eq!(first.active, [(key(1), ActivityReport { packets: 10, bytes: 1000, last_seen: NOW })]);
        let second = counters.account(NOW, &[read(1, 15, 1600, 1700), read(2, 0, 0, 1700)], None);
        assert_eq!(second.active, [(key(1), ActivityReport { packets: 5, bytes: 600, last_seen: NOW })]);
        assert!(counters.account(NOW, &[read(1, 15, 1600, 1700)], None).active.is_empty(), "idle");
        assert!(second.renew.is_empty(), "no renewal asked for");
    }

    #[test]
    fn counts_restored_from_the_kernel_are_not_reported_again() {
        let mut counters = KernelCounters::from_restored([(key(1), 10, 1000)]);
        assert!(counters.account(NOW, &[read(1, 10, 1000, 1700)], None).active.is_empty());
        assert_eq!(counters.account(NOW, &[read(1, 11, 1100, 1700)], None).active[0].1.packets, 1);
    }

    #[test]
    fn a_count_that_went_down_belongs_to_an_element_added_again() {
        let mut counters = KernelCounters::from_restored([(key(1), 100, 10_000)]);
        let a = counters.account(NOW, &[read(1, 3, 300, 1700)], None);
        assert_eq!(a.active[0].1, ActivityReport { packets: 3, bytes: 300, last_seen: NOW });
    }

    #[test]
    fn active_sas_past_half_their_timeout_are_renewed_and_count_from_zero() {
        let half = Some(Duration::from_secs(900));
        let mut counters = KernelCounters::default();
        let a = counters.account(NOW, &[read(1, 5, 500, 800), read(2, 5, 500, 1000), read(3, 0, 0, 100)], half);
        assert_eq!(a.renew, [key(1)], "active and under half; 2 has time, 3 is idle");
        // The renewed element starts again at zero: its next count is all new.
        let b = counters.account(NOW, &[read(1, 2, 200, 1800)], half);
        assert_eq!(b.active[0].1.packets, 2);
    }

    #[test]
    fn retain_bounds_the_table_by_the_engine_sessions() {
        let mut counters = KernelCounters::default();
        counters.account(NOW, &[read(1, 1, 1, 1), read(2, 1, 1, 1)], None);
        counters.retain(|k| k.spi == Spi(2));
        assert_eq!(counters.len(), 1);
        counters.clear();
        assert!(counters.is_empty());
    }
}
