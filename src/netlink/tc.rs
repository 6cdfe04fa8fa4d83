//! rtnetlink traffic control: the `clsact` qdisc and our `bpf` classifier at its ingress
//! hook, as pure builders and a parser of filter dumps. The socket side is
//! [`crate::bpf::attach`].
//!
//! Read first, in the kernel's uapi headers: `linux/rtnetlink.h` (`RTM_*QDISC`,
//! `RTM_*TFILTER`, `struct tcmsg`, `TCA_KIND`, `TCA_OPTIONS`), `linux/pkt_sched.h`
//! (`TC_H_*`) and `linux/pkt_cls.h` (`TCA_BPF_*`); the kernel side is `net/sched/cls_api.c`
//! (`tc_new_tfilter`, `tc_dump_tfilter`) and `net/sched/cls_bpf.c`.
//!
//! Byte order: `struct tcmsg` and the `TCA_BPF_FD`/`TCA_BPF_FLAGS` payloads are host
//! order, except the protocol in the low half of `tcm_info`, which is network order
//! (`htons(ETH_P_IP)`), as tc(8) writes it.

use super::framing::{
    attributes, begin_message, begin_nested, end_nested, finish_message, put_attribute, NetlinkError, NetlinkMessage,
    AF_UNSPEC, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST,
};
use crate::bytes::ne_u32;

/// `RTM_NEWQDISC`.
pub const RTM_NEWQDISC: u16 = 36;
/// `RTM_NEWTFILTER`: also each answer of a filter dump.
pub const RTM_NEWTFILTER: u16 = 44;
/// `RTM_DELTFILTER`.
pub const RTM_DELTFILTER: u16 = 45;
/// `RTM_GETTFILTER`.
pub const RTM_GETTFILTER: u16 = 46;
/// `TCA_KIND`: the qdisc's or classifier's name, NUL-terminated.
pub const TCA_KIND: u16 = 1;
/// `TCA_OPTIONS`: the kind's own attributes, nested.
pub const TCA_OPTIONS: u16 = 2;
/// `TCA_BPF_FD`: the program to attach.
pub const TCA_BPF_FD: u16 = 6;
/// `TCA_BPF_NAME`: a name tc shows next to the program.
pub const TCA_BPF_NAME: u16 = 7;
/// `TCA_BPF_FLAGS`.
pub const TCA_BPF_FLAGS: u16 = 8;
/// `TCA_BPF_FLAG_ACT_DIRECT`: the program's return value is the action (direct-action).
pub const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
/// `TC_H_CLSACT` (the same value as `TC_H_INGRESS`).
pub const TC_H_CLSACT: u32 = 0xffff_fff1;
/// `TC_H_MIN_INGRESS`.
pub const TC_H_MIN_INGRESS: u32 = 0xfff2;
/// `ETH_P_IP`.
pub const ETH_P_IP: u16 = 0x0800;
/// `sizeof(struct tcmsg)`: `u8 family, pad1; u16 pad2; i32 ifindex; u32 handle, parent, info`.
pub const TCMSG_LEN: usize = 20;

/// The clsact qdisc's handle, `ffff:`.
pub const CLSACT_HANDLE: u32 = 0xffff_0000;
/// Our filter's parent: clsact's ingress hook, `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)`.
pub const INGRESS_PARENT: u32 = tc_h_make(TC_H_CLSACT, TC_H_MIN_INGRESS);
/// Our filter's priority, our own so we never meet another's filter.
pub const FILTER_PRIORITY: u16 = 0xa1e;
/// Our filter's handle.
pub const FILTER_HANDLE: u32 = 1;
/// Our filter's `TCA_BPF_NAME`.
pub const FILTER_NAME: &str = "ike_esp_alg";

/// `TC_H_MAKE`: a major number's top half and a minor number's bottom half.
pub const fn tc_h_make(major: u32, minor: u32) -> u32 {
    (major & 0xffff_0000) | (minor & 0x0000_ffff)
}

/// `tcm_info` of our filter: priority on top, `htons(ETH_P_IP)` below.
fn filter_info() -> u32 {
    (u32::from(FILTER_PRIORITY) << 16) | u32::from(u16::from_ne_bytes(ETH_P_IP.to_be_bytes()))
}

