//! Attaching the fast path to a device: the socket side of [`crate::netlink::tc`]. One
//! `NETLINK_ROUTE` socket adds the `clsact` qdisc (or shares one that is there), puts our
//! `bpf` filter at its ingress hook with `NLM_F_REPLACE` (so re-attaching swaps the program
//! atomically, with no moment without a filter), removes our filter again and dumps the
//! hook at our priority to see whether it is there.
//!
//! Read first: tc-bpf(8) and tc(8) for what the requests mean; the kernel side is
//! `net/sched/sch_api.c` (`tc_modify_qdisc`, `qdisc_create`) and `net/sched/cls_api.c`
//! (`tc_new_tfilter`, `tc_del_tfilter`, `tc_dump_tfilter`). Which errno means what is
//! [`classify`]'s, a pure function, so that it is tested without a kernel.
//!
//! We never remove the qdisc: clsact is shared, and another user's filters (at other
//! priorities) may hang off it. Our filter has a priority of its own
//! ([`tc::FILTER_PRIORITY`]), so removing it touches nothing else.

use crate::netlink::framing::{messages, NLMSG_ERROR};
use crate::netlink::tc::{self, decode_filter};
use crate::shell::netlink_socket::{NetlinkSocket, Sequence, NETLINK_ROUTE, REPLY_TIMEOUT_MS};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Large enough for any dump part the kernel builds.
const RECV_BUFFER: usize = 32 * 1024;
/// The OpenWrt package with `sch_ingress` (which provides clsact).
pub const KMOD_CLSACT: &str = "kmod-sched-core";
/// The OpenWrt package with `cls_bpf`.
pub const KMOD_CLS_BPF: &str = "kmod-sched-bpf";

/// Why attaching, detaching or looking failed.
#[derive(Debug)]
pub enum AttachError {
    /// The rtnetlink socket could not be opened, or a request could not be sent or got no
    /// readable answer.
    Socket(io::Error),
    /// There is no device with this index (ENODEV).
    NoDevice { ifindex: u32 },
    /// The kernel has no clsact qdisc (adding it said ENOENT, or EOPNOTSUPP when it has no
    /// traffic control at all): `sch_ingress` is missing.
    NoClsact { ifindex: u32, error: io::Error },
    /// The kernel has no `bpf` classifier (adding our filter said ENOENT, or EOPNOTSUPP
    /// when it has no classifiers at all): `cls_bpf` is missing.
    NoClsBpf { ifindex: u32, error: io::Error },
    /// Any other refusal, at `step`.
    Kernel { step: &'static str, ifindex: u32, error: io::Error },
}

impl AttachError {
    /// The OpenWrt package that would cure this error, when one would.
    pub fn kmod(&self) -> Option<&'static str> {
        match self {
            AttachError::NoClsact { .. } => Some(KMOD_CLSACT),
            AttachError::NoClsBpf { .. } => Some(KMOD_CLS_BPF),
            _ => None,
        }
    }
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::Socket(e) => write!(f, "rtnetlink (traffic control): {e}"),
            AttachError::NoDevice { ifindex } => write!(f, "no device with index {ifindex}"),
            AttachError::NoClsact { ifindex, error } => {
                write!(f, "device {ifindex}: this kernel has no clsact qdisc ({error}); install {KMOD_CLSACT}")
            }
            AttachError::NoClsBpf { ifindex, error } => {
                write!(f, "device {ifindex}: this kernel has no bpf classifier ({error}); install {KMOD_CLS_BPF}")
            }
            AttachError::Kernel { step, ifindex, error } => write!(f, "device {ifindex}: {step}: {error}"),
        }
    }
}

impl std::error::Error for AttachError {}

/// One request of ours, for classifying the kernel's answer to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    AddClsact,
    ReplaceFilter,
    DeleteFilter,
    DumpFilters,
}

