//! First-traffic delays and misbindings with many clients at once behind one router, in
//! virtual time (issue "Scale and faults", item 2). The model is `tests/support/burst.rs`:
//! libreswan-like IKEv1 and IKEv2 peers, the engine, and the daemon's held-packet queue.
//!
//! ```text
//! cargo run --release --example first_traffic
//! ```
//!
//! Prints, with the early release of answered idle gates off (`before`) and on (`after`,
//! the default), for 16 and 64 clients behind one address and behind a pool of 4: when
//! every tunnel was up, the first-reply distribution, phase-2 drops and retransmissions,
//! and negotiations given up (libreswan restarts after 60 s). Then the misbindings over
//! many random bursts where the named cases' preconditions occur, by case.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

#[path = "../tests/support/burst.rs"]
mod burst;

use burst::{BurstConfig, BurstReport, Misbindings, Traffic};
use std::time::Duration;

fn row(label: &str, r: &BurstReport) {
    let (p50, p90, max, missing) = BurstReport::spread(&r.first_reply_ms);
    let up = r.all_up_ms().map_or_else(|| "never".to_string(), |t| format!("{:.1} s", t as f64 / 1000.0));
    println!(
        "| {label} | {up} | {:.1} / {:.1} / {:.1} s | {missing} | {} | {} | {} | {} |",
        p50 as f64 / 1000.0,
        p90 as f64 / 1000.0,
        max as f64 / 1000.0,
        r.phase2_dropped,
        r.retransmissions,
        r.restarts,
        r.gates_released_early,
    );
}

fn add(total: &mut Misbindings, m: Misbindings) {
    total.owed += m.owed;
    total.lost += m.lost;
    total.unseen += m.unseen;
    total.displaced += m.displaced;
    total.unexplained += m.unexplained;
}

fn main() {
    println!("| run | all tunnels up | first reply p50 / p90 / max | no reply | phase 2 dropped | retransmitted | restarts | released early |");
    println!("|---|---|---|---|---|---|---|---|");
    for clients in [16, 64] {
        for pool in [0u8, 4] {
            for (name, settle) in [("before", None), ("after", Some(Duration::from_secs(1)))] {
                let mut cfg = BurstConfig::at_once(clients);
                cfg.pool = pool;
                cfg.gate_settle = settle;
                cfg.run_ms = 600_000;
                let behind = if pool == 0 { "1 address".to_string() } else { format!("pool of {pool}") };
                row(&format!("{clients} clients, {behind}, {name}"), &burst::run(&cfg));
            }
        }
    }
    let mut cfg = BurstConfig::at_once(16);
    cfg.traffic = Traffic::WhenUp;
    row("16 clients, 1 address, traffic with the tunnels", &burst::run(&cfg));

    println!();
    println!("Misbound SAs over 200 random bursts of 2-12 clients (server speaks first for every 3rd client 0-8 s after its side is up; every 5th phase 2 unseen; clients quiet 70-120 s after 90 s of traffic, sessions expiring after 60 s; 2 % loss):");
    println!("| early release | SAs | owed | lost | unseen | displaced | unexplained |");
    println!("|---|---|---|---|---|---|---|");
    for (name, settle) in [("off", None), ("on", Some(Duration::from_secs(1)))] {
        let mut total = Misbindings::default();
        let mut sas = 0u64;
        for seed in 1..=200u64 {
            let mut cfg = BurstConfig::at_once(2 + (seed % 11) as u32);
            cfg.traffic = if seed % 2 == 0 { Traffic::AfterAllUp } else { Traffic::WhenUp };
            cfg.pool = (seed % 3) as u8;
            cfg.start_spread_ms = seed * 37 % 3_000;
            cfg.server_first_every = 3;
            cfg.server_first_ms = seed * 977 % 8_000;
            cfg.unseen_every = 5;
            cfg.quiet_ms = 70_000 + seed * 331 % 50_000;
            cfg.session_timeout = Duration::from_secs(60);
            cfg.loss = 0.02;
            cfg.gate_settle = settle;
            cfg.seed = seed;
            cfg.run_ms = 300_000;
            sas += u64::from(cfg.clients);
            add(&mut total, burst::run(&cfg).misbindings);
        }
        let m = total;
        println!("| {name} | {sas} | {} | {} | {} | {} | {} |", m.owed, m.lost, m.unseen, m.displaced, m.unexplained);
    }
}
