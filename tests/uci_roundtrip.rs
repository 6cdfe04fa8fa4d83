//! Property test: what `uci::write` emits, `uci::parse` reads back as the same data.
//!
//! Packages are built through the public building methods from arbitrary names, types and
//! values within libuci's validation rules, values full of quotes, backslashes, line breaks,
//! `;` and `#`. The building methods follow the parser's merge rules, so repeated names, option
//! overrides and option-to-list conversions are exercised too.

// Tests may unwrap: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

use ike_esp_alg::config::uci::{self, Package, Value};
use proptest::prelude::*;

/// What the generator asks the builder to do, in order.
#[derive(Debug, Clone)]
enum Step {
    Named { section_type: String, name: String },
    Anonymous { section_type: String },
    SetOption { name: String, value: String },
    AddList { name: String, value: String },
}

fn section_type() -> impl Strategy<Value = String> {
    // Printable ASCII 33-126, syntax characters included; a few fixed names make merges likely.
    prop_oneof![
        3 => prop::sample::select(vec!["pool", "rule", "alg"]).prop_map(str::to_owned),
        1 => "[!-~]{1,8}",
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "pool1", "_"]).prop_map(str::to_owned),
        1 => "[A-Za-z0-9_]{1,8}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    // Anything libuci allows in a value: no control characters but tab, CR and LF.
    prop_oneof![
        3 => "[ -~\t\r\n]{0,12}",
        2 => "['\"\\\\;# \n]{0,6}",
        1 => "[a-zé€\u{1F600}'\\\\]{0,6}",
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (section_type(), name())
            .prop_map(|(section_type, name)| Step::Named { section_type, name }),
        1 => section_type().prop_map(|section_type| Step::Anonymous { section_type }),
        4 => (name(), value()).prop_map(|(name, value)| Step::SetOption { name, value }),
        3 => (name(), value()).prop_map(|(name, value)| Step::AddList { name, value }),
    ]
}

/// Applies the steps; options go to the section opened last. Steps the builder refuses (a
/// name reused with another type) are skipped, as a parse error would stop the file there.
fn build(package_name: Option<&str>, steps: &[Step]) -> Package {
    let mut package = match package_name {
        Some(name) => Package::with_name(name).unwrap(),
        None => Package::default(),
    };
    // How to find the current section again: its name, or `@[-1]` for a new anonymous one.
    let mut current: Option<String> = None;
    for step in steps {
        match step {
            Step::Named { section_type, name } => {
                if package.named_section_mut(section_type, name).is_ok() {
                    current = Some(name.clone());
                }
            }
            Step::Anonymous { section_type } => {
                package.add_anonymous_section(section_type).unwrap();
                current = Some("@[-1]".to_owned());
            }
            Step::SetOption { name, value } => {
                if let Some(section) = current.as_deref().and_then(|r| package.section_by_ref_mut(r)) {
                    section.set_option(name, value).unwrap();
                }
            }
            Step::AddList { name, value } => {
                if let Some(section) = current.as_deref().and_then(|r| package.section_by_ref_mut(r)) {
                    section.add_list(name, value).unwrap();
                }
            }
        }
    }
    package
}

type Data = (Option<String>, Vec<(String, Option<String>, Vec<(String, Value)>)>);

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn write_then_parse_gives_the_same_data(
        package_name in prop::option::of("[A-Za-z0-9_-]{1,10}"),
        steps in prop::collection::vec(step(), 0..40),
    ) {
        let package = build(package_name.as_deref(), &steps);
        let text = uci::write(&package);
        let parsed = uci::parse(&text, "written");
        prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed, text);
        let parsed = parsed.unwrap();
        prop_assert_eq!(data(&parsed), data(&package), "text:\n{}", text);
        // Writing is a fixed point: the parsed package writes the same text.
        prop_assert_eq!(uci::write(&parsed), text);
    }
}
