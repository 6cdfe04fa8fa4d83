//! End-to-end test of `shell::nfqueue` against this host's kernel: a network namespace of
//! its own, an iptables-nft NFQUEUE rule on its loopback, UDP datagrams to 127.0.0.1:9, and
//! verdicts Accept, Drop, Accept-with-a-rewritten-payload and Repeat, checked on a
//! receiving socket. Kernel side: `net/netfilter/nfnetlink_queue.c`.
//!
//! Needs root, `ip` and `iptables-nft` (Debian: iproute2, iptables); without them it prints
//! why and passes. Everything it creates lives in the namespace, which it deletes at the
//! end, also when an assertion fails.

// poll(2) has no safe wrapper in std; that one call is the only unsafe code here.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use ike_esp_alg::shell::nfqueue::{NfQueue, NfQueueError, NfVerdict, QueueSettings, QueuedPacket};
use ike_esp_alg::wire::{internet_checksum, IpProtocol, Ipv4Packet, UdpDatagram};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;
use support::netns::{root_tools, Netns};

const QUEUE_NUM: u16 = 4242;
const PORT: u16 = 9;

#[test]
fn queued_datagrams_get_their_verdicts_in_a_namespace() {
    let Some(tools) = root_tools(&["ip", "iptables-nft"]) else { return };
    let (ip, iptables) = (&tools[0], &tools[1]);
    let netns = Netns::create(ip, "nfq-test");
    let port = PORT.to_string();
    let queue = QUEUE_NUM.to_string();
    netns.exec(
        iptables,
        &[
            "-t",
            "raw",
            "-A",
            "OUTPUT",
            "-p",
            "udp",
            "--dport",
            &port,
            "-j",
            "NFQUEUE",
            "--queue-num",
            &queue,
            "--queue-bypass",
        ],
    );
    netns.run_inside(exercise_queue);
}

/// Runs inside the namespace.
fn exercise_queue() {
    let mut queue = match NfQueue::open(QUEUE_NUM, QueueSettings::default()) {
        Ok(queue) => queue,
        // qemu-user (the mips test runs) emulates only a few netlink families and answers
        // EPROTONOSUPPORT for NETLINK_NETFILTER; the host kernel itself has the queue.
        Err(NfQueueError::KernelLacksQueue) => {
            println!("skipped: no NETLINK_NETFILTER here (qemu-user, or a kernel without nfnetlink_queue)");
            return;
        }
        Err(e) => panic!("open the queue: {e}"),
    };

    // A second socket on the same queue: the kernel refuses it (EPERM, as it is held by
    // another netlink port), reported as "already bound".
    match NfQueue::open(QUEUE_NUM, QueueSettings::default()) {
        Err(e @ NfQueueError::QueueBusy { queue: QUEUE_NUM }) => println!("second bind refused: {e}"),
        other => panic!("second bind: expected QueueBusy, got {other:?}"),
    }

    let receiver = UdpSocket::bind((Ipv4Addr::LOCALHOST, PORT)).unwrap();
    receiver.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let sender_port = sender.local_addr().unwrap().port();
    let messages: [&[u8]; 4] = [b"accept-me", b"drop-me", b"rewrite-me", b"repeat-me"];
    for m in messages {
        sender.send_to(m, (Ipv4Addr::LOCALHOST, PORT)).unwrap();
    }

    let packets = receive_packets(&mut queue, 4);
    assert_eq!(packets.len(), 4, "expected 4 queued packets, got {packets:?}");
    for (packet, sent) in packets.iter().zip(messages) {
        check_is_our_datagram(packet, sender_port, sent);
    }
    let ids: Vec<u32> = packets.iter().map(|p| p.id).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "ids count up by one: {ids:?}");

    queue.verdict(packets[0].id, NfVerdict::Accept, None).unwrap();
    queue.verdict(packets[1].id, NfVerdict::Drop, None).unwrap();
    let rewritten = rewrite_udp_data(&packets[2].payload, b"rewrite-ME");
    queue.verdict(packets[2].id, NfVerdict::Accept, Some(&rewritten)).unwrap();
    // Repeat runs the OUTPUT hook again, so the rule queues the packet a second time.
    queue.verdict(packets[3].id, NfVerdict::Repeat, None).unwrap();
    let again = receive_packets(&mut queue, 1);
    assert_eq!(again.len(), 1, "the repeated packet comes back: {again:?}");
    check_is_our_datagram(&again[0], sender_port, b"repeat-me");
    assert!(again[0].id > packets[3].id, "a repeated packet gets a new id");
    queue.verdict(again[0].id, NfVerdict::Accept, None).unwrap();

    let mut arrived = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok((n, _)) = receiver.recv_from(&mut buf) {
        arrived.push(buf[..n].to_vec());
    }
    let arrived: Vec<&[u8]> = arrived.iter().map(Vec::as_slice).collect();
    assert_eq!(arrived, [&b"accept-me"[..], b"rewrite-ME", b"repeat-me"], "the dropped one must not arrive");

    // A verdict for an id the kernel no longer holds comes back as an error, counted.
    queue.verdict(packets[0].id, NfVerdict::Accept, None).unwrap();
    let mut none = Vec::new();
    for _ in 0..20 {
        queue.recv(&mut none).unwrap();
        if queue.stats().verdict_errors > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = queue.stats();
    assert!(none.is_empty());
    assert_eq!((stats.packets, stats.verdict_errors, stats.last_verdict_errno), (5, 1, libc::ENOENT), "{stats:?}");
    assert_eq!((stats.overruns, stats.lost, stats.malformed), (0, 0, 0), "{stats:?}");
}

