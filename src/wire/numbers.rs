//! Protocol numbers as integer newtypes: unknown values survive, print in hex and can be counted.
//!
//! IP protocol numbers: IANA "Assigned Internet Protocol Numbers". Exchange types:
//! RFC 2408 §3.1 (IKEv1, with RFC 2409 §5.5 for Quick Mode) and RFC 7296 §3.1 (IKEv2).

use core::fmt;

/// An IP protocol number (IPv4 "Protocol", IPv6 "Next Header").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    pub const ICMP: IpProtocol = IpProtocol(1);
    pub const TCP: IpProtocol = IpProtocol(6);
    pub const UDP: IpProtocol = IpProtocol(17);
    /// Encapsulating Security Payload, RFC 4303.
    pub const ESP: IpProtocol = IpProtocol(50);
    /// Authentication Header, RFC 4302.
    pub const AH: IpProtocol = IpProtocol(51);

    fn name(self) -> Option<&'static str> {
        Some(match self {
            IpProtocol::ICMP => "icmp",
            IpProtocol::TCP => "tcp",
            IpProtocol::UDP => "udp",
            IpProtocol::ESP => "esp",
            IpProtocol::AH => "ah",
            _ => return None,
        })
    }
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "proto(0x{:02x})", self.0),
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An ISAKMP/IKE exchange type (one octet in the header of both IKE versions).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExchangeType(pub u8);

impl ExchangeType {
    /// IKEv1 Identity Protection (Main Mode), RFC 2408 §4.5.
    pub const IDENTITY_PROTECTION: ExchangeType = ExchangeType(2);
    /// IKEv1 Aggressive Mode, RFC 2408 §4.8.
    pub const AGGRESSIVE: ExchangeType = ExchangeType(4);
    /// IKEv1 Informational, RFC 2408 §4.8.
    pub const INFORMATIONAL_V1: ExchangeType = ExchangeType(5);
    /// IKEv1 Transaction (Mode Config), draft-ietf-ipsec-isakmp-mode-cfg.
    pub const TRANSACTION: ExchangeType = ExchangeType(6);
    /// IKEv1 Quick Mode, RFC 2409 §5.5: the IKEv1 phase-2 exchange.
    pub const QUICK_MODE: ExchangeType = ExchangeType(32);
    /// IKEv1 New Group Mode, RFC 2409 §5.6.
    pub const NEW_GROUP_MODE: ExchangeType = ExchangeType(33);
    /// IKEv2 IKE_SA_INIT, RFC 7296 §1.2.
    pub const IKE_SA_INIT: ExchangeType = ExchangeType(34);
    /// IKEv2 IKE_AUTH, RFC 7296 §1.2: creates the first Child SA.
    pub const IKE_AUTH: ExchangeType = ExchangeType(35);
    /// IKEv2 CREATE_CHILD_SA, RFC 7296 §1.3: new or rekeyed Child SAs (and IKE SA rekeys).
    pub const CREATE_CHILD_SA: ExchangeType = ExchangeType(36);
    /// IKEv2 INFORMATIONAL, RFC 7296 §1.4.
    pub const INFORMATIONAL: ExchangeType = ExchangeType(37);

    fn name(self) -> Option<&'static str> {
        Some(match self {
            ExchangeType::IDENTITY_PROTECTION => "Identity Protection",
            ExchangeType::AGGRESSIVE => "Aggressive",
            ExchangeType::INFORMATIONAL_V1 => "Informational",
            ExchangeType::TRANSACTION => "Transaction",
            ExchangeType::QUICK_MODE => "Quick Mode",
            ExchangeType::NEW_GROUP_MODE => "New Group Mode",
            ExchangeType::IKE_SA_INIT => "IKE_SA_INIT",
            ExchangeType::IKE_AUTH => "IKE_AUTH",
            ExchangeType::CREATE_CHILD_SA => "CREATE_CHILD_SA",
            ExchangeType::INFORMATIONAL => "INFORMATIONAL",
            _ => return None,
        })
    }
}

impl fmt::Debug for ExchangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "exchange(0x{:02x})", self.0),
        }
    }
}

impl fmt::Display for ExchangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An ESP Security Parameters Index, RFC 4303 §2.1.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Spi(pub u32);

impl Spi {
    /// "The SPI value of zero (0) is reserved for local, implementation-specific use and
    /// MUST NOT be sent on the wire" (RFC 4303 §2.1).
    pub const RESERVED_ZERO: Spi = Spi(0);
}

impl fmt::Debug for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

impl fmt::Display for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An IKE SA SPI (IKEv2) or cookie (IKEv1): 8 octets, RFC 7296 §3.1 / RFC 2408 §3.1.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct IkeSpi(pub u64);

impl IkeSpi {
    /// The responder SPI is zero in the first message of an IKE SA.
    pub const ZERO: IkeSpi = IkeSpi(0);
}

impl fmt::Debug for IkeSpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Display for IkeSpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An ISAKMP/IKE Message ID, RFC 2408 §3.1 / RFC 7296 §3.1.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MessageId(pub u32);

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers_print_their_rfc_names_and_unknown_ones_print_hex() {
        assert_eq!(format!("{}", IpProtocol::ESP), "esp");
        assert_eq!(format!("{}", IpProtocol(253)), "proto(0xfd)");
        assert_eq!(format!("{}", ExchangeType::QUICK_MODE), "Quick Mode");
        assert_eq!(format!("{}", ExchangeType::CREATE_CHILD_SA), "CREATE_CHILD_SA");
        assert_eq!(format!("{}", ExchangeType(243)), "exchange(0xf3)");
        assert_eq!(format!("{}", Spi(0xc0ffee)), "0x00c0ffee");
        assert_eq!(format!("{}", IkeSpi(1)), "0000000000000001");
    }
}
