//! What the engine tells the shell: the verdict on a packet, datapath actions, log events.
//!
//! Actions are complete instructions for the datapath: each names exactly the match and
//! the rewrite to install or remove, so the datapath needs no engine state to apply one.
//! Events are for the log and carry the RFC's words in their `Display`.

use super::table_keys::{Direction, PairKey, SessionKey};
use crate::wire::{ExchangeType, IkeSpi, IkeVersion, MessageId, Spi};
use core::fmt;
use core::time::Duration;
use std::net::Ipv4Addr;

/// The synchronous answer for one queued packet. Exactly one per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let the packet continue unchanged (the kernel's NAT may still apply to it).
    Accept,
    /// Let it continue with these addresses rewritten: the first packet of an ESP
    /// session, which must be forwarded, not dropped (SPEC §3 rule 3).
    AcceptTranslated(Translation),
    /// Drop it, for this reason.
    Drop(DropReason),
}

/// The address rewrite of one ESP packet: exactly one address changes, and which one
/// follows from the session's direction. A packet that needs no rewrite gets
/// [`Verdict::Accept`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Translation {
    /// Outbound: the source (the client) becomes this NAT address.
    Source(Ipv4Addr),
    /// Inbound: the destination (the NAT address) becomes this client.
    Destination(Ipv4Addr),
}

impl Translation {
    /// The rewrite of a session going `direction` whose packets get `translated`.
    pub fn for_session(direction: Direction, translated: Ipv4Addr) -> Translation {
        match direction {
            Direction::Outbound => Translation::Source(translated),
            Direction::Inbound => Translation::Destination(translated),
        }
    }
}

/// Why a packet was dropped. Each one is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// SPEC rule 2: the pair already has a phase-2 exchange in progress.
    Phase2PairBusy,
    /// SPEC rule 1: another client holds the inbound gate for this server and NAT address.
    Phase2GateBusy,
    /// The inbound gate is reserved for a client that was waiting for it first.
    Phase2GateReserved,
    /// SPEC rule 6: inbound ESP with an unknown SPI and no open gate.
    InboundEspWithoutGate,
    /// Inbound ESP with an unknown SPI whose sequence number says its SA has carried
    /// traffic already, so it is not the new SA the open gate waits for.
    InboundEspNotFresh,
    /// Inbound ESP with an unknown SPI while the open gate's exchange is still
    /// unanswered, so its server cannot be using the new SA yet.
    InboundEspBeforeAnswer,
    /// ESP with SPI 0, which RFC 4303 §2.1 forbids on the wire.
    ReservedSpi,
    /// ESP too short to carry an SPI and sequence number.
    MalformedEsp,
    /// No NAT address: the pool is empty or the egress interface has no address yet.
    NoNatAddress,
    /// A table is full (see [`Table`]).
    TableFull(Table),
    /// The client reached its own share of a table.
    ClientLimit(Table),
}

impl DropReason {
    /// True when the packet is refused only until an inbound gate or the pair's own
    /// exchange frees up. A shell that can hold a queued packet (NFQUEUE defers the verdict)
    /// may offer it again after [`super::Engine::slot_generation`] changes instead of
    /// dropping it, so serialised clients lose nothing.
    pub fn is_wait(&self) -> bool {
        matches!(self, DropReason::Phase2PairBusy | DropReason::Phase2GateBusy | DropReason::Phase2GateReserved)
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Phase2PairBusy => {
                f.write_str("a phase-2 exchange is already in progress for this client and server")
            }
            DropReason::Phase2GateBusy => {
                f.write_str("another client holds the inbound gate for this server and NAT address")
            }
            DropReason::Phase2GateReserved => f.write_str("the inbound gate is reserved for a client that asked first"),
            DropReason::InboundEspWithoutGate => f.write_str("inbound ESP with unknown SPI and no open gate"),
            DropReason::InboundEspBeforeAnswer => {
                f.write_str("inbound ESP with unknown SPI before the open gate's exchange was answered")
            }
            DropReason::InboundEspNotFresh => f.write_str(
                "inbound ESP with unknown SPI from an SA that carried traffic before the open gate's exchange",
            ),
            DropReason::ReservedSpi => f.write_str("ESP with reserved SPI 0"),
            DropReason::MalformedEsp => f.write_str("malformed ESP"),
            DropReason::NoNatAddress => f.write_str("no NAT address available"),
            DropReason::TableFull(t) => write!(f, "{t} table full"),
            DropReason::ClientLimit(t) => write!(f, "client reached its {t} limit"),
        }
    }
}

/// The engine's bounded tables, for limit counters and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    Sessions,
    IkeSas,
    IkeFlows,
    Pairs,
    Bindings,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Table::Sessions => "ESP session",
            Table::IkeSas => "IKE SA",
            Table::IkeFlows => "IKE flow",
            Table::Pairs => "client/server pair",
            Table::Bindings => "NAT binding",
        })
    }
}

