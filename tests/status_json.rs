//! The versioned status JSON that `ike-esp-alg show PART --json` prints, the rpcd plugin
//! passes to ubus and the LuCI app reads: golden files of every part, rendered by the real
//! renderer from an engine driven through a scenario in virtual time (two clients behind
//! one NAT address, one with learned sessions, one with its gates open), and of an empty
//! engine. `tests/luci/` reads the same files. `UPDATE_GOLDEN=1` rewrites them.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

mod support;

use ike_esp_alg::bpf::Execution;
use ike_esp_alg::cli::status::{render_json, FastPathReport, Part, ShellStatus};
use ike_esp_alg::engine::{EngineConfig, Verdict};
use std::path::PathBuf;
use support::lab::{client, pool_config, Ike, Lab, SERVER};

/// The shell's counters as the daemon names them (`Daemon::shell_counters`), with values.
fn shell_counters() -> ShellStatus {
    let counters = [
        ("packets_held", 3),
        ("held_released", 2),
        ("held_expired", 1),
        ("verdict_accept", 14),
        ("verdict_drop", 1),
        ("verdict_rewritten", 6),
        ("queue_overflow", 0),
        ("nft_failures", 0),
        ("sessions_refreshed", 4),
        ("reloads", 1),
        ("reload_failures", 0),
        ("table_reinstalls", 0),
        ("egress_conntrack_removed", 2),
        ("queue_packets", 21),
        ("queue_overruns", 0),
        ("queue_lost", 0),
        ("queue_verdict_errors", 0),
        ("kernel_queued_esp_in_packets", 2),
        ("kernel_queued_esp_out_packets", 2),
        ("kernel_queued_ike_packets", 15),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    let fast_path = FastPathReport {
        active: "ebpf",
        esp_offload: true,
        fallback: None,
        devices: vec!["br-lan".to_string(), "wan".to_string()],
        offloaded_sas: 2,
        execution: Some(Execution::Jit { machine_code_bytes: 924, bpf_bytes: 1632 }),
    };
    ShellStatus { counters, fast_path }
}

const PARTS: [(&str, Part); 6] = [
    ("all", Part::All),
    ("counters", Part::Counters),
    ("state", Part::State),
    ("gates", Part::Gates),
    ("sessions", Part::Sessions),
    ("bindings", Part::Bindings),
];

/// Client 1 negotiates and learns both SPIs; an unsolicited ESP packet arrives from the
/// server; client 2 negotiates and waits for its first ESP packets, gates open.
fn busy_lab() -> Lab {
    let mut lab = Lab::new(pool_config("203.0.113.20", "203.0.113.20"));
    let first = Ike::v1(client(1), SERVER);
    let second = Ike::v1(client(2), SERVER);
    first.establish(&mut lab);
    second.establish(&mut lab);
    lab.advance_secs(2);
    lab.send(&first.qm_out(1));
    let reply = first.qm_in(&lab, 1);
    lab.send(&reply);
    lab.send(&first.qm_out(1));
    let (nat, _) = lab.ike_nat(first.client, SERVER);
    for _ in 0..3 {
        assert!(matches!(lab.send(&first.esp_out(0xa000_0001)), Verdict::AcceptTranslated(_)));
    }
    assert!(matches!(lab.send(&first.esp_in(nat, 0xa000_0002)), Verdict::AcceptTranslated(_)));
    lab.advance_secs(30);
    assert_eq!(
        lab.send(&second.esp_in(nat, 0x0bad_f00d)),
        Verdict::Drop(ike_esp_alg::engine::DropReason::InboundEspWithoutGate)
    );
    lab.send(&second.qm_out(2));
    let reply = second.qm_in(&lab, 2);
    lab.send(&reply);
    lab.advance_millis(1500);
    lab
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/status")
}

#[test]
fn every_part_of_a_busy_engine_matches_its_golden_file() {
    let lab = busy_lab();
    let shell = shell_counters();
    let cases = PARTS.iter().map(|(name, part)| (name.to_string(), render_json(&lab.engine, lab.now, *part, &shell)));
    support::compare_golden(&golden_dir(), cases);
}

#[test]
fn an_empty_engine_matches_its_golden_file() {
    let lab = Lab::new(EngineConfig::default());
    let empty = render_json(
        &lab.engine,
        lab.now,
        Part::All,
        &ShellStatus { fast_path: FastPathReport::nft(), ..ShellStatus::default() },
    );
    support::compare_golden(&golden_dir(), [("empty".to_string(), empty)]);
}

#[test]
fn the_busy_status_holds_what_the_scenario_did() {
    let lab = busy_lab();
    let all = render_json(&lab.engine, lab.now, Part::All, &shell_counters());
    // Two sessions of client 1, both ways, and client 2's open gates.
    assert_eq!(all.matches("\"origin\":\"gate\"").count(), 2, "{all}");
    assert!(all.contains("\"spi\":\"0xa0000001\"") && all.contains("\"spi\":\"0xa0000002\""), "{all}");
    assert!(all.contains("\"state\":\"open\""), "{all}");
    assert!(all.contains("\"inbound_esp_dropped_no_gate\":1"), "{all}");
}

/// Every part opens with the schema version and holds only its own keys: a reader can rely
/// on `version` and on the absence (not null) of what it did not ask for.
#[test]
fn every_part_starts_with_its_version_and_holds_only_its_keys() {
    let lab = busy_lab();
    let shell = shell_counters();
    let keys_of = |part| match part {
        Part::All => &["counters", "datapath", "fast_path", "tables", "ike_sas", "gates", "sessions", "bindings"][..],
        Part::Counters => &["counters", "datapath", "fast_path", "tables"][..],
        Part::State => &["ike_sas"][..],
        Part::Gates => &["gates"][..],
        Part::Sessions => &["sessions"][..],
        Part::Bindings => &["bindings"][..],
    };
    for (name, part) in PARTS {
        let json = render_json(&lab.engine, lab.now, part, &shell);
        assert!(json.starts_with("{\"version\":1,"), "{name}: {json}");
        assert!(json.ends_with("}\n") && json.lines().count() == 1, "{name}: one line");
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut keys: Vec<&str> = doc.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = vec!["version"];
        want.extend(keys_of(part));
        want.sort_unstable();
        assert_eq!(keys, want, "{name}");
    }
}
