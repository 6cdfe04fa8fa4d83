//! ESP packets: sessions learned through gates, and the inbound drop (SPEC §3 rules 3, 4, 6).
//!
//! RFC 4303 §2.1: the receiver chooses the SPI, so an inbound SPI is unique only per
//! (server, NAT address) together with the client that chose it. That is why inbound ESP
//! can only be learned through a gate that names the client.
//!
//! # When an inbound SPI can reach the wrong client
//!
//! An unknown inbound SPI is bound to the client that holds the open inbound gate of its
//! (server, NAT address). It reaches the wrong client only when it is not that client's
//! new SA, which takes an SA of another client behind the same NAT address, to the same
//! server, whose inbound SPI the engine does not know, and whose server sends while the
//! gate is open. The engine knows of no inbound SPI in exactly these cases (counted by
//! the model in `tests/support/burst.rs`, under these names):
//!
//! 1. **owed**: the client's exchange ended with its inbound gate unused (the tunnel came
//!    up without traffic, and the gates expired or were released early for a waiting
//!    client), and its server sends first on the SA before the client's own first ESP
//!    re-opens the gate ([`PairEntry::inbound_owed`](super::entries::PairEntry)). Also a
//!    re-opened gate that expired unused (the client's first ESP was lost past the router).
//! 2. **lost**: the client's inbound session was learned and is gone while the SA lives:
//!    idle for `esp_session_timeout`, cleared, or lost with the daemon's state (a restart
//!    without the state file, a refused re-install).
//! 3. **unseen**: the engine never saw the exchange: the queue failed open (overflow), the
//!    daemon was not running, or the tunnel predates it.
//! 4. **displaced**: the client's own gate was taken by another client's SA under 1-3, so
//!    its own SA arrives with no gate of its own: the victim's side of one of them.
//!
//! Two checks keep the gate to its own SA where the protocol tells: the server cannot use
//! the new SA before the exchange is answered ([`Exchange::server_may_send`]), so earlier
//! packets are refused (`InboundEspBeforeAnswer`); and an SA's first packet carries
//! sequence number 1 (RFC 4303 §3.3.3), so a packet past [`FRESH_SA_MAX_SEQUENCE`] is an
//! older SA (`InboundEspNotFresh`): that closes case 2 once the SA has carried traffic,
//! and cases 3 and 4 once the stray SA has sent that many packets.

use super::entries::{Exchange, ExchangeHeader, ExchangeId, ExchangeKind, Gate, SessionEntry, SlotHolder};
use super::output::{Action, DropReason, EspSessionSpec, Event, SessionOrigin, Table, Translation, Verdict};
use super::table::Refusal;
use super::table_keys::{Direction, PairKey, SessionKey, SlotKey};
use super::Engine;
use crate::time::Instant;
use crate::wire::{EspInfo, IkeSpi, Spi};
use std::net::Ipv4Addr;

/// The highest sequence number an SA's first packet at an exchange's inbound gate may
/// carry. An SA's first packet carries 1 (RFC 4303 §3.3.3), and the gate is open from the
/// exchange's first message, before either peer installs the SA, so the first packet
/// that crosses the router finds it; the margin covers packets lost before the router.
/// A re-opened gate (the exchange's own gate went unused) takes any number: its server
/// may have sent, and been dropped, meanwhile.
pub(crate) const FRESH_SA_MAX_SEQUENCE: u32 = 64;

/// Why an unknown inbound SPI at `exchange`'s open gate cannot be that exchange's new SA:
/// its server cannot use the SA before the answer, and the SA's first packets carry the
/// first sequence numbers. A re-opened gate takes any number.
fn not_its_own_sa(exchange: &Exchange, sequence: u32) -> Option<DropReason> {
    if !exchange.server_may_send() {
        return Some(DropReason::InboundEspBeforeAnswer);
    }
    let fresh = exchange.id.kind == ExchangeKind::Resumed || sequence <= FRESH_SA_MAX_SEQUENCE;
    (!fresh).then_some(DropReason::InboundEspNotFresh)
}

impl Engine {
    pub(super) fn handle_esp(&mut self, now: Instant, esp: EspInfo) -> Verdict {
        if esp.spi == Spi::RESERVED_ZERO {
            self.counters.esp_reserved_spi += 1;
            return Verdict::Drop(DropReason::ReservedSpi);
        }
        let inbound = self.is_nat_address(esp.dst);
        let direction = if inbound { Direction::Inbound } else { Direction::Outbound };
        let key = SessionKey { direction, src: esp.src, dst: esp.dst, spi: esp.spi };
        if let Some(session) = self.sessions.get_mut(&key) {
            // Normally the kernel forwards these. One reaching us either raced the
            // installation or found the kernel's element expired (its timeout lapsed
            // between two refreshes): installing again is harmless in the first case and
            // puts the SA back on the fast path in the second.
            session.packets = session.packets.saturating_add(1);
            session.bytes = session.bytes.saturating_add(u64::from(esp.ip_len));
            session.last_activity = now;
            self.counters.esp_session_packets += 1;
            let translated = session.translated;
            self.actions.extend(self.session_spec(&key).map(Action::InstallEspSession));
            return Verdict::AcceptTranslated(Translation::for_session(direction, translated));
        }
        if inbound {
            self.handle_unknown_inbound_esp(now, key, esp.sequence, esp.ip_len)
        } else {
            self.handle_unknown_outbound_esp(now, key, esp.ip_len)
        }
    }

