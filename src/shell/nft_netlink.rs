//! Our table's sets and maps, written and read over one long-lived nf_tables netlink socket
//! instead of an `nft` process per update (SPEC §3 rule 3: a session is installed before the
//! packet that created it is released).
//!
//! The engine's actions become `NEWSETELEM`/`DELSETELEM` messages in one nfnetlink batch,
//! which the kernel applies as one transaction, synchronously, inside `send`: the answers
//! (an ACK or an error for every message) are already waiting when `send` returns. Messages
//! are grouped per set, in the order the engine gave them within each set; sets are
//! independent, so this keeps the meaning of the sequence and needs a handful of messages
//! per batch instead of two per session.
//!
//! A transaction fails as a whole. Then each action is retried on its own, and a delete of
//! an element the kernel already expired counts as done. Refreshing a session's timeout
//! deletes and re-adds its elements in one transaction: re-adding an existing element
//! restarts its timeout only on Linux 6.10 and later, and OpenWrt routers run older kernels.
//!
//! The maps' per-SA counters are read with `GETSETELEM` dumps: 0.33 s for a map of 65,000
//! elements on the development machine, where `nft list map` took 1.9 s (the kernel restarts
//! its walk of a hashed set for every 32 KiB part of a dump, so the cost grows faster than
//! the set; `examples/nft_netlink_costs.rs` measures it). The named counters (`queued_*`) come from a `GETOBJ` dump: `nft list counter`
//! loads the table's sets too, which takes seconds when they are full.

use super::netlink_socket::{NetlinkSocket, Sequence, NETLINK_NETFILTER, REPLY_TIMEOUT_MS};
use super::table_names::{CounterName, SetName, TABLE};
use crate::engine::{Action, Direction, EspSessionSpec};
use crate::netlink::framing::{messages, NLMSG_ERROR};
use crate::netlink::nftables::{
    dumped_counter, dumped_elements, generation_id, nftables_message_type, put_batch_begin, put_batch_end,
    put_counters_dump_request, put_generation_request, put_set_dump_request, put_set_elements, put_table_get_request,
    DumpedElement, ElementOp, RegisterData, SetElement, MAX_ELEMENTS_PER_MESSAGE, NFT_MSG_NEWGEN, NFT_MSG_NEWOBJ,
    NFT_MSG_NEWSETELEM, NFT_MSG_NEWTABLE,
};
use core::fmt;
use std::io;

/// Actions per transaction: about 30 KiB of messages, well inside a socket's send buffer.
const ACTIONS_PER_TRANSACTION: usize = 256;
/// Large enough for any dump part the kernel builds (it sizes them from our reads, at most
/// 32 KiB) and for a batch's answers.
const RECV_BUFFER: usize = 64 * 1024;

/// One element operation on one of our sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ElementUpdate {
    set: SetName,
    op: ElementOp,
    element: SetElement,
}

/// What a netlink request was about, for naming it in an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableObject {
    Table,
    Set(SetName),
    Counters,
    Generation,
}

impl fmt::Display for TableObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableObject::Table => write!(f, "table ip {TABLE}"),
            TableObject::Set(set) => write!(f, "set {set}"),
            TableObject::Counters => write!(f, "counters of table ip {TABLE}"),
            TableObject::Generation => f.write_str("the ruleset generation"),
        }
    }
}

/// A failed request: what it was about, and the kernel's errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElementError {
    pub object: TableObject,
    pub errno: i32,
}

impl fmt::Display for ElementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hint = match self.errno {
            libc::ENOENT => " (element, set or table missing)",
            libc::ENFILE => " (set full: raise the session limit or wait for expiry)",
            libc::EEXIST => " (an element with this key and another value exists)",
            _ => "",
        };
        write!(f, "{}: {}{hint}", self.object, io::Error::from_raw_os_error(self.errno))
    }
}

impl std::error::Error for ElementError {}

/// The nf_tables socket.
pub struct NftNetlink {
    fd: NetlinkSocket,
    seq: Sequence,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
    /// Transactions of ours the kernel committed, since [`NftNetlink::take_commits`].
    commits: u32,
}

