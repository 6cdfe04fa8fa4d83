//! ESP-shaped packet generator for the datapath benchmark (`bench/datapath.sh`).
//!
//! Builds Ethernet + IPv4 protocol 50 frames (SPI, sequence number, 0xab fill) and sends
//! them on one interface with AF_PACKET + `sendmmsg`, `PACKET_QDISC_BYPASS`, a batch at a
//! time. The kernel's IPsec is not involved: the router under test only sees ESP-shaped
//! packets with chosen addresses and SPIs. The socket's send buffer back-pressures the
//! sender to what the path takes, so the rate printed is the offered-and-taken rate.
//! `--udp PORT` sends UDP datagrams (source port 40000, no checksum) instead, for comparing
//! with traffic the ALG does not handle.
//!
//! ```text
//! espgen --dev IF --dst-mac MAC --src A --dst B [--spi 0x1000] [--len 100]
//!        [--seconds S | --count N] [--pps RATE] [--batch 256]
//!        [--src-count K] [--spi-count K] [--udp PORT]
//! ```
//! Packet `i` has source `src + i % src-count` and SPI `spi + i % spi-count`, so with
//! both counts > 1 every packet can carry a new (client, SPI) key. Prints one line:
//! `sent=N seconds=S pps=P`.
//!
//! Needs CAP_NET_RAW. Run it inside the benchmark's namespace, pinned with taskset.

// The generator talks to the kernel through raw sockets; every unsafe block below is a
// plain libc call with pointers into buffers owned by this function.
#![allow(unsafe_code)]
// Frames are built here with fixed offsets inside a buffer of at least 14 + 28 bytes
// (`--len` is checked), so indexing cannot go out of bounds.
#![allow(clippy::indexing_slicing)]
// A load generator is all I/O and times itself; the sans-IO rule is for the library's core.
#![allow(clippy::disallowed_methods)]

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const ETH_HDR: usize = 14;
const IP_HDR: usize = 20;
const ESP_HDR: usize = 8;

#[derive(Debug)]
struct Options {
    dev: String,
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    spi: u32,
    ip_len: usize,
    seconds: Option<f64>,
    count: Option<u64>,
    pps: Option<f64>,
    batch: usize,
    src_count: u32,
    spi_count: u32,
    /// Send UDP datagrams to this port instead of ESP (other traffic, for comparison).
    udp_port: Option<u16>,
}

fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

fn parse_u32(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn parse_options() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dev = None;
    let mut dst_mac = None;
    let mut src = None;
    let mut dst = None;
    let mut o = Options {
        dev: String::new(),
        dst_mac: [0; 6],
        src: Ipv4Addr::UNSPECIFIED,
        dst: Ipv4Addr::UNSPECIFIED,
        spi: 0x1000,
        ip_len: 100,
        seconds: None,
        count: None,
        pps: None,
        batch: 256,
        src_count: 1,
        spi_count: 1,
        udp_port: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag}: missing value"))?;
        let bad = || format!("{flag}: bad value '{value}'");
        match flag.as_str() {
            "--dev" => dev = Some(value.clone()),
            "--dst-mac" => dst_mac = Some(parse_mac(value).ok_or_else(bad)?),
            "--src" => src = Some(value.parse::<Ipv4Addr>().map_err(|_| bad())?),
            "--dst" => dst = Some(value.parse::<Ipv4Addr>().map_err(|_| bad())?),
            "--spi" => o.spi = parse_u32(value).ok_or_else(bad)?,
            "--len" => o.ip_len = value.parse().map_err(|_| bad())?,
            "--seconds" => o.seconds = Some(value.parse().map_err(|_| bad())?),
            "--count" => o.count = Some(value.parse().map_err(|_| bad())?),
            "--pps" => o.pps = Some(value.parse().map_err(|_| bad())?),
            "--batch" => o.batch = value.parse().map_err(|_| bad())?,
            "--src-count" => o.src_count = parse_u32(value).filter(|n| *n > 0).ok_or_else(bad)?,
            "--spi-count" => o.spi_count = parse_u32(value).filter(|n| *n > 0).ok_or_else(bad)?,
            "--udp" => o.udp_port = Some(value.parse().map_err(|_| bad())?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    o.dev = dev.ok_or("--dev is required")?;
    o.dst_mac = dst_mac.ok_or("--dst-mac is required")?;
    o.src = src.ok_or("--src is required")?;
    o.dst = dst.ok_or("--dst is required")?;
    if !(IP_HDR + ESP_HDR..=1500).contains(&o.ip_len) {
        return Err(format!("--len {} out of range (28-1500)", o.ip_len));
    }
    if o.batch == 0 || o.batch > 1024 {
        return Err("--batch must be 1-1024".into());
    }
    if o.seconds.is_none() && o.count.is_none() {
        o.seconds = Some(5.0);
    }
    Ok(o)
}

fn own_mac(dev: &str) -> Result<[u8; 6], String> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{dev}/address")).map_err(|e| format!("{dev}: {e}"))?;
    parse_mac(text.trim()).ok_or_else(|| format!("{dev}: cannot read its MAC address"))
}

fn ip_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes packet number `n` into `frame` (which holds the fixed parts already).
fn fill(frame: &mut [u8], o: &Options, n: u64) {
    let src = u32::from(o.src).wrapping_add((n % u64::from(o.src_count)) as u32);
    let spi = o.spi.wrapping_add((n % u64::from(o.spi_count)) as u32);
    let ip = ETH_HDR;
    frame[ip + 12..ip + 16].copy_from_slice(&src.to_be_bytes());
    frame[ip + 10..ip + 12].copy_from_slice(&[0, 0]);
    let sum = ip_checksum(&frame[ip..ip + IP_HDR]);
    frame[ip + 10..ip + 12].copy_from_slice(&sum.to_be_bytes());
    if o.udp_port.is_some() {
        return; // UDP: ports and length are fixed in the template, checksum 0 (none).
    }
    let esp = ETH_HDR + IP_HDR;
    frame[esp..esp + 4].copy_from_slice(&spi.to_be_bytes());
    frame[esp + 4..esp + 8].copy_from_slice(&((n as u32).wrapping_add(1)).to_be_bytes());
}

fn template(o: &Options, src_mac: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0xabu8; ETH_HDR + o.ip_len];
    f[0..6].copy_from_slice(&o.dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = ETH_HDR;
    f[ip] = 0x45;
    f[ip + 1] = 0;
    f[ip + 2..ip + 4].copy_from_slice(&(o.ip_len as u16).to_be_bytes());
    f[ip + 4..ip + 8].copy_from_slice(&[0, 0, 0x40, 0]); // id 0, DF
    f[ip + 8] = 64;
    f[ip + 9] = 50; // ESP
    f[ip + 16..ip + 20].copy_from_slice(&o.dst.octets());
    if let Some(port) = o.udp_port {
        f[ip + 9] = 17; // UDP
        let udp = ip + IP_HDR;
        f[udp..udp + 2].copy_from_slice(&40000u16.to_be_bytes());
        f[udp + 2..udp + 4].copy_from_slice(&port.to_be_bytes());
        f[udp + 4..udp + 6].copy_from_slice(&((o.ip_len - IP_HDR) as u16).to_be_bytes());
        f[udp + 6..udp + 8].copy_from_slice(&[0, 0]);
    }
    f
}

fn open_socket(dev: &str) -> Result<i32, String> {
    let name = std::ffi::CString::new(dev).map_err(|_| "bad device name".to_string())?;
    // SAFETY: name is a valid NUL-terminated string for the duration of the call.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(format!("{dev}: no such interface"));
    }
    let proto = (libc::ETH_P_IP as u16).to_be();
    // SAFETY: plain socket(2) call; no pointers.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    if fd < 0 {
        return Err(format!("AF_PACKET socket: {}", std::io::Error::last_os_error()));
    }
    let one: libc::c_int = 1;
    // SAFETY: the option value points at a live c_int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&one as *const libc::c_int).cast(),
            core::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        eprintln!("espgen: PACKET_QDISC_BYPASS: {} (continuing)", std::io::Error::last_os_error());
    }
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { core::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: sll is a valid sockaddr_ll and the length matches it.
    let rc = unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            core::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(format!("bind to {dev}: {}", std::io::Error::last_os_error()));
    }
    Ok(fd)
}

