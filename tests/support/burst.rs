//! Many IKE peers behind one router, in virtual time: the engine between N clients and one
//! server, with the daemon's held-packet queue (`shell::held`), so that first-traffic
//! delays and misbindings can be measured and counted (issue "Scale and faults", item 2).
//!
//! The peers behave as libreswan does with `encapsulation=no`: IKEv2 is IKE_SA_INIT then
//! IKE_AUTH (RFC 7296 §1.2), IKEv1 is Main Mode then Quick Mode (RFC 2409 §5, §5.5). A
//! requester retransmits after 0.5 s, doubling each time, and gives up after 60 s, then
//! starts over. The client installs its SAs when the last answer reaches it (IKEv2: the
//! IKE_AUTH response; IKEv1: Quick Mode's second message), the server when it sends that
//! answer (IKEv2) or gets the third message (IKEv1). Traffic is a ping a second from each
//! client, answered by the server, and optionally ESP the server starts on its own.
//! The LAN takes 1 ms each way and the WAN 10 ms.
//!
//! Every SPI has an owner, so the model knows when the engine delivers a client's inbound
//! ESP to another client (a misbinding) and which of the named cases explains it
//! ([`Misbindings`], and the engine's `esp.rs` module doc): the owner's gates had ended
//! unused (`owed`), the owner's inbound session had been learned and was gone (`lost`), or
//! the engine never saw the owner's phase 2 (`unseen`). Anything else is `unexplained`.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use ike_esp_alg::engine::{
    Action, AddressRange, Direction, Engine, EngineConfig, Event, Ipv4Net, PoolConfig, RuleConfig, SourceNat,
    Translation, Verdict,
};
use ike_esp_alg::shell::held::{HeldPackets, Offer};
use ike_esp_alg::time::Instant;
use ike_esp_alg::wire::build::{self, IkeHeader};
use ike_esp_alg::wire::{ExchangeType, IkeFlags, IkeSpi, MessageId, Spi};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::Duration;

pub const WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const LAN_MS: u64 = 1;
const WAN_MS: u64 = 10;
/// How long the flooding client floods before the others start.
pub const FLOOD_HEAD_START_MS: u64 = 2_000;
/// How long a client talks before it goes quiet (`BurstConfig::quiet_ms`).
const TALK_BEFORE_QUIET_MS: u64 = 90_000;
const PING_EVERY_MS: u64 = 1_000;
const RETRANSMIT_FIRST_MS: u64 = 500;
const GIVE_UP_MS: u64 = 60_000;

/// When the clients start passing traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Traffic {
    /// Each client pings as soon as its own tunnel is up.
    WhenUp,
    /// Every client pings once all tunnels are up (as a lab script does).
    AfterAllUp,
}

#[derive(Clone, Debug)]
pub struct BurstConfig {
    pub clients: u32,
    /// 0: every client behind the interface address; k: a pool of k addresses.
    pub pool: u8,
    /// Every k-th client speaks IKEv1 (0: none).
    pub ikev1_every: u32,
    /// Clients start within this many milliseconds of each other.
    pub start_spread_ms: u64,
    pub traffic: Traffic,
    /// Every k-th client's server starts sending ESP on its own, `server_first_ms` after
    /// its side of the tunnel is up (0: none).
    pub server_first_every: u32,
    pub server_first_ms: u64,
    /// Every k-th client's phase 2 passes the router unseen by the engine, as when the
    /// queue fails open (0: none).
    pub unseen_every: u32,
    /// Client 0 (IKEv2) floods: once its tunnel is up, a new CREATE_CHILD_SA request this
    /// often, each answered by the server (0: no flood).
    pub flood_every_ms: u64,
    /// 90 s after its first reply, every client goes quiet for this long, then its server
    /// speaks first again (0: never quiet).
    pub quiet_ms: u64,
    /// Each IKE and ESP packet is lost with this chance, before or after the router.
    pub loss: f64,
    pub gate_timeout: Duration,
    pub session_timeout: Duration,
    /// The engine's early release of answered, idle gates while others wait (None: off).
    pub gate_settle: Option<Duration>,
    pub seed: u64,
    pub run_ms: u64,
}

