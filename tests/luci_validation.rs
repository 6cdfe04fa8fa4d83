//! What `ike-esp-alg check` says about each value the LuCI settings view validates, as a
//! golden file (`tests/golden/luci/validation.expected`): option, value, and the message
//! `check` gives for it (`null` when the value is accepted). The messages come from the
//! real configuration code, each value in an otherwise valid file; `tests/luci/` runs the
//! view's validators on the same values and expects the same messages, so LuCI and
//! `check` cannot drift apart. A row with `"with"` sets other options of the same section
//! too (IKE and NAT-T may not share a port). `UPDATE_GOLDEN=1` rewrites the file.
#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use ike_esp_alg::config::model::AlgConfig;
use std::path::PathBuf;

/// (section type, option, values): edges of every range, and typical mistakes.
const CASES: &[(&str, &str, &[&str])] = &[
    ("alg", "enabled", &["0", "1", "yes", "2"]),
    ("alg", "state_timeout", &["179", "180", "14400", "86400", "86401", "abc", "-5", "1.5"]),
    ("alg", "esp_gate_timeout", &["1", "2", "5", "30", "31", "", "007", "031"]),
    ("alg", "esp_session_timeout", &["59", "60", "1800", "2400", "2401"]),
    ("alg", "ike_port", &["0", "1", "500", "65535", "65536", "x"]),
    ("alg", "natt_port", &["0", "4500", "65535", "65536"]),
    ("alg", "binding_linger", &["0", "300", "86400", "86401"]),
    ("alg", "queue_num", &["0", "500", "65535", "65536", "-1", "99999999999999999999999"]),
    ("alg", "fail_open", &["0", "1", "maybe"]),
    ("alg", "esp_offload", &["0", "1", "2"]),
    ("nat", "address_persistent", &["0", "1", "true"]),
    (
        "pool",
        "address",
        &[
            "203.0.113.10",
            "203.0.113.10-203.0.113.19",
            "198.51.100.0/28",
            "203.0.113.5/30",
            "203.0.113.19-203.0.113.10",
            "203.0.113.300",
            "198.51.100.0/33",
            "198.51.100.0/+8",
            "198.51.100.1 - 198.51.100.9",
            "203.0.113.010",
            "pool",
            "127.0.0.1",
            "0.1.2.3",
            "224.0.0.0/4",
            "0.0.0.0/0",
            "223.255.255.255",
            "223.255.255.0-224.0.0.1",
            "1.2.3.4\\",
        ],
    ),
    ("pool", "proxy_arp", &["0", "1", "on"]),
    (
        "rule",
        "source_address",
        &[
            "192.168.1.0/24",
            "192.168.1.10",
            "192.168.1.77/24",
            "10.0.0.0/08",
            "192.168.1.0/33",
            "192.168.1.x",
            "192.168.1.0/",
        ],
    ),
    ("rule", "destination_address", &["0.0.0.0/0", "198.51.100.1", "10.0.0.0/8/8"]),
];

/// Other alg options set in the same file: (option, value).
type With = &'static [(&'static str, &'static str)];

/// (option, value, the other alg options set with it): IKE and NAT-T on one port, which
/// `check` blames on natt_port when it is written and on ike_port otherwise.
const PORT_PAIRS: &[(&str, &str, With)] = &[
    ("ike_port", "4500", &[]),
    ("ike_port", "04500", &[]),
    ("ike_port", "4500", &[("natt_port", "4501")]),
    ("ike_port", "600", &[("natt_port", "600")]),
    ("natt_port", "600", &[("ike_port", "600")]),
    ("natt_port", "500", &[]),
    ("natt_port", "0500", &[]),
    ("natt_port", "500", &[("ike_port", "501")]),
    ("natt_port", "4500", &[("ike_port", "4500")]),
    ("natt_port", "4500", &[("ike_port", "70000")]),
    ("ike_port", "4500", &[("natt_port", "x")]),
];

