//! Which learned SAs the eBPF fast path forwards, and when they must leave it. Pure: the
//! shell hands in what the kernel said (the `esp_passed` set, the ruleset generation) and
//! applies what comes out.
//!
//! Read first: the promotion notes in [`super::nft`] and issue "eBPF fast path" rule 4. An
//! SA is *promoted* (its rewrite goes into the BPF map) only once one of its packets has
//! reached the ALG's `postrouting` chain, that is, passed every firewall filter of the
//! forward hook. Offloaded packets skip the hooks, so a firewall change must send every SA
//! back to the nft table to be judged again: any nf_tables commit that is not ours counts
//! as one ([`FirewallWatch`]), since we cannot tell what a foreign transaction changed.
//!
//! Keys: the noting rule sees an inbound SA's packets after `prerouting` rewrote their
//! destination to the client, so `esp_passed` holds (server, client, SPI) for it, while the
//! SA (and the BPF map, which acts at ingress) is keyed by (server, NAT address, SPI).
//! Outbound packets are rewritten by the rule after it: it sees their key as is, as the
//! forward hook did.

use crate::bpf::{Rewrite, SaKey};
use crate::engine::{Direction, EspSessionSpec, SessionKey};
use crate::wire::Spi;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

/// An ESP key as the forward hook saw it: (source, destination, SPI).
pub type ForwardedKey = (Ipv4Addr, Ipv4Addr, Spi);

/// The key under which the forward hook sees the session's packets.
pub fn forwarded_key(session: &EspSessionSpec) -> ForwardedKey {
    let k = session.key;
    match k.direction {
        Direction::Outbound => (k.src, k.dst, k.spi),
        Direction::Inbound => (k.src, session.translated, k.spi),
    }
}

/// The session's entry in the BPF map: its key at ingress and its rewrite.
pub fn fast_path_entry(session: &EspSessionSpec) -> (SaKey, Rewrite) {
    let k = session.key;
    let key = SaKey { source: k.src, destination: k.dst, spi: k.spi.0 };
    let rewrite = match k.direction {
        Direction::Outbound => Rewrite::Source(session.translated),
        Direction::Inbound => Rewrite::Destination(session.translated),
    };
    (key, rewrite)
}

/// The promoted sessions, with the counts their BPF entries had when they left the map
/// while the session lived on (so that its activity totals never go down).
#[derive(Debug, Default)]
pub struct Promotions {
    promoted: HashSet<SessionKey>,
    carried: HashMap<SessionKey, (u64, u64)>,
}

impl Promotions {
    /// The sessions to promote now: learned, not promoted yet, and seen past the filters.
    pub fn candidates<'a>(
        &self,
        passed: &HashSet<ForwardedKey>,
        sessions: impl IntoIterator<Item = &'a EspSessionSpec>,
    ) -> Vec<EspSessionSpec> {
        sessions
            .into_iter()
            .filter(|s| !self.promoted.contains(&s.key) && passed.contains(&forwarded_key(s)))
            .copied()
            .collect()
    }

    pub fn mark_promoted(&mut self, key: SessionKey) {
        self.promoted.insert(key);
    }

    pub fn is_promoted(&self, key: &SessionKey) -> bool {
        self.promoted.contains(key)
    }

    /// The session left the fast path but lives on: its BPF counts so far are carried.
    pub fn demote(&mut self, key: SessionKey, packets: u64, bytes: u64) {
        if self.promoted.remove(&key) {
            let carried = self.carried.entry(key).or_default();
            carried.0 = carried.0.saturating_add(packets);
            carried.1 = carried.1.saturating_add(bytes);
        }
    }

    /// The session is gone: nothing of it is kept. Returns whether it was promoted.
    pub fn forget(&mut self, key: &SessionKey) -> bool {
        self.carried.remove(key);
        self.promoted.remove(key)
    }

    /// Every promoted session, for demoting them all.
    pub fn promoted(&self) -> Vec<SessionKey> {
        self.promoted.iter().copied().collect()
    }

    /// Counts of BPF entries the session had before, to add to what its entry says now.
    pub fn carried(&self, key: &SessionKey) -> (u64, u64) {
        self.carried.get(key).copied().unwrap_or_default()
    }

    /// Keeps only the sessions `keep` names (the engine's), so both tables stay bounded by
    /// the engine's session table.
    pub fn retain(&mut self, mut keep: impl FnMut(&SessionKey) -> bool) {
        self.promoted.retain(|k| keep(k));
        self.carried.retain(|k, _| keep(k));
    }

    pub fn len(&self) -> usize {
        self.promoted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.promoted.is_empty()
    }
}

/// Tells our own nf_tables commits from anyone else's by the ruleset generation, which
/// every committed transaction raises by one.
#[derive(Debug, Default)]
pub struct FirewallWatch {
    last: Option<u32>,
}

