//! The lab's router firewall (`lab/guest/fw4.nft`) has the shape firewall4 renders for
//! OpenWrt's stock `/etc/config/firewall`: the same chains in fw4's order (its
//! `ruleset.uc` template: filter chains, per-zone chains with the lan zone's conntrack
//! helper chain after its forward chain, NAT, raw, mangle), and the helper assignment jump
//! from `prerouting`. The lab loads the file into a real kernel (`guest/topo.sh`); this
//! checks what a kernel cannot: that it still looks like fw4's output.

// Tests may unwrap: a panic is a test failure with its message.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::fs;
use std::path::Path;

/// The chains fw4 renders for zones lan (with conntrack helpers, the default) and wan
/// (masquerade, MTU fix), forward policy drop.
const STOCK_FW4_CHAINS: &[&str] = &[
    "input",
    "forward",
    "output",
    "prerouting",
    "handle_reject",
    "syn_flood",
    "input_lan",
    "output_lan",
    "forward_lan",
    "helper_lan",
    "accept_from_lan",
    "accept_to_lan",
    "input_wan",
    "output_wan",
    "forward_wan",
    "accept_to_wan",
    "reject_from_wan",
    "reject_to_wan",
    "dstnat",
    "srcnat",
    "srcnat_wan",
    "raw_prerouting",
    "raw_output",
    "mangle_prerouting",
    "mangle_postrouting",
    "mangle_input",
    "mangle_output",
    "mangle_forward",
];

fn ruleset() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/guest/fw4.nft")).unwrap()
}

/// The body of `chain NAME { ... }` (chains hold no nested braces except sets on one line).
fn chain_body<'a>(ruleset: &'a str, name: &str) -> &'a str {
    let start = ruleset.find(&format!("\tchain {name} {{\n")).unwrap_or_else(|| panic!("no chain {name}"));
    let body = &ruleset[start..];
    &body[..body.find("\n\t}\n").unwrap()]
}

#[test]
fn lab_firewall_has_fw4s_chains_in_fw4s_order() {
    let ruleset = ruleset();
    let chains: Vec<&str> = ruleset
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("chain "))
        .map(|l| l.trim_end_matches(" {"))
        .collect();
    assert_eq!(chains, STOCK_FW4_CHAINS);
}

#[test]
fn lan_traffic_jumps_to_the_helper_chain_as_fw4_renders_it() {
    let ruleset = ruleset();
    assert!(chain_body(&ruleset, "prerouting")
        .contains("iifname \"br-lan\" jump helper_lan comment \"!fw4: Handle lan IPv4/IPv6 helper assignment\""));
    // A stock image has no conntrack helper module: fw4 renders the chain empty.
    assert_eq!(chain_body(&ruleset, "helper_lan").lines().count(), 1);
}

#[test]
fn stock_ipsec_passthrough_rules_are_there() {
    let ruleset = ruleset();
    let forward_wan = chain_body(&ruleset, "forward_wan");
    assert!(forward_wan.contains("meta l4proto esp counter jump accept_to_lan comment \"!fw4: Allow-IPSec-ESP\""));
    assert!(forward_wan.contains("udp dport 500 counter jump accept_to_lan comment \"!fw4: Allow-ISAKMP\""));
}
