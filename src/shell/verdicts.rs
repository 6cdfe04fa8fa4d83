//! From the engine's verdict on a queued packet to the kernel's (`NF_ACCEPT`/`NF_DROP`,
//! with a rewritten payload where the rewrite must travel with the packet). Pure.
//!
//! Inbound rewrites (a new destination) travel in the verdict's payload: the packet is in
//! `prerouting` and must be routed to the client. Outbound ones (a new source) are done by
//! the `postrouting` map, which the batch's actions filled before the verdicts went out
//! (SPEC §3 rule 3); if the kernel refused that session's element, the packet is dropped,
//! because it would leave with the client's own address. With the nft queue backend the
//! queued outbound packet is still tracked, and its verdict is `NF_REPEAT`: the prerouting
//! chain runs again and its learned-SA rule, which now finds the element, takes it
//! untracked (see [`super::nft`]). A session the engine has is installed again by every
//! batch that sees its packets, so a repeated packet finds its element and is not queued
//! twice.

use super::nfqueue::NfVerdict;
use super::nft::QueueBackend;
use crate::engine::{Direction, SessionKey, Translation, Verdict};
use crate::wire::{classify, rewrite_ipv4_addresses, Classified, Ports};

/// The kernel verdict for one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelVerdict {
    pub verdict: NfVerdict,
    /// The packet as it must continue, when the daemon rewrote it.
    pub payload: Option<Vec<u8>>,
}

impl KernelVerdict {
    const ACCEPT: KernelVerdict = KernelVerdict { verdict: NfVerdict::Accept, payload: None };
    const DROP: KernelVerdict = KernelVerdict { verdict: NfVerdict::Drop, payload: None };
}

/// How an outbound packet whose session is installed goes on: [`NfVerdict::Repeat`] where
/// the queue rule left it tracked (nft backend), [`NfVerdict::Accept`] where it is untracked
/// already (xtables backend).
pub fn outbound_continue(backend: QueueBackend) -> NfVerdict {
    if backend.repeats_our_chain() {
        NfVerdict::Repeat
    } else {
        NfVerdict::Accept
    }
}

/// The kernel verdict for `verdict` on `payload`. `refused` lists the sessions whose
/// installation the kernel refused in this batch (usually empty: then nothing is parsed);
/// `outbound` is [`outbound_continue`] of the queue backend.
pub fn kernel_verdict(
    verdict: Verdict,
    payload: &[u8],
    ports: Ports,
    refused: &[SessionKey],
    outbound: NfVerdict,
) -> KernelVerdict {
    match verdict {
        Verdict::Accept => KernelVerdict::ACCEPT,
        Verdict::Drop(_) => KernelVerdict::DROP,
        Verdict::AcceptTranslated(Translation::Destination(client)) => {
            let mut copy = payload.to_vec();
            match rewrite_ipv4_addresses(&mut copy, None, Some(client)) {
                Ok(()) => KernelVerdict { verdict: NfVerdict::Accept, payload: Some(copy) },
                Err(_) => KernelVerdict::DROP,
            }
        }
        Verdict::AcceptTranslated(Translation::Source(_)) => {
            if !refused.is_empty() && outbound_key(payload, ports).is_some_and(|k| refused.contains(&k)) {
                KernelVerdict::DROP
            } else {
                KernelVerdict { verdict: outbound, payload: None }
            }
        }
    }
}

/// The outbound session an ESP packet belongs to.
fn outbound_key(payload: &[u8], ports: Ports) -> Option<SessionKey> {
    match classify(payload, ports).ok()? {
        Classified::Esp(e) => Some(SessionKey { direction: Direction::Outbound, src: e.src, dst: e.dst, spi: e.spi }),
        _ => None,
    }
}

/// How many verdicts of each kind went out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerdictCounts {
    pub accept: u64,
    pub drop: u64,
    pub rewritten: u64,
}

