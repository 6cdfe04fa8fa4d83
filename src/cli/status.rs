//! The status the daemon serves: versioned JSON for programs and tables for people.
//!
//! The JSON document is `{"version": 1, ...}`; fields are only ever added within a version.
//! Human output follows the operator's questions of SPEC §5: which ALG state exists, which
//! gates are open and for how long, which ESP sessions (client, NAT address, server, SPI
//! in, SPI out, packets, bytes, idle), which persistent bindings, and every counter.

use super::json::{array, Object};
use crate::engine::{Direction, Engine, GateState, SessionStatus};
use crate::time::Instant;
use core::fmt::Write as _;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Version of the JSON status document.
pub const STATUS_VERSION: u64 = 1;

/// Which part of the status to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    All,
    Counters,
    State,
    Gates,
    Sessions,
    Bindings,
}

impl Part {
    pub fn parse(word: &str) -> Option<Part> {
        Some(match word {
            "all" | "status" => Part::All,
            "counters" | "statistics" => Part::Counters,
            "state" | "ike" => Part::State,
            "gates" => Part::Gates,
            "sessions" | "esp" => Part::Sessions,
            "bindings" | "nat" => Part::Bindings,
            _ => return None,
        })
    }
}

/// Extra figures the shell adds to the engine's (datapath counters, queue statistics).
pub type ShellCounters = Vec<(String, u64)>;

/// The status as one JSON document.
pub fn render_json(engine: &Engine, now: Instant, part: Part, shell: &ShellCounters) -> String {
    let mut doc = Object::new().num("version", STATUS_VERSION);
    let wants = |p: Part| part == Part::All || part == p;
    if wants(Part::Counters) {
        let mut counters = Object::new();
        for (name, value) in engine.counters().fields() {
            counters = counters.num(name, value);
        }
        let mut datapath = Object::new();
        for (name, value) in shell {
            datapath = datapath.num(name, *value);
        }
        let sizes = engine.table_sizes();
        let tables = Object::new()
            .num("sessions", sizes.sessions as u64)
            .num("ike_sas", sizes.ike_sas as u64)
            .num("ike_flows", sizes.ike_flows as u64)
            .num("pairs", sizes.pairs as u64)
            .num("gate_slots", sizes.gate_slots as u64)
            .num("bindings", sizes.bindings as u64)
            .num("timers", sizes.timers as u64)
            .finish();
        doc = doc.raw("counters", &counters.finish()).raw("datapath", &datapath.finish()).raw("tables", &tables);
    }
    if wants(Part::State) {
        let items = engine.ike_sa_status(now).into_iter().map(|s| {
            Object::new()
                .str("client", &s.client.to_string())
                .str("server", &s.server.to_string())
                .str("nat", &s.nat.to_string())
                .str("version", &s.version.to_string())
                .str("initiator_spi", &s.initiator_spi.to_string())
                .str("responder_spi", &s.responder_spi.to_string())
                .num("client_port", u64::from(s.client_port))
                .num("server_port", u64::from(s.server_port))
                .num("nat_port", u64::from(s.nat_port))
                .num("idle_s", s.idle.as_secs())
                .num("expires_in_s", s.expires_in.as_secs())
                .finish()
        });
        doc = doc.raw("ike_sas", &array(items));
    }
    if wants(Part::Gates) {
        let items = engine.gate_status(now).into_iter().map(|g| {
            let (state, spi) = match g.state {
                GateState::Open => ("open", None),
                GateState::Hit(spi) => ("hit", Some(spi.to_string())),
            };
            Object::new()
                .str("client", &g.client.to_string())
                .str("server", &g.server.to_string())
                .str("nat", &g.nat.to_string())
                .str("direction", &g.direction.to_string())
                .str("state", state)
                .opt_str("spi", spi.as_deref())
                .str("exchange", &g.exchange.to_string())
                .str("message_id", &g.message_id.to_string())
                .bool("contended", g.contended)
                .num("expires_in_ms", u64::try_from(g.expires_in.as_millis()).unwrap_or(u64::MAX))
                .finish()
        });
        doc = doc.raw("gates", &array(items));
    }
    if wants(Part::Sessions) {
        let items = engine.session_status(now).into_iter().map(|s| {
            Object::new()
                .str("direction", &s.direction.to_string())
                .str("client", &s.client.to_string())
                .str("nat", &s.nat.to_string())
                .str("server", &s.server.to_string())
                .str("spi", &s.spi.to_string())
                .str("origin", &s.origin.to_string())
                .num("packets", s.packets)
                .num("bytes", s.bytes)
                .num("idle_s", s.idle.as_secs())
                .num("age_s", s.age.as_secs())
                .finish()
        });
        doc = doc.raw("sessions", &array(items));
    }
    if wants(Part::Bindings) {
        let items = engine.binding_status(now).into_iter().map(|b| {
            Object::new()
                .str("client", &b.client.to_string())
                .str("nat", &b.nat.to_string())
                .opt_str("pool", b.pool.as_deref())
                .num("ike_sas", u64::from(b.ike_sas))
                .num("flows", u64::from(b.flows))
                .num("sessions", u64::from(b.sessions))
                .finish()
        });
        doc = doc.raw("bindings", &array(items));
    }
    let mut out = doc.finish();
    out.push('\n');
    out
}