/// Polls the queue's fd until `want` packets arrived, or about 5 s passed.
fn receive_packets(queue: &mut NfQueue, want: usize) -> Vec<QueuedPacket> {
    let mut packets = Vec::new();
    for _ in 0..50 {
        if packets.len() >= want {
            break;
        }
        let mut pfd = libc::pollfd { fd: queue.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, passed with count 1.
        let ready = unsafe { libc::poll(&mut pfd, 1, 100) };
        if ready > 0 {
            queue.recv(&mut packets).unwrap();
        }
    }
    packets
}

/// The payload is the whole IPv4/UDP packet as sent, with complete checksums (F_GSO is
/// off, so the kernel fills in the loopback's partial checksum before queueing).
fn check_is_our_datagram(packet: &QueuedPacket, sender_port: u16, data: &[u8]) {
    assert_eq!(packet.hw_protocol, 0x0800);
    assert_eq!(packet.hook, 3, "NF_INET_LOCAL_OUT");
    assert_eq!(packet.indev, None);
    assert_eq!(packet.outdev, Some(1), "lo is ifindex 1 in a fresh namespace");
    assert!(!packet.is_truncated());
    let ip = Ipv4Packet::new_checked(&packet.payload).unwrap();
    assert_eq!((ip.src(), ip.dst(), ip.protocol()), (Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, IpProtocol::UDP));
    assert_eq!(ip.total_len(), packet.payload.len());
    assert_eq!(internet_checksum(&packet.payload[..ip.header_len()]), 0, "IP header checksum");
    let udp = UdpDatagram::new_checked(ip.payload()).unwrap();
    assert_eq!((udp.src_port(), udp.dst_port()), (sender_port, PORT));
    assert_eq!(udp.payload(), data);
    assert_eq!(udp_checksum_check(&packet.payload), 0, "UDP checksum complete");
}

/// The one's-complement sum over the pseudo-header and UDP datagram: 0 when it is valid.
fn udp_checksum_check(packet: &[u8]) -> u16 {
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let udp = &packet[ihl..];
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&packet[12..20]);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&u16::try_from(udp.len()).unwrap().to_be_bytes());
    pseudo.extend_from_slice(udp);
    internet_checksum(&pseudo)
}

/// Replaces the UDP data (same length, so the IP header stays valid) and zeroes the UDP
/// checksum, which RFC 768 reads as "no checksum".
fn rewrite_udp_data(packet: &[u8], data: &[u8]) -> Vec<u8> {
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let mut out = packet.to_vec();
    assert_eq!(out.len() - ihl - 8, data.len());
    out[ihl + 6..ihl + 8].copy_from_slice(&[0, 0]);
    out[ihl + 8..].copy_from_slice(data);
    out
}
