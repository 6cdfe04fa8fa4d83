//! The tc ESP fast path (`bpf/esp_fastpath.c`) set up for the datapath benchmark
//! (`bench/datapath.sh`): loads the object with `ike_esp_alg::bpf::FastPath`, fills its SA
//! map and pins program and map on a bpf filesystem, where iproute2's
//! `tc filter add dev DEV ingress bpf direct-action pinned PATH` attaches the program.
//! It also reads the measured SAs' counters back from a pinned map, and times the program
//! with BPF_PROG_TEST_RUN (RFC 4303 §2.1 says what an SA key is: the SPI with the addresses).
//!
//! ```text
//! bpf_bench_loader pin OBJECT DIR NAME --sas N   [SA options]
//! bpf_bench_loader counters MAP_PIN              [SA options]
//! bpf_bench_loader test-run OBJECT --ingress DEV [--sas N] [--repeat R] [SA options]
//! bpf_bench_loader pass DIR NAME
//! bpf_bench_loader tcx PROG_PIN DIR DEV...
//! SA options: --client A --server A --wan A --spi-out X --spi-in Y
//! ```
//!
//! The measured SAs are the generator's: outbound (client, server, spi-out) → source
//! becomes wan; inbound (server, wan, spi-in) → destination becomes client. `--sas N` puts N
//! SAs in the map in all: those two and N − 2 fillers (other clients 10.x.y.z and SPIs from
//! 0x40000000, outbound and inbound alternately) that no generated packet matches.
//! `pin` writes DIR/NAME_prog and DIR/NAME_map; DIR must be a bpffs mount point (the
//! benchmark mounts a private one). Output is key=value lines, as the other bench tools print.
//!
//! `test-run` loads a map of its own (nothing pinned) and runs, in the calling network
//! namespace (its FIB and neighbours), a hit, an ESP miss (unknown SPI) and a UDP frame
//! (other traffic). A test run reuses one packet for all its repeats and a hit rewrites it
//! (source, TTL), so a hit is timed on a TTL-255 frame with a second SA for the rewritten
//! packet (wan, server, spi-out → wan): every repeat hits until the TTL runs out, in
//! batches of 250 repeats, `--repeat` runs in all; misses are one run of `--repeat` repeats.
//!
//! `pass` pins DIR/NAME_prog, a tc program that returns TC_ACT_UNSPEC at once (what
//! `bench/tc_pass.c` compiles to). `tcx` attaches a pinned program at tcx ingress
//! (BPF_LINK_CREATE, Linux 6.6: no qdisc, no classifier) of each DEV and pins each link as
//! DIR/tcx_DEV; removing that file detaches it.
//!
//! Needs root (CAP_BPF, CAP_NET_ADMIN). Run it inside the router's namespace.

// A benchmark tool: it reports bad arguments by exiting, and times nothing itself.
#![allow(clippy::expect_used)]

use ike_esp_alg::bpf::{object, sa_map, syscall, FastPath, Rewrite, SaKey};
use ike_esp_alg::wire::internet_checksum;
use std::ffi::CString;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::process::ExitCode;

/// `TC_ACT_UNSPEC` (-1) as the test run reports it: what the program returns for a packet
/// it does not take.
const TC_ACT_UNSPEC: u32 = u32::MAX;
const TC_ACT_REDIRECT: u32 = 7;
/// Repeats of one hit test run: a TTL-255 frame hits 254 times before the TTL stops it.
const HIT_BATCH: u32 = 250;
const FILLER_SPI_BASE: u32 = 0x4000_0000;
const FILLER_CLIENT_BASE: u32 = u32::from_be_bytes([10, 0, 0, 1]);

#[derive(Debug)]
struct Sas {
    client: Ipv4Addr,
    server: Ipv4Addr,
    wan: Ipv4Addr,
    spi_out: u32,
    spi_in: u32,
}

impl Sas {
    fn outbound(&self) -> SaKey {
        SaKey { source: self.client, destination: self.server, spi: self.spi_out }
    }

    fn inbound(&self) -> SaKey {
        SaKey { source: self.server, destination: self.wan, spi: self.spi_in }
    }
}

#[derive(Debug)]
struct Options {
    positional: Vec<String>,
    sas: Sas,
    total_sas: u32,
    ingress: Option<String>,
    repeat: u32,
}

