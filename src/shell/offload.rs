//! The eBPF fast path in the daemon (`option esp_offload`): loads `esp_fastpath.o` against
//! the SA map pinned in bpffs, attaches it at the clsact ingress of each device a promoted
//! SA arrives on, and keeps the map in step with the engine's sessions and the firewall.
//!
//! Read first: [`crate::bpf`] (the program and its map) and [`super::promotion`] (which SAs
//! may skip the hooks, and when they must come back). The nft table stays complete under
//! the fast path: every session keeps its elements there, so an SA the program does not
//! take (a miss, a fragment, a device without the program, a demotion) is forwarded by the
//! kernel as before, and taking the fast path away loses nothing.
//!
//! What outlives the daemon: the pinned map and the attached filters (tc holds the
//! program). A daemon started after `kill -9` takes the map back with its counters
//! ([`Offload::adopt`]) and swaps its own program in on the same devices.

use super::promotion::{fast_path_entry, FirewallWatch, ForwardedKey, Promotions};
use crate::bpf::{AttachError, Execution, FastPath, LoadError, MapOrigin, SaKey, TcAttacher};
use crate::cli::status::FastPathReport;
use crate::engine::{Direction, EspSessionSpec, SessionKey};
use crate::netlink::route::{route_interface, Route, ARPHRD_ETHER};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// The program for this machine's byte order, as the OpenWrt package installs it.
pub const DEFAULT_OBJECT: &str = "/usr/lib/ike-esp-alg/esp_fastpath.o";
/// Where the SA map is pinned: OpenWrt mounts a bpf filesystem at /sys/fs/bpf.
pub const DEFAULT_PIN: &str = "/sys/fs/bpf/ike-esp-alg/esp_sa";

/// Where the fast path's files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffloadPaths {
    pub object: PathBuf,
    pub pin: PathBuf,
}

impl Default for OffloadPaths {
    fn default() -> OffloadPaths {
        OffloadPaths { object: PathBuf::from(DEFAULT_OBJECT), pin: PathBuf::from(DEFAULT_PIN) }
    }
}

/// Whether the kernel compiles BPF programs when they are loaded (absent: no JIT).
const JIT_SYSCTL: &str = "/proc/sys/net/core/bpf_jit_enable";

/// Why the fast path did not start; the nft table forwards every SA instead.
#[derive(Debug)]
pub enum StartError {
    Object { path: PathBuf, error: io::Error },
    Load(LoadError),
    Attach(AttachError),
}

impl StartError {
    /// The OpenWrt package that would make it work, when that is what is missing.
    pub fn kmod(&self) -> Option<&'static str> {
        match self {
            StartError::Object { error, .. } if error.kind() == io::ErrorKind::NotFound => Some("ike-esp-alg-fastpath"),
            StartError::Attach(e) => e.kmod(),
            _ => None,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Object { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            StartError::Load(e) => write!(f, "{e}"),
            StartError::Attach(e) => write!(f, "{e}"),
        }?;
        match self.kmod() {
            Some(kmod) => write!(f, " (install {kmod})"),
            None => Ok(()),
        }
    }
}

/// The fast path's own counters, for `show counters`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OffloadStats {
    /// SAs put into the BPF map.
    pub promoted: u64,
    /// SAs taken out of it while their session lived on (a firewall change).
    pub demoted: u64,
    /// Times a foreign nf_tables commit sent every SA back to the firewall.
    pub firewall_refills: u64,
    /// Map or attach calls that failed (the SA stayed on the nft table).
    pub failures: u64,
}

/// The running fast path.
pub struct Offload {
    fast_path: FastPath,
    attacher: TcAttacher,
    /// Devices our filter is on, by index.
    devices: BTreeSet<u32>,
    promotions: Promotions,
    watch: FirewallWatch,
    /// Devices already reported as not Ethernet (bounded by the device count).
    not_ethernet: BTreeSet<u32>,
    /// JIT or interpreter, asked once after the load (`None`: the kernel did not say).
    execution: Option<Execution>,
    pub stats: OffloadStats,
}

/// The devices and routes at one moment: where an SA's packets arrive and where they leave.
#[derive(Debug, Default)]
pub struct Devices {
    routes: Vec<Route>,
    ethernet: HashSet<u32>,
}

/// Why an SA stays on the nft table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotOffloadable {
    /// No route names a device for one of its ends.
    NoRoute,
    /// This device (by index) does not carry Ethernet frames: the program parses only
    /// those, and an Ethernet frame redirected onto PPP (pppoe-wan) or a tunnel would go
    /// out with its header as data.
    NotEthernet(u32),
}

