//! The tc ESP fast path (`bpf/esp_fastpath.c`) loaded by `ike_esp_alg::bpf` and run under
//! BPF_PROG_TEST_RUN on crafted Ethernet + IPv4 + ESP frames, inside a network namespace
//! of the test's own: two ends of a veth pair (`lan` 192.168.1.1/24, `wan` 203.0.113.7/24),
//! a route to the server through a gateway, and permanent neighbour entries, so that
//! `bpf_fib_lookup` answers SUCCESS with known MACs. A test run sends nothing: a redirect
//! is only the program's return value. The namespace is deleted at the end.
//!
//! Needs root and the built object: `bpf/build.sh target/bpf`, then
//! `IKE_ESP_ALG_BPF_OBJECT=target/bpf/esp_fastpath.bpfel.o` (test-all.sh step `bpf`).
//! Without that variable every test says it was skipped and passes; with it, any failure
//! (not root included) fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use ike_esp_alg::bpf::{object, ByteOrder, Execution, FastPath, LoadError, Rewrite, SaCounters, SaKey};
use ike_esp_alg::wire::internet_checksum;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use support::netns::{root_tools, Netns};

/// `TC_ACT_UNSPEC` (-1) as the test run reports it: "not mine", on to the next classifier.
const TC_ACT_UNSPEC: u32 = u32::MAX;
const TC_ACT_REDIRECT: u32 = 7;

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const NAT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
/// Routed through a gateway that has no neighbour entry: the FIB says NO_NEIGH.
const FAR_SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 5);
const SPI_OUT: u32 = 0xc0de_0001;
const SPI_IN: u32 = 0xc0de_0002;

const LAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x01];
const WAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0x01];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x10];
const GATEWAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0xfe];

/// The object path, or `None` after saying why the test is skipped.
fn object_path(test: &str) -> Option<PathBuf> {
    match std::env::var_os("IKE_ESP_ALG_BPF_OBJECT") {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            println!("{test}: skipped: IKE_ESP_ALG_BPF_OBJECT is not set (bpf/build.sh target/bpf, then point it at esp_fastpath.bpfel.o; test-all.sh step bpf does both)");
            None
        }
    }
}

/// An Ethernet + IPv4 frame, built field by field.
#[derive(Clone)]
struct Frame {
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    protocol: u8,
    frag_off: u16,
    options: Vec<u8>,
    /// The first four bytes are the SPI for ESP (ports for UDP).
    payload: Vec<u8>,
}

impl Frame {
    fn esp(src: Ipv4Addr, dst: Ipv4Addr, spi: u32, payload_len: usize) -> Frame {
        let mut payload = spi.to_be_bytes().to_vec();
        payload.extend_from_slice(&7u32.to_be_bytes()); // sequence number
        payload.extend((0..payload_len).map(|i| i as u8));
        Frame {
            dst_mac: LAN_MAC,
            src_mac: CLIENT_MAC,
            src,
            dst,
            ttl: 64,
            protocol: 50,
            frag_off: 0,
            options: Vec::new(),
            payload,
        }
    }

    fn ip_len(&self) -> usize {
        20 + self.options.len() + self.payload.len()
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.dst_mac);
        out.extend_from_slice(&self.src_mac);
        out.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x40 | ((20 + self.options.len()) / 4) as u8, 0];
        ip.extend_from_slice(&(self.ip_len() as u16).to_be_bytes());
        ip.extend_from_slice(&[0x12, 0x34]);
        ip.extend_from_slice(&self.frag_off.to_be_bytes());
        ip.extend_from_slice(&[self.ttl, self.protocol, 0, 0]);
        ip.extend_from_slice(&self.src.octets());
        ip.extend_from_slice(&self.dst.octets());
        ip.extend_from_slice(&self.options);
        let checksum = internet_checksum(&ip);
        ip[10..12].copy_from_slice(&checksum.to_be_bytes());
        out.extend_from_slice(&ip);
        out.extend_from_slice(&self.payload);
        out
    }
}

/// The IPv4 header of a frame sums to 0xffff (its checksum is valid).
fn header_checksum_is_valid(frame: &[u8]) -> bool {
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    internet_checksum(&frame[14..14 + ihl]) == 0
}