impl BurstConfig {
    /// `clients` clients at once behind one address, the engine's defaults.
    pub fn at_once(clients: u32) -> BurstConfig {
        let defaults = EngineConfig::default();
        BurstConfig {
            clients,
            pool: 0,
            ikev1_every: 2,
            start_spread_ms: 200,
            traffic: Traffic::AfterAllUp,
            server_first_every: 0,
            server_first_ms: 0,
            unseen_every: 0,
            flood_every_ms: 0,
            quiet_ms: 0,
            loss: 0.0,
            gate_timeout: defaults.timeouts.esp_gate,
            session_timeout: defaults.timeouts.esp_session,
            gate_settle: defaults.timeouts.esp_gate_settle,
            seed: 1,
            run_ms: 300_000,
        }
    }

    fn engine_config(&self) -> EngineConfig {
        let mut config = EngineConfig::default();
        config.timeouts.esp_gate = self.gate_timeout;
        config.timeouts.esp_session = self.session_timeout;
        config.timeouts.esp_gate_settle = self.gate_settle;
        config.limits.max_waiters_per_gate = config.limits.max_waiters_per_gate.max(self.clients as usize);
        let source_nat = if self.pool == 0 {
            SourceNat::Interface
        } else {
            let last = Ipv4Addr::new(203, 0, 113, 19 + self.pool);
            let range = AddressRange::new(Ipv4Addr::new(203, 0, 113, 20), last).unwrap();
            config.pools = vec![PoolConfig { name: "pool".into(), ranges: vec![range] }];
            SourceNat::Pool(0)
        };
        config.rules = vec![RuleConfig {
            name: "lan".into(),
            rule_set: "lan_wan".into(),
            sources: vec![Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), 8).unwrap()],
            destinations: Vec::new(),
            source_nat,
        }];
        config
    }
}

/// SAs whose inbound ESP reached the wrong client, by what explains it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Misbindings {
    /// The owner's exchange ended with its inbound gate unused (expired or released).
    pub owed: u64,
    /// The owner's inbound session had been learned and was gone (idle expiry, restart).
    pub lost: u64,
    /// The engine never saw the owner's phase 2 (queue failed open, daemon down).
    pub unseen: u64,
    /// The owner's own inbound gate was hit by another client's stray SPI (one of the
    /// cases above), so its SPI came with no gate of its own: the victim's side of one.
    pub displaced: u64,
    /// None of the above: a defect.
    pub unexplained: u64,
}

impl Misbindings {
    pub fn total(&self) -> u64 {
        self.owed + self.lost + self.unseen + self.displaced + self.unexplained
    }
}

#[derive(Clone, Debug, Default)]
pub struct BurstReport {
    /// Per client: when its tunnel was first up on its side (ms from the start).
    pub up_ms: Vec<Option<u64>>,
    /// Per client: when it first got a reply to a ping (ms from the start).
    pub first_reply_ms: Vec<Option<u64>>,
    /// Per client: from its first ping to its first reply.
    pub first_reply_wait_ms: Vec<Option<u64>>,
    pub phase2_dropped: u64,
    pub retransmissions: u64,
    pub restarts: u64,
    pub misbindings: Misbindings,
    /// Inbound ESP the engine dropped for want of a gate.
    pub inbound_dropped: u64,
    pub gates_released_early: u64,
}

impl BurstReport {
    pub fn all_up_ms(&self) -> Option<u64> {
        self.up_ms.iter().try_fold(0, |max, t| t.map(|t| max.max(t)))
    }

