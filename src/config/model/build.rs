//! A parsed UCI package to an [`AlgConfig`], collecting every problem on the way.
//!
//! Read first: SPEC §4. Sections are checked in file order; pools and rule sets are read
//! before rules, so that a rule may name a pool or rule set defined further down. Nothing is
//! returned half-built: either the whole configuration, checked by the engine too, or every
//! problem found, in line order.

use core::time::Duration;

use super::options::{
    OptionDecl, SectionKind, ADDRESS_PERSISTENT, BINDING_LINGER, DESTINATION_ADDRESS, ENABLED, ESP_GATE_SETTLE,
    ESP_GATE_TIMEOUT, ESP_OFFLOAD, ESP_SESSION_TIMEOUT, FAIL_OPEN, FROM_ZONE, IKE_PORT, NATT_PORT, QUEUE_NUM, RULE_SET,
    SOURCE_ADDRESS, SOURCE_NAT, SOURCE_NAT_INTERFACE, STATE_TIMEOUT, TO_ZONE,
};
use super::pools::read_pools;
use super::problem::{Problem, ProblemKind, Unit};
use super::sections::{Checked, Problems};
use super::{values, AlgConfig, QueueOptions, RuleSet, Zone};
use crate::config::uci::{Package, Section};
use crate::engine::{EngineConfig, Ipv4Net, Limits, PoolConfig, RuleConfig, SourceNat, Timeouts};
use crate::wire::Ports;

pub(super) fn build(package: &Package, file: &str) -> Result<AlgConfig, Vec<Problem>> {
    let mut problems = Problems::new(file);
    let mut checked: Vec<Checked<'_>> = Vec::new();
    for (i, section) in package.sections().iter().enumerate() {
        let same_type = |s: &&Section| s.section_type() == section.section_type();
        let index = package.sections().iter().take(i).filter(same_type).count();
        checked.extend(problems.check_section(section, index));
    }
    let of_kind =
        |kind: SectionKind| -> Vec<Checked<'_>> { checked.iter().filter(|c| c.spec.kind == kind).copied().collect() };

    let alg = read_alg(&mut problems, &of_kind(SectionKind::Alg));
    let mut address_persistent = ADDRESS_PERSISTENT.flag_default();
    for nat in of_kind(SectionKind::Nat) {
        if let Some(on) = problems.read(&nat, &ADDRESS_PERSISTENT, values::boolean) {
            address_persistent = on;
        }
    }
    let (pools, pool_options) = read_pools(&mut problems, &of_kind(SectionKind::Pool));
    let rule_sets = read_rule_sets(&mut problems, &of_kind(SectionKind::RuleSet));
    let rules = read_rules(&mut problems, &of_kind(SectionKind::Rule), &pools, &rule_sets);

    if !problems.list.is_empty() {
        let mut list = problems.list;
        list.sort_by_key(|p| p.line.unwrap_or(u32::MAX));
        return Err(list);
    }
    let engine = EngineConfig {
        timeouts: alg.timeouts,
        ports: alg.ports,
        address_persistent,
        pools,
        rules,
        limits: Limits::default(),
    };
    engine.validate().map_err(|e| vec![Problem::from_engine_error(file, e)])?;
    Ok(AlgConfig {
        file: file.to_owned(),
        enabled: alg.enabled,
        queue: alg.queue,
        esp_offload: alg.esp_offload,
        engine,
        pools: pool_options,
        rule_sets,
    })
}

/// The `alg` section's values, defaults where an option is absent.
#[derive(Debug)]
struct AlgValues {
    enabled: bool,
    timeouts: Timeouts,
    ports: Ports,
    queue: QueueOptions,
    esp_offload: bool,
}

