//! Scenario tests in virtual time: one per behaviour of SPEC §3, named after it.
//!
//! Addresses: clients 192.168.1.10+, servers 198.51.100.1-2, WAN 203.0.113.7.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod support;

use ike_esp_alg::engine::{
    Action, ClearScope, Direction, DropReason, EngineConfig, Event, GateState, SessionOrigin, Table, Translation,
    Verdict,
};
use ike_esp_alg::time::Instant;
use ike_esp_alg::wire::build;
use ike_esp_alg::wire::{ExchangeType, IkeFlags, Spi};
use std::net::Ipv4Addr;
use std::time::Duration;
use support::lab::{client, pool_config, Ike, Lab, SERVER, SERVER2, WAN};

fn out_translated(nat: Ipv4Addr) -> Verdict {
    Verdict::AcceptTranslated(Translation::Source(nat))
}

fn in_translated(client: Ipv4Addr) -> Verdict {
    Verdict::AcceptTranslated(Translation::Destination(client))
}

/// Runs one complete IKEv1 Quick Mode for `ike` and learns both SPIs.
fn quick_mode(lab: &mut Lab, ike: &Ike, message_id: u32, spi_out: u32, spi_in: u32) {
    assert_eq!(lab.send(&ike.qm_out(message_id)), Verdict::Accept, "QM1 of {}", ike.client);
    let qm2 = ike.qm_in(lab, message_id);
    assert_eq!(lab.send(&qm2), Verdict::Accept, "QM2 of {}", ike.client);
    assert_eq!(lab.send(&ike.qm_out(message_id)), Verdict::Accept, "QM3 of {}", ike.client);
    let (nat, _) = lab.ike_nat(ike.client, ike.server);
    assert_eq!(lab.send(&ike.esp_out(spi_out)), out_translated(nat));
    assert_eq!(lab.send(&ike.esp_in(nat, spi_in)), in_translated(ike.client));
}

#[test]
fn two_clients_sharing_one_nat_address_are_serialised_and_both_get_sessions_both_ways() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    let b = Ike::v1(client(2), SERVER);
    a.establish(&mut lab);
    b.establish(&mut lab);

    assert_eq!(lab.send(&a.qm_out(0xa1)), Verdict::Accept);
    // Rule 1: b shares WAN with a, so the inbound gate (SERVER, WAN) is a's.
    assert_eq!(lab.send(&b.qm_out(0xb1)), Verdict::Drop(DropReason::Phase2GateBusy));
    let qm2 = a.qm_in(&lab, 0xa1);
    assert_eq!(lab.send(&qm2), Verdict::Accept);
    assert_eq!(lab.send(&a.esp_out(0xa000_0001)), out_translated(WAN));
    assert_eq!(lab.send(&a.esp_in(WAN, 0xa000_0002)), in_translated(a.client));
    assert!(lab.engine.gate_status(lab.now).is_empty(), "both gates hit: collapsed");

    // b's retransmission now gets through and its SAs are learned too.
    lab.advance_secs(1);
    quick_mode(&mut lab, &b, 0xb1, 0xb000_0001, 0xb000_0002);

    // From now on inbound ESP goes to whichever client negotiated its SPI.
    assert_eq!(lab.send(&a.esp_in(WAN, 0xa000_0002)), in_translated(a.client));
    assert_eq!(lab.send(&b.esp_in(WAN, 0xb000_0002)), in_translated(b.client));
    let sessions = lab.engine.session_status(lab.now);
    let summary: Vec<(Ipv4Addr, Direction, u32)> = sessions.iter().map(|s| (s.client, s.direction, s.spi.0)).collect();
    assert_eq!(
        summary,
        vec![
            (a.client, Direction::Outbound, 0xa000_0001),
            (a.client, Direction::Inbound, 0xa000_0002),
            (b.client, Direction::Outbound, 0xb000_0001),
            (b.client, Direction::Inbound, 0xb000_0002),
        ]
    );
    assert!(sessions.iter().all(|s| s.nat == WAN && s.server == SERVER && s.origin == SessionOrigin::Gate));
    let c = lab.engine.counters();
    assert_eq!((c.phase2_allowed, c.phase2_dropped_gate_busy, c.gates_collapsed), (2, 1, 4));
}

#[test]
fn five_clients_sharing_one_nat_address_take_turns_in_arrival_order() {
    let mut lab = Lab::default_config();
    let peers: Vec<Ike> = (1..=5).map(|n| Ike::v1(client(n), SERVER)).collect();
    for p in &peers {
        p.establish(&mut lab);
    }
    // All five start phase 2 at once; only the first gets gates, the rest queue up.
    for (i, p) in peers.iter().enumerate() {
        let expected = if i == 0 { Verdict::Accept } else { Verdict::Drop(DropReason::Phase2GateBusy) };
        assert_eq!(lab.send(&p.qm_out(0x100 + i as u32)), expected);
    }
    for (i, p) in peers.iter().enumerate() {
        let id = 0x100 + i as u32;
        if i > 0 {
            // Someone later in the queue retransmits first: the slot is kept for the next in line.
            if let Some(later) = peers.get(i + 1) {
                assert_eq!(
                    lab.send(&later.qm_out(0x100 + i as u32 + 1)),
                    Verdict::Drop(DropReason::Phase2GateReserved)
                );
            }
            assert_eq!(lab.send(&p.qm_out(id)), Verdict::Accept, "client {} retransmits", p.client);
        }
        let qm2 = p.qm_in(&lab, id);
        assert_eq!(lab.send(&qm2), Verdict::Accept);
        assert_eq!(lab.send(&p.esp_out(0x1000 + i as u32)), out_translated(WAN));
        assert_eq!(lab.send(&p.esp_in(WAN, 0x2000 + i as u32)), in_translated(p.client));
        lab.advance_millis(700);
    }
    for (i, p) in peers.iter().enumerate() {
        assert_eq!(lab.send(&p.esp_in(WAN, 0x2000 + i as u32)), in_translated(p.client));
        assert_eq!(lab.send(&p.esp_out(0x1000 + i as u32)), out_translated(WAN));
    }
    assert_eq!(lab.engine.session_status(lab.now).len(), 10);
    assert_eq!(lab.engine.counters().phase2_allowed, 5);
    assert_eq!(lab.engine.counters().gates_expired, 0);
}

#[test]
fn second_clients_phase2_passes_once_the_first_clients_gates_expire() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    let b = Ike::v1(client(2), SERVER);
    a.establish(&mut lab);
    b.establish(&mut lab);
    assert_eq!(lab.send(&a.qm_out(1)), Verdict::Accept);
    lab.advance_secs(2);
    assert_eq!(lab.send(&b.qm_out(2)), Verdict::Drop(DropReason::Phase2GateBusy));
    lab.advance_secs(3); // t = 5 s: a's gates expire unhit.
    assert_eq!(lab.engine.counters().gates_expired, 2);
    assert_eq!(lab.send(&b.qm_out(2)), Verdict::Accept);
    assert_eq!(lab.engine.inbound_gate_holder(SERVER, WAN).map(|p| p.client), Some(b.client));
}

