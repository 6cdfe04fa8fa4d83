//! Persistent NAT bindings and IKE flow translations (SPEC §3 rules 8 and 9).

use super::entries::{BindingEntry, FlowEntry};
use super::nat_pool::choose_port;
use super::output::{Action, BindingSpec, DropReason, Event, IkeNatSpec, Table};
use super::table_keys::{FlowKey, TranslatedFlowKey};
use super::{Engine, SourceNat};
use crate::time::Instant;
use std::net::Ipv4Addr;

impl Engine {
    /// The client's NAT address, binding it first if needed (per `rule`'s source NAT).
    pub(super) fn ensure_binding(
        &mut self,
        now: Instant,
        client: Ipv4Addr,
        rule: usize,
    ) -> Result<Ipv4Addr, DropReason> {
        if let Some(binding) = self.bindings.get(&client) {
            return Ok(binding.nat);
        }
        if self.bindings.refusal(None).is_some() {
            return Err(self.table_full(Table::Bindings));
        }
        let source_nat = self.config.rules.get(rule).map(|r| r.source_nat).unwrap_or(SourceNat::Interface);
        let choice = match source_nat {
            SourceNat::Interface => self.egress.map(|nat| (nat, None)),
            SourceNat::Pool(index) => {
                let pool = self.config.pools.get(index);
                pool.and_then(|p| self.usage.choose(p)).map(|(nat, _)| (nat, Some(index)))
            }
        };
        let Some((nat, pool)) = choice else {
            self.counters.no_nat_address += 1;
            return Err(DropReason::NoNatAddress);
        };
        let Some(shared_with) = self.insert_binding(now, client, nat, pool) else {
            return Err(self.table_full(Table::Bindings));
        };
        self.counters.bindings_created += 1;
        if shared_with > 0 {
            self.counters.bindings_shared += 1;
        }
        self.push_event(Event::BindingCreated { client, nat, shared_with });
        Ok(nat)
    }

    /// Binds `client` to `nat`: takes the address, arms the linger timer (nothing holds a
    /// new binding yet) and queues the datapath entry. Used when a binding is made and when
    /// one is taken back after a restart. Returns how many clients already used `nat`, or
    /// `None` if the table refused the binding (full, or the client already bound).
    pub(super) fn insert_binding(
        &mut self,
        now: Instant,
        client: Ipv4Addr,
        nat: Ipv4Addr,
        pool: Option<usize>,
    ) -> Option<u32> {
        let entry = BindingEntry { nat, pool, created: now, last_activity: now, refused_by_datapath: false };
        self.bindings.insert(client, entry, None).ok()?;
        let shared_with = self.usage.acquire(nat);
        self.bindings.arm(&mut self.timers, client, now + self.config.timeouts.binding_linger);
        self.actions.push_back(Action::InstallBinding(BindingSpec { client, nat }));
        Some(shared_with)
    }

    /// Whether anything (an IKE SA, a flow, a session) still holds the client's binding.
    pub(super) fn binding_held(&self, client: Ipv4Addr) -> bool {
        self.ike_sas.held_by(client) > 0 || self.flows.table().held_by(client) > 0 || self.sessions.held_by(client) > 0
    }

    /// Called after one of the client's entries went: once nothing holds the binding, its
    /// linger timer starts.
    pub(super) fn release_binding(&mut self, now: Instant, client: Ipv4Addr) {
        let linger = self.config.timeouts.binding_linger;
        if self.binding_held(client) || self.drop_refused_binding_if_unused(client) {
            return;
        }
        let Some(b) = self.bindings.get_mut(&client) else { return };
        b.last_activity = b.last_activity.max(now);
        let at = b.last_activity + linger;
        if !self.bindings.is_armed(&client) {
            self.bindings.arm(&mut self.timers, client, at);
        }
    }

    /// Removes a binding now (clear, or its linger ended), with its datapath entry.
    pub(super) fn remove_binding(&mut self, client: Ipv4Addr) {
        if let Some(b) = self.bindings.remove(&client) {
            self.usage.release(b.nat);
            self.actions.push_back(Action::RemoveBinding(BindingSpec { client, nat: b.nat }));
            self.push_event(Event::BindingRemoved { client, nat: b.nat });
        }
    }

    /// Makes sure an outbound IKE flow has its translation, choosing the NAT port.
    pub(super) fn ensure_flow(&mut self, now: Instant, key: FlowKey, rule: usize) -> Result<(), DropReason> {
        if let Some(flow) = self.flows.table_mut().get_mut(&key) {
            flow.last_seen = now;
            return Ok(());
        }
        if self.flows.table().refusal(None).is_some() {
            return Err(self.table_full(Table::IkeFlows));
        }
        let nat = self.ensure_binding(now, key.client, rule)?;
        let taken = |port: u16| {
            self.flows.translation_taken(&TranslatedFlowKey {
                server: key.server,
                server_port: key.server_port,
                nat,
                nat_port: port,
            })
        };
        let Some(nat_port) = choose_port(key.client_port, |p| !taken(p)) else {
            self.counters.no_nat_address += 1;
            return Err(DropReason::NoNatAddress);
        };
        if self.flows.insert(key, FlowEntry { nat, nat_port, last_seen: now }).is_err() {
            // Not reached: the key was absent, the port free and the table had room.
            return Err(self.table_full(Table::IkeFlows));
        }
        if nat_port == key.client_port {
            self.counters.ike_port_kept += 1;
        } else {
            self.counters.ike_port_translated += 1;
        }
        self.flows.table_mut().arm(&mut self.timers, key, now + self.config.timeouts.state);
        self.actions.push_back(Action::InstallIkeNat(ike_nat_spec(key, nat, nat_port)));
        Ok(())
    }

    /// Removes a flow and its translation.
    pub(super) fn remove_flow(&mut self, now: Instant, key: FlowKey) {
        if let Some(flow) = self.flows.remove(&key) {
            self.actions.push_back(Action::RemoveIkeNat(ike_nat_spec(key, flow.nat, flow.nat_port)));
            self.release_binding(now, key.client);
        }
    }

    /// Counts and logs a full table; returns the drop reason.
    pub(super) fn table_full(&mut self, table: Table) -> DropReason {
        self.counters.table_full += 1;
        self.push_event(Event::LimitReached { table, client: None });
        DropReason::TableFull(table)
    }

    /// Counts and logs a client over its share; returns the drop reason.
    pub(super) fn client_limit(&mut self, table: Table, client: Ipv4Addr) -> DropReason {
        self.counters.client_limit += 1;
        self.push_event(Event::LimitReached { table, client: Some(client) });
        DropReason::ClientLimit(table)
    }
}

pub(super) fn ike_nat_spec(key: FlowKey, nat: Ipv4Addr, nat_port: u16) -> IkeNatSpec {
    IkeNatSpec {
        client: key.client,
        client_port: key.client_port,
        server: key.server,
        server_port: key.server_port,
        nat,
        nat_port,
    }
}
