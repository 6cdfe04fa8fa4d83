//! Golden tests for the UCI reader and writer (`config::uci`).
//!
//! Each `tests/golden/uci/NAME.uci` is parsed as if it were `/etc/config/ike-esp-alg`.
//! `NAME.expected` holds either the exact one-line error (for `err_*` inputs) or a dump of the
//! parsed data, the warnings if there are any, and what `uci::write` makes of it. Valid inputs are also written and
//! parsed again, which must give the same data. Run with `UPDATE_GOLDEN=1` to rewrite the
//! expected files, then review the diff.

// Tests may unwrap: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ike_esp_alg::config::uci::{self, ErrorKind, Package, Value};

const FILE: &str = "/etc/config/ike-esp-alg";

#[test]
fn golden_files() {
    support::check_golden(&golden_dir(), "uci", 30, |name, input| {
        match (uci::parse(input, FILE), name.starts_with("err_")) {
            (Err(error), true) => format!("{error}\n"),
            (Ok(package), false) => {
                let written = uci::write(&package);
                let reparsed = uci::parse(&written, "written").unwrap();
                assert_eq!(data(&reparsed), data(&package), "{name}: write then parse changed the data");
                format!("{}{}---- write ----\n{written}", dump(&package), warnings(&package))
            }
            (Ok(package), true) => format!("expected an error, parsed:\n{}", dump(&package)),
            (Err(error), false) => format!("unexpected error: {error}\n"),
        }
    });
}

#[test]
fn the_error_from_the_brief_reads_as_one_line() {
    let text = "package ike-esp-alg\n".to_owned() + &"\n".repeat(10) + "config \n";
    let error = uci::parse(&text, FILE).unwrap_err();
    assert_eq!(error.to_string(), "/etc/config/ike-esp-alg:12:8: expected section type after 'config'");
    assert_eq!((error.line, error.column), (12, 8));
    assert_eq!(error.kind, ErrorKind::MissingArgument { command: "config", what: "section type" });
}

#[test]
fn lookups_by_reference() {
    let text = "config pool\n\tlist address '10.0.0.1'\nconfig pool 'p2'\n\toption address '10.0.0.2'\n";
    let package = uci::parse(text, FILE).unwrap();
    assert_eq!(package.get_list("@pool[0]", "address"), Some(&["10.0.0.1".to_owned()][..]));
    assert_eq!(package.get("@pool[0]", "address"), None, "a list is not a single value");
    assert_eq!(package.get("@pool[-1]", "address"), Some("10.0.0.2"));
    assert_eq!(package.get("p2", "address"), Some("10.0.0.2"));
    assert_eq!(package.get_list("p2", "address"), Some(&["10.0.0.2".to_owned()][..]));
    assert_eq!(package.sections_of_type("pool").count(), 2);
    let second = package.section_by_ref("@pool[1]").unwrap();
    assert_eq!((second.line(), second.option_line("address")), (Some(3), Some(4)));
}

#[test]
fn building_in_code_then_writing() {
    let mut package = Package::with_name("ike-esp-alg").unwrap();
    let alg = package.named_section_mut("alg", "ike_esp_nat").unwrap();
    alg.set_option("enabled", "1").unwrap();
    let pool = package.named_section_mut("pool", "pool1").unwrap();
    pool.add_list("address", "10.10.10.1-10.10.10.10").unwrap();
    pool.add_list("address", "it's").unwrap();
    package.add_anonymous_section("rule").unwrap().set_option("source_nat", "interface").unwrap();
    let expected = concat!(
        "package ike-esp-alg\n",
        "\n",
        "config alg 'ike_esp_nat'\n",
        "\toption enabled '1'\n",
        "\n",
        "config pool 'pool1'\n",
        "\tlist address '10.10.10.1-10.10.10.10'\n",
        "\tlist address 'it'\\''s'\n",
        "\n",
        "config rule\n",
        "\toption source_nat 'interface'\n",
        "\n",
    );
    assert_eq!(uci::write(&package), expected);
    assert_eq!(package.section("pool1").unwrap().line(), None, "built in code: no line");
    assert!(Package::with_name("ike esp").is_err());
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/uci")
}

/// A package's data without line numbers: package name, then (type, name, options) per section.
type Data = (Option<String>, Vec<(String, Option<String>, Vec<(String, Value)>)>);

/// The data of a package, for comparing a re-parse with the original.
fn data(package: &Package) -> Data {
    let sections = package
        .sections()
        .iter()
        .map(|s| {
            let options = s.options().map(|(k, v)| (k.to_owned(), v.clone())).collect();
            (s.section_type().to_owned(), s.name().map(str::to_owned), options)
        })
        .collect();
    (package.name().map(str::to_owned), sections)
}

/// The parser's warnings, one line each under a heading; nothing if there are none.
fn warnings(package: &Package) -> String {
    if package.warnings().is_empty() {
        return String::new();
    }
    let lines: String = package.warnings().iter().map(|w| format!("{w}\n")).collect();
    format!("---- warnings ----\n{lines}")
}

/// One line per section and per value, strings in Rust debug form so that quotes, tabs, CR
/// and LF are visible; each section is shown with its `@type[n]` reference.
fn dump(package: &Package) -> String {
    let mut out = String::new();
    match package.name() {
        Some(name) => writeln!(out, "package {name}").unwrap(),
        None => writeln!(out, "package (none)").unwrap(),
    }
    for section in package.sections() {
        let section_type = section.section_type();
        let index = package.sections_of_type(section_type).position(|s| std::ptr::eq(s, section)).unwrap();
        let reference = format!("@{section_type}[{index}]");
        assert!(std::ptr::eq(package.section_by_ref(&reference).unwrap(), section));
        let name = section.name().map_or("(anonymous)".to_owned(), |n| format!("{n:?}"));
        let line = section.line().unwrap();
        writeln!(out, "{reference} type {section_type:?} name {name} (line {line})").unwrap();
        for (option, value) in section.options() {
            match value {
                Value::Option(v) => {
                    let line = section.option_line(option).unwrap();
                    writeln!(out, "  option {option} = {v:?} (line {line})").unwrap();
                }
                Value::List(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let line = section.item_line(option, i).unwrap();
                        writeln!(out, "  list {option}[{i}] = {item:?} (line {line})").unwrap();
                    }
                }
            }
        }
    }
    out
}