#[test]
fn gates_expire_exactly_esp_gate_timeout_after_the_exchanges_last_message() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    a.establish(&mut lab);
    assert_eq!(lab.send(&a.qm_out(7)), Verdict::Accept);
    lab.advance_millis(3_000);
    let qm2 = a.qm_in(&lab, 7);
    assert_eq!(lab.send(&qm2), Verdict::Accept); // re-arms: deadline is now t = 8 s
    lab.advance_millis(4_999);
    let gates = lab.engine.gate_status(lab.now);
    assert_eq!(gates.len(), 2);
    assert!(gates.iter().all(|g| g.state == GateState::Open && g.expires_in == Duration::from_millis(1)));
    lab.advance_millis(1);
    assert!(lab.engine.gate_status(lab.now).is_empty());
    assert_eq!(lab.engine.counters().gates_expired, 2);
    assert_eq!(lab.now, Instant::from_secs(8));
    // An unhit gate lets nothing in after expiry.
    assert_eq!(lab.send(&a.esp_in(WAN, 0x77)), Verdict::Drop(DropReason::InboundEspWithoutGate));
}

#[test]
fn one_gate_hit_and_the_other_expired_ends_the_exchange_with_one_session() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    a.establish(&mut lab);
    assert_eq!(lab.send(&a.qm_out(7)), Verdict::Accept);
    assert_eq!(lab.send(&a.esp_out(0x51)), out_translated(WAN));
    lab.advance_secs(5);
    assert_eq!(lab.engine.counters().gates_hit, 1);
    assert_eq!(lab.engine.counters().gates_expired, 1);
    assert!(lab.engine.gate_status(lab.now).is_empty());
    assert_eq!(lab.engine.session_status(lab.now).len(), 1);
}

#[test]
fn esp_sessions_expire_after_esp_session_timeout_of_idleness_measured_by_the_kernel() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    a.establish(&mut lab);
    quick_mode(&mut lab, &a, 9, 0x11, 0x22);
    lab.take_actions();
    lab.advance_secs(1_000);
    // The kernel saw traffic on the outbound SA at t = 1000 s, none on the inbound one.
    let out_key = lab.engine.session_status(lab.now).into_iter().find(|s| s.direction == Direction::Outbound).unwrap();
    let key = ike_esp_alg::engine::SessionKey {
        direction: Direction::Outbound,
        src: a.client,
        dst: SERVER,
        spi: out_key.spi,
    };
    lab.engine.handle_session_activity(
        key,
        ike_esp_alg::engine::ActivityReport { packets: 10, bytes: 1500, last_seen: lab.now },
    );
    lab.advance_secs(799); // t = 1799 s
    assert_eq!(lab.engine.session_status(lab.now).len(), 2);
    lab.advance_secs(1); // t = 1800 s: the idle inbound session goes
    let left = lab.engine.session_status(lab.now);
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].direction, left[0].packets, left[0].bytes), (Direction::Outbound, 11, 1500 + 76));
    assert!(matches!(lab.take_actions().as_slice(), [Action::RemoveEspSession(s)] if s.key.spi == Spi(0x22)));
    lab.advance_secs(1_000); // t = 2800 s: 1800 s after its last kernel-side packet
    assert!(lab.engine.session_status(lab.now).is_empty());
    assert_eq!(lab.engine.counters().sessions_expired, 2);
}

#[test]
fn state_timeout_removes_the_ike_sa_its_flow_and_then_the_binding() {
    let mut config = EngineConfig::default();
    config.timeouts.state = Duration::from_secs(180);
    config.timeouts.binding_linger = Duration::from_secs(60);
    let mut lab = Lab::new(config);
    let a = Ike::v1(client(1), SERVER);
    a.establish(&mut lab);
    lab.advance_secs(100);
    assert_eq!(lab.send(&a.out(ExchangeType::INFORMATIONAL_V1, 1, 5)), Verdict::Accept);
    lab.take_actions();
    lab.advance_secs(179);
    assert_eq!(lab.engine.ike_sa_status(lab.now).len(), 1);
    lab.advance_secs(1); // 180 s after the last IKE message
    assert!(lab.engine.ike_sa_status(lab.now).is_empty());
    assert_eq!(lab.engine.counters().ike_sas_expired, 1);
    assert!(matches!(lab.take_actions().as_slice(), [Action::RemoveIkeNat(f)] if f.client == a.client));
    assert_eq!(lab.engine.binding_status(lab.now).len(), 1, "binding lingers");
    lab.advance_secs(60);
    assert!(lab.engine.binding_status(lab.now).is_empty());
    assert!(
        matches!(lab.take_actions().as_slice(), [Action::RemoveBinding(b)] if b.client == a.client && b.nat == WAN)
    );
}

#[test]
fn a_rekey_started_by_the_server_opens_gates_and_learns_the_new_spis() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    a.establish(&mut lab);
    quick_mode(&mut lab, &a, 1, 0x11, 0x12);
    lab.advance_secs(600);
    // The server starts Quick Mode for the rekey.
    let qm1 = a.qm_in(&lab, 2);
    assert_eq!(lab.send(&qm1), Verdict::Accept);
    assert_eq!(lab.engine.gate_status(lab.now).len(), 2);
    assert_eq!(lab.send(&a.qm_out(2)), Verdict::Accept);
    assert_eq!(lab.send(&a.esp_in(WAN, 0x22)), in_translated(a.client));
    assert_eq!(lab.send(&a.esp_out(0x21)), out_translated(WAN));
    assert!(lab.engine.gate_status(lab.now).is_empty());
    // Old and new SAs both flow during the overlap.
    assert_eq!(lab.send(&a.esp_in(WAN, 0x12)), in_translated(a.client));
    assert_eq!(lab.engine.session_status(lab.now).len(), 4);
}

