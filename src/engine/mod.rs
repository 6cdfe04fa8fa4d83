//! The ALG core: IKE SA tracking, phase-2 gates, ESP sessions and persistent NAT.
//!
//! Read first: SPEC §3 (behaviour), RFC 7296 §1-2 and RFC 2409 §5.5 (which exchanges
//! create Child SAs), RFC 4303 §2.1 (who chooses an SPI). The engine is sans-IO: see the
//! crate docs. [`Engine`] explains the contract with the shell.

mod config;
mod datapath_refusal;
mod entries;
mod esp;
mod expiry;
mod ike;
mod nat;
mod nat_pool;
mod output;
mod snapshot;
mod stats;
mod status;
mod table;
mod table_keys;
mod timers;

pub use config::{
    AddressRange, ConfigError, EngineConfig, Ipv4Net, Limits, PoolConfig, RuleConfig, SourceNat, Timeouts,
    MAX_POOL_ADDRESSES,
};
pub use output::{
    Action, BindingSpec, DropReason, EspSessionSpec, Event, IkeNatSpec, SessionEnd, SessionOrigin, Table, Translation,
    Verdict,
};
pub use snapshot::{BindingRecord, IkeFlowRecord, Reinstalled, SessionRecord, Snapshot, SnapshotError};
pub use stats::Counters;
pub use status::{BindingStatus, GateState, GateStatus, IkeSaStatus, SessionStatus, TableSizes};
pub use table_keys::{Direction, FlowKey, IkeSaKey, PairKey, SessionKey, SlotKey};

use crate::time::Instant;
use crate::wire::{classify, Classified, Layer, Malformed};
use core::time::Duration;
use entries::{BindingEntry, IkeSaEntry, PairEntry, SessionEntry, SlotEntry};
use nat_pool::AddressUsage;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use table::{BoundedTable, FlowIndex};
use table_keys::TimerKey;
use timers::Timers;

/// The IKE/ESP ALG.
///
/// # Contract with the shell
///
/// - Feed every queued packet to [`Engine::handle_packet`] with the current time. It returns
///   the packet's [`Verdict`] at once. Then drain [`Engine::poll_action`] and apply every
///   action to the datapath **before** sending that verdict, so the packets that follow
///   find the new session or NAT mapping in the kernel.
/// - Drain [`Engine::poll_event`] for log lines whenever convenient; the queue is bounded
///   and overflow is counted.
/// - Sleep until [`Engine::poll_timeout`] (or the next packet), then call
///   [`Engine::handle_timeout`]. Calling it early is harmless.
/// - Report every action the datapath refused with [`Engine::handle_action_failed`]: the
///   engine then forgets the entry, so it never keeps one the kernel does not have.
/// - Report kernel-side ESP traffic with [`Engine::handle_session_activity`] (the kernel
///   measures idleness in the fast path), NAT-T and other flows of a client with
///   [`Engine::handle_client_activity`], and the egress address with
///   [`Engine::handle_egress_address`].
///
/// # Behaviour (SPEC §3)
///
/// - A phase-2 message (IKEv1 Quick Mode, IKEv2 IKE_AUTH or CREATE_CHILD_SA, from either
///   side) that starts a new exchange opens an outbound gate (client → server) and an
///   inbound gate (server → NAT address) if the pair has no exchange in progress and the
///   inbound gate slot of (server, NAT address) is free; otherwise it is dropped and counted,
///   and the peer's retransmission gets through later. Later messages of the exchange pass
///   and re-arm the gate timer.
/// - The first ESP packet with an unknown SPI that meets an open gate becomes an ESP
///   session and is forwarded, translated. When both gates are hit they collapse; a gate
///   not hit expires `esp_gate_timeout` after the exchange's last message.
/// - Inbound ESP with an unknown SPI and no gate is dropped; outbound ESP with an unknown
///   SPI and no gate creates a session anyway (the source is the client).
/// - Fairness: when a client is refused the inbound gate because another holds it, the
///   holder's gates stop being extended by retransmissions, and the freed slot is reserved
///   for the waiting clients in arrival order, each for one `esp_gate_timeout`. A client
///   that floods phase-2 messages therefore blocks another for at most one gate timeout
///   per client queued ahead of it.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    egress: Option<Ipv4Addr>,
    usage: AddressUsage,
    /// Keyed by client. Unbounded per client: one binding each.
    bindings: BoundedTable<Ipv4Addr, BindingEntry>,
    flows: FlowIndex,
    /// Counted per client (the pair's client).
    ike_sas: BoundedTable<IkeSaKey, IkeSaEntry>,
    /// A pair's timer is its gate deadline.
    pairs: BoundedTable<PairKey, PairEntry>,
    /// At most one per (server, NAT address) with an exchange or a reservation, so bounded
    /// by the pairs table.
    slots: BoundedTable<SlotKey, SlotEntry>,
    /// Counted per client (the source outbound, the translated address inbound).
    sessions: BoundedTable<SessionKey, SessionEntry>,
    timers: Timers,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    counters: Counters,
    /// Bumped whenever an exchange ends or a slot changes hands.
    slot_generation: u64,
    /// Install actions the datapath refused (see [`Engine::handle_action_failed`]).
    datapath_refused: u64,
}

