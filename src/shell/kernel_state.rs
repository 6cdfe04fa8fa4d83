//! Reading learned state back from the kernel's maps after a restart (SPEC §3 rule 11).
//! Whatever the datapath still forwards is taken back, so `show` lists it again and the
//! engine expires it when it goes idle.

use super::nft::{parse_spi, ListedElement};
use super::nft_netlink::NftNetlink;
use crate::engine::{
    BindingRecord, Direction, EngineConfig, IkeFlowRecord, IkeNatSpec, SessionKey, SessionRecord, Snapshot,
};
use crate::wire::nftables::{registers, DumpedElement};
use crate::wire::Spi;
use core::time::Duration;
use std::net::Ipv4Addr;

/// What one register of a key or value holds, for printing it as nft does.
#[derive(Clone, Copy)]
enum Register {
    Address,
    Port,
    Number,
}

const ADDRESS: &[Register] = &[Register::Address];
const ADDRESS_PORT: &[Register] = &[Register::Address, Register::Port];
const FLOW: &[Register] = &[Register::Address, Register::Port, Register::Address, Register::Port];
const SA: &[Register] = &[Register::Address, Register::Address, Register::Number];

/// Everything learned that the kernel holds, as a snapshot, read with netlink dumps. A set
/// that cannot be read (no table yet) gives an empty part.
pub fn read(elements: &mut NftNetlink, config: &EngineConfig) -> Snapshot {
    let mut dump = |set: &'static str, key: &[Register], value: &[Register]| {
        let mut listed = Vec::new();
        let _ = elements.dump_set(set, |e| listed.push(as_listed(e, key, value)));
        listed
    };
    let bindings = dump("bindings", ADDRESS, ADDRESS);
    let ike_nat = dump("ike_nat", FLOW, ADDRESS_PORT);
    let esp_out = dump("esp_out", SA, ADDRESS);
    let esp_in = dump("esp_in", SA, ADDRESS);
    snapshot_from_listings(config, &bindings, &ike_nat, &esp_out, &esp_in)
}

/// A dumped element in the words `nft list` prints, so that one reader serves both.
fn as_listed(e: &DumpedElement<'_>, key: &[Register], value: &[Register]) -> ListedElement {
    let words = |bytes: &[u8], shape: &[Register]| -> Vec<String> {
        registers(bytes)
            .zip(shape)
            .map(|(w, r)| match r {
                Register::Address => Ipv4Addr::from(w).to_string(),
                Register::Port => (w >> 16).to_string(),
                Register::Number => w.to_string(),
            })
            .collect()
    };
    ListedElement {
        key: words(e.key, key),
        value: e.value.map(|v| words(v, value)).unwrap_or_default(),
        expires: e.expires,
        counter: e.counter,
    }
}

/// The pure part of [`read`]: listings in, records out.
pub fn snapshot_from_listings(
    config: &EngineConfig,
    bindings: &[ListedElement],
    ike_nat: &[ListedElement],
    esp_out: &[ListedElement],
    esp_in: &[ListedElement],
) -> Snapshot {
    let timeout = config.timeouts.esp_session;
    let mut snapshot = Snapshot::default();
    for e in bindings {
        let (Some(client), Some(nat)) = (addr(e.key.first()), addr(e.value.first())) else { continue };
        let pool = config.pools.iter().find(|p| p.ranges.iter().any(|r| r.contains(nat))).map(|p| p.name.clone());
        snapshot.bindings.push(BindingRecord { client, nat, pool });
    }
    for e in ike_nat {
        let parsed = (|| {
            let spec = IkeNatSpec {
                client: addr(e.key.first())?,
                client_port: e.key.get(1)?.parse().ok()?,
                server: addr(e.key.get(2))?,
                server_port: e.key.get(3)?.parse().ok()?,
                nat: addr(e.value.first())?,
                nat_port: e.value.get(1)?.parse().ok()?,
            };
            Some(IkeFlowRecord { spec, idle: Duration::ZERO })
        })();
        snapshot.flows.extend(parsed);
    }
    for (direction, elements) in [(Direction::Outbound, esp_out), (Direction::Inbound, esp_in)] {
        for e in elements {
            let (Some((src, dst, spi)), Some(translated)) = (triple(&e.key), addr(e.value.first())) else { continue };
            // The element's timeout restarts when the daemon renews an active SA: what has run
            // of it is how long the SA has been idle, to within one renewal.
            let idle = e.expires.map_or(Duration::ZERO, |left| timeout.saturating_sub(left));
            // The kernel's own count of the SA's packets since the element was (re)added.
            let (packets, bytes) = e.counter.unwrap_or((0, 0));
            snapshot.sessions.push(SessionRecord {
                key: SessionKey { direction, src, dst, spi: Spi(spi) },
                translated,
                idle,
                packets,
                bytes,
            });
        }
    }
    snapshot
}

