//! Keys of the engine's tables, and the timer key that names an entry in any of them.

use crate::wire::{IkeSpi, Spi};
use core::fmt;
use std::net::Ipv4Addr;

/// Which way a packet or an ESP session goes, seen from the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Client to server; the source is rewritten to the NAT address.
    Outbound,
    /// Server to NAT address; the destination is rewritten to the client.
    Inbound,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Outbound => "out",
            Direction::Inbound => "in",
        })
    }
}

/// A client and the server it talks IKE to: the unit of phase-2 serialisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairKey {
    pub client: Ipv4Addr,
    pub server: Ipv4Addr,
}

/// One IKE SA of a pair, named by its initiator SPI (IKEv2) or cookie (IKEv1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IkeSaKey {
    pub pair: PairKey,
    pub initiator_spi: IkeSpi,
}

/// One ESP SA as the datapath matches it: addresses before translation, and the SPI.
/// Outbound: (client, server, SPI). Inbound: (server, NAT address, SPI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    pub direction: Direction,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub spi: Spi,
}

/// An IKE UDP flow before NAT: (client, client port, server, server port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub client: Ipv4Addr,
    pub client_port: u16,
    pub server: Ipv4Addr,
    pub server_port: u16,
}

/// The same flow as the server sees it: (server, server port, NAT address, NAT port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TranslatedFlowKey {
    pub(crate) server: Ipv4Addr,
    pub(crate) server_port: u16,
    pub(crate) nat: Ipv4Addr,
    pub(crate) nat_port: u16,
}

/// The inbound gate slot: one per (server, NAT address), SPEC §3 rule 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotKey {
    pub server: Ipv4Addr,
    pub nat: Ipv4Addr,
}

/// Names the entry a timer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// The pair's gate deadline.
    Gates(PairKey),
    /// A reserved inbound slot waiting for its client.
    Slot(SlotKey),
    IkeSa(IkeSaKey),
    Flow(FlowKey),
    Session(SessionKey),
    /// A client's persistent NAT binding (linger after its last reference).
    Binding(Ipv4Addr),
}

impl super::table::TimedKey for PairKey {
    /// A pair's timer is its gate deadline.
    fn timer_key(self) -> TimerKey {
        TimerKey::Gates(self)
    }
}

impl super::table::TimedKey for SlotKey {
    fn timer_key(self) -> TimerKey {
        TimerKey::Slot(self)
    }
}

impl super::table::TimedKey for IkeSaKey {
    fn timer_key(self) -> TimerKey {
        TimerKey::IkeSa(self)
    }
}

impl super::table::TimedKey for FlowKey {
    fn timer_key(self) -> TimerKey {
        TimerKey::Flow(self)
    }
}

impl super::table::TimedKey for SessionKey {
    fn timer_key(self) -> TimerKey {
        TimerKey::Session(self)
    }
}

/// The bindings table is keyed by the client's address.
impl super::table::TimedKey for Ipv4Addr {
    fn timer_key(self) -> TimerKey {
        TimerKey::Binding(self)
    }
}
