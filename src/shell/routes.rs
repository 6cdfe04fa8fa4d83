//! The daemon's rtnetlink sockets: one that asks (address and route dumps, adding and
//! removing pool addresses) and one that listens to the kernel's IPv4 address and route
//! notifications (`RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE`), which the event loop polls so
//! that a WAN address change is followed as soon as the kernel reports it.
//!
//! Two sockets, so that a notification can never land in the middle of a dump's answers.
//! The messages are [`crate::netlink::route`]'s; errors carry the kernel's errno.

use super::netlink_socket::{NetlinkSocket, Sequence, NETLINK_ROUTE, REPLY_TIMEOUT_MS};
use crate::netlink::framing::{messages, NLMSG_ERROR};
use crate::netlink::route::{
    self, put_address_change, put_dump_request, AddressOp, Dump, InterfaceAddress, Route, RouteMessage,
    RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE,
};
use core::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd};

/// Large enough for any dump part the kernel builds and for a batch's answers.
const RECV_BUFFER: usize = 64 * 1024;
/// Address changes per datagram: about 10 KiB of requests, 9 KiB of answers.
const CHANGES_PER_SEND: usize = 256;
/// Room for a burst of notifications (a pool of 65,536 addresses added at once still
/// overflows it; the overflow itself is then the notice that something changed).
const NOTIFICATION_BUFFER: usize = 256 * 1024;

/// A request the kernel refused, or that could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteError {
    /// What was asked.
    pub request: RouteRequest,
    /// The kernel's errno (positive), or the socket call's.
    pub errno: i32,
}

/// What a request was, for naming it in an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteRequest {
    Open,
    Dump(Dump),
    Change { op: AddressOp, address: Ipv4Addr, index: u32 },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cause = io::Error::from_raw_os_error(self.errno);
        match self.request {
            RouteRequest::Open => write!(f, "cannot open an rtnetlink socket: {cause}"),
            RouteRequest::Dump(Dump::Addresses) => write!(f, "reading the IPv4 addresses: {cause}"),
            RouteRequest::Dump(Dump::Routes) => write!(f, "reading the IPv4 routes: {cause}"),
            RouteRequest::Dump(Dump::Links) => write!(f, "reading the devices: {cause}"),
            RouteRequest::Change { op, address, index } => {
                let verb = match op {
                    AddressOp::Add => "adding",
                    AddressOp::Remove => "removing",
                };
                write!(f, "{verb} {address}/32 on interface {index}: {cause}")
            }
        }
    }
}

impl std::error::Error for RouteError {}

/// The two sockets and their buffers.
#[derive(Debug)]
pub struct RouteSocket {
    requests: NetlinkSocket,
    changes: NetlinkSocket,
    seq: Sequence,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
}

impl RouteSocket {
    /// Opens the request socket and the notification socket.
    pub fn open() -> Result<RouteSocket, RouteError> {
        let error =
            |e: io::Error| RouteError { request: RouteRequest::Open, errno: e.raw_os_error().unwrap_or(libc::EIO) };
        let mut requests = NetlinkSocket::open(NETLINK_ROUTE).map_err(error)?;
        requests.bind(0).map_err(error)?;
        // Error answers echo only the request's header; an ACK per pool address is small.
        let _ = requests.set_cap_ack();
        let mut changes = NetlinkSocket::open(NETLINK_ROUTE).map_err(error)?;
        changes.bind(RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE).map_err(error)?;
        let _ = changes.set_receive_buffer(NOTIFICATION_BUFFER);
        Ok(RouteSocket {
            requests,
            changes,
            seq: Sequence::default(),
            send_buf: Vec::new(),
            recv_buf: vec![0; RECV_BUFFER],
        })
    }