    fn handle_unknown_inbound_esp(&mut self, now: Instant, key: SessionKey, sequence: u32, ip_len: u16) -> Verdict {
        let slot_key = SlotKey { server: key.src, nat: key.dst };
        let holder = match self.slots.get(&slot_key).map(|s| s.holder) {
            Some(SlotHolder::Held(pair)) => Some(pair),
            _ => None,
        };
        let open_exchange = holder.and_then(|pair| {
            let exchange = self.pairs.get(&pair).and_then(|p| p.exchange.as_ref())?;
            (exchange.inbound == Gate::Open).then_some((pair, not_its_own_sa(exchange, sequence)))
        });
        if let Some((_, Some(reason))) = open_exchange {
            // Binding another SA here would send it to the gate's client (and leave that
            // client's own SA without a gate).
            match reason {
                DropReason::InboundEspBeforeAnswer => self.counters.inbound_esp_before_answer += 1,
                _ => self.counters.inbound_esp_not_fresh += 1,
            }
            let (server, nat, spi) = (key.src, key.dst, key.spi);
            self.push_event(Event::InboundEspRefusedByGate { server, nat, spi, sequence, reason });
            return Verdict::Drop(reason);
        }
        let open_gate = open_exchange.map(|(pair, _)| pair);
        let Some(pair) = open_gate else {
            if !self.is_rule_server(key.src) {
                self.counters.packets_not_matched += 1;
            }
            self.counters.inbound_esp_dropped_no_gate += 1;
            self.push_event(Event::InboundEspDropped { server: key.src, nat: key.dst, spi: key.spi });
            return Verdict::Drop(DropReason::InboundEspWithoutGate);
        };
        match self.create_session(now, key, pair.client, pair.client, SessionOrigin::Gate, ip_len) {
            Ok(verdict) => {
                self.hit_gate(now, pair, Direction::Inbound, key.spi);
                verdict
            }
            Err(reason) => Verdict::Drop(reason),
        }
    }

    fn handle_unknown_outbound_esp(&mut self, now: Instant, key: SessionKey, ip_len: u16) -> Verdict {
        let Some(rule) = self.rule_for(key.src, key.dst) else {
            self.counters.packets_not_matched += 1;
            return Verdict::Accept;
        };
        let pair = PairKey { client: key.src, server: key.dst };
        let gate_nat = self.pairs.get(&pair).and_then(|p| {
            let exchange = p.exchange.as_ref()?;
            (exchange.outbound == Gate::Open).then_some(p.nat)
        });
        let owed_nat =
            self.pairs.get(&pair).and_then(|p| (p.exchange.is_none() && p.inbound_owed.is_some()).then_some(p.nat));
        let result = match (gate_nat, owed_nat) {
            (Some(nat), _) => self
                .create_session(now, key, key.src, nat, SessionOrigin::Gate, ip_len)
                .inspect(|_| self.hit_gate(now, pair, Direction::Outbound, key.spi)),
            (None, Some(nat)) => {
                // The first ESP of an SA whose inbound SPI is owed: like a phase-2 message,
                // it waits for the inbound slot, so the server's reply cannot meet another
                // client's open gate. Dropped meanwhile; the client's next packet retries.
                let slot_key = SlotKey { server: pair.server, nat };
                if let Some(reason) = self.inbound_slot_refusal(now, slot_key, pair) {
                    self.counters.esp_waiting_for_gate += 1;
                    return Verdict::Drop(reason);
                }
                self.create_session(now, key, key.src, nat, SessionOrigin::Gate, ip_len)
                    .inspect(|_| self.resume_inbound_gate(now, pair, slot_key, key.spi))
            }
            (None, None) => match self.ensure_binding(now, key.src, rule) {
                // SPEC rule 6: harmless, the source is the client itself.
                Ok(nat) => self.create_session(now, key, key.src, nat, SessionOrigin::WithoutGate, ip_len),
                Err(reason) => Err(reason),
            },
        };
        result.unwrap_or_else(Verdict::Drop)
    }

