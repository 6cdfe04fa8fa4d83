//! IKE messages: flows, IKE SAs, and the phase-2 exchanges that open gates (SPEC §3 rules 1-2).
//!
//! Phase-2 exchanges are IKEv1 Quick Mode (RFC 2409 §5.5), IKEv2 IKE_AUTH (RFC 7296 §1.2)
//! and CREATE_CHILD_SA (RFC 7296 §1.3). Only their cleartext header is visible, so an
//! exchange is named by its IKE SA, its message ID and, in IKEv2, who sent the request.

use super::entries::{
    Exchange, ExchangeHeader, ExchangeId, ExchangeKind, Gate, IkeSaEntry, PairEntry, SlotEntry, SlotHolder,
};
use super::output::{DropReason, Event, Table, Verdict};
use super::table::Refusal;
use super::table_keys::{FlowKey, IkeSaKey, PairKey, SlotKey, TranslatedFlowKey};
use super::Engine;
use crate::time::Instant;
use crate::wire::{ExchangeType, IkeFlags, IkeInfo, IkeSpi, IkeVersion};
use std::collections::VecDeque;

impl Engine {
    pub(super) fn handle_ike(&mut self, now: Instant, ike: IkeInfo) -> Verdict {
        self.counters.ike_messages += 1;
        let ep = ike.endpoints;
        let flow_key = if self.is_nat_address(ep.dst) {
            if !self.is_rule_server(ep.src) {
                self.counters.packets_not_matched += 1;
                return Verdict::Accept;
            }
            let translated =
                TranslatedFlowKey { server: ep.src, server_port: ep.src_port, nat: ep.dst, nat_port: ep.dst_port };
            match self.flows.by_translation(&translated) {
                Some(key) => key,
                None => {
                    // Not one of our clients' flows (perhaps IKE to the router itself).
                    self.counters.ike_inbound_unknown_flow += 1;
                    return Verdict::Accept;
                }
            }
        } else {
            let Some(rule) = self.rule_for(ep.src, ep.dst) else {
                self.counters.packets_not_matched += 1;
                return Verdict::Accept;
            };
            let key = FlowKey { client: ep.src, client_port: ep.src_port, server: ep.dst, server_port: ep.dst_port };
            if let Err(reason) = self.ensure_flow(now, key, rule) {
                return Verdict::Drop(reason);
            }
            key
        };
        if let Some(flow) = self.flows.table_mut().get_mut(&flow_key) {
            flow.last_seen = now;
        }
        let pair = PairKey { client: flow_key.client, server: flow_key.server };
        if let Err(reason) = self.track_ike_sa(now, pair, flow_key, &ike) {
            return Verdict::Drop(reason);
        }
        match phase2_exchange_id(&ike) {
            Some(id) => self.handle_phase2(now, pair, id, &ike),
            None => Verdict::Accept,
        }
    }

    /// Creates or refreshes the ALG state of the message's IKE SA (and its pair).
    fn track_ike_sa(&mut self, now: Instant, pair: PairKey, flow: FlowKey, ike: &IkeInfo) -> Result<(), DropReason> {
        let key = IkeSaKey { pair, initiator_spi: ike.initiator_spi };
        if let Some(sa) = self.ike_sas.get_mut(&key) {
            sa.last_seen = now;
            sa.flow = flow;
            if ike.responder_spi != IkeSpi::ZERO {
                sa.responder_spi = ike.responder_spi;
            }
            return Ok(());
        }
        match self.ike_sas.refusal(Some(pair.client)) {
            Some(Refusal::ClientLimit) => return Err(self.client_limit(Table::IkeSas, pair.client)),
            Some(_) => return Err(self.table_full(Table::IkeSas)),
            None => {}
        }
        if !self.pairs.contains_key(&pair) {
            if self.pairs.refusal(None).is_some() {
                return Err(self.table_full(Table::Pairs));
            }
            let Some(nat) = self.bindings.get(&pair.client).map(|b| b.nat) else {
                return Err(DropReason::NoNatAddress);
            };
            if self.pairs.insert(pair, PairEntry::new(nat), None).is_err() {
                return Err(self.table_full(Table::Pairs));
            }
        }
        let entry =
            IkeSaEntry { version: ike.version, responder_spi: ike.responder_spi, flow, created: now, last_seen: now };
        if self.ike_sas.insert(key, entry, Some(pair.client)).is_err() {
            // Not reached: the room was checked above and the key was absent.
            return Err(self.table_full(Table::IkeSas));
        }
        if let Some(p) = self.pairs.get_mut(&pair) {
            p.ike_sas = p.ike_sas.saturating_add(1);
        }
        self.ike_sas.arm(&mut self.timers, key, now + self.config.timeouts.state);
        self.counters.ike_sas_created += 1;
        Ok(())
    }

