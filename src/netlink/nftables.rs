//! nf_tables set-element messages: adding and deleting elements of our sets and maps in
//! one nfnetlink batch, and reading a set back with a `GETSETELEM` dump. Pure codec, no
//! syscalls; [`crate::shell::nft_netlink`] owns the socket.
//!
//! Read first, in the kernel's uapi headers: `linux/netfilter/nfnetlink.h` (batches:
//! `NFNL_MSG_BATCH_BEGIN`/`END`, `res_id` = the subsystem) and `linux/netfilter/nf_tables.h`
//! (`NFT_MSG_*SETELEM`, `nft_set_elem_list_attributes`, `nft_set_elem_attributes`,
//! `nft_data_attributes`, `nft_counter_attributes`). The kernel side is
//! `net/netfilter/nf_tables_api.c` (`nf_tables_newsetelem`, `nf_tables_fill_setelem`).
//!
//! This is what `nft add element` sends, without a process per update: the daemon installs
//! every session the engine learns through one long-lived socket.
//!
//! Keys and values are nft registers laid end to end: every field takes a multiple of four
//! bytes, so a port (two bytes, network order) is followed by two zero bytes. The layouts
//! below match the `typeof` declarations of [`crate::shell::nft`]'s ruleset:
//! `ip saddr . ip daddr . esp spi` is 12 bytes, `ip saddr . udp sport . ip daddr . udp dport`
//! is 16, `ip saddr . udp sport` is 8, `ip saddr` is 4. Byte order as in
//! [`super::framing`]: framing in host order, attribute payloads in network order.

use super::framing::{
    attributes, begin_nested, begin_nfnl_message, end_nested, finish_message, put_attribute, EncodeError, NetlinkError,
    AF_INET, AF_UNSPEC, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST,
};
use crate::bytes::{be_u32, be_u64};
use crate::wire::Spi;
use core::time::Duration;
use std::net::Ipv4Addr;

// --- linux/netfilter/nfnetlink.h and linux/netlink.h -----------------------------------

/// `NFNL_SUBSYS_NFTABLES`.
pub const NFNL_SUBSYS_NFTABLES: u8 = 10;
/// `NFNL_MSG_BATCH_BEGIN` (`NLMSG_MIN_TYPE`): opens a transaction.
pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
/// `NFNL_MSG_BATCH_END`: commits it.
pub const NFNL_MSG_BATCH_END: u16 = 0x11;
pub use super::framing::NLA_F_NESTED;

// --- linux/netfilter/nf_tables.h ---------------------------------------------------------

/// `NFT_MSG_NEWTABLE`: how the kernel answers a `GETTABLE`.
pub const NFT_MSG_NEWTABLE: u8 = 0;
/// `NFT_MSG_GETTABLE`.
pub const NFT_MSG_GETTABLE: u8 = 1;
/// `NFTA_TABLE_NAME` (string).
pub const NFTA_TABLE_NAME: u16 = 1;
/// `NFT_MSG_NEWSETELEM`.
pub const NFT_MSG_NEWSETELEM: u8 = 12;
/// `NFT_MSG_GETSETELEM`.
pub const NFT_MSG_GETSETELEM: u8 = 13;
/// `NFT_MSG_DELSETELEM`.
pub const NFT_MSG_DELSETELEM: u8 = 14;
/// `NFT_MSG_NEWOBJ`: how the kernel answers a `GETOBJ` dump, one message per object.
pub const NFT_MSG_NEWOBJ: u8 = 18;
/// `NFT_MSG_NEWGEN`: the ruleset generation, the answer to `NFT_MSG_GETGEN`.
pub const NFT_MSG_NEWGEN: u8 = 15;
/// `NFT_MSG_GETGEN`.
pub const NFT_MSG_GETGEN: u8 = 16;
/// `NFTA_GEN_ID`: the generation number, which every committed transaction raises by one.
pub const NFTA_GEN_ID: u16 = 1;
/// `NFT_MSG_GETOBJ`.
pub const NFT_MSG_GETOBJ: u8 = 19;
/// `NFTA_OBJ_TABLE` (string).
pub const NFTA_OBJ_TABLE: u16 = 1;
/// `NFTA_OBJ_NAME` (string).
pub const NFTA_OBJ_NAME: u16 = 2;
/// `NFTA_OBJ_TYPE` (u32, network order).
pub const NFTA_OBJ_TYPE: u16 = 3;
/// `NFTA_OBJ_DATA` (nested, per object type).
pub const NFTA_OBJ_DATA: u16 = 4;
/// `NFT_OBJECT_COUNTER`: a named counter.
pub const NFT_OBJECT_COUNTER: u32 = 1;
/// `NFTA_LIST_ELEM`.
pub const NFTA_LIST_ELEM: u16 = 1;
/// `NFTA_SET_ELEM_LIST_TABLE` (string).
pub const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
/// `NFTA_SET_ELEM_LIST_SET` (string).
pub const NFTA_SET_ELEM_LIST_SET: u16 = 2;
/// `NFTA_SET_ELEM_LIST_ELEMENTS` (nested list of elements).
pub const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
/// `NFTA_SET_ELEM_KEY` (nested `nft_data`).
pub const NFTA_SET_ELEM_KEY: u16 = 1;
/// `NFTA_SET_ELEM_DATA` (nested `nft_data`): a map element's value.
pub const NFTA_SET_ELEM_DATA: u16 = 2;
/// `NFTA_SET_ELEM_TIMEOUT` (u64, milliseconds, network order).
pub const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
/// `NFTA_SET_ELEM_EXPIRATION` (u64, milliseconds left, network order).
pub const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
/// `NFTA_SET_ELEM_EXPR`: the element's one expression (here: its counter).
pub const NFTA_SET_ELEM_EXPR: u16 = 7;
/// `NFTA_SET_ELEM_EXPRESSIONS`: a list of expressions, when a set has several.
pub const NFTA_SET_ELEM_EXPRESSIONS: u16 = 11;
/// `NFTA_DATA_VALUE`: plain bytes.
pub const NFTA_DATA_VALUE: u16 = 1;
/// `NFTA_EXPR_NAME` (string).
pub const NFTA_EXPR_NAME: u16 = 1;
/// `NFTA_EXPR_DATA` (nested, per expression).
pub const NFTA_EXPR_DATA: u16 = 2;
/// `NFTA_COUNTER_BYTES` (u64, network order).
pub const NFTA_COUNTER_BYTES: u16 = 1;
/// `NFTA_COUNTER_PACKETS` (u64, network order).
pub const NFTA_COUNTER_PACKETS: u16 = 2;

