//! The engine's typed configuration: timeouts, ports, NAT pools, rules and table limits.
//!
//! This is what the UCI model (SPEC §4) is turned into once it has been validated. The
//! engine checks its own invariants again in [`EngineConfig::validate`], so that no
//! configuration can put it in a state its tables or timers were not built for.

use crate::config::model::options::{
    BINDING_LINGER, ESP_GATE_SETTLE, ESP_GATE_TIMEOUT, ESP_SESSION_TIMEOUT, IKE_PORT, NATT_PORT, STATE_TIMEOUT,
};
use crate::wire::Ports;
use core::fmt;
use core::time::Duration;
use std::net::Ipv4Addr;

/// An IPv4 prefix such as `192.168.1.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Net {
    /// A prefix; host bits in `addr` are cleared. `None` if `prefix_len > 32`.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Option<Ipv4Net> {
        let mask = prefix_mask(prefix_len)?;
        Some(Ipv4Net { network: Ipv4Addr::from(u32::from(addr) & mask), prefix_len })
    }

    /// Every IPv4 address.
    pub const ANY: Ipv4Net = Ipv4Net { network: Ipv4Addr::UNSPECIFIED, prefix_len: 0 };

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// True if `addr` lies inside the prefix.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let mask = prefix_mask(self.prefix_len).unwrap_or(u32::MAX);
        u32::from(addr) & mask == u32::from(self.network)
    }
}

fn prefix_mask(prefix_len: u8) -> Option<u32> {
    match prefix_len {
        0 => Some(0),
        1..=32 => Some(u32::MAX << (32 - u32::from(prefix_len))),
        _ => None,
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// An inclusive range of IPv4 addresses, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressRange {
    first: Ipv4Addr,
    last: Ipv4Addr,
}

impl AddressRange {
    /// `None` if `first > last`.
    pub fn new(first: Ipv4Addr, last: Ipv4Addr) -> Option<AddressRange> {
        (first <= last).then_some(AddressRange { first, last })
    }

    /// The range covering a prefix.
    pub fn from_net(net: Ipv4Net) -> AddressRange {
        let first = u32::from(net.network());
        let mask = prefix_mask(net.prefix_len()).unwrap_or(u32::MAX);
        AddressRange { first: net.network(), last: Ipv4Addr::from(first | !mask) }
    }

    /// First address.
    pub fn first(&self) -> Ipv4Addr {
        self.first
    }

    /// Last address.
    pub fn last(&self) -> Ipv4Addr {
        self.last
    }

    /// Number of addresses (at least 1).
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.last)) - u64::from(u32::from(self.first)) + 1
    }

    /// Never empty; present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// True if `addr` lies inside.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.first <= addr && addr <= self.last
    }

    /// True if the two ranges share an address.
    pub fn overlaps(&self, other: &AddressRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    /// The addresses in order.
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> {
        (u32::from(self.first)..=u32::from(self.last)).map(Ipv4Addr::from)
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// A source-NAT pool (`config pool`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    pub name: String,
    pub ranges: Vec<AddressRange>,
}

impl PoolConfig {
    /// Number of addresses in the pool.
    pub fn size(&self) -> u64 {
        self.ranges.iter().map(AddressRange::len).sum()
    }
}

/// Where a rule's clients are translated to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceNat {
    /// The egress interface's address, reported by the shell.
    Interface,
    /// Index into [`EngineConfig::pools`].
    Pool(usize),
}

/// A source-NAT rule (`config rule`): which client/server traffic the ALG handles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleConfig {
    pub name: String,
    pub rule_set: String,
    /// Clients (inside). Empty means any.
    pub sources: Vec<Ipv4Net>,
    /// Servers (outside). Empty means any.
    pub destinations: Vec<Ipv4Net>,
    pub source_nat: SourceNat,
}