impl VerdictCounts {
    pub fn count(&mut self, v: &KernelVerdict) {
        match (v.verdict, &v.payload) {
            (NfVerdict::Drop, _) => self.drop += 1,
            (_, Some(_)) => self.rewritten += 1,
            _ => self.accept += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::DropReason;
    use crate::wire::build::esp;
    use crate::wire::{internet_checksum, Ipv4Packet, Spi};
    use std::net::Ipv4Addr;

    const C: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const S: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const N: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

    fn ports() -> Ports {
        Ports { ike: 500, natt: 4500 }
    }

    #[test]
    fn accept_and_drop_pass_through() {
        let p = esp(C, S, Spi(1), 1, 16);
        assert_eq!(kernel_verdict(Verdict::Accept, &p, ports(), &[], NfVerdict::Repeat), KernelVerdict::ACCEPT);
        assert_eq!(
            kernel_verdict(Verdict::Drop(DropReason::InboundEspWithoutGate), &p, ports(), &[], NfVerdict::Repeat),
            KernelVerdict::DROP
        );
    }

    #[test]
    fn an_inbound_rewrite_travels_in_the_payload() {
        let p = esp(S, N, Spi(7), 1, 16);
        let v = Verdict::AcceptTranslated(Translation::Destination(C));
        let out = kernel_verdict(v, &p, ports(), &[], NfVerdict::Repeat);
        assert_eq!(out.verdict, NfVerdict::Accept);
        let rewritten = out.payload.expect("a rewritten packet");
        let ip = Ipv4Packet::new_checked(&rewritten[..]).expect("still IPv4");
        assert_eq!((ip.src(), ip.dst()), (S, C));
        assert_eq!(internet_checksum(&rewritten[..ip.header_len()]), 0, "the header checksum follows the rewrite");
    }

    #[test]
    fn an_inbound_rewrite_of_a_broken_packet_is_dropped() {
        let v = Verdict::AcceptTranslated(Translation::Destination(C));
        assert_eq!(kernel_verdict(v, &[0x45, 0, 0], ports(), &[], NfVerdict::Repeat), KernelVerdict::DROP);
    }

    #[test]
    fn an_outbound_packet_whose_session_the_kernel_refused_is_dropped() {
        let p = esp(C, S, Spi(9), 1, 16);
        let v = Verdict::AcceptTranslated(Translation::Source(N));
        let xt = outbound_continue(QueueBackend::XtablesMark(1));
        assert_eq!(kernel_verdict(v, &p, ports(), &[], xt), KernelVerdict::ACCEPT, "postrouting rewrites it");
        let refused = SessionKey { direction: Direction::Outbound, src: C, dst: S, spi: Spi(9) };
        assert_eq!(kernel_verdict(v, &p, ports(), &[refused], xt), KernelVerdict::DROP);
        let other = SessionKey { spi: Spi(10), ..refused };
        assert_eq!(kernel_verdict(v, &p, ports(), &[other], xt), KernelVerdict::ACCEPT);
    }

    #[test]
    fn with_the_nft_backend_an_installed_outbound_packet_runs_the_chain_again() {
        let p = esp(C, S, Spi(9), 1, 16);
        let repeat = outbound_continue(QueueBackend::Nft);
        assert_eq!(repeat, NfVerdict::Repeat);
        let v = Verdict::AcceptTranslated(Translation::Source(N));
        assert_eq!(
            kernel_verdict(v, &p, ports(), &[], repeat),
            KernelVerdict { verdict: NfVerdict::Repeat, payload: None }
        );
        let refused = SessionKey { direction: Direction::Outbound, src: C, dst: S, spi: Spi(9) };
        assert_eq!(
            kernel_verdict(v, &p, ports(), &[refused], repeat),
            KernelVerdict::DROP,
            "no element: never repeated"
        );
        // Only the outbound rewrite repeats: a plain accept goes on tracked, an inbound
        // rewrite carries its payload on.
        assert_eq!(kernel_verdict(Verdict::Accept, &p, ports(), &[], repeat), KernelVerdict::ACCEPT);
        let back = esp(S, N, Spi(7), 1, 16);
        let inbound =
            kernel_verdict(Verdict::AcceptTranslated(Translation::Destination(C)), &back, ports(), &[], repeat);
        assert_eq!(inbound.verdict, NfVerdict::Accept);
    }

    #[test]
    fn counts_by_kind() {
        let mut c = VerdictCounts::default();
        c.count(&KernelVerdict::ACCEPT);
        c.count(&KernelVerdict::DROP);
        c.count(&KernelVerdict { verdict: NfVerdict::Accept, payload: Some(vec![1]) });
        assert_eq!(c, VerdictCounts { accept: 1, drop: 1, rewritten: 1 });
    }
}
