//! Junos statements to UCI options, following SPEC §4's table: `security alg ike-esp-nat`,
//! `security nat source` pools, rule sets and rules, address persistence and proxy ARP.
//!
//! Read first: SPEC §4, and the guide's configuration procedures. What has no UCI option
//! becomes a [`Warning`] with the reason.

use super::address::{is_number, parse_prefix, pool_entry};
use super::application::Application;
use super::names::{Kind, Name};
use super::split::Statement;
use super::{Import, Package, Warning, WarningKind, ALG_SECTION, PACKAGE_NAME};
use crate::config::model::options::{
    OptionDecl, SectionKind, ValueKind, ADDRESS, ADDRESS_PERSISTENT, FROM_ZONE, NAT_SECTION, OPTIONS, PROXY_ARP,
    RULE_SET, SOURCE_NAT, SOURCE_NAT_INTERFACE, TO_ZONE,
};

const ZONES: &str = "zones and address books belong to the OpenWrt firewall; \
                     a rule set names firewall zones, a rule takes addresses directly";
const POLICIES: &str = "policies are firewall rules; the ALG handles all IPsec passthrough \
                        that a NAT rule matches, whatever the policies";
const ONLY_SET: &str = "only 'set' statements are imported";

/// How a value goes into its option: `option` (replaces) or `list` (appends).
#[derive(Debug, Clone, Copy)]
pub(super) enum Assign<'a> {
    Set(&'a str),
    Add(&'a str),
}

/// One import in progress: the package being built, the warnings so far, and what can only
/// be mapped once every statement is known (applications, proxy ARP).
#[derive(Debug, Default)]
pub(super) struct Importer {
    pub(super) package: Package,
    /// Each with the index of its statement, for sorting into input order at the end.
    pub(super) warnings: Vec<(usize, Warning)>,
    pub(super) names: Vec<Name>,
    /// Address ranges of each pool, by UCI name, for matching proxy-ARP statements.
    pub(super) pool_ranges: Vec<(String, (u32, u32))>,
    pub(super) applications: Vec<Application>,
    pub(super) application_statements: Vec<Statement>,
    pub(super) proxy_arp: Vec<(Statement, String, (u32, u32))>,
}

impl Importer {
    /// An importer with an empty `ike-esp-alg` package.
    pub(super) fn new() -> Importer {
        Importer { package: Package::with_name(PACKAGE_NAME).unwrap_or_default(), ..Importer::default() }
    }

    pub(super) fn statement(&mut self, s: &Statement) {
        if s.unclosed {
            return self.warn(s, WarningKind::NotMapped, "a \" string is not closed on its line");
        }
        match s.command.as_str() {
            "set" => {}
            "up" | "exit" | "quit" => {
                let reason = "only 'edit', 'top' and [edit …] banners are followed: \
                              the statements after this one may be read at the wrong level";
                return self.warn(s, WarningKind::NotMapped, reason);
            }
            _ => return self.warn(s, WarningKind::NotMapped, ONLY_SET),
        }
        let path: Vec<&str> = s.path.iter().map(String::as_str).collect();
        match path.as_slice() {
            ["security", "alg", "ike-esp-nat", rest @ ..] => self.alg(s, rest),
            ["security", "alg", other, ..] => {
                let reason = format!("the '{other}' ALG is not part of this package");
                self.warn(s, WarningKind::NotMapped, &reason);
            }
            ["security", "nat", "source", keyword] if ADDRESS_PERSISTENT.junos == Some(*keyword) => {
                self.assign(s, &ADDRESS_PERSISTENT, NAT_SECTION, Assign::Set("1"));
            }
            ["security", "nat", "source", "pool", pool, rest @ ..] => self.pool(s, pool, rest),
            ["security", "nat", "source", "rule-set", rule_set, rest @ ..] => {
                self.rule_set(s, rule_set, rest);
            }
            ["security", "nat", "proxy-arp", rest @ ..] => self.proxy_arp(s, rest),
            ["security", "nat", ..] => self.warn(
                s,
                WarningKind::NotMapped,
                "of Junos NAT, only source pools, rule sets, address persistence and proxy ARP \
                 have UCI options here",
            ),
            ["security", "zones", ..] => self.warn(s, WarningKind::NotMapped, ZONES),
            ["security", "policies", ..] => self.warn(s, WarningKind::NotMapped, POLICIES),
            ["applications", "application", name, rest @ ..] => self.application(s, name, rest),
            ["interfaces", ..] => {
                self.warn(s, WarningKind::NotMapped, "interfaces are configured in /etc/config/network")
            }
            _ => self.warn(s, WarningKind::NotMapped, "no equivalent in /etc/config/ike-esp-alg"),
        }
    }

    /// `security alg ike-esp-nat …`: the alg options with a Junos keyword (`enable` and the
    /// three timeouts), possibly several in one statement.
    fn alg(&mut self, s: &Statement, attributes: &[&str]) {
        let mut rest = attributes;
        let mut mapped = false;
        while let [keyword, tail @ ..] = rest {
            let Some(option) = SectionKind::Alg.option_for_junos(keyword) else {
                break;
            };
            match (option.value, tail) {
                // A flag's keyword alone sets it.
                (ValueKind::Bool { .. }, _) => {
                    self.assign(s, option, ALG_SECTION, Assign::Set("1"));
                    rest = tail;
                }
                (_, [seconds, tail @ ..]) if is_number(seconds) => {
                    self.assign(s, option, ALG_SECTION, Assign::Set(seconds));
                    rest = tail;
                }
                _ => break,
            }
            mapped = true;
        }
        if rest.is_empty() && mapped {
            return;
        }
        let (flags, timeouts) = alg_keywords();
        let reason = if rest.is_empty() {
            format!("nothing to set: expected {}", or_list(&[flags, timeouts].concat()))
        } else {
            format!(
                "'{}': expected {}, or {} with a number of seconds",
                rest.join(" "),
                or_list(&flags),
                or_list(&timeouts)
            )
        };
        self.warn_part(s, mapped, &reason);
    }

    /// `security nat source pool <name> address <a> [to <b>]`.
    fn pool(&mut self, s: &Statement, pool: &str, attributes: &[&str]) {
        let (first, last) = match attributes {
            ["address", first, "to", last] => (*first, Some(*last)),
            ["address", first] => (*first, None),
            _ => {
                let reason = "a pool maps only as 'address <address or prefix> [to <address>]'";
                return self.warn(s, WarningKind::NotMapped, reason);
            }
        };
        let entry = match pool_entry(first, last) {
            Ok(entry) => entry,
            Err(reason) => return self.warn(s, WarningKind::NotMapped, &reason),
        };
        let name = self.uci_name(s, Kind::Pool, pool, pool);
        self.assign(s, &ADDRESS, &name, Assign::Add(&entry.item));
        self.pool_ranges.push((name, entry.range));
        if let Some(reason) = entry.dropped {
            self.warn(s, WarningKind::PartlyMapped, &reason);
        }
    }

    /// `security nat source rule-set <name> from zone …`, `to zone …`, `rule …`. Sections and
    /// names are only made for statements that map.
    fn rule_set(&mut self, s: &Statement, rule_set: &str, attributes: &[&str]) {
        match attributes {
            [] => {
                self.rule_set_section(s, rule_set);
            }
            [direction @ ("from" | "to"), "zone", zone] => {
                let option = if *direction == "from" { &FROM_ZONE } else { &TO_ZONE };
                let name = self.rule_set_section(s, rule_set);
                self.assign_once(s, option, &name, zone);
            }
            ["rule", rule, rest @ ..] => self.rule(s, rule_set, rule, rest),
            [direction @ ("from" | "to"), ..] => {
                let reason = format!(
                    "only '{direction} zone <zone>' maps: a rule set names one firewall zone \
                     per direction"
                );
                self.warn(s, WarningKind::NotMapped, &reason);
            }
            _ => self.warn(s, WarningKind::NotMapped, "no UCI option for this rule-set statement"),
        }
    }

    /// `… rule-set <set> rule <rule> match …` and `… then source-nat …`.
    fn rule(&mut self, s: &Statement, rule_set: &str, rule: &str, rest: &[&str]) {
        match rest {
            [] => {
                self.rule_section(s, rule_set, rule);
            }
            ["match", key, values @ ..] if SectionKind::Rule.option_for_junos(key).is_some() => {
                if let Some(option) = SectionKind::Rule.option_for_junos(key) {
                    self.rule_addresses(s, rule_set, rule, option, values);
                }
            }
            ["match", other, ..] => {
                let reason = format!(
                    "'match {other}' has no UCI option: rules match source-address and \
                     destination-address prefixes"
                );
                self.warn(s, WarningKind::NotMapped, &reason);
            }
            ["then", "source-nat", "interface"] => {
                let name = self.rule_section(s, rule_set, rule);
                self.assign(s, &SOURCE_NAT, &name, Assign::Set(SOURCE_NAT_INTERFACE));
            }
            ["then", "source-nat", "pool", pool, more @ ..] => {
                let name = self.rule_section(s, rule_set, rule);
                let pool_name = self.uci_name(s, Kind::Pool, pool, pool);
                self.assign(s, &SOURCE_NAT, &name, Assign::Set(&pool_name));
                if !more.is_empty() {
                    let reason = format!("'{}' has no UCI option", more.join(" "));
                    self.warn(s, WarningKind::PartlyMapped, &reason);
                }
            }
            ["then", "source-nat", "off"] => self.warn(
                s,
                WarningKind::NotMapped,
                "source_nat is a pool or 'interface'; leave such traffic out of the rule's match",
            ),
            _ => self.warn(s, WarningKind::NotMapped, "no UCI option for this rule statement"),
        }
    }

    fn rule_addresses(&mut self, s: &Statement, rule_set: &str, rule: &str, option: &OptionDecl, values: &[&str]) {
        let values = match values {
            ["[", inner @ .., "]"] => inner,
            [single] => std::slice::from_ref(single),
            _ => &[],
        };
        let (good, bad): (Vec<&str>, Vec<&str>) = values.iter().copied().partition(|v| parse_prefix(v).is_some());
        if !good.is_empty() {
            let name = self.rule_section(s, rule_set, rule);
            for value in &good {
                self.assign(s, option, &name, Assign::Add(value));
            }
        }
        if good.is_empty() || !bad.is_empty() {
            let reason = if bad.is_empty() {
                "expected an address or prefix, or a list of them in [ ]".to_owned()
            } else {
                format!(
                    "expected IPv4 addresses or prefixes, found '{}' (address-book names and \
                     IPv6 do not map)",
                    bad.join(" ")
                )
            };
            self.warn_part(s, !good.is_empty(), &reason);
        }
    }

    /// The rule set's UCI section (made if new), and its name.
    fn rule_set_section(&mut self, s: &Statement, rule_set: &str) -> String {
        let name = self.uci_name(s, Kind::RuleSet, rule_set, rule_set);
        if let Err(error) = self.package.named_section_mut(SectionKind::RuleSet.section_type(), &name) {
            self.warn(s, WarningKind::NotMapped, &error.to_string());
        }
        name
    }

    /// The rule's UCI section with its `rule_set` (both made if new), and its name.
    fn rule_section(&mut self, s: &Statement, rule_set: &str, rule: &str) -> String {
        let set_name = self.rule_set_section(s, rule_set);
        // Junos scopes rule names by rule set; UCI section names are global.
        let name = self.uci_name(s, Kind::Rule, &format!("{rule_set}/{rule}"), rule);
        self.assign(s, &RULE_SET, &name, Assign::Set(&set_name));
        name
    }

    /// `security nat proxy-arp interface <if> address <a> [to <b>]`: `proxy_arp '1'` on the
    /// pools that hold those addresses, decided once all pools are known.
    fn proxy_arp(&mut self, s: &Statement, attributes: &[&str]) {
        let (interface, first, last) = match attributes {
            ["interface", interface, "address", first, "to", last] => (*interface, *first, Some(*last)),
            ["interface", interface, "address", first] => (*interface, *first, None),
            _ => {
                let reason = "expected 'interface <name> address <address> [to <address>]'";
                return self.warn(s, WarningKind::NotMapped, reason);
            }
        };
        match pool_entry(first, last) {
            Ok(entry) => self.proxy_arp.push((s.clone(), interface.to_owned(), entry.range)),
            Err(reason) => self.warn(s, WarningKind::NotMapped, &reason),
        }
    }

    pub(super) fn finish(mut self) -> Import {
        for application in std::mem::take(&mut self.applications) {
            self.map_application(&application);
        }
        for (s, interface, range) in std::mem::take(&mut self.proxy_arp) {
            let pools: Vec<String> = self
                .pool_ranges
                .iter()
                .filter(|(_, pool)| pool.0 <= range.1 && range.0 <= pool.1)
                .map(|(name, _)| name.clone())
                .collect();
            if pools.is_empty() {
                let reason = "no pool holds these addresses: proxy ARP is set per pool";
                self.warn(&s, WarningKind::NotMapped, reason);
                continue;
            }
            for pool in &pools {
                self.assign(&s, &PROXY_ARP, pool, Assign::Set("1"));
            }
            let reason = format!(
                "interface '{interface}' is not kept: the daemon answers ARP for pool '{}' on \
                 the egress interface",
                pools.join("', '")
            );
            self.warn(&s, WarningKind::PartlyMapped, &reason);
        }
        // The order of the option table (SPEC §4's), so that the output reads the same
        // whatever the statement order.
        let sections = self.package.sections_mut();
        sections.sort_by_key(|s| SectionKind::ALL.iter().position(|k| k.section_type() == s.section_type()));
        for section in sections {
            let kind = SectionKind::from_section_type(section.section_type());
            section
                .sort_options_by_key(|option| OPTIONS.iter().position(|o| Some(o.section) == kind && o.name == option));
        }
        self.warnings.sort_by_key(|(index, _)| *index);
        Import { package: self.package, warnings: self.warnings.into_iter().map(|(_, w)| w).collect() }
    }

    /// Sets an option, unless it already holds another value: Junos keeps several zones per
    /// direction, UCI one.
    fn assign_once(&mut self, s: &Statement, option: &OptionDecl, name: &str, value: &str) {
        match self.package.get(name, option.name).map(str::to_owned) {
            Some(existing) if existing != value => {
                let (section_type, option) = (option.section.section_type(), option.name);
                let reason = format!("{section_type} '{name}' already has {option} '{existing}'; UCI takes one");
                self.warn(s, WarningKind::NotMapped, &reason);
            }
            _ => self.assign(s, option, name, Assign::Set(value)),
        }
    }

    /// Sets or appends to `option` in the section of its type called `name`, made if new.
    pub(super) fn assign(&mut self, s: &Statement, option: &OptionDecl, name: &str, value: Assign<'_>) {
        let section_type = option.section.section_type();
        let result = self.package.named_section_mut(section_type, name).and_then(|section| match value {
            Assign::Set(value) => section.set_option(option.name, value),
            Assign::Add(value) => section.add_list(option.name, value),
        });
        if let Err(error) = result {
            self.warn(s, WarningKind::NotMapped, &error.to_string());
        }
    }

    pub(super) fn warn(&mut self, s: &Statement, kind: WarningKind, reason: &str) {
        let warning = Warning { line: s.line, statement: s.text.clone(), kind, reason: reason.to_owned() };
        self.warnings.push((s.index, warning));
    }

    pub(super) fn warn_part(&mut self, s: &Statement, mapped_some: bool, reason: &str) {
        let kind = if mapped_some { WarningKind::PartlyMapped } else { WarningKind::NotMapped };
        self.warn(s, kind, reason);
    }

    pub(super) fn warn_all(&mut self, statements: &[Statement], reason: &str) {
        for s in statements {
            self.warn(s, WarningKind::NotMapped, reason);
        }
    }
}

/// The Junos keywords of the alg options: the flags (`enable`), then the timeouts.
fn alg_keywords() -> (Vec<&'static str>, Vec<&'static str>) {
    let with_keyword = || SectionKind::Alg.options().filter_map(|o| o.junos.map(|keyword| (o.value, keyword)));
    let flags = with_keyword().filter(|(v, _)| matches!(v, ValueKind::Bool { .. })).map(|(_, k)| k).collect();
    let timeouts = with_keyword().filter(|(v, _)| matches!(v, ValueKind::Seconds { .. })).map(|(_, k)| k).collect();
    (flags, timeouts)
}

/// `a, b or c`.
fn or_list(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