    /// (p50, p90, max) of the values present, and how many are missing.
    pub fn spread(values: &[Option<u64>]) -> (u64, u64, u64, usize) {
        let mut present: Vec<u64> = values.iter().flatten().copied().collect();
        present.sort_unstable();
        let missing = values.len() - present.len();
        let at = |p: f64| present.get(((present.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0);
        (at(0.5), at(0.9), present.last().copied().unwrap_or(0), missing)
    }
}

/// One IKE message of a client's connect script.
#[derive(Clone, Copy, Debug)]
struct Msg {
    from_client: bool,
    exchange: ExchangeType,
    flags: u8,
    message_id: u32,
    first: bool,
    phase2: bool,
}

#[derive(Debug)]
struct Peer {
    addr: Ipv4Addr,
    v1: bool,
    generation: u64,
    script: Vec<Msg>,
    /// Index of the request being sent (rounds are request + answer).
    round: usize,
    round_started: u64,
    attempt: u32,
    client_up: bool,
    server_up: bool,
    spi_in: Spi,
    spi_out: Spi,
    pinging: bool,
    first_ping: Option<u64>,
    quiet_until: u64,
    /// What the engine has done about this client's current inbound SA.
    inbound_learned: bool,
    inbound_lost: bool,
    gates_ended_unused: bool,
    displaced: bool,
    server_sending: bool,
    /// The server's sequence number on the current inbound SA (RFC 4303 §3.3.3).
    server_sequence: u32,
    flood_message_id: u32,
    flooding: bool,
}

impl Peer {
    fn new(addr: Ipv4Addr, v1: bool) -> Peer {
        Peer {
            addr,
            v1,
            generation: 0,
            script: Sim::script(v1),
            round: 0,
            round_started: 0,
            attempt: 0,
            client_up: false,
            server_up: false,
            spi_in: Spi(0),
            spi_out: Spi(0),
            pinging: false,
            first_ping: None,
            quiet_until: 0,
            inbound_learned: false,
            inbound_lost: false,
            gates_ended_unused: false,
            displaced: false,
            server_sending: false,
            server_sequence: 0,
            flood_message_id: 0,
            flooding: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Start(u32),
    /// Send round `round` of generation `generation`, attempt `attempt`.
    Send {
        client: u32,
        generation: u64,
        round: usize,
        attempt: u32,
    },
    Ping(u32),
    ServerEsp(u32),
    Flood(u32),
    /// An in-flight packet reaches the router.
    AtRouter(u64),
    /// An in-flight packet the router let through reaches its peer.
    Arrive(u64),
}

/// A packet crossing the router, and what happens once it is through.
#[derive(Clone, Debug)]
struct Crossing {
    client: u32,
    bytes: Vec<u8>,
    what: What,
}

#[derive(Clone, Copy, Debug)]
enum What {
    Ike { generation: u64, round: usize, answer: bool },
    PingOut,
    EspIn,
    Flood { message_id: u32, answer: bool },
}

struct Sim {
    cfg: BurstConfig,
    engine: Engine,
    held: HeldPackets<Crossing>,
    now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    rng: u64,
    peers: Vec<Peer>,
    ike_nat: HashMap<Ipv4Addr, (Ipv4Addr, u16)>,
    bindings: HashMap<Ipv4Addr, Ipv4Addr>,
    spi_owner: HashMap<u32, u32>,
    in_flight: HashMap<u64, (Crossing, Option<Translation>)>,
    misbound: HashSet<u32>,
    unseen: HashSet<u32>,
    report: BurstReport,
}

fn client_addr(n: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, (n / 200) as u8, (n % 200 + 10) as u8)
}

impl Sim {
    fn rand(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn lost(&mut self) -> bool {
        self.cfg.loss > 0.0 && (self.rand() >> 11) as f64 / (1u64 << 53) as f64 <= self.cfg.loss / 2.0
    }

    fn at(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, ev)));
    }

    fn script(v1: bool) -> Vec<Msg> {
        let m = |from_client, exchange, flags, message_id, first, phase2| Msg {
            from_client,
            exchange,
            flags,
            message_id,
            first,
            phase2,
        };
        if v1 {
            let mm = ExchangeType::IDENTITY_PROTECTION;
            let qm = ExchangeType::QUICK_MODE;
            let e = IkeFlags::V1_ENCRYPTION;
            vec![
                m(true, mm, 0, 0, true, false),
                m(false, mm, 0, 0, false, false),
                m(true, mm, 0, 0, false, false),
                m(false, mm, 0, 0, false, false),
                m(true, mm, e, 0, false, false),
                m(false, mm, e, 0, false, false),
                m(true, qm, e, 0x5eed_0001, false, true),
                m(false, qm, e, 0x5eed_0001, false, true),
                m(true, qm, e, 0x5eed_0001, false, true),
            ]
        } else {
            let (i, r) = (IkeFlags::V2_INITIATOR, IkeFlags::V2_RESPONSE);
            vec![
                m(true, ExchangeType::IKE_SA_INIT, i, 0, true, false),
                m(false, ExchangeType::IKE_SA_INIT, r, 0, false, false),
                m(true, ExchangeType::IKE_AUTH, i, 1, false, true),
                m(false, ExchangeType::IKE_AUTH, r, 1, false, true),
            ]
        }
    }

    fn ike_packet(&self, c: u32, msg: &Msg) -> Option<Vec<u8>> {
        let p = &self.peers[c as usize];
        let header = IkeHeader {
            major_version: if p.v1 { 1 } else { 2 },
            exchange: msg.exchange,
            flags: msg.flags,
            message_id: MessageId(msg.message_id),
            initiator_spi: IkeSpi(0x1000_0000_0000_0000 | p.generation << 32 | u64::from(c)),
            responder_spi: if msg.first {
                IkeSpi::ZERO
            } else {
                IkeSpi(0x2000_0000_0000_0000 | p.generation << 32 | u64::from(c))
            },
            body_len: 64,
        };
        if msg.from_client {
            Some(build::ike(p.addr, 500, SERVER, 500, &header))
        } else {
            let (nat, port) = *self.ike_nat.get(&p.addr)?;
            Some(build::ike(SERVER, 500, nat, port, &header))
        }
    }

    fn start(&mut self, c: u32) {
        let seed = self.rand();
        let p = &mut self.peers[c as usize];
        p.generation += 1;
        p.round = 0;
        p.client_up = false;
        p.server_up = false;
        p.inbound_learned = false;
        p.inbound_lost = false;
        p.gates_ended_unused = false;
        p.displaced = false;
        p.server_sequence = 0;
        p.spi_in = Spi(0xc000_0000 | (c << 12) | (p.generation as u32 & 0xfff));
        p.spi_out = Spi(0x5000_0000 | (c << 12) | (seed as u32 & 0xfff));
        self.spi_owner.insert(p.spi_in.0, c);
        let generation = p.generation;
        self.schedule(self.now, Ev::Send { client: c, generation, round: 0, attempt: 0 });
    }

    /// Sends the request of round `round` (a message and the answer it expects).
    fn send(&mut self, c: u32, generation: u64, round: usize, attempt: u32) {
        let p = &self.peers[c as usize];
        if p.generation != generation || p.round != round {
            return;
        }
        if attempt == 0 {
            self.peers[c as usize].round_started = self.now;
        } else {
            self.report.retransmissions += 1;
        }
        if self.now >= self.peers[c as usize].round_started + GIVE_UP_MS {
            self.report.restarts += 1;
            return self.schedule(self.now + 1_000, Ev::Start(c));
        }
        self.peers[c as usize].attempt = attempt;
        let next = self.now + (RETRANSMIT_FIRST_MS << attempt.min(7));
        self.schedule(next, Ev::Send { client: c, generation, round, attempt: attempt + 1 });
        let msg = self.peers[c as usize].script[round];
        self.cross_ike(c, generation, round, msg, false);
    }

    fn cross_ike(&mut self, c: u32, generation: u64, index: usize, msg: Msg, answer: bool) {
        let Some(bytes) = self.ike_packet(c, &msg) else { return };
        if self.lost() {
            return;
        }
        let crossing = Crossing { client: c, bytes, what: What::Ike { generation, round: index, answer } };
        if msg.phase2 && self.unseen.contains(&c) {
            // The queue failed open: the router forwards it without the engine.
            return self.forward(crossing, None);
        }
        self.send_to_router(crossing);
    }

    /// One offer to the engine, as the daemon's decide makes it.
    fn offer(&mut self, offer: Offer<Crossing>) {
        let now = self.at();
        let verdict = self.engine.handle_packet(now, &offer.packet.bytes);
        self.drain();
        let waits = matches!(verdict, Verdict::Drop(reason) if reason.is_wait());
        let Some(offer) = self.held.settle(now, offer, waits) else { return };
        match verdict {
            Verdict::Drop(_) => {
                if matches!(offer.packet.what, What::Ike { .. }) {
                    self.report.phase2_dropped += 1;
                }
                if matches!(offer.packet.what, What::EspIn) {
                    self.report.inbound_dropped += 1;
                }
            }
            Verdict::Accept => self.forward(offer.packet, None),
            Verdict::AcceptTranslated(t) => self.forward(offer.packet, Some(t)),
        }
    }

    fn offer_held(&mut self) {
        let generation = self.engine.slot_generation();
        for offer in self.held.take_due(self.at(), generation) {
            self.offer(offer);
        }
    }

    /// Sends a packet towards the router: the LAN is 1 ms, the WAN 10 ms, each way.
    fn send_to_router(&mut self, crossing: Crossing) {
        let delay = if self.sent_by_client(&crossing) { LAN_MS } else { WAN_MS };
        self.fly(delay, crossing, None, Ev::AtRouter);
    }

    /// The router lets a packet through towards its peer.
    fn forward(&mut self, crossing: Crossing, translation: Option<Translation>) {
        let delay = if self.sent_by_client(&crossing) { WAN_MS } else { LAN_MS };
        self.fly(delay, crossing, translation, Ev::Arrive);
    }

    fn sent_by_client(&self, crossing: &Crossing) -> bool {
        match crossing.what {
            What::Ike { round, .. } => self.peers[crossing.client as usize].script[round].from_client,
            What::PingOut => true,
            What::EspIn => false,
            What::Flood { answer, .. } => !answer,
        }
    }

    fn fly(&mut self, delay: u64, crossing: Crossing, translation: Option<Translation>, ev: fn(u64) -> Ev) {
        self.seq += 1;
        let id = self.seq;
        self.in_flight.insert(id, (crossing, translation));
        self.schedule(self.now + delay, ev(id));
    }

    /// A packet the router let through reaches the other side.
    fn through(&mut self, crossing: Crossing, translation: Option<Translation>) {
        if self.lost() {
            return;
        }
        let c = crossing.client;
        match crossing.what {
            What::Ike { generation, round, answer } => self.ike_arrived(c, generation, round, answer),
            What::Flood { message_id, answer: false } => self.cross_flood(c, message_id, true),
            What::Flood { answer: true, .. } => {}
            What::PingOut => {
                let p = &self.peers[c as usize];
                if p.server_up && self.now >= p.quiet_until {
                    self.server_sends(c);
                }
            }
            What::EspIn => {
                // The packet is client `c`'s: its SPI is one `c` chose.
                let Some(Translation::Destination(to)) = translation else { return };
                if to != self.peers[c as usize].addr {
                    return self.count_misbinding(c);
                }
                let now = self.now;
                let p = &mut self.peers[c as usize];
                p.inbound_learned = true;
                if self.report.first_reply_ms[c as usize].is_none() {
                    if let Some(first_ping) = p.first_ping {
                        self.report.first_reply_ms[c as usize] = Some(now);
                        self.report.first_reply_wait_ms[c as usize] = Some(now - first_ping);
                    }
                }
            }
        }
    }

    /// Counts an SA once, the first time its inbound ESP reaches another client.
    fn count_misbinding(&mut self, owner: u32) {
        let p = &self.peers[owner as usize];
        if !self.misbound.insert(p.spi_in.0) {
            return;
        }
        let m = &mut self.report.misbindings;
        if self.unseen.contains(&owner) {
            m.unseen += 1;
        } else if p.inbound_lost {
            m.lost += 1;
        } else if p.gates_ended_unused {
            m.owed += 1;
        } else if p.displaced {
            m.displaced += 1;
        } else {
            m.unexplained += 1;
        }
    }

    fn ike_arrived(&mut self, c: u32, generation: u64, index: usize, answer: bool) {
        let now = self.now;
        let p = &mut self.peers[c as usize];
        if p.generation != generation {
            return;
        }
        let msg = p.script[index];
        if !answer {
            // A request reached its peer, which answers (again, if it is a retransmission).
            if msg.exchange == ExchangeType::QUICK_MODE && index + 1 == p.script.len() {
                // Quick Mode's third message: the responder installs its SAs.
                p.round = index + 1;
                p.server_up = true;
                return self.server_up(c);
            }
            let reply = p.script[index + 1];
            if msg.exchange == ExchangeType::IKE_AUTH {
                // The IKEv2 responder installs its Child SA as it sends the response.
                p.server_up = true;
                self.server_up(c);
            }
            return self.cross_ike(c, generation, index + 1, reply, true);
        }
        // An answer reached the requester: the round is done.
        if p.round + 1 != index {
            return;
        }
        p.round = index + 1;
        if msg.phase2 {
            p.client_up = true;
            let floods = c == 0 && self.cfg.flood_every_ms > 0 && !p.flooding;
            p.flooding |= floods;
            self.report.up_ms[c as usize].get_or_insert(now);
            if msg.exchange == ExchangeType::QUICK_MODE {
                // The third message, repeated until the responder has it (the responder's
                // retransmissions of the second bring it again).
                self.schedule(now, Ev::Send { client: c, generation, round: index + 1, attempt: 0 });
            }
            if floods {
                self.schedule(now, Ev::Flood(c));
            }
            return self.maybe_start_traffic(c);
        }
        self.schedule(now + 5, Ev::Send { client: c, generation, round: index + 1, attempt: 0 });
    }

    /// One message of the flooding client's endless CREATE_CHILD_SA exchanges.
    fn cross_flood(&mut self, c: u32, message_id: u32, answer: bool) {
        let flags = if answer { IkeFlags::V2_RESPONSE } else { IkeFlags::V2_INITIATOR };
        let exchange = ExchangeType::CREATE_CHILD_SA;
        let msg = Msg { from_client: !answer, exchange, flags, message_id, first: false, phase2: true };
        let Some(bytes) = self.ike_packet(c, &msg) else { return };
        self.send_to_router(Crossing { client: c, bytes, what: What::Flood { message_id, answer } });
    }

    fn flood(&mut self, c: u32) {
        self.schedule(self.now + self.cfg.flood_every_ms, Ev::Flood(c));
        let p = &mut self.peers[c as usize];
        p.flood_message_id += 1;
        let message_id = 100 + p.flood_message_id;
        self.cross_flood(c, message_id, false);
    }

    fn server_up(&mut self, c: u32) {
        let every = self.cfg.server_first_every;
        if every > 0 && c % every == 0 && !self.peers[c as usize].server_sending {
            self.peers[c as usize].server_sending = true;
            self.schedule(self.now + self.cfg.server_first_ms, Ev::ServerEsp(c));
        }
    }

    fn maybe_start_traffic(&mut self, c: u32) {
        match self.cfg.traffic {
            Traffic::WhenUp => self.start_pinging(c),
            Traffic::AfterAllUp => {
                if self.peers.iter().all(|p| p.client_up) {
                    for c in 0..self.cfg.clients {
                        self.start_pinging(c);
                    }
                }
            }
        }
    }

    fn start_pinging(&mut self, c: u32) {
        let p = &mut self.peers[c as usize];
        if !p.pinging {
            p.pinging = true;
            self.schedule(self.now, Ev::Ping(c));
        }
    }

    fn ping(&mut self, c: u32) {
        self.schedule(self.now + PING_EVERY_MS, Ev::Ping(c));
        let p = &mut self.peers[c as usize];
        if !p.client_up || self.now < p.quiet_until {
            return;
        }
        p.first_ping.get_or_insert(self.now);
        let talked = self.report.first_reply_ms[c as usize].is_some_and(|t| self.now >= t + TALK_BEFORE_QUIET_MS);
        if talked && self.cfg.quiet_ms > 0 && p.quiet_until == 0 {
            // Quiet for a while; then the server speaks first.
            p.quiet_until = self.now + self.cfg.quiet_ms;
            let at = p.quiet_until;
            self.schedule(at, Ev::ServerEsp(c));
            return;
        }
        let bytes = build::esp(p.addr, SERVER, p.spi_out, 1, 64);
        if self.lost() {
            return;
        }
        self.send_to_router(Crossing { client: c, bytes, what: What::PingOut });
    }

    fn server_sends(&mut self, c: u32) {
        let p = &self.peers[c as usize];
        let Some(&(nat, _)) = self.ike_nat.get(&p.addr) else { return };
        let nat = self.bindings.get(&p.addr).copied().unwrap_or(nat);
        let sequence = p.server_sequence + 1;
        self.peers[c as usize].server_sequence = sequence;
        let bytes = build::esp(SERVER, nat, self.peers[c as usize].spi_in, sequence, 64);
        if self.lost() {
            return;
        }
        self.send_to_router(Crossing { client: c, bytes, what: What::EspIn });
    }

    fn drain(&mut self) {
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::InstallBinding(b) => {
                    self.bindings.insert(b.client, b.nat);
                }
                Action::InstallIkeNat(n) => {
                    self.ike_nat.insert(n.client, (n.nat, n.nat_port));
                }
                _ => {}
            }
        }
        while let Some(event) = self.engine.poll_event() {
            match event {
                Event::GatesExpired { pair, inbound_hit: None, .. } => self.mark_unused(pair.client),
                Event::GatesReleasedEarly { pair, .. } => {
                    self.report.gates_released_early += 1;
                    self.mark_unused(pair.client);
                }
                Event::SessionEnded { key, .. } if key.direction == Direction::Inbound => {
                    if let Some(&owner) = self.spi_owner.get(&key.spi.0) {
                        self.peers[owner as usize].inbound_lost = true;
                    }
                }
                Event::SessionCreated { key, client, .. } if key.direction == Direction::Inbound => {
                    let Some(&owner) = self.spi_owner.get(&key.spi.0) else { continue };
                    if self.peers[owner as usize].addr == client {
                        self.peers[owner as usize].inbound_learned = true;
                    } else if let Some(victim) = self.peers.iter_mut().find(|p| p.addr == client) {
                        // Its gate went to another client's SPI; its own finds none.
                        victim.displaced = true;
                    }
                }
                _ => {}
            }
        }
    }

    fn mark_unused(&mut self, client: Ipv4Addr) {
        if let Some(p) = self.peers.iter_mut().find(|p| p.addr == client) {
            if !p.inbound_learned {
                p.gates_ended_unused = true;
            }
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Start(c) => self.start(c),
            Ev::Send { client, generation, round, attempt } => self.send(client, generation, round, attempt),
            Ev::Ping(c) => self.ping(c),
            Ev::AtRouter(id) => {
                if let Some((crossing, _)) = self.in_flight.remove(&id) {
                    self.offer(Offer::new(crossing, self.at()));
                }
            }
            Ev::Arrive(id) => {
                if let Some((crossing, translation)) = self.in_flight.remove(&id) {
                    self.through(crossing, translation);
                }
            }
            Ev::Flood(c) => self.flood(c),
            Ev::ServerEsp(c) => {
                let p = &self.peers[c as usize];
                if p.server_up {
                    self.server_sends(c);
                }
                self.schedule(self.now + PING_EVERY_MS, Ev::ServerEsp(c));
            }
        }
    }
}