fn run(o: &Options) -> Result<(u64, f64), String> {
    let fd = open_socket(&o.dev)?;
    let tmpl = template(o, own_mac(&o.dev)?);
    let frame_len = tmpl.len();
    let mut frames: Vec<u8> = tmpl.iter().copied().cycle().take(frame_len * o.batch).collect();
    let mut iovs: Vec<libc::iovec> = Vec::with_capacity(o.batch);
    for i in 0..o.batch {
        // SAFETY: i * frame_len stays inside `frames`, which outlives every use of the iovecs.
        let base = unsafe { frames.as_mut_ptr().add(i * frame_len) };
        iovs.push(libc::iovec { iov_base: base.cast(), iov_len: frame_len });
    }
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: mmsghdr is plain old data; all-zero is a valid value.
            let mut m: libc::mmsghdr = unsafe { core::mem::zeroed() };
            m.msg_hdr.msg_iov = iov as *mut libc::iovec;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let start = Instant::now();
    let deadline = o.seconds.map(|s| start + Duration::from_secs_f64(s));
    let limit = o.count.unwrap_or(u64::MAX);
    let mut sent: u64 = 0;
    let mut errors: u64 = 0;
    while sent < limit && deadline.is_none_or(|d| Instant::now() < d) {
        let n = (limit - sent).min(o.batch as u64) as usize;
        for (i, frame) in frames.chunks_mut(frame_len).take(n).enumerate() {
            fill(frame, o, sent + i as u64);
        }
        if let Some(pps) = o.pps {
            let due = start + Duration::from_secs_f64(sent as f64 / pps);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        // SAFETY: msgs holds n valid mmsghdr whose iovecs point into `frames`.
        let rc = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), n as libc::c_uint, 0) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR) => {
                    errors += 1;
                    std::thread::yield_now();
                    continue;
                }
                _ => return Err(format!("sendmmsg: {e}")),
            }
        }
        // Partially sent batches resend the rest with the next numbers: fine for a generator.
        sent += rc as u64;
    }
    let elapsed = start.elapsed().as_secs_f64();
    // SAFETY: fd is ours and closed once.
    unsafe { libc::close(fd) };
    if errors > 0 {
        eprintln!("espgen: {errors} sendmmsg calls retried (ENOBUFS/EAGAIN)");
    }
    Ok((sent, elapsed))
}

fn main() -> ExitCode {
    let o = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("espgen: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok((sent, secs)) => {
            println!("sent={sent} seconds={secs:.3} pps={:.0}", sent as f64 / secs.max(1e-9));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("espgen: {e}");
            ExitCode::FAILURE
        }
    }
}