impl Devices {
    /// From a route dump and a link dump (`(index, ARPHRD_*)` each).
    pub fn new(routes: Vec<Route>, links: &[(u32, u16)]) -> Devices {
        let ethernet = links.iter().filter(|(_, kind)| *kind == ARPHRD_ETHER).map(|(index, _)| *index).collect();
        Devices { routes, ethernet }
    }

    /// The device the session's packets arrive on (the route back to their source), if
    /// both it and the one they leave by (the route to the rewritten destination) carry
    /// Ethernet.
    pub fn of(&self, session: &EspSessionSpec) -> Result<u32, NotOffloadable> {
        let k = session.key;
        let leaves_to = match k.direction {
            Direction::Outbound => k.dst,
            Direction::Inbound => session.translated,
        };
        let arrives = route_interface(&self.routes, k.src).ok_or(NotOffloadable::NoRoute)?;
        let leaves = route_interface(&self.routes, leaves_to).ok_or(NotOffloadable::NoRoute)?;
        for device in [arrives, leaves] {
            if !self.ethernet.contains(&device) {
                return Err(NotOffloadable::NotEthernet(device));
            }
        }
        Ok(arrives)
    }
}

impl fmt::Debug for Offload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Offload").field("devices", &self.devices).field("promoted", &self.promotions.len()).finish()
    }
}

impl Offload {
    /// Loads the program against the pinned map (taking back an earlier run's) and checks
    /// that tc can take it by attaching it to `first_device` (the egress device, whose
    /// inbound SAs arrive there), so that a kernel without clsact or cls_bpf is found at
    /// start, with the package to install, not at the first SA.
    pub fn start(paths: &OffloadPaths, first_device: Option<u32>) -> Result<(Offload, MapOrigin), StartError> {
        let bytes =
            std::fs::read(&paths.object).map_err(|error| StartError::Object { path: paths.object.clone(), error })?;
        let (fast_path, origin) = FastPath::load_pinned(&bytes, &paths.pin).map_err(StartError::Load)?;
        let attacher = TcAttacher::open().map_err(StartError::Attach)?;
        let execution = fast_path.execution();
        let mut offload = Offload {
            execution,
            fast_path,
            attacher,
            devices: BTreeSet::new(),
            promotions: Promotions::default(),
            watch: FirewallWatch::default(),
            not_ethernet: BTreeSet::new(),
            stats: OffloadStats::default(),
        };
        if let Some(index) = first_device {
            offload.attach(index).map_err(StartError::Attach)?;
        }
        Ok((offload, origin))
    }

    fn attach(&mut self, index: u32) -> Result<(), AttachError> {
        if !self.devices.contains(&index) {
            self.attacher.attach(index, self.fast_path.program_fd().as_fd())?;
            self.devices.insert(index);
        }
        Ok(())
    }

    /// Takes back the SAs an earlier daemon left in the map: those of sessions the engine
    /// holds are promoted again (and our program goes onto their devices, replacing the
    /// earlier one); the others are removed. Returns (kept, removed).
    pub fn adopt(&mut self, sessions: impl Iterator<Item = EspSessionSpec>, devices: &Devices) -> (usize, usize) {
        let by_key: HashMap<SaKey, EspSessionSpec> = sessions.map(|s| (fast_path_entry(&s).0, s)).collect();
        let keys = self.fast_path.sa_map().keys().unwrap_or_default();
        let (mut kept, mut removed) = (0, 0);
        for key in keys {
            match by_key.get(&key) {
                Some(session) if self.entry_matches(key, session) && devices.of(session).is_ok() => {
                    if let Ok(index) = devices.of(session) {
                        if self.attach(index).is_err() {
                            self.stats.failures += 1;
                        }
                    }
                    self.promotions.mark_promoted(session.key);
                    kept += 1;
                }
                stale => {
                    if let Some(session) = stale {
                        self.promotions.forget(&session.key);
                    }
                    if self.fast_path.sa_map().remove(key).is_err() {
                        self.stats.failures += 1;
                    }
                    removed += 1;
                }
            }
        }
        (kept, removed)
    }

    fn entry_matches(&self, key: SaKey, session: &EspSessionSpec) -> bool {
        let wanted = fast_path_entry(session).1;
        matches!(self.fast_path.sa_map().get(key), Ok(Some(entry)) if entry.rewrite == wanted)
    }