    /// SPEC rule 2: one phase-2 exchange at a time per pair, one inbound gate per slot.
    fn handle_phase2(&mut self, now: Instant, pair_key: PairKey, id: ExchangeId, ike: &IkeInfo) -> Verdict {
        let Some(nat) = self.pairs.get(&pair_key).map(|p| p.nat) else { return Verdict::Accept };
        let from_client = !self.is_nat_address(ike.endpoints.dst);
        let Some(pair) = self.pairs.get_mut(&pair_key) else { return Verdict::Accept };
        if let Some(exchange) = pair.exchange.as_mut() {
            if exchange.id == id {
                if !exchange.extension_frozen {
                    exchange.last_message = exchange.last_message.max(now);
                }
                note_progress(exchange, now, from_client, ike);
                // Answered while another client waits: the gates may end early.
                self.arm_early_release(now, pair_key);
                self.counters.phase2_continued += 1;
                return Verdict::Accept;
            }
            self.counters.phase2_dropped_pair_busy += 1;
            return self.drop_phase2(pair_key, nat, ike, DropReason::Phase2PairBusy);
        }
        if pair.recently_ended(&id) {
            self.counters.phase2_late += 1;
            return Verdict::Accept;
        }
        let slot_key = SlotKey { server: pair_key.server, nat };
        if let Some(reason) = self.inbound_slot_refusal(now, slot_key, pair_key) {
            match reason {
                DropReason::Phase2GateReserved => self.counters.phase2_dropped_gate_reserved += 1,
                _ => self.counters.phase2_dropped_gate_busy += 1,
            }
            return self.drop_phase2(pair_key, nat, ike, reason);
        }
        self.open_gates(now, pair_key, slot_key, id, ike, from_client);
        Verdict::Accept
    }

    /// Why the pair cannot take the slot's inbound gate now, if it cannot. A refused pair
    /// joins the slot's queue, and the holder's gates stop being extended.
    pub(super) fn inbound_slot_refusal(
        &mut self,
        now: Instant,
        slot_key: SlotKey,
        pair_key: PairKey,
    ) -> Option<DropReason> {
        let max_waiters = self.config.limits.max_waiters_per_gate;
        let slot = self.slots.get_mut(&slot_key)?;
        let mut newly_contended = None;
        let reason = match slot.holder {
            SlotHolder::Held(holder) if holder != pair_key => {
                if let Some(exchange) = self.pairs.get_mut(&holder).and_then(|p| p.exchange.as_mut()) {
                    if !exchange.extension_frozen {
                        exchange.extension_frozen = true;
                        newly_contended = Some(holder);
                    }
                }
                DropReason::Phase2GateBusy
            }
            SlotHolder::Reserved { pair, until } if pair != pair_key && until > now => DropReason::Phase2GateReserved,
            _ => return None,
        };
        if !slot.waiters.contains(&pair_key) && slot.waiters.len() < max_waiters {
            slot.waiters.push_back(pair_key);
        }
        if let Some(holder) = newly_contended {
            // An answered holder may now give up its unused gates after settling.
            self.arm_early_release(now, holder);
        }
        Some(reason)
    }

