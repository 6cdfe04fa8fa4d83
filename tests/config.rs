//! Golden tests for the typed configuration (`config::model`), and the configurations that
//! ship or that other parts of the project rely on.
//!
//! Each `tests/golden/config/NAME.uci` is loaded as if it were `/etc/config/ike-esp-alg`.
//! `NAME.expected` holds either a dump of the typed configuration, or for `err_*` inputs the
//! exact problem lines, one per problem. Run with `UPDATE_GOLDEN=1` to rewrite the expected
//! files, then review the diff.

// Tests may unwrap: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod support;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use ike_esp_alg::config::model::{firewall_zone_names, AlgConfig, Problem, QueueOptions, SectionKind, OPTIONS};
use ike_esp_alg::config::{junos, uci};
use ike_esp_alg::engine::{EngineConfig, SourceNat};

const FILE: &str = "/etc/config/ike-esp-alg";

#[test]
fn golden_files() {
    support::check_golden(&golden_dir(), "uci", 20, |name, input| {
        match (AlgConfig::load(input, FILE), name.starts_with("err_")) {
            (Err(problems), true) => lines(&problems),
            (Ok(config), false) => dump(&config),
            (Ok(config), true) => format!("expected problems, loaded:\n{}", dump(&config)),
            (Err(problems), false) => format!("unexpected problems:\n{}", lines(&problems)),
        }
    });
}

#[test]
fn the_problem_line_from_the_spec() {
    let text =
        "# five lines of comment\n".repeat(5) + "config alg 'ike_esp_nat'\n" + "\toption esp_gate_timeout '45'\n";
    let problems = AlgConfig::load(&text, FILE).unwrap_err();
    assert_eq!(
        lines(&problems),
        "/etc/config/ike-esp-alg:7: alg 'ike_esp_nat' option 'esp_gate_timeout': 45 is out of \
         range (allowed 2-30 seconds)\n"
    );
}

#[test]
fn the_shipped_default_file_is_the_engines_default_and_off() {
    let text = fs::read_to_string(repo().join("files/etc/config/ike-esp-alg")).unwrap();
    let config = AlgConfig::load(&text, FILE).unwrap();
    assert!(!config.enabled, "the ALG is off until enabled");
    assert_eq!(config.engine, EngineConfig::default());
    assert_eq!(config.queue, QueueOptions { number: 500, fail_open: true });
    assert!(config.pools.is_empty());
    let rule_set = config.rule_set("lan_wan").unwrap();
    assert_eq!((rule_set.from_zone.name.as_str(), rule_set.to_zone.name.as_str()), ("lan", "wan"));
    let rule = &config.engine.rules[0];
    assert_eq!(config.rule_set_of(rule), Some(rule_set));
    assert_eq!(rule.source_nat, SourceNat::Interface);
    // Stock OpenWrt has the zones lan and wan.
    assert_eq!(config.check_zones(["lan", "wan"]), Vec::<Problem>::new());

    // What `uci set ike-esp-alg.ike_esp_nat.enabled=1` makes of it.
    let mut package = uci::parse(&text, FILE).unwrap();
    package.section_by_ref_mut("ike_esp_nat").unwrap().set_option("enabled", "1").unwrap();
    let enabled = AlgConfig::from_package(&package, FILE).unwrap();
    assert!(enabled.enabled);
    assert_eq!(enabled.engine, config.engine);
}

#[test]
fn the_timeouts_and_ports_default_to_the_guide() {
    let config = AlgConfig::load("", FILE).unwrap();
    let t = config.engine.timeouts;
    let seconds = [t.state, t.esp_gate, t.esp_session, t.binding_linger].map(|d| d.as_secs());
    assert_eq!(seconds, [14_400, 5, 1_800, 300]);
    assert_eq!((config.engine.ports.ike, config.engine.ports.natt), (500, 4500));
    assert!(!config.enabled);
    assert!(config.engine.address_persistent);
    assert!(config.engine.rules.is_empty());
}