/// The namespace with the veth pair, routes and neighbours.
fn lab_netns(ip: &std::path::Path, purpose: &str, wan_mtu: Option<u32>) -> Netns {
    let netns = Netns::create(ip, purpose);
    let lan_mac = mac(LAN_MAC);
    let wan_mac = mac(WAN_MAC);
    let mut steps: Vec<Vec<String>> = vec![
        words(&format!("link add lan address {lan_mac} type veth peer name wan address {wan_mac}")),
        words("addr add 192.168.1.1/24 dev lan"),
        words("addr add 203.0.113.7/24 dev wan"),
        words("link set lan up"),
        words("link set wan up"),
        words("route add 198.51.100.0/24 via 203.0.113.254 dev wan"),
        words("route add 192.0.2.0/24 via 203.0.113.253 dev wan"),
        words(&format!("neigh replace 203.0.113.254 lladdr {} dev wan nud permanent", mac(GATEWAY_MAC))),
        words(&format!("neigh replace 192.168.1.10 lladdr {} dev lan nud permanent", mac(CLIENT_MAC))),
    ];
    if let Some(mtu) = wan_mtu {
        steps.push(words(&format!("link set wan mtu {mtu}")));
    }
    for step in steps {
        let mut args = vec!["-n", netns.name.as_str()];
        args.extend(step.iter().map(String::as_str));
        support::netns::run(ip, &args);
    }
    // bpf_fib_lookup answers FWD_DISABLED unless the ingress device forwards.
    netns.exec(std::path::Path::new("/bin/sh"), &["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]);
    netns
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

fn mac(bytes: [u8; 6]) -> String {
    bytes.map(|b| format!("{b:02x}")).join(":")
}

fn ifindex(name: &str) -> u32 {
    nix::net::if_::if_nametoindex(name).unwrap_or_else(|e| panic!("ifindex of {name}: {e}"))
}

/// Loads the program, installs both SAs of one client (outbound, inbound) and an outbound
/// one to the server behind the gateway without a neighbour, then runs `body` inside the
/// namespace. Returns after the namespace is gone.
fn with_fast_path(test: &str, wan_mtu: Option<u32>, body: impl FnOnce(&FastPath) + Send + 'static) {
    let Some(path) = object_path(test) else { return };
    let tools = root_tools(&["ip"]).expect("IKE_ESP_ALG_BPF_OBJECT is set: this test needs root and ip(8)");
    let object = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let netns = lab_netns(&tools[0], "bpf", wan_mtu);
    netns.run_inside(move || {
        let fast_path = FastPath::load(&object).unwrap_or_else(|e| panic!("load: {e}"));
        let map = fast_path.sa_map();
        map.insert(SaKey { source: CLIENT, destination: SERVER, spi: SPI_OUT }, Rewrite::Source(NAT)).unwrap();
        map.insert(SaKey { source: SERVER, destination: NAT, spi: SPI_IN }, Rewrite::Destination(CLIENT)).unwrap();
        map.insert(SaKey { source: CLIENT, destination: FAR_SERVER, spi: SPI_OUT }, Rewrite::Source(NAT)).unwrap();
        body(&fast_path);
    });
}

fn counters(fast_path: &FastPath, key: SaKey) -> SaCounters {
    fast_path.sa_map().get(key).unwrap().expect("the SA is in the map").counters
}

const OUTBOUND: SaKey = SaKey { source: CLIENT, destination: SERVER, spi: SPI_OUT };
const INBOUND: SaKey = SaKey { source: SERVER, destination: NAT, spi: SPI_IN };

#[test]
fn outbound_esp_gets_the_nat_source_and_is_redirected_to_wan() {
    with_fast_path("outbound", None, |fast_path| {
        let frame = Frame::esp(CLIENT, SERVER, SPI_OUT, 100);
        let run = fast_path.test_run(&frame.bytes(), ifindex("lan"), 1).unwrap();
        assert_eq!(run.retval, TC_ACT_REDIRECT);
        let expected = Frame { dst_mac: GATEWAY_MAC, src_mac: WAN_MAC, src: NAT, ttl: 63, ..frame.clone() };
        assert_eq!(run.frame, expected.bytes());
        assert!(header_checksum_is_valid(&run.frame));
        assert_eq!(run.frame[22], 63, "TTL");

        let after_one = counters(fast_path, OUTBOUND);
        assert_eq!((after_one.packets, after_one.bytes), (1, frame.ip_len() as u64));
        assert!(after_one.last_seen_ns > 0);
        fast_path.test_run(&frame.bytes(), ifindex("lan"), 1).unwrap();
        let after_two = counters(fast_path, OUTBOUND);
        assert_eq!((after_two.packets, after_two.bytes), (2, 2 * frame.ip_len() as u64));
        assert!(after_two.last_seen_ns >= after_one.last_seen_ns);
        assert_eq!(counters(fast_path, INBOUND), SaCounters::default(), "the other SA counts nothing");
    });
}

#[test]
fn inbound_esp_gets_the_client_destination_and_is_redirected_to_lan() {
    with_fast_path("inbound", None, |fast_path| {
        let frame = Frame { dst_mac: WAN_MAC, src_mac: GATEWAY_MAC, ..Frame::esp(SERVER, NAT, SPI_IN, 60) };
        let run = fast_path.test_run(&frame.bytes(), ifindex("wan"), 1).unwrap();
        assert_eq!(run.retval, TC_ACT_REDIRECT);
        let expected = Frame { dst_mac: CLIENT_MAC, src_mac: LAN_MAC, dst: CLIENT, ttl: 63, ..frame.clone() };
        assert_eq!(run.frame, expected.bytes());
        assert!(header_checksum_is_valid(&run.frame));
        let seen = counters(fast_path, INBOUND);
        assert_eq!((seen.packets, seen.bytes), (1, frame.ip_len() as u64));
        assert_eq!(counters(fast_path, OUTBOUND), SaCounters::default());
    });
}

#[test]
fn a_next_hop_without_a_neighbour_entry_is_left_to_redirect_neigh() {
    with_fast_path("no-neigh", None, |fast_path| {
        let frame = Frame::esp(CLIENT, FAR_SERVER, SPI_OUT, 40);
        let run = fast_path.test_run(&frame.bytes(), ifindex("lan"), 1).unwrap();
        assert_eq!(run.retval, TC_ACT_REDIRECT);
        // Addresses and TTL rewritten; the MACs are bpf_redirect_neigh's to fill in.
        assert_eq!(run.frame, Frame { src: NAT, ttl: 63, ..frame }.bytes());
        assert!(header_checksum_is_valid(&run.frame));
    });
}

/// Runs a frame the program must leave to the stack: TC_ACT_UNSPEC (so that the hook's later
/// filters see it too), the bytes unchanged, and no SA counted.
fn passes_unchanged(fast_path: &FastPath, frame: &Frame, ingress: &str) {
    let bytes = frame.bytes();
    let run = fast_path.test_run(&bytes, ifindex(ingress), 1).unwrap();
    assert_eq!(run.retval, TC_ACT_UNSPEC);
    assert_eq!(run.frame, bytes);
    for key in [OUTBOUND, INBOUND] {
        assert_eq!(counters(fast_path, key), SaCounters::default());
    }
}

#[test]
fn fragments_pass_to_the_stack() {
    with_fast_path("fragment", None, |fast_path| {
        let first = Frame { frag_off: 0x2000, ..Frame::esp(CLIENT, SERVER, SPI_OUT, 100) }; // MF
        passes_unchanged(fast_path, &first, "lan");
        let later = Frame { frag_off: 0x0010, ..Frame::esp(CLIENT, SERVER, SPI_OUT, 100) }; // offset 128
        passes_unchanged(fast_path, &later, "lan");
    });
}

#[test]
fn ttl_one_passes_to_the_stack_for_time_exceeded() {
    with_fast_path("ttl", None, |fast_path| {
        passes_unchanged(fast_path, &Frame { ttl: 1, ..Frame::esp(CLIENT, SERVER, SPI_OUT, 100) }, "lan");
    });
}

#[test]
fn an_unknown_spi_passes_to_the_stack() {
    with_fast_path("unknown-spi", None, |fast_path| {
        passes_unchanged(fast_path, &Frame::esp(CLIENT, SERVER, 0xdead_beef, 100), "lan");
    });
}

#[test]
fn ip_options_pass_to_the_stack() {
    with_fast_path("options", None, |fast_path| {
        // Four NOPs: ihl 6. The SPI still follows the header, so only ihl stops it.
        let with_options = Frame { options: vec![1, 1, 1, 1], ..Frame::esp(CLIENT, SERVER, SPI_OUT, 100) };
        passes_unchanged(fast_path, &with_options, "lan");
    });
}

#[test]
fn a_packet_over_the_egress_mtu_passes_to_the_stack_for_pmtu() {
    with_fast_path("mtu", Some(1280), |fast_path| {
        let big = Frame::esp(CLIENT, SERVER, SPI_OUT, 1400);
        assert!(big.ip_len() > 1280);
        passes_unchanged(fast_path, &big, "lan");
        // The same SA below the MTU is taken: the MTU was the only reason.
        let run = fast_path.test_run(&Frame::esp(CLIENT, SERVER, SPI_OUT, 1000).bytes(), ifindex("lan"), 1).unwrap();
        assert_eq!(run.retval, TC_ACT_REDIRECT);
    });
}

#[test]
fn udp_with_the_same_addresses_passes_to_the_stack() {
    with_fast_path("udp", None, |fast_path| {
        // The ports hold the outbound SPI's bytes: only the protocol tells it from ESP.
        passes_unchanged(fast_path, &Frame { protocol: 17, ..Frame::esp(CLIENT, SERVER, SPI_OUT, 100) }, "lan");
    });
}

#[test]
fn removed_sas_stop_being_forwarded_and_the_map_lists_what_is_left() {
    with_fast_path("remove", None, |fast_path| {
        let map = fast_path.sa_map();
        let mut keys = map.keys().unwrap();
        keys.sort();
        let mut expected = vec![OUTBOUND, INBOUND, SaKey { source: CLIENT, destination: FAR_SERVER, spi: SPI_OUT }];
        expected.sort();
        assert_eq!(keys, expected);
        assert!(map.remove(OUTBOUND).unwrap());
        assert!(!map.remove(OUTBOUND).unwrap(), "a second remove finds nothing");
        assert_eq!(map.get(OUTBOUND).unwrap(), None);
        let frame = Frame::esp(CLIENT, SERVER, SPI_OUT, 100);
        let run = fast_path.test_run(&frame.bytes(), ifindex("lan"), 1).unwrap();
        assert_eq!((run.retval, run.frame), (TC_ACT_UNSPEC, frame.bytes()));
        assert_eq!(map.keys().unwrap().len(), 2);
    });
}

#[test]
fn prints_the_verifier_instruction_count() {
    let Some(path) = object_path("verifier") else { return };
    root_tools(&["ip"]).expect("IKE_ESP_ALG_BPF_OBJECT is set: this test needs root");
    let object = std::fs::read(&path).unwrap();
    let (_, log) = FastPath::load_with_log(&object, 2).unwrap_or_else(|e| panic!("load: {e}"));
    let processed =
        log.lines().find(|l| l.starts_with("processed ")).expect("the log ends with the verifier's statistics");
    println!("verifier (log_level 2): {processed}");
}

#[test]
fn a_refused_program_brings_the_verifier_log() {
    let Some(path) = object_path("refused") else { return };
    root_tools(&["ip"]).expect("IKE_ESP_ALG_BPF_OBJECT is set: this test needs root");
    let mut object = std::fs::read(&path).unwrap();
    // A license that is not GPL-compatible: bpf_fib_lookup is GPL-only, so the verifier
    // must refuse the same instructions.
    let at = object.windows(12).position(|w| w == b"Dual MIT/GPL").expect("the license string");
    object[at..at + 12].copy_from_slice(b"Proprietary\0");
    match FastPath::load(&object) {
        Err(LoadError::Verifier { log, .. }) => assert!(log.contains("GPL-restricted"), "{log}"),
        other => panic!("expected a verifier refusal, got {other:?}"),
    }
}

#[test]
fn both_byte_orders_parse_to_the_same_program() {
    let Some(path) = object_path("byte-orders") else { return };
    let little = object::parse(&std::fs::read(&path).unwrap()).unwrap();
    let big_path = path.to_string_lossy().replace("bpfel", "bpfeb");
    let big = object::parse(&std::fs::read(&big_path).unwrap_or_else(|e| panic!("{big_path}: {e}"))).unwrap();
    assert_eq!((little.byte_order, big.byte_order), (ByteOrder::Little, ByteOrder::Big));
    assert_eq!(little.maps, big.maps);
    assert_eq!(little.license, big.license);
    assert_eq!(little.map_relocations, big.map_relocations);
    assert!(!little.map_relocations.is_empty());
    // clang's code differs by byte order (a byte swap is a no-op on big-endian), not its end.
    let exit = |o: &object::BpfObject| o.instructions.last().map(|i| i.code);
    assert_eq!((exit(&little), exit(&big)), (Some(0x95), Some(0x95)));
    // The big-endian object is refused here with a clear error, not loaded wrong.
    if cfg!(target_endian = "little") {
        let refused = FastPath::load(&std::fs::read(&big_path).unwrap()).unwrap_err();
        assert!(refused.to_string().contains("big-endian"), "{refused}");
    }
}

#[test]
fn prints_ns_per_packet_for_a_hit_and_a_miss() {
    with_fast_path("timing", None, |fast_path| {
        let lan = ifindex("lan");
        // A test run reuses one skb for all its repeats, and a hit rewrites it (the source
        // and TTL change), so repeats after the first are misses: a hit is timed as the
        // mean of single runs instead (each also pays the timer reads a repeat spreads).
        let hit = Frame::esp(CLIENT, SERVER, SPI_OUT, 100).bytes();
        let repeated_hit = fast_path.test_run(&hit, lan, 100_000).unwrap();
        assert_eq!(counters(fast_path, OUTBOUND).packets, 1, "only the first of the repeats hit");
        let runs = 20_000u64;
        let mut total = 0u64;
        for _ in 0..runs {
            let run = fast_path.test_run(&hit, lan, 1).unwrap();
            assert_eq!(run.retval, TC_ACT_REDIRECT);
            total += u64::from(run.duration_ns);
        }
        let miss = Frame::esp(CLIENT, SERVER, 0xdead_beef, 100).bytes();
        let repeated_miss = fast_path.test_run(&miss, lan, 100_000).unwrap();
        assert_eq!(repeated_miss.retval, TC_ACT_UNSPEC);
        let mut single_miss = 0u64;
        for _ in 0..runs {
            single_miss += u64::from(fast_path.test_run(&miss, lan, 1).unwrap().duration_ns);
        }
        println!(
            "ns per packet: hit {} (mean of {runs} single runs), miss {} (repeat 100000), miss {} (mean of {runs} single runs); \
             repeat 100000 of a hit frame (first run hits, the rest miss on the rewritten copy): {}",
            total / runs,
            repeated_miss.duration_ns,
            single_miss / runs,
            repeated_hit.duration_ns
        );
        assert_eq!(counters(fast_path, OUTBOUND).packets, runs + 1);
    });
}

/// A private bpf filesystem under a temporary directory, unmounted on drop.
struct BpfFs(PathBuf);

impl BpfFs {
    fn mount(purpose: &str) -> BpfFs {
        let dir = std::env::temp_dir().join(format!("ike-esp-alg-bpffs-{purpose}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&dir).status().unwrap();
        assert!(status.success(), "mount -t bpf at {}", dir.display());
        BpfFs(dir)
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_pinned_map_is_taken_back_with_its_sas_by_the_next_load() {
    use ike_esp_alg::bpf::{unpin, MapOrigin};
    let Some(path) = object_path("a_pinned_map_is_taken_back_with_its_sas_by_the_next_load") else { return };
    let bytes = std::fs::read(path).unwrap();
    let fs = BpfFs::mount("pin");
    let map_path = fs.0.join("ike-esp-alg").join("esp_sa");
    let key = SaKey { source: CLIENT, destination: SERVER, spi: SPI_OUT };

    let (first, origin) = FastPath::load_pinned(&bytes, &map_path).unwrap();
    assert!(matches!(origin, MapOrigin::New), "{origin:?}");
    first.sa_map().insert(key, Rewrite::Source(NAT)).unwrap();
    drop(first);

    // The process that loaded it is gone (its descriptors are): the pin kept the map.
    let (second, origin) = FastPath::load_pinned(&bytes, &map_path).unwrap();
    assert!(matches!(origin, MapOrigin::TakenBack), "{origin:?}");
    assert_eq!(second.sa_map().keys().unwrap(), [key]);
    assert_eq!(second.sa_map().get(key).unwrap().map(|e| e.rewrite), Some(Rewrite::Source(NAT)));
    drop(second);

    // Something else pinned there (here: a program) is replaced by a new, empty map.
    assert!(unpin(&map_path).unwrap());
    assert!(!unpin(&map_path).unwrap(), "nothing pinned any more");
    let other = FastPath::load(&bytes).unwrap();
    other.pin(map_path.to_str().unwrap(), fs.0.join("other_map").to_str().unwrap()).unwrap();
    drop(other);
    let (third, origin) = FastPath::load_pinned(&bytes, &map_path).unwrap();
    assert!(matches!(origin, MapOrigin::Replaced), "{origin:?}");
    assert_eq!(third.sa_map().keys().unwrap(), []);
    drop(third);
    let (fourth, origin) = FastPath::load_pinned(&bytes, &map_path).unwrap();
    assert!(matches!(origin, MapOrigin::TakenBack), "the replacement was pinned: {origin:?}");
    drop(fourth);

    // Not a bpf filesystem: the map works but is not pinned, and the load says why.
    let plain = std::env::temp_dir().join(format!("ike-esp-alg-nobpffs-{}", std::process::id()));
    let (unpinned, origin) = FastPath::load_pinned(&bytes, &plain.join("esp_sa")).unwrap();
    assert!(matches!(origin, MapOrigin::Unpinned(_)), "{origin:?}");
    unpinned.sa_map().insert(key, Rewrite::Source(NAT)).unwrap();
    let _ = std::fs::remove_dir_all(&plain);
}

/// `net.core.bpf_jit_enable`: global, and read when a program is loaded.
const JIT_SYSCTL: &str = "/proc/sys/net/core/bpf_jit_enable";

/// The kernel's word on JIT or interpreter follows `net.core.bpf_jit_enable` at load time;
/// where the interpreter is built in (no CONFIG_BPF_JIT_ALWAYS_ON), a load with the JIT
/// off is interpreted, and the sysctl is put back.
#[test]
fn the_kernel_says_whether_it_compiled_the_program() {
    let Some(path) = object_path("the_kernel_says_whether_it_compiled_the_program") else { return };
    let bytes = std::fs::read(&path).unwrap();
    let jit_setting = std::fs::read_to_string(JIT_SYSCTL).ok().map(|s| s.trim().to_string());
    let loaded = FastPath::load(&bytes).unwrap();
    let instructions = object::parse(&bytes).unwrap().instructions.len() as u32;
    match (jit_setting.as_deref(), loaded.execution()) {
        (Some("1") | Some("2"), Some(Execution::Jit { machine_code_bytes, bpf_bytes })) => {
            // The verifier's rewrites (helper calls, map lookups inlined) only add code.
            assert!(machine_code_bytes > 0 && bpf_bytes >= instructions * 8, "{machine_code_bytes} {bpf_bytes}");
        }
        (Some("0") | None, Some(Execution::Interpreter { .. })) => {}
        (setting, execution) => panic!("bpf_jit_enable {setting:?}, but the kernel says {execution:?}"),
    }
    drop(loaded);
    if jit_setting.as_deref() != Some("1") || std::fs::write(JIT_SYSCTL, "0").is_err() {
        println!(
            "the JIT cannot be turned off here (CONFIG_BPF_JIT_ALWAYS_ON, or it was not on): interpreter case skipped"
        );
        return;
    }
    let interpreted = FastPath::load(&bytes);
    std::fs::write(JIT_SYSCTL, "1").unwrap();
    let execution = interpreted.unwrap().execution();
    assert!(matches!(execution, Some(Execution::Interpreter { bpf_bytes }) if bpf_bytes > 0), "{execution:?}");
}
