//! Rule-set zones against the firewall's zones: the one check the model cannot make alone.
//!
//! Read first: OpenWrt's firewall configuration (`config zone` / `option name` in
//! `/etc/config/firewall`, <https://openwrt.org/docs/guide-user/firewall/firewall_configuration>).
//! The caller (the daemon, `check`) reads the firewall file; these functions stay pure.

use super::options::{SectionKind, FROM_ZONE, TO_ZONE};
use super::problem::{Problem, ProblemKind, SectionRef};
use super::AlgConfig;
use crate::config::uci::Package;

/// The names of the zones in a parsed `/etc/config/firewall`, in file order, without
/// duplicates. A zone switched off with `option enabled '0'` does not count.
pub fn firewall_zone_names(firewall: &Package) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for zone in firewall.sections_of_type("zone") {
        let Some(name) = zone.get("name") else {
            continue;
        };
        if zone.get("enabled") == Some("0") || names.iter().any(|n| n == name) {
            continue;
        }
        names.push(name.to_owned());
    }
    names
}

impl AlgConfig {
    /// One problem per rule-set zone option that names a zone not in `known`, in file order.
    /// Empty if every zone exists. The guide's `green` and `red` are not OpenWrt zones, so a
    /// configuration imported from Junos usually needs its zones renamed.
    pub fn check_zones<'z>(&self, known: impl IntoIterator<Item = &'z str>) -> Vec<Problem> {
        let known: Vec<&str> = known.into_iter().collect();
        let mut problems = Vec::new();
        for (index, rule_set) in self.rule_sets.iter().enumerate() {
            for (option, zone) in [(&FROM_ZONE, &rule_set.from_zone), (&TO_ZONE, &rule_set.to_zone)] {
                if known.contains(&zone.name.as_str()) {
                    continue;
                }
                problems.push(Problem {
                    file: self.file.clone(),
                    line: zone.line,
                    section: Some(SectionRef {
                        section_type: SectionKind::RuleSet.section_type().to_owned(),
                        name: Some(rule_set.name.clone()),
                        index,
                    }),
                    option: Some(option.name.to_owned()),
                    kind: ProblemKind::UnknownZone {
                        zone: zone.name.clone(),
                        known: known.iter().map(|k| (*k).to_owned()).collect(),
                    },
                });
            }
        }
        problems
    }
}