#[test]
fn the_shipped_default_file_shows_every_alg_and_nat_option_at_its_default_under_its_doc_line() {
    let text = fs::read_to_string(repo().join("files/etc/config/ike-esp-alg")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The section each line is in, by the last `config <type>` above it.
    let mut section_of = Vec::new();
    let mut section = "";
    for line in &lines {
        if let Some(rest) = line.strip_prefix("config ") {
            section = rest.split_whitespace().next().unwrap_or("");
        }
        section_of.push(section);
    }
    let fixed = [SectionKind::Alg, SectionKind::Nat];
    let mut shown = 0;
    for option in OPTIONS.iter().filter(|o| fixed.contains(&o.section)) {
        let default = option.default_value().unwrap();
        // Written, or commented out at its default (`#option …`).
        let written = format!("option {} '{default}'", option.name);
        let at: Vec<usize> =
            (0..lines.len()).filter(|&i| lines[i].trim_start().trim_start_matches('#') == written).collect();
        assert_eq!(at.len(), 1, "the file should have `{written}` once");
        let i = at[0];
        assert_eq!(section_of[i], option.section.section_type(), "{}: in its section", option.name);
        let comment = i.checked_sub(1).map(|j| lines[j].trim_start());
        assert_eq!(comment, Some(format!("# {}", option.comment()).as_str()), "the line above {}", option.name);
        shown += 1;
    }
    assert_eq!(shown, 12, "11 alg options and address_persistent");
}

#[test]
fn the_lab_configuration_is_valid_and_its_zones_are_the_lab_firewalls() {
    let text = fs::read_to_string(repo().join("lab/config/ike-esp-alg.uci")).unwrap();
    let config = AlgConfig::load(&text, "lab/config/ike-esp-alg.uci")
        .unwrap_or_else(|problems| panic!("lab configuration refused:\n{}", lines(&problems)));
    assert!(config.enabled);
    let firewall = fs::read_to_string(repo().join("lab/config/firewall")).unwrap();
    let firewall = uci::parse(&firewall, "lab/config/firewall").unwrap();
    let zones = firewall_zone_names(&firewall);
    assert_eq!(zones, ["lan", "wan"]);
    let problems = config.check_zones(zones.iter().map(String::as_str));
    assert!(problems.is_empty(), "{}", lines(&problems));
}

#[test]
fn every_range_edge_of_every_ranged_option() {
    // (option, min, max, unit shown in the message)
    let ranged = [
        ("state_timeout", 180, 86_400, " seconds"),
        ("esp_gate_timeout", 2, 30, " seconds"),
        ("esp_session_timeout", 60, 2_400, " seconds"),
        ("binding_linger", 0, 86_400, " seconds"),
        ("ike_port", 1, 65_535, ""),
        ("natt_port", 1, 65_535, ""),
        ("queue_num", 0, 65_535, ""),
    ];
    let load = |option: &str, value: &str| {
        // Keep the two ports apart whatever the value under test.
        let other = match option {
            "ike_port" => "\toption natt_port '7'\n",
            "natt_port" => "\toption ike_port '7'\n",
            _ => "",
        };
        let text = format!("config alg 'ike_esp_nat'\n\toption {option} '{value}'\n{other}");
        AlgConfig::load(&text, FILE)
    };
    for (option, min, max, unit) in ranged {
        for value in [min, max] {
            assert!(load(option, &value.to_string()).is_ok(), "{option} {value}");
        }
        let below = if min == 0 { "-1".to_owned() } else { (min - 1).to_string() };
        let above = (max + 1).to_string();
        for value in [below, above] {
            let problems = load(option, &value).unwrap_err();
            let what = if value.starts_with('-') {
                format!("'{value}' is not a number")
            } else {
                format!("{value} is out of range")
            };
            assert_eq!(
                lines(&problems),
                format!(
                    "{FILE}:2: alg 'ike_esp_nat' option '{option}': {what} (allowed \
                     {min}-{max}{unit})\n"
                )
            );
        }
    }
    for option in ["enabled", "fail_open", "esp_offload"] {
        for (value, on) in [("0", false), ("1", true)] {
            let text = format!("config alg 'ike_esp_nat'\n\toption {option} '{value}'\n");
            let config = AlgConfig::load(&text, FILE).unwrap();
            let got = match option {
                "enabled" => config.enabled,
                "fail_open" => config.queue.fail_open,
                _ => config.esp_offload,
            };
            assert_eq!(got, on, "{option} {value}");
        }
    }
}

#[test]
fn zones_the_firewall_lacks_are_reported_one_line_each() {
    let text = concat!(
        "config rule_set 'rs1'\n",
        "\toption from_zone 'lan'\n",
        "\toption to_zone 'red'\n",
        "config rule_set 'rs2'\n",
        "\toption from_zone 'green'\n",
        "\toption to_zone 'wan'\n",
    );
    let config = AlgConfig::load(text, FILE).unwrap();
    assert_eq!(
        lines(&config.check_zones(["lan", "wan", "guest"])),
        concat!(
            "/etc/config/ike-esp-alg:3: rule_set 'rs1' option 'to_zone': zone 'red' is not a \
             firewall zone (allowed 'lan', 'wan', 'guest')\n",
            "/etc/config/ike-esp-alg:5: rule_set 'rs2' option 'from_zone': zone 'green' is not \
             a firewall zone (allowed 'lan', 'wan', 'guest')\n",
        )
    );
    assert_eq!(
        lines(&config.check_zones([])),
        concat!(
            "/etc/config/ike-esp-alg:2: rule_set 'rs1' option 'from_zone': zone 'lan' is not a \
             firewall zone (the firewall has no zone)\n",
            "/etc/config/ike-esp-alg:3: rule_set 'rs1' option 'to_zone': zone 'red' is not a \
             firewall zone (the firewall has no zone)\n",
            "/etc/config/ike-esp-alg:5: rule_set 'rs2' option 'from_zone': zone 'green' is not \
             a firewall zone (the firewall has no zone)\n",
            "/etc/config/ike-esp-alg:6: rule_set 'rs2' option 'to_zone': zone 'wan' is not a \
             firewall zone (the firewall has no zone)\n",
        )
    );
    assert!(config.check_zones(["red", "green", "lan", "wan"]).is_empty());
}

#[test]
fn firewall_zones_skip_disabled_unnamed_and_repeated_zones() {
    let firewall = uci::parse(
        concat!(
            "config defaults\n",
            "config zone\n\toption name 'lan'\n",
            "config zone\n\toption name 'wan'\n",
            "config zone\n\toption name 'old'\n\toption enabled '0'\n",
            "config zone\n\toption network 'x'\n",
            "config zone 'named'\n\toption name 'lan'\n",
            "config rule\n\toption name 'Allow-ISAKMP'\n",
        ),
        "firewall",
    )
    .unwrap();
    assert_eq!(firewall_zone_names(&firewall), ["lan", "wan"]);
}

#[test]
fn the_guides_junos_blocks_import_into_configurations_that_validate() {
    let blocks = [
        "guide_1_nat_pool_and_rule_set",
        "guide_2_custom_application_and_policy",
        "guide_3_natt_and_address_persistence",
        "guide_4_alg_enable_and_timeouts",
        "guide_all_quick_configuration",
    ];
    for block in blocks {
        for form in ["", "_lines", "_procedure"] {
            let path = repo().join(format!("tests/golden/junos/{block}{form}.junos"));
            let Ok(text) = fs::read_to_string(&path) else {
                assert!(block == "guide_all_quick_configuration", "{} is missing", path.display());
                continue;
            };
            let imported = junos::import(&text);
            let config = AlgConfig::from_package(&imported.package, "imported")
                .unwrap_or_else(|p| panic!("{block}{form} refused:\n{}", lines(&p)));
            // The guide's zones are not OpenWrt's: that is for the zone check, not the model.
            let zones: Vec<String> = config.check_zones(["lan", "wan"]).iter().map(|p| p.to_string()).collect();
            let expected: &[&str] = if config.rule_sets.is_empty() {
                &[]
            } else {
                &[
                    "imported: rule_set 'rs1' option 'from_zone': zone 'green' is not a firewall \
                     zone (allowed 'lan', 'wan')",
                    "imported: rule_set 'rs1' option 'to_zone': zone 'red' is not a firewall zone \
                     (allowed 'lan', 'wan')",
                ]
            };
            assert_eq!(zones, expected, "{block}{form}");
            assert!(config.check_zones(["green", "red"]).is_empty());
        }
    }

    // The whole guide, as the typed configuration it gives.
    let path = repo().join("tests/golden/junos/guide_all_quick_configuration.junos");
    let imported = junos::import(&fs::read_to_string(path).unwrap());
    let config = AlgConfig::from_package(&imported.package, "imported").unwrap();
    let expected_path = golden_dir().join("guide_all_quick_configuration.dump");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(&expected_path, dump(&config)).unwrap();
    }
    assert_eq!(dump(&config), fs::read_to_string(expected_path).unwrap_or_default());
}

