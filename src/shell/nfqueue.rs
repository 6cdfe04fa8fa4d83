//! The NFQUEUE socket: our own small nfnetlink_queue client over a raw netlink socket.
//!
//! Kernel side: `net/netfilter/nfnetlink_queue.c`; messages: [`crate::netlink::queue`]
//! (which follows `linux/netfilter/nfnetlink_queue.h`). We don't use the `nfq` crate
//! because its released version exposes no fd, and the daemon needs to poll this socket
//! together with signals and timers.
//!
//! What to know when driving it:
//! - The socket is non-blocking. Poll [`NfQueue::as_fd`] for `POLLIN`, then call
//!   [`NfQueue::recv`], which drains what is ready (at most [`RECV_BATCH`] datagrams; if
//!   more are waiting the fd stays readable and the next poll returns at once).
//! - Every packet handed out needs exactly one [`NfQueue::verdict`]. Verdicts may be given
//!   in any order. Packets without a verdict are dropped by the kernel when the socket
//!   closes (the queue is unbound then; `--queue-bypass` / nft `bypass` lets traffic pass
//!   while no one is bound).
//! - Overflow. With `fail_open` the kernel ACCEPTS (without asking us) any packet it can't
//!   queue: when `max_len` packets wait for verdicts, silently, and when our socket's
//!   receive buffer is full, in which case the socket later reports ENOBUFS and the packet
//!   ids jump. Without `fail_open` those packets are dropped. We keep ENOBUFS reporting on
//!   (no NETLINK_NO_ENOBUFS) and turn it into counters, [`NfQueueStats::overruns`] and
//!   [`NfQueueStats::lost`]; neither is an error for the caller, and no verdict is owed
//!   for a lost packet. Only the queue-length case leaves no trace here: the kernel
//!   counts it (without fail-open) in `/proc/net/netfilter/nfnetlink_queue`.
//! - Payloads are never GSO super-packets: we leave `NFQA_CFG_F_GSO` off, so the kernel
//!   segments them and completes partial checksums before queueing. A payload is at most
//!   `copy_range` bytes; `cap_len` tells when the kernel cut one (then a rewritten
//!   payload must not be sent back, the tail would be lost).

use super::netlink_socket::{NetlinkSocket, Sequence, NETLINK_NETFILTER};
use crate::netlink::framing::{self, AF_INET};
use crate::netlink::queue::{self, QueueConfig, Received};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

pub use crate::netlink::queue::NfVerdict;

/// How the queue is configured when it is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// How many packets may wait for a verdict (`NFQA_CFG_QUEUE_MAXLEN`).
    pub max_len: u32,
    /// How many bytes of each packet to copy to us (0xffff: the whole packet).
    pub copy_range: u16,
    /// Accept instead of drop what the queue can't hold (`NFQA_CFG_F_FAIL_OPEN`).
    pub fail_open: bool,
}

impl Default for QueueSettings {
    fn default() -> QueueSettings {
        QueueSettings { max_len: 1024, copy_range: 0xffff, fail_open: true }
    }
}

/// A packet waiting for its verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedPacket {
    /// The id to quote in [`NfQueue::verdict`].
    pub id: u32,
    /// Netfilter hook (`NF_INET_PRE_ROUTING` 0, `LOCAL_IN` 1, `FORWARD` 2, `LOCAL_OUT` 3,
    /// `POST_ROUTING` 4).
    pub hook: u8,
    /// EtherType of the payload: 0x0800 IPv4, 0x86dd IPv6.
    pub hw_protocol: u16,
    /// Input interface index, if the packet has one.
    pub indev: Option<u32>,
    /// Output interface index, if the packet has one.
    pub outdev: Option<u32>,
    /// The packet from its IP header on, at most `copy_range` bytes.
    pub payload: Vec<u8>,
    /// `NFQA_SKB_*` flags (0 if the kernel sent none).
    pub skb_info: u32,
    /// The packet's full length when the kernel cut the payload short (`NFQA_CAP_LEN`).
    pub cap_len: Option<u32>,
}

impl QueuedPacket {
    /// True if the payload is only the first `copy_range` bytes of the packet.
    pub fn is_truncated(&self) -> bool {
        self.cap_len.is_some_and(|len| usize::try_from(len).map_or(true, |len| len > self.payload.len()))
    }
}

/// Counters for conditions that are not errors but are worth watching.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NfQueueStats {
    /// Packets handed out by [`NfQueue::recv`].
    pub packets: u64,
    /// ENOBUFS reports: our receive buffer overflowed at least once since the last one.
    pub overruns: u64,
    /// Packets the kernel numbered but could not deliver (gaps in the packet ids); accepted
    /// by the kernel with `fail_open`, dropped without.
    pub lost: u64,
    /// `NLMSG_ERROR` replies to verdicts (ENOENT: unknown or already-judged id).
    pub verdict_errors: u64,
    /// The errno of the last of those.
    pub last_verdict_errno: i32,
    /// Datagrams we could not read (malformed, or larger than our buffer).
    pub malformed: u64,
}

