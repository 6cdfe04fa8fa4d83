//! What survives a daemon restart (SPEC §3 rule 11): bindings, IKE flow translations and
//! ESP sessions, as plain records and as a small versioned text format.
//!
//! Times are stored as idle durations, not instants: a monotonic clock means nothing to
//! the next process. The shell merges these records with what it reads back from the
//! kernel's maps, then hands them to [`Engine::restore`]. Gates are not kept: they live for
//! seconds, and a peer retransmits a phase-2 message whose gates were lost.

use super::entries::{FlowEntry, SessionEntry};
use super::nat::ike_nat_spec;
use super::output::{Action, BindingSpec, EspSessionSpec, IkeNatSpec, SessionOrigin};
use super::table_keys::{Direction, FlowKey, SessionKey};
use super::Engine;
use crate::time::Instant;
use crate::wire::Spi;
use core::fmt;
use core::time::Duration;
use std::net::Ipv4Addr;

/// A persistent NAT binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingRecord {
    pub client: Ipv4Addr,
    pub nat: Ipv4Addr,
    /// Pool name, or `None` for interface SNAT.
    pub pool: Option<String>,
}

/// An IKE flow translation and how long it has been idle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeFlowRecord {
    pub spec: IkeNatSpec,
    pub idle: Duration,
}

/// An ESP session, its counters and how long it has been idle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub key: SessionKey,
    pub translated: Ipv4Addr,
    pub idle: Duration,
    pub packets: u64,
    pub bytes: u64,
}

/// Everything [`Engine::snapshot`] saves and [`Engine::restore`] takes back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub bindings: Vec<BindingRecord>,
    pub flows: Vec<IkeFlowRecord>,
    pub sessions: Vec<SessionRecord>,
}

/// How many entries [`Engine::reinstall_all`] queued for the datapath.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reinstalled {
    pub bindings: usize,
    pub flows: usize,
    pub sessions: usize,
}

/// A state file line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "state line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for SnapshotError {}

const HEADER: &str = "ike-esp-alg-state 1";

impl Snapshot {
    /// The text form: a header line, then one record per line.
    pub fn encode(&self) -> String {
        let mut out = String::from(HEADER);
        out.push('\n');
        for b in &self.bindings {
            let pool = b.pool.as_deref().unwrap_or("-");
            out.push_str(&format!("binding {} {} {}\n", b.client, b.nat, pool));
        }
        for f in &self.flows {
            let s = &f.spec;
            out.push_str(&format!(
                "flow {} {} {} {} {} {} {}\n",
                s.client,
                s.client_port,
                s.server,
                s.server_port,
                s.nat,
                s.nat_port,
                f.idle.as_millis()
            ));
        }
        for s in &self.sessions {
            out.push_str(&format!(
                "session {} {} {} {:08x} {} {} {} {}\n",
                s.key.direction,
                s.key.src,
                s.key.dst,
                s.key.spi.0,
                s.translated,
                s.idle.as_millis(),
                s.packets,
                s.bytes
            ));
        }
        out
    }

