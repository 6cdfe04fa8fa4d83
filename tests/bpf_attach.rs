//! `ike_esp_alg::bpf::TcAttacher` against this host's kernel: the fast path attached to,
//! replaced on and removed from a veth's clsact ingress hook inside a network namespace of
//! the test's own (`lan` 192.168.1.1/24 and `wan` 203.0.113.7/24, the two ends of one
//! pair), checked with tc(8), next to another user's filter, and with a real ESP frame
//! sent into `lan` that the attached program forwards. The namespace is deleted at the end.
//!
//! Needs root, ip(8), tc(8) and the built object: `bpf/build.sh target/bpf`, then
//! `IKE_ESP_ALG_BPF_OBJECT=target/bpf/esp_fastpath.bpfel.o` (test-all.sh step `bpf`), run
//! with `--test-threads=1`. Without that variable every test says it was skipped and
//! passes; with it, any failure (not root included) fails.

// One AF_PACKET socket (socket(2), sendto(2)) sends the test frame; std has no safe way.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use ike_esp_alg::bpf::{AttachError, FastPath, Rewrite, SaKey, TcAttacher};
use ike_esp_alg::wire::internet_checksum;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::netns::{root_tools, Netns};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const NAT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
const SPI_OUT: u32 = 0xc0de_0001;
const LAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x01];
const WAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0x01];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x10];
const GATEWAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0xfe];
/// No device has this index in a fresh namespace.
const MISSING_IFINDEX: u32 = 999_999;

/// What a test gets inside the namespace: the loaded object's bytes and the tools.
struct Lab {
    object: Vec<u8>,
    tc: PathBuf,
    netns_name: String,
    ip: PathBuf,
}

impl Lab {
    fn load(&self) -> FastPath {
        FastPath::load(&self.object).unwrap_or_else(|e| panic!("load: {e}"))
    }

    /// `tc ARGS` inside the namespace (this thread is in it already); its stdout.
    fn tc(&self, args: &[&str]) -> String {
        support::netns::run(&self.tc, args)
    }

    fn ingress_filters(&self, device: &str) -> String {
        self.tc(&["filter", "show", "dev", device, "ingress"])
    }

    /// `ip -n NETNS ARGS`, for the setup.
    fn ip(&self, line: &str) {
        let mut args = vec!["-n", self.netns_name.as_str()];
        args.extend(line.split_whitespace());
        support::netns::run(&self.ip, &args);
    }
}

/// Builds the namespace with the veth pair, then runs `body` inside it. Returns after the
/// namespace is gone; skips (after saying why) without the object.
fn with_lab(test: &str, body: impl FnOnce(&Lab) + Send + 'static) {
    let Some(path) = std::env::var_os("IKE_ESP_ALG_BPF_OBJECT") else {
        eprintln!("{test}: skipped: IKE_ESP_ALG_BPF_OBJECT is not set (bpf/build.sh target/bpf, then point it at esp_fastpath.bpfel.o; test-all.sh step bpf does both)");
        return;
    };
    let tools =
        root_tools(&["ip", "tc"]).expect("IKE_ESP_ALG_BPF_OBJECT is set: this test needs root, ip(8) and tc(8)");
    let object = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", Path::new(&path).display()));
    let netns = Netns::create(&tools[0], "attach");
    let lab = Lab { object, ip: tools[0].clone(), tc: tools[1].clone(), netns_name: netns.name.clone() };
    for line in [
        format!("link add lan address {} type veth peer name wan address {}", mac(LAN_MAC), mac(WAN_MAC)),
        "addr add 192.168.1.1/24 dev lan".into(),
        "addr add 203.0.113.7/24 dev wan".into(),
        "link set lan up".into(),
        "link set wan up".into(),
        "route add 198.51.100.0/24 via 203.0.113.254 dev wan".into(),
        format!("neigh replace 203.0.113.254 lladdr {} dev wan nud permanent", mac(GATEWAY_MAC)),
        format!("neigh replace 192.168.1.10 lladdr {} dev lan nud permanent", mac(CLIENT_MAC)),
    ] {
        lab.ip(&line);
    }
    // bpf_fib_lookup answers FWD_DISABLED unless the ingress device forwards.
    netns.exec(Path::new("/bin/sh"), &["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]);
    netns.run_inside(move || body(&lab));
}

fn mac(bytes: [u8; 6]) -> String {
    bytes.map(|b| format!("{b:02x}")).join(":")
}

fn ifindex(name: &str) -> u32 {
    nix::net::if_::if_nametoindex(name).unwrap_or_else(|e| panic!("ifindex of {name}: {e}"))
}

/// The `id N` tc(8) shows for each of our filters at `device`'s ingress.
fn our_program_ids(lab: &Lab, device: &str) -> Vec<String> {
    lab.ingress_filters(device)
        .lines()
        .filter(|line| line.contains("ike_esp_alg"))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "id").unwrap_or_else(|| panic!("no program id in {line}"));
            words[at + 1].to_string()
        })
        .collect()
}