#[test]
fn ikev2_ike_auth_including_eap_rounds_then_create_child_sa_each_learn_a_child_sa() {
    let mut lab = Lab::default_config();
    let a = Ike::v2(client(1), SERVER);
    a.establish(&mut lab);
    let i = IkeFlags::V2_INITIATOR;
    let r = IkeFlags::V2_RESPONSE;
    // IKE_AUTH with two EAP round trips: one exchange, the gates stay with it.
    for message_id in 1..=3 {
        assert_eq!(lab.send(&a.out(ExchangeType::IKE_AUTH, i, message_id)), Verdict::Accept);
        let reply = a.inbound(&lab, ExchangeType::IKE_AUTH, r, message_id);
        assert_eq!(lab.send(&reply), Verdict::Accept);
    }
    assert_eq!(lab.engine.counters().phase2_allowed, 1);
    assert_eq!(lab.engine.counters().phase2_continued, 5);
    assert_eq!(lab.send(&a.esp_out(0x31)), out_translated(WAN));
    assert_eq!(lab.send(&a.esp_in(WAN, 0x32)), in_translated(a.client));
    // A second Child SA.
    lab.advance_secs(30);
    assert_eq!(lab.send(&a.out(ExchangeType::CREATE_CHILD_SA, i, 4)), Verdict::Accept);
    let reply = a.inbound(&lab, ExchangeType::CREATE_CHILD_SA, r, 4);
    assert_eq!(lab.send(&reply), Verdict::Accept);
    assert_eq!(lab.send(&a.esp_out(0x41)), out_translated(WAN));
    assert_eq!(lab.send(&a.esp_in(WAN, 0x42)), in_translated(a.client));
    assert_eq!(lab.engine.counters().phase2_allowed, 2);
    assert_eq!(lab.engine.session_status(lab.now).len(), 4);
    // A CREATE_CHILD_SA the responder starts has its own message ID space (RFC 7296 §2.2):
    // its ID 0 is a new exchange, not a late message of anything.
    let rekey = a.inbound(&lab, ExchangeType::CREATE_CHILD_SA, 0, 0);
    assert_eq!(lab.send(&rekey), Verdict::Accept);
    assert_eq!(lab.engine.counters().phase2_allowed, 3);
}

#[test]
fn natt_traffic_is_not_processed_but_leaves_from_the_clients_persistent_address() {
    let mut lab = Lab::new(pool_config("203.0.113.20", "203.0.113.21"));
    // A NAT-T client whose first packet is on 4500 gets a binding, nothing else.
    let natt = |c: Ipv4Addr| {
        let header = build::IkeHeader {
            major_version: 2,
            exchange: ExchangeType::INFORMATIONAL,
            flags: IkeFlags::V2_INITIATOR,
            message_id: ike_esp_alg::wire::MessageId(9),
            initiator_spi: ike_esp_alg::wire::IkeSpi(5),
            responder_spi: ike_esp_alg::wire::IkeSpi(6),
            body_len: 40,
        };
        build::natt_ike(c, 4500, SERVER, 4500, &header)
    };
    assert_eq!(lab.send(&natt(client(1))), Verdict::Accept);
    assert_eq!(lab.send(&build::natt_esp(client(1), 4500, SERVER, 4500, Spi(0x99), 1)), Verdict::Accept);
    assert!(lab.engine.ike_sa_status(lab.now).is_empty());
    assert!(lab.engine.session_status(lab.now).is_empty());
    let pool_addr: Ipv4Addr = "203.0.113.20".parse().unwrap();
    assert_eq!(
        lab.take_actions(),
        vec![Action::InstallBinding(ike_esp_alg::engine::BindingSpec { client: client(1), nat: pool_addr })]
    );
    // The same client's plain IKE and ESP later leave from the same address.
    let a = Ike::v1(client(1), SERVER2);
    a.establish(&mut lab);
    assert_eq!(lab.ike_nat(a.client, SERVER2).0, pool_addr);
    quick_mode(&mut lab, &a, 3, 0x61, 0x62);
    assert_eq!(lab.engine.counters().natt_packets, 2);
    assert_eq!(lab.engine.counters().bindings_created, 1);
}

#[test]
fn retransmitted_phase2_messages_pass_and_late_ones_open_no_new_gates() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    a.establish(&mut lab);
    assert_eq!(lab.send(&a.qm_out(5)), Verdict::Accept);
    lab.advance_millis(500);
    assert_eq!(lab.send(&a.qm_out(5)), Verdict::Accept);
    let qm2 = a.qm_in(&lab, 5);
    assert_eq!(lab.send(&qm2), Verdict::Accept);
    assert_eq!(lab.send(&a.esp_out(0x71)), out_translated(WAN));
    assert_eq!(lab.send(&a.esp_in(WAN, 0x72)), in_translated(a.client));
    // QM3 retransmitted after the collapse: passes, opens nothing.
    assert_eq!(lab.send(&a.qm_out(5)), Verdict::Accept);
    assert!(lab.engine.gate_status(lab.now).is_empty());
    let c = lab.engine.counters();
    assert_eq!((c.phase2_allowed, c.phase2_continued, c.phase2_late), (1, 2, 1));
    // A different exchange while one is in progress is held back (rule 2).
    assert_eq!(lab.send(&a.qm_out(6)), Verdict::Accept);
    assert_eq!(lab.send(&a.qm_out(8)), Verdict::Drop(DropReason::Phase2PairBusy));
}

#[test]
fn unsolicited_inbound_esp_is_dropped_and_disturbs_no_tunnel() {
    let mut lab = Lab::default_config();
    assert_eq!(
        lab.send(&build::esp(SERVER, WAN, Spi(0xdead_beef), 1, 32)),
        Verdict::Drop(DropReason::InboundEspWithoutGate)
    );
    assert!(lab.take_actions().is_empty());
    let a = Ike::v1(client(1), SERVER);
    a.establish(&mut lab);
    quick_mode(&mut lab, &a, 1, 0x11, 0x12);
    for spi in [0x13, 0x1234_5678, 0xffff_ffff] {
        assert_eq!(lab.send(&a.esp_in(WAN, spi)), Verdict::Drop(DropReason::InboundEspWithoutGate));
    }
    assert_eq!(lab.send(&a.esp_in(WAN, 0x12)), in_translated(a.client));
    assert_eq!(lab.engine.counters().inbound_esp_dropped_no_gate, 4);
    assert_eq!(lab.engine.session_status(lab.now).len(), 2);
}

#[test]
fn outbound_esp_without_a_gate_creates_a_session_counted_apart() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    assert_eq!(lab.send(&a.esp_out(0x4242)), out_translated(WAN));
    let s = lab.engine.session_status(lab.now);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].origin, SessionOrigin::WithoutGate);
    assert_eq!(lab.engine.counters().sessions_created_without_gate, 1);
    assert_eq!(lab.engine.counters().sessions_created_gate, 0);
    let actions = lab.take_actions();
    assert!(matches!(actions.as_slice(), [Action::InstallBinding(_), Action::InstallEspSession(s)]
        if s.key.spi == Spi(0x4242) && s.translated == WAN && s.idle_timeout == Duration::from_secs(1800)));
}

#[test]
fn a_known_session_reaching_the_queue_is_installed_again() {
    // The kernel element lapsed between two refreshes (or the packet raced the install):
    // the packet is forwarded and the session goes back to the fast path.
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    assert_eq!(lab.send(&a.esp_out(0x4242)), out_translated(WAN));
    lab.take_actions();
    lab.advance_secs(600);
    assert_eq!(lab.send(&a.esp_out(0x4242)), out_translated(WAN));
    let actions = lab.take_actions();
    assert!(
        matches!(actions.as_slice(), [Action::InstallEspSession(s)] if s.key.spi == Spi(0x4242) && s.translated == WAN)
    );
    assert_eq!(lab.engine.session_status(lab.now).len(), 1, "still one session");
    assert_eq!(lab.engine.counters().sessions_created_without_gate, 1, "not created twice");
}

