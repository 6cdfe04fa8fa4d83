//! The daemon: one thread, one `poll(2)` over the NFQUEUE socket, the signal fd and the
//! control socket, with the soonest deadline as the timeout. The clock is read once per
//! wake ([`Clock`]), and that `now` goes to everything that runs in the pass; with no
//! traffic the daemon sleeps until a timer is due.
//!
//! This file is the driver only. What it decides lives in small pure parts with their own
//! tests: the engine (ALG state), [`super::held`] (packets waiting for a gate),
//! [`super::verdicts`] (engine verdict to kernel verdict), [`super::activity`] (the
//! kernel's per-SA counters to activity reports and renewals) and [`super::schedule`]
//! (when each periodic job is due).
//!
//! Order for each batch of queued packets: the engine decides every packet, the batch's
//! actions go to the kernel as set elements over netlink (one transaction per few hundred
//! actions), and only then are the verdicts sent, so the packets that follow find their
//! session or NAT mapping installed (SPEC rule 3).

use super::activity::{CounterRead, KernelCounters};
use super::clock::Clock;
use super::config_file;
use super::conntrack;
use super::control::{respond, ControlSocket};
use super::control_request::ControlRequest;
use super::egress::{self, Egress, EgressHints};
use super::held::{self, HeldPackets, Offer};
use super::kernel_state;
use super::log::DaemonLog;
use super::netlink_socket::readable;
use super::nfqueue::{NfQueue, QueueSettings, QueuedPacket};
use super::nft::{render_ruleset, render_teardown, DatapathSettings, Nft, QueueBackend};
use super::nft_netlink::NftNetlink;
use super::offload::{self, FastPathState, OffloadPaths};
use super::pool_addresses;
use super::routes::{interface_index, RouteSocket};
use super::schedule::Schedule;
use super::signals::{Signal, Signals};
use super::state_file;
use super::table_names::{SetName, TABLE};
use super::verdicts::{kernel_verdict, outbound_continue, VerdictCounts};
use super::xtables;
use crate::cli::status::{render_json, render_text, FastPathReport, ShellCounters, ShellStatus};
use crate::config::model::AlgConfig;
use crate::engine::{Action, ClearScope, Direction, Engine, EspSessionSpec, SessionKey, Verdict};
use crate::netlink::route::AddressOp;
use crate::time::Instant;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::PathBuf;

/// How the daemon was started.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    pub config_path: PathBuf,
    pub state_path: PathBuf,
    pub control_path: PathBuf,
    /// The WAN device for interface SNAT; `None` means the default route's device.
    pub egress_device: Option<String>,
    pub backend: QueueBackend,
    /// On SIGTERM remove the table, the queue rules and the pool addresses too, instead
    /// of leaving learned SAs flowing in the kernel.
    pub flush_on_exit: bool,
    /// The eBPF fast path's program and pinned map (used with `esp_offload 1`).
    pub offload: OffloadPaths,
}

pub use super::daemon_error::DaemonError;
pub use super::xtables::XTABLES_MARK;

/// Loads the configuration file ([`config_file::load`]).
/// What libuci's reading ignores in it is logged, one line per warning.
fn load_config(path: &std::path::Path) -> Result<AlgConfig, DaemonError> {
    let (loaded, warnings) = config_file::load_with_warnings(path);
    for warning in &warnings {
        eprintln!("ike-esp-alg: {warning}");
    }
    loaded.map_err(DaemonError::Config)
}

/// Runs the daemon until SIGTERM. `enabled 0` removes our table and returns at once.
pub fn run(options: DaemonOptions) -> Result<(), DaemonError> {
    let signals = Signals::open().map_err(DaemonError::Signals)?;
    let config = load_config(&options.config_path)?;
    let nft = Nft::default();
    let mut routes = RouteSocket::open().map_err(DaemonError::Routes)?;
    if !config.enabled {
        teardown(&nft, &options, config.queue.number);
        let egress = find_egress(&mut routes, &options, &config);
        pool_addresses::release(&mut routes, egress, &config);
        eprintln!(
            "ike-esp-alg: disabled in {}; rules removed, IPsec passes through as on a stock router",
            options.config_path.display()
        );
        return Ok(());
    }
    let mut daemon = Daemon::start(options, config, nft, routes, signals)?;
    daemon.run()
}

/// Removes every rule and queue of ours (SPEC rule 10).
pub fn teardown(nft: &Nft, options: &DaemonOptions, queue_num: u16) {
    let _ = nft.apply(&render_teardown());
    xtables::remove_rule(options.backend, queue_num);
    offload::remove_everywhere(&options.offload.pin);
}

