//! One netlink socket as every part of the daemon uses it: non-blocking, close-on-exec,
//! bound to a kernel-chosen port, with a blocking wait of bounded length for answers.
//! Used by the NFQUEUE client ([`super::nfqueue`]), the nf_tables element writer
//! ([`super::nft_netlink`]) and the route watcher; the messages themselves are built and
//! read elsewhere.
//!
//! The socket calls come from `netlink-sys` (the rust-netlink project's socket type, about
//! 6 KB in a static mipsel build) and the wait from `nix`'s `poll`, so no `unsafe` is left
//! here. Read first: netlink(7) for `NETLINK_CAP_ACK`, `MSG_TRUNC` and multicast groups.

use crate::netlink::framing::{messages, NetlinkMessage, NLMSG_DONE, NLMSG_ERROR};
use netlink_sys::{Socket, SocketAddr};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

pub use netlink_sys::protocols::{NETLINK_NETFILTER, NETLINK_ROUTE};

/// How long to wait for the kernel's answer to a request, or for the next part of a dump.
pub const REPLY_TIMEOUT_MS: i32 = 2000;

/// A bound netlink socket.
#[derive(Debug)]
pub struct NetlinkSocket {
    socket: Socket,
}

impl NetlinkSocket {
    /// Opens a non-blocking socket of `protocol` (`NETLINK_NETFILTER`, `NETLINK_ROUTE`).
    pub fn open(protocol: isize) -> io::Result<NetlinkSocket> {
        let socket = Socket::new(protocol)?;
        socket.set_non_blocking(true)?;
        Ok(NetlinkSocket { socket })
    }

    /// Asks for a receive buffer of `bytes`; the kernel silently caps it at `rmem_max`.
    pub fn set_receive_buffer(&self, bytes: usize) -> io::Result<()> {
        self.socket.set_rx_buf_sz(bytes)
    }

    /// Error answers echo only the request's header (`NETLINK_CAP_ACK`, Linux 4.3).
    pub fn set_cap_ack(&self) -> io::Result<()> {
        self.socket.set_cap_ack(true)
    }

    /// Binds to a port the kernel picks, joined to the multicast `groups` (a bit mask of
    /// `RTMGRP_*` for route sockets; 0 for none).
    pub fn bind(&mut self, groups: u32) -> io::Result<()> {
        self.socket.bind(&SocketAddr::new(0, groups))
    }

    /// Sends one datagram to the kernel.
    pub fn send_all(&self, bytes: &[u8]) -> io::Result<()> {
        loop {
            match self.socket.send(bytes, 0) {
                Ok(sent) if sent == bytes.len() => return Ok(()),
                Ok(_) => return Err(io::Error::new(io::ErrorKind::WriteZero, "short netlink send")),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits up to `timeout_ms` for the socket to become readable; false on timeout.
    pub fn wait_readable(&self, timeout_ms: i32) -> io::Result<bool> {
        wait_readable(self.as_fd(), timeout_ms)
    }

    /// One `recv` into `buf`; returns the datagram's full length (`MSG_TRUNC`), which is
    /// larger than `buf` when the tail was cut off.
    pub fn recv_datagram(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut window = buf;
        self.socket.recv(&mut window, libc::MSG_TRUNC)
    }
}

impl NetlinkSocket {
    /// Waits up to `timeout_ms` for the kernel's answer and receives it into `buf`; returns
    /// the datagram's full length. `peer` names the kernel side in the timeout error.
    pub fn recv_reply(&self, buf: &mut [u8], timeout_ms: i32, peer: &str) -> io::Result<usize> {
        loop {
            if !self.wait_readable(timeout_ms)? {
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("no answer from {peer}")));
            }
            match self.recv_datagram(buf) {
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                other => return other,
            }
        }
    }
}

impl NetlinkSocket {
    /// Sends a dump `request` numbered `seq` and hands each answer (other than the end and
    /// error messages) to `visit` until the kernel says done. Any failure is an errno: the
    /// kernel's, the socket's, `EMSGSIZE` for a cut datagram, `EBADMSG` for a bad one.
    pub fn dump(
        &self,
        request: &[u8],
        seq: u32,
        buf: &mut [u8],
        peer: &str,
        mut visit: impl FnMut(&NetlinkMessage<'_>) -> Result<(), i32>,
    ) -> Result<(), i32> {
        let errno = |e: io::Error| e.raw_os_error().unwrap_or(libc::EIO);
        self.send_all(request).map_err(errno)?;
        loop {
            let len = self.recv_reply(buf, REPLY_TIMEOUT_MS, peer).map_err(errno)?;
            let datagram = buf.get(..len).ok_or(libc::EMSGSIZE)?;
            for message in messages(datagram) {
                let message = message.map_err(|_| libc::EBADMSG)?;
                if message.seq != seq {
                    continue; // a late answer to an earlier request
                }
                match message.message_type {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        return match message.error_code() {
                            Some(errno) if errno != 0 => Err(errno),
                            _ => Ok(()),
                        }
                    }
                    _ => visit(&message)?,
                }
            }
        }
    }
}

/// Request sequence numbers: answers quote them, so each request gets its own. Never 0,
/// which the kernel's own messages (notifications) carry.
#[derive(Debug)]
pub struct Sequence(u32);

impl Default for Sequence {
    fn default() -> Sequence {
        Sequence(1)
    }
}

impl Sequence {
    /// The next number.
    pub fn take(&mut self) -> u32 {
        let seq = self.0;
        self.0 = self.0.wrapping_add(1).max(1);
        seq
    }
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for NetlinkSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// Waits up to `timeout_ms` for `fd` to become readable; false on timeout. EINTR waits again.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let timeout = PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::MAX);
    loop {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(n) => return Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// Waits up to `timeout_ms` for any of `fds`; returns which are readable (or hung up).
/// EINTR, and any other poll failure, count as nothing ready: the loop simply goes round.
pub fn readable<const N: usize>(fds: [BorrowedFd<'_>; N], timeout_ms: i32) -> [bool; N] {
    let timeout = PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::MAX);
    let mut polled = fds.map(|fd| PollFd::new(fd, PollFlags::POLLIN));
    if !matches!(poll(&mut polled, timeout), Ok(n) if n > 0) {
        return [false; N];
    }
    let ready = PollFlags::POLLIN | PollFlags::POLLERR | PollFlags::POLLHUP;
    polled.map(|p| p.revents().is_some_and(|r| r.intersects(ready)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn sequence_numbers_skip_zero_when_they_wrap() {
        let mut seq = Sequence(u32::MAX);
        assert_eq!([seq.take(), seq.take(), seq.take()], [u32::MAX, 1, 2]);
        assert_eq!(Sequence::default().take(), 1);
    }

    #[test]
    fn readable_reports_which_fds_have_data() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let (c, _d) = UnixStream::pair().unwrap();
        assert_eq!(readable([b.as_fd(), c.as_fd()], 0), [false, false]);
        a.write_all(b"x").unwrap();
        assert_eq!(readable([b.as_fd(), c.as_fd()], 100), [true, false]);
        assert!(wait_readable(b.as_fd(), 0).unwrap());
        assert!(!wait_readable(c.as_fd(), 10).unwrap(), "times out");
    }
}