fn put_tcmsg(buf: &mut Vec<u8>, ifindex: u32, handle: u32, parent: u32, info: u32) {
    buf.extend_from_slice(&[AF_UNSPEC, 0, 0, 0]);
    for field in [ifindex, handle, parent, info] {
        buf.extend_from_slice(&field.to_ne_bytes());
    }
}

/// Appends `tc qdisc add dev IFINDEX clsact` (EEXIST if one is there).
pub fn put_clsact_add(buf: &mut Vec<u8>, seq: u32, ifindex: u32) {
    let start = begin_message(buf, RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
    put_tcmsg(buf, ifindex, CLSACT_HANDLE, TC_H_CLSACT, 0);
    put_attribute(buf, TCA_KIND, b"clsact\0");
    finish_message(buf, start);
}

/// Appends `tc filter replace dev IFINDEX ingress prio 0xa1e handle 1 protocol ip bpf fd
/// PROGRAM name ike_esp_alg direct-action`.
pub fn put_filter_replace(buf: &mut Vec<u8>, seq: u32, ifindex: u32, program_fd: u32) {
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    let start = begin_message(buf, RTM_NEWTFILTER, flags, seq);
    put_tcmsg(buf, ifindex, FILTER_HANDLE, INGRESS_PARENT, filter_info());
    put_attribute(buf, TCA_KIND, b"bpf\0");
    let options = begin_nested(buf, TCA_OPTIONS);
    put_attribute(buf, TCA_BPF_FD, &program_fd.to_ne_bytes());
    let mut name = FILTER_NAME.as_bytes().to_vec();
    name.push(0);
    put_attribute(buf, TCA_BPF_NAME, &name);
    put_attribute(buf, TCA_BPF_FLAGS, &TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes());
    end_nested(buf, options);
    finish_message(buf, start);
}

/// Appends the removal of our filter (ENOENT if it is not there).
pub fn put_filter_delete(buf: &mut Vec<u8>, seq: u32, ifindex: u32) {
    let start = begin_message(buf, RTM_DELTFILTER, NLM_F_REQUEST | NLM_F_ACK, seq);
    put_tcmsg(buf, ifindex, FILTER_HANDLE, INGRESS_PARENT, filter_info());
    put_attribute(buf, TCA_KIND, b"bpf\0");
    finish_message(buf, start);
}

/// Appends a dump of the device's ingress filters at our priority.
pub fn put_filter_dump(buf: &mut Vec<u8>, seq: u32, ifindex: u32) {
    let start = begin_message(buf, RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, seq);
    put_tcmsg(buf, ifindex, 0, INGRESS_PARENT, u32::from(FILTER_PRIORITY) << 16);
    finish_message(buf, start);
}

/// One filter from a dump answer: where it is and what it says of itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcFilter {
    pub ifindex: u32,
    pub parent: u32,
    pub priority: u16,
    pub handle: u32,
    /// `TCA_KIND`, without its NUL.
    pub kind: Vec<u8>,
    /// `TCA_BPF_NAME` inside `TCA_OPTIONS`, without its NUL.
    pub bpf_name: Option<Vec<u8>>,
}

impl TcFilter {
    /// Our filter: kind `bpf`, our name, our priority, handle and parent.
    pub fn is_ours(&self) -> bool {
        self.kind == b"bpf"
            && self.bpf_name.as_deref() == Some(FILTER_NAME.as_bytes())
            && self.priority == FILTER_PRIORITY
            && self.handle == FILTER_HANDLE
            && self.parent == INGRESS_PARENT
    }
}