/// A valid file with `option` of a `section_type` section set to `value`, and the alg
/// options in `with` set as given.
fn config_with(section_type: &str, option: &str, value: &str, with: &[(&str, &str)]) -> String {
    // The option under test, in its section; nothing else but what `with` sets.
    let item = |kind: &str, name: &str| {
        if option == name && section_type == kind {
            format!("\toption {name} '{value}'\n")
        } else {
            String::new()
        }
    };
    let list = |kind: &str, name: &str, default: &str| {
        let v = if option == name && section_type == kind { value } else { default };
        format!("\tlist {name} '{v}'\n")
    };
    let mut alg = String::from("config alg 'ike_esp_nat'\n");
    if !(section_type == "alg" && option == "enabled") {
        alg.push_str("\toption enabled '1'\n");
    }
    alg.push_str(&item("alg", option));
    for (name, v) in with {
        alg.push_str(&format!("\toption {name} '{v}'\n"));
    }
    let nat = format!("config nat 'source'\n{}", item("nat", "address_persistent"));
    let pool = format!("config pool 'pool1'\n{}{}", list("pool", "address", "203.0.113.20"), item("pool", "proxy_arp"));
    let rule_set = "config rule_set 'lan_wan'\n\toption from_zone 'lan'\n\toption to_zone 'wan'\n";
    let rule = format!(
        "config rule 'default'\n\toption rule_set 'lan_wan'\n{}{}\toption source_nat 'pool1'\n",
        list("rule", "source_address", "192.168.1.0/24"),
        list("rule", "destination_address", "0.0.0.0/0")
    );
    format!("{alg}{nat}{pool}{rule_set}{rule}")
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The message `check` gives about `option` (`null` when none), as JSON. Problems with
/// the options in `with` are allowed (the test is about `option`); any other is not.
fn message_about(section_type: &str, option: &str, value: &str, with: &[(&str, &str)]) -> String {
    let text = config_with(section_type, option, value, with);
    let Err(problems) = AlgConfig::load(&text, "/etc/config/ike-esp-alg") else {
        return "null".to_string();
    };
    let ours: Vec<String> =
        problems.iter().filter(|p| p.option.as_deref() == Some(option)).map(|p| p.kind.to_string()).collect();
    let others = problems.iter().filter(|p| !with.iter().any(|(n, _)| p.option.as_deref() == Some(*n))).count();
    assert!(ours.len() <= 1, "{section_type}.{option}={value:?}: {problems:?}\n{text}");
    assert_eq!(others, ours.len(), "{section_type}.{option}={value:?}: other problems too: {problems:?}");
    if with.is_empty() {
        assert_eq!(ours.len(), 1, "{section_type}.{option}={value:?}: {problems:?}\n{text}");
    }
    ours.first().map_or_else(|| "null".to_string(), |m| json_string(m))
}

#[test]
fn check_messages_for_every_value_the_settings_view_validates() {
    let mut rows = Vec::new();
    for (section_type, option, values) in CASES {
        for value in *values {
            let message = message_about(section_type, option, value, &[]);
            rows.push(format!(
                "  {{\"section\": {}, \"option\": {}, \"value\": {}, \"message\": {message}}}",
                json_string(section_type),
                json_string(option),
                json_string(value)
            ));
        }
    }
    for (option, value, with) in PORT_PAIRS {
        let message = message_about("alg", option, value, with);
        let with_json: Vec<String> =
            with.iter().map(|(n, v)| format!("{}: {}", json_string(n), json_string(v))).collect();
        rows.push(format!(
            "  {{\"section\": \"alg\", \"option\": {}, \"value\": {}, \"with\": {{{}}}, \"message\": {message}}}",
            json_string(option),
            json_string(value),
            with_json.join(", ")
        ));
    }
    let golden = format!("[\n{}\n]\n", rows.join(",\n"));
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/luci");
    support::compare_golden(&dir, [("validation".to_string(), golden)]);
}

/// The sections and options `check` knows, one `section option` line each in the order of
/// the declaration table (`tests/golden/luci/options.expected`): the LuCI settings view's
/// test holds its form to this list.
#[test]
fn the_options_the_settings_view_must_offer() {
    use ike_esp_alg::config::model::options::{SectionKind, OPTIONS};
    let mut golden = String::new();
    for kind in SectionKind::ALL {
        for option in OPTIONS.iter().filter(|o| o.section == kind) {
            golden.push_str(&format!("{} {}\n", kind.section_type(), option.name));
        }
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/luci");
    support::compare_golden(&dir, [("options".to_string(), golden)]);
}
