//! Golden tests for the Junos importer (`config::junos`), on every CLI quick-configuration
//! block of the guide (seed document), their step-by-step procedure forms, and edge cases.
//!
//! Each `tests/golden/junos/NAME.junos` is imported; `NAME.expected` holds the UCI it writes
//! and the warnings, one per line as `line N: <warning>`. The UCI must parse back to the same
//! package. Run with `UPDATE_GOLDEN=1` to rewrite the expected files, then review the diff.

// Tests may unwrap: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use ike_esp_alg::config::junos::{self, Import, WarningKind};
use ike_esp_alg::config::model::options::{SectionKind, Shape, ValueKind, OPTIONS};
use ike_esp_alg::config::uci;
use proptest::prelude::*;

/// The guide's four quick-configuration blocks, as the golden files name them.
const GUIDE_BLOCKS: [&str; 4] = [
    "guide_1_nat_pool_and_rule_set",
    "guide_2_custom_application_and_policy",
    "guide_3_natt_and_address_persistence",
    "guide_4_alg_enable_and_timeouts",
];

#[test]
fn golden_files() {
    support::check_golden(&golden_dir(), "junos", 17, |_, input| render(&junos::import(input)));
}

#[test]
fn guide_blocks_import_the_same_with_or_without_line_breaks() {
    for block in GUIDE_BLOCKS {
        let run_together = import_golden(block);
        let with_breaks = import_golden(&format!("{block}_lines"));
        assert_eq!(with_breaks.package, run_together.package, "{block}");
        let shown = |import: &Import| import.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(shown(&with_breaks), shown(&run_together), "{block}");
        assert!(run_together.warnings.iter().all(|w| w.line == 1), "{block}: one line");
    }
}

#[test]
fn guide_procedures_import_the_same_configuration_as_the_quick_configuration() {
    for block in GUIDE_BLOCKS {
        let quick = import_golden(block);
        let procedure = import_golden(&format!("{block}_procedure"));
        assert_eq!(procedure.package, quick.package, "{block}");
    }
}

#[test]
fn the_whole_guide_gives_every_knob_and_only_zones_and_policies_stay_behind() {
    let imported = import_golden("guide_all_quick_configuration");
    let package = &imported.package;
    let alg = junos::ALG_SECTION;
    for (option, value) in [
        ("enabled", "1"),
        ("state_timeout", "360"),
        ("esp_gate_timeout", "20"),
        ("esp_session_timeout", "2400"),
        ("ike_port", "500"),
        ("natt_port", "4500"),
    ] {
        assert_eq!(package.get(alg, option), Some(value), "{option}");
    }
    assert_eq!(package.get("source", "address_persistent"), Some("1"));
    assert_eq!(package.get_list("pool1", "address"), Some(&["10.10.10.1-10.10.10.10".to_owned()][..]));
    assert_eq!(package.get("rs1", "from_zone"), Some("green"));
    assert_eq!(package.get("rs1", "to_zone"), Some("red"));
    assert_eq!(package.get("r1", "rule_set"), Some("rs1"));
    assert_eq!(package.get_list("r1", "source_address"), Some(&["1.1.1.0/24".to_owned()][..]));
    assert_eq!(package.get_list("r1", "destination_address"), Some(&["2.2.2.0/24".to_owned()][..]));
    assert_eq!(package.get("r1", "source_nat"), Some("pool1"));

    let types: Vec<&str> = package.sections().iter().map(|s| s.section_type()).collect();
    assert_eq!(types, ["alg", "nat", "pool", "rule_set", "rule"]);

    // 2 address-book statements and 3 + 4 policy statements; nothing else.
    assert_eq!(imported.warnings.len(), 9, "{:#?}", imported.warnings);
    for warning in &imported.warnings {
        assert_eq!(warning.kind, WarningKind::NotMapped);
        let path = warning.statement.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        assert!(matches!(path.as_str(), "set security zones" | "set security policies"), "{warning}");
    }
}