/// Adds to `base` the records of `extra` it lacks (the kernel first, the state file second).
pub fn merge(mut base: Snapshot, extra: Snapshot) -> Snapshot {
    for b in extra.bindings {
        if !base.bindings.iter().any(|x| x.client == b.client) {
            base.bindings.push(b);
        }
    }
    for f in extra.flows {
        let same = |x: &IkeFlowRecord| {
            (x.spec.client, x.spec.client_port, x.spec.server, x.spec.server_port)
                == (f.spec.client, f.spec.client_port, f.spec.server, f.spec.server_port)
        };
        if !base.flows.iter().any(same) {
            base.flows.push(f);
        }
    }
    for s in extra.sessions {
        if !base.sessions.iter().any(|x| x.key == s.key) {
            base.sessions.push(s);
        }
    }
    base
}

fn addr(text: Option<&String>) -> Option<Ipv4Addr> {
    text?.parse().ok()
}

fn triple(key: &[String]) -> Option<(Ipv4Addr, Ipv4Addr, u32)> {
    match key {
        [a, b, spi] => Some((a.parse().ok()?, b.parse().ok()?, parse_spi(spi)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::nft::parse_listed_elements;

    #[test]
    fn dumped_registers_print_as_nft_lists_them() {
        let key = crate::wire::nftables::RegisterData::udp_flow(
            "192.168.1.10".parse().unwrap(),
            500,
            "198.51.100.1".parse().unwrap(),
            4500,
        );
        let value = crate::wire::nftables::RegisterData::address_port("203.0.113.7".parse().unwrap(), 501);
        let dumped = DumpedElement {
            key: key.as_bytes(),
            value: Some(value.as_bytes()),
            timeout: None,
            expires: None,
            counter: Some((1, 2)),
        };
        let listed = as_listed(&dumped, FLOW, ADDRESS_PORT);
        assert_eq!(listed.key, ["192.168.1.10", "500", "198.51.100.1", "4500"]);
        assert_eq!(listed.value, ["203.0.113.7", "501"]);
        assert_eq!(listed.counter, Some((1, 2)));
        // A key of another length yields fewer words, which the reader skips.
        let short = DumpedElement { key: &[1, 2, 3, 4], value: None, timeout: None, expires: None, counter: None };
        assert_eq!(as_listed(&short, SA, &[]).key.len(), 1);
    }

    #[test]
    fn kernel_listings_become_records_with_their_idle_time() {
        let config = EngineConfig::default();
        let esp_in = parse_listed_elements(
            "elements = { 198.51.100.1 . 203.0.113.7 . 22136 counter packets 7 bytes 700 timeout 30m expires 29m50s : 192.168.1.10 }",
        );
        let bindings = parse_listed_elements("elements = { 192.168.1.10 : 203.0.113.7 }");
        let ike = parse_listed_elements("elements = { 192.168.1.10 . 500 . 198.51.100.1 . 500 : 203.0.113.7 . 500 }");
        let s = snapshot_from_listings(&config, &bindings, &ike, &[], &esp_in);
        assert_eq!(
            s.bindings,
            vec![BindingRecord {
                client: "192.168.1.10".parse().unwrap(),
                nat: "203.0.113.7".parse().unwrap(),
                pool: None
            }]
        );
        assert_eq!(s.flows.len(), 1);
        assert_eq!(s.flows[0].spec.nat_port, 500);
        assert_eq!(s.sessions.len(), 1);
        assert_eq!(s.sessions[0].key.spi, Spi(22136));
        assert_eq!(s.sessions[0].key.direction, Direction::Inbound);
        assert_eq!(s.sessions[0].translated, "192.168.1.10".parse::<Ipv4Addr>().unwrap());
        assert_eq!(s.sessions[0].idle, Duration::from_secs(10), "what has run of the element's timeout");
        assert_eq!((s.sessions[0].packets, s.sessions[0].bytes), (7, 700), "the kernel's own count");
        let merged = merge(s.clone(), s.clone());
        assert_eq!(merged, s);
    }
}
