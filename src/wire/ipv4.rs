//! IPv4 header view and in-place address rewrite, RFC 791 §3.1; checksum update per RFC 1624.

use super::{be_u16, IpProtocol, WireError};
use std::net::Ipv4Addr;

const MIN_HEADER_LEN: usize = 20;
const OFFSET_TOTAL_LEN: usize = 2;
const OFFSET_FLAGS_FRAGMENT: usize = 6;
const OFFSET_PROTOCOL: usize = 9;
const OFFSET_CHECKSUM: usize = 10;
const OFFSET_SRC: usize = 12;
const OFFSET_DST: usize = 16;
const FLAG_MORE_FRAGMENTS: u16 = 0x2000;
const FRAGMENT_OFFSET_MASK: u16 = 0x1fff;
/// Offset of the checksum inside a UDP header (RFC 768).
const UDP_OFFSET_CHECKSUM: usize = 6;
/// Offset of the checksum inside a TCP header (RFC 9293 §3.1).
const TCP_OFFSET_CHECKSUM: usize = 16;

/// A checked view of an IPv4 packet. The buffer may be longer than the packet's total length
/// (link padding); everything past it is ignored.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<'a> {
    header: &'a [u8],
    payload: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Checks version, header length and total length against the buffer.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Ipv4Packet<'a>, WireError> {
        let first = *bytes.first().ok_or(WireError::Truncated)?;
        if first >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        if bytes.len() < MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = usize::from(first & 0x0f) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(WireError::BadLength);
        }
        let total_len = usize::from(be_u16(bytes, OFFSET_TOTAL_LEN).ok_or(WireError::Truncated)?);
        if total_len < header_len {
            return Err(WireError::BadLength);
        }
        let packet = bytes.get(..total_len).ok_or(WireError::Truncated)?;
        let (header, payload) = packet.split_at_checked(header_len).ok_or(WireError::Truncated)?;
        Ok(Ipv4Packet { header, payload })
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        self.addr_at(OFFSET_SRC)
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        self.addr_at(OFFSET_DST)
    }

    /// The protocol of the payload.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.header.get(OFFSET_PROTOCOL).copied().unwrap_or(0))
    }

    /// Header length in bytes (20 to 60).
    pub fn header_len(&self) -> usize {
        self.header.len()
    }

    /// Total length in bytes, header included.
    pub fn total_len(&self) -> usize {
        self.header.len() + self.payload.len()
    }

    /// True for every fragment but the first: it carries no transport header.
    pub fn is_later_fragment(&self) -> bool {
        self.flags_fragment() & FRAGMENT_OFFSET_MASK != 0
    }

    /// True for any fragment, the first one included.
    pub fn is_fragment(&self) -> bool {
        self.flags_fragment() & (FRAGMENT_OFFSET_MASK | FLAG_MORE_FRAGMENTS) != 0
    }

    /// The bytes after the header, up to the total length.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    fn flags_fragment(&self) -> u16 {
        be_u16(self.header, OFFSET_FLAGS_FRAGMENT).unwrap_or(0)
    }

    fn addr_at(&self, at: usize) -> Ipv4Addr {
        match self.header.get(at..at + 4) {
            Some(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d),
            _ => Ipv4Addr::UNSPECIFIED,
        }
    }
}

/// Rewrites the source and/or destination address of the IPv4 packet in `bytes` in place,
/// updating the header checksum and, for an unfragmented or first-fragment UDP/TCP packet,
/// the transport checksum that covers the pseudo-header. ESP has no such checksum.
pub fn rewrite_ipv4_addresses(
    bytes: &mut [u8],
    new_src: Option<Ipv4Addr>,
    new_dst: Option<Ipv4Addr>,
) -> Result<(), WireError> {
    let (header_len, protocol, later_fragment) = {
        let view = Ipv4Packet::new_checked(bytes)?;
        (view.header_len(), view.protocol(), view.is_later_fragment())
    };
    let l4_checksum_at = match protocol {
        IpProtocol::UDP if !later_fragment => Some(header_len + UDP_OFFSET_CHECKSUM),
        IpProtocol::TCP if !later_fragment => Some(header_len + TCP_OFFSET_CHECKSUM),
        _ => None,
    };
    for (offset, new) in [(OFFSET_SRC, new_src), (OFFSET_DST, new_dst)] {
        let Some(new) = new else { continue };
        let slot: &mut [u8] = bytes.get_mut(offset..offset + 4).ok_or(WireError::Truncated)?;
        let old: [u8; 4] = (&*slot).try_into().map_err(|_| WireError::Truncated)?;
        let new = new.octets();
        slot.copy_from_slice(&new);
        update_checksum(bytes, OFFSET_CHECKSUM, &old, &new)?;
        if let Some(at) = l4_checksum_at {
            // A zero UDP checksum means "none" (RFC 768) and must stay zero.
            let current = be_u16(bytes, at).ok_or(WireError::Truncated)?;
            if !(protocol == IpProtocol::UDP && current == 0) {
                update_checksum(bytes, at, &old, &new)?;
            }
        }
    }
    Ok(())
}

