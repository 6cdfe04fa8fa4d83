//! What the engine keeps per table entry. Timer tickets and per-client counts are kept by
//! the tables themselves ([`super::table`]).

use super::output::SessionOrigin;
use super::table_keys::{FlowKey, PairKey, TranslatedFlowKey};
use crate::time::Instant;
use crate::wire::{ExchangeType, IkeSpi, IkeVersion, MessageId, Spi};
use std::collections::VecDeque;
use std::net::Ipv4Addr;

/// ALG state for one IKE SA (SPEC §2).
#[derive(Debug, Clone)]
pub(crate) struct IkeSaEntry {
    pub(crate) version: IkeVersion,
    pub(crate) responder_spi: IkeSpi,
    pub(crate) flow: FlowKey,
    pub(crate) created: Instant,
    pub(crate) last_seen: Instant,
}

/// A translated IKE UDP flow.
#[derive(Debug, Clone)]
pub(crate) struct FlowEntry {
    pub(crate) nat: Ipv4Addr,
    pub(crate) nat_port: u16,
    pub(crate) last_seen: Instant,
}

impl FlowEntry {
    /// The flow `key` as the server sees it, after this translation.
    pub(crate) fn translated(&self, key: FlowKey) -> TranslatedFlowKey {
        TranslatedFlowKey { server: key.server, server_port: key.server_port, nat: self.nat, nat_port: self.nat_port }
    }
}

/// Identity of one phase-2 exchange within a pair (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ExchangeId {
    pub(crate) initiator_spi: IkeSpi,
    pub(crate) kind: ExchangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ExchangeKind {
    /// IKEv1 Quick Mode: the message ID names the exchange in both directions.
    QuickMode(MessageId),
    /// IKEv2 IKE_AUTH: every round of it (EAP takes several message IDs) is one exchange,
    /// since it creates one Child SA at its end.
    IkeAuth,
    /// IKEv2 CREATE_CHILD_SA: message IDs count separately for each requester (RFC 7296
    /// §2.2), so the requester is part of the name.
    CreateChildSa { message_id: MessageId, requested_by_original_initiator: bool },
    /// An inbound gate re-opened by the client's first ESP of an SA whose exchange ended
    /// with its inbound gate unused (see [`PairEntry::inbound_owed`]).
    Resumed,
}

/// A gate's life: open until the first ESP packet with a new SPI hits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    Open,
    Hit(Spi),
}

impl Gate {
    pub(crate) fn hit_spi(self) -> Option<Spi> {
        match self {
            Gate::Open => None,
            Gate::Hit(spi) => Some(spi),
        }
    }
}

/// A phase-2 exchange in progress and its two gates.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    pub(crate) id: ExchangeId,
    pub(crate) version: IkeVersion,
    pub(crate) exchange_type: ExchangeType,
    pub(crate) message_id: MessageId,
    pub(crate) opened: Instant,
    pub(crate) last_message: Instant,
    /// Set once another client waits for this exchange's inbound gate: from then on
    /// retransmissions no longer extend the gates, so no client can hold them for ever.
    pub(crate) extension_frozen: bool,
    /// Whether the client sent the exchange's first message.
    pub(crate) opened_by_client: bool,
    /// Whether the other side has spoken in this exchange (IKEv1 Quick Mode's second
    /// message).
    pub(crate) peer_spoke: bool,
    /// When the exchange was last answered: an IKEv2 response (RFC 7296 §3.1, the R flag),
    /// or IKEv1 Quick Mode's third message (RFC 2409 §5.5). By then both peers have
    /// installed the SA, and traffic that waited for it flows within a round trip, so gates
    /// both still unused a settle time later are given up when another client waits for
    /// the slot (`Timeouts::esp_gate_settle`). Cleared by a new request of the
    /// same exchange (another IKE_AUTH round), not by a retransmission of the answered
    /// one. None for a resumed gate.
    pub(crate) answered: Option<Instant>,
    /// The message ID of the last answer.
    pub(crate) answered_id: MessageId,
    pub(crate) outbound: Gate,
    pub(crate) inbound: Gate,
}

impl Exchange {
    /// Whether the server may already send ESP on the exchange's new SA, as far as the
    /// messages seen tell: an IKEv2 responder installs its Child SA as it answers, an
    /// IKEv2 initiator once it has the answer (RFC 7296 §1.3); in IKEv1 Quick Mode
    /// neither side has the other's SPI before the second message (RFC 2409 §5.5), so
    /// that message is taken as the earliest point (a responder that waits for the third
    /// only makes this lenient). Before that, an unknown inbound SPI is some other SA's.
    pub(crate) fn server_may_send(&self) -> bool {
        match (self.id.kind, self.version) {
            (ExchangeKind::Resumed, _) => true,
            (_, IkeVersion::V1) => self.peer_spoke,
            _ => self.answered.is_some(),
        }
    }