fn parse_u32(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut positional = Vec::new();
    let mut sas = Sas {
        client: Ipv4Addr::new(192, 168, 1, 2),
        server: Ipv4Addr::new(203, 0, 113, 1),
        wan: Ipv4Addr::new(203, 0, 113, 7),
        spi_out: 0x1000,
        spi_in: 0x2000,
    };
    let (mut total_sas, mut ingress, mut repeat) = (2u32, None, 1_000_000u32);
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if !word.starts_with("--") {
            positional.push(word.clone());
            continue;
        }
        let value = words.next().ok_or_else(|| format!("{word} needs a value"))?;
        let address = || value.parse::<Ipv4Addr>().map_err(|_| format!("{word}: not an IPv4 address: {value}"));
        let number = || parse_u32(value).ok_or_else(|| format!("{word}: not a number: {value}"));
        match word.as_str() {
            "--client" => sas.client = address()?,
            "--server" => sas.server = address()?,
            "--wan" => sas.wan = address()?,
            "--spi-out" => sas.spi_out = number()?,
            "--spi-in" => sas.spi_in = number()?,
            "--sas" => total_sas = number()?,
            "--repeat" => repeat = number()?,
            "--ingress" => ingress = Some(value.clone()),
            _ => return Err(format!("unknown option {word}")),
        }
    }
    if total_sas < 2 {
        return Err("--sas counts the two measured SAs: at least 2".into());
    }
    if sas.spi_out >= FILLER_SPI_BASE || sas.spi_in >= FILLER_SPI_BASE {
        return Err(format!("measured SPIs must be below the fillers' {FILLER_SPI_BASE:#x}"));
    }
    if repeat < HIT_BATCH {
        return Err(format!("--repeat must be at least {HIT_BATCH}"));
    }
    Ok(Options { positional, sas, total_sas, ingress, repeat })
}

/// Filler `i`: outbound from client 10.0.0.1 + i/2 when even, inbound to it when odd; the
/// SPI is unique per filler and above every measured one.
fn filler(sas: &Sas, i: u32) -> (SaKey, Rewrite) {
    let client = Ipv4Addr::from(FILLER_CLIENT_BASE.wrapping_add(i / 2));
    let spi = FILLER_SPI_BASE.wrapping_add(i);
    if i % 2 == 0 {
        (SaKey { source: client, destination: sas.server, spi }, Rewrite::Source(sas.wan))
    } else {
        (SaKey { source: sas.server, destination: sas.wan, spi }, Rewrite::Destination(client))
    }
}

/// Inserts one SA, waiting out ENOMEM: the map is not preallocated, and the kernel takes
/// its elements from a per-CPU cache that it refills in the background, which a loop of
/// 65,536 inserts with a second full map alive can outrun.
fn insert_waiting(map: &sa_map::SaMap, key: SaKey, rewrite: Rewrite) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match map.insert(key, rewrite) {
            Err(e) if e.raw_os_error() == Some(libc::ENOMEM) && tries < 1000 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            other => return other,
        }
    }
}

/// Loads the object and fills the map: `extra` first, then `sas`' fillers up to `total` SAs.
fn load_filled(
    object_path: &str,
    total: u32,
    extra: &[(SaKey, Rewrite)],
    sas: &Sas,
) -> Result<(FastPath, u32), String> {
    let bytes = std::fs::read(object_path).map_err(|e| format!("{object_path}: {e}"))?;
    let parsed = object::parse(&bytes).map_err(|e| format!("{object_path}: {e}"))?;
    let max_entries = parsed.maps.first().map_or(0, |m| m.max_entries);
    if total > max_entries {
        return Err(format!("--sas {total}: the object's map holds {max_entries} SAs"));
    }
    let fast_path = FastPath::load(&bytes).map_err(|e| format!("load {object_path}: {e}"))?;
    let map = fast_path.sa_map();
    for (key, rewrite) in extra {
        map.insert(*key, *rewrite).map_err(|e| format!("insert {key:?}: {e}"))?;
    }
    let measured = extra.len() as u32;
    for i in 0..total.saturating_sub(measured) {
        let (key, rewrite) = filler(sas, i);
        insert_waiting(map, key, rewrite).map_err(|e| format!("insert filler {i} {key:?}: {e}"))?;
    }
    Ok((fast_path, max_entries))
}

/// The kernel's accounting of the map's memory (`memlock:` in its fdinfo), in bytes.
fn map_memlock(fast_path: &FastPath) -> String {
    let path = format!("/proc/self/fdinfo/{}", fast_path.sa_map().fd().as_raw_fd());
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.lines().find_map(|l| l.strip_prefix("memlock:").map(|v| v.trim().to_string())))
        .unwrap_or_else(|| "unknown".into())
}