/// At most this many elements go into one message, which keeps every nested attribute far
/// below the 64 KiB an `nla_len` can count (an element takes at most 64 bytes here).
pub const MAX_ELEMENTS_PER_MESSAGE: usize = 512;

/// The netlink message type of an nf_tables message: subsystem in the high byte.
pub const fn nftables_message_type(message: u8) -> u16 {
    ((NFNL_SUBSYS_NFTABLES as u16) << 8) | message as u16
}

/// A key or value: nft registers, each field padded to four bytes. At most 16 bytes (four
/// registers), which covers every set and map of our table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegisterData {
    len: u8,
    bytes: [u8; 16],
}

impl RegisterData {
    /// `ip saddr` (or any one IPv4 address).
    pub fn address(a: Ipv4Addr) -> RegisterData {
        RegisterData::from_fields(&[Field::Address(a)])
    }

    /// `ip saddr . ip daddr . esp spi`: one ESP SA as our sessions key it.
    pub fn esp_key(src: Ipv4Addr, dst: Ipv4Addr, spi: Spi) -> RegisterData {
        RegisterData::from_fields(&[Field::Address(src), Field::Address(dst), Field::Word(spi.0)])
    }

    /// `ip saddr . udp sport`: an address and a port.
    pub fn address_port(a: Ipv4Addr, port: u16) -> RegisterData {
        RegisterData::from_fields(&[Field::Address(a), Field::Port(port)])
    }

    /// `ip saddr . udp sport . ip daddr . udp dport`: one UDP flow.
    pub fn udp_flow(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> RegisterData {
        RegisterData::from_fields(&[Field::Address(src), Field::Port(sport), Field::Address(dst), Field::Port(dport)])
    }

    fn from_fields(fields: &[Field]) -> RegisterData {
        let mut data = RegisterData { len: 0, bytes: [0; 16] };
        for field in fields.iter().take(4) {
            let register: [u8; 4] = match *field {
                Field::Address(a) => a.octets(),
                Field::Word(w) => w.to_be_bytes(),
                Field::Port(p) => {
                    let [hi, lo] = p.to_be_bytes();
                    [hi, lo, 0, 0]
                }
            };
            let at = usize::from(data.len);
            if let Some(slot) = data.bytes.get_mut(at..at + 4) {
                slot.copy_from_slice(&register);
                data.len += 4;
            }
        }
        data
    }

    /// The bytes as the kernel stores them.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl core::fmt::Debug for RegisterData {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, b) in self.as_bytes().iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

enum Field {
    Address(Ipv4Addr),
    Word(u32),
    Port(u16),
}

/// One element to add or delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetElement {
    pub key: RegisterData,
    /// A map element's value; `None` for sets (and for deletes, where it is not sent).
    pub value: Option<RegisterData>,
    /// The element's own timeout; `None` leaves the set's default.
    pub timeout: Option<Duration>,
}

/// Adding (or refreshing) elements, or deleting them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ElementOp {
    Add,
    Delete,
}

