//! The status the daemon serves: versioned JSON for programs and tables for people.
//!
//! The JSON document is `{"version": 1, ...}`; fields are only ever added within a version.
//! Human output follows the operator's questions of SPEC §5: which ALG state exists, which
//! gates are open and for how long, which ESP sessions (client, NAT address, server, SPI
//! in, SPI out, packets, bytes, idle), which persistent bindings, and every counter.

use super::status_json::StatusDocument;
use crate::bpf::Execution;
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
    /// The part's own name (what [`Part::parse`] reads back).
    pub const fn name(self) -> &'static str {
        match self {
            Part::All => "all",
            Part::Counters => "counters",
            Part::State => "state",
            Part::Gates => "gates",
            Part::Sessions => "sessions",
            Part::Bindings => "bindings",
        }
    }

    /// A part by its name or one of its aliases (`status`, `statistics`, `ike`, `esp`, `nat`).
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

/// What the shell adds to the engine's status: its counters and which fast path runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShellStatus {
    pub counters: ShellCounters,
    pub fast_path: FastPathReport,
}

/// Which datapath forwards learned SAs (`esp_offload`), as `show counters` says it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FastPathReport {
    /// `"nft"` (the ALG's nft table) or `"ebpf"` (the tc program; SAs not yet promoted
    /// still take the nft table).
    pub active: &'static str,
    /// Whether `esp_offload` asks for the eBPF fast path.
    pub esp_offload: bool,
    /// Why the eBPF fast path does not run although asked for, with what to install.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// The devices the tc program is attached to (ingress).
    pub devices: Vec<String>,
    /// SAs in the eBPF map now.
    pub offloaded_sas: u64,
    /// How the kernel runs the tc program, serialized as `"jit"` or `"interpreter"`
    /// (absent with the nft table, or when the kernel does not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
}

impl FastPathReport {
    /// The nft table, not asked to offload.
    pub fn nft() -> FastPathReport {
        FastPathReport { active: "nft", ..FastPathReport::default() }
    }

    /// One line for people.
    pub fn line(&self) -> String {
        match (self.active, &self.fallback) {
            ("ebpf", _) => format!(
                "tc eBPF{} on {} ({} SAs offloaded; SAs not yet promoted take the nft table)",
                match self.execution {
                    Some(Execution::Jit { .. }) => ", JIT-compiled,",
                    Some(Execution::Interpreter { .. }) => ", interpreted (the kernel's BPF JIT is off),",
                    None => "",
                },
                if self.devices.is_empty() { "no device yet".to_string() } else { self.devices.join(", ") },
                self.offloaded_sas
            ),
            (_, Some(why)) => format!("nft table (esp_offload is on, but {why})"),
            _ => "nft table".to_string(),
        }
    }
}

/// The status as one JSON document ([`StatusDocument`]), one line.
pub fn render_json(engine: &Engine, now: Instant, part: Part, shell: &ShellStatus) -> String {
    let mut out = serde_json::to_string(&StatusDocument::new(engine, now, part, shell))
        // Only a map key that is not a string could fail, and ours are all strings.
        .unwrap_or_else(|e| {
            let error = serde_json::to_string(&e.to_string()).unwrap_or_default();
            format!("{{\"version\":{STATUS_VERSION},\"error\":{error}}}")
        });
    out.push('\n');
    out
}

/// The status as tables for a person.
pub fn render_text(engine: &Engine, now: Instant, part: Part, shell: &ShellStatus) -> String {
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
        let _ = writeln!(o, "Fast path: {}", shell.fast_path.line());
        let _ = writeln!(o, "Counters:");
        for (name, value) in engine.counters().fields() {
            let _ = writeln!(o, "  {name:<34} {value}");
        }
        for (name, value) in &shell.counters {
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
