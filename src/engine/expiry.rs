//! Timers coming due, and `clear` (SPEC §3 rules 4-5, §5).
//!
//! Every table entry expires: gates `esp_gate_timeout` after their exchange's last
//! message, ESP sessions after `esp_session_timeout` of idleness, IKE SAs and flows after
//! `state_timeout` without IKE traffic, bindings a linger time after their last reference.

use super::entries::{Gate, OwedExchange, SlotHolder};
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
            (&self.pairs, &self.slots, &self.ike_sas, &self.flows, &self.sessions, &self.bindings);
        self.timers.retain(|key, ticket| match key {
            TimerKey::Gates(k) => pairs.get(&k).is_some_and(|e| e.gate_ticket == Some(ticket)),
            TimerKey::Slot(k) => slots.get(&k).is_some_and(|e| e.ticket == Some(ticket)),
            TimerKey::IkeSa(k) => ike_sas.get(&k).is_some_and(|e| e.ticket == ticket),
            TimerKey::Flow(k) => flows.get(&k).is_some_and(|e| e.ticket == ticket),
            TimerKey::Session(k) => sessions.get(&k).is_some_and(|e| e.ticket == ticket),
            TimerKey::Binding(k) => bindings.get(&k).is_some_and(|e| e.ticket == Some(ticket)),
        });
    }

    fn gates_due(&mut self, now: Instant, ticket: Ticket, pair_key: PairKey) {
        let gate_timeout = self.gate_timeout();
        let Some(pair) = self.pairs.get_mut(&pair_key) else { return };
        if pair.gate_ticket != Some(ticket) {
            return;
        }
        let Some(exchange) = pair.exchange.as_ref() else { return };
        let deadline = exchange.last_message + gate_timeout;
        if deadline > now {
            pair.gate_ticket = Some(self.timers.arm(TimerKey::Gates(pair_key), deadline));
            return;
        }
        let (outbound, inbound) = (exchange.outbound, exchange.inbound);
        if inbound == Gate::Open {
            pair.inbound_owed = Some(OwedExchange {
                version: exchange.version,
                exchange_type: exchange.exchange_type,
                message_id: exchange.message_id,
            });
        }
        let unhit = [outbound, inbound].iter().filter(|g| **g == Gate::Open).count();
        self.counters.gates_expired += unhit as u64;
        self.push_event(Event::GatesExpired {
            pair: pair_key,
            outbound_hit: outbound.hit_spi(),
            inbound_hit: inbound.hit_spi(),
        });
        self.end_exchange(now, pair_key);
    }

    fn slot_due(&mut self, now: Instant, ticket: Ticket, slot_key: SlotKey) {
        let Some(slot) = self.slots.get(&slot_key) else { return };
        if slot.ticket != Some(ticket) {
            return;
        }
        if let SlotHolder::Reserved { pair, .. } = slot.holder {
            // The waiting client did not come back in time: the next one gets its turn.
            self.release_slot(now, slot_key, pair);
        }
    }

    fn ike_sa_due(&mut self, now: Instant, ticket: Ticket, key: IkeSaKey) {
        let state_timeout = self.config.timeouts.state;
        let Some(sa) = self.ike_sas.get_mut(&key) else { return };
        if sa.ticket != ticket {
            return;
        }
        let deadline = sa.last_seen + state_timeout;
        if deadline > now {
            sa.ticket = self.timers.arm(TimerKey::IkeSa(key), deadline);
            return;
        }
        self.counters.ike_sas_expired += 1;
        self.push_event(Event::IkeSaExpired { pair: key.pair, initiator_spi: key.initiator_spi });
        self.remove_ike_sa(now, key);
    }

    fn flow_due(&mut self, now: Instant, ticket: Ticket, key: FlowKey) {
        let state_timeout = self.config.timeouts.state;
        let Some(flow) = self.flows.get_mut(&key) else { return };
        if flow.ticket != ticket {
            return;
        }
        let deadline = flow.last_seen + state_timeout;
        if deadline > now {
            flow.ticket = self.timers.arm(TimerKey::Flow(key), deadline);
            return;
        }
        self.remove_flow(now, key);
    }

    fn session_due(&mut self, now: Instant, ticket: Ticket, key: SessionKey) {
        let idle_timeout = self.config.timeouts.esp_session;
        let Some(session) = self.sessions.get_mut(&key) else { return };
        if session.ticket != ticket {
            return;
        }
        let deadline = session.last_activity + idle_timeout;
        if deadline > now {
            session.ticket = self.timers.arm(TimerKey::Session(key), deadline);
            return;
        }
        self.counters.sessions_expired += 1;
        self.remove_session(now, key, SessionEnd::Idle);
    }

    fn binding_due(&mut self, now: Instant, ticket: Ticket, client: Ipv4Addr) {
        let linger = self.config.timeouts.binding_linger;
        let Some(binding) = self.bindings.get_mut(&client) else { return };
        if binding.ticket != Some(ticket) {
            return;
        }
        if binding.is_held() {
            // Re-armed by the release of its last reference.
            binding.ticket = None;
            return;
        }
        let deadline = binding.last_activity + linger;
        if deadline > now {
            binding.ticket = Some(self.timers.arm(TimerKey::Binding(client), deadline));
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
        let mut flows: Vec<FlowKey> = self.flows.keys().filter(|f| f.client == client).copied().collect();
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
