//! The typed configuration: `/etc/config/ike-esp-alg` read, checked and turned into what the
//! engine, the daemon and the CLI use.
//!
//! Read first: SPEC §4 (the knobs, their ranges and defaults, and how bad input is refused)
//! and [`EngineConfig`], which this model fills in. [`AlgConfig::load`] takes the file's text
//! ([`AlgConfig::load_with_warnings`] also returns the reader's warnings),
//! [`AlgConfig::from_package`] a [`Package`] from [`uci::parse`]
//! or the Junos importer. Either gives back the whole configuration, checked by the engine
//! too, or every [`Problem`] found, one line each: nothing is half-applied.
//!
//! The file's sections and options (ranges inclusive):
//!
//! | section | option | value | default |
//! |---|---|---|---|
//! | `alg 'ike_esp_nat'` | `enabled` | 0/1 | 0 |
//! | | `state_timeout` | 180–86400 s | 14400 |
//! | | `esp_gate_timeout` | 2–30 s | 5 |
//! | | `esp_gate_settle` | 0–30 s | 1 |
//! | | `esp_session_timeout` | 60–2400 s | 1800 |
//! | | `ike_port` | 1–65535 | 500 |
//! | | `natt_port` | 1–65535 | 4500 |
//! | | `binding_linger` | 0–86400 s | 300 |
//! | | `queue_num` | 0–65535 | 500 |
//! | | `fail_open` | 0/1 | 1 |
//! | | `esp_offload` | 0/1 | 0 |
//! | `nat 'source'` | `address_persistent` | 0/1 | 1 |
//! | `pool '<name>'` | `list address` | `A-B`, `a.b.c.d/n`, `a.b.c.d` | required |
//! | | `proxy_arp` | 0/1 | 0 |
//! | `rule_set '<name>'` | `from_zone` | the name of a firewall zone | required |
//! | | `to_zone` | the name of a firewall zone | required |
//! | `rule ['<name>']` | `rule_set` | the name of a rule_set section | required |
//! | | `list source_address` | `a.b.c.d/n`, `a.b.c.d` | any |
//! | | `list destination_address` | `a.b.c.d/n`, `a.b.c.d` | any |
//! | | `source_nat` | 'interface' or the name of a pool section | required |
//!
//! Every option is declared once, in [`options`]; the test below this module checks the
//! table against it. `ike_port` and `natt_port` must differ.
//!
//! `binding_linger`, `queue_num` and `fail_open` go beyond the guide: how long a persistent
//! NAT binding outlives a client's last state (the engine's [`Timeouts::binding_linger`]),
//! which NFQUEUE the daemon's queue rules use, and whether they bypass the queue when the
//! daemon is not running (SPEC §3 rule 11). `esp_offload` chooses the datapath of learned
//! SAs: the nft table (off) or the tc eBPF fast path (on; the daemon falls back to the nft
//! table where the kernel lacks it). Table capacities ([`Limits`]) stay at their
//! defaults and are not in the file.
//!
//! Zones are checked against the firewall by the caller, which can read
//! `/etc/config/firewall`: [`firewall_zone_names`] and [`AlgConfig::check_zones`].
//!
//! [`Timeouts::binding_linger`]: crate::engine::Timeouts::binding_linger
//! [`Limits`]: crate::engine::Limits

mod build;
mod knobs;
pub mod options;
mod pools;
mod problem;
mod sections;
mod values;
mod zones;

pub use options::{
    OptionDecl, SectionKind, ALG_SECTION, NAT_SECTION, OPTIONS, PORT_RANGE, QUEUE_NUM_RANGE, SOURCE_NAT_INTERFACE,
};
pub use problem::{AddressForm, Problem, ProblemKind, SectionRef, Unit};
pub use zones::firewall_zone_names;

use crate::config::uci::{self, Package};
use crate::engine::{EngineConfig, PoolConfig, RuleConfig, SourceNat};

/// `/etc/config/ike-esp-alg`, checked. Built only by [`AlgConfig::load`] and
/// [`AlgConfig::from_package`], so every cross-reference in it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgConfig {
    /// The file it was read from, for later messages about it (zones).
    pub file: String,
    /// `enabled`: off means no packet goes to userspace (SPEC §3 rule 10).
    pub enabled: bool,
    /// How the daemon queues packets to itself.
    pub queue: QueueOptions,
    /// `esp_offload`: learned SAs go to the tc eBPF fast path once promoted.
    pub esp_offload: bool,
    /// Timeouts, ports, address persistence, pools and rules, as the engine takes them.
    pub engine: EngineConfig,
    /// One per pool, in the order of `engine.pools`: what the engine does not need.
    pub pools: Vec<PoolOptions>,
    /// In file order. Every rule's `rule_set` names one of these.
    pub rule_sets: Vec<RuleSet>,
}

