//! Long run in virtual time (issue "Scale and faults", item 4): the engine driven through a
//! simulated day of traffic from many clients behind one NAT router.
//!
//! Clients in 10.1.0.0/16 are translated to a pool of eight addresses, clients in
//! 10.2.0.0/16 to the interface address. Half speak IKEv1 (Main Mode, then Quick Mode,
//! RFC 2409 §5), half IKEv2 (IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, RFC 7296 §1). Each
//! client rekeys every few minutes with jitter (a new phase-2 exchange and new SPIs, started
//! by either side), sends traffic that the "kernel" reports as activity, goes silent for
//! long enough that its sessions (and sometimes its IKE SAs) expire, then comes back with a
//! new IKE SA. Every IKE message and first ESP packet is lost with a fixed probability,
//! before or after the router, and retransmitted (IKE on strongSwan's 4 s x 1.8 backoff).
//! Packets the engine refuses only until a gate frees up are held and offered again with
//! the daemon's own queue (`shell::held`), as the daemon does. Every few hours the engine is
//! snapshotted, dropped and restored into a new engine, as the daemon does across kill -9.
//! A xorshift PRNG with a fixed seed makes every run the same.
//!
//! Hard invariants (asserted): every table within its cap at every step; no ESP session
//! present longer than `esp_session_timeout` (+ one tick) after its last activity; no gate
//! present longer than `esp_gate_timeout` (+ one tick) after the last message that could
//! have extended it. Printed: one line per simulated hour, and a summary.
//!
//! ```text
//! cargo run --release --example long_run -- [--hours 24] [--clients 1000] [--loss 0.02] [--seed N]
//! ```
// A counting global allocator is the one unsafe thing here: GlobalAlloc is an unsafe trait.
#![allow(unsafe_code)]
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use ike_esp_alg::engine::{
    Action, ActivityReport, AddressRange, Direction, Engine, EngineConfig, Ipv4Net, PoolConfig, RuleConfig, SessionKey,
    Snapshot, SourceNat, TableSizes, Verdict,
};
use ike_esp_alg::shell::held::{HeldPackets, Offer};
use ike_esp_alg::time::Instant;
use ike_esp_alg::wire::build::{self, IkeHeader};
use ike_esp_alg::wire::{ExchangeType, IkeFlags, IkeSpi, MessageId, Spi};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::time::Duration;

/// Counts live heap bytes: all of them, and those allocated and freed inside engine calls.
struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static ENGINE_BYTES: AtomicIsize = AtomicIsize::new(0);
/// Set while the engine runs (the program has one thread), so its heap is told apart from
/// the simulation's own bookkeeping.
static IN_ENGINE: AtomicBool = AtomicBool::new(false);

