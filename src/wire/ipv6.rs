//! IPv6 fixed-header view, RFC 8200 §3: enough to recognise IPv6 traffic and leave it alone.

use super::{be_u16, IpProtocol, WireError};
use std::net::Ipv6Addr;

const HEADER_LEN: usize = 40;

/// A checked view of an IPv6 packet's fixed header.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<'a> {
    bytes: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// Checks the version and that the fixed header and announced payload are present.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Ipv6Packet<'a>, WireError> {
        let first = *bytes.first().ok_or(WireError::Truncated)?;
        if first >> 4 != 6 {
            return Err(WireError::BadVersion);
        }
        let payload_len = usize::from(be_u16(bytes, 4).ok_or(WireError::Truncated)?);
        if bytes.len() < HEADER_LEN + payload_len {
            return Err(WireError::Truncated);
        }
        Ok(Ipv6Packet { bytes })
    }

    /// The first Next Header value (extension headers are not walked).
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.bytes.get(6).copied().unwrap_or(0))
    }

    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        self.addr_at(8)
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        self.addr_at(24)
    }

    fn addr_at(&self, at: usize) -> Ipv6Addr {
        let octets: Option<[u8; 16]> = self.bytes.get(at..at + 16).and_then(|s| s.try_into().ok());
        octets.map(Ipv6Addr::from).unwrap_or(Ipv6Addr::UNSPECIFIED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_next_header_and_addresses() {
        let mut p = vec![0x60, 0, 0, 0, 0, 4, 50, 64];
        p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&[0, 0, 1, 0]);
        let v = Ipv6Packet::new_checked(&p).unwrap();
        assert_eq!(v.next_header(), IpProtocol::ESP);
        assert_eq!(v.src(), Ipv6Addr::LOCALHOST);
        assert_eq!(v.dst(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(Ipv6Packet::new_checked(&p[..43]).unwrap_err(), WireError::Truncated);
        assert_eq!(Ipv6Packet::new_checked(&[0x45; 60]).unwrap_err(), WireError::BadVersion);
    }
}