#[test]
fn a_package_built_in_code_is_reported_without_lines() {
    let imported = junos::import(
        "set security alg ike-esp-nat esp-gate-timeout 45\n\
         set security nat source rule-set rs1 rule r1 then source-nat pool nowhere",
    );
    let problems = AlgConfig::from_package(&imported.package, "imported").unwrap_err();
    assert_eq!(
        lines(&problems),
        concat!(
            "imported: alg 'ike_esp_nat' option 'esp_gate_timeout': 45 is out of range (allowed \
             2-30 seconds)\n",
            "imported: rule_set 'rs1' option 'from_zone': missing (allowed the name of a \
             firewall zone)\n",
            "imported: rule_set 'rs1' option 'to_zone': missing (allowed the name of a firewall \
             zone)\n",
            "imported: rule 'r1' option 'source_nat': pool 'nowhere' is not defined (allowed \
             'interface')\n",
        )
    );
}

#[test]
fn proxy_arp_and_rule_lookups() {
    let text = fs::read_to_string(golden_dir().join("every_knob.uci")).unwrap();
    let config = AlgConfig::load(&text, FILE).unwrap();
    let proxied: Vec<&str> = config.proxy_arp_pools().map(|p| p.name.as_str()).collect();
    assert_eq!(proxied, ["pool1"]);
    let names: Vec<&str> = config.engine.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["r1", "@rule[1]", "rest"]);
    let pools: Vec<Option<&str>> =
        config.engine.rules.iter().map(|r| config.pool_of(r).map(|p| p.name.as_str())).collect();
    assert_eq!(pools, [Some("pool1"), Some("pool2"), None]);
    assert_eq!(config.rule_set_of(&config.engine.rules[1]).unwrap().name, "guests");
}

