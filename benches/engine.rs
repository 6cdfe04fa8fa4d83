//! Engine benchmark: prints decisions per second, per-packet cost against table size, and
//! userspace bytes per ESP session. Run with `cargo bench --bench engine`.
//!
//! Targets (issue "Core"): >= 2M decisions/s on one core, <= 1.2x cost from 1k to 100k
//! sessions, <= 256 B per session. Every figure is measured in this one run; ratios
//! compare runs made side by side.
// A counting global allocator is the one unsafe thing here: GlobalAlloc is an unsafe trait.
#![allow(unsafe_code)]
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use ike_esp_alg::engine::{Engine, EngineConfig, Ipv4Net, Verdict};
use ike_esp_alg::time::Instant;
use ike_esp_alg::wire::build::{self, IkeHeader};
use ike_esp_alg::wire::{ExchangeType, IkeSpi, MessageId, Spi};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant as WallClock};

/// Counts live heap bytes, to measure what a session costs.
struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const CLIENTS: u32 = 200;

fn client(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + 1 + n)
}

/// An engine holding `sessions` outbound ESP sessions spread over `CLIENTS` clients.
fn engine_with_sessions(sessions: u32) -> Engine {
    let mut config = EngineConfig::default();
    config.rules[0].sources = vec![Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), 8).unwrap()];
    config.limits.max_sessions = 1 << 20;
    config.limits.max_sessions_per_client = 1 << 20;
    let mut engine = Engine::new(config).unwrap();
    engine.handle_egress_address(Instant::ZERO, Some(WAN));
    for i in 0..sessions {
        let packet = session_packet(i);
        let verdict = engine.handle_packet(Instant::ZERO, &packet);
        assert!(matches!(verdict, Verdict::AcceptTranslated(_)));
        while engine.poll_action().is_some() {}
        while engine.poll_event().is_some() {}
    }
    engine
}

fn session_packet(i: u32) -> Vec<u8> {
    build::esp(client(i % CLIENTS), SERVER, Spi(0x1000 + i), 7, 64)
}

/// A reproducible pseudo-random sequence (xorshift), so runs compare like with like.
fn scattered_indices(count: usize, range: u32) -> Vec<u32> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % u64::from(range)) as u32
        })
        .collect()
}

/// Median over `reps` runs of nanoseconds per packet, feeding `packets` round and round
/// for at least `min_time` each.
fn ns_per_packet(engine: &mut Engine, packets: &[Vec<u8>], reps: usize, min_time: Duration) -> f64 {
    let mut results = Vec::new();
    for _ in 0..reps {
        let start = WallClock::now();
        let mut done = 0u64;
        while start.elapsed() < min_time {
            for p in packets {
                black_box(engine.handle_packet(Instant::from_secs(1), black_box(p)));
            }
            done += packets.len() as u64;
        }
        results.push(start.elapsed().as_nanos() as f64 / done as f64);
    }
    results.sort_by(|a, b| a.total_cmp(b));
    results[results.len() / 2]
}

fn established_session(reps: usize) -> f64 {
    let mut engine = engine_with_sessions(1_000);
    let packets: Vec<Vec<u8>> = (0..1_000).map(session_packet).collect();
    ns_per_packet(&mut engine, &packets, reps, Duration::from_millis(400))
}