/// The kernel's side: the ruleset (through `nft`), the set elements (every session, binding
/// and IKE mapping goes through this netlink socket), the queue and rtnetlink (the egress
/// address and the pool addresses).
struct Kernel {
    nft: Nft,
    elements: NftNetlink,
    queue: NfQueue,
    routes: RouteSocket,
}

/// The daemon: the engine, the kernel, the operator's ends (signals, control socket) and
/// the small pure parts that keep the shell's own state ([`HeldPackets`],
/// [`KernelCounters`], [`Schedule`]).
struct Daemon {
    options: DaemonOptions,
    config: AlgConfig,
    engine: Engine,
    kernel: Kernel,
    signals: Signals,
    control: ControlSocket,
    clock: Clock,
    log: DaemonLog,
    egress: Egress,
    stats: ShellStats,
    held: HeldPackets<QueuedPacket>,
    counters: KernelCounters,
    schedule: Schedule,
    fast_path: FastPathState,
    /// nf_tables transactions of ours through `nft` since the fast path's last generation
    /// read (the netlink socket counts its own).
    nft_commits: u32,
}

/// What the loop does after a SIGHUP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterReload {
    Run,
    Stop,
}

/// The shell's own counters; the held packets' are kept by [`HeldPackets`].
#[derive(Debug, Default)]
struct ShellStats {
    verdicts: VerdictCounts,
    nft_failures: u64,
    sessions_refreshed: u64,
    reloads: u64,
    reload_failures: u64,
    table_reinstalls: u64,
    /// Conntrack entries of IKE flows left translated to a previous egress address, removed.
    egress_conntrack_removed: u64,
}

/// The ruleset's settings for a configuration, an egress address and a fast path.
fn datapath_settings(
    config: &AlgConfig,
    egress: Option<Ipv4Addr>,
    backend: QueueBackend,
    fast_path: bool,
) -> DatapathSettings {
    let settings = DatapathSettings::from_config(&config.engine, egress, config.queue.number, backend);
    DatapathSettings { promotion: fast_path, ..settings }
}