impl Step {
    /// The step's words in an error.
    pub fn name(self) -> &'static str {
        match self {
            Step::AddClsact => "adding the clsact qdisc",
            Step::ReplaceFilter => "putting our bpf filter at ingress",
            Step::DeleteFilter => "removing our bpf filter",
            Step::DumpFilters => "listing the ingress filters",
        }
    }
}

/// What the kernel's answer to a step means when it is not an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done as asked.
    Done,
    /// Nothing was done because the wanted state was there already: a clsact (ours from
    /// before, or another user's, which we share), or no filter of ours to remove.
    AlreadyThere,
}

/// The meaning of `errno` (positive, 0 for an acknowledgement) in answer to `step` on
/// device `ifindex`:
///
/// - ENODEV from any step: `__dev_get_by_index` found no device.
/// - Adding clsact: EEXIST is a qdisc at `ffff:` already (we asked `NLM_F_EXCL`); ENOENT
///   is `qdisc_create` not knowing the kind even after `request_module("sch_clsact")`;
///   EOPNOTSUPP is rtnetlink without a handler for `RTM_NEWQDISC` (no `CONFIG_NET_SCHED`).
/// - Our filter: ENOENT is `tcf_proto_lookup_ops` not knowing `bpf` even after
///   `request_module("cls_bpf")` (we ask `NLM_F_CREATE`, so ENOENT has no other cause);
///   EOPNOTSUPP is no handler for `RTM_NEWTFILTER` (no `CONFIG_NET_CLS`).
/// - Removing it: ENOENT is no filter at our priority or handle; EINVAL is no qdisc at
///   `ffff:` ("Parent Qdisc doesn't exists"), or a filter at our priority of another kind
///   (someone else's, which we leave alone). Either way ours is not there.
pub fn classify(step: Step, ifindex: u32, errno: i32) -> Result<Outcome, AttachError> {
    let error = || io::Error::from_raw_os_error(errno);
    match (step, errno) {
        (_, 0) => Ok(Outcome::Done),
        (_, libc::ENODEV) => Err(AttachError::NoDevice { ifindex }),
        (Step::AddClsact, libc::EEXIST) => Ok(Outcome::AlreadyThere),
        (Step::AddClsact, libc::ENOENT | libc::EOPNOTSUPP) => Err(AttachError::NoClsact { ifindex, error: error() }),
        (Step::ReplaceFilter, libc::ENOENT | libc::EOPNOTSUPP) => {
            Err(AttachError::NoClsBpf { ifindex, error: error() })
        }
        (Step::DeleteFilter, libc::ENOENT | libc::EINVAL) => Ok(Outcome::AlreadyThere),
        _ => Err(AttachError::Kernel { step: step.name(), ifindex, error: error() }),
    }
}

/// One rtnetlink socket for traffic control requests.
#[derive(Debug)]
pub struct TcAttacher {
    socket: NetlinkSocket,
    seq: Sequence,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
}

impl TcAttacher {
    /// Opens the socket.
    pub fn open() -> Result<TcAttacher, AttachError> {
        let mut socket = NetlinkSocket::open(NETLINK_ROUTE).map_err(AttachError::Socket)?;
        socket.bind(0).map_err(AttachError::Socket)?;
        // Error answers echo only the request's header.
        let _ = socket.set_cap_ack();
        Ok(TcAttacher { socket, seq: Sequence::default(), send_buf: Vec::new(), recv_buf: vec![0; RECV_BUFFER] })
    }

    /// Adds clsact on `ifindex` (EEXIST is fine: another user's clsact is shared) and puts
    /// our filter at its ingress (a replace: re-attaching swaps the program atomically).
    pub fn attach(&mut self, ifindex: u32, program: BorrowedFd<'_>) -> Result<(), AttachError> {
        self.request(Step::AddClsact, ifindex, |buf, seq| tc::put_clsact_add(buf, seq, ifindex))?;
        // A descriptor is never negative; the kernel reads TCA_BPF_FD as a u32.
        let program_fd = program.as_raw_fd().unsigned_abs();
        self.request(Step::ReplaceFilter, ifindex, |buf, seq| tc::put_filter_replace(buf, seq, ifindex, program_fd))?;
        Ok(())
    }

