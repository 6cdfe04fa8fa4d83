//! ike-esp-alg: an IKE/ESP application-layer gateway for OpenWrt routers.
//!
//! Several VPN clients behind one NAT router that use plain ESP (IP protocol 50, no NAT-T)
//! break each other, because ESP has no ports and conntrack tracks it by addresses alone.
//! This crate watches IKE, opens short-lived ESP "gates" around each phase-2 exchange,
//! learns every SA's SPI from the first ESP packet that hits a gate, and tells the kernel
//! datapath how to forward that SA with the right NAT rewrite. `../SPEC.md`-style behaviour
//! is documented on [`engine::Engine`].
//!
//! # The sans-IO contract
//!
//! [`wire`] and [`engine`] are pure: they never read a clock, never touch a socket, a file
//! or netlink, and never allocate per packet on the fast path. Time comes in as a
//! [`time::Instant`] parameter; decisions go out as a synchronous [`engine::Verdict`] plus
//! queued [`engine::Action`]s (what the datapath must do) and [`engine::Event`]s (what is
//! worth a log line). Only the shell performs I/O. That keeps every behaviour testable in
//! virtual time, on any architecture, big-endian MIPS included.
//!
//! # Modules
//!
//! - [`time`]: the core's clock type; the core is handed time, it never reads it.
//! - [`wire`]: checked, panic-free views over IPv4/IPv6, UDP, ESP and the ISAKMP header.
//! - [`engine`]: the ALG itself: IKE SA tracking, phase-2 gates, ESP sessions, NAT pools.
//! - [`config`]: UCI configuration (grammar and typed model) and the Junos importer.
//! - [`netlink`]: the kernel's netlink protocols (NFQUEUE, nf_tables, rtnetlink) as pure codecs.
//! - [`bpf`]: the opt-in eBPF fast path's loader, SA map and tc attachment (raw bpf(2), rtnetlink; not wired in yet).
//! - [`shell`]: the I/O around the engine: NFQUEUE, nftables, clock, signals, state file.

// deny, not forbid: `bpf::syscall` (raw bpf(2)) is the one module allowed `unsafe`.
#![deny(unsafe_code)]

pub mod bpf;
mod bytes;
pub mod cli;
pub mod config;
pub mod engine;
pub mod netlink;
pub mod shell;
pub mod time;
pub mod wire;