fn phase2_message(reps: usize) -> (f64, f64) {
    let mut engine = engine_with_sessions(0);
    let header = |message_id: u32| IkeHeader {
        major_version: 1,
        exchange: ExchangeType::QUICK_MODE,
        flags: 1,
        message_id: MessageId(message_id),
        initiator_spi: IkeSpi(0xabc),
        responder_spi: IkeSpi(0xdef),
        body_len: 120,
    };
    // A retransmission of the exchange in progress: the common phase-2 message.
    let qm = build::ike(client(0), 500, SERVER, 500, &header(1));
    assert_eq!(engine.handle_packet(Instant::ZERO, &qm), Verdict::Accept);
    let continued = ns_per_packet(&mut engine, std::slice::from_ref(&qm), reps, Duration::from_millis(400));

    // A whole exchange: the message that opens gates, the server's answer (a gate takes
    // inbound ESP only once its exchange is answered), then ESP out and in that collapse them.
    let mut cycle_ns = Vec::new();
    for rep in 0..reps {
        let mut engine = engine_with_sessions(0);
        let rounds = 50_000u32;
        let packets: Vec<[Vec<u8>; 4]> = (0..rounds)
            .map(|r| {
                let spi = 0x10_0000 + rep as u32 * 2 * rounds + 2 * r;
                [
                    build::ike(client(0), 500, SERVER, 500, &header(1_000 + r)),
                    build::ike(SERVER, 500, WAN, 500, &header(1_000 + r)),
                    build::esp(client(0), SERVER, Spi(spi), 1, 64),
                    build::esp(SERVER, WAN, Spi(spi + 1), 1, 64),
                ]
            })
            .collect();
        let start = WallClock::now();
        for (i, [qm, answer, out, inb]) in packets.iter().enumerate() {
            let now = Instant::from_secs(1 + i as u64);
            black_box(engine.handle_packet(now, qm));
            black_box(engine.handle_packet(now, answer));
            black_box(engine.handle_packet(now, out));
            black_box(engine.handle_packet(now, inb));
            while engine.poll_action().is_some() {}
            while engine.poll_event().is_some() {}
        }
        cycle_ns.push(start.elapsed().as_nanos() as f64 / f64::from(rounds));
        assert_eq!(engine.counters().gates_collapsed, 2 * u64::from(rounds));
    }
    cycle_ns.sort_by(|a, b| a.total_cmp(b));
    (continued, cycle_ns[cycle_ns.len() / 2])
}

/// Per-packet cost with `sessions` in the table, of which `active` carry traffic
/// (spread evenly over the table, visited in a scattered order).
fn cost_at(sessions: u32, active: u32, reps: usize) -> f64 {
    let mut engine = engine_with_sessions(sessions);
    let stride = sessions / active;
    let packets: Vec<Vec<u8>> =
        scattered_indices(65_536, active).into_iter().map(|i| session_packet(i * stride)).collect();
    ns_per_packet(&mut engine, &packets, reps, Duration::from_millis(500))
}

fn bytes_per_session(sessions: u32) -> f64 {
    let empty = engine_with_sessions(0);
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let full = engine_with_sessions(sessions);
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    drop(full);
    drop(empty);
    (after - before) as f64 / f64::from(sessions)
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument selects a quick run.
    let quick = std::env::args().skip(1).any(|a| a == "--quick");
    let reps = if quick { 3 } else { 7 };
    println!("ike-esp-alg engine benchmark ({} reps, median)", reps);

    let established = established_session(reps);
    let (continued, cycle) = phase2_message(reps);
    println!();
    println!("{:<52} {:>10} {:>14}", "decision", "ns", "per second");
    let row = |name: &str, ns: f64| println!("{name:<52} {ns:>10.1} {:>14.0}", 1e9 / ns);
    row("established ESP session packet (1k sessions)", established);
    row("phase-2 message of an exchange in progress", continued);
    row("whole exchange: opening message + answer + ESP out + ESP in", cycle);
    row("  the same, per packet", cycle / 4.0);

    println!();
    println!("{:<52} {:>10} {:>14}", "sessions in the table, 1k of them active", "ns/pkt", "vs 1k");
    let base = cost_at(1_000, 1_000, reps);
    let mut scaling: f64 = 1.0;
    for n in [1_000u32, 10_000, 100_000] {
        let ns = if n == 1_000 { base } else { cost_at(n, 1_000, reps) };
        scaling = scaling.max(ns / base);
        println!("{:<52} {:>10.1} {:>13.2}x", n, ns, ns / base);
    }
    println!();
    println!("{:<52} {:>10} {:>14}", "sessions, every one active (memory-bound)", "ns/pkt", "vs 1k");
    for n in [1_000u32, 10_000, 100_000] {
        let ns = if n == 1_000 { base } else { cost_at(n, n, reps) };
        println!("{:<52} {:>10.1} {:>13.2}x", n, ns, ns / base);
    }

    let per_session = bytes_per_session(100_000);
    println!();
    println!("userspace bytes per ESP session (100k sessions, live heap): {per_session:.0} B");

    println!();
    println!("targets: >= 2,000,000 decisions/s -> {}", verdict(1e9 / established >= 2e6));
    println!("         <= 1.2x cost 1k -> 100k   -> {} ({scaling:.2}x, 1k active)", verdict(scaling <= 1.2));
    println!("         <= 256 B per session      -> {}", verdict(per_session <= 256.0));
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}