#[test]
fn the_shell_is_told_when_a_session_expiry_is_due() {
    // Only then does it read the kernel's counters before handle_timeout: gates and IKE
    // timers come due far more often and need no read.
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    a.establish(&mut lab);
    assert!(!lab.engine.session_expiry_due(lab.now + Duration::from_secs(3_600)), "no session yet");
    assert_eq!(lab.send(&a.esp_out(0x4242)), out_translated(WAN));
    assert!(!lab.engine.session_expiry_due(lab.now + Duration::from_secs(1_799)));
    assert!(lab.engine.session_expiry_due(lab.now + Duration::from_secs(1_800)));
}

#[test]
fn spi_zero_truncated_and_garbage_packets_get_a_verdict_and_change_nothing() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    assert_eq!(lab.send(&a.esp_out(0)), Verdict::Drop(DropReason::ReservedSpi));
    let truncated_esp = build::ipv4(ike_esp_alg::wire::IpProtocol::ESP, a.client, SERVER, &[0, 0, 1]);
    assert_eq!(lab.send(&truncated_esp), Verdict::Drop(DropReason::MalformedEsp));
    let truncated_ike = build::udp(a.client, 500, SERVER, 500, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(lab.send(&truncated_ike), Verdict::Accept);
    let mut cut = a.out(ExchangeType::QUICK_MODE, 1, 1);
    cut.truncate(cut.len() - 10);
    assert_eq!(lab.send(&cut), Verdict::Accept);
    assert_eq!(lab.send(&[0x45, 0, 0]), Verdict::Accept);
    assert_eq!(lab.send(&[]), Verdict::Accept);
    let c = lab.engine.counters();
    assert_eq!((c.esp_reserved_spi, c.esp_malformed, c.ike_malformed, c.ip_malformed), (1, 1, 1, 3));
    assert!(lab.take_actions().is_empty());
    assert_eq!(lab.engine.table_sizes().sessions, 0);
}

#[test]
fn a_small_pool_is_shared_and_clients_on_different_addresses_do_not_wait_for_each_other() {
    let mut lab = Lab::new(pool_config("203.0.113.20", "203.0.113.21"));
    let peers: Vec<Ike> = (1..=5).map(|n| Ike::v1(client(n), SERVER)).collect();
    for p in &peers {
        p.establish(&mut lab);
    }
    let first: Ipv4Addr = "203.0.113.20".parse().unwrap();
    let second: Ipv4Addr = "203.0.113.21".parse().unwrap();
    let nats: Vec<Ipv4Addr> = lab.engine.binding_status(lab.now).iter().map(|b| b.nat).collect();
    assert_eq!(nats, vec![first, second, first, second, first]);
    assert_eq!(lab.engine.counters().bindings_shared, 3);
    // Clients 1 and 2 are on different addresses: both open gates at once.
    assert_eq!(lab.send(&peers[0].qm_out(1)), Verdict::Accept);
    assert_eq!(lab.send(&peers[1].qm_out(1)), Verdict::Accept);
    // Client 3 shares client 1's address and waits.
    assert_eq!(lab.send(&peers[2].qm_out(1)), Verdict::Drop(DropReason::Phase2GateBusy));
    for p in &peers[..2] {
        let qm2 = p.qm_in(&lab, 1);
        assert_eq!(lab.send(&qm2), Verdict::Accept);
    }
    assert_eq!(lab.send(&peers[0].esp_in(first, 0x101)), in_translated(peers[0].client));
    assert_eq!(lab.send(&peers[1].esp_in(second, 0x201)), in_translated(peers[1].client));
    assert_eq!(lab.send(&peers[0].esp_out(0x102)), out_translated(first));
    assert_eq!(lab.send(&peers[2].qm_out(1)), Verdict::Accept);
}

#[test]
fn ike_keeps_source_port_500_where_the_tuple_is_free_and_replies_follow_their_flow() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    let b = Ike::v1(client(2), SERVER);
    let b2 = Ike::v1(client(2), SERVER2);
    a.establish(&mut lab);
    b.establish(&mut lab);
    b2.establish(&mut lab);
    assert_eq!(lab.ike_nat(a.client, SERVER), (WAN, 500));
    assert_eq!(lab.ike_nat(b.client, SERVER), (WAN, 501), "translated as Linux NAT would");
    assert_eq!(lab.ike_nat(b.client, SERVER2), (WAN, 500), "free towards another server");
    let c = lab.engine.counters();
    assert_eq!((c.ike_port_kept, c.ike_port_translated), (2, 1));
    // A Quick Mode started by the server towards WAN:501 belongs to client 2 only.
    let qm = b.qm_in(&lab, 44);
    assert_eq!(lab.send(&qm), Verdict::Accept);
    assert_eq!(lab.engine.inbound_gate_holder(SERVER, WAN).map(|p| p.client), Some(b.client));
    // IKE to a NAT port no flow uses is left to the kernel.
    let stray = build::ike(
        SERVER,
        500,
        WAN,
        777,
        &build::IkeHeader {
            major_version: 1,
            exchange: ExchangeType::QUICK_MODE,
            flags: 1,
            message_id: ike_esp_alg::wire::MessageId(1),
            initiator_spi: ike_esp_alg::wire::IkeSpi(1),
            responder_spi: ike_esp_alg::wire::IkeSpi(2),
            body_len: 0,
        },
    );
    assert_eq!(lab.send(&stray), Verdict::Accept);
    assert_eq!(lab.engine.counters().ike_inbound_unknown_flow, 1);
    assert!(lab
        .actions
        .iter()
        .any(|a| matches!(a, Action::InstallIkeNat(s) if s.client == b.client && s.nat_port == 501)));
}

#[test]
fn a_client_flooding_phase2_blocks_another_for_at_most_one_gate_timeout() {
    let mut lab = Lab::default_config();
    let flooder = Ike::v1(client(1), SERVER);
    let victim = Ike::v1(client(2), SERVER);
    flooder.establish(&mut lab);
    victim.establish(&mut lab);
    assert_eq!(lab.send(&flooder.qm_out(1)), Verdict::Accept);
    let mut victim_in_at = None;
    let mut step = 0u32;
    while lab.now < Instant::from_secs(30) && victim_in_at.is_none() {
        lab.advance_millis(100);
        step += 1;
        // The flooder retransmits its exchange and starts new ones, every 100 ms.
        lab.send(&flooder.qm_out(1));
        lab.send(&flooder.qm_out(1000 + step));
        // The victim starts at t = 1 s and retransmits every second.
        if lab.now >= Instant::from_secs(1)
            && lab.now.as_millis() % 1000 == 0
            && lab.send(&victim.qm_out(7)) == Verdict::Accept
        {
            victim_in_at = Some(lab.now);
        }
    }
    // First refused at t = 1 s; the flooder's gates stopped growing then, so they end by
    // t = 1 s + esp_gate_timeout, and the slot is kept for the victim.
    assert_eq!(victim_in_at, Some(Instant::from_secs(6)));
    assert!(lab.engine.counters().phase2_dropped_gate_reserved > 0);
}

