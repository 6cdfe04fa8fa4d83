//! The engine's bounded, expiring tables, with their rules inside (SPEC §3 rules 4-5, 8).
//!
//! A [`BoundedTable`] owns its cap, optionally how many entries each client holds (for the
//! per-client share and for the client's NAT binding, which lives while it holds anything),
//! and the ticket of each entry's live timer (see [`super::timers`] for the lazy re-arm
//! scheme). Entries go in and out only through it, so its counts cannot drift from its
//! contents. [`FlowIndex`] keeps the IKE flows and their translated view as one table.

use super::entries::FlowEntry;
use super::table_keys::{FlowKey, TimerKey, TranslatedFlowKey};
use super::timers::{Ticket, Timers};
use crate::time::Instant;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::Ipv4Addr;

/// A key whose entry can have a timer: names the timer that belongs to it.
pub(crate) trait TimedKey: Copy + Eq + Hash {
    fn timer_key(self) -> TimerKey;
}

/// Why a table did not take an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The table holds its maximum.
    Full,
    /// The entry's client holds its maximum share.
    ClientLimit,
    /// The key is already there.
    Present,
}

#[derive(Debug, Clone)]
struct Slot<V> {
    value: V,
    /// The client counted for this entry, if the table counts per client.
    client: Option<Ipv4Addr>,
    /// The ticket of the entry's live timer.
    ticket: Option<Ticket>,
}

/// Per-client entry counts and the share each client may hold.
#[derive(Debug)]
struct ClientShares {
    held: HashMap<Ipv4Addr, u32>,
    max: u32,
}

/// A table with a cap, optional per-client shares and one timer ticket per entry.
#[derive(Debug)]
pub(crate) struct BoundedTable<K, V> {
    entries: HashMap<K, Slot<V>>,
    max: usize,
    shares: Option<ClientShares>,
}

impl<K: TimedKey, V> BoundedTable<K, V> {
    /// A table of at most `max` entries.
    pub(crate) fn new(max: usize) -> Self {
        BoundedTable { entries: HashMap::new(), max, shares: None }
    }

    /// A table of at most `max` entries that counts entries per client, each client
    /// holding at most `max_per_client` of them.
    pub(crate) fn per_client(max: usize, max_per_client: u32) -> Self {
        BoundedTable {
            entries: HashMap::new(),
            max,
            shares: Some(ClientShares { held: HashMap::new(), max: max_per_client }),
        }
    }

    /// Why an entry of `client` would be refused now, if it would be. The cap is checked
    /// before the client's share.
    pub(crate) fn refusal(&self, client: Option<Ipv4Addr>) -> Option<Refusal> {
        if self.entries.len() >= self.max {
            return Some(Refusal::Full);
        }
        match (&self.shares, client) {
            (Some(shares), Some(c)) if self.held_by(c) >= shares.max => Some(Refusal::ClientLimit),
            _ => None,
        }
    }

    /// Inserts a new entry within the cap and the client's share.
    pub(crate) fn insert(&mut self, key: K, value: V, client: Option<Ipv4Addr>) -> Result<(), Refusal> {
        if let Some(refusal) = self.refusal(client) {
            return Err(refusal);
        }
        self.insert_within_cap(key, value, client)
    }

    /// Inserts an entry taken back after a restart: within the cap, but not refused for
    /// the client's share, since the datapath already carries it.
    pub(crate) fn restore(&mut self, key: K, value: V, client: Option<Ipv4Addr>) -> Result<(), Refusal> {
        if self.entries.len() >= self.max {
            return Err(Refusal::Full);
        }
        self.insert_within_cap(key, value, client)
    }

    fn insert_within_cap(&mut self, key: K, value: V, client: Option<Ipv4Addr>) -> Result<(), Refusal> {
        if self.entries.contains_key(&key) {
            return Err(Refusal::Present);
        }
        let client = client.filter(|_| self.shares.is_some());
        if let (Some(shares), Some(c)) = (self.shares.as_mut(), client) {
            let held = shares.held.entry(c).or_insert(0);
            *held = held.saturating_add(1);
        }
        self.entries.insert(key, Slot { value, client, ticket: None });
        Ok(())
    }

