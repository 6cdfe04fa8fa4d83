//! Answering ARP for NAT pool addresses (`option proxy_arp '1'`, the guide's prerequisite).
//!
//! Linux's proxy ARP (`NTF_PROXY` neighbour entries) answers only for addresses whose
//! route leaves through another interface (`arp_process`: `rt->dst.dev != dev`). Pool
//! addresses on the WAN's own subnet route out of the WAN itself, so they would never be
//! answered. The daemon therefore adds each pool address to the egress device as a /32:
//! the kernel answers ARP for it and accepts packets to it, and the ALG's prerouting rules
//! still rewrite inbound ESP to the client before the local-delivery decision. Other
//! traffic to a pool address meets the router's own input policy, as on Junos.
//! Added and removed over rtnetlink ([`super::routes`], a few hundred per datagram, with
//! the kernel's errno for each refusal) at start and on reload, instead of one `ip` process
//! per address: a pool may hold 65,536. They stay when the daemon stops, like its table,
//! so learned SAs keep flowing; they go when the ALG is disabled. Errors are reported, not
//! fatal.

use super::egress::Egress;
use super::routes::{RouteError, RouteSocket};
use crate::config::model::AlgConfig;
use crate::netlink::route::AddressOp;
use std::net::Ipv4Addr;

/// Adds `addresses` to interface `index` as /32s; returns each failure. An address that is
/// there already (EEXIST) is what we wanted.
pub fn add(routes: &mut RouteSocket, index: u32, addresses: &[Ipv4Addr]) -> Vec<RouteError> {
    let refused = routes.change_addresses(AddressOp::Add, index, addresses);
    refused.into_iter().filter(|e| e.errno != libc::EEXIST).collect()
}

/// Removes them again; an address already gone (EADDRNOTAVAIL) is not an error.
pub fn remove(routes: &mut RouteSocket, index: u32, addresses: &[Ipv4Addr]) -> Vec<RouteError> {
    let refused = routes.change_addresses(AddressOp::Remove, index, addresses);
    refused.into_iter().filter(|e| e.errno != libc::EADDRNOTAVAIL).collect()
}

/// Addresses of the pools with `proxy_arp '1'`.
pub fn of_proxy_arp_pools(config: &AlgConfig) -> Vec<Ipv4Addr> {
    config.proxy_arp_pools().flat_map(|p| p.ranges.iter().flat_map(|r| r.iter())).collect()
}

/// Makes the kernel answer ARP for `config`'s proxy-ARP pools on the egress device.
pub fn claim(routes: &mut RouteSocket, egress: Egress, config: &AlgConfig) {
    change(routes, egress, AddressOp::Add, &of_proxy_arp_pools(config));
}

pub fn release(routes: &mut RouteSocket, egress: Egress, config: &AlgConfig) {
    change(routes, egress, AddressOp::Remove, &of_proxy_arp_pools(config));
}

/// Adds or removes pool addresses on the egress device; each refusal is one log line.
pub fn change(routes: &mut RouteSocket, egress: Egress, op: AddressOp, addresses: &[Ipv4Addr]) {
    if addresses.is_empty() {
        return;
    }
    let Some(index) = egress.index else {
        eprintln!("ike-esp-alg: proxy ARP: no egress device known (use --egress-device)");
        return;
    };
    let problems = match op {
        AddressOp::Add => add(routes, index, addresses),
        AddressOp::Remove => remove(routes, index, addresses),
    };
    for problem in problems {
        eprintln!("ike-esp-alg: proxy ARP: {problem}");
    }
}
