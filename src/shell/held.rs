//! Queued packets held back without a verdict while they wait for a gate (SPEC §3 rules 1
//! and 2: one phase-2 exchange per client pair at a time, one unknown inbound SPI owed at a
//! time). Pure: time comes in as `now`, packets are whatever the shell queues.
//!
//! A packet the engine refuses only until a gate frees up (a phase-2 message, or the first
//! ESP of an SA whose inbound SPI is owed) is held and offered again when the engine's
//! slot generation changes, for at most a hold limit (six gate timeouts, at most 50 s: see
//! [`hold_limit`]). Gates usually
//! collapse within a round trip, so a client waiting its turn loses nothing instead of
//! waiting for its peer's retransmission. The queue is bounded: beyond its cap a waiting
//! packet gets its verdict (a drop) at once, and the kernel's queue keeps its own limit.

use crate::time::Instant;
use core::time::Duration;
use std::collections::VecDeque;

/// Packets held back at most this many at once; beyond it a waiting packet is dropped.
pub const MAX_HELD: usize = 256;

/// The longest any packet waits for a gate, whatever the gate timeout: kept under
/// libreswan's 60 s give-up of a negotiation, so a held message can still be answered by it.
pub const MAX_HOLD_LIMIT: Duration = Duration::from_secs(50);

/// How long a packet may wait for a gate: six gate timeouts, at most [`MAX_HOLD_LIMIT`].
///
/// The holder's gates end within one gate timeout of the first refusal, and each client
/// queued ahead gets one more; a held phase-2 message is the waiting client's only copy in
/// hand until its peer retransmits. libreswan's IKEv1 retransmissions start 0.5 s apart and
/// double to 16-32 s apart, so with two gate timeouts (10 s) a client far back in the queue
/// lost its held message before its reserved turn came and its next retransmission arrived
/// after the turn had passed: in the lab, 16 clients behind one address came up in 32-34 s,
/// and once one of them never did. Six timeouts cover five clients ahead plus the gap to
/// the next retransmission; the bound keeps a queue of stale packets (at most
/// [`MAX_HELD`]) from outliving the negotiations they belong to.
pub fn hold_limit(esp_gate_timeout: Duration) -> Duration {
    (esp_gate_timeout * 6).min(MAX_HOLD_LIMIT)
}

/// A packet on its way to a verdict, with when it first reached the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer<P> {
    pub packet: P,
    pub since: Instant,
    /// Whether it has been held before (so it is counted once as held, once as released).
    pub was_held: bool,
}

impl<P> Offer<P> {
    /// A packet just received.
    pub fn new(packet: P, now: Instant) -> Offer<P> {
        Offer { packet, since: now, was_held: false }
    }
}

/// How often packets were held, and how holds ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeldStats {
    /// Packets held at least once.
    pub held: u64,
    /// Held packets that got a verdict other than a wait (usually: accepted once a gate freed).
    pub released: u64,
    /// Waiting packets dropped because they waited their limit, or the queue was full.
    pub expired: u64,
}

/// The held packets, in arrival order.
#[derive(Debug)]
pub struct HeldPackets<P> {
    queue: VecDeque<Offer<P>>,
    cap: usize,
    limit: Duration,
    /// The engine's slot generation when the queue was last offered.
    generation: u64,
    stats: HeldStats,
}

impl<P> HeldPackets<P> {
    /// The daemon's queue: [`MAX_HELD`] packets, each for [`hold_limit`].
    pub fn for_gate_timeout(esp_gate_timeout: Duration) -> HeldPackets<P> {
        HeldPackets::new(MAX_HELD, hold_limit(esp_gate_timeout))
    }

    /// At most `cap` packets, each for at most `limit`.
    pub fn new(cap: usize, limit: Duration) -> HeldPackets<P> {
        HeldPackets { queue: VecDeque::new(), cap, limit, generation: 0, stats: HeldStats::default() }
    }

