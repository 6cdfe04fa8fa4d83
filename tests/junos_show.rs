//! Golden tests for the Junos-format `show security alg status`, `show security alg` and
//! `show security nat` (`cli::junos_show`), and the round trip guide → `import-junos` → show.
//!
//! Each case is one configuration; `tests/golden/show/NAME.expected` holds the three outputs,
//! each under a `---- show … ----` header. The cases: the shipped default
//! (`files/etc/config/ike-esp-alg`), the lab router's file (`lab/config/ike-esp-alg.uci`),
//! what the guide's four quick-configuration blocks import to
//! (`tests/golden/junos/guide_all_quick_configuration.junos`), and `every_knob.uci`. Run with
//! `UPDATE_GOLDEN=1` to rewrite the expected files, then review the diff.
//!
//! `guide_show_*.txt` are the guide's own "results" outputs, copied from the seed document as
//! it prints them (indentation lost, the status list run onto one line, and the first
//! `show security nat` missing its last `}`). They are compared line by line with
//! surrounding whitespace ignored.

// Tests may unwrap: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use ike_esp_alg::cli::junos_show::{render_alg_status, render_security_alg, render_security_nat};
use ike_esp_alg::config::junos;
use ike_esp_alg::config::model::AlgConfig;

const FILE: &str = "/etc/config/ike-esp-alg";

#[test]
fn golden_files() {
    let cases = [
        ("default", default_config()),
        ("lab", load(&root().join("lab/config/ike-esp-alg.uci"))),
        ("guide", guide_config()),
        ("every_knob", load(&golden_dir().join("every_knob.uci"))),
    ];
    support::compare_golden(&golden_dir(), cases.iter().map(|(name, config)| (name.to_string(), render_all(config))));
}

#[test]
fn guide_alg_block_comes_back_as_the_guide_prints_it() {
    let shown = render_security_alg(&guide_config());
    assert_eq!(trimmed_lines(&shown), trimmed_lines(&guide_text("guide_show_security_alg.txt")));
    // Junos indentation: four spaces per level.
    assert!(shown.contains("\n    state-timeout 360;\n"), "{shown}");
}

#[test]
fn guide_nat_blocks_come_back_as_the_guide_prints_them() {
    let shown = render_security_nat(&guide_config());
    let lines = trimmed_lines(&shown);
    // The third example adds `address-persistent;` directly under `source`.
    let persistent: Vec<String> = trimmed_lines(&guide_text("guide_show_security_nat_3.txt"));
    assert_eq!(persistent, ["source {", "address-persistent;", "}"]);
    assert!(shown.contains("\n    address-persistent;\n"), "{shown}");
    // Without it, the first example's output, which the guide's page cut before its last `}`.
    let without: Vec<String> = lines.iter().filter(|l| *l != "address-persistent;").cloned().collect();
    let first = trimmed_lines(&guide_text("guide_show_security_nat_1.txt"));
    assert_eq!(without.get(..first.len()), Some(first.as_slice()), "{shown}");
    assert_eq!(without.get(first.len()..), Some(&["}".to_owned()][..]), "{shown}");
}

#[test]
fn guide_status_line_comes_back_once_enabled() {
    let guide = guide_text("guide_show_security_alg_status.txt");
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words(&guide).starts_with("ALG Status : "));
    assert!(words(&guide).ends_with(" IKE-ESP : Enabled"));
    let shown = render_alg_status(&guide_config());
    assert_eq!(shown, "ALG Status :\n  IKE-ESP  : Enabled\n");
    assert_eq!(words(&shown), "ALG Status : IKE-ESP : Enabled");
    let default = render_alg_status(&default_config());
    assert_eq!(words(&default), "ALG Status : IKE-ESP : Disabled");
}

#[test]
fn each_guide_block_shows_its_own_statements() {
    // The fourth block alone: the ALG knobs, and nothing in `source` but the default persistence.
    let alg_only = import_block("guide_4_alg_enable_and_timeouts");
    assert_eq!(render_security_alg(&alg_only), render_security_alg(&guide_config()));
    assert_eq!(trimmed_lines(&render_security_nat(&alg_only)), ["source {", "address-persistent;", "}"]);
    // The first block alone: its pool and rule set, with the ALG still off.
    let nat_only = import_block("guide_1_nat_pool_and_rule_set");
    assert_eq!(render_alg_status(&nat_only), "ALG Status :\n  IKE-ESP  : Disabled\n");
    assert_eq!(render_security_nat(&nat_only), render_security_nat(&guide_config()));
}

fn render_all(config: &AlgConfig) -> String {
    format!(
        "---- show security alg status ----\n{}---- show security alg ----\n{}---- show security nat ----\n{}",
        render_alg_status(config),
        render_security_alg(config),
        render_security_nat(config)
    )
}

fn trimmed_lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn default_config() -> AlgConfig {
    load(&root().join("files/etc/config/ike-esp-alg"))
}

fn guide_config() -> AlgConfig {
    import_block("guide_all_quick_configuration")
}

fn import_block(name: &str) -> AlgConfig {
    let path = root().join("tests/golden/junos").join(format!("{name}.junos"));
    let import = junos::import(&fs::read_to_string(path).unwrap());
    AlgConfig::from_package(&import.package, FILE).unwrap()
}

fn load(path: &Path) -> AlgConfig {
    AlgConfig::load(&fs::read_to_string(path).unwrap(), FILE).unwrap()
}

fn guide_text(name: &str) -> String {
    fs::read_to_string(golden_dir().join(name)).unwrap()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn golden_dir() -> PathBuf {
    root().join("tests/golden/show")
}
