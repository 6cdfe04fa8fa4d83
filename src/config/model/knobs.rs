//! The sections and options of `/etc/config/ike-esp-alg`: which exist, how each is written
//! (`option` or `list`), and the ranges and defaults of the ones that are not in the engine.
//!
//! Read first: SPEC §4's table. The timeouts' ranges and defaults live with the engine
//! ([`Timeouts`](crate::engine::Timeouts)), so that the engine and the file cannot disagree.

/// The name of the one `config alg` section.
pub const ALG_SECTION: &str = "ike_esp_nat";

/// The name of the one `config nat` section.
pub const NAT_SECTION: &str = "source";

/// The `source_nat` value that means the egress interface's address.
pub const SOURCE_NAT_INTERFACE: &str = "interface";

/// `ike_port`, `natt_port`: any UDP port but 0.
pub const PORT_RANGE: (u64, u64) = (1, 65_535);

/// `queue_num`: the NFQUEUE number the daemon's queue rules use.
pub const QUEUE_NUM_RANGE: (u64, u64) = (0, 65_535);

/// The default `queue_num`. Not 0, which is what other NFQUEUE users (Snort, Suricata) take
/// when nobody sets a number; 500 is easy to remember next to `ike_port`.
pub const QUEUE_NUM_DEFAULT: u16 = 500;

/// The default `fail_open`: SPEC §3 rule 11, traffic must not black-hole without the daemon.
pub const FAIL_OPEN_DEFAULT: bool = true;

/// The default `enabled`: SPEC §4, off on install.
pub const ENABLED_DEFAULT: bool = false;

/// The default `address_persistent`: SPEC §3 rule 8 is the reason the ALG exists; without it
/// one client's IKE and ESP may leave from two pool addresses.
pub const ADDRESS_PERSISTENT_DEFAULT: bool = true;

/// How a section must be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Naming {
    /// Exactly this name (`alg 'ike_esp_nat'`, `nat 'source'`).
    Fixed(&'static str),
    /// Any name; other sections refer to this one by it.
    Required,
    /// Named or anonymous (`rule`).
    Optional,
}

/// One option a section type takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OptionSpec {
    pub(super) name: &'static str,
    /// Written as `list` (one item per line) rather than `option`.
    pub(super) list: bool,
}

/// One section type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SectionSpec {
    pub(super) section_type: &'static str,
    pub(super) naming: Naming,
    pub(super) options: &'static [OptionSpec],
    /// The option names, for "allowed …" in messages.
    pub(super) option_names: &'static [&'static str],
}

/// The section types, in the order the file is expected to list them.
pub(super) const SECTION_TYPES: &[&str] = &["alg", "nat", "pool", "rule_set", "rule"];

const fn option(name: &'static str) -> OptionSpec {
    OptionSpec { name, list: false }
}

const fn list(name: &'static str) -> OptionSpec {
    OptionSpec { name, list: true }
}

pub(super) const ALG: SectionSpec = SectionSpec {
    section_type: "alg",
    naming: Naming::Fixed(ALG_SECTION),
    options: &[
        option("enabled"),
        option("state_timeout"),
        option("esp_gate_timeout"),
        option("esp_session_timeout"),
        option("ike_port"),
        option("natt_port"),
        option("binding_linger"),
        option("queue_num"),
        option("fail_open"),
    ],
    option_names: &[
        "enabled",
        "state_timeout",
        "esp_gate_timeout",
        "esp_session_timeout",
        "ike_port",
        "natt_port",
        "binding_linger",
        "queue_num",
        "fail_open",
    ],
};

pub(super) const NAT: SectionSpec = SectionSpec {
    section_type: "nat",
    naming: Naming::Fixed(NAT_SECTION),
    options: &[option("address_persistent")],
    option_names: &["address_persistent"],
};

pub(super) const POOL: SectionSpec = SectionSpec {
    section_type: "pool",
    naming: Naming::Required,
    options: &[list("address"), option("proxy_arp")],
    option_names: &["address", "proxy_arp"],
};

pub(super) const RULE_SET: SectionSpec = SectionSpec {
    section_type: "rule_set",
    naming: Naming::Required,
    options: &[option("from_zone"), option("to_zone")],
    option_names: &["from_zone", "to_zone"],
};

pub(super) const RULE: SectionSpec = SectionSpec {
    section_type: "rule",
    naming: Naming::Optional,
    options: &[option("rule_set"), list("source_address"), list("destination_address"), option("source_nat")],
    option_names: &["rule_set", "source_address", "destination_address", "source_nat"],
};

/// The spec of a section type, if the package has that type.
pub(super) fn section_spec(section_type: &str) -> Option<&'static SectionSpec> {
    [&ALG, &NAT, &POOL, &RULE_SET, &RULE].into_iter().find(|spec| spec.section_type == section_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_names_list_every_option_in_order() {
        for section_type in SECTION_TYPES {
            let spec = section_spec(section_type).unwrap();
            let names: Vec<&str> = spec.options.iter().map(|o| o.name).collect();
            assert_eq!(names, spec.option_names, "{section_type}");
        }
    }
}