    /// Reads the text form. Any bad line is an error naming the line: a state file is
    /// written whole (tmp + rename), so damage means it should not be trusted.
    pub fn decode(text: &str) -> Result<Snapshot, SnapshotError> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, first)) if first.trim_end() == HEADER => {}
            _ => return Err(SnapshotError { line: 1, reason: format!("expected header '{HEADER}'") }),
        }
        let mut snapshot = Snapshot::default();
        for (index, line) in lines {
            let number = index + 1;
            let err = |reason: &str| SnapshotError { line: number, reason: reason.to_string() };
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            match fields.as_slice() {
                [] => {}
                ["binding", client, nat, pool] => snapshot.bindings.push(BindingRecord {
                    client: parse(client, "client address", number)?,
                    nat: parse(nat, "NAT address", number)?,
                    pool: (*pool != "-").then(|| pool.to_string()),
                }),
                ["flow", client, cport, server, sport, nat, nport, idle] => snapshot.flows.push(IkeFlowRecord {
                    spec: IkeNatSpec {
                        client: parse(client, "client address", number)?,
                        client_port: parse(cport, "client port", number)?,
                        server: parse(server, "server address", number)?,
                        server_port: parse(sport, "server port", number)?,
                        nat: parse(nat, "NAT address", number)?,
                        nat_port: parse(nport, "NAT port", number)?,
                    },
                    idle: Duration::from_millis(parse(idle, "idle milliseconds", number)?),
                }),
                ["session", direction, src, dst, spi, translated, idle, packets, bytes] => {
                    let direction = match *direction {
                        "out" => Direction::Outbound,
                        "in" => Direction::Inbound,
                        _ => return Err(err("direction must be 'out' or 'in'")),
                    };
                    let spi = u32::from_str_radix(spi, 16).map_err(|_| err("SPI must be 8 hex digits"))?;
                    snapshot.sessions.push(SessionRecord {
                        key: SessionKey {
                            direction,
                            src: parse(src, "source address", number)?,
                            dst: parse(dst, "destination address", number)?,
                            spi: Spi(spi),
                        },
                        translated: parse(translated, "translated address", number)?,
                        idle: Duration::from_millis(parse(idle, "idle milliseconds", number)?),
                        packets: parse(packets, "packet count", number)?,
                        bytes: parse(bytes, "byte count", number)?,
                    });
                }
                _ => return Err(err("unknown record")),
            }
        }
        Ok(snapshot)
    }
}

fn parse<T: core::str::FromStr>(text: &str, what: &str, line: usize) -> Result<T, SnapshotError> {
    text.parse().map_err(|_| SnapshotError { line, reason: format!("bad {what} '{text}'") })
}