    /// Whether someone else committed to nf_tables since the last call ([`FirewallWatch`]).
    /// If so, every SA goes back to the nft table, to pass the (maybe new) filters again;
    /// the caller flushes `esp_passed`. Returns how many SAs were demoted, or `None`.
    pub fn follow_firewall(&mut self, generation: u32, ours: u32) -> Option<usize> {
        if !self.watch.changed(generation, ours) {
            return None;
        }
        self.stats.firewall_refills += 1;
        Some(self.demote_all())
    }

    /// After a change of ours whose commits are not counted (the iptables-nft queue rule,
    /// a ruleset applied by `nft`): the next generation read sets the baseline again.
    pub fn forget_generation(&mut self) {
        self.watch.reset();
    }

    /// Takes every SA out of the map; their counts so far are carried.
    pub fn demote_all(&mut self) -> usize {
        self.demote(self.promotions.promoted())
    }

    /// The engine installs the session again (a new rewrite, after the egress address
    /// changed): the map's entry would forward with the old one, so it leaves the map and
    /// comes back only once its packets passed the filters with the new one.
    pub fn reinstalled(&mut self, key: SessionKey) {
        if self.promotions.is_promoted(&key) {
            self.demote(vec![key]);
        }
    }

    fn demote(&mut self, promoted: Vec<SessionKey>) -> usize {
        for key in &promoted {
            let sa = sa_key(key);
            let (packets, bytes) = match self.fast_path.sa_map().get(sa) {
                Ok(Some(entry)) => (entry.counters.packets, entry.counters.bytes),
                _ => (0, 0),
            };
            if self.fast_path.sa_map().remove(sa).is_err() {
                self.stats.failures += 1;
            }
            self.promotions.demote(*key, packets, bytes);
        }
        self.stats.demoted += promoted.len() as u64;
        promoted.len()
    }

    /// Promotes the sessions whose packets passed the forward filters (`passed`, from
    /// `esp_passed`): each goes into the map, and the program onto the device its packets
    /// arrive on. Returns lines for the log: an attach refused (once per device and pass;
    /// its SAs stay on the nft table and are tried again next pass) and a device that is
    /// not Ethernet (once per device).
    pub fn promote(
        &mut self,
        passed: &HashSet<ForwardedKey>,
        sessions: impl IntoIterator<Item = EspSessionSpec>,
        devices: &Devices,
    ) -> Vec<String> {
        let sessions: Vec<EspSessionSpec> = sessions.into_iter().collect();
        let mut lines = Vec::new();
        let mut refused: BTreeSet<u32> = BTreeSet::new();
        for session in self.promotions.candidates(passed, &sessions) {
            let index = match devices.of(&session) {
                Ok(index) => index,
                Err(NotOffloadable::NoRoute) => continue,
                Err(NotOffloadable::NotEthernet(device)) => {
                    if self.not_ethernet.insert(device) {
                        lines.push(format!(
                            "{} is not an Ethernet device; SAs through it stay on the nft table",
                            interface_name(device)
                        ));
                    }
                    continue;
                }
            };
            if refused.contains(&index) {
                continue;
            }
            if let Err(e) = self.attach(index) {
                self.stats.failures += 1;
                refused.insert(index);
                let kmod = e.kmod().map(|k| format!(" (install {k})")).unwrap_or_default();
                lines.push(format!("{e}{kmod}; its SAs stay on the nft table"));
                continue;
            }
            let (key, rewrite) = fast_path_entry(&session);
            match self.fast_path.sa_map().insert(key, rewrite) {
                Ok(()) => {
                    self.promotions.mark_promoted(session.key);
                    self.stats.promoted += 1;
                }
                // A full map (E2BIG) or no memory: the SA stays on the nft table.
                Err(_) => self.stats.failures += 1,
            }
        }
        lines
    }

    /// The session ended: its SA leaves the map and nothing of it is kept.
    pub fn forget(&mut self, key: &SessionKey) {
        if self.promotions.forget(key) && self.fast_path.sa_map().remove(sa_key(key)).is_err() {
            self.stats.failures += 1;
        }
    }

    /// Keeps only what the engine still holds (after a reload or a re-install).
    pub fn retain(&mut self, mut has_session: impl FnMut(&SessionKey) -> bool) {
        for key in self.promotions.promoted() {
            if !has_session(&key) {
                self.forget(&key);
            }
        }
        self.promotions.retain(has_session);
    }