impl fmt::Debug for NftNetlink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NftNetlink").field("seq", &self.seq).finish_non_exhaustive()
    }
}

impl NftNetlink {
    /// Opens and binds the socket.
    pub fn open() -> io::Result<NftNetlink> {
        let mut fd = NetlinkSocket::open(NETLINK_NETFILTER)?;
        // Answers to our own requests only; a larger buffer lets a dump run ahead of us.
        let _ = fd.set_receive_buffer(1 << 20);
        let _ = fd.set_cap_ack();
        fd.bind(0)?;
        Ok(NftNetlink {
            fd,
            seq: Sequence::default(),
            send_buf: Vec::with_capacity(32 * 1024),
            recv_buf: vec![0; RECV_BUFFER],
            commits: 0,
        })
    }

    /// Applies the engine's actions, in transactions of a few hundred. Returns the actions
    /// that failed even on their own; a removal of something already gone is not a failure.
    pub fn apply_actions(&mut self, actions: &[Action]) -> Vec<(Action, ElementError)> {
        let mut failed = Vec::new();
        for chunk in actions.chunks(ACTIONS_PER_TRANSACTION) {
            let updates: Vec<ElementUpdate> = chunk.iter().flat_map(updates_for).collect();
            if self.transact(&updates).is_ok() {
                continue;
            }
            for action in chunk {
                match self.transact(&updates_for(action)) {
                    Ok(()) => {}
                    Err(e) if is_removal(action) && e.errno == libc::ENOENT => {}
                    Err(e) => failed.push((*action, e)),
                }
            }
        }
        failed
    }

    /// Restarts the kernel-side timeout of each session: its elements are deleted and added
    /// again in one transaction (no gap for packets: the kernel swaps them at commit). A
    /// session whose elements expired meanwhile is simply added again. Returns how many
    /// could not be refreshed, with the last error.
    pub fn refresh_sessions(&mut self, sessions: &[EspSessionSpec]) -> Result<(), (usize, ElementError)> {
        let mut failures = 0usize;
        let mut last = None;
        for chunk in sessions.chunks(ACTIONS_PER_TRANSACTION / 2) {
            let all: Vec<ElementUpdate> = chunk.iter().flat_map(refresh_updates).collect();
            if self.transact(&all).is_ok() {
                continue;
            }
            for session in chunk {
                let replaced = self.transact(&refresh_updates(session));
                let outcome = match replaced {
                    Err(e) if e.errno == libc::ENOENT => self.transact(&session_updates(ElementOp::Add, session)),
                    other => other,
                };
                if let Err(e) = outcome {
                    failures += 1;
                    last = Some(e);
                }
            }
        }
        match last {
            Some(e) => Err((failures, e)),
            None => Ok(()),
        }
    }

