//! A deadline queue for every expiring entry in the engine's tables.
//!
//! One binary heap of `(deadline, ticket, key)`. Each table ([`super::table`]) remembers
//! the ticket of each entry's live timer. Moving a deadline later costs nothing: the entry just records the new
//! deadline, and when the old heap item comes due the engine re-arms it (lazy re-arm).
//! Moving it earlier pushes a new item with a new ticket, and the old item is recognised
//! as stale because its ticket no longer matches. So the heap holds at most one live item
//! per entry plus stale ones that drain as they come due.

use super::table_keys::TimerKey;
use crate::time::Instant;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Identifies one arming of one timer; an entry keeps the ticket of its live timer.
pub(crate) type Ticket = u64;

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Ticket, TimerKey)>>,
    next_ticket: Ticket,
}

impl Timers {
    /// Schedules `key` at `at` and returns the ticket the entry must remember.
    pub(crate) fn arm(&mut self, key: TimerKey, at: Instant) -> Ticket {
        self.next_ticket = self.next_ticket.wrapping_add(1);
        self.heap.push(Reverse((at, self.next_ticket, key)));
        self.next_ticket
    }

    /// The earliest scheduled instant (possibly a stale or lazily re-armed item: waking
    /// early is harmless, `handle_timeout` finds nothing to do and re-arms).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes and returns the earliest item if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Ticket, TimerKey)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse(item)| item),
            _ => None,
        }
    }

    /// Whether an item for which `pick` holds is due at `now`. Scans the heap only when
    /// something is due at all.
    pub(crate) fn any_due(&self, now: Instant, mut pick: impl FnMut(&TimerKey) -> bool) -> bool {
        self.next_deadline().is_some_and(|at| at <= now)
            && self.heap.iter().any(|Reverse((at, _, key))| *at <= now && pick(key))
    }

    /// Number of heap items, stale ones included.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Keeps only the items for which `is_live` holds. The engine calls this when stale
    /// items outnumber live entries, so the heap stays within a constant factor of the
    /// tables however fast entries come and go.
    pub(crate) fn retain(&mut self, mut is_live: impl FnMut(TimerKey, Ticket) -> bool) {
        self.heap.retain(|Reverse((_, ticket, key))| is_live(*key, *ticket));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let mut t = Timers::default();
        let k = |n: u8| TimerKey::Binding(Ipv4Addr::new(10, 0, 0, n));
        t.arm(k(2), Instant::from_secs(20));
        let first = t.arm(k(1), Instant::from_secs(10));
        assert_eq!(t.next_deadline(), Some(Instant::from_secs(10)));
        assert!(t.pop_due(Instant::from_secs(9)).is_none());
        assert_eq!(t.pop_due(Instant::from_secs(30)), Some((Instant::from_secs(10), first, k(1))));
        assert_eq!(t.pop_due(Instant::from_secs(30)).map(|(_, _, key)| key), Some(k(2)));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn any_due_looks_only_at_due_items_of_the_kind_asked() {
        let mut t = Timers::default();
        let at = |s| Instant::ZERO + core::time::Duration::from_secs(s);
        let client = Ipv4Addr::new(192, 168, 1, 10);
        t.arm(TimerKey::Binding(client), at(5));
        let is_binding = |k: &TimerKey| matches!(k, TimerKey::Binding(_));
        assert!(!t.any_due(at(4), is_binding), "not due yet");
        assert!(t.any_due(at(5), is_binding));
        assert!(!t.any_due(at(5), |k| !is_binding(k)), "due, but not of that kind");
    }

    #[test]
    fn retain_drops_stale_items() {
        let mut t = Timers::default();
        let k = |n: u8| TimerKey::Binding(Ipv4Addr::new(10, 0, 0, n));
        let live = t.arm(k(1), Instant::from_secs(5));
        t.arm(k(2), Instant::from_secs(6));
        t.retain(|_, ticket| ticket == live);
        assert_eq!(t.len(), 1);
        assert_eq!(t.pop_due(Instant::from_secs(9)).map(|(_, ticket, _)| ticket), Some(live));
    }
}
