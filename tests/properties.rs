//! Property tests: random interleavings of clients, servers, IKE, ESP, NAT-T, garbage and
//! time jumps. After every step the engine's invariants must hold:
//!
//! 1. inbound ESP is delivered to a client only if that client had a session for that
//!    (server, NAT address, SPI) or held an open inbound gate for (server, NAT address);
//! 2. at most one open inbound gate per (server, NAT address);
//! 3. every open gate is younger than `esp_gate_timeout` after the last phase-2 message
//!    the pair got through;
//! 4. no table exceeds its cap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use ike_esp_alg::engine::{
    AddressRange, ClearScope, Direction, Engine, EngineConfig, GateState, Ipv4Net, Limits, PoolConfig, SourceNat,
    Translation, Verdict,
};
use ike_esp_alg::time::Instant;
use ike_esp_alg::wire::build::{self, IkeHeader};
use ike_esp_alg::wire::{ExchangeType, IkeFlags, IkeSpi, MessageId, Spi};
use proptest::prelude::*;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

const WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const POOL: [Ipv4Addr; 2] = [Ipv4Addr::new(203, 0, 113, 20), Ipv4Addr::new(203, 0, 113, 21)];

fn client(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 1, 10 + n)
}

fn server(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, 1 + n)
}

#[derive(Clone, Debug)]
enum Op {
    /// Phase-1 message from the client (creates the IKE SA and flow).
    Phase1 {
        c: u8,
        s: u8,
    },
    /// Phase-2 message; `inbound` means from the server.
    Phase2 {
        c: u8,
        s: u8,
        v2: bool,
        msgid: u32,
        inbound: bool,
        response: bool,
    },
    EspOut {
        c: u8,
        s: u8,
        spi: u32,
    },
    EspIn {
        s: u8,
        nat: u8,
        spi: u32,
    },
    NatT {
        c: u8,
        s: u8,
    },
    Garbage(Vec<u8>),
    Advance(u64),
    Clear(Option<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..4u8, 0..2u8).prop_map(|(c, s)| Op::Phase1 { c, s }),
        6 => (0..4u8, 0..2u8, any::<bool>(), 0..4u32, any::<bool>(), any::<bool>())
            .prop_map(|(c, s, v2, msgid, inbound, response)| Op::Phase2 { c, s, v2, msgid, inbound, response }),
        5 => (0..4u8, 0..2u8, 0..6u32).prop_map(|(c, s, spi)| Op::EspOut { c, s, spi }),
        5 => (0..2u8, 0..3u8, 0..6u32).prop_map(|(s, nat, spi)| Op::EspIn { s, nat, spi }),
        1 => (0..4u8, 0..2u8).prop_map(|(c, s)| Op::NatT { c, s }),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Op::Garbage),
        4 => prop_oneof![0..2_000u64, 0..40_000u64, Just(5_000u64), 0..4_000_000u64].prop_map(Op::Advance),
        1 => proptest::option::of(0..4u8).prop_map(Op::Clear),
    ]
}

fn config(use_pool: bool) -> EngineConfig {
    let mut config = EngineConfig::default();
    if use_pool {
        config.pools =
            vec![PoolConfig { name: "p".into(), ranges: vec![AddressRange::new(POOL[0], POOL[1]).unwrap()] }];
        config.rules[0].source_nat = SourceNat::Pool(0);
    }
    // Rules name the LAN as their sources, as a zone-based rule does.
    config.rules[0].sources = vec![Ipv4Net::new(Ipv4Addr::new(192, 168, 1, 0), 24).unwrap()];
    config.timeouts.state = Duration::from_secs(180);
    config.timeouts.esp_session = Duration::from_secs(60);
    config.timeouts.binding_linger = Duration::from_secs(10);
    config.limits = Limits {
        max_sessions: 12,
        max_sessions_per_client: 5,
        max_ike_sas: 6,
        max_ike_sas_per_client: 2,
        max_ike_flows: 6,
        max_pairs: 5,
        max_bindings: 3,
        max_waiters_per_gate: 2,
        max_pending_events: 8,
    };
    config
}

fn ike_header(c: u8, s: u8, v2: bool, exchange: ExchangeType, flags: u8, msgid: u32) -> IkeHeader {
    IkeHeader {
        major_version: if v2 { 2 } else { 1 },
        exchange,
        flags,
        message_id: MessageId(msgid),
        initiator_spi: IkeSpi(0x100 + u64::from(c) * 16 + u64::from(s)),
        responder_spi: IkeSpi(0x900 + u64::from(c)),
        body_len: 20,
    }
}