    /// An exchange opened by its first message.
    pub(crate) fn opened(id: ExchangeId, header: ExchangeHeader, now: Instant, opened_by_client: bool) -> Exchange {
        Exchange {
            id,
            version: header.version,
            exchange_type: header.exchange_type,
            message_id: header.message_id,
            opened: now,
            last_message: now,
            extension_frozen: false,
            opened_by_client,
            peer_spoke: false,
            answered: None,
            answered_id: header.message_id,
            outbound: Gate::Open,
            inbound: Gate::Open,
        }
    }
}

/// What an exchange shows of the message that named it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExchangeHeader {
    pub(crate) version: IkeVersion,
    pub(crate) exchange_type: ExchangeType,
    pub(crate) message_id: MessageId,
}

/// How many ended exchanges a pair remembers, so late retransmissions pass without
/// opening new gates.
pub(crate) const RECENT_EXCHANGES: usize = 4;

/// What the ALG knows about one client/server pair beyond its IKE SAs.
#[derive(Debug, Clone)]
pub(crate) struct PairEntry {
    pub(crate) nat: Ipv4Addr,
    pub(crate) ike_sas: u32,
    pub(crate) exchange: Option<Exchange>,
    pub(crate) recent: [Option<ExchangeId>; RECENT_EXCHANGES],
    pub(crate) recent_next: usize,
    /// Set when an exchange ended with its inbound gate unused: an SA was negotiated but
    /// no ESP came in time (tunnels brought up before any traffic). The pair's next new
    /// outbound SPI re-opens the inbound gate, so the server's first reply is learned.
    pub(crate) inbound_owed: Option<OwedExchange>,
}

/// The exchange whose inbound SPI is still to be learned, as it will be shown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OwedExchange {
    pub(crate) version: IkeVersion,
    pub(crate) exchange_type: ExchangeType,
    pub(crate) message_id: MessageId,
}

impl PairEntry {
    pub(crate) fn new(nat: Ipv4Addr) -> PairEntry {
        PairEntry {
            nat,
            ike_sas: 0,
            exchange: None,
            recent: [None; RECENT_EXCHANGES],
            recent_next: 0,
            inbound_owed: None,
        }
    }

    pub(crate) fn remember_ended(&mut self, id: ExchangeId) {
        if let Some(slot) = self.recent.get_mut(self.recent_next % RECENT_EXCHANGES) {
            *slot = Some(id);
        }
        self.recent_next = (self.recent_next + 1) % RECENT_EXCHANGES;
    }

    pub(crate) fn recently_ended(&self, id: &ExchangeId) -> bool {
        self.recent.iter().flatten().any(|r| r == id)
    }
}

/// One learned ESP SA in one direction.
#[derive(Debug, Clone)]
pub(crate) struct SessionEntry {
    /// The address written into packets: the NAT address outbound, the client inbound.
    pub(crate) translated: Ipv4Addr,
    pub(crate) origin: SessionOrigin,
    pub(crate) created: Instant,
    pub(crate) last_activity: Instant,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
}

/// A client's persistent NAT address. What holds it (IKE SAs, flows, sessions) is counted
/// per client by those tables; its linger timer is armed only while nothing does.
#[derive(Debug, Clone)]
pub(crate) struct BindingEntry {
    pub(crate) nat: Ipv4Addr,
    /// `None` for interface SNAT.
    pub(crate) pool: Option<usize>,
    pub(crate) created: Instant,
    pub(crate) last_activity: Instant,
    /// The datapath refused this binding while flows or sessions used it: it goes as soon
    /// as they do, without its linger (see [`super::Engine::handle_action_failed`]).
    pub(crate) refused_by_datapath: bool,
}

/// Who has the inbound gate of one (server, NAT address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotHolder {
    /// A pair's exchange has its inbound gate here.
    Held(PairKey),
    /// Kept for the first waiting pair until `until`.
    Reserved { pair: PairKey, until: Instant },
}

/// The inbound gate slot of one (server, NAT address), with the pairs waiting for it.
#[derive(Debug, Clone)]
pub(crate) struct SlotEntry {
    pub(crate) holder: SlotHolder,
    pub(crate) waiters: VecDeque<PairKey>,
}