#[test]
fn table_caps_and_per_client_limits_drop_and_count() {
    let mut config = EngineConfig::default();
    config.limits.max_sessions = 3;
    config.limits.max_sessions_per_client = 2;
    let mut lab = Lab::new(config);
    let a = Ike::v1(client(1), SERVER);
    let b = Ike::v1(client(2), SERVER);
    assert_eq!(lab.send(&a.esp_out(1)), out_translated(WAN));
    assert_eq!(lab.send(&a.esp_out(2)), out_translated(WAN));
    assert_eq!(lab.send(&a.esp_out(3)), Verdict::Drop(DropReason::ClientLimit(Table::Sessions)));
    assert_eq!(lab.send(&b.esp_out(1)), out_translated(WAN));
    assert_eq!(lab.send(&b.esp_out(2)), Verdict::Drop(DropReason::TableFull(Table::Sessions)));
    let c = lab.engine.counters();
    assert_eq!((c.client_limit, c.table_full), (1, 1));
    assert_eq!(lab.engine.table_sizes().sessions, 3);
}

/// Two clients on the one address of pool1, each with an SA pair learned (SPIs 0x11/0x12
/// and 0x21/0x22), one second apart.
fn two_clients_on_one_address_with_sas() -> (Lab, Ike, Ike) {
    let mut lab = Lab::new(pool_config("203.0.113.20", "203.0.113.20"));
    let a = Ike::v1(client(1), SERVER);
    let b = Ike::v1(client(2), SERVER);
    a.establish(&mut lab);
    b.establish(&mut lab);
    quick_mode(&mut lab, &a, 1, 0x11, 0x12);
    lab.advance_secs(1);
    quick_mode(&mut lab, &b, 2, 0x21, 0x22);
    (lab, a, b)
}

#[test]
fn a_snapshot_taken_back_by_a_new_engine_keeps_sessions_bindings_and_flows() {
    let (mut lab, a, b) = two_clients_on_one_address_with_sas();
    lab.advance_secs(10);
    let text = lab.engine.snapshot(lab.now).encode();
    let decoded = ike_esp_alg::engine::Snapshot::decode(&text).unwrap();
    assert_eq!(decoded, lab.engine.snapshot(lab.now));

    let mut restarted = Lab::new(pool_config("203.0.113.20", "203.0.113.20"));
    restarted.now = lab.now;
    assert_eq!(restarted.engine.restore(restarted.now, &decoded), 0);
    let before: Vec<_> =
        lab.engine.session_status(lab.now).into_iter().map(|s| (s.client, s.direction, s.spi, s.nat, s.idle)).collect();
    let after: Vec<_> = restarted
        .engine
        .session_status(restarted.now)
        .into_iter()
        .map(|s| (s.client, s.direction, s.spi, s.nat, s.idle))
        .collect();
    assert_eq!(before, after);
    let installs = restarted.take_actions();
    assert_eq!(installs.iter().filter(|a| matches!(a, Action::InstallEspSession(_))).count(), 4);
    assert_eq!(installs.iter().filter(|a| matches!(a, Action::InstallBinding(_))).count(), 2);
    assert_eq!(installs.iter().filter(|a| matches!(a, Action::InstallIkeNat(_))).count(), 2);
    // The restored engine still tells the two clients apart, and a new phase 2 works.
    let nat: Ipv4Addr = "203.0.113.20".parse().unwrap();
    assert_eq!(restarted.send(&b.esp_in(nat, 0x22)), in_translated(b.client));
    assert_eq!(restarted.send(&a.qm_out(3)), Verdict::Accept);
    assert_eq!(restarted.ike_nat(a.client, SERVER), (nat, 500));
}

#[test]
fn a_datapath_that_lost_its_table_gets_every_entry_again_and_the_engine_keeps_its_state() {
    let (mut lab, _, b) = two_clients_on_one_address_with_sas();
    let learned = lab.take_actions();
    let counters_before = *lab.engine.counters();
    let sessions_before = lab.engine.session_status(lab.now);

    let queued = lab.engine.reinstall_all();
    assert_eq!(queued, ike_esp_alg::engine::Reinstalled { bindings: 2, flows: 2, sessions: 4 });
    let again = lab.take_actions();
    assert_eq!(again.len(), 8);
    // The same entries the datapath was given when they were learned, bindings first.
    assert!(matches!(again[0], Action::InstallBinding(_)) && matches!(again[1], Action::InstallBinding(_)));
    for action in &again {
        assert!(learned.contains(action), "{action:?} was never installed before");
    }
    assert_eq!(lab.engine.counters(), &counters_before);
    assert_eq!(lab.engine.session_status(lab.now), sessions_before);
    // Traffic goes on as before.
    let nat: Ipv4Addr = "203.0.113.20".parse().unwrap();
    assert_eq!(lab.send(&b.esp_in(nat, 0x22)), in_translated(b.client));
}

#[test]
fn a_damaged_state_file_is_refused_with_its_line_number() {
    let err = ike_esp_alg::engine::Snapshot::decode("ike-esp-alg-state 1\nbinding 10.0.0.1 nonsense -\n").unwrap_err();
    assert_eq!(err.to_string(), "state line 2: bad NAT address 'nonsense'");
    let err = ike_esp_alg::engine::Snapshot::decode("something else\n").unwrap_err();
    assert_eq!(err.line, 1);
}

#[test]
fn clear_removes_one_clients_state_and_leaves_the_others() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    let b = Ike::v1(client(2), SERVER);
    a.establish(&mut lab);
    b.establish(&mut lab);
    quick_mode(&mut lab, &a, 1, 0x11, 0x12);
    lab.advance_secs(1);
    quick_mode(&mut lab, &b, 2, 0x21, 0x22);
    lab.take_actions();
    assert_eq!(lab.engine.clear(lab.now, ClearScope::Client(a.client)), 1);
    let removed = lab.take_actions();
    assert_eq!(removed.iter().filter(|x| matches!(x, Action::RemoveEspSession(_))).count(), 2);
    assert!(removed.iter().any(|x| matches!(x, Action::RemoveBinding(b) if b.client == a.client)));
    assert!(lab.engine.session_status(lab.now).iter().all(|s| s.client == b.client));
    assert_eq!(lab.send(&a.esp_in(WAN, 0x12)), Verdict::Drop(DropReason::InboundEspWithoutGate));
    assert_eq!(lab.engine.clear(lab.now, ClearScope::All), 1);
    assert_eq!(lab.engine.table_sizes().sessions, 0);
    assert_eq!(lab.engine.table_sizes().bindings, 0);
}

