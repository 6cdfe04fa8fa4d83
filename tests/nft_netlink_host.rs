//! End-to-end test of `shell::nft_netlink` against this host's kernel: in a network namespace
//! of its own, the daemon's ruleset is applied with `nft`, the engine's actions are written
//! over netlink, and `nft list` shows what the kernel holds. Also: failures stay confined to
//! their action, deletes of expired elements are not failures, a refresh really restarts a
//! timeout, and a dump reads every element with its counter.
//!
//! Needs root, `ip` and `nft`; without them it prints why and passes. Everything lives in the
//! namespace, which is deleted at the end, also when an assertion fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use core::time::Duration;
use ike_esp_alg::engine::{Action, BindingSpec, Direction, EngineConfig, EspSessionSpec, IkeNatSpec, SessionKey};
use ike_esp_alg::shell::nft::{
    parse_listed_elements, render_ruleset, render_teardown, DatapathSettings, ListedElement, Nft, QueueBackend,
};
use ike_esp_alg::shell::nft_netlink::NftNetlink;
use ike_esp_alg::shell::table_names::SetName;
use ike_esp_alg::wire::Spi;
use std::net::Ipv4Addr;
use support::netns::{root_tools, Netns};

const C: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const S: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const N: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

#[test]
fn set_elements_over_netlink_in_a_namespace() {
    let Some(tools) = root_tools(&["ip", "nft"]) else { return };
    Netns::create(&tools[0], "nftnl-test").run_inside(exercise_elements);
}

fn session(direction: Direction, spi: u32, translated: Ipv4Addr, idle: u64) -> EspSessionSpec {
    let (src, dst) = match direction {
        Direction::Outbound => (C, S),
        Direction::Inbound => (S, N),
    };
    EspSessionSpec {
        key: SessionKey { direction, src, dst, spi: Spi(spi) },
        translated,
        idle_timeout: Duration::from_secs(idle),
    }
}

fn list(nft: &Nft, kind: &str, name: &str) -> Vec<ListedElement> {
    parse_listed_elements(&nft.list(kind, name).expect("nft list"))
}

fn expires_of(nft: &Nft, map: &str) -> Duration {
    list(nft, "map", map)[0].expires.expect("an expiry")
}