    /// The notification socket, for `poll(2)`.
    pub fn changes_fd(&self) -> BorrowedFd<'_> {
        self.changes.as_fd()
    }

    /// Reads every pending notification; true if an IPv4 address or route changed, or if
    /// notifications were lost (`ENOBUFS`), which may have hidden one.
    pub fn drain_changes(&mut self) -> bool {
        let mut changed = false;
        loop {
            match self.changes.recv_datagram(&mut self.recv_buf) {
                Ok(len) => {
                    let datagram = self.recv_buf.get(..len.min(RECV_BUFFER)).unwrap_or_default();
                    // A truncated or unreadable datagram may have held a change too.
                    changed |= len > RECV_BUFFER
                        || messages(datagram)
                            .any(|m| m.map_or(true, |m| !matches!(route::decode(&m), Ok(RouteMessage::Other))));
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => changed = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return changed, // WouldBlock: drained
            }
        }
    }

    /// Every IPv4 address of every interface, in the kernel's order (primary first).
    pub fn addresses(&mut self) -> Result<Vec<InterfaceAddress>, RouteError> {
        let mut out = Vec::new();
        self.dump(Dump::Addresses, |message| {
            if let RouteMessage::Address { address, removed: false } = message {
                out.push(address);
            }
        })?;
        Ok(out)
    }

    /// Every IPv4 route of every table.
    pub fn routes(&mut self) -> Result<Vec<Route>, RouteError> {
        let mut out = Vec::new();
        self.dump(Dump::Routes, |message| {
            if let RouteMessage::Route { route, removed: false } = message {
                out.push(route);
            }
        })?;
        Ok(out)
    }

    /// Every device's index and hardware type (`ARPHRD_*`).
    pub fn links(&mut self) -> Result<Vec<(u32, u16)>, RouteError> {
        let mut out = Vec::new();
        self.dump(Dump::Links, |message| {
            if let RouteMessage::Link { index, link_type } = message {
                out.push((index, link_type));
            }
        })?;
        Ok(out)
    }

    /// Adds or removes each of `addresses` as a /32 on interface `index`, a few hundred per
    /// datagram; returns the kernel's refusal of each one it refused, in order.
    pub fn change_addresses(&mut self, op: AddressOp, index: u32, addresses: &[Ipv4Addr]) -> Vec<RouteError> {
        let mut refused = Vec::new();
        for chunk in addresses.chunks(CHANGES_PER_SEND) {
            self.send_buf.clear();
            let mut pending: Vec<(u32, Ipv4Addr)> = Vec::with_capacity(chunk.len());
            for &address in chunk {
                let seq = self.seq.take();
                put_address_change(&mut self.send_buf, seq, op, index, address, 32);
                pending.push((seq, address));
            }
            let error = |address, errno| RouteError { request: RouteRequest::Change { op, address, index }, errno };
            if let Err(e) = self.requests.send_all(&self.send_buf) {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                refused.extend(pending.iter().map(|&(_, a)| error(a, errno)));
                continue;
            }
            while !pending.is_empty() {
                let len = match self.requests.recv_reply(&mut self.recv_buf, REPLY_TIMEOUT_MS, "rtnetlink") {
                    Ok(len) => len,
                    Err(e) => {
                        let errno = e.raw_os_error().unwrap_or(libc::EIO);
                        refused.extend(pending.drain(..).map(|(_, a)| error(a, errno)));
                        break;
                    }
                };
                let datagram = self.recv_buf.get(..len.min(RECV_BUFFER)).unwrap_or_default();
                for message in messages(datagram).flatten() {
                    if message.message_type != NLMSG_ERROR {
                        continue;
                    }
                    let Some(at) = pending.iter().position(|(seq, _)| *seq == message.seq) else { continue };
                    let (_, address) = pending.swap_remove(at);
                    if let Some(errno) = message.error_code().filter(|&e| e != 0) {
                        refused.push(error(address, errno));
                    }
                }
            }
        }
        refused
    }

    /// Sends a dump request and hands every answer to `visit` until the kernel says done.
    fn dump(&mut self, dump: Dump, mut visit: impl FnMut(RouteMessage)) -> Result<(), RouteError> {
        let seq = self.seq.take();
        self.send_buf.clear();
        put_dump_request(&mut self.send_buf, seq, dump);
        let (request, buf) = (&self.send_buf, &mut self.recv_buf);
        self.requests
            .dump(request, seq, buf, "rtnetlink", |message| {
                visit(route::decode(message).map_err(|_| libc::EBADMSG)?);
                Ok(())
            })
            .map_err(|errno| RouteError { request: RouteRequest::Dump(dump), errno })
    }
}

/// The index of the interface called `name`, if there is one.
pub fn interface_index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok().filter(|&i| i != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loopback is in every network namespace; under qemu-user rtnetlink may be missing,
    /// and then the test says so instead of failing.
    #[test]
    fn reads_loopbacks_address_and_index() {
        let Ok(mut routes) = RouteSocket::open() else {
            println!("skipped: no rtnetlink here");
            return;
        };
        let Ok(addresses) = routes.addresses() else {
            println!("skipped: rtnetlink dumps not answered here");
            return;
        };
        let lo = interface_index("lo");
        assert!(lo.is_some());
        assert!(addresses.iter().any(|a| Some(a.index) == lo && a.address == Ipv4Addr::LOCALHOST), "{addresses:?}");
        assert!(routes.routes().is_ok());
        assert_eq!(interface_index("no-such-device0"), None);
    }

    #[test]
    fn errors_name_the_request_and_the_cause() {
        let e = RouteError {
            request: RouteRequest::Change { op: AddressOp::Add, address: Ipv4Addr::new(203, 0, 113, 20), index: 3 },
            errno: libc::EPERM,
        };
        assert!(e.to_string().starts_with("adding 203.0.113.20/32 on interface 3: "), "{e}");
        let e = RouteError { request: RouteRequest::Dump(Dump::Routes), errno: libc::EACCES };
        assert!(e.to_string().starts_with("reading the IPv4 routes: "), "{e}");
    }
}
