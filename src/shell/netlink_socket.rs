//! The few libc calls every netlink socket of the daemon needs: open a non-blocking
//! `NETLINK_NETFILTER` socket, set options, bind, send one datagram, wait, receive one.
//! Used by the NFQUEUE client ([`super::nfqueue`]) and the nf_tables element writer
//! ([`super::nft_netlink`]); the messages themselves are built and read in `crate::wire`.

// Sockets need libc calls, which are unsafe. The crate denies unsafe code; this module and
// nfqueue (for its own receive path) opt out, one SAFETY note per block.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Opens a non-blocking, close-on-exec `NETLINK_NETFILTER` socket.
pub fn open_netfilter() -> io::Result<OwnedFd> {
    // SAFETY: socket() takes no pointers; a negative return is handled below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            libc::NETLINK_NETFILTER,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn set_int_option(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4);
    // SAFETY: the pointer and length describe `value`, which lives across the call.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, std::ptr::from_ref(&value).cast(), len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn bind_netlink(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: sockaddr_nl is plain data for which all-zero is valid (pid 0: the kernel
    // picks our port id; no multicast groups).
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::sa_family_t::try_from(libc::AF_NETLINK).unwrap_or_default();
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_nl>()).unwrap_or_default();
    // SAFETY: the pointer and length describe `addr`, which lives across the call.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), std::ptr::from_ref(&addr).cast(), len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends one datagram to the kernel (port 0, the default destination of a netlink socket).
pub fn send_all(fd: &OwnedFd, bytes: &[u8]) -> io::Result<()> {
    loop {
        // SAFETY: the pointer and length describe `bytes`, borrowed across the call.
        let n = unsafe { libc::send(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0) };
        match usize::try_from(n) {
            Ok(sent) if sent == bytes.len() => return Ok(()),
            Ok(_) => return Err(io::Error::new(io::ErrorKind::WriteZero, "short netlink send")),
            Err(_) => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

/// Waits up to `timeout_ms` for the socket to become readable; false on timeout.
pub fn wait_readable(fd: &OwnedFd, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: one valid pollfd, passed with count 1.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if rc >= 0 {
            return Ok(rc > 0);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// One `recv` into `buf`; returns the datagram's full length (`MSG_TRUNC`), which is larger
/// than `buf` when the tail was cut off.
pub fn recv_datagram(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe `buf`, which we borrow mutably for the
    // duration of the call; the kernel writes at most `buf.len()` bytes into it.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_TRUNC) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}
