//! The guide's verification commands in Junos format: `show security alg status`,
//! `show security alg` and `show security nat`, rendered from the configuration file alone.
//!
//! Read first: the guide's "verification" and "results" sections (seed document) and SPEC §4,
//! whose Junos-to-UCI table these renderings walk backwards. Pure functions of a checked
//! [`AlgConfig`]: they print the effective configuration, defaults included, so a value the
//! file leaves out appears as the daemon uses it. Junos prints only statements that are set;
//! here every knob of the guide is set, by the file or by its default.
//!
//! Choices made where the guide leaves room:
//! - `show security alg status` lists `IKE-ESP` only. The guide's SRX also lists DNS, FTP,
//!   H323, ... TFTP; on OpenWrt those are kernel conntrack helpers that firewall4 manages,
//!   and this configuration says nothing about them. Junos lists the ALGs a platform has;
//!   this one has one. The layout is Junos's: `ALG Status :`, then two spaces, the name in a
//!   9-column field, `: Enabled` or `: Disabled`.
//! - `show security alg` prints `enable;` only when enabled, as Junos does for a flag, and the
//!   three timeouts always. `ike_port`/`natt_port` are Junos `applications`, not `security alg`
//!   statements: a Junos annotation (`/* ... */`) names them when they differ from 500/4500.
//!   `binding_linger`, `queue_num` and `fail_open` have no Junos statement and are not shown;
//!   `esp_offload 1` is shown as a comment.
//! - `show security nat` prints the `source` hierarchy in Junos order (`pool`,
//!   `address-persistent`, `rule-set`), four spaces per level. A pool range that is exactly
//!   one prefix prints as that prefix (`198.51.100.0/28;`), a single address as `/32`, any
//!   other range as `A/32 to B/32;` as in the guide. A rule without source or destination
//!   addresses matches any: it prints `0.0.0.0/0`, which Junos needs to have a match at all.
//!   Several addresses print as a Junos list, `[ a b ]`. Interface SNAT prints
//!   `source-nat { interface; }`. `proxy_arp` is an annotation on the pool, since the guide's
//!   own `proxy-arp interface …` names an interface that is only known at run time.

use crate::config::model::AlgConfig;
use crate::engine::{AddressRange, Ipv4Net, PoolConfig, RuleConfig, SourceNat, Timeouts};
use crate::wire::Ports;
use core::fmt::Write as _;

/// `show security alg status`.
pub fn render_alg_status(config: &AlgConfig) -> String {
    let state = if config.enabled { "Enabled" } else { "Disabled" };
    format!("ALG Status :\n  {:<9}: {state}\n", "IKE-ESP")
}

/// `show security alg`: the `ike-esp-nat` block of the guide's second example.
pub fn render_security_alg(config: &AlgConfig) -> String {
    let mut out = Block::default();
    let ports = config.engine.ports;
    if ports != Ports::default() {
        out.line(&format!(
            "/* ike_port {}, natt_port {}: in Junos, the ports of the applications custom-ike-alg and custom-ike-natt */",
            ports.ike, ports.natt
        ));
    }
    let settle = config.engine.timeouts.esp_gate_settle.map_or(0, |d| d.as_secs());
    if settle != Timeouts::ESP_GATE_SETTLE_DEFAULT {
        let what = match settle {
            0 => "answered, unused gates keep their full timeout".to_string(),
            s => format!("an answered, unused gate goes {s} s after its answer while another client waits"),
        };
        out.line(&format!("/* esp_gate_settle {settle}: no Junos counterpart; {what} */"));
    }
    if config.esp_offload {
        out.line("/* esp_offload 1: no Junos counterpart; learned SAs are forwarded by the tc eBPF fast path */");
    }
    out.open("ike-esp-nat");
    if config.enabled {
        out.line("enable;");
    }
    let t = &config.engine.timeouts;
    out.line(&format!("state-timeout {};", t.state.as_secs()));
    out.line(&format!("esp-gate-timeout {};", t.esp_gate.as_secs()));
    out.line(&format!("esp-session-timeout {};", t.esp_session.as_secs()));
    out.close();
    out.text
}

/// `show security nat`: pools, address persistence and rule sets of the guide's first and
/// third examples.
pub fn render_security_nat(config: &AlgConfig) -> String {
    let mut out = Block::default();
    out.open("source");
    for (index, pool) in config.engine.pools.iter().enumerate() {
        let proxy_arp = config.pools.get(index).is_some_and(|p| p.proxy_arp);
        pool_block(&mut out, pool, proxy_arp);
    }
    if config.engine.address_persistent {
        out.line("address-persistent;");
    }
    for rule_set in &config.rule_sets {
        out.open(&format!("rule-set {}", name(&rule_set.name)));
        out.line(&format!("from zone {};", name(&rule_set.from_zone.name)));
        out.line(&format!("to zone {};", name(&rule_set.to_zone.name)));
        for rule in config.engine.rules.iter().filter(|r| r.rule_set == rule_set.name) {
            rule_block(&mut out, config, rule);
        }
        out.close();
    }
    out.close();
    out.text
}