/// Incremental Internet checksum update for a changed 4-byte field, RFC 1624 eqn. 3:
/// `HC' = ~(~HC + ~m + m')`, one 16-bit word at a time.
fn update_checksum(bytes: &mut [u8], at: usize, old: &[u8; 4], new: &[u8; 4]) -> Result<(), WireError> {
    let checksum = be_u16(bytes, at).ok_or(WireError::Truncated)?;
    let mut sum = u32::from(!checksum);
    let [o0, o1, o2, o3] = *old;
    let [n0, n1, n2, n3] = *new;
    for (old_word, new_word) in [([o0, o1], [n0, n1]), ([o2, o3], [n2, n3])] {
        sum += u32::from(!u16::from_be_bytes(old_word)) + u32::from(u16::from_be_bytes(new_word));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let updated = !(sum as u16);
    // For UDP a computed 0 is sent as 0xffff (RFC 768); for the IP header both are valid.
    let slot = bytes.get_mut(at..at + 2).ok_or(WireError::Truncated)?;
    slot.copy_from_slice(&updated.to_be_bytes());
    Ok(())
}

/// Full Internet checksum (RFC 1071) over `data`; used by tests and packet builders.
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        if let [hi, lo] = *pair {
            sum += u32::from(u16::from_be_bytes([hi, lo]));
        }
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(total_len: u16, protocol: u8, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, protocol, 0, 0];
        h[2..4].copy_from_slice(&total_len.to_be_bytes());
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        let c = internet_checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }

    #[test]
    fn reads_fields_and_ignores_link_padding() {
        let mut p = header(24, 50, [10, 0, 1, 2], [192, 0, 2, 2]);
        p.extend_from_slice(&[1, 2, 3, 4, 0xee, 0xee]);
        let v = Ipv4Packet::new_checked(&p).unwrap();
        assert_eq!(v.src(), Ipv4Addr::new(10, 0, 1, 2));
        assert_eq!(v.dst(), Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(v.protocol(), IpProtocol::ESP);
        assert_eq!(v.payload(), &[1, 2, 3, 4]);
        assert!(!v.is_fragment());
    }

    #[test]
    fn refuses_short_wrong_version_and_lying_lengths() {
        assert_eq!(Ipv4Packet::new_checked(&[]).unwrap_err(), WireError::Truncated);
        assert_eq!(Ipv4Packet::new_checked(&[0x45; 10]).unwrap_err(), WireError::Truncated);
        assert_eq!(Ipv4Packet::new_checked(&[0x60; 40]).unwrap_err(), WireError::BadVersion);
        let mut p = header(20, 50, [1; 4], [2; 4]);
        p[0] = 0x44; // IHL 16 bytes
        assert_eq!(Ipv4Packet::new_checked(&p).unwrap_err(), WireError::BadLength);
        let p = header(200, 50, [1; 4], [2; 4]);
        assert_eq!(Ipv4Packet::new_checked(&p).unwrap_err(), WireError::Truncated);
        let p = header(12, 50, [1; 4], [2; 4]);
        assert_eq!(Ipv4Packet::new_checked(&p).unwrap_err(), WireError::BadLength);
    }

    #[test]
    fn rewrite_keeps_header_and_udp_checksums_valid() {
        // A UDP packet with a real checksum over the pseudo-header.
        let src = [192, 168, 1, 10];
        let dst = [198, 51, 100, 1];
        let mut p = header(20 + 12, 17, src, dst);
        let mut udp = vec![0x01, 0xf4, 0x01, 0xf4, 0, 12, 0, 0, b'i', b'k', b'e', b'!'];
        let udp_checksum = |s: [u8; 4], d: [u8; 4], udp: &[u8]| {
            let mut pseudo = Vec::new();
            pseudo.extend_from_slice(&s);
            pseudo.extend_from_slice(&d);
            pseudo.extend_from_slice(&[0, 17, 0, 12]);
            pseudo.extend_from_slice(udp);
            internet_checksum(&pseudo)
        };
        let c = udp_checksum(src, dst, &udp);
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(&udp);

        let nat = Ipv4Addr::new(203, 0, 113, 7);
        rewrite_ipv4_addresses(&mut p, Some(nat), None).unwrap();
        assert_eq!(internet_checksum(&p[..20]), 0, "IP header checksum verifies");
        let mut zeroed = p[20..].to_vec();
        zeroed[6..8].copy_from_slice(&[0, 0]);
        assert_eq!(
            u16::from_be_bytes([p[26], p[27]]),
            udp_checksum(nat.octets(), dst, &zeroed),
            "UDP checksum equals a full recomputation"
        );
        assert_eq!(Ipv4Packet::new_checked(&p).unwrap().src(), nat);
    }

    #[test]
    fn rewrite_leaves_a_zero_udp_checksum_alone() {
        let mut p = header(28, 17, [10, 0, 0, 1], [10, 0, 0, 2]);
        p.extend_from_slice(&[0, 1, 0, 2, 0, 8, 0, 0]);
        rewrite_ipv4_addresses(&mut p, None, Some(Ipv4Addr::new(10, 9, 9, 9))).unwrap();
        assert_eq!(&p[26..28], &[0, 0]);
        assert_eq!(internet_checksum(&p[..20]), 0);
    }
}
