//! What the daemon's nf_tables netlink traffic costs on this kernel: installing sessions in
//! batches and one at a time, and dumping a map of growing size (against `nft list map`).
//!
//! ```text
//! cargo build --release --example nft_netlink_costs
//! sudo target/release/examples/nft_netlink_costs
//! ```
//! Runs in a network namespace of its own (`unshare(CLONE_NEWNET)`), so nothing outside it is
//! touched and everything goes when it exits. Needs root and `nft`. Figures quoted in
//! BENCHMARKS-datapath.md come from this program.

// unshare(2) has no safe wrapper in std; a measuring tool reads the clock.
#![allow(unsafe_code, clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;
use ike_esp_alg::engine::{Action, Direction, EngineConfig, EspSessionSpec, SessionKey};
use ike_esp_alg::shell::nft::{render_ruleset, DatapathSettings, Nft, QueueBackend};
use ike_esp_alg::shell::nft_netlink::NftNetlink;
use ike_esp_alg::shell::table_names::SetName;
use ike_esp_alg::wire::Spi;
use std::net::Ipv4Addr;
use std::time::Instant;

const NAT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

fn inbound(i: u32) -> Action {
    Action::InstallEspSession(EspSessionSpec {
        key: SessionKey { direction: Direction::Inbound, src: SERVER, dst: NAT, spi: Spi(0x1000_0000 + i) },
        translated: Ipv4Addr::from(0x0a00_0000 + i),
        idle_timeout: Duration::from_secs(1800),
    })
}

fn outbound(i: u32) -> Action {
    Action::InstallEspSession(EspSessionSpec {
        key: SessionKey {
            direction: Direction::Outbound,
            src: Ipv4Addr::from(0x0b00_0000 + i),
            dst: SERVER,
            spi: Spi(i + 1),
        },
        translated: NAT,
        idle_timeout: Duration::from_secs(1800),
    })
}

fn main() {
    // SAFETY: unshare takes a flag and no pointers; it moves this process (one thread so far)
    // into a new network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        eprintln!("unshare(CLONE_NEWNET): {} (run as root)", std::io::Error::last_os_error());
        std::process::exit(2);
    }
    let nft = Nft::default();
    let settings =
        DatapathSettings::from_config(&EngineConfig::default(), Some(NAT), 7, QueueBackend::XtablesMark(0x1000_0000));
    nft.apply(&render_ruleset(&settings)).expect("the daemon's ruleset applies (is nft installed?)");
    let mut elements = NftNetlink::open().expect("nf_tables netlink socket");

    let singles: Vec<Action> = (0..2000).map(outbound).collect();
    let t = Instant::now();
    for action in &singles {
        assert!(elements.apply_actions(std::slice::from_ref(action)).is_empty());
    }
    println!("one session per transaction: {:.1} µs each (2,000)", t.elapsed().as_secs_f64() * 1e6 / 2000.0);

    let mut installed = 0u32;
    for size in [1_000u32, 10_000, 30_000, 65_000] {
        let batch: Vec<Action> = (installed..size).map(inbound).collect();
        let t = Instant::now();
        assert!(elements.apply_actions(&batch).is_empty());
        let per = t.elapsed().as_secs_f64() * 1e6 / f64::from(size - installed);
        installed = size;
        let t = Instant::now();
        let mut seen = 0usize;
        for _ in 0..3 {
            elements.dump_set(SetName::EspIn, |_| seen += 1).expect("dump");
        }
        assert_eq!(seen, 3 * size as usize);
        let dump = t.elapsed() / 3;
        println!(
            "esp_in with {size:>6} elements: installed at {per:.1} µs each in transactions of 256; dump {dump:.1?}"
        );
    }
    let t = Instant::now();
    nft.list("map", "esp_in").expect("nft list");
    println!("nft list map esp_in with {installed} elements: {:.2?}", t.elapsed());
}
