//! The ISAKMP/IKE fixed header, shared by IKEv1 (RFC 2408 §3.1) and IKEv2 (RFC 7296 §3.1).
//!
//! After the first exchange every payload is encrypted, so this 28-octet header is all the
//! ALG can read: both SPIs/cookies, the version, exchange type, flags and message ID.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |                 Initiator SPI / Cookie (8 octets)             |
//! |                 Responder SPI / Cookie (8 octets)             |
//! |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//! |                          Message ID                           |
//! |                            Length                             |
//! ```

use super::{be_u32, be_u64, ExchangeType, IkeSpi, MessageId, WireError};
use core::fmt;

/// Length of the fixed header.
pub const ISAKMP_HEADER_LEN: usize = 28;

/// The IKE major version from the header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IkeVersion {
    /// ISAKMP / IKEv1 (major version 1).
    V1,
    /// IKEv2 (major version 2).
    V2,
}

impl fmt::Display for IkeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IkeVersion::V1 => "IKEv1",
            IkeVersion::V2 => "IKEv2",
        })
    }
}

/// The header's flags octet. Bit meanings differ by version.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IkeFlags(pub u8);

impl IkeFlags {
    /// IKEv1 E (Encryption) bit, RFC 2408 §3.1.
    pub const V1_ENCRYPTION: u8 = 0x01;
    /// IKEv1 C (Commit) bit.
    pub const V1_COMMIT: u8 = 0x02;
    /// IKEv1 A (Authentication Only) bit.
    pub const V1_AUTH_ONLY: u8 = 0x04;
    /// IKEv2 I (Initiator) bit, RFC 7296 §3.1: set by the original initiator of the IKE SA.
    pub const V2_INITIATOR: u8 = 0x08;
    /// IKEv2 V (Version) bit.
    pub const V2_VERSION: u8 = 0x10;
    /// IKEv2 R (Response) bit: this message answers a request with the same message ID.
    pub const V2_RESPONSE: u8 = 0x20;

    /// True if every bit of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

impl fmt::Debug for IkeFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02x}", self.0)
    }
}

/// A checked view of the ISAKMP/IKE header at the start of `bytes`.
#[derive(Debug, Clone, Copy)]
pub struct IsakmpHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> IsakmpHeader<'a> {
    /// Checks the header's presence, a known major version, and that the Length field
    /// matches the bytes present exactly (no short and no trailing bytes).
    pub fn new_checked(bytes: &'a [u8]) -> Result<IsakmpHeader<'a>, WireError> {
        if bytes.len() < ISAKMP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header = IsakmpHeader { bytes };
        if header.version_raw() >> 4 != 1 && header.version_raw() >> 4 != 2 {
            return Err(WireError::BadVersion);
        }
        let length =
            usize::try_from(be_u32(bytes, 24).ok_or(WireError::Truncated)?).map_err(|_| WireError::BadLength)?;
        if length < ISAKMP_HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if length > bytes.len() {
            return Err(WireError::Truncated);
        }
        if length < bytes.len() {
            return Err(WireError::BadLength);
        }
        Ok(header)
    }

    /// Initiator SPI (IKEv2) or cookie (IKEv1).
    pub fn initiator_spi(&self) -> IkeSpi {
        IkeSpi(be_u64(self.bytes, 0).unwrap_or(0))
    }

    /// Responder SPI or cookie; zero in the first message of an IKE SA.
    pub fn responder_spi(&self) -> IkeSpi {
        IkeSpi(be_u64(self.bytes, 8).unwrap_or(0))
    }

    /// Type of the first payload.
    pub fn next_payload(&self) -> u8 {
        self.bytes.get(16).copied().unwrap_or(0)
    }

    /// Major version: 1 for ISAKMP/IKEv1, 2 for IKEv2 (checked in `new_checked`).
    pub fn version(&self) -> IkeVersion {
        if self.version_raw() >> 4 == 2 {
            IkeVersion::V2
        } else {
            IkeVersion::V1
        }
    }

    /// Minor version.
    pub fn minor_version(&self) -> u8 {
        self.version_raw() & 0x0f
    }

    /// Exchange type.
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.bytes.get(18).copied().unwrap_or(0))
    }

    /// Flags octet.
    pub fn flags(&self) -> IkeFlags {
        IkeFlags(self.bytes.get(19).copied().unwrap_or(0))
    }

    /// Message ID.
    pub fn message_id(&self) -> MessageId {
        MessageId(be_u32(self.bytes, 20).unwrap_or(0))
    }

    /// Length of the whole message, header included.
    pub fn length(&self) -> u32 {
        be_u32(self.bytes, 24).unwrap_or(0)
    }

    fn version_raw(&self) -> u8 {
        self.bytes.get(17).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u8, exchange: u8, flags: u8, msgid: u32, extra: usize) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
        h.extend_from_slice(&0x99aa_bbcc_ddee_ff00u64.to_be_bytes());
        h.extend_from_slice(&[46, version, exchange, flags]);
        h.extend_from_slice(&msgid.to_be_bytes());
        h.extend_from_slice(&((28 + extra) as u32).to_be_bytes());
        h.resize(28 + extra, 0xab);
        h
    }

    #[test]
    fn reads_an_ikev2_create_child_sa_request() {
        let h = header(0x20, 36, IkeFlags::V2_INITIATOR, 7, 32);
        let v = IsakmpHeader::new_checked(&h).unwrap();
        assert_eq!(v.initiator_spi(), IkeSpi(0x1122_3344_5566_7788));
        assert_eq!(v.responder_spi(), IkeSpi(0x99aa_bbcc_ddee_ff00));
        assert_eq!(v.version(), IkeVersion::V2);
        assert_eq!(v.exchange_type(), ExchangeType::CREATE_CHILD_SA);
        assert!(v.flags().has(IkeFlags::V2_INITIATOR));
        assert!(!v.flags().has(IkeFlags::V2_RESPONSE));
        assert_eq!(v.message_id(), MessageId(7));
        assert_eq!(v.length(), 60);
        assert_eq!(v.next_payload(), 46);
    }

    #[test]
    fn reads_an_ikev1_quick_mode_message() {
        let h = header(0x10, 32, IkeFlags::V1_ENCRYPTION, 0xdead_beef, 0);
        let v = IsakmpHeader::new_checked(&h).unwrap();
        assert_eq!(v.version(), IkeVersion::V1);
        assert_eq!(v.minor_version(), 0);
        assert_eq!(v.exchange_type(), ExchangeType::QUICK_MODE);
        assert_eq!(v.message_id(), MessageId(0xdead_beef));
    }

    #[test]
    fn refuses_short_trailing_and_unknown_versions() {
        let h = header(0x20, 34, 0, 0, 8);
        assert_eq!(IsakmpHeader::new_checked(&h[..27]).unwrap_err(), WireError::Truncated);
        assert_eq!(IsakmpHeader::new_checked(&h[..30]).unwrap_err(), WireError::Truncated);
        let mut long = h.clone();
        long.push(0);
        assert_eq!(IsakmpHeader::new_checked(&long).unwrap_err(), WireError::BadLength);
        assert_eq!(IsakmpHeader::new_checked(&header(0x30, 34, 0, 0, 0)).unwrap_err(), WireError::BadVersion);
        let mut small = header(0x20, 34, 0, 0, 0);
        small[24..28].copy_from_slice(&12u32.to_be_bytes());
        assert_eq!(IsakmpHeader::new_checked(&small).unwrap_err(), WireError::BadLength);
    }
}