impl FirewallWatch {
    /// The generation read now, and how many commits of ours happened since the last read.
    /// True when someone else committed in between: the firewall may have changed. The
    /// first read only sets the baseline. (The kernel skips 0 when the generation wraps,
    /// once in 2^32 commits: that one read may count as a change, which only costs a refill.)
    pub fn changed(&mut self, generation: u32, ours: u32) -> bool {
        let foreign = self.last.is_some_and(|last| generation != last.wrapping_add(ours));
        self.last = Some(generation);
        foreign
    }

    /// Forgets the baseline: after something of ours whose commits are not counted (the
    /// iptables-nft queue rule), the next read sets it again.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const NAT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

    fn session(direction: Direction, spi: u32) -> EspSessionSpec {
        let (src, dst, translated) = match direction {
            Direction::Outbound => (CLIENT, SERVER, NAT),
            Direction::Inbound => (SERVER, NAT, CLIENT),
        };
        EspSessionSpec {
            key: SessionKey { direction, src, dst, spi: Spi(spi) },
            translated,
            idle_timeout: Duration::from_secs(1800),
        }
    }

    #[test]
    fn the_forward_hook_sees_inbound_sas_with_the_clients_address() {
        assert_eq!(forwarded_key(&session(Direction::Outbound, 1)), (CLIENT, SERVER, Spi(1)));
        assert_eq!(forwarded_key(&session(Direction::Inbound, 2)), (SERVER, CLIENT, Spi(2)));
        let (key, rewrite) = fast_path_entry(&session(Direction::Inbound, 2));
        assert_eq!((key, rewrite), (SaKey { source: SERVER, destination: NAT, spi: 2 }, Rewrite::Destination(CLIENT)));
        let (key, rewrite) = fast_path_entry(&session(Direction::Outbound, 1));
        assert_eq!((key, rewrite), (SaKey { source: CLIENT, destination: SERVER, spi: 1 }, Rewrite::Source(NAT)));
    }

    #[test]
    fn only_sessions_seen_past_the_filters_and_not_yet_promoted_are_candidates() {
        let sessions =
            [session(Direction::Outbound, 1), session(Direction::Inbound, 2), session(Direction::Inbound, 3)];
        // The inbound SA 3 passed under its pre-rewrite key only: that is not past the filters.
        let passed: HashSet<ForwardedKey> =
            [(CLIENT, SERVER, Spi(1)), (SERVER, CLIENT, Spi(2)), (SERVER, NAT, Spi(3))].into();
        let mut promotions = Promotions::default();
        let first = promotions.candidates(&passed, &sessions);
        assert_eq!(first.iter().map(|s| s.key.spi).collect::<Vec<_>>(), [Spi(1), Spi(2)]);
        promotions.mark_promoted(first[0].key);
        let second = promotions.candidates(&passed, &sessions);
        assert_eq!(second.iter().map(|s| s.key.spi).collect::<Vec<_>>(), [Spi(2)]);
    }

    #[test]
    fn a_demoted_session_keeps_its_counts_and_a_forgotten_one_does_not() {
        let key = session(Direction::Outbound, 1).key;
        let mut promotions = Promotions::default();
        promotions.demote(key, 5, 500);
        assert_eq!(promotions.carried(&key), (0, 0), "not promoted: nothing to carry");
        promotions.mark_promoted(key);
        promotions.demote(key, 5, 500);
        promotions.mark_promoted(key);
        promotions.demote(key, 2, 200);
        assert_eq!(promotions.carried(&key), (7, 700));
        assert!(!promotions.is_promoted(&key));
        promotions.mark_promoted(key);
        assert!(promotions.forget(&key));
        assert_eq!(promotions.carried(&key), (0, 0));
        assert!(promotions.is_empty());
    }

    #[test]
    fn retain_bounds_promotions_by_the_engines_sessions() {
        let (a, b) = (session(Direction::Outbound, 1).key, session(Direction::Outbound, 2).key);
        let mut promotions = Promotions::default();
        promotions.mark_promoted(a);
        promotions.mark_promoted(b);
        promotions.demote(b, 1, 1);
        promotions.retain(|k| *k == a);
        assert_eq!(promotions.promoted(), [a]);
        assert_eq!(promotions.carried(&b), (0, 0));
    }

    #[test]
    fn a_commit_that_is_not_ours_is_a_firewall_change() {
        let mut watch = FirewallWatch::default();
        assert!(!watch.changed(100, 0), "the first read is the baseline");
        assert!(!watch.changed(103, 3), "three commits, all ours");
        assert!(watch.changed(105, 1), "one of ours, one foreign");
        assert!(!watch.changed(105, 0));
        assert!(watch.changed(106, 0), "fw4 reload");
        watch.reset();
        assert!(!watch.changed(50, 7), "after a reset, a new baseline");
    }
}