fn engine_delta(bytes: usize, sign: isize) {
    if IN_ENGINE.load(Ordering::Relaxed) {
        ENGINE_BYTES.fetch_add(sign * bytes as isize, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        engine_delta(layout.size(), 1);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        engine_delta(layout.size(), -1);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        engine_delta(new_size, 1);
        engine_delta(layout.size(), -1);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` with the engine's heap attribution on.
fn in_engine<R>(f: impl FnOnce() -> R) -> R {
    IN_ENGINE.store(true, Ordering::Relaxed);
    let r = f();
    IN_ENGINE.store(false, Ordering::Relaxed);
    r
}

const WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const SERVERS: u32 = 4;
const TICK_MS: u64 = 100;
const HOUR_MS: u64 = 3_600_000;
const RESTART_EVERY_MS: u64 = 4 * HOUR_MS;
const RESTART_OFFSET_MS: u64 = 1_234_567;
const MAX_ATTEMPTS: u32 = 6;

fn server(n: u32) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, 1 + (n % SERVERS) as u8)
}

/// Client `n`: three in four behind the pool, the rest behind the interface address.
fn client(n: u32) -> Ipv4Addr {
    let net = if n % 4 == 3 { 2 } else { 1 };
    Ipv4Addr::new(10, net, (n >> 8) as u8, (n & 0xff) as u8)
}

fn config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.timeouts.esp_gate = Duration::from_secs(5);
    config.timeouts.esp_session = Duration::from_secs(600);
    config.timeouts.state = Duration::from_secs(1_800);
    config.timeouts.binding_linger = Duration::from_secs(300);
    let range = AddressRange::new(Ipv4Addr::new(203, 0, 113, 20), Ipv4Addr::new(203, 0, 113, 27)).unwrap();
    config.pools = vec![PoolConfig { name: "pool1".into(), ranges: vec![range] }];
    let rule = |name: &str, net: u8, source_nat| RuleConfig {
        name: name.into(),
        rule_set: "lan_wan".into(),
        sources: vec![Ipv4Net::new(Ipv4Addr::new(10, net, 0, 0), 16).unwrap()],
        destinations: Vec::new(),
        source_nat,
    };
    config.rules = vec![rule("pooled", 1, SourceNat::Pool(0)), rule("interface", 2, SourceNat::Interface)];
    config
}

/// Reproducible pseudo-random numbers (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// One IKE message of an exchange script.
#[derive(Clone, Copy, Debug)]
struct Msg {
    from_client: bool,
    exchange: ExchangeType,
    flags: u8,
    message_id: u32,
    /// The first message of phase 1: the responder SPI is still zero.
    first: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    Connect,
    Rekey,
}

/// An exchange in progress: its messages, then the first ESP packet each way.
#[derive(Debug)]
struct Op {
    kind: OpKind,
    started: u64,
    messages: Vec<Msg>,
    spi_out: Spi,
    spi_in: Spi,
    learned_out: Option<u64>,
    learned_in: Option<u64>,
}

#[derive(Debug)]
struct Client {
    addr: Ipv4Addr,
    server: Ipv4Addr,
    version: u8,
    generation: u64,
    /// Bumped on sleep and wake: older events are stale.
    epoch: u32,
    /// Bumped when an operation starts: older steps are stale.
    op_seq: u32,
    asleep: bool,
    op: Option<Op>,
    next_message_id: u32,
    next_server_message_id: u32,
    next_spi: u32,
    current: Option<(SessionKey, SessionKey)>,
}

impl Client {
    fn initiator_spi(&self) -> IkeSpi {
        IkeSpi(0x1000_0000_0000_0000 | self.generation << 40 | u64::from(u32::from(self.addr)))
    }
    fn responder_spi(&self) -> IkeSpi {
        IkeSpi(0x2000_0000_0000_0000 | self.generation << 40 | u64::from(u32::from(self.addr)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Step { client: u32, epoch: u32, op: u32, index: usize, attempt: u32 },
    FirstEsp { client: u32, epoch: u32, op: u32, outbound: bool, attempt: u32 },
    Rekey { client: u32, epoch: u32 },
    Traffic { client: u32, epoch: u32 },
    Sleep { client: u32, epoch: u32 },
    Wake { client: u32, epoch: u32 },
}

/// What to do once a packet arrived, or did not.
#[derive(Clone, Copy, Debug)]
enum Cont {
    Step { epoch: u32, op: u32, index: usize, attempt: u32, phase2: bool },
    Esp { epoch: u32, op: u32, outbound: bool, attempt: u32, key: Option<SessionKey> },
}

impl Cont {
    fn ids(&self) -> (u32, u32) {
        match *self {
            Cont::Step { epoch, op, .. } | Cont::Esp { epoch, op, .. } => (epoch, op),
        }
    }
    /// Phase-2 messages and outbound ESP can extend or resume a pair's gates.
    fn touches_gate(&self) -> bool {
        match *self {
            Cont::Step { phase2, .. } => phase2,
            Cont::Esp { outbound, .. } => outbound,
        }
    }
}

/// A packet on its way through the engine, possibly held by the shell.
#[derive(Debug)]
struct HeldPacket {
    client: u32,
    packet: Vec<u8>,
    cont: Cont,
}

/// What the simulation knows of one session the engine installed.
#[derive(Debug)]
struct Tracked {
    last_activity: u64,
    unreported: bool,
}

#[derive(Debug, Default)]
struct ActionCounts {
    install_binding: u64,
    remove_binding: u64,
    install_ike_nat: u64,
    remove_ike_nat: u64,
    install_session: u64,
    remove_session: u64,
}

struct Sim {
    config: EngineConfig,
    engine: Engine,
    rng: Rng,
    loss: f64,
    now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    clients: Vec<Client>,
    bindings: HashMap<Ipv4Addr, Ipv4Addr>,
    ike_nat: HashMap<(Ipv4Addr, Ipv4Addr), (Ipv4Addr, u16)>,
    sessions: HashMap<SessionKey, Tracked>,
    unreported: Vec<SessionKey>,
    /// (deadline, key): when a session must be gone unless it saw activity since.
    deadlines: BinaryHeap<Reverse<(u64, SessionKey)>>,
    /// Per pair, the last packet fed to the engine that could extend its gates.
    gate_touch: HashMap<(Ipv4Addr, Ipv4Addr), u64>,
    /// The daemon's queue of packets waiting for a gate (src/shell/held.rs).
    held: HeldPackets<HeldPacket>,
    first_traffic_failed: u64,
    actions: ActionCounts,
    /// Verdicts that dropped a simulated packet, by reason.
    drops: std::collections::BTreeMap<String, u64>,
    events_seen: u64,
    lost: u64,
    retransmissions: u64,
    ops_abandoned: u64,
    /// First-traffic delays, whole run and this hour: fixed-size, so the simulation's
    /// own heap stays flat and the heap figures show the engine's.
    first_traffic: Histogram,
    first_traffic_hour: Histogram,
    late_sessions: u64,
    early_sessions: u64,
    late_gates: u64,
    max_sizes: TableSizes,
    session_ms: u64,
    gate_ms: u64,
}

impl Sim {
    fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, ev)));
    }

    /// Hands the "kernel's" activity counts to the engine, as the daemon does before a
    /// session timer is handled.
    fn report_activity(&mut self) {
        for key in std::mem::take(&mut self.unreported) {
            let Some(t) = self.sessions.get_mut(&key) else { continue };
            t.unreported = false;
            let report = ActivityReport { packets: 1, bytes: 100, last_seen: Instant::from_millis(t.last_activity) };
            in_engine(|| self.engine.handle_session_activity(key, report));
        }
    }

    fn run_timers(&mut self) {
        let now = self.instant();
        if in_engine(|| self.engine.session_expiry_due(now)) {
            self.report_activity();
        }
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            in_engine(|| self.engine.handle_timeout(now));
        }
        self.drain();
    }

    fn feed(&mut self, packet: &[u8]) -> Verdict {
        let now = self.instant();
        if in_engine(|| self.engine.session_expiry_due(now)) {
            self.report_activity();
        }
        let verdict = in_engine(|| self.engine.handle_packet(now, packet));
        self.drain();
        verdict
    }

    fn touch(&mut self, key: SessionKey) {
        let deadline = self.now + self.session_ms;
        if let Some(t) = self.sessions.get_mut(&key) {
            t.last_activity = self.now;
            self.deadlines.push(Reverse((deadline, key)));
        }
    }

    fn drain(&mut self) {
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::InstallBinding(b) => {
                    self.actions.install_binding += 1;
                    self.bindings.insert(b.client, b.nat);
                }
                Action::RemoveBinding(_) => self.actions.remove_binding += 1,
                Action::InstallIkeNat(n) => {
                    self.actions.install_ike_nat += 1;
                    self.ike_nat.insert((n.client, n.server), (n.nat, n.nat_port));
                }
                Action::RemoveIkeNat(_) => self.actions.remove_ike_nat += 1,
                Action::InstallEspSession(s) => {
                    self.actions.install_session += 1;
                    if !self.sessions.contains_key(&s.key) {
                        self.sessions.insert(s.key, Tracked { last_activity: self.now, unreported: false });
                        self.deadlines.push(Reverse((self.now + self.session_ms, s.key)));
                    }
                }
                Action::RemoveEspSession(s) => {
                    self.actions.remove_session += 1;
                    if let Some(t) = self.sessions.remove(&s.key) {
                        if t.last_activity + self.session_ms > self.now {
                            self.early_sessions += 1;
                            eprintln!(
                                "EARLY: {:?} removed {} ms before its idle timeout",
                                s.key,
                                t.last_activity + self.session_ms - self.now
                            );
                        }
                    }
                }
            }
        }
        while self.engine.poll_event().is_some() {
            self.events_seen += 1;
        }
    }

    /// The hard invariants that are cheap enough for every tick.
    fn check_every_tick(&mut self) {
        let sizes = self.engine.table_sizes();
        let l = self.config.limits;
        assert!(sizes.sessions <= l.max_sessions, "sessions over cap: {sizes:?}");
        assert!(sizes.ike_sas <= l.max_ike_sas, "IKE SAs over cap: {sizes:?}");
        assert!(sizes.ike_flows <= l.max_ike_flows, "IKE flows over cap: {sizes:?}");
        assert!(sizes.pairs <= l.max_pairs, "pairs over cap: {sizes:?}");
        assert!(sizes.bindings <= l.max_bindings, "bindings over cap: {sizes:?}");
        assert!(sizes.gate_slots <= sizes.pairs, "more gate slots than pairs: {sizes:?}");
        assert!(sizes.pending_events <= l.max_pending_events, "events over cap: {sizes:?}");
        let m = &mut self.max_sizes;
        m.sessions = m.sessions.max(sizes.sessions);
        m.ike_sas = m.ike_sas.max(sizes.ike_sas);
        m.ike_flows = m.ike_flows.max(sizes.ike_flows);
        m.pairs = m.pairs.max(sizes.pairs);
        m.gate_slots = m.gate_slots.max(sizes.gate_slots);
        m.bindings = m.bindings.max(sizes.bindings);
        m.timers = m.timers.max(sizes.timers);
        while let Some(Reverse((deadline, key))) = self.deadlines.peek().copied() {
            if deadline + TICK_MS >= self.now {
                break;
            }
            self.deadlines.pop();
            let current = self.sessions.get(&key).is_some_and(|t| t.last_activity + self.session_ms == deadline);
            if current && self.engine.has_session(&key) {
                self.late_sessions += 1;
                eprintln!("LATE: session {key:?} still present {} ms after its idle timeout", self.now - deadline);
            }
        }
    }

    fn check_gates(&mut self) {
        let now = self.instant();
        let gates = in_engine(|| self.engine.gate_status(now));
        for gate in &gates {
            let touched = self.gate_touch.get(&(gate.client, gate.server)).copied().unwrap_or(0);
            if self.now > touched + self.gate_ms + TICK_MS {
                self.late_gates += 1;
                eprintln!("LATE: gate {gate:?} {} ms after the last message", self.now - touched);
            }
        }
        in_engine(|| drop(gates));
    }

    fn restart(&mut self) {
        self.report_activity();
        let now = self.instant();
        let config = self.config.clone();
        in_engine(|| {
            let text = self.engine.snapshot(now).encode();
            let snapshot = Snapshot::decode(&text).expect("own snapshot decodes");
            let mut engine = Engine::new(config).expect("valid config");
            engine.handle_egress_address(now, Some(WAN));
            let skipped = engine.restore(now, &snapshot);
            assert_eq!(skipped, 0, "a snapshot taken back at once skips nothing");
            self.engine = engine;
        });
        self.drain();
    }

    // ---- the clients ----

    fn start_op(&mut self, c: u32, kind: OpKind) {
        let rng_side = self.rng.chance(0.5);
        let cl = &mut self.clients[c as usize];
        cl.op_seq += 1;
        if kind == OpKind::Connect {
            cl.generation += 1;
            cl.next_message_id = 1;
            cl.next_server_message_id = 0;
        }
        let mut messages = Vec::new();
        let m =
            |from_client, exchange, flags, message_id, first| Msg { from_client, exchange, flags, message_id, first };
        let (i, r) = (IkeFlags::V2_INITIATOR, IkeFlags::V2_RESPONSE);
        match (cl.version, kind) {
            (1, OpKind::Connect) => {
                messages.push(m(true, ExchangeType::IDENTITY_PROTECTION, 0, 0, true));
                messages.push(m(false, ExchangeType::IDENTITY_PROTECTION, 0, 0, false));
            }
            (_, OpKind::Connect) => {
                messages.push(m(true, ExchangeType::IKE_SA_INIT, i, 0, true));
                messages.push(m(false, ExchangeType::IKE_SA_INIT, r, 0, false));
            }
            _ => {}
        }
        let e = IkeFlags::V1_ENCRYPTION;
        match (cl.version, kind) {
            (1, _) => {
                // Quick Mode message IDs are random and unique per IKE SA (RFC 2409 §5.5).
                let mid = 0x1000_0000 | cl.next_message_id;
                cl.next_message_id += 1;
                let by_client = kind == OpKind::Connect || rng_side;
                for k in 0..3 {
                    messages.push(m(by_client == (k != 1), ExchangeType::QUICK_MODE, e, mid, false));
                }
            }
            (_, OpKind::Connect) => {
                let mid = cl.next_message_id;
                cl.next_message_id += 1;
                messages.push(m(true, ExchangeType::IKE_AUTH, i, mid, false));
                messages.push(m(false, ExchangeType::IKE_AUTH, r, mid, false));
            }
            (_, OpKind::Rekey) if rng_side => {
                let mid = cl.next_message_id;
                cl.next_message_id += 1;
                messages.push(m(true, ExchangeType::CREATE_CHILD_SA, i, mid, false));
                messages.push(m(false, ExchangeType::CREATE_CHILD_SA, r, mid, false));
            }
            (_, OpKind::Rekey) => {
                // The responder's own requests have their own message ID space (RFC 7296 §2.2).
                let mid = cl.next_server_message_id;
                cl.next_server_message_id += 1;
                messages.push(m(false, ExchangeType::CREATE_CHILD_SA, 0, mid, false));
                messages.push(m(true, ExchangeType::CREATE_CHILD_SA, i | r, mid, false));
            }
        }
        let spi_out = Spi(0x0100_0000 | c << 12 | (cl.next_spi & 0xfff));
        let spi_in = Spi(0x8100_0000 | c << 12 | (cl.next_spi & 0xfff));
        cl.next_spi += 1;
        cl.op = Some(Op { kind, started: self.now, messages, spi_out, spi_in, learned_out: None, learned_in: None });
        let (epoch, op) = (cl.epoch, cl.op_seq);
        self.schedule(self.now, Ev::Step { client: c, epoch, op, index: 0, attempt: 0 });
    }

    fn packet_for(&self, c: u32, msg: &Msg) -> Option<Vec<u8>> {
        let cl = &self.clients[c as usize];
        let header = IkeHeader {
            major_version: cl.version,
            exchange: msg.exchange,
            flags: msg.flags,
            message_id: MessageId(msg.message_id),
            initiator_spi: cl.initiator_spi(),
            responder_spi: if msg.first { IkeSpi::ZERO } else { cl.responder_spi() },
            body_len: 64,
        };
        if msg.from_client {
            Some(build::ike(cl.addr, 500, cl.server, 500, &header))
        } else {
            let (nat, port) = *self.ike_nat.get(&(cl.addr, cl.server))?;
            Some(build::ike(cl.server, 500, nat, port, &header))
        }
    }

    /// Sends a packet across the router: lost before it (the engine never sees it), seen
    /// by the engine and refused, held by the shell until a gate frees up, or seen and
    /// lost after it. What follows is `cont`'s business.
    fn deliver(&mut self, c: u32, packet: Option<Vec<u8>>, cont: Cont) {
        let Some(packet) = packet else { return self.failed(c, cont) };
        if self.rng.chance(self.loss / 2.0) {
            self.lost += 1;
            return self.failed(c, cont);
        }
        let offer = Offer::new(HeldPacket { client: c, packet, cont }, self.instant());
        self.offer(offer);
    }

    /// One offer of a packet to the engine, as the daemon's `decide` makes it.
    fn offer(&mut self, offer: Offer<HeldPacket>) {
        let HeldPacket { client: c, cont, .. } = offer.packet;
        if cont.touches_gate() {
            let cl = &self.clients[c as usize];
            self.gate_touch.insert((cl.addr, cl.server), self.now);
        }
        let verdict = self.feed(&offer.packet.packet);
        let waits = matches!(verdict, Verdict::Drop(reason) if reason.is_wait());
        let now = self.instant();
        let Some(_offer) = self.held.settle(now, offer, waits) else { return };
        if let Verdict::Drop(reason) = verdict {
            *self.drops.entry(format!("{reason:?}")).or_default() += 1;
            return self.failed(c, cont);
        }
        if let (Verdict::AcceptTranslated(_), Cont::Esp { key: Some(key), .. }) = (verdict, cont) {
            self.touch(key);
        }
        if self.rng.chance(self.loss / 2.0) {
            self.lost += 1;
            return self.failed(c, cont);
        }
        self.arrived(c, cont);
    }

    /// Offers the held packets again once the engine's slot generation moved.
    fn offer_held(&mut self) {
        let now = self.instant();
        let generation = self.engine.slot_generation();
        for offer in self.held.take_due(now, generation) {
            self.offer(offer);
        }
    }

    fn current(&self, c: u32, cont: Cont) -> bool {
        let cl = &self.clients[c as usize];
        let (epoch, op) = cont.ids();
        cl.epoch == epoch && cl.op_seq == op && cl.op.is_some()
    }

    fn failed(&mut self, c: u32, cont: Cont) {
        if !self.current(c, cont) {
            return;
        }
        match cont {
            Cont::Step { epoch, op, index, attempt, .. } => {
                if let Some(at) = self.retry_later(c, attempt) {
                    self.schedule(at, Ev::Step { client: c, epoch, op, index, attempt: attempt + 1 });
                }
            }
            Cont::Esp { epoch, op, outbound, attempt, .. } => {
                // Data keeps flowing: the next packet of the SA tries again a second later.
                if attempt + 1 < 3 * MAX_ATTEMPTS {
                    self.retransmissions += 1;
                    let ev = Ev::FirstEsp { client: c, epoch, op, outbound, attempt: attempt + 1 };
                    self.schedule(self.now + 1_000, ev);
                } else {
                    self.first_traffic_failed += 1;
                    self.finish_op(c, None);
                }
            }
        }
    }

    fn retry_later(&mut self, c: u32, attempt: u32) -> Option<u64> {
        if attempt + 1 >= MAX_ATTEMPTS {
            // The peer gives up on this exchange and starts a new one later.
            self.ops_abandoned += 1;
            let cl = &mut self.clients[c as usize];
            let kind = cl.op.take().map(|o| o.kind).unwrap_or(OpKind::Rekey);
            cl.op_seq += 1;
            let epoch = cl.epoch;
            let at = self.now + self.rng.range(20_000, 40_000);
            if kind == OpKind::Connect {
                self.schedule(at, Ev::Wake { client: c, epoch });
            } else {
                self.schedule(at, Ev::Rekey { client: c, epoch });
            }
            return None;
        }
        self.retransmissions += 1;
        // strongSwan's default: 4 s, then times 1.8 each time.
        Some(self.now + (4_000.0 * 1.8f64.powi(attempt as i32)) as u64)
    }

    fn arrived(&mut self, c: u32, cont: Cont) {
        if !self.current(c, cont) {
            return;
        }
        match cont {
            Cont::Step { epoch, op, index, .. } => {
                let at = self.now + self.rng.range(10, 80);
                let last = index + 1 == self.clients[c as usize].op.as_ref().map_or(0, |o| o.messages.len());
                if last {
                    self.schedule(at, Ev::FirstEsp { client: c, epoch, op, outbound: true, attempt: 0 });
                    let at = at + self.rng.range(10, 80);
                    self.schedule(at, Ev::FirstEsp { client: c, epoch, op, outbound: false, attempt: 0 });
                } else {
                    self.schedule(at, Ev::Step { client: c, epoch, op, index: index + 1, attempt: 0 });
                }
            }
            Cont::Esp { outbound, .. } => {
                let now = self.now;
                let cl = &mut self.clients[c as usize];
                let (addr, srv) = (cl.addr, cl.server);
                let nat = self.bindings.get(&addr).copied();
                let Some(op) = cl.op.as_mut() else { return };
                if outbound {
                    op.learned_out = Some(now);
                } else {
                    op.learned_in = Some(now);
                }
                if let (Some(a), Some(b)) = (op.learned_out, op.learned_in) {
                    let delay = a.max(b) - op.started;
                    let keys = nat.map(|nat| {
                        (
                            SessionKey { direction: Direction::Outbound, src: addr, dst: srv, spi: op.spi_out },
                            SessionKey { direction: Direction::Inbound, src: srv, dst: nat, spi: op.spi_in },
                        )
                    });
                    self.first_traffic.add(delay);
                    self.first_traffic_hour.add(delay);
                    self.finish_op(c, keys);
                }
            }
        }
    }

    fn step(&mut self, c: u32, index: usize, attempt: u32) {
        let Some(msg) = self.clients[c as usize].op.as_ref().and_then(|o| o.messages.get(index).copied()) else {
            return;
        };
        let packet = self.packet_for(c, &msg);
        let cl = &self.clients[c as usize];
        let phase2 = msg.exchange != ExchangeType::IDENTITY_PROTECTION && msg.exchange != ExchangeType::IKE_SA_INIT;
        let cont = Cont::Step { epoch: cl.epoch, op: cl.op_seq, index, attempt, phase2 };
        self.deliver(c, packet, cont);
    }

    fn first_esp(&mut self, c: u32, outbound: bool, attempt: u32) {
        let cl = &self.clients[c as usize];
        let Some(op) = cl.op.as_ref() else { return };
        let (addr, srv, epoch, op_seq) = (cl.addr, cl.server, cl.epoch, cl.op_seq);
        let nat = self.bindings.get(&addr).copied();
        let (packet, key) = if outbound {
            let key = SessionKey { direction: Direction::Outbound, src: addr, dst: srv, spi: op.spi_out };
            (Some(build::esp(addr, srv, op.spi_out, 1, 48)), Some(key))
        } else {
            let key = nat.map(|nat| SessionKey { direction: Direction::Inbound, src: srv, dst: nat, spi: op.spi_in });
            (nat.map(|nat| build::esp(srv, nat, op.spi_in, 1, 48)), key)
        };
        self.deliver(c, packet, Cont::Esp { epoch, op: op_seq, outbound, attempt, key });
    }

    fn finish_op(&mut self, c: u32, keys: Option<(SessionKey, SessionKey)>) {
        let cl = &mut self.clients[c as usize];
        let kind = cl.op.take().map(|o| o.kind);
        cl.op_seq += 1;
        if keys.is_some() {
            // The old SA is deleted: its sessions go idle and expire.
            cl.current = keys;
        }
        let (epoch, connected) = (cl.epoch, kind == Some(OpKind::Connect));
        let at = self.now + self.rng.range(120_000, 360_000);
        self.schedule(at, Ev::Rekey { client: c, epoch });
        if connected {
            // One traffic chain per wake: rekeys move it to the new SAs.
            let at = self.now + self.rng.range(5_000, 40_000);
            self.schedule(at, Ev::Traffic { client: c, epoch });
        }
    }

    fn traffic(&mut self, c: u32) {
        let Some((out, inb)) = self.clients[c as usize].current else { return };
        for key in [out, inb] {
            if !self.sessions.contains_key(&key) {
                continue;
            }
            if self.rng.chance(0.05) {
                // Now and then a packet of a known SA reaches the queue (the kernel's
                // element lapsed, or raced its install).
                let packet = match key.direction {
                    Direction::Outbound => build::esp(key.src, key.dst, key.spi, 9, 48),
                    Direction::Inbound => build::esp(key.src, key.dst, key.spi, 9, 48),
                };
                if matches!(self.feed(&packet), Verdict::AcceptTranslated(_)) {
                    self.touch(key);
                }
            } else {
                self.touch(key);
                if let Some(t) = self.sessions.get_mut(&key) {
                    if !t.unreported {
                        t.unreported = true;
                        self.unreported.push(key);
                    }
                }
            }
        }
        let epoch = self.clients[c as usize].epoch;
        let at = self.now + self.rng.range(10_000, 40_000);
        self.schedule(at, Ev::Traffic { client: c, epoch });
    }

    fn handle(&mut self, ev: Ev) {
        let (c, epoch) = match ev {
            Ev::Step { client, epoch, .. }
            | Ev::FirstEsp { client, epoch, .. }
            | Ev::Rekey { client, epoch }
            | Ev::Traffic { client, epoch }
            | Ev::Sleep { client, epoch }
            | Ev::Wake { client, epoch } => (client, epoch),
        };
        let cl = &self.clients[c as usize];
        if cl.epoch != epoch {
            return;
        }
        let op_seq = cl.op_seq;
        match ev {
            Ev::Step { op, index, attempt, .. } if op == op_seq => self.step(c, index, attempt),
            Ev::FirstEsp { op, outbound, attempt, .. } if op == op_seq => self.first_esp(c, outbound, attempt),
            Ev::Step { .. } | Ev::FirstEsp { .. } => {}
            Ev::Rekey { .. } => {
                if cl.op.is_none() && !cl.asleep {
                    self.start_op(c, OpKind::Rekey);
                }
            }
            Ev::Traffic { .. } => {
                if !cl.asleep {
                    self.traffic(c);
                }
            }
            Ev::Sleep { .. } => {
                let cl = &mut self.clients[c as usize];
                cl.asleep = true;
                cl.epoch += 1;
                cl.op = None;
                cl.current = None;
                let epoch = cl.epoch;
                // Silent long enough for sessions to expire, often for IKE SAs too.
                let at = self.now + self.rng.range(15 * 60_000, 75 * 60_000);
                self.schedule(at, Ev::Wake { client: c, epoch });
            }
            Ev::Wake { .. } => {
                let cl = &mut self.clients[c as usize];
                if cl.asleep {
                    cl.asleep = false;
                    cl.epoch += 1;
                    let epoch = cl.epoch;
                    let at = self.now + self.rng.range(HOUR_MS, 5 * HOUR_MS);
                    self.schedule(at, Ev::Sleep { client: c, epoch });
                }
                self.start_op(c, OpKind::Connect);
            }
        }
    }
}

fn arg(args: &[String], name: &str, default: f64) -> f64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse().unwrap_or_else(|_| {
                eprintln!("long_run: {name} takes a number, not '{v}'");
                std::process::exit(2)
            })
        })
        .unwrap_or(default)
}

/// Delays in 10 ms buckets up to 300 s (longer ones count in the last bucket).
#[derive(Debug)]
struct Histogram {
    buckets: Vec<u32>,
    count: u64,
    max: u64,
}

impl Histogram {
    const BUCKET_MS: u64 = 10;

    fn new() -> Histogram {
        Histogram { buckets: vec![0; 30_000], count: 0, max: 0 }
    }
    fn add(&mut self, ms: u64) {
        let i = ((ms / Histogram::BUCKET_MS) as usize).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.count += 1;
        self.max = self.max.max(ms);
    }
    fn clear(&mut self) {
        self.buckets.iter_mut().for_each(|b| *b = 0);
        self.count = 0;
        self.max = 0;
    }
    /// The upper edge of the bucket holding the `p` quantile.
    fn percentile(&self, p: f64) -> u64 {
        let target = (self.count as f64 * p).ceil() as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += u64::from(*b);
            if seen >= target.max(1) {
                return (i as u64 + 1) * Histogram::BUCKET_MS;
            }
        }
        self.max
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let hours = arg(&args, "--hours", 24.0) as u64;
    let clients = arg(&args, "--clients", 1000.0) as u32;
    let loss = arg(&args, "--loss", 0.02);
    let seed = arg(&args, "--seed", 0x9e37_79b9_7f4a_7c15u64 as f64) as u64 | 1;
    // SPIs carry the client number in 12 bits, so inbound SPIs stay unique per NAT address.
    assert!(clients > 0 && clients < 4_096, "--clients takes 1-4095");

    let config = config();
    let mut engine = in_engine(|| Engine::new(config.clone()).expect("valid config"));
    in_engine(|| engine.handle_egress_address(Instant::ZERO, Some(WAN)));
    let session_ms = config.timeouts.esp_session.as_millis() as u64;
    let gate_ms = config.timeouts.esp_gate.as_millis() as u64;
    // The daemon's held-packet queue, as the daemon builds it.
    let config_gate = config.timeouts.esp_gate;
    let mut sim = Sim {
        config,
        engine,
        rng: Rng(seed),
        loss,
        now: 0,
        seq: 0,
        events: BinaryHeap::new(),
        clients: (0..clients)
            .map(|n| Client {
                addr: client(n),
                server: server(n),
                version: if n % 2 == 0 { 1 } else { 2 },
                generation: 0,
                epoch: 0,
                op_seq: 0,
                asleep: true,
                op: None,
                next_message_id: 1,
                next_server_message_id: 0,
                next_spi: 0,
                current: None,
            })
            .collect(),
        bindings: HashMap::new(),
        ike_nat: HashMap::new(),
        sessions: HashMap::new(),
        unreported: Vec::new(),
        deadlines: BinaryHeap::new(),
        gate_touch: HashMap::new(),
        held: HeldPackets::for_gate_timeout(config_gate),
        first_traffic_failed: 0,
        actions: ActionCounts::default(),
        drops: Default::default(),
        events_seen: 0,
        lost: 0,
        retransmissions: 0,
        ops_abandoned: 0,
        first_traffic: Histogram::new(),
        first_traffic_hour: Histogram::new(),
        late_sessions: 0,
        early_sessions: 0,
        late_gates: 0,
        max_sizes: TableSizes::default(),
        session_ms,
        gate_ms,
    };
    // Clients come up over the first ten minutes.
    for c in 0..clients {
        let at = sim.rng.range(0, 600_000);
        sim.schedule(at, Ev::Wake { client: c, epoch: 0 });
    }

    println!(
        "long run: {hours} h virtual, {clients} clients ({} pool, {} interface SNAT), {SERVERS} servers, loss {:.1} %, seed {seed:#x}",
        clients - clients / 4,
        clients / 4,
        loss * 100.0
    );
    println!(
        "{:>4} {:>7} {:>6} {:>6} {:>6} {:>6} {:>5} {:>7} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9}",
        "hour",
        "sess",
        "ikesa",
        "flows",
        "pairs",
        "bind",
        "slots",
        "timers",
        "heap B",
        "engine B",
        "learned",
        "expired",
        "dropped",
        "1st p50ms"
    );
    let wall = std::time::Instant::now();
    let end = hours * HOUR_MS;
    let mut heap_by_hour: Vec<(usize, isize)> = Vec::new();
    let mut peak = (0usize, 0isize);
    let mut restarts = 0;
    let mut learned_base = 0;
    let mut expired_base = 0;
    let mut dropped_base = 0;
    // Counters start again at zero in a restarted engine: carry them over.
    let mut carried = (0u64, 0u64, 0u64);
    let mut next_restart = RESTART_OFFSET_MS;
    let mut tick = 0;
    while tick <= end {
        while let Some(Reverse((at, _, ev))) = sim.events.peek().copied() {
            if at > tick {
                break;
            }
            sim.events.pop();
            sim.now = at.max(sim.now);
            sim.handle(ev);
            sim.offer_held();
        }
        sim.now = tick;
        sim.run_timers();
        sim.offer_held();
        sim.check_every_tick();
        if tick % 1_000 == 0 {
            sim.check_gates();
        }
        let live = LIVE_BYTES.load(Ordering::Relaxed);
        let engine_bytes = ENGINE_BYTES.load(Ordering::Relaxed);
        peak = (peak.0.max(live), peak.1.max(engine_bytes));
        if tick >= next_restart && tick < end {
            let c = sim.engine.counters();
            carried.0 += c.sessions_created_gate + c.sessions_created_without_gate;
            carried.1 += c.sessions_expired;
            carried.2 += c.inbound_esp_dropped_no_gate
                + c.phase2_dropped_pair_busy
                + c.phase2_dropped_gate_busy
                + c.phase2_dropped_gate_reserved
                + c.esp_waiting_for_gate
                + c.table_full
                + c.client_limit;
            sim.restart();
            restarts += 1;
            next_restart += RESTART_EVERY_MS;
        }
        if tick % HOUR_MS == 0 && tick > 0 {
            let s = sim.engine.table_sizes();
            let c = sim.engine.counters();
            let learned = carried.0 + c.sessions_created_gate + c.sessions_created_without_gate;
            let expired = carried.1 + c.sessions_expired;
            let dropped = carried.2
                + c.inbound_esp_dropped_no_gate
                + c.phase2_dropped_pair_busy
                + c.phase2_dropped_gate_busy
                + c.phase2_dropped_gate_reserved
                + c.esp_waiting_for_gate
                + c.table_full
                + c.client_limit;
            println!(
                "{:>4} {:>7} {:>6} {:>6} {:>6} {:>6} {:>5} {:>7} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9}",
                tick / HOUR_MS,
                s.sessions,
                s.ike_sas,
                s.ike_flows,
                s.pairs,
                s.bindings,
                s.gate_slots,
                s.timers,
                live,
                engine_bytes,
                learned - learned_base,
                expired - expired_base,
                dropped - dropped_base,
                sim.first_traffic_hour.percentile(0.5)
            );
            heap_by_hour.push((live, engine_bytes));
            (learned_base, expired_base, dropped_base) = (learned, expired, dropped);
            sim.first_traffic_hour.clear();
        }
        tick += TICK_MS;
    }

    let c = *sim.engine.counters();
    let firsts = &sim.first_traffic;
    let a = &sim.actions;
    println!(
        "wall time {:.1} s for {hours} h virtual ({} ticks of {TICK_MS} ms)",
        wall.elapsed().as_secs_f64(),
        end / TICK_MS
    );
    println!(
        "phase-2 exchanges completed {}, abandoned {}, first ESP never through {}; IKE/first-ESP packets lost {}, retransmitted {}; engine restarts {restarts}",
        firsts.count,
        sim.ops_abandoned,
        sim.first_traffic_failed,
        sim.lost,
        sim.retransmissions
    );
    println!(
        "first traffic (exchange start to both SPIs learned): p50 {} ms, p99 {} ms, max {} ms",
        firsts.percentile(0.5),
        firsts.percentile(0.99),
        firsts.max
    );
    println!(
        "actions: install binding {}, remove binding {}, install IKE NAT {}, remove IKE NAT {}, install session {}, remove session {}; events {}",
        a.install_binding, a.remove_binding, a.install_ike_nat, a.remove_ike_nat, a.install_session, a.remove_session, sim.events_seen
    );
    println!(
        "last engine since its restart: sessions learned {} (+{} without gate), expired {}, restored {}; IKE SAs expired {}; gates expired {}; phase-2 dropped busy {}; events dropped {}",
        c.sessions_created_gate,
        c.sessions_created_without_gate,
        c.sessions_expired,
        c.sessions_restored,
        c.ike_sas_expired,
        c.gates_expired,
        c.phase2_dropped_gate_busy + c.phase2_dropped_pair_busy + c.phase2_dropped_gate_reserved,
        c.events_dropped
    );
    let h = sim.held.stats();
    println!(
        "drop verdicts on simulated packets: {:?}; held by the shell {}, released {}, expired {}",
        sim.drops, h.held, h.released, h.expired
    );
    let m = sim.max_sizes;
    let l = sim.config.limits;
    println!(
        "peak tables: sessions {}/{}, IKE SAs {}/{}, flows {}/{}, pairs {}/{}, bindings {}/{}, slots {}, timers {}: every table within its cap at every tick",
        m.sessions, l.max_sessions, m.ike_sas, l.max_ike_sas, m.ike_flows, l.max_ike_flows, m.pairs, l.max_pairs, m.bindings, l.max_bindings, m.gate_slots, m.timers
    );
    let final_heap = (LIVE_BYTES.load(Ordering::Relaxed), ENGINE_BYTES.load(Ordering::Relaxed));
    println!("heap: peak {} B (engine {} B), final {} B (engine {} B)", peak.0, peak.1, final_heap.0, final_heap.1);
    if heap_by_hour.len() >= 4 {
        let avg = |f: fn(&(usize, isize)) -> f64| heap_by_hour[1..4].iter().map(f).sum::<f64>() / 3.0;
        let (avg_total, avg_engine) = (avg(|h| h.0 as f64), avg(|h| h.1 as f64));
        let last = heap_by_hour[heap_by_hour.len() - 1];
        let (rt, re) = (last.0 as f64 / avg_total, last.1 as f64 / avg_engine);
        let later = &heap_by_hour[1..];
        let (lo, hi) = (later.iter().map(|h| h.1).min().unwrap_or(0), later.iter().map(|h| h.1).max().unwrap_or(0));
        println!(
            "memory: hour {} / hours 2-4 average = {rt:.3} (all heap), {re:.3} (engine); engine heap over hours 2-{} between {lo} and {hi} B; no growth (ratio <= 1.10): {}; within 10 %: {}",
            heap_by_hour.len(),
            heap_by_hour.len(),
            if rt <= 1.1 && re <= 1.1 { "yes" } else { "NO" },
            if (0.9..=1.1).contains(&rt) && (0.9..=1.1).contains(&re) { "yes" } else { "no" }
        );
    }
    println!(
        "expiry on time: {} sessions outlived esp_session_timeout, {} gates outlived esp_gate_timeout, {} sessions removed before their idle timeout",
        sim.late_sessions, sim.late_gates, sim.early_sessions
    );
    assert_eq!(sim.late_sessions, 0, "sessions outlived their idle timeout");
    assert_eq!(sim.late_gates, 0, "gates outlived their timeout");
}