/// Why the queue could not be opened. Each `Display` is one line for the log.
#[derive(Debug)]
pub enum NfQueueError {
    /// The kernel has no nfnetlink or no nfnetlink_queue.
    KernelLacksQueue,
    /// The kernel refused the request: the process lacks CAP_NET_ADMIN.
    PermissionDenied,
    /// Another socket (another process) is bound to this queue number.
    QueueBusy {
        /// The queue number asked for.
        queue: u16,
    },
    /// Any other failure, with the step that failed.
    Io {
        /// What we were doing.
        step: &'static str,
        /// What the kernel said.
        error: io::Error,
    },
}

impl fmt::Display for NfQueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NfQueueError::KernelLacksQueue => {
                f.write_str("kernel has no NFQUEUE support (nfnetlink_queue): install kmod-nfnetlink-queue")
            }
            NfQueueError::PermissionDenied => f.write_str("NFQUEUE: permission denied (needs CAP_NET_ADMIN)"),
            NfQueueError::QueueBusy { queue } => {
                write!(f, "NFQUEUE: queue {queue} already bound by another process")
            }
            NfQueueError::Io { step, error } => write!(f, "NFQUEUE: {step}: {error}"),
        }
    }
}

impl std::error::Error for NfQueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NfQueueError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// At most this many datagrams are read per [`NfQueue::recv`] call, so a flood can't keep
/// the event loop from its timers.
pub const RECV_BATCH: usize = 256;

/// The socket receive buffer we ask for. A queued IKE packet costs about 2-3 KiB of it
/// (skb overhead included), so this holds a few hundred; the kernel caps it at
/// `net.core.rmem_max` (about 208 KiB by default), which is also fine: with fail-open an
/// overflow only means packets pass unseen, and it is counted.
pub const RECV_BUFFER_BYTES: usize = 1 << 20;

/// How long to wait for each ACK while opening.
const ACK_TIMEOUT_MS: i32 = 2000;
/// How many datagrams may arrive before the ACK we wait for (packets queued meanwhile).
const ACK_MAX_DATAGRAMS: usize = 4096;
/// Room for the netlink, nfgenmsg and attribute headers around a full `copy_range` payload.
const HEADER_ROOM: usize = 4096;

/// A bound NFQUEUE queue.
pub struct NfQueue {
    fd: NetlinkSocket,
    queue_num: u16,
    seq: Sequence,
    recv_buf: Vec<u8>,
    send_buf: Vec<u8>,
    /// Packets that arrived while `open` waited for an ACK.
    pending: Vec<QueuedPacket>,
    last_id: Option<u32>,
    stats: NfQueueStats,
}