/// A client's persistent source-NAT address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BindingSpec {
    pub client: Ipv4Addr,
    pub nat: Ipv4Addr,
}

/// The translation of one IKE UDP flow: `client:client_port -> server:server_port` leaves
/// as `nat:nat_port`. SPEC §3 rule 9: port 500 is kept where that tuple is free.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IkeNatSpec {
    pub client: Ipv4Addr,
    pub client_port: u16,
    pub server: Ipv4Addr,
    pub server_port: u16,
    pub nat: Ipv4Addr,
    pub nat_port: u16,
}

/// One ESP session for the datapath: match `(src, dst, spi)` in `direction`, rewrite to
/// `translated` (the source when outbound, the destination when inbound), and forget it
/// after `idle_timeout` without traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EspSessionSpec {
    pub key: SessionKey,
    pub translated: Ipv4Addr,
    pub idle_timeout: Duration,
}

impl EspSessionSpec {
    /// The rewrite this session applies to each packet.
    pub fn translation(&self) -> Translation {
        Translation::for_session(self.key.direction, self.translated)
    }
}

/// What the datapath must do. Actions queued while handling a packet must be applied
/// before that packet's verdict is sent, so the packet's followers find them in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    InstallBinding(BindingSpec),
    RemoveBinding(BindingSpec),
    InstallIkeNat(IkeNatSpec),
    RemoveIkeNat(IkeNatSpec),
    InstallEspSession(EspSessionSpec),
    RemoveEspSession(EspSessionSpec),
}

/// How an ESP session came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionOrigin {
    /// Learned through an open gate.
    Gate,
    /// Outbound ESP without a gate (SPEC rule 6): manual keys, or SAs older than the daemon.
    WithoutGate,
    /// Taken back from the kernel or a state file after a restart.
    Restored,
}

impl fmt::Display for SessionOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionOrigin::Gate => "gate",
            SessionOrigin::WithoutGate => "no-gate",
            SessionOrigin::Restored => "restored",
        })
    }
}

/// Why an ESP session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionEnd {
    Idle,
    Cleared,
}

/// One log-worthy happening. The shell rate-limits and prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    GatesOpened {
        pair: PairKey,
        nat: Ipv4Addr,
        version: IkeVersion,
        exchange: ExchangeType,
        message_id: MessageId,
    },
    Phase2Dropped {
        pair: PairKey,
        nat: Ipv4Addr,
        exchange: ExchangeType,
        message_id: MessageId,
        reason: DropReason,
    },
    SessionCreated {
        key: SessionKey,
        client: Ipv4Addr,
        nat: Ipv4Addr,
        origin: SessionOrigin,
    },
    GatesCollapsed {
        pair: PairKey,
        outbound_spi: Spi,
        inbound_spi: Spi,
    },
    InboundGateReopened {
        pair: PairKey,
        nat: Ipv4Addr,
        outbound_spi: Spi,
    },
    GatesExpired {
        pair: PairKey,
        outbound_hit: Option<Spi>,
        inbound_hit: Option<Spi>,
    },
    /// An answered exchange gave up its two unused gates for a client waiting for the
    /// slot; the inbound SPI is owed.
    GatesReleasedEarly {
        pair: PairKey,
    },
    SessionEnded {
        key: SessionKey,
        end: SessionEnd,
        packets: u64,
        bytes: u64,
    },
    IkeSaExpired {
        pair: PairKey,
        initiator_spi: IkeSpi,
    },
    InboundEspDropped {
        server: Ipv4Addr,
        nat: Ipv4Addr,
        spi: Spi,
    },
    /// An open inbound gate refused an unknown SPI that cannot be its exchange's new SA
    /// ([`DropReason::InboundEspBeforeAnswer`], [`DropReason::InboundEspNotFresh`]).
    InboundEspRefusedByGate {
        server: Ipv4Addr,
        nat: Ipv4Addr,
        spi: Spi,
        sequence: u32,
        reason: DropReason,
    },
    BindingCreated {
        client: Ipv4Addr,
        nat: Ipv4Addr,
        shared_with: u32,
    },
    BindingRemoved {
        client: Ipv4Addr,
        nat: Ipv4Addr,
    },
    LimitReached {
        table: Table,
        client: Option<Ipv4Addr>,
    },
    /// The datapath refused an install; `undone` says whether the engine forgot the entry.
    DatapathRefused {
        action: Action,
        undone: bool,
    },
}