struct Run {
    engine: Engine,
    use_pool: bool,
    now: Instant,
    /// Last time each pair got a phase-2 message through.
    last_phase2: HashMap<(Ipv4Addr, Ipv4Addr), Instant>,
}

impl Run {
    fn packet(&mut self, bytes: &[u8]) -> Verdict {
        let verdict = self.engine.handle_packet(self.now, bytes);
        while self.engine.poll_action().is_some() {}
        while self.engine.poll_event().is_some() {}
        verdict
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Phase1 { c, s } => {
                let h = ike_header(*c, *s, false, ExchangeType::IDENTITY_PROTECTION, 0, 0);
                self.packet(&build::ike(client(*c), 500, server(*s), 500, &h));
            }
            Op::Phase2 { c, s, v2, msgid, inbound, response } => {
                let exchange = if *v2 { ExchangeType::CREATE_CHILD_SA } else { ExchangeType::QUICK_MODE };
                let flags = if *v2 {
                    if *response {
                        IkeFlags::V2_RESPONSE
                    } else {
                        IkeFlags::V2_INITIATOR
                    }
                } else {
                    1
                };
                let h = ike_header(*c, *s, *v2, exchange, flags, *msgid);
                let sas = self.engine.ike_sa_status(self.now);
                let (bytes, target) = if *inbound {
                    // To the client's flow if it has one, else to a port that may be another's.
                    let (nat, port) = sas
                        .iter()
                        .find(|x| x.client == client(*c) && x.server == server(*s))
                        .map_or((WAN, 500 + u16::from(*c)), |sa| (sa.nat, sa.nat_port));
                    (build::ike(server(*s), 500, nat, port, &h), Some((nat, port)))
                } else {
                    (build::ike(client(*c), 500, server(*s), 500, &h), None)
                };
                if self.packet(&bytes) == Verdict::Accept {
                    // The pair the message belongs to is the one whose flow it used; its IKE
                    // SA exists once the message has been handled.
                    let owner = match target {
                        None => Some(client(*c)),
                        Some((nat, port)) => self
                            .engine
                            .ike_sa_status(self.now)
                            .into_iter()
                            .find(|x| x.server == server(*s) && x.nat == nat && x.nat_port == port)
                            .map(|x| x.client),
                    };
                    if let Some(owner) = owner {
                        self.last_phase2.insert((owner, server(*s)), self.now);
                    }
                }
            }
            Op::EspOut { c, s, spi } => {
                let resumed = self.engine.counters().gates_resumed;
                self.packet(&build::esp(client(*c), server(*s), Spi(0x1000 + spi), 1, 16));
                // A re-opened inbound gate's exchange starts with this packet.
                if self.engine.counters().gates_resumed > resumed {
                    self.last_phase2.insert((client(*c), server(*s)), self.now);
                }
            }
            Op::EspIn { s, nat, spi } => {
                let nat_addr = match nat {
                    0 => WAN,
                    n => POOL[usize::from(*n - 1)],
                };
                let spi = Spi(0x2000 + spi);
                // Who may receive it, judged before the packet.
                let mut allowed: Vec<Ipv4Addr> = self
                    .engine
                    .session_status(self.now)
                    .into_iter()
                    .filter(|x| {
                        x.direction == Direction::Inbound && x.server == server(*s) && x.nat == nat_addr && x.spi == spi
                    })
                    .map(|x| x.client)
                    .collect();
                allowed.extend(
                    self.engine
                        .gate_status(self.now)
                        .into_iter()
                        .filter(|g| g.direction == Direction::Inbound && g.state == GateState::Open)
                        .filter(|g| g.server == server(*s) && g.nat == nat_addr && g.expires_in > Duration::ZERO)
                        .map(|g| g.client),
                );
                let verdict = self.packet(&build::esp(server(*s), nat_addr, spi, 1, 16));
                if let Verdict::AcceptTranslated(t) = verdict {
                    let to = match t {
                        Translation::Destination(to) => to,
                        Translation::Source(_) => panic!("inbound rewrites the destination, got {t:?}"),
                    };
                    prop_assert!(
                        allowed.contains(&to),
                        "inbound ESP {spi} from {} to {nat_addr} delivered to {to}, allowed {allowed:?}",
                        server(*s)
                    );
                }
                let ours = nat_addr == WAN || self.use_pool;
                prop_assert!(
                    !ours || verdict != Verdict::Accept,
                    "inbound ESP to a NAT address is never passed untranslated"
                );
            }
            Op::NatT { c, s } => {
                let h = ike_header(*c, *s, true, ExchangeType::INFORMATIONAL, IkeFlags::V2_INITIATOR, 3);
                self.packet(&build::natt_ike(client(*c), 4500, server(*s), 4500, &h));
            }
            Op::Garbage(bytes) => {
                self.packet(bytes);
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(*ms);
                self.engine.handle_timeout(self.now);
            }
            Op::Clear(which) => {
                let scope = which.map_or(ClearScope::All, |c| ClearScope::Client(client(c)));
                self.engine.clear(self.now, scope);
            }
        }
        self.check_invariants()
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        let gate_timeout = self.engine.config().timeouts.esp_gate;
        let mut open_inbound: HashMap<(Ipv4Addr, Ipv4Addr), Ipv4Addr> = HashMap::new();
        for g in self.engine.gate_status(self.now) {
            prop_assert!(g.expires_in <= gate_timeout);
            if g.state == GateState::Open {
                let last = self.last_phase2.get(&(g.client, g.server)).copied();
                prop_assert!(
                    last.is_some_and(|t| self.now < t + gate_timeout),
                    "gate of {} -> {} open at {:?}, last phase-2 at {last:?}",
                    g.client,
                    g.server,
                    self.now
                );
            }
            if g.direction == Direction::Inbound && g.state == GateState::Open {
                if let Some(other) = open_inbound.insert((g.server, g.nat), g.client) {
                    prop_assert!(
                        false,
                        "two open inbound gates for ({}, {}): {other} and {}",
                        g.server,
                        g.nat,
                        g.client
                    );
                }
            }
        }
        let sizes = self.engine.table_sizes();
        let limits = self.engine.config().limits;
        prop_assert!(sizes.sessions <= limits.max_sessions);
        prop_assert!(sizes.ike_sas <= limits.max_ike_sas);
        prop_assert!(sizes.ike_flows <= limits.max_ike_flows);
        prop_assert!(sizes.pairs <= limits.max_pairs);
        prop_assert!(sizes.bindings <= limits.max_bindings);
        prop_assert!(sizes.pending_events <= limits.max_pending_events);
        // The heap may hold stale items, but never more than a few per live entry.
        let live = sizes.sessions + sizes.ike_sas + sizes.ike_flows + sizes.pairs + sizes.gate_slots + sizes.bindings;
        prop_assert!(sizes.timers <= 2 * live + 64, "{} timers for {live} entries", sizes.timers);
        for b in self.engine.binding_status(self.now) {
            let per_client_sessions =
                self.engine.session_status(self.now).iter().filter(|s| s.client == b.client).count();
            prop_assert!(per_client_sessions <= limits.max_sessions_per_client as usize);
            prop_assert_eq!(per_client_sessions as u32, b.sessions, "binding reference count for {}", b.client);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_random_interleavings(use_pool in any::<bool>(), ops in proptest::collection::vec(op(), 1..160)) {
        let mut engine = Engine::new(config(use_pool)).unwrap();
        engine.handle_egress_address(Instant::ZERO, Some(WAN));
        let mut run = Run { engine, use_pool, now: Instant::ZERO, last_phase2: HashMap::new() };
        for op in &ops {
            run.step(op)?;
        }
        // Everything expires: far in the future, every table is empty.
        run.now += Duration::from_secs(100_000);
        run.engine.handle_timeout(run.now);
        let sizes = run.engine.table_sizes();
        prop_assert_eq!((sizes.sessions, sizes.ike_sas, sizes.ike_flows, sizes.pairs, sizes.gate_slots, sizes.bindings), (0, 0, 0, 0, 0, 0));
    }

    #[test]
    fn any_bytes_get_a_verdict(bytes in proptest::collection::vec(any::<u8>(), 0..200), prefix in prop_oneof![Just(0x45u8), Just(0x60u8), any::<u8>()]) {
        let mut engine = Engine::new(EngineConfig::default()).unwrap();
        engine.handle_egress_address(Instant::ZERO, Some(WAN));
        let mut packet = vec![prefix];
        packet.extend_from_slice(&bytes);
        let _ = engine.handle_packet(Instant::from_secs(1), &packet);
        prop_assert_eq!(engine.counters().packets, 1);
    }
}