impl fmt::Debug for NfQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NfQueue")
            .field("fd", &self.fd.as_raw_fd())
            .field("queue_num", &self.queue_num)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl NfQueue {
    /// Opens a netlink socket, binds it to queue `queue_num` and configures the queue,
    /// waiting for the kernel's ACK to each step.
    pub fn open(queue_num: u16, settings: QueueSettings) -> Result<NfQueue, NfQueueError> {
        let mut fd = open_socket()?;
        // Ask for a bigger receive buffer; the kernel silently caps it at rmem_max.
        fd.set_receive_buffer(RECV_BUFFER_BYTES)
            .map_err(|error| NfQueueError::Io { step: "setting SO_RCVBUF", error })?;
        // Error replies echo only the request's header, not a 64 KiB rewritten payload.
        // Best effort: without it (Linux < 4.3) errors are just bigger.
        let _ = fd.set_cap_ack();
        fd.bind(0).map_err(|error| NfQueueError::Io { step: "binding the netlink socket", error })?;

        let mut queue = NfQueue {
            fd,
            queue_num,
            seq: Sequence::default(),
            recv_buf: vec![0; usize::from(settings.copy_range) + HEADER_ROOM],
            send_buf: Vec::with_capacity(256),
            pending: Vec::new(),
            last_id: None,
            stats: NfQueueStats::default(),
        };

        // The obsolete PF_BIND is answered before any queue lookup, which makes it a clean
        // probe for permission and for the subsystem's presence.
        match queue.configure(&QueueConfig::pf_bind(AF_INET)) {
            Ok(()) => {}
            Err(ConfigFailure::Kernel(errno)) => return Err(probe_error(errno)),
            Err(ConfigFailure::Io(error)) => return Err(NfQueueError::Io { step: "probing nfnetlink_queue", error }),
        }
        let bind = QueueConfig::bind(u32::from(settings.copy_range), settings.max_len, settings.fail_open);
        match queue.configure(&bind) {
            Ok(()) => Ok(queue),
            Err(ConfigFailure::Kernel(errno)) => Err(bind_error(queue_num, errno)),
            Err(ConfigFailure::Io(error)) => Err(NfQueueError::Io { step: "binding the queue", error }),
        }
    }

    /// The queue number this socket is bound to.
    pub fn queue_num(&self) -> u16 {
        self.queue_num
    }

    /// Counters since the queue was opened.
    pub fn stats(&self) -> NfQueueStats {
        self.stats
    }

    /// Appends the packets that are ready to `out` without blocking, and returns how many.
    /// ENOBUFS and malformed datagrams are counted in [`NfQueue::stats`], not returned.
    /// On an `Err`, `out` may already hold packets from this call: they still need verdicts.
    pub fn recv(&mut self, out: &mut Vec<QueuedPacket>) -> io::Result<usize> {
        let before = out.len();
        self.stats.packets = self.stats.packets.saturating_add(self.pending.len() as u64);
        out.append(&mut self.pending);
        for _ in 0..RECV_BATCH {
            match self.recv_datagram() {
                Ok(len) => {
                    self.read_datagram(len, out, None);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.stats.overruns = self.stats.overruns.saturating_add(1);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out.len().saturating_sub(before))
    }

    /// Gives packet `id` its verdict, with `new_payload` replacing the packet when the
    /// verdict is Accept or Repeat (the caller fixes its checksums). The kernel reports a
    /// bad id asynchronously; see [`NfQueueStats::verdict_errors`].
    pub fn verdict(&mut self, id: u32, verdict: NfVerdict, new_payload: Option<&[u8]>) -> io::Result<()> {
        self.send_buf.clear();
        let seq = self.seq.take();
        queue::put_verdict(&mut self.send_buf, seq, self.queue_num, id, verdict, new_payload)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.fd.send_all(&self.send_buf)
    }

    /// Sends one config message and waits for its ACK, keeping packets that arrive first.
    fn configure(&mut self, config: &QueueConfig) -> Result<(), ConfigFailure> {
        self.send_buf.clear();
        let seq = self.seq.take();
        queue::put_config(&mut self.send_buf, seq, self.queue_num, config);
        self.fd.send_all(&self.send_buf).map_err(ConfigFailure::Io)?;

        let mut pending = std::mem::take(&mut self.pending);
        let mut outcome = None;
        let mut datagrams = 0usize;
        while outcome.is_none() {
            if datagrams >= ACK_MAX_DATAGRAMS {
                break;
            }
            if !self.fd.wait_readable(ACK_TIMEOUT_MS).map_err(ConfigFailure::Io)? {
                break;
            }
            match self.recv_datagram() {
                Ok(len) => {
                    datagrams = datagrams.saturating_add(1);
                    outcome = self.read_datagram(len, &mut pending, Some(seq));
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.stats.overruns = self.stats.overruns.saturating_add(1);
                }
                Err(e) => {
                    self.pending = pending;
                    return Err(ConfigFailure::Io(e));
                }
            }
        }
        self.pending = pending;
        match outcome {
            Some(0) => Ok(()),
            Some(errno) => Err(ConfigFailure::Kernel(errno)),
            None => Err(ConfigFailure::Io(io::Error::new(io::ErrorKind::TimedOut, "no ACK from the kernel"))),
        }
    }

    /// Reads one datagram of `len` bytes from `recv_buf`: packets go to `out`, errors for
    /// verdicts are counted. Returns the ACK status (0 or errno) of request `waiting_for`.
    fn read_datagram(&mut self, len: usize, out: &mut Vec<QueuedPacket>, waiting_for: Option<u32>) -> Option<i32> {
        let Some(datagram) = self.recv_buf.get(..len) else {
            // MSG_TRUNC told us the datagram was larger than the buffer: its tail is gone.
            self.stats.malformed = self.stats.malformed.saturating_add(1);
            return None;
        };
        let mut outcome = None;
        for message in framing::messages(datagram) {
            let decoded = message.and_then(|m| m.decode());
            match decoded {
                Ok(Received::Packet(p)) => {
                    if let Some(last) = self.last_id {
                        // Ids count up by one per packet the kernel tried to deliver.
                        let gap = p.id.wrapping_sub(last).wrapping_sub(1);
                        if gap < u32::MAX / 2 {
                            self.stats.lost = self.stats.lost.saturating_add(u64::from(gap));
                        }
                    }
                    self.last_id = Some(p.id);
                    if waiting_for.is_none() {
                        self.stats.packets = self.stats.packets.saturating_add(1);
                    }
                    out.push(QueuedPacket {
                        id: p.id,
                        hook: p.hook,
                        hw_protocol: p.hw_protocol,
                        indev: p.indev,
                        outdev: p.outdev,
                        payload: p.payload.to_vec(),
                        skb_info: p.skb_info.unwrap_or(0),
                        cap_len: p.cap_len,
                    });
                }
                Ok(Received::Ack { seq }) if Some(seq) == waiting_for => outcome = Some(0),
                Ok(Received::Error { seq, errno }) if Some(seq) == waiting_for => outcome = Some(errno),
                Ok(Received::Error { errno, .. }) => {
                    self.stats.verdict_errors = self.stats.verdict_errors.saturating_add(1);
                    self.stats.last_verdict_errno = errno;
                }
                Ok(Received::Ack { .. } | Received::Done | Received::Other { .. }) => {}
                Err(_) => self.stats.malformed = self.stats.malformed.saturating_add(1),
            }
        }
        outcome
    }

    /// One `recv`; returns the datagram's full length (MSG_TRUNC), which may exceed the buffer.
    fn recv_datagram(&mut self) -> io::Result<usize> {
        self.fd.recv_datagram(&mut self.recv_buf)
    }
}

impl AsFd for NfQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for NfQueue {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

enum ConfigFailure {
    /// The kernel answered with this errno.
    Kernel(i32),
    Io(io::Error),
}

/// What an error to the PF_BIND probe means. nfnetlink checks CAP_NET_ADMIN before it
/// looks for the subsystem (EPERM); a missing nfnetlink_queue is EINVAL from nfnetlink
/// (EOPNOTSUPP from its batch path).
fn probe_error(errno: i32) -> NfQueueError {
    match errno {
        libc::EPERM => NfQueueError::PermissionDenied,
        libc::EINVAL | libc::EOPNOTSUPP => NfQueueError::KernelLacksQueue,
        _ => NfQueueError::Io { step: "probing nfnetlink_queue", error: io::Error::from_raw_os_error(errno) },
    }
}

/// What an error to BIND means. `nfqnl_recv_config` answers EPERM when the queue belongs to
/// another socket (we already know we have CAP_NET_ADMIN from the probe) and EBUSY when this
/// socket already holds it.
fn bind_error(queue: u16, errno: i32) -> NfQueueError {
    match errno {
        libc::EPERM | libc::EBUSY => NfQueueError::QueueBusy { queue },
        _ => NfQueueError::Io { step: "binding the queue", error: io::Error::from_raw_os_error(errno) },
    }
}

fn open_socket() -> Result<NetlinkSocket, NfQueueError> {
    NetlinkSocket::open(NETLINK_NETFILTER).map_err(|error| match error.raw_os_error() {
        // No nfnetlink at all (errno values differ on MIPS, hence the libc names).
        Some(libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT) => NfQueueError::KernelLacksQueue,
        Some(libc::EPERM | libc::EACCES) => NfQueueError::PermissionDenied,
        _ => NfQueueError::Io { step: "opening a netlink socket", error },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_one_line_naming_the_fix() {
        assert_eq!(
            NfQueueError::KernelLacksQueue.to_string(),
            "kernel has no NFQUEUE support (nfnetlink_queue): install kmod-nfnetlink-queue"
        );
        assert_eq!(NfQueueError::PermissionDenied.to_string(), "NFQUEUE: permission denied (needs CAP_NET_ADMIN)");
        assert_eq!(
            NfQueueError::QueueBusy { queue: 7 }.to_string(),
            "NFQUEUE: queue 7 already bound by another process"
        );
        let io = NfQueueError::Io { step: "binding the queue", error: io::Error::from_raw_os_error(libc::ENOMEM) };
        assert!(io.to_string().starts_with("NFQUEUE: binding the queue: "));
        assert!(!io.to_string().contains('\n'));
    }

    #[test]
    fn kernel_errnos_map_to_their_causes() {
        assert!(matches!(probe_error(libc::EPERM), NfQueueError::PermissionDenied));
        assert!(matches!(probe_error(libc::EINVAL), NfQueueError::KernelLacksQueue));
        assert!(matches!(probe_error(libc::EOPNOTSUPP), NfQueueError::KernelLacksQueue));
        assert!(matches!(bind_error(3, libc::EPERM), NfQueueError::QueueBusy { queue: 3 }));
        assert!(matches!(bind_error(3, libc::EBUSY), NfQueueError::QueueBusy { queue: 3 }));
        assert!(matches!(bind_error(3, libc::ENOMEM), NfQueueError::Io { .. }));
    }

    #[test]
    fn truncation_is_read_from_cap_len() {
        let mut p = QueuedPacket {
            id: 1,
            hook: 0,
            hw_protocol: 0x0800,
            indev: None,
            outdev: None,
            payload: vec![0; 100],
            skb_info: 0,
            cap_len: None,
        };
        assert!(!p.is_truncated());
        p.cap_len = Some(100);
        assert!(!p.is_truncated());
        p.cap_len = Some(1500);
        assert!(p.is_truncated());
    }
}
