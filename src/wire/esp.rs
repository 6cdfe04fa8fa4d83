//! ESP header view, RFC 4303 §2: the SPI and sequence number, the only cleartext fields.

use super::{be_u32, Spi, WireError};

/// SPI (4 octets) and sequence number (4 octets), RFC 4303 §2.
pub const ESP_HEADER_LEN: usize = 8;

/// A checked view of an ESP packet (the IP payload, or the UDP payload for ESP-in-UDP).
#[derive(Debug, Clone, Copy)]
pub struct EspPacket<'a> {
    bytes: &'a [u8],
}

impl<'a> EspPacket<'a> {
    /// Checks that the SPI and sequence number are present.
    pub fn new_checked(bytes: &'a [u8]) -> Result<EspPacket<'a>, WireError> {
        if bytes.len() < ESP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(EspPacket { bytes })
    }

    /// The Security Parameters Index.
    pub fn spi(&self) -> Spi {
        Spi(be_u32(self.bytes, 0).unwrap_or(0))
    }

    /// The anti-replay sequence number (low 32 bits when ESN is in use).
    pub fn sequence_number(&self) -> u32 {
        be_u32(self.bytes, 4).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_spi_and_sequence_big_endian() {
        let p = [0xc0, 0xff, 0xee, 0x01, 0, 0, 0, 7, 0xaa];
        let v = EspPacket::new_checked(&p).unwrap();
        assert_eq!(v.spi(), Spi(0xc0ff_ee01));
        assert_eq!(v.sequence_number(), 7);
        assert_eq!(EspPacket::new_checked(&p[..7]).unwrap_err(), WireError::Truncated);
    }
}