fn pool_block(out: &mut Block, pool: &PoolConfig, proxy_arp: bool) {
    out.open(&format!("pool {}", name(&pool.name)));
    if proxy_arp {
        out.line("/* proxy_arp: the daemon answers ARP for these addresses on the egress interface */");
    }
    out.open("address");
    for range in &pool.ranges {
        out.line(&format!("{};", pool_range(range)));
    }
    out.close();
    out.close();
}

fn rule_block(out: &mut Block, config: &AlgConfig, rule: &RuleConfig) {
    out.open(&format!("rule {}", name(&rule.name)));
    out.open("match");
    out.line(&format!("source-address {};", address_list(&rule.sources)));
    out.line(&format!("destination-address {};", address_list(&rule.destinations)));
    out.close();
    out.open("then");
    out.open("source-nat");
    match (rule.source_nat, config.pool_of(rule)) {
        (SourceNat::Pool(_), Some(pool)) => {
            out.open("pool");
            out.line(&format!("{};", name(&pool.name)));
            out.close();
        }
        // A checked configuration never names a missing pool; show what the engine does.
        (SourceNat::Interface, _) | (SourceNat::Pool(_), None) => out.line("interface;"),
    }
    out.close();
    out.close();
    out.close();
}

/// A pool range as Junos writes pool addresses.
fn pool_range(range: &AddressRange) -> String {
    let first = u64::from(u32::from(range.first()));
    let size = range.len();
    if size.is_power_of_two() && first % size == 0 {
        // Exactly one prefix (a single address is a /32).
        let prefix_len = 32 - size.trailing_zeros();
        format!("{}/{prefix_len}", range.first())
    } else {
        format!("{}/32 to {}/32", range.first(), range.last())
    }
}

/// A rule's addresses: one, a `[ … ]` list, or any.
fn address_list(nets: &[Ipv4Net]) -> String {
    match nets {
        [] => Ipv4Net::ANY.to_string(),
        [one] => one.to_string(),
        many => {
            let items: Vec<String> = many.iter().map(Ipv4Net::to_string).collect();
            format!("[ {} ]", items.join(" "))
        }
    }
}

/// A name as Junos prints it: quoted when it holds anything but letters, digits and `_-.`.
fn name(value: &str) -> String {
    let plain = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if plain {
        value.to_owned()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Curly-brace text, four spaces per level.
#[derive(Debug, Default)]
struct Block {
    text: String,
    depth: usize,
}

impl Block {
    fn line(&mut self, statement: &str) {
        let _ = writeln!(self.text, "{:indent$}{statement}", "", indent = self.depth * 4);
    }

    fn open(&mut self, head: &str) {
        self.line(&format!("{head} {{"));
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.line("}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn range(a: &str, b: &str) -> AddressRange {
        AddressRange::new(a.parse().unwrap(), b.parse().unwrap()).unwrap()
    }

    #[test]
    fn pool_ranges_print_as_prefixes_where_they_are_one() {
        assert_eq!(pool_range(&range("10.10.10.1", "10.10.10.10")), "10.10.10.1/32 to 10.10.10.10/32");
        assert_eq!(pool_range(&range("198.51.100.0", "198.51.100.15")), "198.51.100.0/28");
        assert_eq!(pool_range(&range("203.0.113.7", "203.0.113.7")), "203.0.113.7/32");
        assert_eq!(pool_range(&range("198.51.100.8", "198.51.100.23")), "198.51.100.8/32 to 198.51.100.23/32");
        assert_eq!(pool_range(&range("0.0.0.0", "255.255.255.255")), "0.0.0.0/0");
    }

    #[test]
    fn address_lists_follow_junos() {
        let net = |a: &str, n| Ipv4Net::new(a.parse::<Ipv4Addr>().unwrap(), n).unwrap();
        assert_eq!(address_list(&[]), "0.0.0.0/0");
        assert_eq!(address_list(&[net("1.1.1.0", 24)]), "1.1.1.0/24");
        assert_eq!(address_list(&[net("1.1.1.0", 24), net("3.3.3.3", 32)]), "[ 1.1.1.0/24 3.3.3.3/32 ]");
    }

    #[test]
    fn names_are_quoted_only_when_junos_would() {
        assert_eq!(name("rs1"), "rs1");
        assert_eq!(name("lan_wan"), "lan_wan");
        assert_eq!(name("@rule[0]"), "\"@rule[0]\"");
    }
}