#[test]
fn every_junos_keyword_of_the_option_table_imports_into_its_option() {
    let mut checked = 0;
    for option in OPTIONS {
        let Some(keyword) = option.junos else {
            continue;
        };
        // A flag's keyword stands alone; a timeout's takes its default; a match takes a prefix.
        let value = match option.value {
            ValueKind::Bool { .. } => None,
            _ => Some(option.default_value().unwrap_or_else(|| "10.1.0.0/16".to_owned())),
        };
        let (statement, section) = match option.section {
            SectionKind::Alg => ("set security alg ike-esp-nat", junos::ALG_SECTION),
            SectionKind::Nat => ("set security nat source", "source"),
            SectionKind::Rule => ("set security nat source rule-set rs1 rule r1 match", "r1"),
            other => panic!("{other:?}: a Junos keyword with no statement in this test"),
        };
        let text = format!("{statement} {keyword} {}", value.as_deref().unwrap_or(""));
        let imported = junos::import(text.trim_end());
        assert!(imported.warnings.is_empty(), "{text}: {:?}", imported.warnings);
        let expected = value.unwrap_or_else(|| "1".to_owned());
        let got = match option.shape {
            Shape::Option => imported.package.get(section, option.name).map(str::to_owned),
            Shape::List => imported.package.get_list(section, option.name).map(|items| items.join(" ")),
        };
        assert_eq!(got, Some(expected), "{text}");
        checked += 1;
    }
    assert_eq!(checked, 7, "enable, 3 timeouts, address-persistent, 2 match keys");
}

#[test]
fn every_statement_of_every_guide_block_is_either_mapped_or_reported() {
    // Import the block one statement longer each time: each statement must change the
    // package or add a warning.
    for block in GUIDE_BLOCKS {
        let text = fs::read_to_string(golden_dir().join(format!("{block}_lines.junos"))).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut before = junos::import("");
        for n in 1..=lines.len() {
            let after = junos::import(&lines[..n].join("\n"));
            let mapped = after.package != before.package;
            let reported = after.warnings.len() > before.warnings.len();
            assert!(mapped != reported, "{block}: '{}' mapped {mapped}, reported {reported}", lines[n - 1]);
            before = after;
        }
    }
}

/// Words that steer the importer into every branch, mixed with arbitrary text.
const VOCABULARY: &[&str] = &[
    "set",
    "delete",
    "edit",
    "top",
    "up",
    "security",
    "applications",
    "application",
    "nat",
    "source",
    "pool",
    "p-1",
    "address",
    "10.0.0.1/32",
    "to",
    "10.0.0.9",
    "10.0.0.0/24",
    "rule-set",
    "rs1",
    "rule",
    "r1",
    "from",
    "zone",
    "green",
    "match",
    "source-address",
    "destination-address",
    "then",
    "source-nat",
    "interface",
    "off",
    "proxy-arp",
    "alg",
    "ike-esp-nat",
    "enable",
    "state-timeout",
    "360",
    "protocol",
    "udp",
    "destination-port",
    "500",
    "4500",
    "source-port",
    "application-protocol",
    "address-persistent",
    "[",
    "]",
    "[edit",
    "[edit]",
    "user@host#",
    "\n",
    "\"",
    "#",
    "\\",
    "'",
];

proptest! {
    #[test]
    fn any_input_imports_without_panic_into_uci_that_reads_back(
        words in prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(VOCABULARY).prop_map(str::to_owned),
                1 => "[ -~\u{3000}\n]{0,10}",
            ],
            0..60,
        )
    ) {
        let imported = junos::import(&words.join(" "));
        let text = uci::write(&imported.package);
        let reparsed = uci::parse(&text, "imported");
        prop_assert!(reparsed.is_ok(), "{:?}\n{}", reparsed, text);
        for warning in &imported.warnings {
            prop_assert!(!warning.reason.is_empty());
        }
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/junos")
}

fn import_golden(name: &str) -> Import {
    junos::import(&fs::read_to_string(golden_dir().join(format!("{name}.junos"))).unwrap())
}

/// The UCI text, checked to parse back to the same package, then the warnings.
fn render(imported: &Import) -> String {
    let text = uci::write(&imported.package);
    let reparsed = uci::parse(&text, "imported").unwrap();
    assert_eq!(uci::write(&reparsed), text, "the imported UCI does not read back as written");
    let mut out = format!("---- uci ----\n{text}---- warnings ----\n");
    for warning in &imported.warnings {
        out.push_str(&format!("line {}: {warning}\n", warning.line));
    }
    out
}