#[test]
fn a_new_wan_address_drops_interface_nat_state_and_rebinds() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    a.establish(&mut lab);
    quick_mode(&mut lab, &a, 1, 0x11, 0x12);
    lab.take_actions();
    let new_wan: Ipv4Addr = "203.0.113.99".parse().unwrap();
    lab.engine.handle_egress_address(lab.now, Some(new_wan));
    assert!(lab.engine.session_status(lab.now).is_empty());
    assert!(lab.engine.binding_status(lab.now).is_empty());
    a.establish(&mut lab);
    assert_eq!(lab.ike_nat(a.client, SERVER), (new_wan, 500));
    // Without any egress address there is nothing to translate to.
    lab.engine.handle_egress_address(lab.now, None);
    assert_eq!(lab.send(&a.esp_out(5)), Verdict::Drop(DropReason::NoNatAddress));
}

#[test]
fn ipv6_and_traffic_outside_the_rules_pass_untouched() {
    let mut config = EngineConfig::default();
    config.rules[0].destinations = vec![ike_esp_alg::engine::Ipv4Net::new(SERVER, 32).unwrap()];
    let mut lab = Lab::new(config);
    let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 50, 64];
    v6.extend_from_slice(&[0; 32]);
    v6.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
    assert_eq!(lab.send(&v6), Verdict::Accept);
    let other = Ike::v1(client(1), SERVER2);
    assert_eq!(lab.send(&other.esp_out(0x10)), Verdict::Accept);
    assert_eq!(lab.send(&other.out(ExchangeType::IDENTITY_PROTECTION, 0, 0)), Verdict::Accept);
    let c = lab.engine.counters();
    assert_eq!((c.ipv6_passed, c.packets_not_matched), (1, 2));
    assert!(lab.take_actions().is_empty());
}

#[test]
fn a_tunnel_brought_up_before_any_traffic_learns_its_inbound_spi_when_the_client_first_sends() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    let b = Ike::v1(client(2), SERVER);
    a.establish(&mut lab);
    b.establish(&mut lab);
    // a's Quick Mode completes but no ESP follows within the gate timeout.
    quick_mode_without_traffic(&mut lab, &a, 1);
    lab.advance_secs(5);
    assert_eq!(lab.engine.counters().gates_expired, 2);
    // b negotiates meanwhile and holds the slot: a's first ESP waits its turn, like a
    // phase-2 message, so the server's reply to it cannot meet b's open gate.
    assert_eq!(lab.send(&b.qm_out(2)), Verdict::Accept);
    assert_eq!(lab.send(&a.esp_out(0xa3)), Verdict::Drop(DropReason::Phase2GateBusy));
    assert_eq!(lab.engine.counters().esp_waiting_for_gate, 1);
    assert_eq!(lab.engine.table_sizes().sessions, 0);
    let qm2 = b.qm_in(&lab, 2);
    assert_eq!(lab.send(&qm2), Verdict::Accept);
    assert_eq!(lab.send(&b.esp_out(0xb1)), out_translated(WAN));
    assert_eq!(lab.send(&b.esp_in(WAN, 0xb2)), in_translated(b.client));
    // b's gates collapsed; the slot is kept for a, whose next packet re-opens it.
    lab.advance_secs(1);
    assert_eq!(lab.send(&a.esp_out(0xa3)), out_translated(WAN));
    assert_eq!(lab.engine.counters().gates_resumed, 1);
    let gates = lab.engine.gate_status(lab.now);
    assert_eq!(gates.len(), 2);
    assert!(gates.iter().all(|g| g.client == a.client));
    assert_eq!(lab.send(&a.esp_in(WAN, 0xa2)), in_translated(a.client));
    assert!(lab.engine.gate_status(lab.now).is_empty(), "collapsed once the reply is learned");
    // Owed only once: a further new SPI from a opens nothing.
    assert_eq!(lab.send(&a.esp_out(0xa5)), out_translated(WAN));
    assert_eq!(lab.engine.counters().gates_resumed, 1);
    assert_eq!(lab.send(&a.esp_in(WAN, 0xa6)), Verdict::Drop(DropReason::InboundEspWithoutGate));
}

#[test]
fn an_exchange_whose_inbound_gate_was_used_owes_nothing() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    a.establish(&mut lab);
    quick_mode(&mut lab, &a, 1, 0x11, 0x12);
    lab.advance_secs(60);
    assert_eq!(lab.send(&a.esp_out(0x13)), out_translated(WAN));
    assert_eq!(lab.engine.counters().gates_resumed, 0);
    assert!(lab.engine.gate_status(lab.now).is_empty());
}

/// A Quick Mode whose SAs carry no traffic yet (tunnels brought up at start).
fn quick_mode_without_traffic(lab: &mut Lab, ike: &Ike, message_id: u32) {
    assert_eq!(lab.send(&ike.qm_out(message_id)), Verdict::Accept);
    let qm2 = ike.qm_in(lab, message_id);
    assert_eq!(lab.send(&qm2), Verdict::Accept);
    assert_eq!(lab.send(&ike.qm_out(message_id)), Verdict::Accept);
}

/// The install action for the session `(direction, spi)` among `actions`.
fn session_install(actions: &[Action], direction: Direction, spi: u32) -> Action {
    *actions
        .iter()
        .find(|a| matches!(a, Action::InstallEspSession(s) if s.key.direction == direction && s.key.spi == Spi(spi)))
        .expect("the session's install was queued")
}

