//! The kernel datapath in nftables: our own table and its rules. Rendering and parsing are
//! pure; [`Nft::apply`] runs `nft -f -` for the ruleset, and [`super::nft_netlink`] writes
//! the engine's actions as set elements.
//!
//! # Design (SPEC §3 rules 3, 5, 6, 10, 11)
//!
//! Learned ESP SAs are forwarded by **stateless rewrite keyed by (addresses, SPI)**, with
//! ESP kept out of conntrack (`notrack` at raw priority). Stock conntrack tracks ESP by
//! (source, destination, protocol) alone, so a second client's ESP would clash with the
//! first one's entry (`insert_failed`) and inbound ESP would be de-NATed to the first
//! client; acting before conntrack avoids both. The anchors measured this design at 1.01×
//! stock conntrack+masquerade, flat from 1 to 100k elements; per-SA conntrack zones ran at
//! 0.78× and NFQUEUE-per-packet at 0.20×.
//!
//! - `prerouting` (raw − 10) first accepts ESP of learned SAs, untracked: an inbound SA is
//!   found and rewritten to its client by one map lookup (`esp_in`: a missing key just ends
//!   the rule), an outbound one by one set lookup (`esp_out_keys`). Only then does unknown
//!   ESP between rule clients and servers, or from a rule server to a NAT address, go to
//!   the queue, untracked too. IKE on the IKE port, both ways, always goes to the queue.
//! - Outbound sources are rewritten in `postrouting` (`esp_out`), not prerouting: a source
//!   equal to the router's own address in prerouting is a martian and is dropped unless
//!   `accept_local` is set, a sysctl the daemon leaves alone.
//! - The kernel counts each SA's packets and bytes in its map element (`counter` on
//!   `esp_out` and `esp_in`, updated by the lookups above). The daemon reads the counters
//!   with a netlink dump: an SA whose count grew since the last read was active. This costs
//!   the fast path far less than a per-packet update of a dynamic set (measured: about
//!   25 ns against 110 ns per packet; BENCHMARKS-datapath.md), at the price of knowing
//!   idleness to within one read interval.
//! - Every element carries `esp_session_timeout`, so SAs expire in the kernel on their own,
//!   with or without a daemon; the daemon renews the elements of active SAs before that.
//! - IKE flows get their translation from the `ike_nat` map (port 500 kept where free) and
//!   bound clients' NAT-T from `bindings`, in a nat chain ahead of fw4's `srcnat`, so the
//!   persistent address wins over masquerade for the flows the ALG covers. These are
//!   `snat`, whose conntrack entries the kernel keeps when the address goes (it flushes
//!   masquerade's only): on an egress address change the daemon deletes the ones
//!   translated to the old address itself ([`super::conntrack`]).
//! - Queue rules use `queue ... bypass`: with no daemon bound, packets pass (fail-open) and
//!   learned SAs keep flowing in the kernel. Where the kernel lacks the nft `queue`
//!   expression, [`QueueBackend::XtablesMark`] marks the packet and an `iptables-nft`
//!   NFQUEUE rule queues it instead.
//! - Queued *outbound* ESP is left tracked (nft backend). The daemon's verdict for a packet
//!   whose session it has just installed is `NF_REPEAT`: the kernel runs this chain again,
//!   where the learned-SA rule now takes it untracked, and the `postrouting` map rewrites
//!   it. What the daemon never decides (the queue full, or no daemon bound: fail-open)
//!   goes on tracked, so conntrack and the firewall's masquerade translate it as on a
//!   stock router. Untracked, it would leave by the WAN with its LAN source address (the
//!   lab's `alg-queue-burst` measured 10,367 of a 20,000-SA burst doing so before this).
//!   Inbound ESP stays untracked when queued: what fails open there is addressed to the
//!   router itself and reaches no client (SPEC rule 6). The xtables backend queues from
//!   its own table, which `NF_REPEAT` would run again (queueing the packet again), so it
//!   keeps `notrack` and with it the untranslated fail-open.
//!
//! Kernels before about 6.3 refuse a map used as a plain set (`key @map`, EINVAL), so each
//! outbound session's key also goes into `esp_out_keys` for the membership test; maps are
//! only used inside statements.
//!
//! # Promotion to the eBPF fast path (`esp_offload`)
//!
//! With the tc fast path running ([`super::offload`]), the first rule of the `postrouting`
//! chain (priority `srcnat - 10`: a forwarded packet gets there only after every filter of
//! the forward hook, fw4's included, let it through) notes every ESP packet in `esp_passed`,
//! before the rewrite: addresses as forwarded, so an outbound SA appears as the client sent
//! it and an inbound one with its client's address. A packet that a firewall rule dropped
//! never gets there, so only SAs whose packets the firewall lets through are promoted, and a
//! firewall change empties the fast path so that they must pass it again. The rule sits in
//! a chain that every forwarded packet passes anyway: other traffic pays for no extra base
//! chain (earlier versions used a `forward` chain of their own, one more for every
//! forwarded packet). Without the fast path the rule and the set are not there.
//!
//! The table is ours alone (fw4 flushes `inet fw4` on every reload). Sets and maps are
//! created with `add`, so re-applying the ruleset (reload, restart) keeps learned elements.