    /// Removes an entry; its client's count goes down and its timer becomes stale.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.entries.remove(key)?;
        if let (Some(shares), Some(c)) = (self.shares.as_mut(), slot.client) {
            if let Some(held) = shares.held.get_mut(&c) {
                *held = held.saturating_sub(1);
                if *held == 0 {
                    shares.held.remove(&c);
                }
            }
        }
        Some(slot.value)
    }

    /// How many entries `client` holds (0 when the table does not count per client).
    pub(crate) fn held_by(&self, client: Ipv4Addr) -> u32 {
        self.shares.as_ref().and_then(|s| s.held.get(&client).copied()).unwrap_or(0)
    }

    /// Arms the entry's timer at `at`, replacing any earlier arming (which goes stale).
    /// Does nothing for a key that is not in the table.
    pub(crate) fn arm(&mut self, timers: &mut Timers, key: K, at: Instant) {
        if let Some(slot) = self.entries.get_mut(&key) {
            slot.ticket = Some(timers.arm(key.timer_key(), at));
        }
    }

    /// Forgets the entry's timer: its heap item goes stale.
    pub(crate) fn disarm(&mut self, key: &K) {
        if let Some(slot) = self.entries.get_mut(key) {
            slot.ticket = None;
        }
    }

    /// Whether the entry has a live timer.
    pub(crate) fn is_armed(&self, key: &K) -> bool {
        self.entries.get(key).is_some_and(|s| s.ticket.is_some())
    }

    /// Whether `ticket` is the entry's live timer (a due heap item that is not stale).
    pub(crate) fn holds_ticket(&self, key: &K, ticket: Ticket) -> bool {
        self.entries.get(key).is_some_and(|s| s.ticket == Some(ticket))
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|s| &s.value)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key).map(|s| &mut s.value)
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, s)| (k, &s.value))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.keys()
    }
}

/// For tests only: panics if the key is absent, like `HashMap`'s index.
#[cfg(test)]
impl<K: TimedKey, V> core::ops::Index<&K> for BoundedTable<K, V> {
    type Output = V;

    fn index(&self, key: &K) -> &V {
        &self.entries[key].value
    }
}

/// The IKE flows, found by their key or by how the server sees them after NAT. Inserts and
/// removals go through here, so the two views always name the same flows.
#[derive(Debug)]
pub(crate) struct FlowIndex {
    flows: BoundedTable<FlowKey, FlowEntry>,
    by_translation: HashMap<TranslatedFlowKey, FlowKey>,
}

impl FlowIndex {
    /// At most `max` flows; each is counted for its client (it holds the client's binding).
    pub(crate) fn new(max: usize) -> FlowIndex {
        FlowIndex { flows: BoundedTable::per_client(max, u32::MAX), by_translation: HashMap::new() }
    }

    /// Adds a flow, refused when the table is full, the flow is known or its translated
    /// tuple belongs to another flow.
    pub(crate) fn insert(&mut self, key: FlowKey, entry: FlowEntry) -> Result<(), Refusal> {
        let translated = entry.translated(key);
        if self.by_translation.contains_key(&translated) {
            return Err(Refusal::Present);
        }
        self.flows.insert(key, entry, Some(key.client))?;
        self.by_translation.insert(translated, key);
        Ok(())
    }

    /// Removes a flow and its translated view.
    pub(crate) fn remove(&mut self, key: &FlowKey) -> Option<FlowEntry> {
        let entry = self.flows.remove(key)?;
        self.by_translation.remove(&entry.translated(*key));
        Some(entry)
    }

    /// The flow the server's packet to `translated` answers.
    pub(crate) fn by_translation(&self, translated: &TranslatedFlowKey) -> Option<FlowKey> {
        self.by_translation.get(translated).copied()
    }

    /// Whether some flow already uses this translated tuple.
    pub(crate) fn translation_taken(&self, translated: &TranslatedFlowKey) -> bool {
        self.by_translation.contains_key(translated)
    }

    pub(crate) fn len(&self) -> usize {
        self.flows.len()
    }

    /// The flows and their per-client counts and timers.
    pub(crate) fn table(&self) -> &BoundedTable<FlowKey, FlowEntry> {
        &self.flows
    }

    pub(crate) fn table_mut(&mut self) -> &mut BoundedTable<FlowKey, FlowEntry> {
        &mut self.flows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::table_keys::SessionKey;
    use crate::engine::Direction;
    use crate::wire::Spi;

    const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    fn client(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, 1, n)
    }

    fn session(src: Ipv4Addr, spi: u32) -> SessionKey {
        SessionKey { direction: Direction::Outbound, src, dst: SERVER, spi: Spi(spi) }
    }