    fn drop_phase2(&mut self, pair: PairKey, nat: std::net::Ipv4Addr, ike: &IkeInfo, reason: DropReason) -> Verdict {
        self.push_event(Event::Phase2Dropped { pair, nat, exchange: ike.exchange, message_id: ike.message_id, reason });
        Verdict::Drop(reason)
    }

    fn open_gates(
        &mut self,
        now: Instant,
        pair_key: PairKey,
        slot_key: SlotKey,
        id: ExchangeId,
        ike: &IkeInfo,
        from_client: bool,
    ) {
        self.take_slot(now, slot_key, pair_key);
        let Some(pair) = self.pairs.get_mut(&pair_key) else { return };
        let header = ExchangeHeader { version: ike.version, exchange_type: ike.exchange, message_id: ike.message_id };
        let mut exchange = Exchange::opened(id, header, now, from_client);
        // A first message seen is usually a request; a response seen first (its request
        // was not) still says the exchange is answered.
        note_progress(&mut exchange, now, from_client, ike);
        pair.exchange = Some(exchange);
        // A new exchange brings its own inbound SPI; an older owed one is given up.
        pair.inbound_owed = None;
        let nat = pair.nat;
        self.counters.phase2_allowed += 1;
        self.counters.gates_opened += 2;
        self.push_event(Event::GatesOpened {
            pair: pair_key,
            nat,
            version: ike.version,
            exchange: ike.exchange,
            message_id: ike.message_id,
        });
    }

    /// Gives the pair the slot's inbound gate and arms the pair's gate timer. Shared by a
    /// phase-2 exchange's gates and a re-opened inbound gate.
    pub(super) fn take_slot(&mut self, now: Instant, slot_key: SlotKey, pair_key: PairKey) {
        let fresh = SlotEntry { holder: SlotHolder::Held(pair_key), waiters: VecDeque::new() };
        // The slots table has no cap of its own (see `Engine::slots`), so this cannot fail;
        // a slot already there is taken over below.
        let _ = self.slots.insert(slot_key, fresh, None);
        if let Some(slot) = self.slots.get_mut(&slot_key) {
            slot.holder = SlotHolder::Held(pair_key);
            slot.waiters.retain(|w| *w != pair_key);
        }
        // A reservation timer for this slot is stale from now on.
        self.slots.disarm(&slot_key);
        self.pairs.arm(&mut self.timers, pair_key, now + self.config.timeouts.esp_gate);
    }

    /// Ends the pair's exchange (collapse, expiry or removal) and frees its inbound slot.
    pub(super) fn end_exchange(&mut self, now: Instant, pair_key: PairKey) {
        let Some(pair) = self.pairs.get_mut(&pair_key) else { return };
        let Some(exchange) = pair.exchange.take() else { return };
        pair.remember_ended(exchange.id);
        let slot_key = SlotKey { server: pair_key.server, nat: pair.nat };
        self.pairs.disarm(&pair_key);
        self.slot_generation = self.slot_generation.wrapping_add(1);
        self.release_slot(now, slot_key, pair_key);
    }

    /// Hands the slot to the first waiter that still wants it, or frees it.
    pub(super) fn release_slot(&mut self, now: Instant, slot_key: SlotKey, leaving: PairKey) {
        let gate_timeout = self.gate_timeout();
        let Some(slot) = self.slots.get_mut(&slot_key) else { return };
        let is_holder = match slot.holder {
            SlotHolder::Held(p) => p == leaving,
            SlotHolder::Reserved { pair, until } => pair == leaving || until <= now,
        };
        if !is_holder {
            return;
        }
        self.slot_generation = self.slot_generation.wrapping_add(1);
        while let Some(next) = slot.waiters.pop_front() {
            let waiting = self.pairs.get(&next).is_some_and(|p| p.exchange.is_none());
            if waiting && next != leaving {
                let until = now + gate_timeout;
                slot.holder = SlotHolder::Reserved { pair: next, until };
                self.slots.arm(&mut self.timers, slot_key, until);
                return;
            }
        }
        self.slots.remove(&slot_key);
    }