use crate::engine::{EngineConfig, Ipv4Net};
use core::fmt::Write as _;
use core::time::Duration;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

pub use super::table_names::TABLE;
use super::table_names::{CounterName, SetName};

/// How packets reach the daemon's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueBackend {
    /// `queue num N bypass` (OpenWrt: kmod-nft-queue).
    Nft,
    /// Set this mark bit; an `iptables-nft -t raw ... -m mark --mark M/M -j NFQUEUE
    /// --queue-bypass` rule queues it (kernels without the nft `queue` expression).
    XtablesMark(u32),
}

impl QueueBackend {
    /// Whether a verdict can send a queued packet through our prerouting chain again
    /// (`NF_REPEAT`). Only the nft backend queues from that chain; the xtables one queues
    /// from iptables' raw table, which a repeat would run again, queueing the packet again.
    pub fn repeats_our_chain(self) -> bool {
        matches!(self, QueueBackend::Nft)
    }
}

/// What the ruleset depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatapathSettings {
    pub queue_num: u16,
    pub backend: QueueBackend,
    pub ike_port: u16,
    pub natt_port: u16,
    /// Rule sources (inside); empty means any.
    pub clients: Vec<Ipv4Net>,
    /// Rule destinations (outside); empty means any.
    pub servers: Vec<Ipv4Net>,
    /// Every address that can be a NAT address: pool ranges as prefixes, and the egress address.
    pub nat_addresses: Vec<Ipv4Net>,
    /// Capacity of every per-session set and map: the engine's session limit.
    pub max_sessions: usize,
    /// The eBPF fast path runs: ESP that passed the forward hook's filters is noted in
    /// `esp_passed` for promotion (see the design notes above).
    pub promotion: bool,
}

impl DatapathSettings {
    /// Settings for an engine configuration and the current egress address.
    pub fn from_config(
        config: &EngineConfig,
        egress: Option<Ipv4Addr>,
        queue_num: u16,
        backend: QueueBackend,
    ) -> DatapathSettings {
        let any_if_empty = |nets: Vec<Ipv4Net>| if nets.is_empty() { vec![Ipv4Net::ANY] } else { nets };
        let mut clients = Vec::new();
        let mut servers = Vec::new();
        for rule in &config.rules {
            if rule.sources.is_empty() {
                clients.push(Ipv4Net::ANY);
            }
            clients.extend(rule.sources.iter().copied());
            if rule.destinations.is_empty() {
                servers.push(Ipv4Net::ANY);
            }
            servers.extend(rule.destinations.iter().copied());
        }
        let mut nat_addresses: Vec<Ipv4Net> = config
            .pools
            .iter()
            .flat_map(|p| p.ranges.iter())
            .flat_map(|r| r.iter())
            .filter_map(|a| Ipv4Net::new(a, 32))
            .collect();
        nat_addresses.extend(egress.and_then(|a| Ipv4Net::new(a, 32)));
        DatapathSettings {
            queue_num,
            backend,
            ike_port: config.ports.ike,
            natt_port: config.ports.natt,
            clients: any_if_empty(dedup(clients)),
            servers: any_if_empty(dedup(servers)),
            nat_addresses: dedup(nat_addresses),
            max_sessions: config.limits.max_sessions,
            promotion: false,
        }
    }
}

fn dedup(mut nets: Vec<Ipv4Net>) -> Vec<Ipv4Net> {
    if nets.contains(&Ipv4Net::ANY) {
        return vec![Ipv4Net::ANY];
    }
    nets.sort_by_key(|n| (u32::from(n.network()), n.prefix_len()));
    nets.dedup();
    nets
}