    /// What the fast path forwarded for the session, carried counts included: the
    /// activity read adds it to the nft table's counts.
    pub fn counts(&self, key: &SessionKey) -> (u64, u64) {
        let (mut packets, mut bytes) = self.promotions.carried(key);
        if self.promotions.is_promoted(key) {
            if let Ok(Some(entry)) = self.fast_path.sa_map().get(sa_key(key)) {
                packets = packets.saturating_add(entry.counters.packets);
                bytes = bytes.saturating_add(entry.counters.bytes);
            }
        }
        (packets, bytes)
    }

    /// SAs in the map now.
    pub fn promoted(&self) -> usize {
        self.promotions.len()
    }

    /// For `show counters` and the status JSON.
    pub fn report(&self) -> FastPathReport {
        FastPathReport {
            active: "ebpf",
            esp_offload: true,
            fallback: None,
            devices: self.devices.iter().map(|&i| interface_name(i)).collect(),
            offloaded_sas: self.promotions.len() as u64,
            execution: self.execution,
        }
    }

    /// JIT or interpreter, when the kernel said.
    pub fn execution(&self) -> Option<Execution> {
        self.execution
    }

    /// Takes the program off every device it is on (ours, by index). The map stays pinned.
    pub fn detach(&mut self) -> Vec<AttachError> {
        let devices = std::mem::take(&mut self.devices);
        devices.into_iter().filter_map(|index| self.attacher.detach(index).err()).collect()
    }
}

fn sa_key(key: &SessionKey) -> SaKey {
    SaKey { source: key.src, destination: key.dst, spi: key.spi.0 }
}

/// The device's name, or its index when it has none any more.
pub fn interface_name(index: u32) -> String {
    nix::net::if_::if_indextoname(index)
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| format!("ifindex {index}"))
}

/// Removes everything of the fast path, for `enabled 0`, `--flush-on-exit` and a daemon
/// started with `esp_offload 0` after one with it on: our filter from every device (an
/// earlier daemon may have put it on devices this one never saw) and the pinned map.
/// Returns how many filters were removed; errors are only logged (a device may go away
/// under the walk).
pub fn remove_everywhere(pin: &Path) -> usize {
    let Ok(mut attacher) = TcAttacher::open() else { return 0 };
    let indexes: Vec<u32> = match nix::net::if_::if_nameindex() {
        Ok(interfaces) => interfaces.iter().map(|i| i.index()).collect(),
        Err(_) => Vec::new(),
    };
    let removed = indexes.into_iter().filter(|&index| matches!(attacher.detach(index), Ok(true))).count();
    if let Err(e) = crate::bpf::unpin(pin) {
        eprintln!("ike-esp-alg: fast path: removing {}: {e}", pin.display());
    }
    removed
}

/// The fast path as the daemon runs it.
#[derive(Debug, Default)]
pub enum FastPathState {
    /// `esp_offload 0`: the nft table forwards every learned SA.
    #[default]
    Off,
    /// Asked for, but it could not start: why, for `show counters`.
    Fallback(String),
    On(Box<Offload>),
}

impl FastPathState {
    /// Starts the fast path if `esp_offload` asks for it. A failure is one log line and the
    /// nft table (which stays complete either way) forwarding everything.
    pub fn start(esp_offload: bool, paths: &OffloadPaths, probe_device: Option<u32>) -> FastPathState {
        if !esp_offload {
            let removed = remove_everywhere(&paths.pin);
            if removed > 0 {
                eprintln!("ike-esp-alg: fast path: esp_offload is off; removed our tc filter from {removed} device(s)");
            }
            return FastPathState::Off;
        }
        match Offload::start(paths, probe_device) {
            Ok((offload, origin)) => {
                let map = match origin {
                    MapOrigin::New => format!("new SA map pinned at {}", paths.pin.display()),
                    MapOrigin::TakenBack => format!("SA map taken back from {}", paths.pin.display()),
                    MapOrigin::Replaced => format!("another version's map at {} replaced", paths.pin.display()),
                    MapOrigin::Unpinned(e) => {
                        format!("SA map not pinned ({}: {e}; a restart starts it empty)", paths.pin.display())
                    }
                };
                let execution = match offload.execution() {
                    Some(interpreted @ Execution::Interpreter { .. }) => {
                        let jit_enable = std::fs::read_to_string(JIT_SYSCTL).ok();
                        format!("{interpreted}: {}", Execution::interpreter_reason(jit_enable.as_deref()))
                    }
                    Some(compiled) => compiled.to_string(),
                    None => "JIT or interpreter not known (the kernel hid the program's sizes)".to_string(),
                };
                eprintln!("ike-esp-alg: fast path: tc eBPF from {}, {map}; {execution}", paths.object.display());
                FastPathState::On(Box::new(offload))
            }
            Err(e) => {
                eprintln!("ike-esp-alg: fast path: esp_offload is on, but {e}; learned SAs take the nft table");
                FastPathState::Fallback(e.to_string())
            }
        }
    }

