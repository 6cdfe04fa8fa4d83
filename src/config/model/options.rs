//! Every option of `/etc/config/ike-esp-alg`, declared once: its section, name, shape
//! (`option` or `list`), value range and default, one line of doc, and the Junos keyword that
//! sets it. The model's checks, the Junos importer, the engine's messages, the doc table in
//! the model's header and the comments of the shipped default file all follow [`OPTIONS`].
//!
//! Read first: SPEC §4's table. The timeouts' ranges and defaults live with the engine
//! ([`Timeouts`]) and are referred to here, so that the engine and the file cannot disagree.

use crate::engine::Timeouts;

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

/// The section types of the file, in the order the file is expected to list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    Alg,
    Nat,
    Pool,
    RuleSet,
    Rule,
}

/// `option name 'value'` or `list name 'item'` (one line per item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Option,
    List,
}

/// What an option holds, with its range and what its absence means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// `0` or `1`.
    Bool { default: bool },
    /// Whole seconds, inclusive range.
    Seconds { range: (u64, u64), default: u64 },
    /// A plain 16-bit number (a port, a queue number), inclusive range.
    Number { range: (u64, u64), default: u16 },
    /// Text that the model reads into a richer type; `form` says what it takes, as messages
    /// and the doc table show it.
    Text { form: &'static str, absent: Absent },
}

/// What an absent text option means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absent {
    /// The section is incomplete without it.
    Required,
    /// No restriction: a rule without addresses matches every address.
    Any,
}

/// One option of one section type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionDecl {
    pub section: SectionKind,
    pub name: &'static str,
    pub shape: Shape,
    pub value: ValueKind,
    /// One line, as the shipped default file shows it above the option.
    pub doc: &'static str,
    /// The Junos keyword that sets it, where the importer maps one keyword to it.
    pub junos: Option<&'static str>,
}

pub const ENABLED: OptionDecl = OptionDecl {
    section: SectionKind::Alg,
    name: "enabled",
    shape: Shape::Option,
    // SPEC §4: off on install.
    value: ValueKind::Bool { default: false },
    doc: "whether the ALG handles IPsec passthrough (off on install)",
    junos: Some("enable"),
};

pub const STATE_TIMEOUT: OptionDecl = OptionDecl {
    section: SectionKind::Alg,
    name: "state_timeout",
    shape: Shape::Option,
    value: ValueKind::Seconds { range: Timeouts::STATE_RANGE, default: Timeouts::STATE_DEFAULT },
    doc: "seconds without IKE traffic before an IKE SA's ALG state goes",
    junos: Some("state-timeout"),
};

pub const ESP_GATE_TIMEOUT: OptionDecl = OptionDecl {
    section: SectionKind::Alg,
    name: "esp_gate_timeout",
    shape: Shape::Option,
    value: ValueKind::Seconds { range: Timeouts::ESP_GATE_RANGE, default: Timeouts::ESP_GATE_DEFAULT },
    doc: "seconds an open gate waits for the first ESP packet of a new SA",
    junos: Some("esp-gate-timeout"),
};

pub const ESP_GATE_SETTLE: OptionDecl = OptionDecl {
    section: SectionKind::Alg,
    name: "esp_gate_settle",
    shape: Shape::Option,
    value: ValueKind::Seconds { range: Timeouts::ESP_GATE_SETTLE_RANGE, default: Timeouts::ESP_GATE_SETTLE_DEFAULT },
    doc: "seconds an answered, unused gate stays while others wait (0: off)",
    junos: None,
};

pub const ESP_SESSION_TIMEOUT: OptionDecl = OptionDecl {
    section: SectionKind::Alg,
    name: "esp_session_timeout",
    shape: Shape::Option,
    value: ValueKind::Seconds { range: Timeouts::ESP_SESSION_RANGE, default: Timeouts::ESP_SESSION_DEFAULT },
    doc: "seconds without traffic before an ESP session goes",
    junos: Some("esp-session-timeout"),
};

pub const IKE_PORT: OptionDecl = OptionDecl {
    section: SectionKind::Alg,
    name: "ike_port",
    shape: Shape::Option,
    value: ValueKind::Number { range: PORT_RANGE, default: 500 },
    doc: "UDP port of IKE without NAT traversal",
    junos: None,
};