#[test]
fn attach_puts_our_direct_action_filter_at_ingress() {
    with_lab("attach", |lab| {
        let fast_path = lab.load();
        let mut tc = TcAttacher::open().unwrap();
        let lan = ifindex("lan");
        assert!(!tc.is_attached(lan).unwrap(), "nothing before");
        tc.attach(lan, fast_path.program_fd().as_fd()).unwrap();
        assert!(tc.is_attached(lan).unwrap());
        assert!(!tc.is_attached(ifindex("wan")).unwrap(), "only the device asked for");

        let shown = lab.ingress_filters("lan");
        let ours: Vec<&str> = shown.lines().filter(|l| l.contains("ike_esp_alg")).collect();
        assert_eq!(ours.len(), 1, "{shown}");
        assert!(ours[0].contains("direct-action"), "{shown}");
        assert!(shown.contains("pref 2590") && shown.contains("protocol ip"), "priority 0xa1e, IPv4: {shown}");
        assert!(lab.tc(&["qdisc", "show", "dev", "lan"]).contains("clsact"));
        assert_eq!(lab.ingress_filters("wan"), "");
    });
}

#[test]
fn attaching_again_swaps_the_program_and_keeps_one_filter() {
    with_lab("replace", |lab| {
        let (first, second) = (lab.load(), lab.load());
        let mut tc = TcAttacher::open().unwrap();
        let lan = ifindex("lan");
        tc.attach(lan, first.program_fd().as_fd()).unwrap();
        let before = our_program_ids(lab, "lan");
        assert_eq!(before.len(), 1);
        tc.attach(lan, second.program_fd().as_fd()).unwrap();
        let after = our_program_ids(lab, "lan");
        assert_eq!(after.len(), 1, "one filter after the replace");
        assert_ne!(before, after, "the second program is the one attached");
        // The same program again is a replace too, not an error.
        tc.attach(lan, second.program_fd().as_fd()).unwrap();
        assert_eq!(our_program_ids(lab, "lan"), after);
        assert!(tc.is_attached(lan).unwrap());
    });
}

#[test]
fn detach_removes_our_filter_once_and_leaves_clsact() {
    with_lab("detach", |lab| {
        let fast_path = lab.load();
        let mut tc = TcAttacher::open().unwrap();
        let lan = ifindex("lan");
        tc.attach(lan, fast_path.program_fd().as_fd()).unwrap();
        assert!(tc.detach(lan).unwrap(), "it was there");
        assert!(!tc.is_attached(lan).unwrap());
        assert!(!lab.ingress_filters("lan").contains("ike_esp_alg"));
        assert!(!tc.detach(lan).unwrap(), "a second detach finds nothing");
        assert!(lab.tc(&["qdisc", "show", "dev", "lan"]).contains("clsact"), "the qdisc stays");
        // And it attaches again after a detach.
        tc.attach(lan, fast_path.program_fd().as_fd()).unwrap();
        assert!(tc.is_attached(lan).unwrap());
    });
}

#[test]
fn detach_from_a_device_without_clsact_finds_nothing() {
    with_lab("no-clsact", |lab| {
        let mut tc = TcAttacher::open().unwrap();
        let wan = ifindex("wan");
        assert!(!lab.tc(&["qdisc", "show", "dev", "wan"]).contains("clsact"));
        assert!(!tc.detach(wan).unwrap());
        assert!(!tc.is_attached(wan).unwrap());
    });
}

#[test]
fn a_missing_device_is_no_device() {
    with_lab("no-device", |lab| {
        let fast_path = lab.load();
        let mut tc = TcAttacher::open().unwrap();
        match tc.attach(MISSING_IFINDEX, fast_path.program_fd().as_fd()) {
            Err(AttachError::NoDevice { ifindex }) => assert_eq!(ifindex, MISSING_IFINDEX),
            other => panic!("expected NoDevice, got {other:?}"),
        }
        match tc.detach(MISSING_IFINDEX) {
            Err(e @ AttachError::NoDevice { .. }) => assert_eq!(e.to_string(), "no device with index 999999"),
            other => panic!("expected NoDevice, got {other:?}"),
        }
        assert!(!tc.is_attached(MISSING_IFINDEX).unwrap(), "a dump of a missing device is empty");
    });
}

#[test]
fn another_users_clsact_and_filter_survive_our_detach() {
    with_lab("shared", |lab| {
        lab.tc(&["qdisc", "add", "dev", "lan", "clsact"]);
        // Another bpf filter (classic BPF, "return 0": no match) with our handle at another
        // priority: only the priority tells it from ours. (cls_bpf is the one classifier
        // this test can count on; some test kernels have no matchall or u32.)
        lab.tc(&[
            "filter",
            "add",
            "dev",
            "lan",
            "ingress",
            "prio",
            "1",
            "protocol",
            "all",
            "bpf",
            "bytecode",
            "1,6 0 0 0,",
        ]);
        let fast_path = lab.load();
        let mut tc = TcAttacher::open().unwrap();
        let lan = ifindex("lan");
        tc.attach(lan, fast_path.program_fd().as_fd()).unwrap(); // shares the clsact (EEXIST)
        assert!(tc.is_attached(lan).unwrap());
        let both = lab.ingress_filters("lan");
        assert!(both.contains("bytecode '1,6 0 0 0'") && both.contains("ike_esp_alg"), "{both}");

        assert!(tc.detach(lan).unwrap());
        let left = lab.ingress_filters("lan");
        assert!(left.contains("pref 1 bpf chain 0 handle 0x1 ") && left.contains("bytecode '1,6 0 0 0'"), "{left}");
        assert!(!left.contains("ike_esp_alg"), "{left}");
        assert!(!tc.is_attached(lan).unwrap());
    });
}