/// Whether `dir` is a bpffs mount point, from /proc/self/mounts.
fn is_bpffs(dir: &str) -> bool {
    let Ok(canonical) = std::fs::canonicalize(dir) else { return false };
    let canonical = canonical.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|mounts| {
        mounts.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&canonical.as_str()) && fields.get(2) == Some(&"bpf")
        })
    })
}

fn pin(options: &Options) -> Result<(), String> {
    let [_, object_path, dir, name] = options.positional.as_slice() else {
        return Err("usage: pin OBJECT DIR NAME".into());
    };
    if !is_bpffs(dir) {
        return Err(format!("{dir} is not a bpffs mount point (mount -t bpf bpf {dir})"));
    }
    let sas = &options.sas;
    let measured = [(sas.outbound(), Rewrite::Source(sas.wan)), (sas.inbound(), Rewrite::Destination(sas.client))];
    let (fast_path, max_entries) = load_filled(object_path, options.total_sas, &measured, sas)?;
    let listed = fast_path.sa_map().keys().map_err(|e| format!("listing the map: {e}"))?.len();
    let (prog_pin, map_pin) = (format!("{dir}/{name}_prog"), format!("{dir}/{name}_map"));
    fast_path.pin(&prog_pin, &map_pin).map_err(|e| format!("pin {prog_pin}, {map_pin}: {e}"))?;
    println!("prog_pin={prog_pin}");
    println!("map_pin={map_pin}");
    println!("measured_sas={}", measured.len());
    println!("filler_sas={}", options.total_sas - measured.len() as u32);
    println!("sas_listed={listed}");
    println!("max_entries={max_entries}");
    println!("map_memlock_bytes={}", map_memlock(&fast_path));
    Ok(())
}

/// Packets of one SA in a pinned map, summed over CPUs (`struct esp_sa_value`: packets at
/// offset 8 of every CPU's 32-byte copy).
fn pinned_packets(map_pin: &str, key: SaKey) -> Result<u64, String> {
    let path = CString::new(map_pin).map_err(|_| format!("{map_pin}: NUL in path"))?;
    let map = syscall::obj_get(&path).map_err(|e| format!("open {map_pin}: {e}"))?;
    let cpus = std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|text| sa_map::parse_possible_cpus(&text))
        .ok_or("reading /sys/devices/system/cpu/possible")?;
    let mut key_bytes = Vec::with_capacity(sa_map::KEY_SIZE);
    key_bytes.extend_from_slice(&key.source.octets());
    key_bytes.extend_from_slice(&key.destination.octets());
    key_bytes.extend_from_slice(&key.spi.to_be_bytes());
    let mut value = vec![0u8; sa_map::VALUE_SIZE * cpus];
    let sizes = (key_bytes.len(), value.len());
    syscall::map_lookup(map.as_fd(), &key_bytes, &mut value, sizes).map_err(|e| format!("lookup {key:?}: {e}"))?;
    Ok(value
        .chunks_exact(sa_map::VALUE_SIZE)
        .filter_map(|copy| copy.get(8..16).and_then(|b| b.try_into().ok()).map(u64::from_ne_bytes))
        .sum())
}

fn counters(options: &Options) -> Result<(), String> {
    let [_, map_pin] = options.positional.as_slice() else {
        return Err("usage: counters MAP_PIN".into());
    };
    println!("out_packets={}", pinned_packets(map_pin, options.sas.outbound())?);
    println!("in_packets={}", pinned_packets(map_pin, options.sas.inbound())?);
    Ok(())
}

