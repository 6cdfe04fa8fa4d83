//! From raw bytes to the few fields the engine decides on.
//!
//! NFQUEUE hands over a whole IP packet. [`classify`] walks IPv4 → UDP/ESP → ISAKMP with
//! the checked views and returns a [`Classified`] value that carries no borrowed bytes.
//! UDP on the NAT-T port is told apart per RFC 3948 §2.2: four zero octets (the non-ESP
//! marker) start IKE, a single 0xFF octet is a NAT-keepalive, anything else is ESP.

use super::esp::EspPacket;
use super::ipv4::Ipv4Packet;
use super::ipv6::Ipv6Packet;
use super::isakmp::{IkeFlags, IkeVersion, IsakmpHeader};
use super::udp::UdpDatagram;
use super::{ExchangeType, IkeSpi, IpProtocol, MessageId, Spi, WireError};
use core::fmt;
use std::net::Ipv4Addr;

/// The UDP ports that carry IKE, as configured (`ike_port`, `natt_port`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    /// IKE without NAT traversal, normally 500.
    pub ike: u16,
    /// IKE and ESP with NAT traversal (RFC 3947/3948), normally 4500.
    pub natt: u16,
}

impl Default for Ports {
    fn default() -> Ports {
        Ports { ike: 500, natt: 4500 }
    }
}

/// Addresses and ports of a UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpEndpoints {
    pub src: Ipv4Addr,
    pub src_port: u16,
    pub dst: Ipv4Addr,
    pub dst_port: u16,
}

/// An ESP packet carried directly in IPv4 (protocol 50).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EspInfo {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub spi: Spi,
    /// The anti-replay sequence number: 1 on an SA's first packet (RFC 4303 §3.3.3).
    pub sequence: u32,
    /// IP total length, for byte counters.
    pub ip_len: u16,
}

/// An IKE message on the IKE port: its endpoints and cleartext header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IkeInfo {
    pub endpoints: UdpEndpoints,
    pub version: IkeVersion,
    pub exchange: ExchangeType,
    pub flags: IkeFlags,
    pub message_id: MessageId,
    pub initiator_spi: IkeSpi,
    pub responder_spi: IkeSpi,
}

/// What travels on the NAT-T port (RFC 3948 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatTKind {
    /// IKE after the 4-octet non-ESP marker.
    Ike,
    /// UDP-encapsulated ESP.
    Esp(Spi),
    /// A one-octet 0xFF NAT-keepalive (RFC 3948 §2.3).
    Keepalive,
    /// Too short for any of the above.
    Unrecognised,
}

/// A packet as the engine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classified {
    /// IPv6: recognised and left alone.
    Ipv6 { next_header: IpProtocol },
    /// An IPv4 fragment after the first: no transport header to read.
    Ipv4LaterFragment { src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol },
    /// ESP directly over IPv4.
    Esp(EspInfo),
    /// IKE on the IKE port.
    Ike(IkeInfo),
    /// Traffic on the NAT-T port.
    NatT { endpoints: UdpEndpoints, kind: NatTKind },
    /// Any other IPv4 packet (other protocols, other UDP ports).
    OtherIpv4 { src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol },
}

/// The layer at which a packet stopped making sense, with the view's reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Malformed {
    pub layer: Layer,
    pub error: WireError,
    /// The IPv4 endpoints when the IP header itself was sound.
    pub addresses: Option<(Ipv4Addr, Ipv4Addr)>,
}

/// Protocol layers that [`classify`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    Ip,
    Udp,
    Esp,
    Isakmp,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layer = match self.layer {
            Layer::Ip => "IP",
            Layer::Udp => "UDP",
            Layer::Esp => "ESP",
            Layer::Isakmp => "ISAKMP",
        };
        write!(f, "malformed {layer}: {}", self.error)?;
        if let Some((src, dst)) = self.addresses {
            write!(f, " ({src} -> {dst})")?;
        }
        Ok(())
    }
}

/// Reads an IP packet as queued by the kernel. Never panics, whatever the bytes.
pub fn classify(bytes: &[u8], ports: Ports) -> Result<Classified, Malformed> {
    let ip_error = |error| Malformed { layer: Layer::Ip, error, addresses: None };
    match bytes.first().map(|b| b >> 4) {
        Some(6) => {
            let v6 = Ipv6Packet::new_checked(bytes).map_err(ip_error)?;
            return Ok(Classified::Ipv6 { next_header: v6.next_header() });
        }
        Some(4) => {}
        Some(_) => return Err(ip_error(WireError::BadVersion)),
        None => return Err(ip_error(WireError::Truncated)),
    }
    let ip = Ipv4Packet::new_checked(bytes).map_err(ip_error)?;
    let (src, dst, protocol) = (ip.src(), ip.dst(), ip.protocol());
    let malformed = |layer, error| Malformed { layer, error, addresses: Some((src, dst)) };
    if ip.is_later_fragment() {
        return Ok(Classified::Ipv4LaterFragment { src, dst, protocol });
    }
    match protocol {
        IpProtocol::ESP => {
            let esp = EspPacket::new_checked(ip.payload()).map_err(|e| malformed(Layer::Esp, e))?;
            let ip_len = u16::try_from(ip.total_len()).unwrap_or(u16::MAX);
            Ok(Classified::Esp(EspInfo { src, dst, spi: esp.spi(), sequence: esp.sequence_number(), ip_len }))
        }
        IpProtocol::UDP => {
            // A first fragment may hold only part of the datagram; IKE over UDP is
            // reassembled by conntrack's defrag before our hook, so that is rare.
            let udp = UdpDatagram::new_checked(ip.payload()).map_err(|e| malformed(Layer::Udp, e))?;
            let endpoints = UdpEndpoints { src, src_port: udp.src_port(), dst, dst_port: udp.dst_port() };
            if endpoints.src_port == ports.ike || endpoints.dst_port == ports.ike {
                let header = IsakmpHeader::new_checked(udp.payload()).map_err(|e| malformed(Layer::Isakmp, e))?;
                Ok(Classified::Ike(IkeInfo {
                    endpoints,
                    version: header.version(),
                    exchange: header.exchange_type(),
                    flags: header.flags(),
                    message_id: header.message_id(),
                    initiator_spi: header.initiator_spi(),
                    responder_spi: header.responder_spi(),
                }))
            } else if endpoints.src_port == ports.natt || endpoints.dst_port == ports.natt {
                Ok(Classified::NatT { endpoints, kind: natt_kind(udp.payload()) })
            } else {
                Ok(Classified::OtherIpv4 { src, dst, protocol })
            }
        }
        _ => Ok(Classified::OtherIpv4 { src, dst, protocol }),
    }
}

