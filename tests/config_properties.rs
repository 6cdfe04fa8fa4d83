//! Property tests for the typed configuration (`config::model`):
//!
//! - any file made of the configuration's own words loads without a panic, into either a
//!   configuration the engine accepts or problems that each read as one located line;
//! - any well-formed file (values in range, pools apart, references that resolve) loads, and
//!   gives back exactly the values written.

// Tests may unwrap: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

use ike_esp_alg::config::model::options::{self, SectionKind};
use ike_esp_alg::config::model::AlgConfig;
use std::fmt::Write as _;

use ike_esp_alg::engine::SourceNat;
use proptest::prelude::*;

const FILE: &str = "/etc/config/ike-esp-alg";

/// Section headers, options and values that reach every reader and most problems.
const HEADERS: &[&str] = &[
    "config alg 'ike_esp_nat'",
    "config alg",
    "config nat 'source'",
    "config pool 'p1'",
    "config pool 'p2'",
    "config pool 'interface'",
    "config pool",
    "config rule_set 'rs1'",
    "config rule_set 'rs2'",
    "config rule 'r1'",
    "config rule",
    "config zone 'z'",
];
const OPTIONS: &[&str] = &[
    "enabled",
    "state_timeout",
    "esp_gate_timeout",
    "esp_gate_settle",
    "esp_session_timeout",
    "ike_port",
    "natt_port",
    "binding_linger",
    "queue_num",
    "fail_open",
    "esp_offload",
    "address_persistent",
    "address",
    "proxy_arp",
    "from_zone",
    "to_zone",
    "rule_set",
    "source_address",
    "destination_address",
    "source_nat",
    "bogus",
];
const VALUES: &[&str] = &[
    "0",
    "1",
    "2",
    "30",
    "500",
    "4500",
    "86400",
    "65536",
    "-1",
    "lan",
    "wan",
    "p1",
    "p2",
    "rs1",
    "rs2",
    "interface",
    "10.0.0.1",
    "10.0.0.0/30",
    "10.0.0.2-10.0.0.9",
    "10.0.0.9-10.0.0.2",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "a\nb",
];

fn line() -> impl Strategy<Value = String> {
    let option = (
        prop::bool::ANY,
        prop::sample::select(OPTIONS),
        prop_oneof![4 => prop::sample::select(VALUES).prop_map(str::to_owned), 1 => "[ -~]{0,12}"],
    )
        .prop_map(|(list, name, value)| {
            let value = value.replace('\'', "");
            format!("\t{} {name} '{value}'", if list { "list" } else { "option" })
        });
    prop_oneof![1 => prop::sample::select(HEADERS).prop_map(str::to_owned), 3 => option]
}

proptest! {
    #[test]
    fn any_file_loads_into_a_valid_configuration_or_one_line_problems(
        lines in prop::collection::vec(line(), 0..40)
    ) {
        let text = lines.join("\n");
        match AlgConfig::load(&text, FILE) {
            Ok(config) => {
                prop_assert_eq!(config.engine.validate(), Ok(()));
                prop_assert_eq!(config.engine.pools.len(), config.pools.len());
                for rule in &config.engine.rules {
                    prop_assert!(config.rule_set_of(rule).is_some());
                    if let SourceNat::Pool(index) = rule.source_nat {
                        prop_assert!(index < config.engine.pools.len());
                    }
                }
            }
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                let mut last_line = 0;
                for problem in &problems {
                    let shown = problem.to_string();
                    prop_assert!(!shown.contains('\n'), "{}", shown);
                    prop_assert!(shown.starts_with(&format!("{FILE}:")), "{}", shown);
                    let line = problem.line.unwrap();
                    prop_assert!(line >= last_line, "problems out of line order");
                    last_line = line;
                }
            }
        }
    }
}