/// Runs one burst and reports what happened.
pub fn run(cfg: &BurstConfig) -> BurstReport {
    let mut engine = Engine::new(cfg.engine_config()).expect("a valid configuration");
    engine.handle_egress_address(Instant::from_millis(0), Some(WAN));
    let n = cfg.clients as usize;
    let mut sim = Sim {
        engine,
        held: HeldPackets::for_gate_timeout(cfg.gate_timeout),
        now: 0,
        seq: 0,
        events: BinaryHeap::new(),
        rng: cfg.seed.max(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        peers: Vec::with_capacity(n),
        ike_nat: HashMap::new(),
        bindings: HashMap::new(),
        spi_owner: HashMap::new(),
        in_flight: HashMap::new(),
        misbound: HashSet::new(),
        unseen: HashSet::new(),
        report: BurstReport {
            up_ms: vec![None; n],
            first_reply_ms: vec![None; n],
            first_reply_wait_ms: vec![None; n],
            ..BurstReport::default()
        },
        cfg: cfg.clone(),
    };
    for c in 0..cfg.clients {
        let v1 = cfg.ikev1_every > 0 && c % cfg.ikev1_every == cfg.ikev1_every - 1;
        sim.peers.push(Peer::new(client_addr(c), v1));
        if cfg.unseen_every > 0 && c % cfg.unseen_every == cfg.unseen_every - 1 {
            sim.unseen.insert(c);
        }
        let at = if cfg.start_spread_ms == 0 { 0 } else { sim.rand() % cfg.start_spread_ms };
        // A flooder is already at it when the others start.
        let at = if cfg.flood_every_ms > 0 && c > 0 { FLOOD_HEAD_START_MS + at } else { at };
        sim.schedule(at, Ev::Start(c));
    }
    let mut stuck_at = None;
    while let Some(&Reverse((at, _, ev))) = sim.events.peek() {
        if at > cfg.run_ms {
            break;
        }
        // The engine's timers and the held queue's deadlines, in time order with events.
        let deadline = [sim.engine.poll_timeout(), sim.held.next_deadline()].into_iter().flatten().min();
        if let Some(due) = deadline.filter(|d| d.as_millis() <= at && stuck_at != Some(*d)) {
            stuck_at = Some(due);
            sim.now = sim.now.max(due.as_millis());
            let now = sim.at();
            if sim.engine.poll_timeout().is_some_and(|t| t <= now) {
                sim.engine.handle_timeout(now);
                sim.drain();
            }
            sim.offer_held();
            continue;
        }
        sim.events.pop();
        sim.now = sim.now.max(at);
        sim.handle(ev);
        sim.offer_held();
    }
    sim.report
}
