//! A virtual-time harness around the engine: it owns the clock, feeds packets, and keeps
//! every action and event the engine queued, so scenarios can assert on all of them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::field_reassign_with_default
)]
#![allow(dead_code, unreachable_pub)]

use ike_esp_alg::engine::{Action, AddressRange, Engine, EngineConfig, Event, PoolConfig, SourceNat, Verdict};
use ike_esp_alg::time::Instant;
use ike_esp_alg::wire::build::{self, IkeHeader};
use ike_esp_alg::wire::{ExchangeType, IkeFlags, IkeSpi, MessageId, Spi};
use std::net::Ipv4Addr;
use std::time::Duration;

pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const SERVER2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

pub fn client(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 1, 9 + n)
}

/// The default configuration with one pool, `pool1`, of the addresses `first` to `last`,
/// which the default rule translates to.
pub fn pool_config(first: &str, last: &str) -> EngineConfig {
    let mut config = EngineConfig::default();
    config.pools = vec![PoolConfig {
        name: "pool1".into(),
        ranges: vec![AddressRange::new(first.parse().unwrap(), last.parse().unwrap()).unwrap()],
    }];
    config.rules[0].source_nat = SourceNat::Pool(0);
    config
}

pub struct Lab {
    pub engine: Engine,
    pub now: Instant,
    pub actions: Vec<Action>,
    pub events: Vec<Event>,
}

impl Lab {
    pub fn new(config: EngineConfig) -> Lab {
        let mut engine = Engine::new(config).expect("valid config");
        engine.handle_egress_address(Instant::ZERO, Some(WAN));
        Lab { engine, now: Instant::ZERO, actions: Vec::new(), events: Vec::new() }
    }

    pub fn default_config() -> Lab {
        Lab::new(EngineConfig::default())
    }

    pub fn send(&mut self, packet: &[u8]) -> Verdict {
        let verdict = self.engine.handle_packet(self.now, packet);
        self.drain();
        verdict
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.engine.handle_timeout(self.now);
        self.drain();
    }

    pub fn advance_secs(&mut self, secs: u64) {
        self.advance(Duration::from_secs(secs));
    }

    pub fn advance_millis(&mut self, ms: u64) {
        self.advance(Duration::from_millis(ms));
    }

    fn drain(&mut self) {
        while let Some(a) = self.engine.poll_action() {
            self.actions.push(a);
        }
        while let Some(e) = self.engine.poll_event() {
            self.events.push(e);
        }
    }

    /// Every action queued so far, including those from direct engine calls.
    pub fn take_actions(&mut self) -> Vec<Action> {
        self.drain();
        std::mem::take(&mut self.actions)
    }

    /// The NAT address and port the engine gave this client's IKE flow to `server`.
    pub fn ike_nat(&self, client: Ipv4Addr, server: Ipv4Addr) -> (Ipv4Addr, u16) {
        let sa = self
            .engine
            .ike_sa_status(self.now)
            .into_iter()
            .find(|s| s.client == client && s.server == server)
            .expect("client has an IKE SA with the server");
        (sa.nat, sa.nat_port)
    }
}

/// An IKE peer pair as a test drives it: the client's IKE SA with one server.
#[derive(Clone, Copy, Debug)]
pub struct Ike {
    pub client: Ipv4Addr,
    pub server: Ipv4Addr,
    pub client_port: u16,
    pub version: u8,
    pub initiator_spi: IkeSpi,
    pub responder_spi: IkeSpi,
}

impl Ike {
    pub fn v1(client: Ipv4Addr, server: Ipv4Addr) -> Ike {
        Ike::new(client, server, 1)
    }

    pub fn v2(client: Ipv4Addr, server: Ipv4Addr) -> Ike {
        Ike::new(client, server, 2)
    }

    fn new(client: Ipv4Addr, server: Ipv4Addr, version: u8) -> Ike {
        let seed = u64::from(u32::from(client)) << 16 | u64::from(u32::from(server) & 0xffff);
        Ike {
            client,
            server,
            client_port: 500,
            version,
            initiator_spi: IkeSpi(0x1000_0000_0000_0000 | seed),
            responder_spi: IkeSpi(0x2000_0000_0000_0000 | seed),
        }
    }

    fn header(&self, exchange: ExchangeType, flags: u8, message_id: u32, first: bool) -> IkeHeader {
        IkeHeader {
            major_version: self.version,
            exchange,
            flags,
            message_id: MessageId(message_id),
            initiator_spi: self.initiator_spi,
            responder_spi: if first { IkeSpi::ZERO } else { self.responder_spi },
            body_len: 64,
        }
    }

    /// A message from the client to the server.
    pub fn out(&self, exchange: ExchangeType, flags: u8, message_id: u32) -> Vec<u8> {
        let first = matches!(
            exchange,
            ExchangeType::IKE_SA_INIT | ExchangeType::IDENTITY_PROTECTION | ExchangeType::AGGRESSIVE
        ) && message_id == 0
            && flags & IkeFlags::V2_RESPONSE == 0;
        build::ike(self.client, self.client_port, self.server, 500, &self.header(exchange, flags, message_id, first))
    }

    /// A message from the server to the client's NAT address and port.
    pub fn inbound(&self, lab: &Lab, exchange: ExchangeType, flags: u8, message_id: u32) -> Vec<u8> {
        let (nat, port) = lab.ike_nat(self.client, self.server);
        build::ike(self.server, 500, nat, port, &self.header(exchange, flags, message_id, false))
    }

    /// Phase 1: IKEv1 Main Mode first exchange, or IKEv2 IKE_SA_INIT, both ways.
    pub fn establish(&self, lab: &mut Lab) {
        if self.version == 1 {
            assert_eq!(lab.send(&self.out(ExchangeType::IDENTITY_PROTECTION, 0, 0)), Verdict::Accept);
            let reply = self.inbound(lab, ExchangeType::IDENTITY_PROTECTION, 0, 0);
            assert_eq!(lab.send(&reply), Verdict::Accept);
        } else {
            assert_eq!(lab.send(&self.out(ExchangeType::IKE_SA_INIT, IkeFlags::V2_INITIATOR, 0)), Verdict::Accept);
            let reply = self.inbound(lab, ExchangeType::IKE_SA_INIT, IkeFlags::V2_RESPONSE, 0);
            assert_eq!(lab.send(&reply), Verdict::Accept);
        }
    }

    /// IKEv1 Quick Mode message from the client.
    pub fn qm_out(&self, message_id: u32) -> Vec<u8> {
        self.out(ExchangeType::QUICK_MODE, IkeFlags::V1_ENCRYPTION, message_id)
    }

    /// IKEv1 Quick Mode message from the server.
    pub fn qm_in(&self, lab: &Lab, message_id: u32) -> Vec<u8> {
        self.inbound(lab, ExchangeType::QUICK_MODE, IkeFlags::V1_ENCRYPTION, message_id)
    }

    /// ESP from the client to the server.
    pub fn esp_out(&self, spi: u32) -> Vec<u8> {
        build::esp(self.client, self.server, Spi(spi), 1, 48)
    }

    /// ESP from the server to `nat`.
    pub fn esp_in(&self, nat: Ipv4Addr, spi: u32) -> Vec<u8> {
        build::esp(self.server, nat, Spi(spi), 1, 48)
    }
}