/// Runs inside the namespace (`nft` children inherit it).
fn exercise_elements() {
    let nft = Nft::default();
    let settings =
        DatapathSettings::from_config(&EngineConfig::default(), Some(N), 7, QueueBackend::XtablesMark(0x1000_0000));
    nft.apply(&render_ruleset(&settings)).expect("the daemon's ruleset applies");
    let mut elements = match NftNetlink::open() {
        Ok(socket) => socket,
        // qemu-user (the mips test runs) emulates only a few netlink families.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT)) => {
            println!("skipped: no NETLINK_NETFILTER here (qemu-user): {e}");
            return;
        }
        Err(e) => panic!("netlink socket: {e}"),
    };

    // Every kind of action lands where the ruleset reads it.
    let out = session(Direction::Outbound, 0x1234, N, 30);
    let inbound = session(Direction::Inbound, 0x5678, C, 30);
    let flow = IkeNatSpec { client: C, client_port: 500, server: S, server_port: 500, nat: N, nat_port: 501 };
    let binding = BindingSpec { client: C, nat: N };
    let installs = [
        Action::InstallBinding(binding),
        Action::InstallIkeNat(flow),
        Action::InstallEspSession(out),
        Action::InstallEspSession(inbound),
    ];
    assert_eq!(elements.apply_actions(&installs), vec![]);
    let esp_out = list(&nft, "map", "esp_out");
    assert_eq!(esp_out.len(), 1);
    assert_eq!(esp_out[0].key, ["192.168.1.10", "198.51.100.1", "4660"]);
    assert_eq!(esp_out[0].value, ["203.0.113.7"]);
    assert!(esp_out[0].expires.unwrap() <= Duration::from_secs(30));
    assert_eq!(list(&nft, "set", "esp_out_keys")[0].key, esp_out[0].key);
    let esp_in = list(&nft, "map", "esp_in");
    assert_eq!(
        (esp_in[0].key.clone(), esp_in[0].value.clone()),
        (vec!["198.51.100.1".into(), "203.0.113.7".into(), "22136".into()], vec!["192.168.1.10".to_string()])
    );
    assert!(
        list(&nft, "set", "esp_out_keys").iter().all(|e| e.key != esp_in[0].key),
        "inbound SAs are tested by their map alone"
    );
    let ike = list(&nft, "map", "ike_nat");
    assert_eq!(
        (ike[0].key.clone(), ike[0].value.clone()),
        (
            vec!["192.168.1.10".into(), "500".into(), "198.51.100.1".into(), "500".into()],
            vec!["203.0.113.7".to_string(), "501".to_string()]
        )
    );
    let bindings = list(&nft, "map", "bindings");
    assert_eq!(
        (bindings[0].key.clone(), bindings[0].value.clone()),
        (vec!["192.168.1.10".to_string()], vec!["203.0.113.7".to_string()])
    );
    assert_eq!(list(&nft, "set", "bound_clients")[0].key, ["192.168.1.10"]);

    // A refresh restarts the kernel's timeout (re-adding alone does not, see the module doc).
    std::thread::sleep(Duration::from_millis(2100));
    assert!(expires_of(&nft, "esp_out") < Duration::from_secs(28));
    assert_eq!(elements.apply_actions(&[Action::InstallEspSession(out)]), vec![]);
    assert!(expires_of(&nft, "esp_out") < Duration::from_secs(28), "a plain re-add leaves the timeout running");
    elements.refresh_sessions(&[out]).expect("refresh");
    assert!(expires_of(&nft, "esp_out") > Duration::from_secs(29), "refreshed: {:?}", expires_of(&nft, "esp_out"));
    // Refreshing a session the kernel no longer has adds it back.
    let gone = session(Direction::Outbound, 0x9999, N, 30);
    elements.refresh_sessions(&[gone]).expect("refresh of an expired session");
    assert_eq!(list(&nft, "map", "esp_out").len(), 2);

    // A clash fails on its own; the rest of the batch still applies.
    let clash = session(Direction::Outbound, 0x1234, Ipv4Addr::new(203, 0, 113, 8), 30);
    let other = session(Direction::Outbound, 0x4321, N, 30);
    let failed = elements.apply_actions(&[Action::InstallEspSession(clash), Action::InstallEspSession(other)]);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, Action::InstallEspSession(clash));
    assert_eq!(failed[0].1.errno, libc::EEXIST, "{}", failed[0].1);
    assert_eq!(list(&nft, "map", "esp_out").len(), 3);

    // Removing what is already gone is what a removal wants: no failure.
    let removals = [
        Action::RemoveEspSession(out),
        Action::RemoveEspSession(out),
        Action::RemoveEspSession(gone),
        Action::RemoveEspSession(other),
        Action::RemoveEspSession(inbound),
        Action::RemoveIkeNat(flow),
        Action::RemoveBinding(binding),
    ];
    assert_eq!(elements.apply_actions(&removals), vec![]);
    for (kind, name) in [
        ("map", "esp_out"),
        ("set", "esp_out_keys"),
        ("map", "esp_in"),
        ("map", "ike_nat"),
        ("map", "bindings"),
        ("set", "bound_clients"),
    ] {
        assert_eq!(list(&nft, kind, name), vec![], "{name} emptied");
    }

    // Thousands at once: several transactions and several messages per set.
    let many: Vec<Action> =
        (0..3000u32).map(|i| Action::InstallEspSession(session(Direction::Outbound, 0x10_0000 + i, N, 300))).collect();
    assert_eq!(elements.apply_actions(&many), vec![]);
    assert_eq!(list(&nft, "map", "esp_out").len(), 3000);
    assert_eq!(list(&nft, "set", "esp_out_keys").len(), 3000);

    // A dump reads every element with its value and counter, across many parts.
    let mut dumped = Vec::new();
    elements
        .dump_set(SetName::EspOut, |e| {
            dumped.push((
                e.esp_key().expect("an SA key"),
                e.value.map(<[u8]>::to_vec),
                e.expires.expect("expiry"),
                e.counter,
            ))
        })
        .expect("dump");
    assert_eq!(dumped.len(), 3000);
    let (key, value, expires, counter) =
        dumped.iter().find(|(k, ..)| k.2 == Spi(0x10_0000)).expect("the first element");
    assert_eq!((key.0, key.1), (C, S));
    assert_eq!(value.as_deref(), Some(N.octets().as_slice()));
    assert!(*expires <= Duration::from_secs(300) && *expires > Duration::from_secs(250), "{expires:?}");
    assert_eq!(*counter, Some((0, 0)), "the map counts each SA's packets");
    // The named counters come from one object dump.
    let mut counters = Vec::new();
    elements
        .dump_counters(|name, packets, bytes| counters.push((name.as_str().to_string(), packets, bytes)))
        .expect("counter dump");
    counters.sort();
    let names: Vec<&str> = counters.iter().map(|(n, ..)| n.as_str()).collect();
    assert_eq!(names, ["queued_esp_in", "queued_esp_out", "queued_ike", "queued_natt"]);
    assert!(counters.iter().all(|(_, p, b)| (*p, *b) == (0, 0)));
    // A set that does not exist (its table is gone) is an error naming it.
    nft.apply(&render_teardown()).expect("delete the table");
    let missing = elements.dump_set(SetName::EspOut, |_| {}).unwrap_err();
    assert_eq!(missing.errno, libc::ENOENT, "{missing}");
    assert!(missing.to_string().starts_with("set esp_out: "), "{missing}");
}
