//! Reading learned state back from the kernel's maps after a restart (SPEC §3 rule 11).
//! Whatever the datapath still forwards is taken back, so `show` lists it again and the
//! engine expires it when it goes idle.
//!
//! Each dumped element decodes straight into the engine's record type by the shape of its
//! map's key and value (the `typeof` lines of [`super::nft::render_ruleset`]); an element of
//! another shape is skipped, not guessed at.

use super::nft_netlink::NftNetlink;
use super::table_names::SetName;
use crate::engine::{
    BindingRecord, Direction, EngineConfig, IkeFlowRecord, IkeNatSpec, SessionKey, SessionRecord, Snapshot,
};
use crate::netlink::nftables::{registers, DumpedElement};
use crate::wire::Spi;
use core::time::Duration;
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// Everything learned that the kernel holds, as a snapshot, read with netlink dumps. A set
/// that cannot be read (no table yet) gives an empty part.
pub fn read(elements: &mut NftNetlink, config: &EngineConfig) -> Snapshot {
    let mut snapshot = Snapshot::default();
    let _ = elements.dump_set(SetName::Bindings, |e| snapshot.bindings.extend(binding_record(e, config)));
    let _ = elements.dump_set(SetName::IkeNat, |e| snapshot.flows.extend(ike_flow_record(e)));
    let timeout = config.timeouts.esp_session;
    for (set, direction) in [(SetName::EspOut, Direction::Outbound), (SetName::EspIn, Direction::Inbound)] {
        let _ = elements.dump_set(set, |e| snapshot.sessions.extend(session_record(e, direction, timeout)));
    }
    snapshot
}

/// The registers of a key or value, if there are exactly `N`.
fn words<const N: usize>(bytes: &[u8]) -> Option<[u32; N]> {
    if bytes.len() != N * 4 {
        return None;
    }
    let mut out = [0u32; N];
    for (slot, word) in out.iter_mut().zip(registers(bytes)) {
        *slot = word;
    }
    Some(out)
}

/// A port as nft keeps it in a register: in the high half, big-endian.
fn port(word: u32) -> u16 {
    (word >> 16) as u16
}

/// `bindings`: `ip saddr : ip saddr`. The pool is the one whose range holds the address.
pub fn binding_record(e: &DumpedElement<'_>, config: &EngineConfig) -> Option<BindingRecord> {
    let [client] = words::<1>(e.key)?;
    let [nat] = words::<1>(e.value?)?;
    let nat = Ipv4Addr::from(nat);
    let pool = config.pools.iter().find(|p| p.ranges.iter().any(|r| r.contains(nat))).map(|p| p.name.clone());
    Some(BindingRecord { client: Ipv4Addr::from(client), nat, pool })
}

/// `ike_nat`: `ip saddr . udp sport . ip daddr . udp dport : ip saddr . udp sport`.
pub fn ike_flow_record(e: &DumpedElement<'_>) -> Option<IkeFlowRecord> {
    let [client, client_port, server, server_port] = words::<4>(e.key)?;
    let [nat, nat_port] = words::<2>(e.value?)?;
    let spec = IkeNatSpec {
        client: Ipv4Addr::from(client),
        client_port: port(client_port),
        server: Ipv4Addr::from(server),
        server_port: port(server_port),
        nat: Ipv4Addr::from(nat),
        nat_port: port(nat_port),
    };
    Some(IkeFlowRecord { spec, idle: Duration::ZERO })
}

/// `esp_out` and `esp_in`: `ip saddr . ip daddr . esp spi : ip saddr|daddr`, counted.
pub fn session_record(e: &DumpedElement<'_>, direction: Direction, timeout: Duration) -> Option<SessionRecord> {
    let [src, dst, spi] = words::<3>(e.key)?;
    let [translated] = words::<1>(e.value?)?;
    // The element's timeout restarts when the daemon renews an active SA: what has run of
    // it is how long the SA has been idle, to within one renewal.
    let idle = e.expires.map_or(Duration::ZERO, |left| timeout.saturating_sub(left));
    // The kernel's own count of the SA's packets since the element was (re)added.
    let (packets, bytes) = e.counter.unwrap_or((0, 0));
    Some(SessionRecord {
        key: SessionKey { direction, src: Ipv4Addr::from(src), dst: Ipv4Addr::from(dst), spi: Spi(spi) },
        translated: Ipv4Addr::from(translated),
        idle,
        packets,
        bytes,
    })
}

