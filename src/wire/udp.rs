//! UDP header view, RFC 768.

use super::{be_u16, WireError};

const HEADER_LEN: usize = 8;

/// A checked view of a UDP datagram. The payload is bounded by the UDP length field.
#[derive(Debug, Clone, Copy)]
pub struct UdpDatagram<'a> {
    src_port: u16,
    dst_port: u16,
    payload: &'a [u8],
}

impl<'a> UdpDatagram<'a> {
    /// Checks the header and the length field against the bytes present.
    pub fn new_checked(bytes: &'a [u8]) -> Result<UdpDatagram<'a>, WireError> {
        let src_port = be_u16(bytes, 0).ok_or(WireError::Truncated)?;
        let dst_port = be_u16(bytes, 2).ok_or(WireError::Truncated)?;
        let length = usize::from(be_u16(bytes, 4).ok_or(WireError::Truncated)?);
        if bytes.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if length < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        let payload = bytes.get(HEADER_LEN..length).ok_or(WireError::Truncated)?;
        Ok(UdpDatagram { src_port, dst_port, payload })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.src_port
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.dst_port
    }

    /// The datagram's data.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_payload_by_the_length_field() {
        let d = [0x01, 0xf4, 0x11, 0x94, 0, 10, 0, 0, 7, 8, 9];
        let v = UdpDatagram::new_checked(&d).unwrap();
        assert_eq!((v.src_port(), v.dst_port()), (500, 4500));
        assert_eq!(v.payload(), &[7, 8]);
        assert_eq!(UdpDatagram::new_checked(&d[..7]).unwrap_err(), WireError::Truncated);
        assert_eq!(UdpDatagram::new_checked(&[0, 1, 0, 2, 0, 4, 0, 0]).unwrap_err(), WireError::BadLength);
        assert_eq!(UdpDatagram::new_checked(&[0, 1, 0, 2, 0, 40, 0, 0]).unwrap_err(), WireError::Truncated);
    }
}