impl RuleConfig {
    /// True if traffic from `client` to `server` falls under this rule.
    pub fn matches(&self, client: Ipv4Addr, server: Ipv4Addr) -> bool {
        let any_or = |nets: &[Ipv4Net], a: Ipv4Addr| nets.is_empty() || nets.iter().any(|n| n.contains(a));
        any_or(&self.sources, client) && any_or(&self.destinations, server)
    }

    /// True if `server` is one of this rule's destinations.
    pub fn matches_server(&self, server: Ipv4Addr) -> bool {
        self.destinations.is_empty() || self.destinations.iter().any(|n| n.contains(server))
    }
}

/// The timers of SPEC §3 and §4. The ranges and defaults below, in seconds, are where the
/// file's timeout options ([`options`](crate::config::model::options)) take theirs from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// ALG state lifetime without IKE traffic (`state_timeout`).
    pub state: Duration,
    /// Gate lifetime after the exchange's last message (`esp_gate_timeout`).
    pub esp_gate: Duration,
    /// ESP session idle lifetime (`esp_session_timeout`).
    pub esp_session: Duration,
    /// How long a persistent NAT binding outlives the client's last state, session or flow.
    pub binding_linger: Duration,
    /// How long an answered exchange keeps an unused inbound gate while another client
    /// waits for it (`esp_gate_settle`; None: the full `esp_gate`).
    pub esp_gate_settle: Option<Duration>,
}

impl Timeouts {
    pub const STATE_RANGE: (u64, u64) = (180, 86_400);
    pub const ESP_GATE_RANGE: (u64, u64) = (2, 30);
    pub const ESP_SESSION_RANGE: (u64, u64) = (60, 2_400);
    pub const BINDING_LINGER_RANGE: (u64, u64) = (0, 86_400);
    pub const STATE_DEFAULT: u64 = 14_400;
    pub const ESP_GATE_DEFAULT: u64 = 5;
    pub const ESP_SESSION_DEFAULT: u64 = 1_800;
    pub const BINDING_LINGER_DEFAULT: u64 = 300;
    /// Traffic queued behind a negotiation (the SA's trigger) flows within a round trip
    /// of the answer; a second covers slow paths and is far below the gate timeout.
    /// 0 turns the early release off.
    pub const ESP_GATE_SETTLE_RANGE: (u64, u64) = (0, 30);
    pub const ESP_GATE_SETTLE_DEFAULT: u64 = 1;

    /// `esp_gate_settle` as the file gives it, in whole seconds (0: off).
    pub fn esp_gate_settle_from_secs(seconds: u64) -> Option<Duration> {
        (seconds > 0).then(|| Duration::from_secs(seconds))
    }
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            state: Duration::from_secs(Timeouts::STATE_DEFAULT),
            esp_gate: Duration::from_secs(Timeouts::ESP_GATE_DEFAULT),
            esp_session: Duration::from_secs(Timeouts::ESP_SESSION_DEFAULT),
            binding_linger: Duration::from_secs(Timeouts::BINDING_LINGER_DEFAULT),
            esp_gate_settle: Timeouts::esp_gate_settle_from_secs(Timeouts::ESP_GATE_SETTLE_DEFAULT),
        }
    }
}

/// Capacities of the engine's tables. Nothing keyed by peer data grows past these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_sessions: usize,
    pub max_sessions_per_client: u32,
    pub max_ike_sas: usize,
    pub max_ike_sas_per_client: u32,
    pub max_ike_flows: usize,
    pub max_pairs: usize,
    pub max_bindings: usize,
    /// Clients queued for one busy inbound gate (fair hand-over, see the engine doc).
    pub max_waiters_per_gate: usize,
    /// Log events kept until the shell drains them; older ones are dropped and counted.
    pub max_pending_events: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_sessions: 65_536,
            max_sessions_per_client: 512,
            max_ike_sas: 16_384,
            max_ike_sas_per_client: 64,
            max_ike_flows: 16_384,
            max_pairs: 16_384,
            max_bindings: 16_384,
            max_waiters_per_gate: 16,
            max_pending_events: 1_024,
        }
    }
}