/// Adds to `base` the records of `extra` it lacks (the kernel first, the state file second).
pub fn merge(mut base: Snapshot, extra: Snapshot) -> Snapshot {
    let clients: HashSet<Ipv4Addr> = base.bindings.iter().map(|b| b.client).collect();
    base.bindings.extend(extra.bindings.into_iter().filter(|b| !clients.contains(&b.client)));
    let flow = |f: &IkeFlowRecord| (f.spec.client, f.spec.client_port, f.spec.server, f.spec.server_port);
    let flows: HashSet<_> = base.flows.iter().map(flow).collect();
    base.flows.extend(extra.flows.into_iter().filter(|f| !flows.contains(&flow(f))));
    let sessions: HashSet<SessionKey> = base.sessions.iter().map(|s| s.key).collect();
    base.sessions.extend(extra.sessions.into_iter().filter(|s| !sessions.contains(&s.key)));
    base
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::nftables::RegisterData;

    const C: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const S: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const N: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

    fn element<'a>(key: &'a RegisterData, value: Option<&'a RegisterData>) -> DumpedElement<'a> {
        DumpedElement {
            key: key.as_bytes(),
            value: value.map(RegisterData::as_bytes),
            timeout: None,
            expires: None,
            counter: None,
        }
    }

    #[test]
    fn dumped_elements_become_records_by_the_shape_of_their_map() {
        let config = EngineConfig::default();
        let (key, value) = (RegisterData::address(C), RegisterData::address(N));
        assert_eq!(
            binding_record(&element(&key, Some(&value)), &config),
            Some(BindingRecord { client: C, nat: N, pool: None })
        );
        let (key, value) = (RegisterData::udp_flow(C, 500, S, 4500), RegisterData::address_port(N, 501));
        let flow = ike_flow_record(&element(&key, Some(&value))).expect("a flow");
        assert_eq!(
            flow.spec,
            IkeNatSpec { client: C, client_port: 500, server: S, server_port: 4500, nat: N, nat_port: 501 }
        );
        let (key, value) = (RegisterData::esp_key(S, N, Spi(22136)), RegisterData::address(C));
        let mut e = element(&key, Some(&value));
        e.expires = Some(Duration::from_secs(29 * 60 + 50));
        e.counter = Some((7, 700));
        let s = session_record(&e, Direction::Inbound, Duration::from_secs(1800)).expect("a session");
        assert_eq!(s.key, SessionKey { direction: Direction::Inbound, src: S, dst: N, spi: Spi(22136) });
        assert_eq!(s.translated, C);
        assert_eq!(s.idle, Duration::from_secs(10), "what has run of the element's timeout");
        assert_eq!((s.packets, s.bytes), (7, 700), "the kernel's own count");
    }

    #[test]
    fn elements_of_another_shape_are_skipped() {
        let config = EngineConfig::default();
        let (address, sa) = (RegisterData::address(C), RegisterData::esp_key(S, N, Spi(1)));
        // A key one register short or long, or a missing value, is not a record.
        assert_eq!(binding_record(&element(&sa, Some(&address)), &config), None);
        assert_eq!(binding_record(&element(&address, None), &config), None);
        assert!(ike_flow_record(&element(&sa, Some(&address))).is_none());
        assert!(session_record(&element(&address, Some(&address)), Direction::Outbound, Duration::ZERO).is_none());
        assert!(session_record(&element(&sa, Some(&sa)), Direction::Outbound, Duration::ZERO).is_none());
        let partial = DumpedElement { key: &[1, 2, 3, 4, 5], value: None, timeout: None, expires: None, counter: None };
        assert_eq!(binding_record(&partial, &config), None);
    }

    #[test]
    fn merge_keeps_the_kernel_first_and_adds_only_what_it_lacks() {
        let session = |spi, packets| SessionRecord {
            key: SessionKey { direction: Direction::Outbound, src: C, dst: S, spi: Spi(spi) },
            translated: N,
            idle: Duration::ZERO,
            packets,
            bytes: 0,
        };
        let kernel = Snapshot {
            sessions: vec![session(1, 5)],
            bindings: vec![BindingRecord { client: C, nat: N, pool: None }],
            ..Snapshot::default()
        };
        let file = Snapshot {
            sessions: vec![session(1, 0), session(2, 0)],
            bindings: vec![BindingRecord { client: C, nat: S, pool: None }],
            ..Snapshot::default()
        };
        let merged = merge(kernel.clone(), file);
        assert_eq!(merged.sessions, vec![session(1, 5), session(2, 0)], "the kernel's count wins");
        assert_eq!(merged.bindings, kernel.bindings);
        assert_eq!(merge(kernel.clone(), kernel.clone()), kernel);
    }
}