/// The whole table as one nft transaction. Safe to apply again: sets and maps keep their
/// elements; chains and the address sets are rewritten.
pub fn render_ruleset(s: &DatapathSettings) -> String {
    let t = format!("ip {TABLE}");
    let queue = match s.backend {
        QueueBackend::Nft => format!("queue num {} bypass", s.queue_num),
        QueueBackend::XtablesMark(mark) => format!("meta mark set meta mark | 0x{mark:08x}"),
    };
    let mut o = String::new();
    let _ = writeln!(o, "add table {t}");
    for (set, nets) in
        [(SetName::Clients, &s.clients), (SetName::Servers, &s.servers), (SetName::NatAddresses, &s.nat_addresses)]
    {
        let _ = writeln!(o, "add set {t} {set} {{ type ipv4_addr; flags interval; }}");
        let _ = writeln!(o, "flush set {t} {set}");
        if !nets.is_empty() {
            let list: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
            let _ = writeln!(o, "add element {t} {set} {{ {} }}", list.join(", "));
        }
    }
    // Every per-session set and map holds as many elements as the engine's session table,
    // and no more: the kernel refuses what the engine could never have learned.
    let size = s.max_sessions;
    let (clients, servers, nat_addresses) = (SetName::Clients, SetName::Servers, SetName::NatAddresses);
    let (esp_out, esp_in, esp_out_keys) = (SetName::EspOut, SetName::EspIn, SetName::EspOutKeys);
    let (bindings, bound_clients, ike_nat) = (SetName::Bindings, SetName::BoundClients, SetName::IkeNat);
    let [queued_esp_out, queued_esp_in, queued_ike, queued_natt] = CounterName::ALL;
    // Each element counts its SA's packets and bytes: the daemon's measure of activity.
    let _ = writeln!(o, "add map {t} {esp_out} {{ typeof ip saddr . ip daddr . esp spi : ip saddr; size {size}; flags timeout; counter; }}");
    let _ = writeln!(o, "add map {t} {esp_in} {{ typeof ip saddr . ip daddr . esp spi : ip daddr; size {size}; flags timeout; counter; }}");
    // The outbound membership test uses a set: kernels before 6.3 or so refuse a map as a set.
    let _ = writeln!(
        o,
        "add set {t} {esp_out_keys} {{ typeof ip saddr . ip daddr . esp spi; size {size}; flags timeout; }}"
    );
    let _ = writeln!(o, "add map {t} {bindings} {{ typeof ip saddr : ip saddr; }}");
    let _ = writeln!(o, "add set {t} {bound_clients} {{ typeof ip saddr; }}");
    let _ = writeln!(
        o,
        "add map {t} {ike_nat} {{ typeof ip saddr . udp sport . ip daddr . udp dport : ip saddr . udp sport; }}"
    );
    for counter in CounterName::ALL {
        let _ = writeln!(o, "add counter {t} {counter}");
    }
    let chains = [
        ("prerouting", Some("type filter hook prerouting priority raw - 10; policy accept;")),
        ("postrouting", Some("type filter hook postrouting priority srcnat - 10; policy accept;")),
        ("srcnat", Some("type nat hook postrouting priority srcnat - 10; policy accept;")),
    ];
    for (chain, hook) in chains {
        match hook {
            Some(h) => {
                let _ = writeln!(o, "add chain {t} {chain} {{ {h} }}");
            }
            None => {
                let _ = writeln!(o, "add chain {t} {chain}");
            }
        }
        let _ = writeln!(o, "flush chain {t} {chain}");
    }
    let key = "ip saddr . ip daddr . esp spi";
    let (ike, natt) = (s.ike_port, s.natt_port);
    // Queued outbound ESP stays tracked where the verdict can send it through this chain
    // again (see the design notes: fail-open falls back to conntrack and masquerade).
    let out_notrack = if s.backend.repeats_our_chain() { "" } else { " notrack" };
    let rules = [
        // Learned SAs first: a learned key implies the classification below matched when
        // it was learned. Inbound: one map lookup is the test and the rewrite.
        ("prerouting", format!("ip protocol esp ip daddr set {key} map @{esp_in} notrack accept")),
        ("prerouting", format!("ip protocol esp {key} @{esp_out_keys} notrack accept")),
        // Unknown SPIs between rule clients and servers, or from a server to a NAT address.
        ("prerouting", format!("ip protocol esp ip saddr @{clients} ip daddr @{servers}{out_notrack} counter name {queued_esp_out} {queue}")),
        ("prerouting", format!("ip protocol esp ip saddr @{servers} ip daddr @{nat_addresses} notrack counter name {queued_esp_in} {queue}")),
        ("prerouting", format!("udp dport {ike} ip saddr @{clients} ip daddr @{servers} counter name {queued_ike} {queue}")),
        ("prerouting", format!("udp sport {ike} ip saddr @{servers} ip daddr @{nat_addresses} counter name {queued_ike} {queue}")),
        (
            "prerouting",
            format!("udp dport {natt} ip saddr @{clients} ip daddr @{servers} ip saddr != @{bound_clients} counter name {queued_natt} {queue}"),
        ),
        // A key missing from the map ends the rule: other ESP leaves untouched.
        ("postrouting", format!("ip protocol esp ip saddr set {key} map @{esp_out}")),
        (
            "srcnat",
            format!("meta l4proto udp snat ip to ip saddr . udp sport . ip daddr . udp dport map @{ike_nat}"),
        ),
        ("srcnat", format!("ip saddr @{bound_clients} ip daddr @{servers} udp dport {{ {ike}, {natt} }} snat ip to ip saddr map @{bindings}")),
    ];
    let passed = SetName::EspPassed;
    let passed_set =
        format!("{passed} {{ typeof {key}; size {size}; flags dynamic,timeout; timeout {PASSED_TIMEOUT_S}s; }}");
    if s.promotion {
        // Before the rewrite, so that an outbound key is noted as forwarded (see the notes).
        let _ = writeln!(o, "add set {t} {passed_set}");
        let _ = writeln!(o, "add rule {t} postrouting ip protocol esp add @{passed} {{ {key} }}");
    }
    for (chain, rule) in rules {
        let _ = writeln!(o, "add rule {t} {chain} {rule}");
    }
    // Earlier versions noted forwarded ESP in a forward chain of their own: gone, as is
    // the set when nothing is promoted (`add` then `delete`: either state applies).
    let _ = writeln!(o, "add chain {t} forward {{ type filter hook forward priority filter + 100; policy accept; }}");
    let _ = writeln!(o, "delete chain {t} forward");
    if !s.promotion {
        let _ = writeln!(o, "add set {t} {passed_set}");
        let _ = writeln!(o, "delete set {t} {passed}");
    }
    o
}