    /// Removes our filter only (never the qdisc: others may use clsact). `Ok(false)` if it
    /// was not there (ENOENT, or EINVAL when there is no clsact at all).
    pub fn detach(&mut self, ifindex: u32) -> Result<bool, AttachError> {
        let outcome = self.request(Step::DeleteFilter, ifindex, |buf, seq| tc::put_filter_delete(buf, seq, ifindex))?;
        Ok(outcome == Outcome::Done)
    }

    /// Whether our filter is at `ifindex`'s clsact ingress (a dump by our priority). The
    /// kernel answers a dump for a missing device or hook with nothing, so that is `false`.
    pub fn is_attached(&mut self, ifindex: u32) -> Result<bool, AttachError> {
        let seq = self.seq.take();
        self.send_buf.clear();
        tc::put_filter_dump(&mut self.send_buf, seq, ifindex);
        let mut found = false;
        let (request, buf) = (&self.send_buf, &mut self.recv_buf);
        self.socket
            .dump(request, seq, buf, "rtnetlink", |message| {
                // The first answer per priority is the classifier itself (handle 0, no
                // options); our filter is the one after it.
                let filter = decode_filter(message).map_err(|_| libc::EBADMSG)?;
                found |= filter.is_some_and(|f| f.is_ours() && f.ifindex == ifindex);
                Ok(())
            })
            .map_err(|errno| {
                // The dump's errno is never 0, so `classify` always has an error to give.
                let kernel = || AttachError::Kernel {
                    step: Step::DumpFilters.name(),
                    ifindex,
                    error: io::Error::from_raw_os_error(errno),
                };
                classify(Step::DumpFilters, ifindex, errno).err().unwrap_or_else(kernel)
            })?;
        Ok(found)
    }