fn natt_kind(payload: &[u8]) -> NatTKind {
    match payload {
        [0xff] => NatTKind::Keepalive,
        [0, 0, 0, 0, ..] => NatTKind::Ike,
        _ => match EspPacket::new_checked(payload) {
            Ok(esp) => NatTKind::Esp(esp.spi()),
            Err(_) => NatTKind::Unrecognised,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::internet_checksum;

    fn ipv4(protocol: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut p = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, protocol, 0, 0];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        let c = internet_checksum(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&sport.to_be_bytes());
        d.extend_from_slice(&dport.to_be_bytes());
        d.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        d.extend_from_slice(&[0, 0]);
        d.extend_from_slice(payload);
        d
    }

    fn isakmp(exchange: u8) -> Vec<u8> {
        let mut h = vec![1; 16];
        h.extend_from_slice(&[33, 0x20, exchange, 0x08, 0, 0, 0, 1, 0, 0, 0, 28]);
        h
    }

    #[test]
    fn esp_over_ipv4_yields_its_spi() {
        let p = ipv4(50, [10, 0, 1, 2], [192, 0, 2, 2], &[0, 0, 0x10, 0, 0, 0, 0, 1, 9]);
        let Classified::Esp(esp) = classify(&p, Ports::default()).unwrap() else { panic!() };
        assert_eq!(esp.spi, Spi(0x1000));
        assert_eq!(esp.ip_len, 29);
    }

    #[test]
    fn truncated_esp_is_malformed_at_the_esp_layer() {
        let p = ipv4(50, [10, 0, 1, 2], [192, 0, 2, 2], &[0, 0, 0x10]);
        let err = classify(&p, Ports::default()).unwrap_err();
        assert_eq!(err.layer, Layer::Esp);
        assert_eq!(err.to_string(), "malformed ESP: truncated packet (10.0.1.2 -> 192.0.2.2)");
    }

    #[test]
    fn ike_is_recognised_by_either_port() {
        let p = ipv4(17, [192, 0, 2, 2], [203, 0, 113, 7], &udp(500, 1024, &isakmp(36)));
        let Classified::Ike(ike) = classify(&p, Ports::default()).unwrap() else { panic!() };
        assert_eq!(ike.exchange, ExchangeType::CREATE_CHILD_SA);
        assert_eq!(ike.endpoints.dst_port, 1024);
        let custom = Ports { ike: 1500, natt: 4500 };
        let p = ipv4(17, [10, 0, 0, 1], [10, 0, 0, 2], &udp(1500, 1500, &isakmp(34)));
        assert!(matches!(classify(&p, custom), Ok(Classified::Ike(_))));
        assert!(matches!(classify(&p, Ports::default()), Ok(Classified::OtherIpv4 { .. })));
    }

    #[test]
    fn natt_port_tells_ike_esp_and_keepalive_apart() {
        let kind = |payload: &[u8]| {
            let p = ipv4(17, [10, 0, 0, 1], [10, 0, 0, 2], &udp(4500, 4500, payload));
            match classify(&p, Ports::default()).unwrap() {
                Classified::NatT { kind, .. } => kind,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(kind(&[0, 0, 0, 0, 1, 2, 3]), NatTKind::Ike);
        assert_eq!(kind(&[0, 0, 0, 9, 0, 0, 0, 1]), NatTKind::Esp(Spi(9)));
        assert_eq!(kind(&[0xff]), NatTKind::Keepalive);
        assert_eq!(kind(&[1, 2]), NatTKind::Unrecognised);
    }

    #[test]
    fn ipv6_and_later_fragments_are_recognised_and_not_read_further() {
        let mut v6 = vec![0x60, 0, 0, 0, 0, 0, 50, 64];
        v6.extend_from_slice(&[0; 32]);
        assert_eq!(classify(&v6, Ports::default()), Ok(Classified::Ipv6 { next_header: IpProtocol::ESP }));
        let mut frag = ipv4(50, [10, 0, 0, 1], [10, 0, 0, 2], &[1, 2]);
        frag[6..8].copy_from_slice(&0x0010u16.to_be_bytes());
        assert!(matches!(classify(&frag, Ports::default()), Ok(Classified::Ipv4LaterFragment { .. })));
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            for fill in [0u8, 0x45, 0x60, 0xff] {
                let _ = classify(&vec![fill; len], Ports::default());
            }
        }
    }
}