/// How long `esp_passed` remembers a forwarded ESP key: the daemon reads it every second
/// or so, and an SA not yet learned when it passed is noted again by its next packet.
pub const PASSED_TIMEOUT_S: u32 = 30;

/// Removes the table and with it every rule and queue: stock passthrough (SPEC rule 10).
pub fn render_teardown() -> String {
    format!("delete table ip {TABLE}\n")
}

/// One element of an nft set or map listing: its key fields, optional value, the time
/// left before it expires, and its counter if the set keeps one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedElement {
    pub key: Vec<String>,
    pub value: Vec<String>,
    pub expires: Option<Duration>,
    /// `(packets, bytes)`.
    pub counter: Option<(u64, u64)>,
}

/// Reads the elements out of `nft list set|map ...` text. Unknown tokens are skipped; an
/// element whose shape is unexpected is left out rather than guessed at.
pub fn parse_listed_elements(listing: &str) -> Vec<ListedElement> {
    let Some(start) = listing.find("elements = {") else { return Vec::new() };
    let body = &listing[start + "elements = {".len()..];
    let body = body.split('}').next().unwrap_or("");
    body.split(',').filter_map(parse_element).collect()
}

fn parse_element(text: &str) -> Option<ListedElement> {
    let mut key = Vec::new();
    let mut value = Vec::new();
    let mut expires = None;
    let mut counter = None;
    let mut in_value = false;
    let mut tokens = text.split_whitespace();
    while let Some(token) = tokens.next() {
        match token {
            "." => {}
            ":" => in_value = true,
            "timeout" => {
                tokens.next();
            }
            "expires" => expires = tokens.next().and_then(parse_nft_duration),
            // `counter packets N bytes M`
            "counter" => {
                let mut next_number = |word: &str| match (tokens.next(), tokens.next()) {
                    (Some(w), Some(n)) if w == word => n.parse::<u64>().ok(),
                    _ => None,
                };
                counter = next_number("packets").zip(next_number("bytes"));
            }
            other if in_value => value.push(other.to_string()),
            other => key.push(other.to_string()),
        }
    }
    (!key.is_empty()).then_some(ListedElement { key, value, expires, counter })
}