    /// A new hold limit (after a reload changed the gate timeout); held packets keep theirs
    /// measured from when they arrived.
    pub fn set_limit(&mut self, limit: Duration) {
        self.limit = limit;
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn stats(&self) -> HeldStats {
        self.stats
    }

    /// Settles an offer after the engine decided it: `waits` says the engine refused it only
    /// until a gate frees up. Returns the offer back when it must get its kernel verdict
    /// now; `None` when it is held.
    pub fn settle(&mut self, now: Instant, mut offer: Offer<P>, waits: bool) -> Option<Offer<P>> {
        if waits {
            let young = now.saturating_since(offer.since) < self.limit;
            if young && self.queue.len() < self.cap {
                if !offer.was_held {
                    self.stats.held += 1;
                    offer.was_held = true;
                }
                self.queue.push_back(offer);
                return None;
            }
            self.stats.expired += 1;
        } else if offer.was_held {
            self.stats.released += 1;
        }
        Some(offer)
    }

    /// The packets to offer to the engine again, in arrival order: all of them once the
    /// engine's slot generation has moved since the last offer, or once the oldest has
    /// waited its limit (then it gets its verdict). Otherwise none.
    pub fn take_due(&mut self, now: Instant, generation: u64) -> Vec<Offer<P>> {
        let expired = self.queue.front().is_some_and(|h| now.saturating_since(h.since) >= self.limit);
        if self.queue.is_empty() || (generation == self.generation && !expired) {
            return Vec::new();
        }
        self.generation = generation;
        self.queue.drain(..).collect()
    }

    /// When the oldest packet reaches its limit, if any is held: the loop wakes by then.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.front().map(|h| h.since + self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    fn at(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }

    #[test]
    fn the_hold_limit_is_six_gate_timeouts_and_never_beyond_fifty_seconds() {
        // The default 5 s gate timeout: 30 s, room for a client's IKEv1 retransmission
        // 16-32 s apart to meet its turn.
        assert_eq!(hold_limit(Duration::from_secs(5)), Duration::from_secs(30));
        assert_eq!(hold_limit(Duration::from_millis(1500)), Duration::from_secs(9));
        // Long gate timeouts are capped, below libreswan's 60 s give-up.
        assert_eq!(hold_limit(Duration::from_secs(9)), MAX_HOLD_LIMIT);
        assert_eq!(hold_limit(Duration::from_secs(60)), Duration::from_secs(50));
        let daemon: HeldPackets<u8> = HeldPackets::for_gate_timeout(Duration::from_secs(5));
        assert_eq!((daemon.cap, daemon.limit), (MAX_HELD, Duration::from_secs(30)));
    }

    #[test]
    fn a_waiting_packet_is_held_then_released_when_the_generation_moves() {
        let mut held = HeldPackets::new(4, LIMIT);
        assert_eq!(held.settle(at(1), Offer::new("a", at(1)), true), None);
        assert_eq!(held.len(), 1);
        // Same generation, not expired: nothing to offer.
        assert!(held.take_due(at(2), 0).is_empty());
        let due = held.take_due(at(3), 1);
        assert_eq!(due.iter().map(|o| o.packet).collect::<Vec<_>>(), ["a"]);
        assert!(held.is_empty());
        // The engine accepts it now: counted once held, once released.
        let back = held.settle(at(3), due.into_iter().next().unwrap(), false).unwrap();
        assert_eq!((back.packet, back.since), ("a", at(1)));
        assert_eq!(held.stats(), HeldStats { held: 1, released: 1, expired: 0 });
    }

    #[test]
    fn a_packet_offered_again_and_still_waiting_is_counted_held_once() {
        let mut held = HeldPackets::new(4, LIMIT);
        assert!(held.settle(at(1), Offer::new(1, at(1)), true).is_none());
        for (t, generation) in [(2, 1), (3, 2), (4, 3)] {
            let due = held.take_due(at(t), generation);
            assert_eq!(due.len(), 1);
            for offer in due {
                assert!(held.settle(at(t), offer, true).is_none());
            }
        }
        assert_eq!(held.stats(), HeldStats { held: 1, released: 0, expired: 0 });
    }

    #[test]
    fn a_packet_past_its_limit_gets_its_verdict_and_counts_as_expired() {
        let mut held = HeldPackets::new(4, LIMIT);
        assert!(held.settle(at(1), Offer::new(1, at(1)), true).is_none());
        assert_eq!(held.next_deadline(), Some(at(11)));
        assert!(held.take_due(at(10), 0).is_empty(), "not yet");
        // The generation has not moved, but the oldest has waited its limit.
        let due = held.take_due(at(11), 0);
        assert_eq!(due.len(), 1);
        let offer = due.into_iter().next().unwrap();
        assert!(held.settle(at(11), offer, true).is_some(), "too old to hold again");
        assert_eq!(held.stats(), HeldStats { held: 1, released: 0, expired: 1 });
        assert_eq!(held.next_deadline(), None);
    }

    #[test]
    fn the_queue_is_bounded_and_a_refusal_beyond_it_is_dropped_at_once() {
        let mut held = HeldPackets::new(2, LIMIT);
        assert!(held.settle(at(1), Offer::new(1, at(1)), true).is_none());
        assert!(held.settle(at(1), Offer::new(2, at(1)), true).is_none());
        assert_eq!(held.settle(at(1), Offer::new(3, at(1)), true).map(|o| o.packet), Some(3));
        assert_eq!(held.len(), 2);
        assert_eq!(held.stats(), HeldStats { held: 2, released: 0, expired: 1 });
    }

    #[test]
    fn packets_not_waiting_pass_straight_through_uncounted() {
        let mut held: HeldPackets<u8> = HeldPackets::new(2, LIMIT);
        assert_eq!(held.settle(at(1), Offer::new(7, at(1)), false).map(|o| o.packet), Some(7));
        assert_eq!(held.stats(), HeldStats::default());
        assert!(held.take_due(at(100), 9).is_empty());
    }

    #[test]
    fn arrival_order_is_kept() {
        let mut held = HeldPackets::new(8, LIMIT);
        for p in 0..5 {
            assert!(held.settle(at(1), Offer::new(p, at(1)), true).is_none());
        }
        let order: Vec<i32> = held.take_due(at(2), 1).into_iter().map(|o| o.packet).collect();
        assert_eq!(order, [0, 1, 2, 3, 4]);
    }
}