/// Decodes an `RTM_NEWTFILTER` dump answer; `None` for other messages.
pub fn decode_filter(message: &NetlinkMessage<'_>) -> Result<Option<TcFilter>, NetlinkError> {
    if message.message_type != RTM_NEWTFILTER {
        return Ok(None);
    }
    let header = message.payload.get(..TCMSG_LEN).ok_or(NetlinkError::Truncated)?;
    let field = |at: usize| ne_u32(header, at).ok_or(NetlinkError::Truncated);
    let mut filter = TcFilter {
        ifindex: field(4)?,
        handle: field(8)?,
        parent: field(12)?,
        priority: (field(16)? >> 16) as u16,
        kind: Vec::new(),
        bpf_name: None,
    };
    let text = |data: &[u8]| data.split(|&b| b == 0).next().unwrap_or_default().to_vec();
    for attribute in attributes(message.payload.get(TCMSG_LEN..).unwrap_or_default()) {
        let (kind, data) = attribute?;
        match kind {
            TCA_KIND => filter.kind = text(data),
            TCA_OPTIONS => {
                for inner in attributes(data) {
                    let (inner_kind, inner_data) = inner?;
                    if inner_kind == TCA_BPF_NAME {
                        filter.bpf_name = Some(text(inner_data));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Some(filter))
}

#[cfg(test)]
mod tests {
    use super::super::framing::messages;
    use super::*;

    fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_attribute(&mut out, kind, data);
        out
    }

    #[test]
    fn filter_replace_is_what_tc_filter_replace_sends() {
        let mut buf = Vec::new();
        put_filter_replace(&mut buf, 3, 7, 42);
        let m = messages(&buf).next().and_then(Result::ok).unwrap_or_else(|| panic!("one message"));
        assert_eq!(m.message_type, RTM_NEWTFILTER);
        assert_eq!(m.flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
        let mut body = vec![0, 0, 0, 0];
        for f in [7u32, 1, 0xffff_fff2, (0xa1e << 16) | u32::from(u16::from_ne_bytes([0x08, 0x00]))] {
            body.extend_from_slice(&f.to_ne_bytes());
        }
        body.extend(attr(TCA_KIND, b"bpf\0"));
        let inner = [
            attr(TCA_BPF_FD, &42u32.to_ne_bytes()),
            attr(TCA_BPF_NAME, b"ike_esp_alg\0"),
            attr(TCA_BPF_FLAGS, &1u32.to_ne_bytes()),
        ]
        .concat();
        assert_eq!(inner.len(), 8 + 16 + 8, "the 12-byte name is padded to 16");
        body.extend(attr(TCA_OPTIONS | 0x8000, &inner));
        assert_eq!(m.payload, &body[..]);
    }

    #[test]
    fn clsact_add_and_the_dump_request_name_the_device_and_the_hook() {
        let mut buf = Vec::new();
        put_clsact_add(&mut buf, 1, 9);
        put_filter_dump(&mut buf, 2, 9);
        let all: Vec<_> = messages(&buf).filter_map(Result::ok).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].message_type, RTM_NEWQDISC);
        assert_eq!(all[0].flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        let mut qdisc = vec![0, 0, 0, 0];
        for f in [9u32, 0xffff_0000, 0xffff_fff1, 0] {
            qdisc.extend_from_slice(&f.to_ne_bytes());
        }
        qdisc.extend(attr(TCA_KIND, b"clsact\0"));
        assert_eq!(all[0].payload, &qdisc[..]);
        assert_eq!((all[1].message_type, all[1].flags), (RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP));
        assert_eq!(all[1].payload.len(), TCMSG_LEN);
        assert_eq!(&all[1].payload[12..16], &0xffff_fff2u32.to_ne_bytes());
    }

    #[test]
    fn a_dump_answer_of_our_filter_is_ours_and_another_is_not() {
        let mut buf = Vec::new();
        put_filter_replace(&mut buf, 3, 7, 42);
        let mut answer = buf.clone();
        answer[4..6].copy_from_slice(&RTM_NEWTFILTER.to_ne_bytes());
        let m = messages(&answer).next().and_then(Result::ok).unwrap_or_else(|| panic!("one message"));
        let filter = decode_filter(&m).ok().flatten().unwrap_or_else(|| panic!("a filter"));
        assert_eq!(filter.ifindex, 7);
        assert!(filter.is_ours(), "{filter:?}");
        let other = TcFilter { bpf_name: Some(b"other".to_vec()), ..filter.clone() };
        assert!(!other.is_ours());
        assert!(!TcFilter { priority: 1, ..filter }.is_ours());
    }
}
