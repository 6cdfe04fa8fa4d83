//! Junos names to UCI section names: Junos allows `-` and scopes rule names by rule set, UCI
//! section names are `[A-Za-z0-9_]` and unique in the file.
//!
//! Read first: libuci's `uci_validate_name`, and SPEC §4 (`interface` is a `source_nat` value,
//! `source` the nat section, `ike_esp_nat` the alg section).

use super::map::Importer;
use super::split::Statement;
use super::{WarningKind, ALG_SECTION};
use crate::config::model::options::{NAT_SECTION, SOURCE_NAT_INTERFACE};

/// UCI section names the importer uses itself, or that mean something as a value.
const RESERVED_NAMES: &[&str] = &[ALG_SECTION, NAT_SECTION, SOURCE_NAT_INTERFACE];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Pool,
    RuleSet,
    Rule,
}

/// A Junos name and the UCI section name it became.
#[derive(Debug, Clone)]
pub(super) struct Name {
    pub(super) kind: Kind,
    /// Rule names are scoped by their rule set: `rs1/r1`.
    pub(super) key: String,
    pub(super) uci: String,
}

impl Importer {
    /// The UCI section name for a Junos name: unsafe characters become `_`, and a name already
    /// taken by another section gets a `_2`, `_3`… suffix. Each rename is reported once.
    pub(super) fn uci_name(&mut self, s: &Statement, kind: Kind, key: &str, shown: &str) -> String {
        if let Some(name) = self.names.iter().find(|n| n.kind == kind && n.key == key) {
            return name.uci.clone();
        }
        let base: String = shown.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
        let base = if base.is_empty() { "_".to_owned() } else { base };
        let taken = |name: &str, names: &[Name]| RESERVED_NAMES.contains(&name) || names.iter().any(|n| n.uci == name);
        let mut uci = base.clone();
        let mut suffix: u32 = 2;
        while taken(&uci, &self.names) {
            uci = format!("{base}_{suffix}");
            suffix = suffix.saturating_add(1);
        }
        if uci != shown {
            let what = match kind {
                Kind::Pool => "pool",
                Kind::RuleSet => "rule set",
                Kind::Rule => "rule",
            };
            let why = match base.as_str() {
                _ if base != shown => "UCI section names hold only ASCII letters, digits and '_'",
                SOURCE_NAT_INTERFACE => "source_nat 'interface' means the egress interface's address",
                NAT_SECTION => "'source' is the nat section",
                ALG_SECTION => "'ike_esp_nat' is the alg section",
                _ => "another section already has that name",
            };
            let reason = format!("{what} '{shown}' is '{uci}' in UCI: {why}");
            self.warn(s, WarningKind::Renamed, &reason);
        }
        self.names.push(Name { kind, key: key.to_owned(), uci: uci.clone() });
        uci
    }
}