    /// Whether our table exists: one `GETTABLE` round trip, a few microseconds. `fw4 flush`
    /// (`/etc/init.d/firewall stop`) deletes every table, ours included.
    pub fn table_exists(&mut self) -> Result<bool, ElementError> {
        // The kernel answers with the table, then the ACK that ends the exchange as a
        // dump's DONE would; or with ENOENT alone.
        let request = |buf: &mut Vec<u8>, seq| put_table_get_request(buf, seq, TABLE);
        match self.dump(TableObject::Table, request, nftables_message_type(NFT_MSG_NEWTABLE), |_| Ok(())) {
            Ok(()) => Ok(true),
            Err(e) if e.errno == libc::ENOENT => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The ruleset generation: every committed nf_tables transaction, anyone's, raises it
    /// by one; a dump or a packet updating a dynamic set does not.
    pub fn generation(&mut self) -> Result<u32, ElementError> {
        let mut id = None;
        let request = |buf: &mut Vec<u8>, seq| put_generation_request(buf, seq);
        self.dump(TableObject::Generation, request, nftables_message_type(NFT_MSG_NEWGEN), |payload| {
            id = Some(generation_id(payload).map_err(|_| libc::EBADMSG)?);
            Ok(())
        })?;
        id.ok_or(ElementError { object: TableObject::Generation, errno: libc::EBADMSG })
    }

    /// How many transactions of ours the kernel committed since the last call: each raised
    /// the generation by one ([`NftNetlink::generation`]).
    pub fn take_commits(&mut self) -> u32 {
        core::mem::take(&mut self.commits)
    }

    /// Reads every element of `set` and hands each to `visit`.
    pub fn dump_set(&mut self, set: SetName, mut visit: impl FnMut(&DumpedElement<'_>)) -> Result<(), ElementError> {
        let request = |buf: &mut Vec<u8>, seq| put_set_dump_request(buf, seq, TABLE, set.as_str());
        self.dump(TableObject::Set(set), request, nftables_message_type(NFT_MSG_NEWSETELEM), |payload| {
            let elements = dumped_elements(payload).map_err(|_| libc::EBADMSG)?;
            elements.iter().for_each(&mut visit);
            Ok(())
        })
    }

    /// Reads the named counters of our table: `(name, packets, bytes)` each. A counter of
    /// another name (none today) is skipped.
    pub fn dump_counters(&mut self, mut visit: impl FnMut(CounterName, u64, u64)) -> Result<(), ElementError> {
        let request = |buf: &mut Vec<u8>, seq| put_counters_dump_request(buf, seq, TABLE);
        self.dump(TableObject::Counters, request, nftables_message_type(NFT_MSG_NEWOBJ), |payload| {
            if let Some(c) = dumped_counter(payload).map_err(|_| libc::EBADMSG)? {
                if let Some(name) = CounterName::from_name(c.name) {
                    visit(name, c.packets, c.bytes);
                }
            }
            Ok(())
        })
    }

    /// Sends a dump request and hands the payload of every answer of type `answer_type` to
    /// `read` until the kernel says done. `what` names the dump in errors.
    fn dump(
        &mut self,
        what: TableObject,
        request: impl FnOnce(&mut Vec<u8>, u32),
        answer_type: u16,
        mut read: impl FnMut(&[u8]) -> Result<(), i32>,
    ) -> Result<(), ElementError> {
        let seq = self.seq.take();
        self.send_buf.clear();
        request(&mut self.send_buf, seq);
        let (request, buf) = (&self.send_buf, &mut self.recv_buf);
        self.fd
            .dump(request, seq, buf, "nf_tables", |message| {
                if message.message_type == answer_type {
                    read(message.payload)?;
                }
                Ok(())
            })
            .map_err(|errno| ElementError { object: what, errno })
    }

    /// Sends `updates` as one transaction and waits for the kernel's answer to each message.
    fn transact(&mut self, updates: &[ElementUpdate]) -> Result<(), ElementError> {
        if updates.is_empty() {
            return Ok(());
        }
        // Per set, in the given order; sets independent of each other.
        let mut ordered: Vec<&ElementUpdate> = updates.iter().collect();
        ordered.sort_by_key(|u| u.set);
        self.send_buf.clear();
        let begin = self.seq.take();
        put_batch_begin(&mut self.send_buf, begin);
        let mut pending: Vec<(u32, SetName)> = Vec::new();
        let mut elements: Vec<SetElement> = Vec::with_capacity(MAX_ELEMENTS_PER_MESSAGE);
        let mut run: Option<(SetName, ElementOp)> = None;
        for update in ordered.iter().map(|u| Some(*u)).chain([None]) {
            let same = match (update, run) {
                (Some(u), Some((set, op))) => u.set == set && u.op == op && elements.len() < MAX_ELEMENTS_PER_MESSAGE,
                _ => false,
            };
            if !same {
                if let Some((set, op)) = run.take() {
                    let seq = self.seq.take();
                    // At most MAX_ELEMENTS_PER_MESSAGE by construction.
                    if put_set_elements(&mut self.send_buf, seq, op, TABLE, set.as_str(), &elements).is_ok() {
                        pending.push((seq, set));
                    }
                    elements.clear();
                }
                run = update.map(|u| (u.set, u.op));
            }
            if let Some(u) = update {
                elements.push(u.element);
            }
        }
        let end = self.seq.take();
        put_batch_end(&mut self.send_buf, end);
        let first = pending.first().map_or(TableObject::Table, |(_, set)| TableObject::Set(*set));
        let io_error = |e: io::Error| ElementError { object: first, errno: e.raw_os_error().unwrap_or(libc::EIO) };
        self.fd.send_all(&self.send_buf).map_err(io_error)?;
        let mut failure = None;
        while !pending.is_empty() {
            let len = self.fd.recv_reply(&mut self.recv_buf, REPLY_TIMEOUT_MS, "nf_tables").map_err(io_error)?;
            let Some(datagram) = self.recv_buf.get(..len) else {
                return Err(ElementError { object: first, errno: libc::EMSGSIZE });
            };
            for message in messages(datagram).flatten() {
                let Some(at) = pending.iter().position(|(seq, _)| *seq == message.seq) else { continue };
                let (_, set) = pending.swap_remove(at);
                let errno = message.error_code().filter(|_| message.message_type == NLMSG_ERROR);
                if let Some(errno) = errno.filter(|&e| e != 0) {
                    failure = failure.or(Some(ElementError { object: TableObject::Set(set), errno }));
                }
            }
        }
        // A batch with an error is aborted whole: only a clean one is committed.
        if failure.is_none() {
            self.commits = self.commits.wrapping_add(1);
        }
        failure.map_or(Ok(()), Err)
    }
}

fn is_removal(action: &Action) -> bool {
    matches!(action, Action::RemoveBinding(_) | Action::RemoveIkeNat(_) | Action::RemoveEspSession(_))
}

/// The element updates one engine action means (the same as `nft::render_action`).
fn updates_for(action: &Action) -> Vec<ElementUpdate> {
    let update = |set, op, key, value| ElementUpdate { set, op, element: SetElement { key, value, timeout: None } };
    match action {
        Action::InstallBinding(b) => vec![
            update(
                SetName::Bindings,
                ElementOp::Add,
                RegisterData::address(b.client),
                Some(RegisterData::address(b.nat)),
            ),
            update(SetName::BoundClients, ElementOp::Add, RegisterData::address(b.client), None),
        ],
        Action::RemoveBinding(b) => vec![
            update(SetName::Bindings, ElementOp::Delete, RegisterData::address(b.client), None),
            update(SetName::BoundClients, ElementOp::Delete, RegisterData::address(b.client), None),
        ],
        Action::InstallIkeNat(f) => vec![update(
            SetName::IkeNat,
            ElementOp::Add,
            RegisterData::udp_flow(f.client, f.client_port, f.server, f.server_port),
            Some(RegisterData::address_port(f.nat, f.nat_port)),
        )],
        Action::RemoveIkeNat(f) => vec![update(
            SetName::IkeNat,
            ElementOp::Delete,
            RegisterData::udp_flow(f.client, f.client_port, f.server, f.server_port),
            None,
        )],
        Action::InstallEspSession(s) => session_updates(ElementOp::Add, s),
        Action::RemoveEspSession(s) => session_updates(ElementOp::Delete, s),
    }
}

/// A session's rewrite element (map), and for outbound ones its key in the set the
/// prerouting test reads (inbound ones are tested by the map lookup itself).
fn session_updates(op: ElementOp, s: &EspSessionSpec) -> Vec<ElementUpdate> {
    let key = RegisterData::esp_key(s.key.src, s.key.dst, s.key.spi);
    let timeout = Some(s.idle_timeout);
    let rewrite = SetElement { key, value: Some(RegisterData::address(s.translated)), timeout };
    match s.key.direction {
        Direction::Outbound => vec![
            ElementUpdate { set: SetName::EspOut, op, element: rewrite },
            ElementUpdate { set: SetName::EspOutKeys, op, element: SetElement { key, value: None, timeout } },
        ],
        Direction::Inbound => vec![ElementUpdate { set: SetName::EspIn, op, element: rewrite }],
    }
}

fn refresh_updates(s: &EspSessionSpec) -> Vec<ElementUpdate> {
    let mut updates = session_updates(ElementOp::Delete, s);
    updates.extend(session_updates(ElementOp::Add, s));
    updates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{BindingSpec, IkeNatSpec, SessionKey};
    use crate::wire::Spi;
    use core::time::Duration;
    use std::net::Ipv4Addr;

    const C: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const S: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const N: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

    fn session(direction: Direction) -> EspSessionSpec {
        let (src, dst, translated) = match direction {
            Direction::Outbound => (C, S, N),
            Direction::Inbound => (S, N, C),
        };
        EspSessionSpec {
            key: SessionKey { direction, src, dst, spi: Spi(0x1234) },
            translated,
            idle_timeout: Duration::from_secs(1800),
        }
    }

    #[test]
    fn each_action_updates_the_sets_the_ruleset_reads() {
        let sets = |a: Action| updates_for(&a).iter().map(|u| (u.set, u.op)).collect::<Vec<_>>();
        let binding = BindingSpec { client: C, nat: N };
        assert_eq!(
            sets(Action::InstallBinding(binding)),
            [(SetName::Bindings, ElementOp::Add), (SetName::BoundClients, ElementOp::Add)]
        );
        assert_eq!(
            sets(Action::RemoveBinding(binding)),
            [(SetName::Bindings, ElementOp::Delete), (SetName::BoundClients, ElementOp::Delete)]
        );
        let flow = IkeNatSpec { client: C, client_port: 500, server: S, server_port: 500, nat: N, nat_port: 501 };
        let install = updates_for(&Action::InstallIkeNat(flow));
        assert_eq!(install[0].element.key, RegisterData::udp_flow(C, 500, S, 500));
        assert_eq!(install[0].element.value, Some(RegisterData::address_port(N, 501)));
        let out = updates_for(&Action::InstallEspSession(session(Direction::Outbound)));
        assert_eq!((out[0].set, out[1].set), (SetName::EspOut, SetName::EspOutKeys));
        assert_eq!(out[0].element.value, Some(RegisterData::address(N)));
        assert_eq!(out[1].element.value, None);
        assert_eq!(out[0].element.timeout, Some(Duration::from_secs(1800)));
        let inbound = updates_for(&Action::RemoveEspSession(session(Direction::Inbound)));
        assert_eq!((inbound[0].set, inbound[0].op), (SetName::EspIn, ElementOp::Delete));
        assert_eq!(inbound[0].element.key, RegisterData::esp_key(S, N, Spi(0x1234)));
    }

    #[test]
    fn a_refresh_deletes_then_adds_in_each_set() {
        let updates = refresh_updates(&session(Direction::Outbound));
        let shape: Vec<_> = updates.iter().map(|u| (u.set, u.op)).collect();
        assert_eq!(
            shape,
            [
                (SetName::EspOut, ElementOp::Delete),
                (SetName::EspOutKeys, ElementOp::Delete),
                (SetName::EspOut, ElementOp::Add),
                (SetName::EspOutKeys, ElementOp::Add)
            ]
        );
        // After the per-set ordering of a transaction, each set still sees delete, then add.
        let mut ordered = updates.clone();
        ordered.sort_by_key(|u| u.set);
        assert_eq!(
            ordered.iter().map(|u| u.op).collect::<Vec<_>>(),
            [ElementOp::Delete, ElementOp::Add, ElementOp::Delete, ElementOp::Add]
        );
        // Inbound sessions live in their map alone.
        let inbound: Vec<_> = refresh_updates(&session(Direction::Inbound)).iter().map(|u| (u.set, u.op)).collect();
        assert_eq!(inbound, [(SetName::EspIn, ElementOp::Delete), (SetName::EspIn, ElementOp::Add)]);
    }

    #[test]
    fn errors_read_as_one_line() {
        let e = ElementError { object: TableObject::Set(SetName::EspOut), errno: libc::ENFILE };
        assert!(e.to_string().starts_with("set esp_out: "), "{e}");
        assert!(e.to_string().ends_with("(set full: raise the session limit or wait for expiry)"));
        assert!(!e.to_string().contains('\n'));
    }
}
