//! Unit tests that need the engine's private fields.

use super::*;
use crate::wire::build::{self, IkeHeader};
use crate::wire::{ExchangeType, IkeSpi, MessageId, Spi};

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

fn qm(client: Ipv4Addr, message_id: u32) -> Vec<u8> {
    build::ike(client, 500, SERVER, 500, &qm_header(client, message_id))
}

/// Quick Mode's second message, from the server to the client's IKE port on the NAT address.
fn qm_answer(client: Ipv4Addr, message_id: u32) -> Vec<u8> {
    build::ike(SERVER, 500, WAN, 500, &qm_header(client, message_id))
}

fn qm_header(client: Ipv4Addr, message_id: u32) -> IkeHeader {
    IkeHeader {
        major_version: 1,
        exchange: ExchangeType::QUICK_MODE,
        flags: 1,
        message_id: MessageId(message_id),
        initiator_spi: IkeSpi(u64::from(u32::from(client))),
        responder_spi: IkeSpi(7),
        body_len: 16,
    }
}

#[test]
fn state_timeout_removes_the_pairs_open_gates_and_frees_the_slot() {
    let mut engine = Engine::new(EngineConfig::default()).unwrap();
    engine.handle_egress_address(Instant::ZERO, Some(WAN));
    // Valid configurations keep gates far shorter than state; widen them past validation
    // to see that state expiry alone also takes the gates (SPEC rule 5).
    engine.config.timeouts.esp_gate = Duration::from_secs(10_000);
    engine.config.timeouts.state = Duration::from_secs(180);
    let a = Ipv4Addr::new(192, 168, 1, 10);
    let b = Ipv4Addr::new(192, 168, 1, 11);
    assert_eq!(engine.handle_packet(Instant::ZERO, &qm(a, 1)), Verdict::Accept);
    assert_eq!(engine.handle_packet(Instant::ZERO, &qm(b, 1)), Verdict::Drop(DropReason::Phase2GateBusy));
    engine.handle_timeout(Instant::from_secs(179));
    assert_eq!(engine.gate_status(Instant::from_secs(179)).len(), 2);
    engine.handle_timeout(Instant::from_secs(180));
    // b's IKE SA expired too (its only message was at t = 0), so nobody holds the slot.
    assert!(engine.gate_status(Instant::from_secs(180)).is_empty());
    assert_eq!(engine.counters.gates_removed, 2);
    assert!(engine.slots.is_empty());
    assert!(engine.pairs.is_empty());
    let late = build::esp(SERVER, WAN, Spi(9), 1, 8);
    assert_eq!(engine.handle_packet(Instant::from_secs(181), &late), Verdict::Drop(DropReason::InboundEspWithoutGate));
}

#[test]
fn a_reservation_nobody_claims_passes_to_the_next_waiter_then_frees_the_slot() {
    let mut engine = Engine::new(EngineConfig::default()).unwrap();
    engine.handle_egress_address(Instant::ZERO, Some(WAN));
    let clients: Vec<Ipv4Addr> = (10..13).map(|n| Ipv4Addr::new(192, 168, 1, n)).collect();
    for (i, c) in clients.iter().enumerate() {
        let expected = if i == 0 { Verdict::Accept } else { Verdict::Drop(DropReason::Phase2GateBusy) };
        assert_eq!(engine.handle_packet(Instant::ZERO, &qm(*c, 1)), expected);
    }
    let slot = SlotKey { server: SERVER, nat: WAN };
    engine.handle_timeout(Instant::from_secs(5));
    assert!(
        matches!(engine.slots[&slot].holder, entries::SlotHolder::Reserved { pair, .. } if pair.client == clients[1])
    );
    engine.handle_timeout(Instant::from_secs(10));
    assert!(
        matches!(engine.slots[&slot].holder, entries::SlotHolder::Reserved { pair, .. } if pair.client == clients[2])
    );
    engine.handle_timeout(Instant::from_secs(15));
    assert!(engine.slots.is_empty());
    assert_eq!(engine.handle_packet(Instant::from_secs(15), &qm(clients[0], 2)), Verdict::Accept);
}

#[test]
fn timers_do_not_pile_up_when_entries_are_refreshed() {
    let mut engine = Engine::new(EngineConfig::default()).unwrap();
    engine.handle_egress_address(Instant::ZERO, Some(WAN));
    let a = Ipv4Addr::new(192, 168, 1, 10);
    let esp = build::esp(a, SERVER, Spi(5), 1, 8);
    for second in 0..10_000u64 {
        engine.handle_packet(Instant::from_secs(second), &esp);
    }
    // One session, one binding: the heap holds one live item each, however often refreshed.
    assert_eq!(engine.sessions.len(), 1);
    assert!(engine.timers.len() <= 2, "{} timer items", engine.timers.len());
}

#[test]
fn a_client_cycling_exchanges_fast_cannot_grow_the_timer_heap() {
    let mut config = EngineConfig::default();
    config.limits.max_sessions = 1 << 20;
    config.limits.max_sessions_per_client = 1 << 20;
    let mut engine = Engine::new(config).unwrap();
    engine.handle_egress_address(Instant::ZERO, Some(WAN));
    let a = Ipv4Addr::new(192, 168, 1, 10);
    for round in 0..20_000u32 {
        let now = Instant::from_millis(u64::from(round));
        // Each exchange collapses at once, leaving its gate timer stale for 5 s.
        // Quick Mode's three messages: the server uses the SA once it has the third.
        assert_eq!(engine.handle_packet(now, &qm(a, round + 1)), Verdict::Accept);
        assert_eq!(engine.handle_packet(now, &qm_answer(a, round + 1)), Verdict::Accept);
        assert_eq!(engine.handle_packet(now, &qm(a, round + 1)), Verdict::Accept);
        let spi = 0x1_0000 + 2 * round;
        engine.handle_packet(now, &build::esp(a, SERVER, Spi(spi), 1, 8));
        engine.handle_packet(now, &build::esp(SERVER, WAN, Spi(spi + 1), 1, 8));
        while engine.poll_action().is_some() {}
        while engine.poll_event().is_some() {}
        let live = engine.sessions.len()
            + engine.ike_sas.len()
            + engine.flows.len()
            + engine.pairs.len()
            + engine.slots.len()
            + engine.bindings.len();
        assert!(engine.timers.len() <= 2 * live + 64, "round {round}: {} timers, {live} live", engine.timers.len());
    }
    assert_eq!(engine.counters.gates_collapsed, 40_000);
}