impl Event {
    /// Whether the event reports something refused or failed (a dropped message or
    /// packet, a limit, the datapath's refusal), as against the routine life of gates,
    /// sessions, IKE SAs and bindings. The shell logs the two under separate budgets, so a
    /// burst of new sessions cannot hide a client's dropped phase-2 message.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Event::Phase2Dropped { .. }
                | Event::InboundEspDropped { .. }
                | Event::InboundEspRefusedByGate { .. }
                | Event::LimitReached { .. }
                | Event::DatapathRefused { .. }
        )
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Event::GatesOpened { pair, nat, version, exchange, message_id } => write!(
                f,
                "gates opened: {} -> {} via {nat}, {version} {exchange} message ID {message_id}",
                pair.client, pair.server
            ),
            Event::Phase2Dropped { pair, nat, exchange, message_id, reason } => write!(
                f,
                "phase-2 dropped: {} -> {} via {nat}, {exchange} message ID {message_id}: {reason}",
                pair.client, pair.server
            ),
            Event::SessionCreated { key, client, nat, origin } => write!(
                f,
                "ESP session created ({origin}): {} SPI {} client {client} NAT {nat} ({} -> {})",
                key.direction, key.spi, key.src, key.dst
            ),
            Event::GatesCollapsed { pair, outbound_spi, inbound_spi } => write!(
                f,
                "gates collapsed: {} -> {}, SPI out {outbound_spi} in {inbound_spi}",
                pair.client, pair.server
            ),
            Event::InboundGateReopened { pair, nat, outbound_spi } => write!(
                f,
                "inbound gate re-opened: {} -> {} via {nat}, first ESP out on SPI {outbound_spi} after an exchange whose inbound gate went unused",
                pair.client, pair.server
            ),
            Event::GatesExpired { pair, outbound_hit, inbound_hit } => {
                let show = |s: Option<Spi>| s.map_or_else(|| "unused".to_string(), |s| s.to_string());
                write!(
                    f,
                    "gates expired: {} -> {}, outbound {} inbound {}",
                    pair.client,
                    pair.server,
                    show(outbound_hit),
                    show(inbound_hit)
                )
            }
            Event::GatesReleasedEarly { pair } => write!(
                f,
                "gates released early: {} -> {}, answered and unused while another client waits; inbound SPI owed",
                pair.client, pair.server
            ),
            Event::SessionEnded { key, end, packets, bytes } => write!(
                f,
                "ESP session {}: {} SPI {} ({} -> {}), {packets} packets {bytes} bytes",
                match end {
                    SessionEnd::Idle => "expired",
                    SessionEnd::Cleared => "cleared",
                },
                key.direction,
                key.spi,
                key.src,
                key.dst
            ),
            Event::IkeSaExpired { pair, initiator_spi } => {
                write!(f, "ALG state expired: {} -> {} IKE SA {initiator_spi}", pair.client, pair.server)
            }
            Event::InboundEspRefusedByGate { server, nat, spi, sequence, reason } => write!(
                f,
                "inbound ESP dropped: {server} -> {nat} SPI {spi} sequence {sequence}: {reason}; not bound to the gate's client"
            ),
            Event::InboundEspDropped { server, nat, spi } => {
                write!(f, "inbound ESP dropped: {server} -> {nat} SPI {spi}: no session and no open gate")
            }
            Event::BindingCreated { client, nat, shared_with } => {
                write!(f, "NAT binding created: {client} -> {nat}")?;
                if shared_with > 0 {
                    write!(f, " (shared with {shared_with} other client(s))")?;
                }
                Ok(())
            }
            Event::BindingRemoved { client, nat } => write!(f, "NAT binding removed: {client} -> {nat}"),
            Event::LimitReached { table, client } => match client {
                Some(c) => write!(f, "limit reached: client {c} has its maximum of {table} entries"),
                None => write!(f, "limit reached: {table} table is full"),
            },
            Event::DatapathRefused { action, undone } => {
                match action {
                    Action::InstallEspSession(s) => write!(
                        f,
                        "datapath refused ESP session: {} SPI {} ({} -> {}) via {}",
                        s.key.direction, s.key.spi, s.key.src, s.key.dst, s.translated
                    )?,
                    Action::InstallIkeNat(n) => write!(
                        f,
                        "datapath refused IKE NAT: {}:{} -> {}:{} via {}:{}",
                        n.client, n.client_port, n.server, n.server_port, n.nat, n.nat_port
                    )?,
                    Action::InstallBinding(b) => write!(f, "datapath refused NAT binding: {} -> {}", b.client, b.nat)?,
                    Action::RemoveBinding(_) | Action::RemoveIkeNat(_) | Action::RemoveEspSession(_) => {
                        write!(f, "datapath refused a removal")?
                    }
                }
                f.write_str(if undone {
                    "; forgotten, the next packet is learned again"
                } else {
                    "; nothing undone (already gone, or the binding still has flows or sessions)"
                })
            }
        }
    }
}