/// Every `DatapathRefused` event logged so far, as (action, undone).
fn refusals(lab: &mut Lab) -> Vec<(Action, bool)> {
    lab.take_actions();
    lab.events
        .iter()
        .filter_map(|e| match e {
            Event::DatapathRefused { action, undone } => Some((*action, *undone)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_session_the_datapath_refused_is_forgotten_and_its_next_packet_is_learned_through_the_gate_again() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    a.establish(&mut lab);
    assert_eq!(lab.send(&a.qm_out(1)), Verdict::Accept);
    let qm2 = a.qm_in(&lab, 1);
    assert_eq!(lab.send(&qm2), Verdict::Accept);
    lab.take_actions();

    // The server's first ESP hits the inbound gate, but the kernel refuses the session.
    assert_eq!(lab.send(&a.esp_in(WAN, 0x200)), in_translated(a.client));
    let inbound = session_install(&lab.take_actions(), Direction::Inbound, 0x200);
    let Action::InstallEspSession(inbound_spec) = inbound else { unreachable!() };
    lab.engine.handle_action_failed(lab.now, &inbound);
    assert!(!lab.engine.has_session(&inbound_spec.key));
    assert_eq!(lab.engine.datapath_refused(), 1);
    assert_eq!(refusals(&mut lab), vec![(inbound, true)]);
    assert!(lab.take_actions().is_empty(), "nothing to remove: the kernel never had it");
    let open: Vec<(Direction, GateState)> =
        lab.engine.gate_status(lab.now).iter().map(|g| (g.direction, g.state)).collect();
    assert_eq!(open, vec![(Direction::Outbound, GateState::Open), (Direction::Inbound, GateState::Open)]);

    // Its next packet is learned again through the re-opened gate.
    assert_eq!(lab.send(&a.esp_in(WAN, 0x200)), in_translated(a.client));
    assert!(lab.engine.has_session(&inbound_spec.key));
    assert_eq!(lab.send(&a.esp_out(0x100)), out_translated(WAN));
    assert!(lab.engine.gate_status(lab.now).is_empty(), "both gates hit: collapsed");
    // Refused after the collapse, the outbound SA is learned again without a gate (SPEC
    // rule 6: the source is the client itself).
    let outbound = session_install(&lab.take_actions(), Direction::Outbound, 0x100);
    lab.engine.handle_action_failed(lab.now, &outbound);
    let Action::InstallEspSession(outbound_spec) = outbound else { unreachable!() };
    assert!(!lab.engine.has_session(&outbound_spec.key));
    assert_eq!(lab.send(&a.esp_out(0x100)), out_translated(WAN));
    assert!(lab.engine.has_session(&outbound_spec.key));
    let c = lab.engine.counters();
    assert_eq!((c.sessions_created_gate, c.sessions_created_without_gate, c.gates_collapsed), (3, 1, 2));
    assert_eq!(lab.engine.datapath_refused(), 2);
    let bindings = lab.engine.binding_status(lab.now);
    assert_eq!((bindings.len(), bindings[0].sessions), (1, 2), "the binding counts only the sessions it holds");
}

#[test]
fn a_refused_session_without_a_gate_is_learned_again_and_a_stale_refusal_changes_nothing() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    assert_eq!(lab.send(&a.esp_out(0x4242)), out_translated(WAN));
    let install = session_install(&lab.take_actions(), Direction::Outbound, 0x4242);
    lab.engine.handle_action_failed(lab.now, &install);
    assert!(lab.engine.session_status(lab.now).is_empty());
    assert_eq!(lab.send(&a.esp_out(0x4242)), out_translated(WAN));
    assert_eq!(lab.engine.session_status(lab.now).len(), 1);
    assert_eq!(lab.engine.counters().sessions_created_without_gate, 2);

    // A refusal for a session translated elsewhere (an older spec) leaves the session be;
    // so do failed removals.
    let Action::InstallEspSession(spec) = install else { unreachable!() };
    let other = Action::InstallEspSession(ike_esp_alg::engine::EspSessionSpec { translated: client(9), ..spec });
    lab.engine.handle_action_failed(lab.now, &other);
    lab.engine.handle_action_failed(lab.now, &Action::RemoveEspSession(spec));
    assert!(lab.engine.has_session(&spec.key));
    assert_eq!(lab.engine.datapath_refused(), 2, "two refused installs, the removal is not one");
    assert_eq!(refusals(&mut lab), vec![(install, true), (other, false)]);
}

#[test]
fn a_refused_reinstall_of_an_established_session_keeps_it_on_the_slow_path() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    assert_eq!(lab.send(&a.esp_out(0x4343)), out_translated(WAN));
    let install = session_install(&lab.take_actions(), Direction::Outbound, 0x4343);
    // Later, a re-install of the same session (a renewal, a re-installed table) is refused.
    lab.advance_secs(30);
    lab.engine.handle_action_failed(lab.now, &install);
    let Action::InstallEspSession(spec) = install else { unreachable!() };
    assert!(lab.engine.has_session(&spec.key), "kept: its packets still get translated from the queue");
    assert_eq!(lab.send(&a.esp_out(0x4343)), out_translated(WAN));
    assert_eq!(lab.engine.counters().sessions_created_without_gate, 1, "not learned a second time");
    assert_eq!(refusals(&mut lab), vec![(install, false)]);
}

#[test]
fn a_refused_binding_does_not_keep_its_pool_address_whatever_order_the_refusals_come_in() {
    let first: Ipv4Addr = "203.0.113.20".parse().unwrap();
    let second: Ipv4Addr = "203.0.113.21".parse().unwrap();
    let mut lab = Lab::new(pool_config("203.0.113.20", "203.0.113.21"));
    let a = Ike::v1(client(1), SERVER);
    // Binding and session are refused together, reported in action order: the binding
    // first, while the session still holds it.
    assert_eq!(lab.send(&a.esp_out(0x11)), out_translated(first));
    let actions = lab.take_actions();
    assert!(matches!(actions.as_slice(), [Action::InstallBinding(b), Action::InstallEspSession(_)] if b.nat == first));
    for action in &actions {
        lab.engine.handle_action_failed(lab.now, action);
    }
    assert!(lab.engine.binding_status(lab.now).is_empty(), "gone with the session that held it");
    assert!(lab.engine.session_status(lab.now).is_empty());
    assert_eq!(refusals(&mut lab).iter().map(|(_, undone)| *undone).collect::<Vec<_>>(), vec![false, true]);

    // The address is free: the next client gets it unshared, not the second one.
    let b = Ike::v1(client(2), SERVER);
    assert_eq!(lab.send(&b.esp_out(0x22)), out_translated(first));
    lab.take_actions();
    let bindings = lab.engine.binding_status(lab.now);
    assert_eq!(bindings.iter().map(|b| (b.client, b.nat)).collect::<Vec<_>>(), vec![(b.client, first)]);

    // A binding nothing holds yet (ESP refused alone first) goes at once.
    assert_eq!(lab.send(&a.esp_out(0x33)), out_translated(second));
    let actions = lab.take_actions();
    for action in actions.iter().rev() {
        lab.engine.handle_action_failed(lab.now, action);
    }
    let bindings = lab.engine.binding_status(lab.now);
    assert_eq!(bindings.iter().map(|b| b.client).collect::<Vec<_>>(), vec![b.client]);
    assert_eq!(lab.engine.datapath_refused(), 4);
}

#[test]
fn a_refused_ike_nat_is_forgotten_and_set_up_again_by_the_next_ike_message() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    assert_eq!(lab.send(&a.out(ExchangeType::IDENTITY_PROTECTION, 0, 0)), Verdict::Accept);
    let actions = lab.take_actions();
    let nat = *actions.iter().find(|a| matches!(a, Action::InstallIkeNat(_))).expect("an IKE NAT install");
    lab.engine.handle_action_failed(lab.now, &nat);
    assert_eq!(lab.engine.table_sizes().ike_flows, 0);
    assert_eq!(refusals(&mut lab), vec![(nat, true)]);
    assert_eq!(lab.send(&a.out(ExchangeType::IDENTITY_PROTECTION, 0, 0)), Verdict::Accept);
    assert_eq!(lab.take_actions(), vec![nat], "asked again, with the same translation");
    assert_eq!(lab.engine.table_sizes().ike_flows, 1);
}

/// Two IKEv2 clients behind one address; the first's IKE_AUTH has been answered, and its
/// tunnel is up on both sides with no traffic yet.
fn two_ikev2_clients_the_first_answered() -> (Lab, Ike, Ike) {
    let mut lab = Lab::default_config();
    let a = Ike::v2(client(1), SERVER);
    let b = Ike::v2(client(2), SERVER);
    a.establish(&mut lab);
    b.establish(&mut lab);
    assert_eq!(lab.send(&a.out(ExchangeType::IKE_AUTH, IkeFlags::V2_INITIATOR, 1)), Verdict::Accept);
    let answer = a.inbound(&lab, ExchangeType::IKE_AUTH, IkeFlags::V2_RESPONSE, 1);
    assert_eq!(lab.send(&answer), Verdict::Accept);
    (lab, a, b)
}

