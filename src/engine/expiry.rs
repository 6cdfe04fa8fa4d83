//! Timers coming due, and `clear` (SPEC §3 rules 4-5, §5).
//!
//! Every table entry expires: gates `esp_gate_timeout` after their exchange's last
//! message, ESP sessions after `esp_session_timeout` of idleness, IKE SAs and flows after
//! `state_timeout` without IKE traffic, bindings a linger time after their last reference.

use super::entries::{Exchange, Gate, OwedExchange, SlotHolder};
use super::output::{Event, SessionEnd};
use super::table_keys::{Direction, IkeSaKey, PairKey, SessionKey, SlotKey, TimerKey};
use super::timers::Ticket;
use super::{ClearScope, Engine, FlowKey};
use crate::time::Instant;
use std::net::Ipv4Addr;

impl Engine {
    /// Expires everything that is due at `now`. Safe to call at any time, early or late.
    ///
    /// Each item is handled at its own deadline, not at `now`: when the shell wakes late,
    /// what an expiry sets off (a binding's linger after its last session, say) still
    /// counts from the moment the expiry was due, exactly as if it had woken on time.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((due, ticket, key)) = self.timers.pop_due(now) {
            match key {
                TimerKey::Gates(pair) => self.gates_due(due, ticket, pair),
                TimerKey::Slot(slot) => self.slot_due(due, ticket, slot),
                TimerKey::IkeSa(sa) => self.ike_sa_due(due, ticket, sa),
                TimerKey::Flow(flow) => self.flow_due(due, ticket, flow),
                TimerKey::Session(session) => self.session_due(due, ticket, session),
                TimerKey::Binding(client) => self.binding_due(due, ticket, client),
            }
        }
        self.compact_timers_if_needed();
    }

    /// Drops stale timer items once they outnumber live entries (amortised O(1)).
    pub(super) fn compact_timers_if_needed(&mut self) {
        let live = self.sessions.len()
            + self.ike_sas.len()
            + self.flows.len()
            + self.pairs.len()
            + self.slots.len()
            + self.bindings.len();
        if self.timers.len() <= 2 * live + 64 {
            return;
        }
        let (pairs, slots, ike_sas, flows, sessions, bindings) =
            (&self.pairs, &self.slots, &self.ike_sas, self.flows.table(), &self.sessions, &self.bindings);
        self.timers.retain(|key, ticket| match key {
            TimerKey::Gates(k) => pairs.holds_ticket(&k, ticket),
            TimerKey::Slot(k) => slots.holds_ticket(&k, ticket),
            TimerKey::IkeSa(k) => ike_sas.holds_ticket(&k, ticket),
            TimerKey::Flow(k) => flows.holds_ticket(&k, ticket),
            TimerKey::Session(k) => sessions.holds_ticket(&k, ticket),
            TimerKey::Binding(k) => bindings.holds_ticket(&k, ticket),
        });
    }

    fn gates_due(&mut self, now: Instant, ticket: Ticket, pair_key: PairKey) {
        let gate_timeout = self.gate_timeout();
        if !self.pairs.holds_ticket(&pair_key, ticket) {
            return;
        }
        let Some(exchange) = self.pairs.get(&pair_key).and_then(|p| p.exchange.as_ref()) else { return };
        let timeout_at = exchange.last_message + gate_timeout;
        let deadline = self.gates_end_at(exchange);
        if deadline > now {
            self.pairs.arm(&mut self.timers, pair_key, deadline);
            return;
        }
        let Some(pair) = self.pairs.get_mut(&pair_key) else { return };
        let Some(exchange) = pair.exchange.as_ref() else { return };
        let early = timeout_at > now;
        let (outbound, inbound) = (exchange.outbound, exchange.inbound);
        if inbound == Gate::Open {
            pair.inbound_owed = Some(OwedExchange {
                version: exchange.version,
                exchange_type: exchange.exchange_type,
                message_id: exchange.message_id,
            });
        }
        let unhit = [outbound, inbound].iter().filter(|g| **g == Gate::Open).count();
        if early {
            self.counters.gates_released_early += unhit as u64;
            self.push_event(Event::GatesReleasedEarly { pair: pair_key });
        } else {
            self.counters.gates_expired += unhit as u64;
            self.push_event(Event::GatesExpired {
                pair: pair_key,
                outbound_hit: outbound.hit_spi(),
                inbound_hit: inbound.hit_spi(),
            });
        }
        self.end_exchange(now, pair_key);
    }

    /// When an exchange's gates end: `esp_gate_timeout` after the last message that
    /// extended them, or earlier when they are released early ([`Self::gate_release_at`]).
    pub(super) fn gates_end_at(&self, exchange: &Exchange) -> Instant {
        let timeout_at = exchange.last_message + self.gate_timeout();
        self.gate_release_at(exchange).map_or(timeout_at, |r| r.min(timeout_at))
    }

    /// Arms the pair's gate timer for an early release that has just become due to come
    /// (its exchange answered, or another client waiting); otherwise the timer it has
    /// stands, and [`Self::gates_due`] re-arms it at the timeout.
    pub(super) fn arm_early_release(&mut self, now: Instant, pair_key: PairKey) {
        let exchange = self.pairs.get(&pair_key).and_then(|p| p.exchange.as_ref());
        if let Some(exchange) = exchange.filter(|e| self.gate_release_at(e).is_some()) {
            let at = self.gates_end_at(exchange).max(now);
            self.pairs.arm(&mut self.timers, pair_key, at);
        }
    }

    /// When an exchange's unused gates end before their timeout: a settle time after its
    /// answer, once another client waits for the slot (see [`Exchange::answered`]). Only
    /// when both are unused: a client that has sent may be waiting for a reply that was
    /// lost or is slow, and keeps its gate the whole timeout.
    pub(super) fn gate_release_at(&self, exchange: &Exchange) -> Option<Instant> {
        let settle = self.config.timeouts.esp_gate_settle?;
        let idle = exchange.outbound == Gate::Open && exchange.inbound == Gate::Open;
        let contended = exchange.extension_frozen && idle;
        exchange.answered.filter(|_| contended).map(|answered| answered + settle)
    }

    fn slot_due(&mut self, now: Instant, ticket: Ticket, slot_key: SlotKey) {
        if !self.slots.holds_ticket(&slot_key, ticket) {
            return;
        }
        let Some(slot) = self.slots.get(&slot_key) else { return };
        if let SlotHolder::Reserved { pair, .. } = slot.holder {
            // The waiting client did not come back in time: the next one gets its turn.
            self.release_slot(now, slot_key, pair);
        }
    }

    fn ike_sa_due(&mut self, now: Instant, ticket: Ticket, key: IkeSaKey) {
        let state_timeout = self.config.timeouts.state;
        if !self.ike_sas.holds_ticket(&key, ticket) {
            return;
        }
        let Some(sa) = self.ike_sas.get(&key) else { return };
        let deadline = sa.last_seen + state_timeout;
        if deadline > now {
            self.ike_sas.arm(&mut self.timers, key, deadline);
            return;
        }
        self.counters.ike_sas_expired += 1;
        self.push_event(Event::IkeSaExpired { pair: key.pair, initiator_spi: key.initiator_spi });
        self.remove_ike_sa(now, key);
    }

    fn flow_due(&mut self, now: Instant, ticket: Ticket, key: FlowKey) {
        let state_timeout = self.config.timeouts.state;
        let flows = self.flows.table_mut();
        if !flows.holds_ticket(&key, ticket) {
            return;
        }
        let Some(flow) = flows.get(&key) else { return };
        let deadline = flow.last_seen + state_timeout;
        if deadline > now {
            flows.arm(&mut self.timers, key, deadline);
            return;
        }
        self.remove_flow(now, key);
    }

    fn session_due(&mut self, now: Instant, ticket: Ticket, key: SessionKey) {
        let idle_timeout = self.config.timeouts.esp_session;
        if !self.sessions.holds_ticket(&key, ticket) {
            return;
        }
        let Some(session) = self.sessions.get(&key) else { return };
        let deadline = session.last_activity + idle_timeout;
        if deadline > now {
            self.sessions.arm(&mut self.timers, key, deadline);
            return;
        }
        self.counters.sessions_expired += 1;
        self.remove_session(now, key, SessionEnd::Idle);
    }

    fn binding_due(&mut self, now: Instant, ticket: Ticket, client: Ipv4Addr) {
        let linger = self.config.timeouts.binding_linger;
        if !self.bindings.holds_ticket(&client, ticket) {
            return;
        }
        if self.binding_held(client) {
            // Re-armed by the release of its last reference.
            self.bindings.disarm(&client);
            return;
        }
        let Some(binding) = self.bindings.get(&client) else { return };
        let deadline = binding.last_activity + linger;
        if deadline > now {
            self.bindings.arm(&mut self.timers, client, deadline);
            return;
        }
        self.counters.bindings_expired += 1;
        self.remove_binding(client);
    }

    /// Removes state, gates, sessions and bindings of one client or of all. Returns the
    /// number of clients cleared. Removals are queued as actions like any other.
    pub fn clear(&mut self, now: Instant, scope: ClearScope) -> usize {
        let mut clients: Vec<Ipv4Addr> = match scope {
            ClearScope::Client(client) => vec![client],
            ClearScope::All => {
                let mut all: Vec<Ipv4Addr> = self.bindings.keys().copied().collect();
                all.extend(self.pairs.keys().map(|p| p.client));
                all
            }
        };
        clients.sort_unstable();
        clients.dedup();
        let cleared = clients.into_iter().filter(|c| self.clear_client(now, *c)).count();
        self.compact_timers_if_needed();
        cleared
    }

    /// Removes everything of one client; true if it had anything.
    pub(super) fn clear_client(&mut self, now: Instant, client: Ipv4Addr) -> bool {
        let mut sessions: Vec<SessionKey> = self
            .sessions
            .iter()
            .filter(|(key, s)| match key.direction {
                Direction::Outbound => key.src == client,
                Direction::Inbound => s.translated == client,
            })
            .map(|(key, _)| *key)
            .collect();
        sessions.sort_unstable();
        let mut ike_sas: Vec<IkeSaKey> = self.ike_sas.keys().filter(|k| k.pair.client == client).copied().collect();
        ike_sas.sort_unstable();
        let mut pairs: Vec<PairKey> = self.pairs.keys().filter(|p| p.client == client).copied().collect();
        pairs.sort_unstable();
        let mut flows: Vec<FlowKey> = self.flows.table().keys().filter(|f| f.client == client).copied().collect();
        flows.sort_unstable();
        let had_binding = self.bindings.contains_key(&client);
        let found =
            had_binding || !sessions.is_empty() || !ike_sas.is_empty() || !pairs.is_empty() || !flows.is_empty();
        self.counters.sessions_cleared += sessions.len() as u64;
        for key in sessions {
            self.remove_session(now, key, SessionEnd::Cleared);
        }
        for pair in pairs {
            self.remove_pair(now, pair);
        }
        for key in ike_sas {
            self.ike_sas.remove(&key);
        }
        for key in flows {
            self.remove_flow(now, key);
        }
        self.remove_binding(client);
        found
    }
}