/// Parses nft's compact durations such as `29m59s992ms`, `1d2h`, `5s`.
pub fn parse_nft_duration(text: &str) -> Option<Duration> {
    let mut total_ms: u64 = 0;
    let mut digits = String::new();
    let mut chars = text.chars().peekable();
    let mut seen_unit = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit_ms: u64 = match c {
            'd' => 86_400_000,
            'h' => 3_600_000,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1
            }
            'm' => 60_000,
            's' => 1_000,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        digits.clear();
        total_ms = total_ms.checked_add(n.checked_mul(unit_ms)?)?;
        seen_unit = true;
    }
    (seen_unit && digits.is_empty()).then(|| Duration::from_millis(total_ms))
}

/// Parses an SPI as nft prints it (decimal) or as we write it (hex with `0x`).
pub fn parse_spi(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Runs nft. One call is one transaction: all of it applies, or none.
#[derive(Debug, Clone)]
pub struct Nft {
    program: std::path::PathBuf,
}

/// Why `nft` did not do what was asked, by blame.
#[derive(Debug)]
pub enum NftError {
    /// The program could not be started (not installed): the system's to fix.
    NotRunnable { program: std::path::PathBuf, source: std::io::Error },
    /// Talking to the running program failed.
    Pipe { step: &'static str, source: std::io::Error },
    /// `nft` refused the script or the request: its first line of complaint. A missing
    /// kernel feature shows up here (see [`NftError::missing_kernel_module`]).
    Refused { message: String },
}

impl NftError {
    /// The OpenWrt package that would supply what the kernel lacks, when `nft`'s complaint
    /// says a feature is missing.
    pub fn missing_kernel_module(&self) -> Option<&'static str> {
        let NftError::Refused { message } = self else { return None };
        if message.contains("queue") {
            Some("the kernel lacks the nft queue expression: install kmod-nft-queue")
        } else if message.contains("No such file or directory") {
            Some("a kernel module is missing: install kmod-nft-queue and kmod-nft-nat")
        } else {
            None
        }
    }
}

impl core::fmt::Display for NftError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NftError::NotRunnable { program, source } => {
                write!(f, "cannot run {}: {source} (install the nftables package)", program.display())
            }
            NftError::Pipe { step, source } => write!(f, "{step} nft: {source}"),
            NftError::Refused { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for NftError {}

impl Default for Nft {
    fn default() -> Nft {
        // By absolute path: a jailed instance has no PATH (see `programs`).
        Nft { program: super::programs::program("nft") }
    }
}

impl Nft {
    /// Applies a script as one transaction.
    pub fn apply(&self, script: &str) -> Result<(), NftError> {
        self.run(&["-f", "-"], Some(script)).map(|_| ())
    }

    /// Checks a script without applying it (`nft -c`).
    pub fn check(&self, script: &str) -> Result<(), NftError> {
        self.run(&["-c", "-f", "-"], Some(script)).map(|_| ())
    }

    /// Lists one set or map of our table.
    pub fn list(&self, kind: &str, name: &str) -> Result<String, NftError> {
        self.run(&["list", kind, "ip", TABLE, name], None)
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, NftError> {
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| NftError::NotRunnable { program: self.program.clone(), source })?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).map_err(|source| NftError::Pipe { step: "writing to", source })?;
        }
        let output = child.wait_with_output().map_err(|source| NftError::Pipe { step: "waiting for", source })?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("nft failed");
            Err(NftError::Refused { message: first.trim().to_string() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_default_ruleset_with_nft_queue() {
        let mut config = EngineConfig::default();
        config.rules[0].sources = vec![Ipv4Net::new(Ipv4Addr::new(192, 168, 1, 0), 24).unwrap()];
        let s = DatapathSettings::from_config(&config, Some(Ipv4Addr::new(203, 0, 113, 7)), 7, QueueBackend::Nft);
        let got = render_ruleset(&s);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/nft/ruleset-default.nft");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(path, &got).unwrap();
        }
        let want = std::fs::read_to_string(path).unwrap();
        assert_eq!(got, want, "golden file {path} (UPDATE_GOLDEN=1 rewrites it)");
    }

    #[test]
    fn renders_promotion_for_the_ebpf_fast_path() {
        let mut config = EngineConfig::default();
        config.rules[0].sources = vec![Ipv4Net::new(Ipv4Addr::new(192, 168, 1, 0), 24).unwrap()];
        let s = DatapathSettings {
            promotion: true,
            ..DatapathSettings::from_config(&config, Some(Ipv4Addr::new(203, 0, 113, 7)), 7, QueueBackend::Nft)
        };
        let got = render_ruleset(&s);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/nft/ruleset-offload.nft");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(path, &got).unwrap();
        }
        let want = std::fs::read_to_string(path).unwrap();
        assert_eq!(got, want, "golden file {path} (UPDATE_GOLDEN=1 rewrites it)");
        let noted = got.find("add rule ip ike_esp_alg postrouting ip protocol esp add @esp_passed").unwrap();
        let rewritten = got.find("add rule ip ike_esp_alg postrouting ip protocol esp ip saddr set").unwrap();
        assert!(noted < rewritten, "outbound keys are noted before the rewrite, as the client sent them");
        assert!(got.contains("delete chain ip ike_esp_alg forward"), "no base chain of its own");
        assert!(!got.contains("delete set"));
        let without = render_ruleset(&DatapathSettings { promotion: false, ..s });
        assert!(without.contains("delete set ip ike_esp_alg esp_passed"), "the set goes without the fast path");
        assert!(!without.contains("add @esp_passed"));
    }

    #[test]
    fn the_xtables_backend_marks_instead_of_queueing() {
        let s =
            DatapathSettings::from_config(&EngineConfig::default(), None, 0, QueueBackend::XtablesMark(0x1000_0000));
        let got = render_ruleset(&s);
        assert!(!got.contains("queue num"));
        assert!(got.contains("counter name queued_esp_in meta mark set meta mark | 0x10000000"));
        // Its verdicts cannot repeat the chain, so queued outbound ESP is untracked here.
        assert!(got.contains("ip daddr @servers notrack counter name queued_esp_out meta mark set"));
        assert!(got.contains("add element ip ike_esp_alg clients { 0.0.0.0/0 }"));
        assert!(!got.contains("add element ip ike_esp_alg nat_addresses"), "no egress address yet");
    }

    #[test]
    fn parses_set_and_map_listings_as_nft_prints_them() {
        let listing = "table ip ike_esp_alg {\n\tset esp_seen {\n\t\ttypeof ip saddr . ip daddr . esp spi\n\t\tsize 65535\n\t\tflags dynamic,timeout\n\t\ttimeout 30m\n\t\telements = { 192.168.1.10 . 198.51.100.1 . 4660 expires 29m48s784ms,\n\t\t\t     198.51.100.1 . 203.0.113.7 . 22136 expires 29m59s724ms }\n\t}\n}\n";
        let e = parse_listed_elements(listing);
        assert_eq!(e.len(), 2);
        let counted = parse_listed_elements(
            "elements = { 127.0.0.1 . 127.0.0.1 . 4660 counter packets 3 bytes 228 expires 59s992ms }",
        );
        assert_eq!(counted[0].counter, Some((3, 228)));
        assert_eq!(counted[0].expires, Some(Duration::from_millis(59_992)));
        assert_eq!(e[0].counter, None);
        assert_eq!(e[0].key, vec!["192.168.1.10", "198.51.100.1", "4660"]);
        assert_eq!(e[0].expires, Some(Duration::from_millis(29 * 60_000 + 48_784)));
        let map = "elements = { 198.51.100.1 . 203.0.113.7 . 22136 timeout 15m expires 14m59s996ms : 192.168.1.10 }";
        let m = parse_listed_elements(map);
        assert_eq!(m[0].value, vec!["192.168.1.10"]);
        assert_eq!(parse_spi(&m[0].key[2]), Some(22136));
        assert_eq!(parse_spi("0x00001234"), Some(0x1234));
        assert!(parse_listed_elements("table ip x { set s { type ipv4_addr } }").is_empty());
    }

    #[test]
    fn nft_durations() {
        assert_eq!(parse_nft_duration("1d2h3m4s5ms"), Some(Duration::from_millis(93_784_005)));
        assert_eq!(parse_nft_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_nft_duration("12"), None);
        assert_eq!(parse_nft_duration("5x"), None);
        assert_eq!(parse_nft_duration(""), None);
    }
}