impl Engine {
    /// Everything worth keeping across a restart, sorted.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let mut bindings: Vec<BindingRecord> = self
            .bindings
            .iter()
            .map(|(client, b)| BindingRecord {
                client: *client,
                nat: b.nat,
                pool: b.pool.and_then(|i| self.config.pools.get(i)).map(|p| p.name.clone()),
            })
            .collect();
        bindings.sort_by_key(|b| b.client);
        let mut flows: Vec<IkeFlowRecord> = self
            .flows
            .table()
            .iter()
            .map(|(key, f)| IkeFlowRecord {
                spec: ike_nat_spec(*key, f.nat, f.nat_port),
                idle: now.saturating_since(f.last_seen),
            })
            .collect();
        flows.sort_by_key(|f| (f.spec.client, f.spec.client_port, f.spec.server, f.spec.server_port));
        let mut sessions: Vec<SessionRecord> = self
            .sessions
            .iter()
            .map(|(key, s)| SessionRecord {
                key: *key,
                translated: s.translated,
                idle: now.saturating_since(s.last_activity),
                packets: s.packets,
                bytes: s.bytes,
            })
            .collect();
        sessions.sort_by_key(|s| s.key);
        Snapshot { bindings, flows, sessions }
    }

    /// Takes back a snapshot into an engine, queuing install actions for every entry (the
    /// datapath treats re-installing an existing entry as a no-op). Records that no longer
    /// fit the configuration (a pool renamed, an address outside it, an egress address
    /// that changed, an already idle session) are skipped. Returns how many were skipped.
    pub fn restore(&mut self, now: Instant, snapshot: &Snapshot) -> usize {
        let mut skipped = 0;
        for record in &snapshot.bindings {
            if !self.restore_binding(now, record) {
                skipped += 1;
            }
        }
        for record in &snapshot.flows {
            if !self.restore_flow(now, record) {
                skipped += 1;
            }
        }
        for record in &snapshot.sessions {
            if !self.restore_session(now, record) {
                skipped += 1;
            }
        }
        self.compact_timers_if_needed();
        skipped
    }

    /// Queues install actions for every binding, IKE flow and ESP session the engine holds,
    /// for a datapath that lost them all (its table deleted under the daemon by `fw4 flush`).
    /// Nothing else changes: state, gates, counters and timers stay as they are. Returns how
    /// many of each were queued.
    pub fn reinstall_all(&mut self) -> Reinstalled {
        let mut bindings: Vec<BindingSpec> =
            self.bindings.iter().map(|(client, b)| BindingSpec { client: *client, nat: b.nat }).collect();
        bindings.sort_by_key(|b| b.client);
        let mut flows: Vec<IkeNatSpec> =
            self.flows.table().iter().map(|(key, f)| ike_nat_spec(*key, f.nat, f.nat_port)).collect();
        flows.sort_by_key(|f| (f.client, f.client_port, f.server, f.server_port));
        let mut sessions: Vec<SessionKey> = self.sessions.keys().copied().collect();
        sessions.sort();
        let counts = Reinstalled { bindings: bindings.len(), flows: flows.len(), sessions: sessions.len() };
        // Bindings first, as when they were learned: a flow or session rides on its binding.
        self.actions.extend(bindings.into_iter().map(Action::InstallBinding));
        self.actions.extend(flows.into_iter().map(Action::InstallIkeNat));
        let specs: Vec<EspSessionSpec> = sessions.iter().filter_map(|key| self.session_spec(key)).collect();
        self.actions.extend(specs.into_iter().map(Action::InstallEspSession));
        counts
    }

    fn restore_binding(&mut self, now: Instant, record: &BindingRecord) -> bool {
        if self.bindings.contains_key(&record.client) || self.bindings.refusal(None).is_some() {
            return false;
        }
        let pool = match &record.pool {
            None if self.egress == Some(record.nat) => None,
            None => return false,
            Some(name) => {
                let index = self.config.pools.iter().position(|p| &p.name == name);
                let fits = index
                    .and_then(|i| self.config.pools.get(i))
                    .is_some_and(|p| p.ranges.iter().any(|r| r.contains(record.nat)));
                if !fits {
                    return false;
                }
                index
            }
        };
        self.insert_binding(now, record.client, record.nat, pool).is_some()
    }

    fn restore_flow(&mut self, now: Instant, record: &IkeFlowRecord) -> bool {
        let s = record.spec;
        let key =
            FlowKey { client: s.client, client_port: s.client_port, server: s.server, server_port: s.server_port };
        let bound = self.bindings.get(&s.client).is_some_and(|b| b.nat == s.nat);
        if !bound || record.idle >= self.config.timeouts.state {
            return false;
        }
        let last_seen = now.saturating_sub(record.idle);
        // Refused when the flow or its translated tuple is already known, or the table is full.
        if self.flows.insert(key, FlowEntry { nat: s.nat, nat_port: s.nat_port, last_seen }).is_err() {
            return false;
        }
        self.flows.table_mut().arm(&mut self.timers, key, last_seen + self.config.timeouts.state);
        self.actions.push_back(Action::InstallIkeNat(s));
        true
    }

    fn restore_session(&mut self, now: Instant, record: &SessionRecord) -> bool {
        let key = record.key;
        let (client, nat) = match key.direction {
            Direction::Outbound => (key.src, record.translated),
            Direction::Inbound => (record.translated, key.dst),
        };
        let bound = self.bindings.get(&client).is_some_and(|b| b.nat == nat);
        let idle_timeout = self.config.timeouts.esp_session;
        if !bound || key.spi == Spi::RESERVED_ZERO || record.idle >= idle_timeout {
            return false;
        }
        let last_activity = now.saturating_sub(record.idle);
        let entry = SessionEntry {
            translated: record.translated,
            origin: SessionOrigin::Restored,
            created: now,
            last_activity,
            packets: record.packets,
            bytes: record.bytes,
        };
        // Refused when already known or the table is full; not for the client's share: the
        // datapath carries the session already.
        if self.sessions.restore(key, entry, Some(client)).is_err() {
            return false;
        }
        self.sessions.arm(&mut self.timers, key, last_activity + idle_timeout);
        self.counters.sessions_restored += 1;
        let spec = EspSessionSpec { key, translated: record.translated, idle_timeout };
        self.actions.push_back(Action::InstallEspSession(spec));
        true
    }
}
