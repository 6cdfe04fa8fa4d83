//! Persistent source-NAT address choice and IKE source-port choice (SPEC §3 rules 8 and 9).
//!
//! A client gets one NAT address and keeps it while it has any state, session or flow.
//! Addresses are handed out lowest-unused first; once every address of a pool is in use,
//! new clients share the least-used one (lowest first on ties). Sharing is fine: telling
//! clients on one address apart is what the ALG is for.
//!
//! IKE's source port is kept where the translated tuple is free, as many non-NAT-T servers
//! answer only to port 500; otherwise a port is picked from the range Linux's NAT would
//! use for that original port (nf_nat_l4proto_unique_tuple): 1-511 for ports below 512,
//! 600-1023 for other privileged ports, 1024-65535 otherwise.

use super::config::PoolConfig;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// How many clients are bound to each NAT address in use.
#[derive(Debug, Default)]
pub(crate) struct AddressUsage {
    clients: HashMap<Ipv4Addr, u32>,
}

impl AddressUsage {
    /// Picks an address of `pool` for a new client, and how many clients already use it.
    pub(crate) fn choose(&self, pool: &PoolConfig) -> Option<(Ipv4Addr, u32)> {
        let mut least_used: Option<(Ipv4Addr, u32)> = None;
        for range in &pool.ranges {
            for addr in range.iter() {
                let users = self.users(addr);
                if users == 0 {
                    return Some((addr, 0));
                }
                if least_used.is_none_or(|(_, best)| users < best) {
                    least_used = Some((addr, users));
                }
            }
        }
        least_used
    }

    /// Clients currently bound to `addr`.
    pub(crate) fn users(&self, addr: Ipv4Addr) -> u32 {
        self.clients.get(&addr).copied().unwrap_or(0)
    }

    /// Records one more client on `addr`; returns how many were there before.
    pub(crate) fn acquire(&mut self, addr: Ipv4Addr) -> u32 {
        let users = self.clients.entry(addr).or_insert(0);
        let before = *users;
        *users = users.saturating_add(1);
        before
    }

    /// Records one client fewer on `addr`.
    pub(crate) fn release(&mut self, addr: Ipv4Addr) {
        if let Some(users) = self.clients.get_mut(&addr) {
            *users = users.saturating_sub(1);
            if *users == 0 {
                self.clients.remove(&addr);
            }
        }
    }
}

/// The ports Linux's NAT would choose from when it must translate `original`.
pub(crate) fn translation_port_range(original: u16) -> (u16, u16) {
    match original {
        0..=511 => (1, 511),
        512..=1023 => (600, 1023),
        _ => (1024, u16::MAX),
    }
}

/// The first port for which `is_free` holds: `original` itself if possible, otherwise
/// the ports after it in its translation range, wrapping around.
pub(crate) fn choose_port(original: u16, mut is_free: impl FnMut(u16) -> bool) -> Option<u16> {
    if original != 0 && is_free(original) {
        return Some(original);
    }
    let (low, high) = translation_port_range(original);
    let start = original.clamp(low, high);
    let after = (start..=high).skip(1);
    let before = low..=start;
    after.chain(before).find(|&p| p != original && is_free(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::AddressRange;

    fn pool(first: &str, last: &str) -> PoolConfig {
        PoolConfig {
            name: "p".into(),
            ranges: vec![AddressRange::new(first.parse().unwrap(), last.parse().unwrap()).unwrap()],
        }
    }

    #[test]
    fn hands_out_unused_addresses_first_then_shares_the_least_used() {
        let p = pool("203.0.113.1", "203.0.113.2");
        let mut usage = AddressUsage::default();
        let a = usage.choose(&p).unwrap();
        assert_eq!(a, ("203.0.113.1".parse().unwrap(), 0));
        usage.acquire(a.0);
        let b = usage.choose(&p).unwrap();
        assert_eq!(b, ("203.0.113.2".parse().unwrap(), 0));
        usage.acquire(b.0);
        usage.acquire(b.0);
        assert_eq!(usage.choose(&p).unwrap(), ("203.0.113.1".parse().unwrap(), 1));
        usage.release(b.0);
        usage.release(b.0);
        assert_eq!(usage.choose(&p).unwrap(), ("203.0.113.2".parse().unwrap(), 0));
    }

    #[test]
    fn keeps_the_port_when_free_and_otherwise_stays_in_linux_ranges() {
        assert_eq!(choose_port(500, |_| true), Some(500));
        assert_eq!(choose_port(500, |p| p != 500), Some(501));
        assert_eq!(choose_port(500, |p| p != 500 && p != 501), Some(502));
        assert_eq!(choose_port(511, |p| p < 400), Some(1));
        assert_eq!(choose_port(700, |p| p != 700), Some(701));
        assert_eq!(choose_port(4500, |p| p != 4500), Some(4501));
        assert_eq!(choose_port(65535, |p| p != 65535), Some(1024));
        assert_eq!(choose_port(500, |_| false), None);
    }
}