/// Reads every `alg` section (there should be one; others are already a naming problem).
fn read_alg(problems: &mut Problems<'_>, sections: &[Checked<'_>]) -> AlgValues {
    let mut alg = AlgValues {
        enabled: ENABLED.flag_default(),
        // The engine's defaults are the ones the timeout options declare.
        timeouts: Timeouts::default(),
        ports: Ports { ike: IKE_PORT.number_default(), natt: NATT_PORT.number_default() },
        queue: QueueOptions { number: QUEUE_NUM.number_default(), fail_open: FAIL_OPEN.flag_default() },
        esp_offload: ESP_OFFLOAD.flag_default(),
    };
    for section in sections {
        let mut seconds = |option: &OptionDecl, into: &mut Duration| {
            let range = option.range().unwrap_or_default();
            let read = problems.read(section, option, |v| values::number(v, range, Unit::Seconds));
            if let Some(seconds) = read {
                *into = Duration::from_secs(seconds);
            }
        };
        let t = &mut alg.timeouts;
        seconds(&STATE_TIMEOUT, &mut t.state);
        seconds(&ESP_GATE_TIMEOUT, &mut t.esp_gate);
        seconds(&ESP_SESSION_TIMEOUT, &mut t.esp_session);
        seconds(&BINDING_LINGER, &mut t.binding_linger);
        let mut settle = t.esp_gate_settle.unwrap_or_default();
        seconds(&ESP_GATE_SETTLE, &mut settle);
        t.esp_gate_settle = Timeouts::esp_gate_settle_from_secs(settle.as_secs());

        let mut number16 = |option: &OptionDecl, into: &mut u16| {
            let range = option.range().unwrap_or_default();
            let read = problems.read(section, option, |v| values::number(v, range, Unit::Plain));
            if let Some(n) = read.and_then(|n| u16::try_from(n).ok()) {
                *into = n;
            }
        };
        number16(&IKE_PORT, &mut alg.ports.ike);
        number16(&NATT_PORT, &mut alg.ports.natt);
        number16(&QUEUE_NUM, &mut alg.queue.number);

        if let Some(on) = problems.read(section, &ENABLED, values::boolean) {
            alg.enabled = on;
        }
        if let Some(on) = problems.read(section, &FAIL_OPEN, values::boolean) {
            alg.queue.fail_open = on;
        }
        if let Some(on) = problems.read(section, &ESP_OFFLOAD, values::boolean) {
            alg.esp_offload = on;
        }
        if alg.ports.ike == alg.ports.natt {
            // Blame the option that is written; natt_port if both are.
            let (option, other) = match section.single(&NATT_PORT) {
                Some(_) => (NATT_PORT.name, IKE_PORT.name),
                None => (IKE_PORT.name, NATT_PORT.name),
            };
            let line = section.section.option_line(option);
            let kind = ProblemKind::SamePorts { port: alg.ports.ike, other };
            problems.option(section, option, line, kind);
        }
    }
    alg
}

fn read_rule_sets(problems: &mut Problems<'_>, sections: &[Checked<'_>]) -> Vec<RuleSet> {
    let mut rule_sets = Vec::new();
    for section in sections {
        let mut zone = |option: &OptionDecl| Zone {
            name: problems.require(section, option, |v| values::zone_name(v).map(str::to_owned)).unwrap_or_default(),
            line: section.section.option_line(option.name),
        };
        let from_zone = zone(&FROM_ZONE);
        let to_zone = zone(&TO_ZONE);
        rule_sets.push(RuleSet { name: section.name(), from_zone, to_zone });
    }
    rule_sets
}

fn read_rules(
    problems: &mut Problems<'_>,
    sections: &[Checked<'_>],
    pools: &[PoolConfig],
    rule_sets: &[RuleSet],
) -> Vec<RuleConfig> {
    let pool_names: Vec<String> = pools.iter().map(|p| p.name.clone()).collect();
    let rule_set_names: Vec<String> = rule_sets.iter().map(|r| r.name.clone()).collect();
    let mut rules = Vec::new();
    for section in sections {
        let rule_set = problems.require(section, &RULE_SET, |name| {
            if rule_set_names.iter().any(|n| n == name) {
                Ok(name.to_owned())
            } else {
                Err(ProblemKind::UnknownRuleSet { name: name.to_owned(), defined: rule_set_names.clone() })
            }
        });
        let sources = read_prefixes(problems, section, &SOURCE_ADDRESS);
        let destinations = read_prefixes(problems, section, &DESTINATION_ADDRESS);
        let source_nat = problems.require(section, &SOURCE_NAT, |name| {
            if name == SOURCE_NAT_INTERFACE {
                return Ok(SourceNat::Interface);
            }
            match pool_names.iter().position(|n| n == name) {
                Some(index) => Ok(SourceNat::Pool(index)),
                None => Err(ProblemKind::UnknownPool { name: name.to_owned(), defined: pool_names.clone() }),
            }
        });
        rules.push(RuleConfig {
            name: section.name(),
            rule_set: rule_set.unwrap_or_default(),
            sources,
            destinations,
            source_nat: source_nat.unwrap_or(SourceNat::Interface),
        });
    }
    rules
}

/// A rule's `source_address` or `destination_address` list; absent means any.
fn read_prefixes(problems: &mut Problems<'_>, section: &Checked<'_>, option: &OptionDecl) -> Vec<Ipv4Net> {
    let mut prefixes = Vec::new();
    for (value, line) in section.items(option) {
        match values::prefix(value) {
            Ok(prefix) => prefixes.push(prefix),
            Err(kind) => problems.option(section, option.name, line, kind),
        }
    }
    prefixes
}