pub const NATT_PORT: OptionDecl = OptionDecl {
    section: SectionKind::Alg,
    name: "natt_port",
    shape: Shape::Option,
    value: ValueKind::Number { range: PORT_RANGE, default: 4500 },
    doc: "UDP port of IKE and ESP with NAT traversal, passed through from the same address",
    junos: None,
};

pub const BINDING_LINGER: OptionDecl = OptionDecl {
    section: SectionKind::Alg,
    name: "binding_linger",
    shape: Shape::Option,
    value: ValueKind::Seconds { range: Timeouts::BINDING_LINGER_RANGE, default: Timeouts::BINDING_LINGER_DEFAULT },
    doc: "seconds a client keeps its NAT address after its last IKE state, session or flow",
    junos: None,
};

pub const QUEUE_NUM: OptionDecl = OptionDecl {
    section: SectionKind::Alg,
    name: "queue_num",
    shape: Shape::Option,
    // Not 0, which is what other NFQUEUE users (Snort, Suricata) take when nobody sets a
    // number; 500 is easy to remember next to `ike_port`.
    value: ValueKind::Number { range: QUEUE_NUM_RANGE, default: 500 },
    doc: "NFQUEUE number of the ALG's queue rules",
    junos: None,
};

pub const FAIL_OPEN: OptionDecl = OptionDecl {
    section: SectionKind::Alg,
    name: "fail_open",
    shape: Shape::Option,
    // SPEC §3 rule 11: traffic must not black-hole without the daemon.
    value: ValueKind::Bool { default: true },
    doc: "whether traffic bypasses the queue while the daemon is not running",
    junos: None,
};

pub const ESP_OFFLOAD: OptionDecl = OptionDecl {
    section: SectionKind::Alg,
    name: "esp_offload",
    shape: Shape::Option,
    // Opt-in, as firewall4's flow offloading is: offloaded SAs skip the firewall's forward
    // chain and conntrack once one of their packets has passed them.
    value: ValueKind::Bool { default: false },
    doc: "learned SAs past the firewall take the tc eBPF fast path (needs ike-esp-alg-fastpath)",
    junos: None,
};

pub const ADDRESS_PERSISTENT: OptionDecl = OptionDecl {
    section: SectionKind::Nat,
    name: "address_persistent",
    shape: Shape::Option,
    // SPEC §3 rule 8 is the reason the ALG exists; without it one client's IKE and ESP may
    // leave from two pool addresses.
    value: ValueKind::Bool { default: true },
    doc: "one client, one NAT address for IKE, ESP and NAT-T",
    junos: Some("address-persistent"),
};

pub const ADDRESS: OptionDecl = OptionDecl {
    section: SectionKind::Pool,
    name: "address",
    shape: Shape::List,
    value: ValueKind::Text { form: "`A-B`, `a.b.c.d/n`, `a.b.c.d`", absent: Absent::Required },
    doc: "the pool's addresses: a range, a prefix or a single address per item",
    junos: None,
};

pub const PROXY_ARP: OptionDecl = OptionDecl {
    section: SectionKind::Pool,
    name: "proxy_arp",
    shape: Shape::Option,
    value: ValueKind::Bool { default: false },
    doc: "answer ARP for the pool's addresses on the wan interface",
    junos: None,
};

pub const FROM_ZONE: OptionDecl = OptionDecl {
    section: SectionKind::RuleSet,
    name: "from_zone",
    shape: Shape::Option,
    value: ValueKind::Text { form: ZONE_FORM, absent: Absent::Required },
    doc: "the clients' firewall zone (the guide's from zone)",
    junos: None,
};

pub const TO_ZONE: OptionDecl = OptionDecl {
    section: SectionKind::RuleSet,
    name: "to_zone",
    shape: Shape::Option,
    value: ValueKind::Text { form: ZONE_FORM, absent: Absent::Required },
    doc: "the servers' firewall zone (the guide's to zone)",
    junos: None,
};