    #[test]
    fn refuses_past_its_cap_and_takes_again_after_a_removal() {
        let mut t: BoundedTable<SessionKey, u8> = BoundedTable::new(2);
        assert_eq!(t.insert(session(client(1), 1), 1, None), Ok(()));
        assert_eq!(t.insert(session(client(2), 2), 2, None), Ok(()));
        assert_eq!(t.insert(session(client(3), 3), 3, None), Err(Refusal::Full));
        assert_eq!(t.restore(session(client(3), 3), 3, None), Err(Refusal::Full), "restore keeps the cap too");
        assert_eq!(t.remove(&session(client(1), 1)), Some(1));
        assert_eq!(t.insert(session(client(3), 3), 3, None), Ok(()));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn counts_each_clients_share_and_refuses_past_it() {
        let mut t: BoundedTable<SessionKey, ()> = BoundedTable::per_client(10, 2);
        let (a, b) = (client(1), client(2));
        assert_eq!(t.insert(session(a, 1), (), Some(a)), Ok(()));
        assert_eq!(t.insert(session(a, 2), (), Some(a)), Ok(()));
        assert_eq!(t.refusal(Some(a)), Some(Refusal::ClientLimit));
        assert_eq!(t.insert(session(a, 3), (), Some(a)), Err(Refusal::ClientLimit));
        assert_eq!(t.insert(session(b, 4), (), Some(b)), Ok(()), "another client has its own share");
        assert_eq!((t.held_by(a), t.held_by(b)), (2, 1));
        // A restored entry is counted, but not refused for the share.
        assert_eq!(t.restore(session(a, 5), (), Some(a)), Ok(()));
        assert_eq!(t.held_by(a), 3);
    }

    #[test]
    fn removal_keeps_the_counts_right() {
        let mut t: BoundedTable<SessionKey, ()> = BoundedTable::per_client(10, 5);
        let a = client(1);
        assert_eq!(t.insert(session(a, 1), (), Some(a)), Ok(()));
        assert_eq!(t.insert(session(a, 2), (), Some(a)), Ok(()));
        assert_eq!(t.insert(session(a, 1), (), Some(a)), Err(Refusal::Present), "a present key is not counted twice");
        assert_eq!(t.held_by(a), 2);
        assert!(t.remove(&session(a, 1)).is_some());
        assert!(t.remove(&session(a, 1)).is_none(), "removing twice changes nothing");
        assert_eq!(t.held_by(a), 1);
        assert!(t.remove(&session(a, 2)).is_some());
        assert_eq!(t.held_by(a), 0);
        assert!(t.is_empty());
    }

    #[test]
    fn timers_come_due_in_deadline_order_and_rearming_makes_the_old_one_stale() {
        let mut timers = Timers::default();
        let mut t: BoundedTable<SessionKey, ()> = BoundedTable::new(10);
        let (k1, k2, k3) = (session(client(1), 1), session(client(2), 2), session(client(3), 3));
        for k in [k1, k2, k3] {
            assert_eq!(t.insert(k, (), None), Ok(()));
        }
        t.arm(&mut timers, k1, Instant::from_secs(30));
        t.arm(&mut timers, k2, Instant::from_secs(10));
        t.arm(&mut timers, k3, Instant::from_secs(20));
        // k1 moves earlier: its first arming is stale from now on.
        t.arm(&mut timers, k1, Instant::from_secs(5));
        let mut live = Vec::new();
        while let Some((at, ticket, key)) = timers.pop_due(Instant::from_secs(60)) {
            let TimerKey::Session(k) = key else { panic!("only session timers were armed") };
            if t.holds_ticket(&k, ticket) {
                live.push((at, k));
            }
        }
        let secs = Instant::from_secs;
        assert_eq!(live, vec![(secs(5), k1), (secs(10), k2), (secs(20), k3)]);
        t.disarm(&k2);
        assert!(!t.is_armed(&k2));
        assert!(t.is_armed(&k3));
    }

    #[test]
    fn a_removed_entrys_timer_is_stale_and_arming_an_absent_key_does_nothing() {
        let mut timers = Timers::default();
        let mut t: BoundedTable<SessionKey, ()> = BoundedTable::new(10);
        let k = session(client(1), 1);
        assert_eq!(t.insert(k, (), None), Ok(()));
        t.arm(&mut timers, k, Instant::from_secs(5));
        assert!(t.remove(&k).is_some());
        let (_, ticket, _) = timers.pop_due(Instant::from_secs(5)).expect("the item is still in the heap");
        assert!(!t.holds_ticket(&k, ticket));
        t.arm(&mut timers, k, Instant::from_secs(9));
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn the_flow_index_keeps_both_views_in_step() {
        let mut index = FlowIndex::new(4);
        let nat = Ipv4Addr::new(203, 0, 113, 7);
        let flow = |c: u8| FlowKey { client: client(c), client_port: 500, server: SERVER, server_port: 500 };
        let entry = |port| FlowEntry { nat, nat_port: port, last_seen: Instant::ZERO };
        assert_eq!(index.insert(flow(1), entry(500)), Ok(()));
        let seen = TranslatedFlowKey { server: SERVER, server_port: 500, nat, nat_port: 500 };
        assert_eq!(index.by_translation(&seen), Some(flow(1)));
        assert_eq!(index.insert(flow(2), entry(500)), Err(Refusal::Present), "the tuple is another client's");
        assert_eq!(index.table().len(), 1);
        assert_eq!(index.insert(flow(2), entry(501)), Ok(()));
        assert_eq!(index.table().held_by(client(2)), 1);
        assert!(index.remove(&flow(1)).is_some());
        assert!(!index.translation_taken(&seen));
        assert_eq!(index.table().held_by(client(1)), 0);
        assert_eq!(index.insert(flow(3), entry(500)), Ok(()), "the freed tuple can be used again");
    }
}