/// The status as tables for a person.
pub fn render_text(engine: &Engine, now: Instant, part: Part, shell: &ShellCounters) -> String {
    let mut o = String::new();
    let wants = |p: Part| part == Part::All || part == p;
    if wants(Part::State) {
        let list = engine.ike_sa_status(now);
        let _ = writeln!(o, "IKE ALG state: {}", list.len());
        if !list.is_empty() {
            let _ = writeln!(
                o,
                "  {:<15} {:<21} {:<21} {:<6} {:<16} {:>6} {:>8}",
                "Client", "NAT", "Server", "IKE", "Initiator SPI", "Idle", "Expires"
            );
        }
        for s in list {
            let _ = writeln!(
                o,
                "  {:<15} {:<21} {:<21} {:<6} {:<16} {:>5}s {:>7}s",
                s.client,
                format!("{}:{}", s.nat, s.nat_port),
                format!("{}:{}", s.server, s.server_port),
                s.version.to_string(),
                s.initiator_spi.to_string(),
                s.idle.as_secs(),
                s.expires_in.as_secs()
            );
        }
    }
    if wants(Part::Gates) {
        let list = engine.gate_status(now);
        let _ = writeln!(o, "ESP gates: {}", list.len());
        if !list.is_empty() {
            let _ = writeln!(
                o,
                "  {:<15} {:<15} {:<15} {:<4} {:<17} {:<16} {:>9}",
                "Client", "NAT", "Server", "Dir", "State", "Exchange", "Remaining"
            );
        }
        for g in list {
            let state = match g.state {
                GateState::Open => "open".to_string(),
                GateState::Hit(spi) => format!("hit {spi}"),
            };
            let _ = writeln!(
                o,
                "  {:<15} {:<15} {:<15} {:<4} {:<17} {:<16} {:>8.1}s",
                g.client,
                g.nat,
                g.server,
                g.direction.to_string(),
                state,
                g.exchange.to_string(),
                g.expires_in.as_secs_f64()
            );
        }
    }
    if wants(Part::Sessions) {
        let rows = session_rows(engine.session_status(now));
        let _ = writeln!(o, "ESP sessions: {}", rows.len());
        if !rows.is_empty() {
            let _ = writeln!(
                o,
                "  {:<15} {:<15} {:<15} {:<10} {:<10} {:>10} {:>12} {:>6}",
                "Client", "NAT", "Server", "SPI in", "SPI out", "Packets", "Bytes", "Idle"
            );
        }
        for r in rows {
            let spi = |s: &Option<SessionStatus>| s.as_ref().map_or_else(|| "-".to_string(), |s| s.spi.to_string());
            let sum = |f: fn(&SessionStatus) -> u64| r.inbound.as_ref().map_or(0, f) + r.outbound.as_ref().map_or(0, f);
            let idle = [&r.inbound, &r.outbound]
                .iter()
                .filter_map(|s| s.as_ref().map(|s| s.idle.as_secs()))
                .min()
                .unwrap_or(0);
            let _ = writeln!(
                o,
                "  {:<15} {:<15} {:<15} {:<10} {:<10} {:>10} {:>12} {:>5}s",
                r.client,
                r.nat,
                r.server,
                spi(&r.inbound),
                spi(&r.outbound),
                sum(|s| s.packets),
                sum(|s| s.bytes),
                idle
            );
        }
    }
    if wants(Part::Bindings) {
        let list = engine.binding_status(now);
        let _ = writeln!(o, "Persistent NAT bindings: {}", list.len());
        if !list.is_empty() {
            let _ = writeln!(
                o,
                "  {:<15} {:<15} {:<10} {:>7} {:>6} {:>9}",
                "Client", "NAT", "Pool", "IKE SAs", "Flows", "Sessions"
            );
        }
        for b in list {
            let _ = writeln!(
                o,
                "  {:<15} {:<15} {:<10} {:>7} {:>6} {:>9}",
                b.client,
                b.nat,
                b.pool.as_deref().unwrap_or("interface"),
                b.ike_sas,
                b.flows,
                b.sessions
            );
        }
    }
    if wants(Part::Counters) {
        let _ = writeln!(o, "Counters:");
        for (name, value) in engine.counters().fields() {
            let _ = writeln!(o, "  {name:<34} {value}");
        }
        for (name, value) in shell {
            let _ = writeln!(o, "  {name:<34} {value}");
        }
    }
    o
}

/// One line of `show sessions`: the SAs of one client and server, SPI in beside SPI out.
/// Several SAs per direction (during a rekey) make several lines.
#[derive(Debug)]
struct SessionRow {
    client: Ipv4Addr,
    nat: Ipv4Addr,
    server: Ipv4Addr,
    inbound: Option<SessionStatus>,
    outbound: Option<SessionStatus>,
}

fn session_rows(sessions: Vec<SessionStatus>) -> Vec<SessionRow> {
    // (client, server, NAT address) -> (inbound SAs, outbound SAs)
    type Sides = (Vec<SessionStatus>, Vec<SessionStatus>);
    let mut by_pair: BTreeMap<(Ipv4Addr, Ipv4Addr, Ipv4Addr), Sides> = BTreeMap::new();
    for s in sessions {
        let entry = by_pair.entry((s.client, s.server, s.nat)).or_default();
        match s.direction {
            Direction::Inbound => entry.0.push(s),
            Direction::Outbound => entry.1.push(s),
        }
    }
    let mut rows = Vec::new();
    for ((client, server, nat), (inbound, outbound)) in by_pair {
        // Newest first on both sides pairs the SAs of one exchange on one line.
        let mut inbound: Vec<_> = inbound.into_iter().collect();
        let mut outbound: Vec<_> = outbound.into_iter().collect();
        inbound.sort_by_key(|s| s.age);
        outbound.sort_by_key(|s| s.age);
        let mut i = inbound.into_iter();
        let mut o = outbound.into_iter();
        loop {
            let (a, b) = (i.next(), o.next());
            if a.is_none() && b.is_none() {
                break;
            }
            rows.push(SessionRow { client, nat, server, inbound: a, outbound: b });
        }
    }
    rows
}
