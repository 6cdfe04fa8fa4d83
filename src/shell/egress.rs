//! Finding the egress interface's IPv4 address, for interface SNAT.
//!
//! The device is given (`--egress-device`, from the init script's `network_get_device wan`),
//! or taken from the default route in `/proc/net/route`, or else read from UCI: the rule
//! set's `to_zone` names a firewall zone, whose networks name `/etc/config/network`
//! interfaces, whose `device` (or older `ifname`) is the device. Its address comes from
//! `getifaddrs(3)`. Polled by the daemon, so a WAN address change is picked up without a
//! restart.

use crate::config::uci;
use std::net::Ipv4Addr;

/// The device that holds the IPv4 default route, from `/proc/net/route` text.
pub fn default_route_device(proc_net_route: &str) -> Option<String> {
    proc_net_route.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
            [iface, "00000000", _, _, _, _, _, "00000000", ..] => Some((*iface).to_string()),
            _ => None,
        }
    })
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

/// The first IPv4 address of `device`, if it has one.
pub fn ipv4_address_of(device: &str) -> Option<Ipv4Addr> {
    interface_addresses().into_iter().find(|(name, _)| name == device).map(|(_, addr)| addr)
}

/// Every (interface, IPv4 address) pair of this network namespace, from `getifaddrs(3)`.
pub fn interface_addresses() -> Vec<(String, Ipv4Addr)> {
    let Ok(list) = nix::ifaddrs::getifaddrs() else { return Vec::new() };
    list.filter_map(|entry| {
        let address = entry.address?.as_sockaddr_in()?.ip();
        Some((entry.interface_name, address))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_default_route_device() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     br-lan\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     wan\t00000000\t017100CB\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_route_device(table).as_deref(), Some("wan"));
        assert_eq!(default_route_device("Iface\tDestination\n"), None);
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

    #[test]
    fn loopback_has_its_address() {
        assert_eq!(ipv4_address_of("lo"), Some(Ipv4Addr::LOCALHOST));
    }
}