/// An Ethernet + IPv4 + ESP frame from the client to the server, as it arrives on `lan`.
fn esp_frame(payload_len: usize) -> Vec<u8> {
    let ip_len = 20 + 8 + payload_len;
    let mut frame = Vec::new();
    frame.extend_from_slice(&LAN_MAC);
    frame.extend_from_slice(&CLIENT_MAC);
    frame.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(ip_len as u16).to_be_bytes());
    ip.extend_from_slice(&[0x12, 0x34, 0, 0, 64, 50, 0, 0]);
    ip.extend_from_slice(&CLIENT.octets());
    ip.extend_from_slice(&SERVER.octets());
    let checksum = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&SPI_OUT.to_be_bytes());
    frame.extend_from_slice(&1u32.to_be_bytes()); // sequence number
    frame.extend((0..payload_len).map(|i| i as u8));
    frame
}

/// Sends `frame` out of `device` as it is (an AF_PACKET socket in this thread's namespace).
fn send_raw(device: &str, frame: &[u8]) {
    let protocol = (libc::ETH_P_IP as u16).to_be();
    // SAFETY: socket(2) takes no pointers; the descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
    // SAFETY: fd was just returned by socket(2) and nothing else owns it.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = protocol;
    address.sll_ifindex = ifindex(device) as i32;
    address.sll_halen = 6;
    address.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: the buffer and the address outlive the call, and their lengths are theirs.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            std::ptr::addr_of!(address).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    assert_eq!(sent, frame.len() as isize, "sendto: {}", std::io::Error::last_os_error());
}

/// An AF_PACKET socket that sees every frame `device` receives (before tc ingress).
fn listen_raw(device: &str) -> OwnedFd {
    let all = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: socket(2) takes no pointers; the descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK, i32::from(all)) };
    assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
    // SAFETY: fd was just returned by socket(2) and nothing else owns it.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = all;
    address.sll_ifindex = ifindex(device) as i32;
    // SAFETY: the address outlives the call and its length is its own.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            std::ptr::addr_of!(address).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
    socket
}

/// Every frame waiting on `socket`.
fn received(socket: &OwnedFd) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    loop {
        let mut buf = vec![0u8; 2048];
        // SAFETY: the buffer outlives the call and its length is its own.
        let len = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if len < 0 {
            return frames; // EAGAIN: drained
        }
        buf.truncate(len as usize);
        frames.push(buf);
    }
}

#[test]
fn an_attached_program_forwards_a_learned_sas_esp_frame() {
    with_lab("packet", |lab| {
        let fast_path = lab.load();
        let key = SaKey { source: CLIENT, destination: SERVER, spi: SPI_OUT };
        fast_path.sa_map().insert(key, Rewrite::Source(NAT)).unwrap();
        let packets = || fast_path.sa_map().get(key).unwrap().expect("the SA is in the map").counters.packets;
        let frame = esp_frame(100);

        let mut tc = TcAttacher::open().unwrap();
        tc.attach(ifindex("lan"), fast_path.program_fd().as_fd()).unwrap();
        // `wan` is `lan`'s peer: what is sent on one arrives at the other's ingress hook.
        // The receive side runs from a softirq, so the count may lag the send a little.
        let counted_after_send = |before: u64| {
            send_raw("wan", &frame);
            for _ in 0..200 {
                if packets() > before {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            fast_path.sa_map().get(key).unwrap().unwrap().counters
        };
        let tap = listen_raw("lan");
        let first = counted_after_send(0);
        assert_eq!((first.packets, first.bytes), (1, (frame.len() - 14) as u64));
        // Redirected out of `wan` rewritten, it comes back into `lan`, where the tap sees it
        // next to the frame as sent: the gateway's MAC, the NAT source, one hop less.
        std::thread::sleep(Duration::from_millis(100));
        let frames = received(&tap);
        let forwarded = frames
            .iter()
            .find(|f| f.len() == frame.len() && f[26..30] == NAT.octets())
            .unwrap_or_else(|| panic!("no rewritten frame among {} seen on lan", frames.len()));
        assert_eq!((&forwarded[..6], &forwarded[6..12]), (&GATEWAY_MAC[..], &WAN_MAC[..]));
        assert_eq!((forwarded[22], &forwarded[30..34]), (63, &SERVER.octets()[..]), "TTL, destination");
        assert_eq!(&forwarded[34..], &frame[34..], "the ESP payload is untouched");
        assert_eq!(counted_after_send(1).packets, 2);

        // Detached: counted no more.
        assert!(tc.detach(ifindex("lan")).unwrap());
        send_raw("wan", &frame);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(packets(), 2);
    });
}