impl Daemon {
    fn start(
        options: DaemonOptions,
        config: AlgConfig,
        nft: Nft,
        mut routes: RouteSocket,
        signals: Signals,
    ) -> Result<Daemon, DaemonError> {
        let clock = Clock;
        let now = clock.now();
        let mut engine = Engine::new(config.engine.clone())
            .map_err(|e| DaemonError::Engine { path: options.config_path.clone(), message: e.to_string() })?;
        let egress = find_egress(&mut routes, &options, &config);
        engine.handle_egress_address(now, egress.address);
        let fast_path =
            FastPathState::start(config.esp_offload, &options.offload, ethernet_egress(&mut routes, egress));
        let settings = datapath_settings(&config, egress.address, options.backend, fast_path.is_on());
        // What a previous daemon learned is read first: if its table no longer matches this
        // version's definitions, the table is replaced and everything re-installed from here.
        let mut elements = NftNetlink::open().map_err(DaemonError::Elements)?;
        let from_kernel = kernel_state::read(&mut elements, &config.engine);
        let ruleset = render_ruleset(&settings);
        if let Err(first) = nft.apply(&ruleset) {
            let replaced = nft.apply(&render_teardown()).and_then(|()| nft.apply(&ruleset));
            match replaced {
                Ok(()) => eprintln!(
                    "ike-esp-alg: replaced an incompatible ike_esp_alg table ({first}); learned state re-installed"
                ),
                Err(_) => return Err(DaemonError::Ruleset(first)),
            }
        }
        pool_addresses::claim(&mut routes, egress, &config);
        xtables::ensure_rule(options.backend, config.queue.number).map_err(DaemonError::QueueRule)?;
        let queue = NfQueue::open(
            config.queue.number,
            QueueSettings { max_len: 4096, copy_range: 0xffff, fail_open: config.queue.fail_open },
        )
        .map_err(DaemonError::Queue)?;
        let control = ControlSocket::bind(&options.control_path)
            .map_err(|source| DaemonError::Control { path: options.control_path.clone(), source })?;
        // Take back what a previous daemon learned: the kernel's maps, then the state file.
        let from_file = match state_file::load(&options.state_path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ike-esp-alg: ignoring state file {}: {e}", options.state_path.display());
                Default::default()
            }
        };
        // The kernel's counters as they stand are already in the records taken from it.
        let counters = KernelCounters::from_restored(from_kernel.sessions.iter().map(|s| (s.key, s.packets, s.bytes)));
        let snapshot = kernel_state::merge(from_kernel, from_file);
        let skipped = engine.restore(now, &snapshot);
        let records = snapshot.sessions.len() + snapshot.bindings.len() + snapshot.flows.len();
        eprintln!(
            "ike-esp-alg: started, queue {} ({}), egress {}, {} records taken back, {} skipped",
            config.queue.number,
            match options.backend {
                QueueBackend::Nft => "nft queue",
                QueueBackend::XtablesMark(_) => "iptables-nft NFQUEUE",
            },
            egress.address.map_or_else(|| "unknown".to_string(), |a| a.to_string()),
            records.saturating_sub(skipped),
            skipped
        );
        let timeouts = config.engine.timeouts;
        let mut daemon = Daemon {
            options,
            config,
            engine,
            kernel: Kernel { nft, elements, queue, routes },
            signals,
            control,
            clock,
            log: DaemonLog::new(50, 10),
            egress,
            stats: ShellStats::default(),
            held: HeldPackets::for_gate_timeout(timeouts.esp_gate),
            counters,
            schedule: Schedule::new(now, timeouts.esp_session),
            fast_path,
            nft_commits: 0,
        };
        daemon.apply_engine_output(now);
        // After the restored sessions' elements went in (their installs would demote).
        daemon.adopt_fast_path();
        Ok(daemon)
    }

    /// Takes back the SAs a previous daemon left in the pinned map.
    fn adopt_fast_path(&mut self) {
        if !self.fast_path.is_on() {
            return;
        }
        let devices = self.devices();
        let Some(offload) = self.fast_path.running() else { return };
        let (kept, removed) = offload.adopt(self.engine.session_specs(), &devices);
        if kept + removed > 0 {
            eprintln!("ike-esp-alg: fast path: took back {kept} SAs from the pinned map, removed {removed} stale ones");
        }
    }

    /// The loop: sleep until a packet, a signal, a request or the next deadline; read the
    /// clock once; hand that `now` to everything due.
    fn run(&mut self) -> Result<(), DaemonError> {
        let mut now = self.clock.now();
        loop {
            let wake = self.schedule.next_wake(now, [self.engine.poll_timeout(), self.held.next_deadline()]);
            let timeout_ms = i32::try_from(wake.saturating_since(now).as_millis()).unwrap_or(i32::MAX);
            let fds = [
                self.kernel.queue.as_fd(),
                self.signals.as_fd(),
                self.control.as_fd(),
                self.kernel.routes.changes_fd(),
            ];
            let ready = readable(fds, timeout_ms);
            now = self.clock.now();
            if ready[1] {
                match self.signals.read() {
                    Some(Signal::Terminate) => {
                        self.stop(now);
                        return Ok(());
                    }
                    Some(Signal::Reload) if self.reload(now) == AfterReload::Stop => return Ok(()),
                    Some(Signal::Reload) | None => {}
                }
            }
            if ready[3] && self.kernel.routes.drain_changes() {
                self.follow_egress(now);
                // A promoted SA's devices were checked against the old routes; it comes
                // back once its packets pass the filters again (within a second).
                if let Some(offload) = self.fast_path.running() {
                    offload.demote_all();
                }
            }
            if ready[0] {
                self.handle_queue(now);
            }
            self.offer_held(now);
            if ready[2] {
                self.handle_control(now);
            }
            self.housekeeping(now);
            // Timers may have freed a gate: offer what waits for one in the same pass.
            self.offer_held(now);
        }
    }

    /// SIGTERM: save, and with `--flush-on-exit` remove everything of ours.
    fn stop(&mut self, now: Instant) {
        self.save_state(now);
        if self.options.flush_on_exit {
            teardown(&self.kernel.nft, &self.options, self.config.queue.number);
            pool_addresses::release(&mut self.kernel.routes, self.egress, &self.config);
            eprintln!("ike-esp-alg: stopping; rules, queues and pool addresses removed");
        } else {
            // Pool addresses stay, like the table: learned SAs keep flowing.
            eprintln!("ike-esp-alg: stopping; learned sessions keep flowing in the kernel");
        }
    }

    fn handle_queue(&mut self, now: Instant) {
        let mut packets = Vec::new();
        // ENOBUFS (the socket overflowed) is counted by the queue itself, not an error.
        if let Err(e) = self.kernel.queue.recv(&mut packets) {
            self.log.log(now, &format!("ike-esp-alg: queue receive: {e}"));
        }
        self.decide(now, packets.into_iter().map(|packet| Offer::new(packet, now)).collect());
    }

    /// Decides a batch: the engine's verdicts, then the datapath updates, then the kernel
    /// verdicts (SPEC rule 3). Packets that must wait for a gate are held instead.
    fn decide(&mut self, now: Instant, batch: Vec<Offer<QueuedPacket>>) {
        if batch.is_empty() {
            return;
        }
        let verdicts: Vec<Verdict> =
            batch.iter().map(|offer| self.engine.handle_packet(now, &offer.packet.payload)).collect();
        let refused = self.apply_engine_output(now);
        for (offer, verdict) in batch.into_iter().zip(verdicts) {
            let waits = matches!(verdict, Verdict::Drop(reason) if reason.is_wait());
            let Some(offer) = self.held.settle(now, offer, waits) else { continue };
            let kernel = kernel_verdict(
                verdict,
                &offer.packet.payload,
                self.config.engine.ports,
                &refused,
                outbound_continue(self.options.backend),
            );
            self.stats.verdicts.count(&kernel);
            if let Err(e) = self.kernel.queue.verdict(offer.packet.id, kernel.verdict, kernel.payload.as_deref()) {
                self.log.log(now, &format!("ike-esp-alg: verdict for packet {}: {e}", offer.packet.id));
            }
        }
    }

    /// Offers held packets again once a gate has freed up or the oldest waited its limit.
    fn offer_held(&mut self, now: Instant) {
        let due = self.held.take_due(now, self.engine.slot_generation());
        self.decide(now, due);
    }

    /// Applies queued actions in one transaction and logs queued events. Returns the
    /// sessions whose installation failed.
    fn apply_engine_output(&mut self, now: Instant) -> Vec<SessionKey> {
        let mut actions = Vec::new();
        while let Some(a) = self.engine.poll_action() {
            actions.push(a);
        }
        let mut failed = Vec::new();
        if let Some(offload) = self.fast_path.running() {
            for action in &actions {
                match action {
                    Action::RemoveEspSession(s) => offload.forget(&s.key),
                    Action::InstallEspSession(s) => offload.reinstalled(s.key),
                    _ => {}
                }
            }
        }
        if !actions.is_empty() {
            self.schedule.mark_dirty();
            for (action, error) in self.kernel.elements.apply_actions(&actions) {
                self.stats.nft_failures += 1;
                if let Action::InstallEspSession(s) = &action {
                    failed.push(s.key);
                }
                self.log.log(now, &format!("ike-esp-alg: datapath update failed: {error}"));
                // The engine forgets what the kernel never got, so that it is learned again.
                self.engine.handle_action_failed(now, &action);
            }
            // Undoing a refused install may remove what depended on it: one more round, whose
            // refusals (if any) are only logged.
            let mut undo = Vec::new();
            while let Some(a) = self.engine.poll_action() {
                undo.push(a);
            }
            for (_, error) in self.kernel.elements.apply_actions(&undo) {
                self.stats.nft_failures += 1;
                self.log.log(now, &format!("ike-esp-alg: datapath update failed: {error}"));
            }
        }
        while let Some(event) = self.engine.poll_event() {
            self.log.event(now, &event);
        }
        failed
    }

    fn handle_control(&mut self, now: Instant) {
        while let Some((stream, request)) = self.control.accept() {
            if self.schedule.take_activity_read(now) {
                self.read_activity(now, false);
            }
            let answer = match ControlRequest::parse(&request) {
                Ok(ControlRequest::Show { part, json }) => {
                    let counters = ShellStatus { counters: self.shell_counters(), fast_path: self.fast_path_report() };
                    if json {
                        render_json(&self.engine, now, part, &counters)
                    } else {
                        render_text(&self.engine, now, part, &counters)
                    }
                }
                Ok(ControlRequest::ClearAll) => self.clear(now, ClearScope::All),
                Ok(ControlRequest::ClearClient(client)) => self.clear(now, ClearScope::Client(client)),
                Err(e) => format!("error: {e}\n"),
            };
            respond(stream, &answer);
        }
    }

    fn clear(&mut self, now: Instant, scope: ClearScope) -> String {
        let n = self.engine.clear(now, scope);
        self.apply_engine_output(now);
        format!("cleared {n} client(s)\n")
    }

    fn shell_counters(&mut self) -> ShellCounters {
        let held = self.held.stats();
        let q = self.kernel.queue.stats();
        let s = &self.stats;
        let mut list: ShellCounters = [
            ("packets_held", held.held),
            ("held_released", held.released),
            ("held_expired", held.expired),
            ("verdict_accept", s.verdicts.accept),
            ("verdict_drop", s.verdicts.drop),
            ("verdict_rewritten", s.verdicts.rewritten),
            // SPEC §5's "queue overflow": the times the kernel reported it could not hand
            // us packets (each one or more packets fail-open let pass without a verdict).
            ("queue_overflow", q.overruns),
            ("nft_failures", s.nft_failures),
            ("sessions_refreshed", s.sessions_refreshed),
            ("reloads", s.reloads),
            ("reload_failures", s.reload_failures),
            ("table_reinstalls", s.table_reinstalls),
            ("egress_conntrack_removed", s.egress_conntrack_removed),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
        list.push(("queue_packets".to_string(), q.packets));
        // ENOBUFS reports and packets the kernel numbered but could not deliver (fail-open
        // accepted them); SPEC §5's "queue overflow".
        list.push(("queue_overruns".to_string(), q.overruns));
        list.push(("queue_lost".to_string(), q.lost));
        list.push(("queue_verdict_errors".to_string(), q.verdict_errors));
        if let Some(offload) = self.fast_path.running() {
            let o = offload.stats;
            for (name, value) in [
                ("offload_promoted", o.promoted),
                ("offload_demoted", o.demoted),
                ("offload_firewall_refills", o.firewall_refills),
                ("offload_failures", o.failures),
            ] {
                list.push((name.to_string(), value));
            }
        }
        let mut kernel = Vec::new();
        let read = self
            .kernel
            .elements
            .dump_counters(|name, packets, _| kernel.push((format!("kernel_{name}_packets"), packets)));
        if read.is_ok() {
            kernel.sort();
            list.extend(kernel);
        }
        list
    }

    fn fast_path_report(&self) -> FastPathReport {
        self.fast_path.report()
    }

    /// An address or route changed: re-resolve the egress, and if its address is another
    /// now, tell the engine (interface SNAT rebinds), re-render the ruleset, and remove the
    /// conntrack entries our nat chain translated to the old address.
    fn follow_egress(&mut self, now: Instant) {
        let egress = find_egress(&mut self.kernel.routes, &self.options, &self.config);
        if egress.address != self.egress.address {
            let show = |a: Option<Ipv4Addr>| a.map_or_else(|| "none".to_string(), |a| a.to_string());
            let line =
                format!("ike-esp-alg: egress address now {} (was {})", show(egress.address), show(self.egress.address));
            self.log.log(now, &line);
            let old = self.egress.address;
            self.engine.handle_egress_address(now, egress.address);
            self.egress = egress;
            self.apply_ruleset(now);
            if let Some(old) = old {
                self.remove_stale_ike_conntrack(now, old);
            }
        } else {
            self.egress = egress;
        }
    }

    /// After the ruleset and the engine's mappings moved to the new address: our IKE
    /// mappings are `snat`, whose conntrack entries the kernel keeps when the address goes
    /// (it flushes masquerade's only), so a client that keeps its IKE port would go on
    /// leaving from `old`. Its next packet, with the entry gone, takes the new mapping.
    fn remove_stale_ike_conntrack(&mut self, now: Instant, old: Ipv4Addr) {
        let ports = [self.config.engine.ports.ike, self.config.engine.ports.natt];
        let line = match conntrack::remove_stale_ike_mappings(old, ports) {
            Ok(removal) => {
                self.stats.egress_conntrack_removed += removal.removed as u64;
                let capped = if removal.capped { " (stopped at the pass's bound; more may remain)" } else { "" };
                format!(
                    "ike-esp-alg: egress: removed {} IKE conntrack entries translated to {old}{capped}",
                    removal.removed
                )
            }
            Err(e) => {
                self.stats.egress_conntrack_removed += e.removed as u64;
                format!("ike-esp-alg: egress: removing IKE conntrack entries translated to {old}: {e}")
            }
        };
        self.log.log(now, &line);
    }

    fn housekeeping(&mut self, now: Instant) {
        let due = self.schedule.take_due(now);
        if due.table_check {
            self.reinstall_if_table_gone(now);
        }
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            // The kernel counts activity: read it before deciding that a session expired
            // (only then: a read of a full table takes a noticeable part of a second).
            if self.engine.session_expiry_due(now) && self.schedule.take_activity_read(now) {
                self.read_activity(now, false);
            }
            self.engine.handle_timeout(now);
            self.apply_engine_output(now);
        }
        if due.renewal {
            self.read_activity(now, true);
        }
        if due.save {
            self.save_state(now);
        }
        if due.promotion && self.fast_path.is_on() {
            self.promote(now);
        }
    }

    /// The fast path's pass: if someone else committed to nf_tables, every SA goes back to
    /// the nft table (and `esp_passed` is emptied) to pass the firewall again; then the SAs
    /// seen in `esp_passed` are promoted.
    fn promote(&mut self, now: Instant) {
        let generation = match self.kernel.elements.generation() {
            Ok(g) => Some(g),
            Err(e) => {
                self.log.log(now, &format!("ike-esp-alg: fast path: reading the ruleset generation: {e}"));
                None
            }
        };
        let ours = self.kernel.elements.take_commits().saturating_add(core::mem::take(&mut self.nft_commits));
        let Some(offload) = self.fast_path.running() else { return };
        if let Some(demoted) = generation.and_then(|g| offload.follow_firewall(g, ours)) {
            let flushed = self.kernel.nft.apply(&format!("flush set ip {TABLE} {}\n", SetName::EspPassed.as_str()));
            // Counted, not a new baseline: a foreign commit right after ours must still show.
            if flushed.is_ok() {
                self.nft_commits = self.nft_commits.saturating_add(1);
            }
            let line = format!(
                "ike-esp-alg: fast path: the ruleset changed (not by us); {demoted} SAs back on the nft table until their packets pass the filters again{}",
                flushed.err().map(|e| format!("; emptying {}: {e}", SetName::EspPassed.as_str())).unwrap_or_default()
            );
            self.log.log(now, &line);
            return;
        }
        let mut passed = HashSet::new();
        if let Err(e) = self.kernel.elements.dump_set(SetName::EspPassed, |e| {
            if let Some(key) = e.esp_key() {
                passed.insert(key);
            }
        }) {
            self.log.log(now, &format!("ike-esp-alg: fast path: reading {}: {e}", SetName::EspPassed.as_str()));
            return;
        }
        if passed.is_empty() {
            return;
        }
        let devices = self.devices();
        let Some(offload) = self.fast_path.running() else { return };
        for line in offload.promote(&passed, self.engine.session_specs(), &devices) {
            self.log.log(now, &format!("ike-esp-alg: fast path: {line}"));
        }
    }

    /// The routes and devices as they are now, for the fast path; a dump that fails is
    /// logged and leaves that part empty (then nothing is promoted).
    fn devices(&mut self) -> offload::Devices {
        let routes = self.kernel.routes.routes().unwrap_or_else(|e| {
            eprintln!("ike-esp-alg: fast path: {e}");
            Vec::new()
        });
        let links = self.kernel.routes.links().unwrap_or_else(|e| {
            eprintln!("ike-esp-alg: fast path: {e}");
            Vec::new()
        });
        offload::Devices::new(routes, &links)
    }

    /// Reads the kernel's per-SA counters (`esp_out`, `esp_in`) and reports each SA whose
    /// count grew since the last read as active now. With `renew`, also renews the kernel
    /// elements of active SAs whose timeout has run past half, so that an SA in use never
    /// lapses in the kernel.
    fn read_activity(&mut self, now: Instant, renew: bool) {
        let mut reads = Vec::new();
        for (map, direction) in [(SetName::EspOut, Direction::Outbound), (SetName::EspIn, Direction::Inbound)] {
            let dumped = self.kernel.elements.dump_set(map, |e| {
                if let (Some((src, dst, spi)), Some((packets, bytes))) = (e.esp_key(), e.counter) {
                    let key = SessionKey { direction, src, dst, spi };
                    reads.push(CounterRead { key, packets, bytes, expires: e.expires });
                }
            });
            if let Err(e) = dumped {
                self.log.log(now, &format!("ike-esp-alg: reading activity: {e}"));
                return;
            }
        }
        if let Some(offload) = self.fast_path.running() {
            for read in &mut reads {
                let (packets, bytes) = offload.counts(&read.key);
                read.packets = read.packets.saturating_add(packets);
                read.bytes = read.bytes.saturating_add(bytes);
            }
        }
        let renew_below = renew.then_some(self.config.engine.timeouts.esp_session / 2);
        let accounting = self.counters.account(now, &reads, renew_below);
        for (key, report) in accounting.active {
            self.engine.handle_session_activity(key, report);
        }
        let engine = &self.engine;
        self.counters.retain(|key| engine.has_session(key));
        let specs: Vec<EspSessionSpec> =
            accounting.renew.iter().filter_map(|key| self.engine.session_spec(key)).collect();
        if specs.is_empty() {
            return;
        }
        self.stats.sessions_refreshed += specs.len() as u64;
        if let Err((failures, e)) = self.kernel.elements.refresh_sessions(&specs) {
            self.stats.nft_failures += failures as u64;
            self.log.log(now, &format!("ike-esp-alg: renewing {failures} session(s) in the kernel: {e}"));
        }
    }

    /// `fw4 flush`, which `/etc/init.d/firewall stop` runs, deletes every nftables table:
    /// ours with its queue rules and learned SAs, and iptables-nft's with the NFQUEUE rule.
    /// The engine still knows everything, so the table and each binding, IKE mapping and
    /// ESP session go back in, with one log line. A polled check rather than nf_tables
    /// notifications: subscribing would also deliver an event for every element we write.
    fn reinstall_if_table_gone(&mut self, now: Instant) {
        match self.kernel.elements.table_exists() {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                self.log.log(now, &format!("ike-esp-alg: checking for table ip {TABLE}: {e}"));
                return;
            }
        }
        if let Err(e) = self.install_ruleset() {
            self.log.log(now, &format!("ike-esp-alg: table ip {TABLE} is gone and cannot be re-installed: {e}"));
            return;
        }
        let queue_rule = match xtables::ensure_rule(self.options.backend, self.config.queue.number) {
            Ok(()) => String::new(),
            Err(e) => format!("; {e}"),
        };
        // iptables-nft commits on its own, uncounted.
        if let Some(offload) = self.fast_path.running() {
            offload.forget_generation();
        }
        self.stats.table_reinstalls += 1;
        // Elements added again start counting from zero.
        self.counters.clear();
        let queued = self.engine.reinstall_all();
        let failed = self.apply_engine_output(now).len();
        eprintln!(
            "ike-esp-alg: table ip {TABLE} was deleted (fw4 flush?); re-installed it with {} sessions, {} bindings, {} IKE mappings{}{queue_rule}",
            queued.sessions,
            queued.bindings,
            queued.flows,
            if failed > 0 { format!(", {failed} sessions failed") } else { String::new() },
        );
    }

    /// Renders the ruleset for the running configuration and egress address and applies it.
    fn install_ruleset(&mut self) -> Result<(), super::nft::NftError> {
        let settings =
            datapath_settings(&self.config, self.egress.address, self.options.backend, self.fast_path.is_on());
        let applied = self.kernel.nft.apply(&render_ruleset(&settings));
        match applied {
            Ok(()) => self.nft_commits = self.nft_commits.saturating_add(1),
            Err(_) => self.stats.nft_failures += 1,
        }
        applied
    }

    fn apply_ruleset(&mut self, now: Instant) {
        if let Err(e) = self.install_ruleset() {
            self.log.log(now, &format!("ike-esp-alg: ruleset update failed: {e}"));
        }
        self.apply_engine_output(now);
    }

    /// SIGHUP: a bad file is reported and the old configuration stays (nothing half-applied:
    /// the pool addresses change only once the new configuration is accepted). `enabled 0`
    /// removes the datapath and asks the loop to stop.
    fn reload(&mut self, now: Instant) -> AfterReload {
        let config = match load_config(&self.options.config_path) {
            Ok(c) => c,
            Err(e) => {
                self.stats.reload_failures += 1;
                for line in e.to_string().lines() {
                    eprintln!("ike-esp-alg: reload refused, keeping the running configuration: {line}");
                }
                return AfterReload::Run;
            }
        };
        if !config.enabled {
            teardown(&self.kernel.nft, &self.options, self.config.queue.number);
            pool_addresses::release(&mut self.kernel.routes, self.egress, &self.config);
            eprintln!("ike-esp-alg: disabled by reload; rules and pool addresses removed, exiting");
            return AfterReload::Stop;
        }
        let mut engine = match Engine::new(config.engine.clone()) {
            Ok(e) => e,
            Err(e) => {
                self.stats.reload_failures += 1;
                eprintln!("ike-esp-alg: reload refused, keeping the running configuration: {e}");
                return AfterReload::Run;
            }
        };
        // The new rule sets may name other zones, so the egress is resolved again.
        let egress = find_egress(&mut self.kernel.routes, &self.options, &config);
        engine.handle_egress_address(now, egress.address);
        let snapshot = self.engine.snapshot(now);
        let skipped = engine.restore(now, &snapshot);
        // Only the addresses that left the pools go; the ones that stay keep answering ARP.
        let kept: HashSet<Ipv4Addr> = pool_addresses::of_proxy_arp_pools(&config).into_iter().collect();
        let gone: Vec<Ipv4Addr> =
            pool_addresses::of_proxy_arp_pools(&self.config).into_iter().filter(|a| !kept.contains(a)).collect();
        pool_addresses::change(&mut self.kernel.routes, self.egress, AddressOp::Remove, &gone);
        pool_addresses::claim(&mut self.kernel.routes, egress, &config);
        self.egress = egress;
        self.held.set_limit(held::hold_limit(config.engine.timeouts.esp_gate));
        self.schedule.set_session_timeout(config.engine.timeouts.esp_session);
        if config.esp_offload != self.config.esp_offload {
            // Off to on loads and attaches; on to off takes the program off every device.
            let probe = ethernet_egress(&mut self.kernel.routes, egress);
            self.fast_path = FastPathState::start(config.esp_offload, &self.options.offload, probe);
        }
        self.engine = engine;
        self.config = config;
        self.stats.reloads += 1;
        let engine = &self.engine;
        if let Some(offload) = self.fast_path.running() {
            offload.retain(|key| engine.has_session(key));
        }
        self.apply_ruleset(now);
        self.adopt_fast_path();
        eprintln!("ike-esp-alg: configuration reloaded ({skipped} records no longer fit and were dropped)");
        AfterReload::Run
    }

    fn save_state(&mut self, now: Instant) {
        let path = self.options.state_path.display();
        match state_file::save(&self.options.state_path, &self.engine.snapshot(now)) {
            Ok(()) => {
                let failed = self.schedule.saved(now);
                if failed > 0 {
                    self.log
                        .log(now, &format!("ike-esp-alg: state saved to {path} again, after {failed} failed saves"));
                }
            }
            Err(e) => {
                if self.schedule.save_failed(now) {
                    let why =
                        format!("ike-esp-alg: saving state to {path}: {e}; keeping the last saved file and retrying");
                    self.log.log(now, &why);
                }
            }
        }
    }
}