pub const RULE_SET: OptionDecl = OptionDecl {
    section: SectionKind::Rule,
    name: "rule_set",
    shape: Shape::Option,
    value: ValueKind::Text { form: "the name of a rule_set section", absent: Absent::Required },
    doc: "the rule set the rule belongs to",
    junos: None,
};

pub const SOURCE_ADDRESS: OptionDecl = OptionDecl {
    section: SectionKind::Rule,
    name: "source_address",
    shape: Shape::List,
    value: ValueKind::Text { form: PREFIX_FORM, absent: Absent::Any },
    doc: "the clients the rule applies to",
    junos: Some("source-address"),
};

pub const DESTINATION_ADDRESS: OptionDecl = OptionDecl {
    section: SectionKind::Rule,
    name: "destination_address",
    shape: Shape::List,
    value: ValueKind::Text { form: PREFIX_FORM, absent: Absent::Any },
    doc: "the servers the rule applies to",
    junos: Some("destination-address"),
};

pub const SOURCE_NAT: OptionDecl = OptionDecl {
    section: SectionKind::Rule,
    name: "source_nat",
    shape: Shape::Option,
    value: ValueKind::Text { form: "'interface' or the name of a pool section", absent: Absent::Required },
    doc: "what the clients are translated to: a pool, or the egress interface's address",
    junos: None,
};

/// Every option, section by section in [`SectionKind::ALL`] order, and within a section in
/// the order the file, the importer's output and the messages list them.
pub const OPTIONS: &[OptionDecl] = &[
    ENABLED,
    STATE_TIMEOUT,
    ESP_GATE_TIMEOUT,
    ESP_GATE_SETTLE,
    ESP_SESSION_TIMEOUT,
    IKE_PORT,
    NATT_PORT,
    BINDING_LINGER,
    QUEUE_NUM,
    FAIL_OPEN,
    ESP_OFFLOAD,
    ADDRESS_PERSISTENT,
    ADDRESS,
    PROXY_ARP,
    FROM_ZONE,
    TO_ZONE,
    RULE_SET,
    SOURCE_ADDRESS,
    DESTINATION_ADDRESS,
    SOURCE_NAT,
];

const ZONE_FORM: &str = "the name of a firewall zone";
const PREFIX_FORM: &str = "`a.b.c.d/n`, `a.b.c.d`";

impl SectionKind {
    /// Every section type, in the order the file is expected to list them.
    pub const ALL: [SectionKind; 5] =
        [SectionKind::Alg, SectionKind::Nat, SectionKind::Pool, SectionKind::RuleSet, SectionKind::Rule];

    /// The section type as `config <type>` writes it.
    pub const fn section_type(self) -> &'static str {
        match self {
            SectionKind::Alg => "alg",
            SectionKind::Nat => "nat",
            SectionKind::Pool => "pool",
            SectionKind::RuleSet => "rule_set",
            SectionKind::Rule => "rule",
        }
    }

    /// The section kind of a `config <type>`, if the file has that type.
    pub fn from_section_type(section_type: &str) -> Option<SectionKind> {
        SectionKind::ALL.into_iter().find(|kind| kind.section_type() == section_type)
    }

    /// The options this section type takes, in order.
    pub fn options(self) -> impl Iterator<Item = &'static OptionDecl> {
        OPTIONS.iter().filter(move |o| o.section == self)
    }

    /// The option called `name` in this section type.
    pub fn option(self, name: &str) -> Option<&'static OptionDecl> {
        self.options().find(|o| o.name == name)
    }

    /// The option this section type's Junos `keyword` sets.
    pub fn option_for_junos(self, keyword: &str) -> Option<&'static OptionDecl> {
        self.options().find(|o| o.junos == Some(keyword))
    }
}

impl OptionDecl {
    /// The inclusive range of a number; `(0, 1)` for a flag; `None` for text.
    pub const fn range(&self) -> Option<(u64, u64)> {
        match self.value {
            ValueKind::Bool { .. } => Some((0, 1)),
            ValueKind::Seconds { range, .. } | ValueKind::Number { range, .. } => Some(range),
            ValueKind::Text { .. } => None,
        }
    }

