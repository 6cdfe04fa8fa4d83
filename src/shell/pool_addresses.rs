//! Answering ARP for NAT pool addresses (`option proxy_arp '1'`, the guide's prerequisite).
//!
//! Linux's proxy ARP (`NTF_PROXY` neighbour entries) answers only for addresses whose
//! route leaves through another interface (`arp_process`: `rt->dst.dev != dev`). Pool
//! addresses on the WAN's own subnet route out of the WAN itself, so they would never be
//! answered. The daemon therefore adds each pool address to the egress device as a /32:
//! the kernel answers ARP for it and accepts packets to it, and the ALG's prerouting rules
//! still rewrite inbound ESP to the client before the local-delivery decision. Other
//! traffic to a pool address meets the router's own input policy, as on Junos.
//! Added with `ip` at start and on reload. They stay when the daemon stops, like its table,
//! so learned SAs keep flowing; they go when the ALG is disabled. Errors are reported, not
//! fatal.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// Adds `addresses` to `device` as /32s; returns one message per failure.
pub fn add(device: &str, addresses: &[Ipv4Addr]) -> Vec<String> {
    addresses.iter().filter_map(|a| run("add", device, *a).err()).collect()
}

/// Removes them again; addresses already gone are not an error.
pub fn remove(device: &str, addresses: &[Ipv4Addr]) -> Vec<String> {
    addresses.iter().filter_map(|a| run("del", device, *a).err()).collect()
}

fn run(op: &str, device: &str, address: Ipv4Addr) -> Result<(), String> {
    let output = Command::new(super::programs::program("ip"))
        .args(["-4", "addr", op, &format!("{address}/32"), "dev", device])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Adding what is there, or removing what is gone, leaves the wanted state.
    let benign = (op == "add" && stderr.contains("File exists")) || (op == "del" && stderr.contains("Cannot assign"));
    if output.status.success() || benign {
        Ok(())
    } else {
        Err(format!("ip addr {op} {address}/32 dev {device}: {}", stderr.trim()))
    }
}