/// A well-formed file and what it must load as.
#[derive(Debug, Clone)]
struct WellFormed {
    /// `alg` options written, as (name, value): every one within its range.
    alg: Vec<(&'static str, u64)>,
    /// Per pool, its entries; pool `i` lives in 10.i.0.0/16 and entry `j` in 10.i.j.0/24,
    /// so no two entries overlap.
    pools: Vec<Vec<(u8, Form)>>,
    /// Per rule set, (from_zone, to_zone).
    rule_sets: Vec<(&'static str, &'static str)>,
    /// Per rule, (rule set index, pool index or None for interface, source prefix lengths).
    rules: Vec<(usize, Option<usize>, Vec<u8>)>,
}

#[derive(Debug, Clone, Copy)]
enum Form {
    Single,
    Range,
    Cidr,
}

const ALG_RANGES: &[(&str, u64, u64)] = &[
    ("state_timeout", 180, 86_400),
    ("esp_gate_timeout", 2, 30),
    ("esp_gate_settle", 0, 30),
    ("esp_session_timeout", 60, 2_400),
    ("binding_linger", 0, 86_400),
    ("queue_num", 0, 65_535),
    ("enabled", 0, 1),
    ("fail_open", 0, 1),
    ("esp_offload", 0, 1),
];

/// The generators above are written out, so that they check the option table rather than
/// follow it; this keeps them complete when the table grows.
#[test]
fn the_generators_cover_every_declared_option_with_its_range() {
    for option in options::OPTIONS {
        assert!(OPTIONS.contains(&option.name), "{} is missing from OPTIONS", option.name);
    }
    // The two ports are left to the golden files, since a random pair may collide.
    let ranged = SectionKind::Alg.options().filter(|o| o.range().is_some() && o.range() != Some(options::PORT_RANGE));
    let declared: Vec<(&str, u64, u64)> =
        ranged.map(|o| o.range().map(|(min, max)| (o.name, min, max)).unwrap()).collect();
    let mut written = ALG_RANGES.to_vec();
    written.sort_by_key(|(name, ..)| declared.iter().position(|(n, ..)| n == name));
    assert_eq!(written, declared);
}

fn well_formed() -> impl Strategy<Value = WellFormed> {
    let alg = prop::sample::subsequence(ALG_RANGES, 0..=ALG_RANGES.len())
        .prop_flat_map(|knobs| knobs.into_iter().map(|(name, min, max)| (Just(name), min..=max)).collect::<Vec<_>>());
    let form = prop_oneof![Just(Form::Single), Just(Form::Range), Just(Form::Cidr)];
    let pools = prop::collection::vec(prop::collection::vec(form, 1..4), 0..4);
    let zone = prop::sample::select(vec!["lan", "wan", "guest"]);
    let rule_sets = prop::collection::vec((zone.clone(), zone), 1..3);
    (alg, pools, rule_sets).prop_flat_map(|(alg, pools, rule_sets)| {
        let pool_count = pools.len();
        let rule = (
            0..rule_sets.len(),
            prop::option::of(0..pool_count.max(1)).prop_map(move |p| p.filter(|_| pool_count > 0)),
            prop::collection::vec(8u8..=32, 0..3),
        );
        let pools = pools
            .into_iter()
            .map(|entries| entries.into_iter().enumerate().map(|(j, f)| (j as u8, f)).collect())
            .collect::<Vec<Vec<(u8, Form)>>>();
        prop::collection::vec(rule, 0..4).prop_map(move |rules| WellFormed {
            alg: alg.clone(),
            pools: pools.clone(),
            rule_sets: rule_sets.clone(),
            rules,
        })
    })
}

impl WellFormed {
    fn text(&self) -> String {
        let mut out = String::from("config alg 'ike_esp_nat'\n");
        for (name, value) in &self.alg {
            writeln!(out, "\toption {name} '{value}'").unwrap();
        }
        for (i, entries) in self.pools.iter().enumerate() {
            writeln!(out, "config pool 'pool{i}'").unwrap();
            for (j, form) in entries {
                let entry = match form {
                    Form::Single => format!("10.{i}.{j}.1"),
                    Form::Range => format!("10.{i}.{j}.10-10.{i}.{j}.20"),
                    Form::Cidr => format!("10.{i}.{j}.128/26"),
                };
                writeln!(out, "\tlist address '{entry}'").unwrap();
            }
        }
        for (i, (from, to)) in self.rule_sets.iter().enumerate() {
            writeln!(out, "config rule_set 'rs{i}'\n\toption from_zone '{from}'").unwrap();
            writeln!(out, "\toption to_zone '{to}'").unwrap();
        }
        for (rule_set, pool, sources) in &self.rules {
            writeln!(out, "config rule\n\toption rule_set 'rs{rule_set}'").unwrap();
            for len in sources {
                writeln!(out, "\tlist source_address '192.168.{len}.0/{len}'").unwrap();
            }
            match pool {
                Some(pool) => writeln!(out, "\toption source_nat 'pool{pool}'").unwrap(),
                None => writeln!(out, "\toption source_nat 'interface'").unwrap(),
            }
        }
        out
    }
}

proptest! {
    #[test]
    fn a_well_formed_file_loads_as_written(file in well_formed()) {
        let config = AlgConfig::load(&file.text(), FILE);
        let config = match config {
            Ok(config) => config,
            Err(problems) => {
                let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
                return Err(TestCaseError::fail(format!("{}\n{}", file.text(), shown.join("\n"))));
            }
        };
        let t = config.engine.timeouts;
        for (name, value) in &file.alg {
            let got = match *name {
                "state_timeout" => t.state.as_secs(),
                "esp_gate_timeout" => t.esp_gate.as_secs(),
                "esp_gate_settle" => t.esp_gate_settle.map_or(0, |d| d.as_secs()),
                "esp_session_timeout" => t.esp_session.as_secs(),
                "binding_linger" => t.binding_linger.as_secs(),
                "queue_num" => u64::from(config.queue.number),
                "enabled" => u64::from(config.enabled),
                "fail_open" => u64::from(config.queue.fail_open),
                "esp_offload" => u64::from(config.esp_offload),
                _ => unreachable!(),
            };
            prop_assert_eq!(got, *value, "{}", name);
        }
        prop_assert_eq!(config.engine.pools.len(), file.pools.len());
        for (pool, entries) in config.engine.pools.iter().zip(&file.pools) {
            let size: u64 = entries
                .iter()
                .map(|(_, form)| match form { Form::Single => 1, Form::Range => 11, Form::Cidr => 64 })
                .sum();
            prop_assert_eq!(pool.size(), size);
        }
        prop_assert_eq!(config.rule_sets.len(), file.rule_sets.len());
        prop_assert_eq!(config.engine.rules.len(), file.rules.len());
        for (rule, (rule_set, pool, sources)) in config.engine.rules.iter().zip(&file.rules) {
            prop_assert_eq!(&rule.rule_set, &format!("rs{rule_set}"));
            prop_assert_eq!(config.pool_of(rule).map(|p| p.name.clone()), pool.map(|p| format!("pool{p}")));
            prop_assert_eq!(rule.sources.len(), sources.len());
        }
    }
}