    /// The default of a flag; `false` for an option that is not one.
    pub const fn flag_default(&self) -> bool {
        matches!(self.value, ValueKind::Bool { default: true })
    }

    /// The default of a 16-bit number; 0 for an option that is not one.
    pub const fn number_default(&self) -> u16 {
        match self.value {
            ValueKind::Number { default, .. } => default,
            _ => 0,
        }
    }

    /// What a missing required option needs, for `missing (allowed …)`; `None` if the option
    /// may be absent.
    pub const fn required_form(&self) -> Option<&'static str> {
        match self.value {
            ValueKind::Text { form, absent: Absent::Required } => Some(form),
            _ => None,
        }
    }

    /// The default as the file writes it (`0`, `14400`); `None` if there is none.
    pub fn default_value(&self) -> Option<String> {
        match self.value {
            ValueKind::Bool { default } => Some(u8::from(default).to_string()),
            ValueKind::Seconds { default, .. } => Some(default.to_string()),
            ValueKind::Number { default, .. } => Some(default.to_string()),
            ValueKind::Text { .. } => None,
        }
    }

    /// The comment the shipped default file puts above the option: the doc line, and the
    /// range of a number.
    pub fn comment(&self) -> String {
        match self.value {
            ValueKind::Seconds { range: (min, max), .. } | ValueKind::Number { range: (min, max), .. } => {
                format!("{} ({min}-{max})", self.doc)
            }
            ValueKind::Bool { .. } | ValueKind::Text { .. } => self.doc.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Ports;

    #[test]
    fn options_are_grouped_by_section_in_section_order_and_unique() {
        let sections: Vec<SectionKind> = OPTIONS.iter().map(|o| o.section).collect();
        let mut sorted = sections.clone();
        sorted.sort_by_key(|s| SectionKind::ALL.iter().position(|k| k == s));
        assert_eq!(sections, sorted);
        for (i, a) in OPTIONS.iter().enumerate() {
            for b in OPTIONS.iter().skip(i + 1) {
                assert!(a.section != b.section || a.name != b.name, "{} twice", a.name);
                assert!(a.junos.is_none() || a.junos != b.junos || a.section != b.section, "{:?} twice", a.junos);
            }
        }
        for kind in SectionKind::ALL {
            assert!(kind.options().next().is_some(), "{kind:?} has no option");
            assert_eq!(SectionKind::from_section_type(kind.section_type()), Some(kind));
        }
    }

    #[test]
    fn declared_defaults_are_the_engines_and_within_range() {
        let t = Timeouts::default();
        let seconds = [STATE_TIMEOUT, ESP_GATE_TIMEOUT, ESP_SESSION_TIMEOUT, BINDING_LINGER].map(|o| o.default_value());
        let engine = [t.state, t.esp_gate, t.esp_session, t.binding_linger].map(|d| Some(d.as_secs().to_string()));
        assert_eq!(seconds, engine);
        let ports = Ports::default();
        assert_eq!((IKE_PORT.number_default(), NATT_PORT.number_default()), (ports.ike, ports.natt));
        for option in OPTIONS {
            let (Some((min, max)), Some(default)) = (option.range(), option.default_value()) else {
                continue;
            };
            let default: u64 = default.parse().unwrap();
            assert!(min <= default && default <= max, "{}", option.name);
        }
    }

    #[test]
    fn docs_are_one_short_line_and_text_options_say_what_they_take() {
        for option in OPTIONS {
            assert!(!option.doc.is_empty() && !option.doc.contains('\n'), "{}", option.name);
            assert!(option.comment().len() <= 96, "{}: keep the file's comment on one line", option.name);
        }
        assert_eq!(ESP_GATE_TIMEOUT.comment(), format!("{} (2-30)", ESP_GATE_TIMEOUT.doc));
        assert_eq!(SOURCE_NAT.required_form(), Some("'interface' or the name of a pool section"));
        assert_eq!(SOURCE_ADDRESS.required_form(), None);
        assert_eq!(SectionKind::Alg.option_for_junos("esp-gate-timeout"), Some(&ESP_GATE_TIMEOUT));
        assert_eq!(SectionKind::Rule.option_for_junos("esp-gate-timeout"), None);
    }
}
