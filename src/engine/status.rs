//! Read-only views of the engine's tables for `show` and the JSON status (SPEC §5).
//! Every list is sorted, so output is stable whatever the hash order.

use super::entries::Gate;
use super::output::SessionOrigin;
use super::table_keys::{Direction, PairKey};
use super::Engine;
use crate::time::Instant;
use crate::wire::{ExchangeType, IkeSpi, IkeVersion, MessageId, Spi};
use core::time::Duration;
use std::net::Ipv4Addr;

/// One IKE SA the ALG tracks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeSaStatus {
    pub client: Ipv4Addr,
    pub server: Ipv4Addr,
    pub nat: Ipv4Addr,
    pub version: IkeVersion,
    pub initiator_spi: IkeSpi,
    pub responder_spi: IkeSpi,
    pub client_port: u16,
    pub server_port: u16,
    pub nat_port: u16,
    pub age: Duration,
    pub idle: Duration,
    /// Time left before `state_timeout` removes it.
    pub expires_in: Duration,
}

/// Whether a gate still waits for its first ESP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateState {
    Open,
    Hit(Spi),
}

/// One gate of an exchange in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateStatus {
    pub client: Ipv4Addr,
    pub server: Ipv4Addr,
    pub nat: Ipv4Addr,
    pub direction: Direction,
    pub state: GateState,
    pub version: IkeVersion,
    pub exchange: ExchangeType,
    pub message_id: MessageId,
    /// True once another client waits for this gate (retransmissions no longer extend it).
    pub contended: bool,
    /// Time since the exchange opened its gates.
    pub age: Duration,
    pub expires_in: Duration,
}

/// One ESP session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionStatus {
    pub direction: Direction,
    pub client: Ipv4Addr,
    pub nat: Ipv4Addr,
    pub server: Ipv4Addr,
    pub spi: Spi,
    pub origin: SessionOrigin,
    pub packets: u64,
    pub bytes: u64,
    pub age: Duration,
    pub idle: Duration,
}

/// One persistent NAT binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingStatus {
    pub client: Ipv4Addr,
    pub nat: Ipv4Addr,
    /// Pool name, or `None` for interface SNAT.
    pub pool: Option<String>,
    pub ike_sas: u32,
    pub flows: u32,
    pub sessions: u32,
    pub age: Duration,
}

/// Entry counts of every table, for status and for checking the caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TableSizes {
    pub sessions: usize,
    pub ike_sas: usize,
    pub ike_flows: usize,
    pub pairs: usize,
    pub gate_slots: usize,
    pub bindings: usize,
    pub timers: usize,
    pub pending_actions: usize,
    pub pending_events: usize,
}

impl Engine {
    /// The IKE SAs, sorted by client, server, initiator SPI.
    pub fn ike_sa_status(&self, now: Instant) -> Vec<IkeSaStatus> {
        let state = self.config.timeouts.state;
        let mut list: Vec<IkeSaStatus> = self
            .ike_sas
            .iter()
            .map(|(key, sa)| {
                let flow = self.flows.table().get(&sa.flow);
                IkeSaStatus {
                    client: key.pair.client,
                    server: key.pair.server,
                    nat: flow.map(|f| f.nat).unwrap_or(Ipv4Addr::UNSPECIFIED),
                    version: sa.version,
                    initiator_spi: key.initiator_spi,
                    responder_spi: sa.responder_spi,
                    client_port: sa.flow.client_port,
                    server_port: sa.flow.server_port,
                    nat_port: flow.map(|f| f.nat_port).unwrap_or(0),
                    age: now.saturating_since(sa.created),
                    idle: now.saturating_since(sa.last_seen),
                    expires_in: (sa.last_seen + state).saturating_since(now),
                }
            })
            .collect();
        list.sort_by_key(|s| (s.client, s.server, s.initiator_spi));
        list
    }

    /// Gates of the exchanges in progress, sorted by client, server, direction.
    pub fn gate_status(&self, now: Instant) -> Vec<GateStatus> {
        let mut list = Vec::new();
        for (pair, entry) in self.pairs.iter() {
            let Some(exchange) = entry.exchange.as_ref() else { continue };
            let gate_end = self.gates_end_at(exchange);
            for (direction, gate) in [(Direction::Outbound, exchange.outbound), (Direction::Inbound, exchange.inbound)]
            {
                list.push(GateStatus {
                    client: pair.client,
                    server: pair.server,
                    nat: entry.nat,
                    direction,
                    state: match gate {
                        Gate::Open => GateState::Open,
                        Gate::Hit(spi) => GateState::Hit(spi),
                    },
                    version: exchange.version,
                    exchange: exchange.exchange_type,
                    message_id: exchange.message_id,
                    contended: exchange.extension_frozen,
                    age: now.saturating_since(exchange.opened),
                    expires_in: gate_end.saturating_since(now),
                });
            }
        }
        list.sort_by_key(|g| (g.client, g.server, g.direction));
        list
    }

    /// ESP sessions, sorted by client, server, direction, SPI.
    pub fn session_status(&self, now: Instant) -> Vec<SessionStatus> {
        let mut list: Vec<SessionStatus> = self
            .sessions
            .iter()
            .map(|(key, s)| {
                let (client, nat, server) = match key.direction {
                    Direction::Outbound => (key.src, s.translated, key.dst),
                    Direction::Inbound => (s.translated, key.dst, key.src),
                };
                SessionStatus {
                    direction: key.direction,
                    client,
                    nat,
                    server,
                    spi: key.spi,
                    origin: s.origin,
                    packets: s.packets,
                    bytes: s.bytes,
                    age: now.saturating_since(s.created),
                    idle: now.saturating_since(s.last_activity),
                }
            })
            .collect();
        list.sort_by_key(|s| (s.client, s.server, s.direction, s.spi));
        list
    }

    /// Persistent NAT bindings, sorted by client.
    pub fn binding_status(&self, now: Instant) -> Vec<BindingStatus> {
        let mut list: Vec<BindingStatus> = self
            .bindings
            .iter()
            .map(|(client, b)| BindingStatus {
                client: *client,
                nat: b.nat,
                pool: b.pool.and_then(|i| self.config.pools.get(i)).map(|p| p.name.clone()),
                ike_sas: self.ike_sas.held_by(*client),
                flows: self.flows.table().held_by(*client),
                sessions: self.sessions.held_by(*client),
                age: now.saturating_since(b.created),
            })
            .collect();
        list.sort_by_key(|b| b.client);
        list
    }

    /// Current entry counts.
    pub fn table_sizes(&self) -> TableSizes {
        TableSizes {
            sessions: self.sessions.len(),
            ike_sas: self.ike_sas.len(),
            ike_flows: self.flows.len(),
            pairs: self.pairs.len(),
            gate_slots: self.slots.len(),
            bindings: self.bindings.len(),
            timers: self.timers.len(),
            pending_actions: self.actions.len(),
            pending_events: self.events.len(),
        }
    }

    /// The client that holds the inbound gate of (server, NAT address), if one does.
    pub fn inbound_gate_holder(&self, server: Ipv4Addr, nat: Ipv4Addr) -> Option<PairKey> {
        use super::entries::SlotHolder;
        use super::table_keys::SlotKey;
        match self.slots.get(&SlotKey { server, nat })?.holder {
            SlotHolder::Held(pair) => Some(pair),
            SlotHolder::Reserved { .. } => None,
        }
    }
}
