//! Finding the egress interface and its IPv4 address, for interface SNAT and the pool
//! addresses.
//!
//! The device is given (`--egress-device`, from the init script's `network_get_device wan`),
//! or is the one of the main table's default route, or else is read from UCI: the rule
//! set's `to_zone` names a firewall zone, whose networks name `/etc/config/network`
//! interfaces, whose `device` (or older `ifname`) is the device. Its address is its first
//! IPv4 address as rtnetlink lists them (the primary). The daemon re-resolves on every
//! address or route notification ([`super::routes`]), so a WAN address change is picked up
//! without a restart and without polling.

use crate::config::uci;
use crate::netlink::route::{default_route_interface, InterfaceAddress, Route};
use std::net::Ipv4Addr;

/// The egress as resolved at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Egress {
    /// The interface's index; `None` when no device is known.
    pub index: Option<u32>,
    /// Its first IPv4 address; `None` when it has none (yet).
    pub address: Option<Ipv4Addr>,
}

/// Where the egress device's name may come from, first that answers wins.
#[derive(Debug, Default)]
pub struct EgressHints<'a> {
    /// `--egress-device`'s index, when given (`Some(None)`: given, but no such device now).
    pub explicit: Option<Option<u32>>,
    /// The indexes of the rule sets' `to_zone` devices, from UCI, in order.
    pub zone_devices: &'a [u32],
}

/// Resolves the egress from the kernel's addresses and routes. An explicit device is taken
/// even while it has no address (the address comes later, with a notification).
pub fn resolve(hints: &EgressHints<'_>, addresses: &[InterfaceAddress], routes: &[Route]) -> Egress {
    let address_of = |index: u32| addresses.iter().find(|a| a.index == index).map(|a| a.address);
    let index = match hints.explicit {
        Some(explicit) => explicit,
        None => default_route_interface(routes)
            .or_else(|| hints.zone_devices.iter().copied().find(|&i| address_of(i).is_some())),
    };
    Egress { index, address: index.and_then(address_of) }
}

/// The devices of firewall zone `zone`, from the texts of `/etc/config/firewall` and
/// `/etc/config/network`. Unreadable files give nothing.
pub fn zone_devices(firewall: &str, network: &str, zone: &str) -> Vec<String> {
    let (Ok(firewall), Ok(network)) =
        (uci::parse(firewall, "/etc/config/firewall"), uci::parse(network, "/etc/config/network"))
    else {
        return Vec::new();
    };
    let networks: Vec<String> = firewall
        .sections_of_type("zone")
        .filter(|z| z.get("name") == Some(zone))
        .flat_map(|z| z.get_list("network").unwrap_or(&[]).iter())
        // Older configs list several networks in one space-separated option.
        .flat_map(|n| n.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    networks
        .iter()
        .filter_map(|net| {
            let interface = network.sections_of_type("interface").find(|s| s.name() == Some(net.as_str()))?;
            interface.get("device").or_else(|| interface.get("ifname")).map(str::to_string)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(index: u32, last: u8) -> InterfaceAddress {
        InterfaceAddress { index, address: Ipv4Addr::new(192, 0, 2, last), prefix_len: 24 }
    }

    fn default_via(oif: u32) -> Route {
        Route {
            table: crate::netlink::route::RT_TABLE_MAIN,
            route_type: crate::netlink::route::RTN_UNICAST,
            dst_len: 0,
            dst: None,
            oif: Some(oif),
            gateway: None,
            priority: 0,
        }
    }

    #[test]
    fn the_explicit_device_wins_even_without_an_address() {
        let addresses = [address(2, 7), address(3, 8)];
        let hints = EgressHints { explicit: Some(Some(2)), zone_devices: &[3] };
        assert_eq!(
            resolve(&hints, &addresses, &[default_via(3)]),
            Egress { index: Some(2), address: address(2, 7).address.into() }
        );
        let hints = EgressHints { explicit: Some(Some(4)), zone_devices: &[] };
        assert_eq!(resolve(&hints, &addresses, &[]), Egress { index: Some(4), address: None });
        let hints = EgressHints { explicit: Some(None), zone_devices: &[3] };
        assert_eq!(resolve(&hints, &addresses, &[default_via(3)]), Egress::default(), "named but absent");
    }

    #[test]
    fn then_the_default_route_then_the_first_zone_device_with_an_address() {
        let addresses = [address(2, 7), address(2, 9), address(3, 8)];
        let none = EgressHints::default();
        assert_eq!(
            resolve(&none, &addresses, &[default_via(2)]),
            Egress { index: Some(2), address: Some(Ipv4Addr::new(192, 0, 2, 7)) }
        );
        let zones = EgressHints { explicit: None, zone_devices: &[5, 3] };
        assert_eq!(
            resolve(&zones, &addresses, &[]),
            Egress { index: Some(3), address: Some(Ipv4Addr::new(192, 0, 2, 8)) }
        );
        assert_eq!(resolve(&none, &addresses, &[]), Egress::default());
    }

    #[test]
    fn finds_a_zones_devices_through_its_networks() {
        let firewall = "config zone\n\toption name 'lan'\n\tlist network 'lan'\n\
                        config zone\n\toption name 'wan'\n\toption network 'wan wan6'\n";
        let network = "config interface 'lan'\n\toption device 'br-lan'\n\
                       config interface 'wan'\n\toption device 'eth1'\n\
                       config interface 'wan6'\n\toption ifname 'eth1'\n";
        assert_eq!(zone_devices(firewall, network, "wan"), vec!["eth1", "eth1"]);
        assert_eq!(zone_devices(firewall, network, "lan"), vec!["br-lan"]);
        assert!(zone_devices(firewall, network, "dmz").is_empty());
        assert!(zone_devices("config 'broken", network, "wan").is_empty());
    }
}