/// Everything the engine needs to know, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    pub timeouts: Timeouts,
    pub ports: Ports,
    /// SPEC §3 rule 8: one client, one NAT address, for IKE, ESP and NAT-T alike.
    pub address_persistent: bool,
    pub pools: Vec<PoolConfig>,
    /// Evaluated in order; the first match wins.
    pub rules: Vec<RuleConfig>,
    pub limits: Limits,
}

impl Default for EngineConfig {
    /// The package default: every client, every server, interface SNAT.
    fn default() -> EngineConfig {
        EngineConfig {
            timeouts: Timeouts::default(),
            ports: Ports::default(),
            address_persistent: true,
            pools: Vec::new(),
            rules: vec![RuleConfig {
                name: "default".into(),
                rule_set: "lan_wan".into(),
                sources: Vec::new(),
                destinations: Vec::new(),
                source_nat: SourceNat::Interface,
            }],
            limits: Limits::default(),
        }
    }
}

/// Largest pool the engine accepts (a /16): pool scans stay cheap on a router CPU.
pub const MAX_POOL_ADDRESSES: u64 = 65_536;

/// A configuration the engine refuses. Each names the offending item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    TimeoutOutOfRange { name: &'static str, seconds: u64, min: u64, max: u64 },
    PortZero { name: &'static str },
    SamePorts,
    EmptyPool { pool: String },
    PoolTooLarge { pool: String, size: u64 },
    PoolsOverlap { first: String, second: String },
    DuplicatePool { pool: String },
    UnknownPool { rule: String, index: usize },
    ZeroLimit { name: &'static str },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::TimeoutOutOfRange { name, seconds, min, max } => {
                write!(f, "{name} {seconds} is out of range (allowed {min}-{max} seconds)")
            }
            ConfigError::PortZero { name } => write!(f, "{name} must be 1-65535"),
            ConfigError::SamePorts => write!(f, "{} and {} must differ", IKE_PORT.name, NATT_PORT.name),
            ConfigError::EmptyPool { pool } => write!(f, "pool '{pool}' has no address"),
            ConfigError::PoolTooLarge { pool, size } => {
                write!(f, "pool '{pool}' has {size} addresses (allowed at most {MAX_POOL_ADDRESSES})")
            }
            ConfigError::PoolsOverlap { first, second } => {
                write!(f, "pools '{first}' and '{second}' overlap")
            }
            ConfigError::DuplicatePool { pool } => write!(f, "pool '{pool}' is defined twice"),
            ConfigError::UnknownPool { rule, index } => {
                write!(f, "rule '{rule}' names pool #{index}, which does not exist")
            }
            ConfigError::ZeroLimit { name } => write!(f, "limit {name} must be at least 1"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl EngineConfig {
    /// Checks ranges and cross-references. The first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.timeouts;
        for (name, value, (min, max)) in [
            (STATE_TIMEOUT.name, t.state, Timeouts::STATE_RANGE),
            (ESP_GATE_TIMEOUT.name, t.esp_gate, Timeouts::ESP_GATE_RANGE),
            (ESP_SESSION_TIMEOUT.name, t.esp_session, Timeouts::ESP_SESSION_RANGE),
            (BINDING_LINGER.name, t.binding_linger, Timeouts::BINDING_LINGER_RANGE),
            (ESP_GATE_SETTLE.name, t.esp_gate_settle.unwrap_or_default(), Timeouts::ESP_GATE_SETTLE_RANGE),
        ] {
            let seconds = value.as_secs();
            if seconds < min || seconds > max || value.subsec_nanos() != 0 {
                return Err(ConfigError::TimeoutOutOfRange { name, seconds, min, max });
            }
        }
        if self.ports.ike == 0 {
            return Err(ConfigError::PortZero { name: IKE_PORT.name });
        }
        if self.ports.natt == 0 {
            return Err(ConfigError::PortZero { name: NATT_PORT.name });
        }
        if self.ports.ike == self.ports.natt {
            return Err(ConfigError::SamePorts);
        }
        for (i, pool) in self.pools.iter().enumerate() {
            if pool.ranges.is_empty() {
                return Err(ConfigError::EmptyPool { pool: pool.name.clone() });
            }
            if pool.size() > MAX_POOL_ADDRESSES {
                return Err(ConfigError::PoolTooLarge { pool: pool.name.clone(), size: pool.size() });
            }
            for other in self.pools.iter().skip(i + 1) {
                if other.name == pool.name {
                    return Err(ConfigError::DuplicatePool { pool: pool.name.clone() });
                }
                let overlap = pool.ranges.iter().any(|a| other.ranges.iter().any(|b| a.overlaps(b)));
                if overlap {
                    return Err(ConfigError::PoolsOverlap { first: pool.name.clone(), second: other.name.clone() });
                }
            }
            // Ranges inside one pool must not overlap either, or an address would count twice.
            for (j, a) in pool.ranges.iter().enumerate() {
                if pool.ranges.iter().skip(j + 1).any(|b| a.overlaps(b)) {
                    return Err(ConfigError::PoolsOverlap { first: pool.name.clone(), second: pool.name.clone() });
                }
            }
        }
        for rule in &self.rules {
            if let SourceNat::Pool(index) = rule.source_nat {
                if index >= self.pools.len() {
                    return Err(ConfigError::UnknownPool { rule: rule.name.clone(), index });
                }
            }
        }
        let l = &self.limits;
        for (name, value) in [
            ("max_sessions", l.max_sessions),
            ("max_ike_sas", l.max_ike_sas),
            ("max_ike_flows", l.max_ike_flows),
            ("max_pairs", l.max_pairs),
            ("max_bindings", l.max_bindings),
            ("max_pending_events", l.max_pending_events),
            ("max_sessions_per_client", l.max_sessions_per_client as usize),
            ("max_ike_sas_per_client", l.max_ike_sas_per_client as usize),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroLimit { name });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_and_ranges_contain_what_they_should() {
        let net = Ipv4Net::new(addr("192.168.1.77"), 24).unwrap();
        assert_eq!(net.to_string(), "192.168.1.0/24");
        assert!(net.contains(addr("192.168.1.255")));
        assert!(!net.contains(addr("192.168.2.0")));
        assert!(Ipv4Net::ANY.contains(addr("8.8.8.8")));
        assert!(Ipv4Net::new(addr("1.2.3.4"), 33).is_none());
        let range = AddressRange::from_net(Ipv4Net::new(addr("203.0.113.8"), 30).unwrap());
        assert_eq!(range.to_string(), "203.0.113.8-203.0.113.11");
        assert_eq!(range.len(), 4);
        assert!(AddressRange::new(addr("1.0.0.2"), addr("1.0.0.1")).is_none());
    }

    #[test]
    fn validation_refuses_out_of_range_timeouts_and_bad_pools() {
        let mut c = EngineConfig::default();
        assert_eq!(c.validate(), Ok(()));
        c.timeouts.esp_gate = Duration::from_secs(31);
        assert_eq!(c.validate().unwrap_err().to_string(), "esp_gate_timeout 31 is out of range (allowed 2-30 seconds)");
        let mut c = EngineConfig::default();
        let r = |a: &str, b: &str| AddressRange::new(addr(a), addr(b)).unwrap();
        c.pools = vec![
            PoolConfig { name: "a".into(), ranges: vec![r("10.0.0.1", "10.0.0.9")] },
            PoolConfig { name: "b".into(), ranges: vec![r("10.0.0.9", "10.0.0.20")] },
        ];
        assert_eq!(c.validate().unwrap_err().to_string(), "pools 'a' and 'b' overlap");
        c.pools.truncate(1);
        c.rules[0].source_nat = SourceNat::Pool(3);
        assert!(matches!(c.validate(), Err(ConfigError::UnknownPool { .. })));
    }
}