    pub fn is_on(&self) -> bool {
        matches!(self, FastPathState::On(_))
    }

    pub fn running(&mut self) -> Option<&mut Offload> {
        match self {
            FastPathState::On(offload) => Some(offload),
            _ => None,
        }
    }

    pub fn report(&self) -> FastPathReport {
        match self {
            FastPathState::Off => FastPathReport::nft(),
            FastPathState::Fallback(why) => {
                FastPathReport { esp_offload: true, fallback: Some(why.clone()), ..FastPathReport::nft() }
            }
            FastPathState::On(offload) => offload.report(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::route::{RTN_UNICAST, RT_TABLE_MAIN};
    use crate::wire::Spi;
    use core::time::Duration;
    use std::net::Ipv4Addr;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const NAT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
    const LAN: u32 = 3;
    const WAN: u32 = 4;
    const ARPHRD_PPP: u16 = 512;

    fn route(dst: Option<(Ipv4Addr, u8)>, oif: u32) -> Route {
        Route {
            table: RT_TABLE_MAIN,
            route_type: RTN_UNICAST,
            dst_len: dst.map_or(0, |d| d.1),
            dst: dst.map(|d| d.0),
            oif: Some(oif),
            gateway: None,
            priority: 0,
        }
    }

    fn routes() -> Vec<Route> {
        vec![route(None, WAN), route(Some((Ipv4Addr::new(192, 168, 1, 0), 24)), LAN)]
    }

    fn session(direction: Direction) -> EspSessionSpec {
        let (src, dst, translated) = match direction {
            Direction::Outbound => (CLIENT, SERVER, NAT),
            Direction::Inbound => (SERVER, NAT, CLIENT),
        };
        EspSessionSpec {
            key: SessionKey { direction, src, dst, spi: Spi(7) },
            translated,
            idle_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn an_sa_arrives_where_the_route_back_to_its_source_goes() {
        let devices = Devices::new(routes(), &[(LAN, ARPHRD_ETHER), (WAN, ARPHRD_ETHER)]);
        assert_eq!(devices.of(&session(Direction::Outbound)), Ok(LAN));
        assert_eq!(devices.of(&session(Direction::Inbound)), Ok(WAN));
    }

    #[test]
    fn an_sa_through_a_device_without_ethernet_stays_on_the_nft_table() {
        // pppoe-wan: inbound arrives on it, outbound would be redirected onto it.
        let devices = Devices::new(routes(), &[(LAN, ARPHRD_ETHER), (WAN, ARPHRD_PPP)]);
        assert_eq!(devices.of(&session(Direction::Outbound)), Err(NotOffloadable::NotEthernet(WAN)));
        assert_eq!(devices.of(&session(Direction::Inbound)), Err(NotOffloadable::NotEthernet(WAN)));
        // A device missing from the link dump is not taken for Ethernet either.
        let unknown = Devices::new(routes(), &[(LAN, ARPHRD_ETHER)]);
        assert_eq!(unknown.of(&session(Direction::Outbound)), Err(NotOffloadable::NotEthernet(WAN)));
    }

    #[test]
    fn an_sa_with_no_route_for_an_end_is_not_offloadable() {
        let lan_only =
            Devices::new(vec![route(Some((Ipv4Addr::new(192, 168, 1, 0), 24)), LAN)], &[(LAN, ARPHRD_ETHER)]);
        assert_eq!(lan_only.of(&session(Direction::Outbound)), Err(NotOffloadable::NoRoute));
        assert_eq!(Devices::default().of(&session(Direction::Inbound)), Err(NotOffloadable::NoRoute));
    }

    #[test]
    fn a_start_error_names_the_package_to_install() {
        let missing =
            StartError::Object { path: PathBuf::from(DEFAULT_OBJECT), error: io::Error::from(io::ErrorKind::NotFound) };
        assert!(missing.to_string().starts_with("cannot read /usr/lib/ike-esp-alg/esp_fastpath.o: "), "{missing}");
        assert!(missing.to_string().ends_with("(install ike-esp-alg-fastpath)"), "{missing}");
    }
}
