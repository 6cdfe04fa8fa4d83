//! Persistent NAT bindings and IKE flow translations (SPEC §3 rules 8 and 9).

use super::entries::{BindingEntry, FlowEntry};
use super::nat_pool::choose_port;
use super::output::{Action, BindingSpec, DropReason, Event, IkeNatSpec, Table};
use super::table_keys::{FlowKey, TimerKey, TranslatedFlowKey};
use super::{Engine, SourceNat};
use crate::time::Instant;
use std::net::Ipv4Addr;

/// What keeps a binding alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hold {
    IkeSa,
    Flow,
    Session,
}

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
        if self.bindings.len() >= self.config.limits.max_bindings {
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
        let shared_with = self.usage.acquire(nat);
        let ticket = self.timers.arm(TimerKey::Binding(client), now + self.config.timeouts.binding_linger);
        self.bindings.insert(
            client,
            BindingEntry {
                nat,
                pool,
                ike_sas: 0,
                flows: 0,
                sessions: 0,
                created: now,
                last_activity: now,
                ticket: Some(ticket),
            },
        );
        self.counters.bindings_created += 1;
        if shared_with > 0 {
            self.counters.bindings_shared += 1;
        }
        self.actions.push_back(Action::InstallBinding(BindingSpec { client, nat }));
        self.push_event(Event::BindingCreated { client, nat, shared_with });
        Ok(nat)
    }

    /// Counts one more reference of `kind` on the client's binding.
    pub(super) fn hold_binding(&mut self, client: Ipv4Addr, kind: Hold) {
        if let Some(b) = self.bindings.get_mut(&client) {
            let count = match kind {
                Hold::IkeSa => &mut b.ike_sas,
                Hold::Flow => &mut b.flows,
                Hold::Session => &mut b.sessions,
            };
            *count = count.saturating_add(1);
        }
    }

    /// Drops one reference; the last one starts the linger timer.
    pub(super) fn release_binding(&mut self, now: Instant, client: Ipv4Addr, kind: Hold) {
        let linger = self.config.timeouts.binding_linger;
        let Some(b) = self.bindings.get_mut(&client) else { return };
        let count = match kind {
            Hold::IkeSa => &mut b.ike_sas,
            Hold::Flow => &mut b.flows,
            Hold::Session => &mut b.sessions,
        };
        *count = count.saturating_sub(1);
        if !b.is_held() {
            b.last_activity = b.last_activity.max(now);
            if b.ticket.is_none() {
                b.ticket = Some(self.timers.arm(TimerKey::Binding(client), b.last_activity + linger));
            }
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
        if let Some(flow) = self.flows.get_mut(&key) {
            flow.last_seen = now;
            return Ok(());
        }
        if self.flows.len() >= self.config.limits.max_ike_flows {
            return Err(self.table_full(Table::IkeFlows));
        }
        let nat = self.ensure_binding(now, key.client, rule)?;
        let taken = |port: u16| {
            self.flows_by_translation.contains_key(&TranslatedFlowKey {
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
        if nat_port == key.client_port {
            self.counters.ike_port_kept += 1;
        } else {
            self.counters.ike_port_translated += 1;
        }
        let ticket = self.timers.arm(TimerKey::Flow(key), now + self.config.timeouts.state);
        self.flows.insert(key, FlowEntry { nat, nat_port, last_seen: now, ticket });
        let translated = TranslatedFlowKey { server: key.server, server_port: key.server_port, nat, nat_port };
        self.flows_by_translation.insert(translated, key);
        self.hold_binding(key.client, Hold::Flow);
        self.actions.push_back(Action::InstallIkeNat(ike_nat_spec(key, nat, nat_port)));
        Ok(())
    }

    /// Removes a flow and its translation.
    pub(super) fn remove_flow(&mut self, now: Instant, key: FlowKey) {
        if let Some(flow) = self.flows.remove(&key) {
            let translated = TranslatedFlowKey {
                server: key.server,
                server_port: key.server_port,
                nat: flow.nat,
                nat_port: flow.nat_port,
            };
            self.flows_by_translation.remove(&translated);
            self.actions.push_back(Action::RemoveIkeNat(ike_nat_spec(key, flow.nat, flow.nat_port)));
            self.release_binding(now, key.client, Hold::Flow);
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
