//! The section types of `/etc/config/ike-esp-alg` and how each must be named; which options
//! each takes comes from [`options`](super::options).
//!
//! Read first: SPEC §4's table.

use super::options::{SectionKind, ALG_SECTION, NAT_SECTION};

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

/// One section type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SectionSpec {
    pub(super) kind: SectionKind,
    pub(super) naming: Naming,
}

/// The section types, in the order the file is expected to list them.
pub(super) const SECTION_TYPES: &[&str] = &[
    SectionKind::Alg.section_type(),
    SectionKind::Nat.section_type(),
    SectionKind::Pool.section_type(),
    SectionKind::RuleSet.section_type(),
    SectionKind::Rule.section_type(),
];

const SPECS: [SectionSpec; 5] = [
    SectionSpec { kind: SectionKind::Alg, naming: Naming::Fixed(ALG_SECTION) },
    SectionSpec { kind: SectionKind::Nat, naming: Naming::Fixed(NAT_SECTION) },
    SectionSpec { kind: SectionKind::Pool, naming: Naming::Required },
    SectionSpec { kind: SectionKind::RuleSet, naming: Naming::Required },
    SectionSpec { kind: SectionKind::Rule, naming: Naming::Optional },
];

/// The spec of a section type, if the package has that type.
pub(super) fn section_spec(section_type: &str) -> Option<&'static SectionSpec> {
    SPECS.iter().find(|spec| spec.kind.section_type() == section_type)
}

impl SectionSpec {
    /// How the model's doc table shows a section of this type: `alg 'ike_esp_nat'`,
    /// `pool '<name>'`, `rule ['<name>']`.
    #[cfg(test)]
    pub(super) fn shown(&self) -> String {
        let section_type = self.kind.section_type();
        match self.naming {
            Naming::Fixed(name) => format!("{section_type} '{name}'"),
            Naming::Required => format!("{section_type} '<name>'"),
            Naming::Optional => format!("{section_type} ['<name>']"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_kind_has_one_spec_in_order() {
        let kinds: Vec<SectionKind> = SPECS.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, SectionKind::ALL);
        let types: Vec<&str> = SectionKind::ALL.iter().map(|k| k.section_type()).collect();
        assert_eq!(types, SECTION_TYPES);
        assert_eq!(section_spec("rule").map(SectionSpec::shown), Some("rule ['<name>']".to_owned()));
        assert_eq!(section_spec("config"), None);
    }
}