    /// Removes one IKE SA; the pair's last one takes the pair and its gates with it.
    pub(super) fn remove_ike_sa(&mut self, now: Instant, key: IkeSaKey) {
        if self.ike_sas.remove(&key).is_none() {
            return;
        }
        self.release_binding(now, key.pair.client);
        let last = match self.pairs.get_mut(&key.pair) {
            Some(p) => {
                p.ike_sas = p.ike_sas.saturating_sub(1);
                p.ike_sas == 0
            }
            None => false,
        };
        if last {
            self.remove_pair(now, key.pair);
        }
    }

    /// Removes a pair; open gates are counted as removed (SPEC rule 5).
    pub(super) fn remove_pair(&mut self, now: Instant, pair_key: PairKey) {
        if let Some(exchange) = self.pairs.get(&pair_key).and_then(|p| p.exchange.as_ref()) {
            let open = [exchange.outbound, exchange.inbound].iter().filter(|g| **g == Gate::Open).count();
            self.counters.gates_removed += open as u64;
        }
        let nat = self.pairs.get(&pair_key).map(|p| p.nat);
        self.end_exchange(now, pair_key);
        self.pairs.remove(&pair_key);
        // A slot kept for this pair goes to the next waiter now, not when the wait times out.
        if let Some(nat) = nat {
            let slot_key = SlotKey { server: pair_key.server, nat };
            let reserved_for_it = self
                .slots
                .get(&slot_key)
                .is_some_and(|s| matches!(s.holder, SlotHolder::Reserved { pair, .. } if pair == pair_key));
            if reserved_for_it {
                self.release_slot(now, slot_key, pair_key);
            }
        }
    }
}

/// Follows an exchange to its answer (see [`Exchange::answered`]).
fn note_progress(exchange: &mut Exchange, now: Instant, from_client: bool, ike: &IkeInfo) {
    match ike.version {
        IkeVersion::V2 if ike.flags.has(IkeFlags::V2_RESPONSE) => {
            exchange.answered = Some(now);
            exchange.answered_id = ike.message_id;
        }
        // Another round of the same exchange (IKE_AUTH with EAP): not answered yet. A
        // retransmitted request (its answer was lost) changes nothing.
        IkeVersion::V2 if ike.message_id != exchange.answered_id => exchange.answered = None,
        IkeVersion::V2 => {}
        _ if from_client != exchange.opened_by_client => exchange.peer_spoke = true,
        // The opener again after its peer: Quick Mode's third message, or a
        // retransmission of it; either way both peers hold the SA.
        _ if exchange.peer_spoke && exchange.answered.is_none() => exchange.answered = Some(now),
        _ => {}
    }
}

/// The exchange a message belongs to, if it is a phase-2 message.
fn phase2_exchange_id(ike: &IkeInfo) -> Option<ExchangeId> {
    let kind = match (ike.version, ike.exchange) {
        (IkeVersion::V1, ExchangeType::QUICK_MODE) => ExchangeKind::QuickMode(ike.message_id),
        (IkeVersion::V2, ExchangeType::IKE_AUTH) => ExchangeKind::IkeAuth,
        (IkeVersion::V2, ExchangeType::CREATE_CHILD_SA) => {
            // The request's sender is the original initiator iff I xor R (RFC 7296 §3.1).
            let initiator = ike.flags.has(IkeFlags::V2_INITIATOR);
            let response = ike.flags.has(IkeFlags::V2_RESPONSE);
            ExchangeKind::CreateChildSa {
                message_id: ike.message_id,
                requested_by_original_initiator: initiator != response,
            }
        }
        _ => return None,
    };
    Some(ExchangeId { initiator_spi: ike.initiator_spi, kind })
}