/// The `queue_num` and `fail_open` options of the `alg` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// The NFQUEUE number of the daemon's queue rules.
    pub number: u16,
    /// Queue rules bypass the queue when no daemon listens (SPEC §3 rule 11).
    pub fail_open: bool,
}

/// A pool's options beyond its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// The same name as the engine's pool at the same index.
    pub name: String,
    /// The daemon answers ARP for the pool's addresses on the egress interface.
    pub proxy_arp: bool,
}

/// A `config rule_set`: the direction of the traffic its rules apply to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    pub name: String,
    /// The clients' zone (the guide's `from zone`).
    pub from_zone: Zone,
    /// The servers' zone (the guide's `to zone`).
    pub to_zone: Zone,
}

/// A firewall zone named by a rule set, with the line that named it (for [`AlgConfig::check_zones`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub line: Option<u32>,
}

impl AlgConfig {
    /// Parses and checks the text of `/etc/config/ike-esp-alg`. `file` names it in problems.
    /// A UCI syntax error is the only problem reported, since nothing after it can be read.
    pub fn load(text: &str, file: &str) -> Result<AlgConfig, Vec<Problem>> {
        AlgConfig::load_with_warnings(text, file).0
    }

    /// [`AlgConfig::load`], and the UCI reader's warnings about text that libuci (and so this
    /// reader) ignores, such as the rest of a line after `option a b;`. The warnings come
    /// whether or not the configuration checks out (none after a syntax error); each displays
    /// as `FILE:LINE: warning: ...`, for the operator.
    pub fn load_with_warnings(text: &str, file: &str) -> (Result<AlgConfig, Vec<Problem>>, Vec<uci::Warning>) {
        match uci::parse(text, file) {
            Ok(package) => (AlgConfig::from_package(&package, file), package.warnings().to_vec()),
            Err(e) => (Err(vec![Problem::from_parse_error(e)]), Vec::new()),
        }
    }

    /// Checks a parsed package and builds the configuration; every problem if it has any.
    pub fn from_package(package: &Package, file: &str) -> Result<AlgConfig, Vec<Problem>> {
        build::build(package, file)
    }

    /// The rule set called `name`.
    pub fn rule_set(&self, name: &str) -> Option<&RuleSet> {
        self.rule_sets.iter().find(|r| r.name == name)
    }

    /// The rule set a rule belongs to.
    pub fn rule_set_of(&self, rule: &RuleConfig) -> Option<&RuleSet> {
        self.rule_set(&rule.rule_set)
    }

    /// The pool a rule translates to; `None` for interface SNAT.
    pub fn pool_of(&self, rule: &RuleConfig) -> Option<&PoolConfig> {
        match rule.source_nat {
            SourceNat::Interface => None,
            SourceNat::Pool(index) => self.engine.pools.get(index),
        }
    }

    /// The pools whose addresses the daemon answers ARP for.
    pub fn proxy_arp_pools(&self) -> impl Iterator<Item = &PoolConfig> {
        self.engine.pools.iter().zip(&self.pools).filter(|(_, options)| options.proxy_arp).map(|(pool, _)| pool)
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::knobs::section_spec;
    use super::options::{Absent, Shape, ValueKind, OPTIONS};

    /// The table of the module header as [`OPTIONS`] gives it, one row per option.
    fn doc_table() -> String {
        let mut table = String::from("//! | section | option | value | default |\n//! |---|---|---|---|\n");
        let mut previous = None;
        for option in OPTIONS {
            let section = match section_spec(option.section.section_type()) {
                Some(spec) if previous != Some(option.section) => format!(" `{}` ", spec.shown()),
                _ => " ".to_owned(),
            };
            previous = Some(option.section);
            let shape = if option.shape == Shape::List { "list " } else { "" };
            let (value, default) = match option.value {
                ValueKind::Bool { default } => ("0/1".to_owned(), u8::from(default).to_string()),
                ValueKind::Seconds { range: (min, max), default } => (format!("{min}–{max} s"), default.to_string()),
                ValueKind::Number { range: (min, max), default } => (format!("{min}–{max}"), default.to_string()),
                ValueKind::Text { form, absent: Absent::Required } => (form.to_owned(), "required".to_owned()),
                ValueKind::Text { form, absent: Absent::Any } => (form.to_owned(), "any".to_owned()),
            };
            table.push_str(&format!("//! |{section}| `{shape}{}` | {value} | {default} |\n", option.name));
        }
        table
    }

    #[test]
    fn the_doc_table_lists_every_option_with_its_range_and_default() {
        let table = doc_table();
        assert!(include_str!("mod.rs").contains(&table), "the table in the header of model/mod.rs should be:\n{table}");
    }
}