/// Appends `NFNL_MSG_BATCH_BEGIN` for nf_tables: what follows, up to the batch end, is one
/// transaction that applies entirely or not at all.
pub fn put_batch_begin(buf: &mut Vec<u8>, seq: u32) {
    let start =
        begin_nfnl_message(buf, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, AF_UNSPEC, u16::from(NFNL_SUBSYS_NFTABLES));
    finish_message(buf, start);
}

/// Appends `NFNL_MSG_BATCH_END`: the kernel commits the transaction.
pub fn put_batch_end(buf: &mut Vec<u8>, seq: u32) {
    let start =
        begin_nfnl_message(buf, NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq, AF_UNSPEC, u16::from(NFNL_SUBSYS_NFTABLES));
    finish_message(buf, start);
}

/// Appends one `NFT_MSG_NEWSETELEM` or `NFT_MSG_DELSETELEM` for `elements` of `set` in the
/// `ip` table `table`, with `NLM_F_ACK` so that the kernel answers for it either way.
pub fn put_set_elements(
    buf: &mut Vec<u8>,
    seq: u32,
    op: ElementOp,
    table: &str,
    set: &str,
    elements: &[SetElement],
) -> Result<(), EncodeError> {
    if elements.len() > MAX_ELEMENTS_PER_MESSAGE {
        return Err(EncodeError::PayloadTooLarge);
    }
    let (message, flags) = match op {
        ElementOp::Add => (NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE),
        ElementOp::Delete => (NFT_MSG_DELSETELEM, NLM_F_REQUEST | NLM_F_ACK),
    };
    let start = begin_nfnl_message(buf, nftables_message_type(message), flags, seq, AF_INET, 0);
    put_string(buf, NFTA_SET_ELEM_LIST_TABLE, table);
    put_string(buf, NFTA_SET_ELEM_LIST_SET, set);
    let list = begin_nested(buf, NFTA_SET_ELEM_LIST_ELEMENTS);
    for element in elements {
        let item = begin_nested(buf, NFTA_LIST_ELEM);
        put_data(buf, NFTA_SET_ELEM_KEY, element.key.as_bytes());
        if op == ElementOp::Add {
            if let Some(value) = &element.value {
                put_data(buf, NFTA_SET_ELEM_DATA, value.as_bytes());
            }
            if let Some(timeout) = element.timeout {
                let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
                put_attribute(buf, NFTA_SET_ELEM_TIMEOUT, &ms.to_be_bytes());
            }
        }
        end_nested(buf, item);
    }
    end_nested(buf, list);
    finish_message(buf, start);
    Ok(())
}

/// Appends a `NFT_MSG_GETSETELEM` dump request for every element of `set`.
pub fn put_set_dump_request(buf: &mut Vec<u8>, seq: u32, table: &str, set: &str) {
    let start =
        begin_nfnl_message(buf, nftables_message_type(NFT_MSG_GETSETELEM), NLM_F_REQUEST | NLM_F_DUMP, seq, AF_INET, 0);
    put_string(buf, NFTA_SET_ELEM_LIST_TABLE, table);
    put_string(buf, NFTA_SET_ELEM_LIST_SET, set);
    finish_message(buf, start);
}

/// Appends a `NFT_MSG_GETTABLE` request for the `ip` table `table`, with `NLM_F_ACK`: the
/// kernel answers with the table and an ACK, or with `ENOENT` when no such table exists.
pub fn put_table_get_request(buf: &mut Vec<u8>, seq: u32, table: &str) {
    let start =
        begin_nfnl_message(buf, nftables_message_type(NFT_MSG_GETTABLE), NLM_F_REQUEST | NLM_F_ACK, seq, AF_INET, 0);
    put_string(buf, NFTA_TABLE_NAME, table);
    finish_message(buf, start);
}

/// Appends a `NFT_MSG_GETGEN` request, with `NLM_F_ACK`: the kernel answers with
/// `NFT_MSG_NEWGEN` and an ACK.
pub fn put_generation_request(buf: &mut Vec<u8>, seq: u32) {
    let start = begin_nfnl_message(buf, nftables_message_type(NFT_MSG_GETGEN), NLM_F_REQUEST | NLM_F_ACK, seq, 0, 0);
    finish_message(buf, start);
}