#[test]
fn an_answered_idle_exchange_gives_its_gates_up_after_settling_once_another_client_waits() {
    let (mut lab, a, b) = two_ikev2_clients_the_first_answered();
    let (i, r) = (IkeFlags::V2_INITIATOR, IkeFlags::V2_RESPONSE);
    // Nobody waits: the tunnel is up and idle, and a keeps its gates (no early release).
    lab.advance_secs(3);
    assert_eq!(lab.engine.gate_status(lab.now).len(), 2);
    // b's request must wait; a was answered 3 s ago, so its unused gates go at once.
    assert_eq!(lab.send(&b.out(ExchangeType::IKE_AUTH, i, 1)), Verdict::Drop(DropReason::Phase2GateBusy));
    lab.advance_millis(1);
    assert!(!lab.engine.gate_status(lab.now).iter().any(|g| g.client == a.client));
    assert_eq!(lab.engine.counters().gates_released_early, 2);
    assert!(lab.events.iter().any(|e| matches!(e, Event::GatesReleasedEarly { pair } if pair.client == a.client)));
    // b's retransmission gets the slot; a's first ESP later re-opens its inbound gate.
    assert_eq!(lab.send(&b.out(ExchangeType::IKE_AUTH, i, 1)), Verdict::Accept);
    let answer = b.inbound(&lab, ExchangeType::IKE_AUTH, r, 1);
    assert_eq!(lab.send(&answer), Verdict::Accept);
    assert_eq!(lab.send(&b.esp_out(0xb1)), out_translated(WAN));
    assert_eq!(lab.send(&b.esp_in(WAN, 0xb2)), in_translated(b.client));
    assert_eq!(lab.send(&a.esp_out(0xa1)), out_translated(WAN));
    assert_eq!(lab.send(&a.esp_in(WAN, 0xa2)), in_translated(a.client));
    assert_eq!(lab.engine.counters().gates_resumed, 1);
}

#[test]
fn an_unanswered_exchange_keeps_its_gates_for_the_full_timeout_even_when_others_wait() {
    let mut lab = Lab::default_config();
    let a = Ike::v2(client(1), SERVER);
    let b = Ike::v2(client(2), SERVER);
    a.establish(&mut lab);
    b.establish(&mut lab);
    let i = IkeFlags::V2_INITIATOR;
    // An EAP round: answered once, then the next request is not yet.
    assert_eq!(lab.send(&a.out(ExchangeType::IKE_AUTH, i, 1)), Verdict::Accept);
    let answer = a.inbound(&lab, ExchangeType::IKE_AUTH, IkeFlags::V2_RESPONSE, 1);
    assert_eq!(lab.send(&answer), Verdict::Accept);
    assert_eq!(lab.send(&a.out(ExchangeType::IKE_AUTH, i, 2)), Verdict::Accept);
    assert_eq!(lab.send(&b.out(ExchangeType::IKE_AUTH, i, 1)), Verdict::Drop(DropReason::Phase2GateBusy));
    lab.advance_millis(4_999);
    assert_eq!(lab.engine.gate_status(lab.now).len(), 2, "a's gates last their timeout");
    lab.advance_millis(1);
    assert!(lab.engine.gate_status(lab.now).is_empty());
    let c = lab.engine.counters();
    assert_eq!((c.gates_released_early, c.gates_expired), (0, 2));
}

#[test]
fn an_inbound_hit_hands_the_slot_on_while_the_outbound_gate_waits() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    let b = Ike::v1(client(2), SERVER);
    a.establish(&mut lab);
    b.establish(&mut lab);
    assert_eq!(lab.send(&a.qm_out(1)), Verdict::Accept);
    let qm2 = a.qm_in(&lab, 1);
    assert_eq!(lab.send(&qm2), Verdict::Accept);
    assert_eq!(lab.send(&b.qm_out(1)), Verdict::Drop(DropReason::Phase2GateBusy));
    // The server speaks first: a's inbound SPI is known, the slot is b's turn.
    assert_eq!(lab.send(&a.esp_in(WAN, 0xa2)), in_translated(a.client));
    assert_eq!(lab.send(&b.qm_out(1)), Verdict::Accept);
    let open: Vec<(Ipv4Addr, Direction)> = lab
        .engine
        .gate_status(lab.now)
        .iter()
        .filter(|g| g.state == GateState::Open)
        .map(|g| (g.client, g.direction))
        .collect();
    assert_eq!(
        open,
        vec![(a.client, Direction::Outbound), (b.client, Direction::Outbound), (b.client, Direction::Inbound)]
    );
    assert_eq!(lab.send(&a.esp_out(0xa1)), out_translated(WAN));
    assert_eq!(lab.engine.counters().gates_collapsed, 2);
}

#[test]
fn an_open_gate_takes_only_a_new_sa_first_packets_and_only_once_its_exchange_is_answered() {
    let mut lab = Lab::default_config();
    let a = Ike::v1(client(1), SERVER);
    a.establish(&mut lab);
    assert_eq!(lab.send(&a.qm_out(1)), Verdict::Accept);
    // Before the server's answer its new SA cannot be in use: some other SA's packet.
    assert_eq!(lab.send(&a.esp_in(WAN, 0x77)), Verdict::Drop(DropReason::InboundEspBeforeAnswer));
    let qm2 = a.qm_in(&lab, 1);
    assert_eq!(lab.send(&qm2), Verdict::Accept);
    // An SA that has carried 500 packets is older than this exchange.
    let old = build::esp(SERVER, WAN, Spi(0x78), 500, 48);
    assert_eq!(lab.send(&old), Verdict::Drop(DropReason::InboundEspNotFresh));
    let c = lab.engine.counters();
    assert_eq!((c.inbound_esp_before_answer, c.inbound_esp_not_fresh), (1, 1));
    // The gate is still open for the new SA's first packet.
    assert_eq!(lab.send(&build::esp(SERVER, WAN, Spi(0xa2), 1, 48)), in_translated(a.client));
}

#[test]
fn a_client_that_has_sent_keeps_its_gates_the_full_timeout_while_others_wait() {
    let (mut lab, a, b) = two_ikev2_clients_the_first_answered();
    let i = IkeFlags::V2_INITIATOR;
    // a has sent; its server's reply may be slow or lost and retried: a keeps its gate.
    assert_eq!(lab.send(&a.esp_out(0xa1)), out_translated(WAN));
    assert_eq!(lab.send(&b.out(ExchangeType::IKE_AUTH, i, 1)), Verdict::Drop(DropReason::Phase2GateBusy));
    lab.advance_millis(4_000);
    assert_eq!(lab.send(&a.esp_in(WAN, 0xa2)), in_translated(a.client));
    assert_eq!(lab.engine.counters().gates_released_early, 0);
}
