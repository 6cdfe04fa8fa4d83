//! Reading learned state back from the kernel's maps after a restart (SPEC §3 rule 11).
//! Whatever the datapath still forwards is taken back, so `show` lists it again and the
//! engine expires it when it goes idle.

use super::nft::{parse_listed_elements, parse_spi, ListedElement, Nft};
use crate::engine::{BindingRecord, Direction, EngineConfig, IkeFlowRecord, IkeNatSpec, SessionKey, SessionRecord, Snapshot};
use crate::wire::Spi;
use core::time::Duration;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Everything learned that the kernel holds, as a snapshot. Read errors give an empty part.
pub fn read(nft: &Nft, config: &EngineConfig) -> Snapshot {
    let list = |kind: &str, name: &str| nft.list(kind, name).map(|t| parse_listed_elements(&t)).unwrap_or_default();
    snapshot_from_listings(config, &list("map", "bindings"), &list("map", "ike_nat"), &list("map", "esp_out"), &list("map", "esp_in"), &list("set", "esp_seen"))
}

/// The pure part of [`read`]: listings in, records out.
pub fn snapshot_from_listings(
    config: &EngineConfig,
    bindings: &[ListedElement],
    ike_nat: &[ListedElement],
    esp_out: &[ListedElement],
    esp_in: &[ListedElement],
    esp_seen: &[ListedElement],
) -> Snapshot {
    let timeout = config.timeouts.esp_session;
    // (source, destination, SPI) -> (time left, counter) of the SA's `esp_seen` element.
    type Seen = HashMap<(Ipv4Addr, Ipv4Addr, u32), (Duration, Option<(u64, u64)>)>;
    let seen: Seen = esp_seen
        .iter()
        .filter_map(|e| Some((triple(&e.key)?, (e.expires?, e.counter))))
        .collect();
    let mut snapshot = Snapshot::default();
    for e in bindings {
        let (Some(client), Some(nat)) = (addr(e.key.first()), addr(e.value.first())) else { continue };
        let pool = config
            .pools
            .iter()
            .find(|p| p.ranges.iter().any(|r| r.contains(nat)))
            .map(|p| p.name.clone());
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
            let seen_here = seen.get(&(src, dst, spi));
            let idle = seen_here
                .map(|(left, _)| left)
                .or(e.expires.as_ref())
                .map_or(Duration::ZERO, |left| timeout.saturating_sub(*left));
            // The kernel's own count of the SA's packets, where the set keeps one.
            let (packets, bytes) = seen_here.and_then(|(_, c)| *c).unwrap_or((0, 0));
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

    #[test]
    fn kernel_listings_become_records_with_their_idle_time() {
        let config = EngineConfig::default();
        let esp_in = parse_listed_elements("elements = { 198.51.100.1 . 203.0.113.7 . 22136 timeout 30m expires 29m : 192.168.1.10 }");
        let seen = parse_listed_elements("elements = { 198.51.100.1 . 203.0.113.7 . 22136 counter packets 7 bytes 700 expires 29m50s }");
        let bindings = parse_listed_elements("elements = { 192.168.1.10 : 203.0.113.7 }");
        let ike = parse_listed_elements("elements = { 192.168.1.10 . 500 . 198.51.100.1 . 500 : 203.0.113.7 . 500 }");
        let s = snapshot_from_listings(&config, &bindings, &ike, &[], &esp_in, &seen);
        assert_eq!(s.bindings, vec![BindingRecord { client: "192.168.1.10".parse().unwrap(), nat: "203.0.113.7".parse().unwrap(), pool: None }]);
        assert_eq!(s.flows.len(), 1);
        assert_eq!(s.flows[0].spec.nat_port, 500);
        assert_eq!(s.sessions.len(), 1);
        assert_eq!(s.sessions[0].key.spi, Spi(22136));
        assert_eq!(s.sessions[0].idle, Duration::from_secs(10), "from esp_seen, not the map's own expiry");
        assert_eq!((s.sessions[0].packets, s.sessions[0].bytes), (7, 700), "the kernel's own count");
        let merged = merge(s.clone(), s.clone());
        assert_eq!(merged, s);
    }
}