/// The generation number in the payload of a `NFT_MSG_NEWGEN` message.
pub fn generation_id(payload: &[u8]) -> Result<u32, NetlinkError> {
    let attrs = payload.get(4..).ok_or(NetlinkError::Truncated)?; // after nfgenmsg
    for attr in attributes(attrs) {
        let (kind, data) = attr?;
        if kind == NFTA_GEN_ID {
            return be_u32(data, 0).ok_or(NetlinkError::ShortAttribute(kind));
        }
    }
    Err(NetlinkError::Truncated)
}

/// Appends a `NFT_MSG_GETOBJ` dump request for the named counters of `table`.
pub fn put_counters_dump_request(buf: &mut Vec<u8>, seq: u32, table: &str) {
    let start =
        begin_nfnl_message(buf, nftables_message_type(NFT_MSG_GETOBJ), NLM_F_REQUEST | NLM_F_DUMP, seq, AF_INET, 0);
    put_string(buf, NFTA_OBJ_TABLE, table);
    put_attribute(buf, NFTA_OBJ_TYPE, &NFT_OBJECT_COUNTER.to_be_bytes());
    finish_message(buf, start);
}

/// A named counter from a `GETOBJ` dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpedCounter<'a> {
    /// The name, without its terminating NUL.
    pub name: &'a [u8],
    pub packets: u64,
    pub bytes: u64,
}

/// The counter in the payload of one `NFT_MSG_NEWOBJ` message; `None` for an object of
/// another type or without data.
pub fn dumped_counter(payload: &[u8]) -> Result<Option<DumpedCounter<'_>>, NetlinkError> {
    let attrs = payload.get(4..).ok_or(NetlinkError::Truncated)?; // after nfgenmsg
    let (mut name, mut kind, mut counts) = (None, None, None);
    for attr in attributes(attrs) {
        let (attr_kind, data) = attr?;
        match attr_kind {
            NFTA_OBJ_NAME => name = data.split(|b| *b == 0).next(),
            NFTA_OBJ_TYPE => kind = Some(be_u32(data, 0).ok_or(NetlinkError::ShortAttribute(attr_kind))?),
            NFTA_OBJ_DATA => {
                let (mut packets, mut bytes) = (None, None);
                for field in attributes(data) {
                    let (field_kind, value) = field?;
                    match field_kind {
                        NFTA_COUNTER_PACKETS => packets = be_u64(value, 0),
                        NFTA_COUNTER_BYTES => bytes = be_u64(value, 0),
                        _ => {}
                    }
                }
                counts = packets.zip(bytes);
            }
            _ => {}
        }
    }
    Ok(match (name, kind, counts) {
        (Some(name), Some(NFT_OBJECT_COUNTER), Some((packets, bytes))) => Some(DumpedCounter { name, packets, bytes }),
        _ => None,
    })
}

/// One element of a dumped set, borrowed from the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpedElement<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
    pub timeout: Option<Duration>,
    /// Time left before the element expires.
    pub expires: Option<Duration>,
    /// `(packets, bytes)` of the element's counter, for sets declared with `counter`.
    pub counter: Option<(u64, u64)>,
}

impl DumpedElement<'_> {
    /// The key as `ip saddr . ip daddr . esp spi`, if it has that length.
    pub fn esp_key(&self) -> Option<(Ipv4Addr, Ipv4Addr, Spi)> {
        if self.key.len() != 12 {
            return None;
        }
        Some((address_at(self.key, 0)?, address_at(self.key, 4)?, Spi(be_u32(self.key, 8)?)))
    }
}

/// The four-byte registers of a key or value, each as a big-endian number (an address as
/// `u32::from(Ipv4Addr)`, a port in the high half). A trailing partial register is ignored.
pub fn registers(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes.chunks_exact(4).filter_map(|chunk| be_u32(chunk, 0))
}

/// The elements in the payload of one `NFT_MSG_NEWSETELEM` message of a dump (what follows
/// the `nlmsghdr`). Attributes we do not read are skipped; a length that points outside the
/// buffer is an error.
pub fn dumped_elements(payload: &[u8]) -> Result<Vec<DumpedElement<'_>>, NetlinkError> {
    let attrs = payload.get(4..).ok_or(NetlinkError::Truncated)?; // after nfgenmsg
    let mut out = Vec::new();
    for attr in attributes(attrs) {
        let (kind, list) = attr?;
        if kind != NFTA_SET_ELEM_LIST_ELEMENTS {
            continue;
        }
        for item in attributes(list) {
            let (kind, element) = item?;
            if kind == NFTA_LIST_ELEM {
                out.push(decode_element(element)?);
            }
        }
    }
    Ok(out)
}