    /// Sends the one message `put` builds and waits for the kernel's acknowledgement.
    fn request(
        &mut self,
        step: Step,
        ifindex: u32,
        put: impl FnOnce(&mut Vec<u8>, u32),
    ) -> Result<Outcome, AttachError> {
        let seq = self.seq.take();
        self.send_buf.clear();
        put(&mut self.send_buf, seq);
        self.socket.send_all(&self.send_buf).map_err(AttachError::Socket)?;
        loop {
            let len = self
                .socket
                .recv_reply(&mut self.recv_buf, REPLY_TIMEOUT_MS, "rtnetlink")
                .map_err(AttachError::Socket)?;
            let datagram =
                self.recv_buf.get(..len).ok_or(AttachError::Socket(io::Error::from_raw_os_error(libc::EMSGSIZE)))?;
            for message in messages(datagram) {
                let message = message.map_err(|_| AttachError::Socket(io::ErrorKind::InvalidData.into()))?;
                if message.seq != seq || message.message_type != NLMSG_ERROR {
                    continue; // a late answer to an earlier request
                }
                let errno = message.error_code().ok_or(AttachError::Socket(io::ErrorKind::InvalidData.into()))?;
                return classify(step, ifindex, errno);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(result: Result<Outcome, AttachError>) -> String {
        match result {
            Ok(outcome) => format!("{outcome:?}"),
            Err(AttachError::NoDevice { ifindex }) => format!("NoDevice {ifindex}"),
            Err(AttachError::NoClsact { ifindex, .. }) => format!("NoClsact {ifindex}"),
            Err(AttachError::NoClsBpf { ifindex, .. }) => format!("NoClsBpf {ifindex}"),
            Err(AttachError::Kernel { step, ifindex, .. }) => format!("Kernel {ifindex} {step}"),
            Err(AttachError::Socket(e)) => format!("Socket {e}"),
        }
    }

    #[test]
    fn an_acknowledgement_is_done_at_every_step() {
        for step in [Step::AddClsact, Step::ReplaceFilter, Step::DeleteFilter, Step::DumpFilters] {
            assert_eq!(kind(classify(step, 3, 0)), "Done", "{step:?}");
        }
    }

    #[test]
    fn a_missing_device_is_no_device_at_every_step() {
        for step in [Step::AddClsact, Step::ReplaceFilter, Step::DeleteFilter, Step::DumpFilters] {
            assert_eq!(kind(classify(step, 9, libc::ENODEV)), "NoDevice 9", "{step:?}");
        }
    }

    #[test]
    fn adding_clsact_shares_one_that_is_there_and_names_a_missing_module() {
        assert_eq!(kind(classify(Step::AddClsact, 3, libc::EEXIST)), "AlreadyThere");
        assert_eq!(kind(classify(Step::AddClsact, 3, libc::ENOENT)), "NoClsact 3");
        assert_eq!(kind(classify(Step::AddClsact, 3, libc::EOPNOTSUPP)), "NoClsact 3");
        assert_eq!(kind(classify(Step::AddClsact, 3, libc::EPERM)), "Kernel 3 adding the clsact qdisc");
    }

    #[test]
    fn our_filter_names_a_missing_classifier_and_keeps_other_refusals() {
        assert_eq!(kind(classify(Step::ReplaceFilter, 4, libc::ENOENT)), "NoClsBpf 4");
        assert_eq!(kind(classify(Step::ReplaceFilter, 4, libc::EOPNOTSUPP)), "NoClsBpf 4");
        // EEXIST is not "already there" for a replace: it cannot happen, so it is an error.
        assert_eq!(kind(classify(Step::ReplaceFilter, 4, libc::EEXIST)), "Kernel 4 putting our bpf filter at ingress");
        // EINVAL: not a SCHED_CLS program, or another user's filter at our priority.
        assert_eq!(kind(classify(Step::ReplaceFilter, 4, libc::EINVAL)), "Kernel 4 putting our bpf filter at ingress");
    }

    #[test]
    fn removing_a_filter_that_is_not_there_is_not_an_error() {
        assert_eq!(kind(classify(Step::DeleteFilter, 5, libc::ENOENT)), "AlreadyThere");
        assert_eq!(kind(classify(Step::DeleteFilter, 5, libc::EINVAL)), "AlreadyThere");
        assert_eq!(kind(classify(Step::DeleteFilter, 5, libc::EPERM)), "Kernel 5 removing our bpf filter");
        // A missing module is not the remover's business: no kmod advice on removal.
        assert_eq!(kind(classify(Step::DeleteFilter, 5, libc::EOPNOTSUPP)), "Kernel 5 removing our bpf filter");
    }

    #[test]
    fn errors_name_the_device_and_the_package_to_install() {
        let error = || io::Error::from_raw_os_error(libc::ENOENT);
        let no_clsact = AttachError::NoClsact { ifindex: 7, error: error() };
        assert_eq!(no_clsact.kmod(), Some("kmod-sched-core"));
        let text = no_clsact.to_string();
        assert!(
            text.starts_with("device 7: this kernel has no clsact qdisc (")
                && text.ends_with("); install kmod-sched-core"),
            "{text}"
        );
        let no_cls_bpf = AttachError::NoClsBpf { ifindex: 7, error: error() };
        assert_eq!(no_cls_bpf.kmod(), Some("kmod-sched-bpf"));
        assert!(no_cls_bpf.to_string().ends_with("install kmod-sched-bpf"), "{no_cls_bpf}");
        let kernel = classify(Step::ReplaceFilter, 7, libc::EPERM).unwrap_err();
        assert_eq!(kernel.kmod(), None);
        assert!(kernel.to_string().starts_with("device 7: putting our bpf filter at ingress: "), "{kernel}");
        assert_eq!(AttachError::NoDevice { ifindex: 12 }.to_string(), "no device with index 12");
        assert!(!format!("{}", AttachError::Socket(error())).contains('\n'));
    }
}