/// Kernel-side traffic of one ESP session since the previous report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActivityReport {
    pub packets: u64,
    pub bytes: u64,
    /// When the kernel last saw a packet of this session.
    pub last_seen: Instant,
}

/// Which clients [`Engine::clear`] acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClearScope {
    All,
    Client(Ipv4Addr),
}

impl Engine {
    /// An engine with empty tables. The configuration is validated first.
    pub fn new(config: EngineConfig) -> Result<Engine, ConfigError> {
        config.validate()?;
        let limits = config.limits;
        Ok(Engine {
            config,
            egress: None,
            usage: AddressUsage::default(),
            bindings: BoundedTable::new(limits.max_bindings),
            flows: FlowIndex::new(limits.max_ike_flows),
            ike_sas: BoundedTable::per_client(limits.max_ike_sas, limits.max_ike_sas_per_client),
            pairs: BoundedTable::new(limits.max_pairs),
            slots: BoundedTable::new(usize::MAX),
            sessions: BoundedTable::per_client(limits.max_sessions, limits.max_sessions_per_client),
            timers: Timers::default(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            slot_generation: 0,
            datapath_refused: 0,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Decides on one queued IP packet. Never panics, whatever the bytes.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) -> Verdict {
        self.handle_timeout(now);
        self.counters.packets += 1;
        let verdict = self.decide(now, packet);
        self.compact_timers_if_needed();
        verdict
    }

    fn decide(&mut self, now: Instant, packet: &[u8]) -> Verdict {
        match classify(packet, self.config.ports) {
            Ok(Classified::Esp(esp)) => self.handle_esp(now, esp),
            Ok(Classified::Ike(ike)) => self.handle_ike(now, ike),
            Ok(Classified::NatT { endpoints, .. }) => self.handle_natt(now, endpoints.src, endpoints.dst),
            Ok(Classified::Ipv6 { .. }) => {
                self.counters.ipv6_passed += 1;
                Verdict::Accept
            }
            Ok(Classified::Ipv4LaterFragment { .. }) => {
                self.counters.fragments_passed += 1;
                Verdict::Accept
            }
            Ok(Classified::OtherIpv4 { .. }) => {
                self.counters.packets_not_matched += 1;
                Verdict::Accept
            }
            Err(malformed) => self.handle_malformed(malformed),
        }
    }

    /// The next datapath action to apply, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next log event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Counters since start.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Changes whenever an exchange ends or an inbound slot changes hands: the moment a
    /// packet refused with a [`DropReason::is_wait`] reason may be offered again.
    pub fn slot_generation(&self) -> u64 {
        self.slot_generation
    }

    /// Records kernel-side traffic of a session; unknown sessions are ignored.
    pub fn handle_session_activity(&mut self, key: SessionKey, report: ActivityReport) {
        if let Some(session) = self.sessions.get_mut(&key) {
            session.packets = session.packets.saturating_add(report.packets);
            session.bytes = session.bytes.saturating_add(report.bytes);
            session.last_activity = session.last_activity.max(report.last_seen);
        }
    }

    /// Whether an ESP session's idle timer is due at `now`: the moment the shell should
    /// bring the kernel's activity counts up to date before [`Engine::handle_timeout`].
    pub fn session_expiry_due(&self, now: Instant) -> bool {
        self.timers.any_due(now, |key| matches!(key, TimerKey::Session(_)))
    }

    /// The kernel element of a session the engine holds: its rewrite and idle timeout, as
    /// `Action::InstallEspSession` carries them. For renewing it in the kernel.
    pub fn session_spec(&self, key: &SessionKey) -> Option<EspSessionSpec> {
        self.sessions.get(key).map(|s| EspSessionSpec {
            key: *key,
            translated: s.translated,
            idle_timeout: self.config.timeouts.esp_session,
        })
    }

    /// Every ESP session's kernel element, as [`Engine::session_spec`] gives one. For the
    /// shell's fast path, which promotes sessions from the kernel's datapath to its own.
    pub fn session_specs(&self) -> impl Iterator<Item = EspSessionSpec> + '_ {
        let idle_timeout = self.config.timeouts.esp_session;
        self.sessions.iter().map(move |(key, s)| EspSessionSpec { key: *key, translated: s.translated, idle_timeout })
    }

    /// Whether the engine holds this ESP session.
    pub fn has_session(&self, key: &SessionKey) -> bool {
        self.sessions.contains_key(key)
    }

    /// Records that `client` still has flows (NAT-T, say) on its binding, which keeps the
    /// binding for another linger period.
    pub fn handle_client_activity(&mut self, now: Instant, client: Ipv4Addr) {
        if let Some(binding) = self.bindings.get_mut(&client) {
            binding.last_activity = binding.last_activity.max(now);
        }
    }

    /// The egress interface's address changed (interface SNAT). Clients bound to the old
    /// address lose their state, sessions and bindings: their SAs are tied to it anyway.
    pub fn handle_egress_address(&mut self, now: Instant, address: Option<Ipv4Addr>) {
        if self.egress == address {
            return;
        }
        let stale: Vec<Ipv4Addr> =
            self.bindings.iter().filter(|(_, b)| b.pool.is_none()).map(|(client, _)| *client).collect();
        for client in stale {
            self.clear_client(now, client);
        }
        self.egress = address;
    }

    /// The first rule that covers traffic from `client` to `server`.
    fn rule_for(&self, client: Ipv4Addr, server: Ipv4Addr) -> Option<usize> {
        self.config.rules.iter().position(|r| r.matches(client, server))
    }

    /// True if `addr` can be one of our NAT addresses: the egress address or in a pool.
    fn is_nat_address(&self, addr: Ipv4Addr) -> bool {
        self.egress == Some(addr) || self.config.pools.iter().any(|p| p.ranges.iter().any(|r| r.contains(addr)))
    }

    /// True if some rule lists `server` among its destinations.
    fn is_rule_server(&self, server: Ipv4Addr) -> bool {
        self.config.rules.iter().any(|r| r.matches_server(server))
    }

    fn handle_malformed(&mut self, malformed: Malformed) -> Verdict {
        match malformed.layer {
            // ESP without an SPI cannot belong to any SA; passing it would let conntrack's
            // generic tracker deliver it to whichever client came first.
            Layer::Esp => {
                self.counters.esp_malformed += 1;
                Verdict::Drop(DropReason::MalformedEsp)
            }
            // IKE we cannot read is left to the kernel, like a conntrack helper does.
            Layer::Isakmp => {
                self.counters.ike_malformed += 1;
                Verdict::Accept
            }
            Layer::Ip | Layer::Udp => {
                self.counters.ip_malformed += 1;
                Verdict::Accept
            }
        }
    }

    fn handle_natt(&mut self, now: Instant, src: Ipv4Addr, dst: Ipv4Addr) -> Verdict {
        self.counters.natt_packets += 1;
        if self.is_nat_address(dst) || !self.config.address_persistent {
            return Verdict::Accept;
        }
        let Some(rule) = self.rule_for(src, dst) else {
            return Verdict::Accept;
        };
        // SPEC rule 7: not processed by the ALG, but leaves from the client's address.
        match self.ensure_binding(now, src, rule) {
            Ok(_) => {
                self.handle_client_activity(now, src);
                Verdict::Accept
            }
            Err(reason) => Verdict::Drop(reason),
        }
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= self.config.limits.max_pending_events {
            self.events.pop_front();
            self.counters.events_dropped += 1;
        }
        self.events.push_back(event);
    }

    fn gate_timeout(&self) -> Duration {
        self.config.timeouts.esp_gate
    }
}

#[cfg(test)]
mod tests;