    /// Opens the inbound gate alone (the outbound side was just learned) for a pair that
    /// owes an inbound SPI, so the server's first reply on that SA reaches this client.
    fn resume_inbound_gate(&mut self, now: Instant, pair_key: PairKey, slot_key: SlotKey, outbound_spi: Spi) {
        let Some(owed) = self.pairs.get(&pair_key).and_then(|p| p.inbound_owed) else { return };
        let id = ExchangeId { initiator_spi: IkeSpi::ZERO, kind: ExchangeKind::Resumed };
        self.take_slot(now, slot_key, pair_key);
        let Some(pair) = self.pairs.get_mut(&pair_key) else { return };
        pair.inbound_owed = None;
        let header =
            ExchangeHeader { version: owed.version, exchange_type: owed.exchange_type, message_id: owed.message_id };
        // Not opened by a message: no answer will come, so the gate keeps its full time.
        let mut exchange = Exchange::opened(id, header, now, true);
        exchange.outbound = Gate::Hit(outbound_spi);
        pair.exchange = Some(exchange);
        let nat = pair.nat;
        self.counters.gates_resumed += 1;
        self.counters.gates_opened += 1;
        self.push_event(Event::InboundGateReopened { pair: pair_key, nat, outbound_spi });
    }

    /// Creates a session, queues its installation, and returns the first packet's verdict.
    fn create_session(
        &mut self,
        now: Instant,
        key: SessionKey,
        client: Ipv4Addr,
        translated: Ipv4Addr,
        origin: SessionOrigin,
        ip_len: u16,
    ) -> Result<Verdict, DropReason> {
        let entry =
            SessionEntry { translated, origin, created: now, last_activity: now, packets: 1, bytes: u64::from(ip_len) };
        match self.sessions.insert(key, entry, Some(client)) {
            Ok(()) => {}
            Err(Refusal::ClientLimit) => return Err(self.client_limit(Table::Sessions, client)),
            Err(_) => return Err(self.table_full(Table::Sessions)),
        }
        self.sessions.arm(&mut self.timers, key, now + self.config.timeouts.esp_session);
        match origin {
            SessionOrigin::Gate => self.counters.sessions_created_gate += 1,
            SessionOrigin::WithoutGate => self.counters.sessions_created_without_gate += 1,
            SessionOrigin::Restored => self.counters.sessions_restored += 1,
        }
        let spec = EspSessionSpec { key, translated, idle_timeout: self.config.timeouts.esp_session };
        self.actions.push_back(Action::InstallEspSession(spec));
        let nat = match key.direction {
            Direction::Outbound => translated,
            Direction::Inbound => key.dst,
        };
        self.push_event(Event::SessionCreated { key, client, nat, origin });
        Ok(Verdict::AcceptTranslated(spec.translation()))
    }

    /// Marks one gate hit; when both are, they collapse and the exchange ends (rule 4).
    fn hit_gate(&mut self, now: Instant, pair_key: PairKey, direction: Direction, spi: Spi) {
        let Some(exchange) = self.pairs.get_mut(&pair_key).and_then(|p| p.exchange.as_mut()) else { return };
        let gate = match direction {
            Direction::Outbound => &mut exchange.outbound,
            Direction::Inbound => &mut exchange.inbound,
        };
        if *gate != Gate::Open {
            return;
        }
        *gate = Gate::Hit(spi);
        self.counters.gates_hit += 1;
        if let (Gate::Hit(outbound_spi), Gate::Hit(inbound_spi)) = (exchange.outbound, exchange.inbound) {
            self.counters.gates_collapsed += 2;
            self.push_event(Event::GatesCollapsed { pair: pair_key, outbound_spi, inbound_spi });
            self.end_exchange(now, pair_key);
        } else if direction == Direction::Inbound {
            // The slot guards unknown inbound SPIs, and this pair's is known now: the next
            // client may have it while the outbound gate waits on its own.
            let Some(nat) = self.pairs.get(&pair_key).map(|p| p.nat) else { return };
            self.slot_generation = self.slot_generation.wrapping_add(1);
            self.release_slot(now, SlotKey { server: pair_key.server, nat }, pair_key);
        }
    }

    /// Removes a session and its datapath entry.
    pub(super) fn remove_session(&mut self, now: Instant, key: SessionKey, end: super::SessionEnd) {
        let Some(session) = self.forget_session(now, key) else { return };
        let spec =
            EspSessionSpec { key, translated: session.translated, idle_timeout: self.config.timeouts.esp_session };
        self.actions.push_back(Action::RemoveEspSession(spec));
        self.push_event(Event::SessionEnded { key, end, packets: session.packets, bytes: session.bytes });
    }

    /// Takes a session out of the engine and releases what it held on the client's binding.
    /// Queues nothing: the caller says what the datapath must do.
    pub(super) fn forget_session(&mut self, now: Instant, key: SessionKey) -> Option<SessionEntry> {
        let session = self.sessions.remove(&key)?;
        let client = match key.direction {
            Direction::Outbound => key.src,
            Direction::Inbound => session.translated,
        };
        self.release_binding(now, client);
        Some(session)
    }
}