/// Ethernet + IPv4 (no options) with `payload`; the IPv4 checksum is set.
fn frame(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = (20 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, ttl, protocol, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let checksum = internet_checksum(&ip).to_be_bytes();
    ip.splice(10..12, checksum);
    out.extend_from_slice(&ip);
    out.extend_from_slice(payload);
    out
}

fn test_run(options: &Options) -> Result<(), String> {
    let [_, object_path] = options.positional.as_slice() else {
        return Err("usage: test-run OBJECT --ingress DEV".into());
    };
    let dev = options.ingress.as_deref().ok_or("test-run needs --ingress DEV (the LAN device)")?;
    let ingress = nix::net::if_::if_nametoindex(dev).map_err(|e| format!("ifindex of {dev}: {e}"))?;
    let sas = &options.sas;
    let rewritten = SaKey { source: sas.wan, ..sas.outbound() };
    let keys = [(sas.outbound(), Rewrite::Source(sas.wan)), (rewritten, Rewrite::Source(sas.wan))];
    let (fast_path, _) = load_filled(object_path, options.total_sas, &keys, sas)?;
    // 80 bytes after the IPv4 header: the generator's 100-byte packets.
    let esp = |spi: u32| {
        let mut payload = spi.to_be_bytes().to_vec();
        payload.resize(80, 0xab);
        payload
    };
    let run =
        |bytes: &[u8], repeat: u32| fast_path.test_run(bytes, ingress, repeat).map_err(|e| format!("test run: {e}"));

    let hit = frame(sas.client, sas.server, 50, 255, &esp(sas.spi_out));
    let batches = options.repeat / HIT_BATCH;
    let mut hit_ns_total = 0u64;
    for _ in 0..batches {
        let out = run(&hit, HIT_BATCH)?;
        if out.retval != TC_ACT_REDIRECT {
            return Err(format!("the hit frame was not redirected (retval {}): no route from {dev}?", out.retval));
        }
        hit_ns_total += u64::from(out.duration_ns);
    }
    let counted = |key: SaKey| fast_path.sa_map().get(key).ok().flatten().map_or(0, |e| e.counters.packets);
    let hits = counted(sas.outbound()) + counted(rewritten);
    let miss = run(&frame(sas.client, sas.server, 50, 64, &esp(0x0bad_0000)), options.repeat)?;
    let udp = run(&frame(sas.client, sas.server, 17, 64, &esp(0x9c40_0035)), options.repeat)?;
    if miss.retval != TC_ACT_UNSPEC || udp.retval != TC_ACT_UNSPEC {
        return Err(format!("a miss was not left to the stack (esp {}, udp {})", miss.retval, udp.retval));
    }
    println!("sas={}", options.total_sas);
    println!("hit_ns={:.1}", hit_ns_total as f64 / f64::from(batches.max(1)));
    println!("hit_runs={}", u64::from(batches) * u64::from(HIT_BATCH));
    println!("hits_counted={hits}");
    println!("miss_esp_ns={}", miss.duration_ns);
    println!("miss_udp_ns={}", udp.duration_ns);
    println!("miss_runs={}", options.repeat);
    Ok(())
}

/// `r0 = -1 (TC_ACT_UNSPEC); exit`.
const PASS_PROGRAM: [u8; 16] = [0xb7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x95, 0, 0, 0, 0, 0, 0, 0];

fn pass(options: &Options) -> Result<(), String> {
    let [_, dir, name] = options.positional.as_slice() else {
        return Err("usage: pass DIR NAME".into());
    };
    let license = CString::new("GPL").expect("no NUL");
    let loaded = syscall::prog_load(ike_esp_alg::bpf::PROG_TYPE_SCHED_CLS, &PASS_PROGRAM, &license, "tc_pass", 0, 0)
        .map_err(|e| format!("loading the pass program: {}", e.error))?;
    let prog_pin = format!("{dir}/{name}_prog");
    let path = CString::new(prog_pin.clone()).map_err(|_| "NUL in path".to_string())?;
    syscall::obj_pin(loaded.fd.as_fd(), &path).map_err(|e| format!("pin {prog_pin}: {e}"))?;
    println!("prog_pin={prog_pin}");
    Ok(())
}

fn tcx(options: &Options) -> Result<(), String> {
    let [_, prog_pin, dir, devices @ ..] = options.positional.as_slice() else {
        return Err("usage: tcx PROG_PIN DIR DEV...".into());
    };
    let path = CString::new(prog_pin.as_str()).map_err(|_| "NUL in path".to_string())?;
    let program = syscall::obj_get(&path).map_err(|e| format!("open {prog_pin}: {e}"))?;
    for device in devices {
        let ifindex: u32 = std::fs::read_to_string(format!("/sys/class/net/{device}/ifindex"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| format!("no device {device}"))?;
        let link = syscall::link_create(program.as_fd(), ifindex, syscall::BPF_TCX_INGRESS)
            .map_err(|e| format!("tcx ingress of {device}: {e}"))?;
        let link_pin = format!("{dir}/tcx_{device}");
        let path = CString::new(link_pin.clone()).map_err(|_| "NUL in path".to_string())?;
        syscall::obj_pin(link.as_fd(), &path).map_err(|e| format!("pin {link_pin}: {e}"))?;
        println!("link_pin={link_pin}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse(&args).and_then(|options| match options.positional.first().map(String::as_str) {
        Some("pin") => pin(&options),
        Some("counters") => counters(&options),
        Some("test-run") => test_run(&options),
        Some("pass") => pass(&options),
        Some("tcx") => tcx(&options),
        _ => Err("usage: bpf_bench_loader pin|counters|test-run|pass|tcx ... (see the source's header)".into()),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bpf_bench_loader: {message}");
            ExitCode::from(1)
        }
    }
}