fn decode_element(bytes: &[u8]) -> Result<DumpedElement<'_>, NetlinkError> {
    let mut element = DumpedElement { key: &[], value: None, timeout: None, expires: None, counter: None };
    for attr in attributes(bytes) {
        let (kind, data) = attr?;
        match kind {
            NFTA_SET_ELEM_KEY => element.key = data_value(data)?.unwrap_or_default(),
            NFTA_SET_ELEM_DATA => element.value = data_value(data)?,
            NFTA_SET_ELEM_TIMEOUT => {
                element.timeout =
                    Some(Duration::from_millis(be_u64(data, 0).ok_or(NetlinkError::ShortAttribute(kind))?))
            }
            NFTA_SET_ELEM_EXPIRATION => {
                element.expires =
                    Some(Duration::from_millis(be_u64(data, 0).ok_or(NetlinkError::ShortAttribute(kind))?))
            }
            NFTA_SET_ELEM_EXPR => element.counter = element.counter.or(counter_of(data)?),
            NFTA_SET_ELEM_EXPRESSIONS => {
                for expr in attributes(data) {
                    let (kind, expr) = expr?;
                    if kind == NFTA_LIST_ELEM {
                        element.counter = element.counter.or(counter_of(expr)?);
                    }
                }
            }
            _ => {} // flags, user data, padding: not ours to read.
        }
    }
    Ok(element)
}

