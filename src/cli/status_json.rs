//! The versioned status JSON (`ike-esp-alg show <part> --json`), as types: what LuCI's
//! status page and scripts read. Serialized with serde; field order is declaration order,
//! and a part that was not asked for is absent, not null. Fields are only ever added within
//! a version ([`STATUS_VERSION`]); the goldens in `tests/golden/status/` hold every part.

use super::status::{FastPathReport, Part, ShellStatus, STATUS_VERSION};
use crate::engine::{Engine, GateState};
use crate::time::Instant;
use serde::ser::{Serialize, Serializer};

/// `{"version": 1, ...}` with the parts asked for.
#[derive(Debug, serde::Serialize)]
pub struct StatusDocument {
    pub version: u64,
    /// The engine's counters, in the engine's order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<Fields>,
    /// The shell's figures: held packets, verdicts, queue and kernel counters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datapath: Option<Fields>,
    /// Which fast path forwards learned SAs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fast_path: Option<FastPathReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tables: Option<Tables>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ike_sas: Option<Vec<IkeSa>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gates: Option<Vec<Gate>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<Session>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings: Option<Vec<Binding>>,
}

/// Named counters as one JSON object, in their given order.
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(String, u64)>);

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| (name, value)))
    }
}

/// How full each engine table is.
#[derive(Debug, serde::Serialize)]
pub struct Tables {
    pub sessions: usize,
    pub ike_sas: usize,
    pub ike_flows: usize,
    pub pairs: usize,
    pub gate_slots: usize,
    pub bindings: usize,
    pub timers: usize,
}

/// One tracked IKE SA.
#[derive(Debug, serde::Serialize)]
pub struct IkeSa {
    pub client: String,
    pub server: String,
    pub nat: String,
    pub version: String,
    pub initiator_spi: String,
    pub responder_spi: String,
    pub client_port: u16,
    pub server_port: u16,
    pub nat_port: u16,
    pub idle_s: u64,
    pub expires_in_s: u64,
}

/// One ESP gate: `state` is `open` or `hit`, `spi` the SPI that hit it (null while open).
#[derive(Debug, serde::Serialize)]
pub struct Gate {
    pub client: String,
    pub server: String,
    pub nat: String,
    pub direction: String,
    pub state: &'static str,
    pub spi: Option<String>,
    pub exchange: String,
    pub message_id: String,
    pub contended: bool,
    pub expires_in_ms: u64,
}

/// One learned ESP session (one direction of an SA).
#[derive(Debug, serde::Serialize)]
pub struct Session {
    pub direction: String,
    pub client: String,
    pub nat: String,
    pub server: String,
    pub spi: String,
    pub origin: String,
    pub packets: u64,
    pub bytes: u64,
    pub idle_s: u64,
    pub age_s: u64,
}

/// One persistent NAT binding; `pool` is null for interface SNAT.
#[derive(Debug, serde::Serialize)]
pub struct Binding {
    pub client: String,
    pub nat: String,
    pub pool: Option<String>,
    pub ike_sas: u32,
    pub flows: u32,
    pub sessions: u32,
}

impl StatusDocument {
    /// The document for `part` of the engine's state at `now`.
    pub fn new(engine: &Engine, now: Instant, part: Part, shell: &ShellStatus) -> StatusDocument {
        let wants = |p: Part| part == Part::All || part == p;
        let mut doc = StatusDocument {
            version: STATUS_VERSION,
            counters: None,
            datapath: None,
            fast_path: None,
            tables: None,
            ike_sas: None,
            gates: None,
            sessions: None,
            bindings: None,
        };
        if wants(Part::Counters) {
            let engine_counters = engine.counters().fields().into_iter().map(|(n, v)| (n.to_string(), v));
            doc.counters = Some(Fields(engine_counters.collect()));
            doc.datapath = Some(Fields(shell.counters.clone()));
            doc.fast_path = Some(shell.fast_path.clone());
            let sizes = engine.table_sizes();
            doc.tables = Some(Tables {
                sessions: sizes.sessions,
                ike_sas: sizes.ike_sas,
                ike_flows: sizes.ike_flows,
                pairs: sizes.pairs,
                gate_slots: sizes.gate_slots,
                bindings: sizes.bindings,
                timers: sizes.timers,
            });
        }
        if wants(Part::State) {
            doc.ike_sas = Some(
                engine
                    .ike_sa_status(now)
                    .into_iter()
                    .map(|s| IkeSa {
                        client: s.client.to_string(),
                        server: s.server.to_string(),
                        nat: s.nat.to_string(),
                        version: s.version.to_string(),
                        initiator_spi: s.initiator_spi.to_string(),
                        responder_spi: s.responder_spi.to_string(),
                        client_port: s.client_port,
                        server_port: s.server_port,
                        nat_port: s.nat_port,
                        idle_s: s.idle.as_secs(),
                        expires_in_s: s.expires_in.as_secs(),
                    })
                    .collect(),
            );
        }
        if wants(Part::Gates) {
            doc.gates = Some(
                engine
                    .gate_status(now)
                    .into_iter()
                    .map(|g| {
                        let (state, spi) = match g.state {
                            GateState::Open => ("open", None),
                            GateState::Hit(spi) => ("hit", Some(spi.to_string())),
                        };
                        Gate {
                            client: g.client.to_string(),
                            server: g.server.to_string(),
                            nat: g.nat.to_string(),
                            direction: g.direction.to_string(),
                            state,
                            spi,
                            exchange: g.exchange.to_string(),
                            message_id: g.message_id.to_string(),
                            contended: g.contended,
                            expires_in_ms: u64::try_from(g.expires_in.as_millis()).unwrap_or(u64::MAX),
                        }
                    })
                    .collect(),
            );
        }
        if wants(Part::Sessions) {
            doc.sessions = Some(
                engine
                    .session_status(now)
                    .into_iter()
                    .map(|s| Session {
                        direction: s.direction.to_string(),
                        client: s.client.to_string(),
                        nat: s.nat.to_string(),
                        server: s.server.to_string(),
                        spi: s.spi.to_string(),
                        origin: s.origin.to_string(),
                        packets: s.packets,
                        bytes: s.bytes,
                        idle_s: s.idle.as_secs(),
                        age_s: s.age.as_secs(),
                    })
                    .collect(),
            );
        }
        if wants(Part::Bindings) {
            doc.bindings = Some(
                engine
                    .binding_status(now)
                    .into_iter()
                    .map(|b| Binding {
                        client: b.client.to_string(),
                        nat: b.nat.to_string(),
                        pool: b.pool.clone(),
                        ike_sas: b.ike_sas,
                        flows: b.flows,
                        sessions: b.sessions,
                    })
                    .collect(),
            );
        }
        doc
    }
}
