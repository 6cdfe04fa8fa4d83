//! Undoing what the kernel refused to install, so the engine never keeps an entry the
//! datapath does not have (SPEC §3 rules 3, 8, 9).
//!
//! The shell applies [`Action`]s after the engine has already counted the entry as in
//! place. When the kernel refuses an install (a full set, a netlink error), the shell
//! reports it with [`Engine::handle_action_failed`], and the engine forgets the entry as
//! if it had never been learned: the SA's next packet comes to userspace again and is
//! learned again, and a pool address nothing uses is free for the next client. Nothing is
//! queued for the datapath: a refused install left nothing there (a netlink batch is
//! applied whole or not at all).

use super::entries::{Gate, SlotHolder};
use super::output::{Action, EspSessionSpec, Event, IkeNatSpec, SessionOrigin};
use super::table_keys::{Direction, FlowKey, PairKey, SlotKey};
use super::Engine;
use crate::time::Instant;
use std::net::Ipv4Addr;

impl Engine {
    /// The datapath refused `action`, one of those [`Engine::poll_action`] returned.
    ///
    /// For `InstallEspSession`, `InstallIkeNat` and `InstallBinding` the engine undoes its
    /// entry, counts the refusal ([`Engine::datapath_refused`]) and queues an
    /// [`Event::DatapathRefused`] for the log. A refused binding that IKE SAs, flows or
    /// sessions still use is kept while they last (they carry its address in the kernel)
    /// and goes with the last of them, without lingering. Failed removals need nothing:
    /// the engine has forgotten the entry already.
    pub fn handle_action_failed(&mut self, now: Instant, action: &Action) {
        let undone = match action {
            Action::InstallEspSession(spec) => self.undo_session(now, spec),
            Action::InstallIkeNat(spec) => self.undo_ike_nat(now, spec),
            Action::InstallBinding(spec) => self.undo_binding(spec.client, spec.nat),
            Action::RemoveBinding(_) | Action::RemoveIkeNat(_) | Action::RemoveEspSession(_) => return,
        };
        self.datapath_refused = self.datapath_refused.saturating_add(1);
        self.push_event(Event::DatapathRefused { action: *action, undone });
    }

    /// Install actions the datapath refused, since start. Not part of [`super::Counters`],
    /// whose fields are the keys of the JSON status.
    pub fn datapath_refused(&self) -> u64 {
        self.datapath_refused
    }

    /// Forgets a refused session. A gate it hit that is still open for its exchange is
    /// opened again, so the SA's next packet is learned through it as the first one was.
    ///
    /// Only a first install is undone (one refused in the pass that learned the session).
    /// A refused re-install (a renewal, a restored session, the table re-installed) keeps
    /// the session: its packets miss in the kernel and come to the queue, where the engine
    /// still translates them, whereas forgetting it would drop an inbound SA's traffic until
    /// the next exchange, its gates being long closed.
    fn undo_session(&mut self, now: Instant, spec: &EspSessionSpec) -> bool {
        let key = spec.key;
        let first_install = self.sessions.get(&key).is_some_and(|s| {
            s.translated == spec.translated && s.created == now && s.origin != SessionOrigin::Restored
        });
        if !first_install {
            return false;
        }
        let Some(session) = self.forget_session(now, key) else { return false };
        if session.origin == SessionOrigin::Gate {
            let pair = match key.direction {
                Direction::Outbound => PairKey { client: key.src, server: key.dst },
                Direction::Inbound => PairKey { client: session.translated, server: key.src },
            };
            if let Some(exchange) = self.pairs.get_mut(&pair).and_then(|p| p.exchange.as_mut()) {
                let gate = match key.direction {
                    Direction::Outbound => &mut exchange.outbound,
                    Direction::Inbound => &mut exchange.inbound,
                };
                if *gate == Gate::Hit(key.spi) {
                    *gate = Gate::Open;
                    if key.direction == Direction::Inbound {
                        // The inbound hit gave the slot up; the re-opened gate needs it back.
                        let slot_key = SlotKey { server: key.src, nat: key.dst };
                        self.reclaim_slot(now, slot_key, pair);
                    }
                }
            }
        }
        true
    }

    /// Gives `pair` the slot it gave up in this same pass, ahead of a waiter it was
    /// reserved for (who keeps the head of the queue). Held by another pair, it stays so.
    fn reclaim_slot(&mut self, now: Instant, slot_key: SlotKey, pair: PairKey) {
        match self.slots.get_mut(&slot_key).map(|slot| (slot.holder, slot)) {
            Some((SlotHolder::Held(holder), _)) if holder != pair => return,
            Some((SlotHolder::Reserved { pair: waiter, .. }, slot)) if waiter != pair => {
                slot.waiters.push_front(waiter);
            }
            _ => {}
        }
        self.take_slot(now, slot_key, pair);
        // The gates keep the end they had, not a fresh timeout from the take.
        let end = self.pairs.get(&pair).and_then(|p| p.exchange.as_ref()).map(|e| self.gates_end_at(e));
        if let Some(end) = end {
            self.pairs.arm(&mut self.timers, pair, end.max(now));
        }
    }

    /// Forgets a refused IKE flow translation; the client's next IKE message sets it up
    /// (and asks the datapath) again.
    fn undo_ike_nat(&mut self, now: Instant, spec: &IkeNatSpec) -> bool {
        let key = FlowKey {
            client: spec.client,
            client_port: spec.client_port,
            server: spec.server,
            server_port: spec.server_port,
        };
        let matches = self.flows.table().get(&key).is_some_and(|f| f.nat == spec.nat && f.nat_port == spec.nat_port);
        if !matches || self.flows.remove(&key).is_none() {
            return false;
        }
        self.release_binding(now, key.client);
        true
    }

    /// Forgets a refused binding, or marks it to go with the last entry that uses its
    /// address (the shell reports failures in action order: the binding before the session
    /// that rode on it).
    fn undo_binding(&mut self, client: Ipv4Addr, nat: Ipv4Addr) -> bool {
        let Some(binding) = self.bindings.get_mut(&client).filter(|b| b.nat == nat) else { return false };
        binding.refused_by_datapath = true;
        self.drop_refused_binding_if_unused(client)
    }

    /// Removes the client's binding if the datapath refused it and nothing uses it now, so
    /// its pool address is free at once. True if it was removed.
    pub(super) fn drop_refused_binding_if_unused(&mut self, client: Ipv4Addr) -> bool {
        let refused = self.bindings.get(&client).is_some_and(|b| b.refused_by_datapath);
        if !refused || self.binding_held(client) {
            return false;
        }
        match self.bindings.remove(&client) {
            Some(b) => {
                self.usage.release(b.nat);
                true
            }
            None => false,
        }
    }
}