/// `NFTA_DATA_VALUE` inside an `nft_data` nest.
fn data_value(nest: &[u8]) -> Result<Option<&[u8]>, NetlinkError> {
    for attr in attributes(nest) {
        let (kind, data) = attr?;
        if kind == NFTA_DATA_VALUE {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// `(packets, bytes)` if the expression is a counter.
fn counter_of(expr: &[u8]) -> Result<Option<(u64, u64)>, NetlinkError> {
    let mut is_counter = false;
    let mut counts = (None, None);
    for attr in attributes(expr) {
        let (kind, data) = attr?;
        match kind {
            NFTA_EXPR_NAME => is_counter = data.split(|b| *b == 0).next() == Some(b"counter".as_slice()),
            NFTA_EXPR_DATA => {
                for field in attributes(data) {
                    let (kind, value) = field?;
                    match kind {
                        NFTA_COUNTER_PACKETS => counts.0 = be_u64(value, 0),
                        NFTA_COUNTER_BYTES => counts.1 = be_u64(value, 0),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(if is_counter { counts.0.zip(counts.1) } else { None })
}

fn put_string(buf: &mut Vec<u8>, kind: u16, text: &str) {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0);
    put_attribute(buf, kind, &bytes);
}

/// An `nft_data` nest holding `NFTA_DATA_VALUE`.
fn put_data(buf: &mut Vec<u8>, kind: u16, bytes: &[u8]) {
    let nest = begin_nested(buf, kind);
    put_attribute(buf, NFTA_DATA_VALUE, bytes);
    end_nested(buf, nest);
}

fn address_at(bytes: &[u8], at: usize) -> Option<Ipv4Addr> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

#[cfg(test)]
mod tests {
    //! Expected bytes are spelled out from the uapi layouts; host-order fields go through
    //! `to_ne_bytes` so the tests hold on big-endian mips too.

    use super::super::framing::hand_built::{nest, nla};
    use super::super::framing::messages;
    use super::*;

    fn nlmsg(kind: u16, flags: u16, seq: u32, family: u8, res_id: u16, body: &[u8]) -> Vec<u8> {
        let len = u32::try_from(16 + 4 + body.len()).unwrap();
        let mut v = [
            &len.to_ne_bytes()[..],
            &kind.to_ne_bytes(),
            &flags.to_ne_bytes(),
            &seq.to_ne_bytes(),
            &0u32.to_ne_bytes(),
        ]
        .concat();
        v.extend_from_slice(&[family, 0]);
        v.extend_from_slice(&res_id.to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    const C: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const S: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const N: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

    #[test]
    fn keys_and_values_are_registers_in_network_order() {
        assert_eq!(
            RegisterData::esp_key(C, S, Spi(0x0102_0304)).as_bytes(),
            [192, 168, 1, 10, 198, 51, 100, 1, 1, 2, 3, 4]
        );
        assert_eq!(RegisterData::address_port(N, 4500).as_bytes(), [203, 0, 113, 7, 0x11, 0x94, 0, 0]);
        assert_eq!(
            RegisterData::udp_flow(C, 500, S, 4500).as_bytes(),
            [192, 168, 1, 10, 0x01, 0xf4, 0, 0, 198, 51, 100, 1, 0x11, 0x94, 0, 0]
        );
        assert_eq!(RegisterData::address(C).as_bytes(), [192, 168, 1, 10]);
        assert_eq!(format!("{:?}", RegisterData::address_port(N, 500)), "cb007107 01f40000");
    }

    #[test]
    fn an_add_message_matches_the_uapi_layout() {
        let mut buf = Vec::new();
        let element = SetElement {
            key: RegisterData::esp_key(S, N, Spi(0x1234)),
            value: Some(RegisterData::address(C)),
            timeout: Some(Duration::from_secs(1800)),
        };
        put_batch_begin(&mut buf, 1);
        put_set_elements(&mut buf, 2, ElementOp::Add, "ike_esp_alg", "esp_in", &[element]).unwrap();
        put_batch_end(&mut buf, 3);
        let key = [198, 51, 100, 1, 203, 0, 113, 7, 0, 0, 0x12, 0x34];
        let body = [
            nla(NFTA_SET_ELEM_LIST_TABLE, b"ike_esp_alg\0"),
            nla(NFTA_SET_ELEM_LIST_SET, b"esp_in\0"),
            nest(
                NFTA_SET_ELEM_LIST_ELEMENTS,
                &[nest(
                    NFTA_LIST_ELEM,
                    &[
                        nest(NFTA_SET_ELEM_KEY, &[nla(NFTA_DATA_VALUE, &key)]),
                        nest(NFTA_SET_ELEM_DATA, &[nla(NFTA_DATA_VALUE, &C.octets())]),
                        nla(NFTA_SET_ELEM_TIMEOUT, &1_800_000u64.to_be_bytes()),
                    ],
                )],
            ),
        ]
        .concat();
        let expected = [
            nlmsg(0x10, NLM_F_REQUEST, 1, 0, 10, &[]),
            nlmsg(0x0a0c, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, 2, 2, 0, &body),
            nlmsg(0x11, NLM_F_REQUEST, 3, 0, 10, &[]),
        ]
        .concat();
        assert_eq!(buf, expected);
        // The framing reads back as three messages.
        let types: Vec<u16> = messages(&buf).map(|m| m.unwrap().message_type).collect();
        assert_eq!(types, [0x10, 0x0a0c, 0x11]);
    }

    #[test]
    fn a_delete_sends_keys_only() {
        let mut buf = Vec::new();
        let element = SetElement {
            key: RegisterData::address(C),
            value: Some(RegisterData::address(N)),
            timeout: Some(Duration::from_secs(5)),
        };
        put_set_elements(&mut buf, 9, ElementOp::Delete, "t", "bindings", &[element]).unwrap();
        let body = [
            nla(NFTA_SET_ELEM_LIST_TABLE, b"t\0"),
            nla(NFTA_SET_ELEM_LIST_SET, b"bindings\0"),
            nest(
                NFTA_SET_ELEM_LIST_ELEMENTS,
                &[nest(NFTA_LIST_ELEM, &[nest(NFTA_SET_ELEM_KEY, &[nla(NFTA_DATA_VALUE, &C.octets())])])],
            ),
        ]
        .concat();
        assert_eq!(buf, nlmsg(0x0a0e, NLM_F_REQUEST | NLM_F_ACK, 9, 2, 0, &body));
    }

    #[test]
    fn too_many_elements_for_one_message_are_refused() {
        let element = SetElement { key: RegisterData::address(C), value: None, timeout: None };
        let many = vec![element; MAX_ELEMENTS_PER_MESSAGE + 1];
        let mut buf = Vec::new();
        assert_eq!(put_set_elements(&mut buf, 1, ElementOp::Add, "t", "s", &many), Err(EncodeError::PayloadTooLarge));
        assert!(buf.is_empty());
        // The largest allowed message still fits every length field.
        let full = vec![
            SetElement {
                key: RegisterData::udp_flow(C, 500, S, 500),
                value: Some(RegisterData::address_port(N, 500)),
                timeout: Some(Duration::from_secs(1)),
            };
            MAX_ELEMENTS_PER_MESSAGE
        ];
        put_set_elements(&mut buf, 1, ElementOp::Add, "ike_esp_alg", "ike_nat", &full).unwrap();
        assert!(buf.len() < usize::from(u16::MAX));
        assert_eq!(messages(&buf).count(), 1);
    }

    #[test]
    fn table_get_request_names_the_ip_table_and_asks_for_an_ack() {
        let mut buf = Vec::new();
        put_table_get_request(&mut buf, 9, "ike_esp_alg");
        assert_eq!(buf, nlmsg(0x0a01, NLM_F_REQUEST | NLM_F_ACK, 9, 2, 0, &nla(NFTA_TABLE_NAME, b"ike_esp_alg\0")));
    }

    #[test]
    fn registers_read_back_what_the_constructors_wrote() {
        let flow = RegisterData::udp_flow(C, 500, S, 4500);
        let words: Vec<u32> = registers(flow.as_bytes()).collect();
        assert_eq!(words, [u32::from(C), 500 << 16, u32::from(S), 4500 << 16]);
        assert_eq!(registers(&[1, 2, 3]).count(), 0);
    }

    #[test]
    fn counters_are_dumped_by_table_and_read_by_name() {
        let mut buf = Vec::new();
        put_counters_dump_request(&mut buf, 8, "ike_esp_alg");
        let body = [nla(NFTA_OBJ_TABLE, b"ike_esp_alg\0"), nla(NFTA_OBJ_TYPE, &1u32.to_be_bytes())].concat();
        assert_eq!(buf, nlmsg(0x0a13, NLM_F_REQUEST | NLM_F_DUMP, 8, 2, 0, &body));
        // As nf_tables_fill_obj_info answers: table, name, type, data {bytes, packets}, use.
        let answer = [
            vec![2, 0, 0, 0],
            nla(NFTA_OBJ_TABLE, b"ike_esp_alg\0"),
            nla(NFTA_OBJ_NAME, b"queued_ike\0"),
            nla(NFTA_OBJ_TYPE, &1u32.to_be_bytes()),
            nest(
                NFTA_OBJ_DATA,
                &[nla(NFTA_COUNTER_BYTES, &4000u64.to_be_bytes()), nla(NFTA_COUNTER_PACKETS, &12u64.to_be_bytes())],
            ),
            nla(5, &1u32.to_be_bytes()),
        ]
        .concat();
        let counter = dumped_counter(&answer).unwrap().unwrap();
        assert_eq!((counter.name, counter.packets, counter.bytes), (b"queued_ike".as_slice(), 12, 4000));
        // A quota or limit object is not a counter.
        let quota = [vec![2, 0, 0, 0], nla(NFTA_OBJ_NAME, b"q\0"), nla(NFTA_OBJ_TYPE, &2u32.to_be_bytes())].concat();
        assert_eq!(dumped_counter(&quota), Ok(None));
        for cut in 0..answer.len() {
            let _ = dumped_counter(&answer[..cut]);
        }
    }

    #[test]
    fn a_dump_request_names_table_and_set() {
        let mut buf = Vec::new();
        put_set_dump_request(&mut buf, 5, "ike_esp_alg", "esp_out");
        let body =
            [nla(NFTA_SET_ELEM_LIST_TABLE, b"ike_esp_alg\0"), nla(NFTA_SET_ELEM_LIST_SET, b"esp_out\0")].concat();
        assert_eq!(buf, nlmsg(0x0a0d, NLM_F_REQUEST | NLM_F_DUMP, 5, 2, 0, &body));
    }

    /// A dump message shaped as `nf_tables_fill_setelem` writes one for a set declared with
    /// `counter`: key, timeout, expiration (each u64 preceded by a pad attribute as
    /// `nla_put_be64` aligns it) and the counter as `NFTA_SET_ELEM_EXPR`.
    fn dumped_counted_message() -> Vec<u8> {
        let key = [192, 168, 1, 10, 198, 51, 100, 1, 0, 0, 0x12, 0x34];
        let counter = nest(
            NFTA_SET_ELEM_EXPR,
            &[
                nla(NFTA_EXPR_NAME, b"counter\0"),
                nest(
                    NFTA_EXPR_DATA,
                    &[nla(NFTA_COUNTER_BYTES, &228u64.to_be_bytes()), nla(NFTA_COUNTER_PACKETS, &3u64.to_be_bytes())],
                ),
            ],
        );
        let first = nest(
            NFTA_LIST_ELEM,
            &[
                nest(NFTA_SET_ELEM_KEY, &[nla(NFTA_DATA_VALUE, &key)]),
                nla(8, &[]),
                nla(NFTA_SET_ELEM_TIMEOUT, &1_800_000u64.to_be_bytes()),
                nla(NFTA_SET_ELEM_EXPIRATION, &1_799_500u64.to_be_bytes()),
                counter,
            ],
        );
        let second = nest(
            NFTA_LIST_ELEM,
            &[
                nest(NFTA_SET_ELEM_KEY, &[nla(NFTA_DATA_VALUE, &[1, 2, 3, 4])]),
                nest(NFTA_SET_ELEM_DATA, &[nla(NFTA_DATA_VALUE, &[5, 6, 7, 8])]),
            ],
        );
        let body = [
            nla(NFTA_SET_ELEM_LIST_TABLE, b"ike_esp_alg\0"),
            nla(NFTA_SET_ELEM_LIST_SET, b"esp_out\0"),
            nest(NFTA_SET_ELEM_LIST_ELEMENTS, &[first, second]),
        ]
        .concat();
        nlmsg(0x0a0c, 2, 5, 2, 0, &body)
    }

    #[test]
    fn reads_a_dumped_element_with_its_counter() {
        let buf = dumped_counted_message();
        let message = messages(&buf).next().unwrap().unwrap();
        let elements = dumped_elements(message.payload).unwrap();
        assert_eq!(elements.len(), 2);
        let e = elements[0];
        assert_eq!(e.esp_key(), Some((C, S, Spi(0x1234))));
        assert_eq!(e.timeout, Some(Duration::from_secs(1800)));
        assert_eq!(e.expires, Some(Duration::from_millis(1_799_500)));
        assert_eq!(e.counter, Some((3, 228)));
        assert_eq!(e.value, None);
        assert_eq!(elements[1].key, [1, 2, 3, 4]);
        assert_eq!(elements[1].value, Some([5, 6, 7, 8].as_slice()));
        assert_eq!(elements[1].esp_key(), None, "a 4-byte key is not an SA");
    }

    #[test]
    fn several_expressions_are_read_from_the_list_form() {
        let counter = nest(
            NFTA_LIST_ELEM,
            &[
                nla(NFTA_EXPR_NAME, b"counter\0"),
                nest(
                    NFTA_EXPR_DATA,
                    &[nla(NFTA_COUNTER_PACKETS, &7u64.to_be_bytes()), nla(NFTA_COUNTER_BYTES, &700u64.to_be_bytes())],
                ),
            ],
        );
        let other = nest(
            NFTA_LIST_ELEM,
            &[nla(NFTA_EXPR_NAME, b"limit\0"), nest(NFTA_EXPR_DATA, &[nla(1, &1u64.to_be_bytes())])],
        );
        let element = nest(
            NFTA_LIST_ELEM,
            &[
                nest(NFTA_SET_ELEM_KEY, &[nla(NFTA_DATA_VALUE, &[0; 12])]),
                nest(NFTA_SET_ELEM_EXPRESSIONS, &[other, counter]),
            ],
        );
        let payload = [vec![2, 0, 0, 0], nest(NFTA_SET_ELEM_LIST_ELEMENTS, &[element])].concat();
        let elements = dumped_elements(&payload).unwrap();
        assert_eq!(elements[0].counter, Some((7, 700)));
    }

    #[test]
    fn malformed_dumps_are_errors_not_panics() {
        let buf = dumped_counted_message();
        let message = messages(&buf).next().unwrap().unwrap();
        let payload = message.payload;
        // Every truncation either reads fewer elements or reports an error; none panics.
        for cut in 0..payload.len() {
            let _ = dumped_elements(&payload[..cut]);
        }
        assert_eq!(dumped_elements(&[]), Err(NetlinkError::Truncated));
        // A short u64 is named by its attribute.
        let element = nest(NFTA_LIST_ELEM, &[nla(NFTA_SET_ELEM_EXPIRATION, &[0, 1])]);
        let bad = [vec![2, 0, 0, 0], nest(NFTA_SET_ELEM_LIST_ELEMENTS, &[element])].concat();
        assert_eq!(dumped_elements(&bad), Err(NetlinkError::ShortAttribute(NFTA_SET_ELEM_EXPIRATION)));
    }

    #[test]
    fn the_generation_request_and_answer() {
        let mut buf = Vec::new();
        put_generation_request(&mut buf, 9);
        let message = messages(&buf).next().and_then(Result::ok).expect("one message");
        assert_eq!(message.message_type, nftables_message_type(NFT_MSG_GETGEN));
        assert_eq!(message.seq, 9);
        // nfgenmsg, then NFTA_GEN_ID (big-endian) and NFTA_GEN_PROC_PID.
        let mut payload = vec![0, 0, 0, 0];
        payload.extend(nla(NFTA_GEN_ID, &0x1234u32.to_be_bytes()));
        payload.extend(nla(2, &1u32.to_be_bytes()));
        assert_eq!(generation_id(&payload), Ok(0x1234));
        assert_eq!(generation_id(&payload[..3]), Err(NetlinkError::Truncated));
        assert_eq!(generation_id(&[0, 0, 0, 0]), Err(NetlinkError::Truncated), "no NFTA_GEN_ID");
    }
}