fn golden_dir() -> PathBuf {
    repo().join("tests/golden/config")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// One problem per line, as `check` prints them.
fn lines(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("{p}\n")).collect()
}

/// The typed configuration, one knob per line: what the golden files compare.
fn dump(config: &AlgConfig) -> String {
    let e = &config.engine;
    let t = e.timeouts;
    let flag = |on: bool| if on { 1 } else { 0 };
    let mut out = String::new();
    writeln!(out, "enabled {}", flag(config.enabled)).unwrap();
    writeln!(out, "state_timeout {}", t.state.as_secs()).unwrap();
    writeln!(out, "esp_gate_timeout {}", t.esp_gate.as_secs()).unwrap();
    writeln!(out, "esp_session_timeout {}", t.esp_session.as_secs()).unwrap();
    writeln!(out, "ike_port {}", e.ports.ike).unwrap();
    writeln!(out, "natt_port {}", e.ports.natt).unwrap();
    writeln!(out, "binding_linger {}", t.binding_linger.as_secs()).unwrap();
    writeln!(out, "queue_num {}", config.queue.number).unwrap();
    writeln!(out, "fail_open {}", flag(config.queue.fail_open)).unwrap();
    writeln!(out, "esp_offload {}", flag(config.esp_offload)).unwrap();
    writeln!(out, "address_persistent {}", flag(e.address_persistent)).unwrap();
    assert_eq!(e.pools.len(), config.pools.len());
    for (pool, options) in e.pools.iter().zip(&config.pools) {
        assert_eq!(pool.name, options.name);
        let ranges: Vec<String> = pool.ranges.iter().map(|r| r.to_string()).collect();
        writeln!(
            out,
            "pool '{}': {} ({} addresses), proxy_arp {}",
            pool.name,
            ranges.join(", "),
            pool.size(),
            flag(options.proxy_arp)
        )
        .unwrap();
    }
    for rule_set in &config.rule_sets {
        writeln!(out, "rule_set '{}': from {} to {}", rule_set.name, rule_set.from_zone, rule_set.to_zone).unwrap();
    }
    let any_or = |nets: &[ike_esp_alg::engine::Ipv4Net]| {
        if nets.is_empty() {
            "any".to_owned()
        } else {
            nets.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
        }
    };
    for rule in &e.rules {
        let source_nat = match config.pool_of(rule) {
            Some(pool) => format!("pool '{}'", pool.name),
            None => "interface".to_owned(),
        };
        writeln!(
            out,
            "rule '{}' in rule_set '{}': source {}; destination {}; source_nat {}",
            rule.name,
            rule.rule_set,
            any_or(&rule.sources),
            any_or(&rule.destinations),
            source_nat
        )
        .unwrap();
    }
    out
}