/// Resolves the egress interface and its address from the kernel's current addresses and
/// routes ([`egress::resolve`]). A dump that fails leaves that part empty (logged).
fn find_egress(routes: &mut RouteSocket, options: &DaemonOptions, config: &AlgConfig) -> Egress {
    let addresses = routes.addresses().unwrap_or_else(|e| {
        eprintln!("ike-esp-alg: egress: {e}");
        Vec::new()
    });
    let explicit = options.egress_device.as_deref().map(interface_index);
    let (route_list, zone_devices) = if explicit.is_some() {
        (Vec::new(), Vec::new())
    } else {
        let route_list = routes.routes().unwrap_or_else(|e| {
            eprintln!("ike-esp-alg: egress: {e}");
            Vec::new()
        });
        (route_list, rule_set_zone_devices(config))
    };
    egress::resolve(&EgressHints { explicit, zone_devices: &zone_devices }, &addresses, &route_list)
}

/// The egress device if it carries Ethernet: the fast path attaches there at start, to find
/// a kernel without tc's modules at once (never onto pppoe-wan, whose frames it cannot parse).
fn ethernet_egress(routes: &mut RouteSocket, egress: Egress) -> Option<u32> {
    let index = egress.index?;
    let links = routes.links().ok()?;
    links.iter().any(|&(i, kind)| i == index && kind == crate::netlink::route::ARPHRD_ETHER).then_some(index)
}

/// The indexes of the devices of every rule set's `to_zone`, read from firewall4's and
/// netifd's UCI files (used only when neither `--egress-device` nor a default route says).
fn rule_set_zone_devices(config: &AlgConfig) -> Vec<u32> {
    let firewall = std::fs::read_to_string("/etc/config/firewall").unwrap_or_default();
    let network = std::fs::read_to_string("/etc/config/network").unwrap_or_default();
    config
        .rule_sets
        .iter()
        .flat_map(|rs| egress::zone_devices(&firewall, &network, &rs.to_zone.name))
        .filter_map(|device| interface_index(&device))
        .collect()
}
