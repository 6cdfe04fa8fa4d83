//! The fast path's SA map (`esp_sa` in `bpf/esp_fastpath.c`), typed: a
//! BPF_MAP_TYPE_PERCPU_HASH from (source, destination, SPI) to one address rewrite and
//! per-CPU counters. The key and value layouts here are the C structs' layouts; change
//! both together.
//!
//! A per-CPU map holds one value per possible CPU: the kernel reads and writes them as
//! one buffer of `round_up(value_size, 8) * possible CPUs` bytes. Inserting writes the
//! same rewrite (and zero counters) into every CPU's copy; reading sums packets and bytes
//! and takes the latest last-seen time.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};

use super::syscall;

/// `BPF_MAP_TYPE_PERCPU_HASH`.
pub const MAP_TYPE_PERCPU_HASH: u32 = 5;
/// `struct esp_sa_key`: three `__be32`.
pub const KEY_SIZE: usize = 12;
/// `struct esp_sa_value`: `__be32 addr`, `u32 rewrite`, three `u64` counters.
pub const VALUE_SIZE: usize = 32;

const REWRITE_SOURCE: u32 = 1;
const REWRITE_DESTINATION: u32 = 2;

/// One ESP SA as the packet carries it (RFC 4303 §2.1: the SPI with the addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SaKey {
    pub source: Ipv4Addr,
    pub destination: Ipv4Addr,
    pub spi: u32,
}

impl SaKey {
    fn to_bytes(self) -> [u8; KEY_SIZE] {
        let mut out = [0u8; KEY_SIZE];
        let fields = self.source.octets().into_iter().chain(self.destination.octets()).chain(self.spi.to_be_bytes());
        for (slot, byte) in out.iter_mut().zip(fields) {
            *slot = byte;
        }
        out
    }

    fn from_bytes(bytes: &[u8; KEY_SIZE]) -> SaKey {
        let word = |at: usize| {
            let mut w = [0u8; 4];
            for (slot, byte) in w.iter_mut().zip(bytes.iter().skip(at)) {
                *slot = *byte;
            }
            w
        };
        SaKey {
            source: Ipv4Addr::from(word(0)),
            destination: Ipv4Addr::from(word(4)),
            spi: u32::from_be_bytes(word(8)),
        }
    }
}

/// The stateless NAT rewrite of one SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// Outbound: the source becomes this NAT address.
    Source(Ipv4Addr),
    /// Inbound: the destination becomes this client.
    Destination(Ipv4Addr),
}

/// An SA's counters, summed over CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaCounters {
    pub packets: u64,
    /// IPv4 total lengths, as the nft counters count.
    pub bytes: u64,
    /// `bpf_ktime_get_ns` (CLOCK_MONOTONIC) of the latest packet on any CPU; 0 if none.
    pub last_seen_ns: u64,
}

/// What the map holds for one SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaEntry {
    pub rewrite: Rewrite,
    pub counters: SaCounters,
}

/// The SA map, owned.
#[derive(Debug)]
pub struct SaMap {
    fd: OwnedFd,
    possible_cpus: usize,
    max_entries: u32,
}

impl SaMap {
    /// Wraps a map created from our object's `esp_sa` definition.
    pub(super) fn new(fd: OwnedFd, possible_cpus: usize, max_entries: u32) -> SaMap {
        SaMap { fd, possible_cpus: possible_cpus.max(1), max_entries }
    }

    /// The map's descriptor (to pin it, or to hand it to a program).
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    fn value_buffer_size(&self) -> usize {
        VALUE_SIZE * self.possible_cpus
    }

    /// Adds the SA, or replaces it; either way its counters start at zero.
    pub fn insert(&self, key: SaKey, rewrite: Rewrite) -> io::Result<()> {
        let (address, kind) = match rewrite {
            Rewrite::Source(a) => (a, REWRITE_SOURCE),
            Rewrite::Destination(a) => (a, REWRITE_DESTINATION),
        };
        let mut one = [0u8; VALUE_SIZE];
        for (slot, byte) in one.iter_mut().zip(address.octets().into_iter().chain(kind.to_ne_bytes())) {
            *slot = byte;
        }
        let value: Vec<u8> = one.iter().copied().cycle().take(self.value_buffer_size()).collect();
        syscall::map_update(self.fd.as_fd(), &key.to_bytes(), &value, syscall::UPDATE_ANY, (KEY_SIZE, value.len()))
    }

    /// Removes the SA; `false` if it was not there.
    pub fn remove(&self, key: SaKey) -> io::Result<bool> {
        match syscall::map_delete(self.fd.as_fd(), &key.to_bytes(), KEY_SIZE) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The SA's rewrite and counters, or `None` if it is not in the map.
    pub fn get(&self, key: SaKey) -> io::Result<Option<SaEntry>> {
        let mut value = vec![0u8; self.value_buffer_size()];
        let size = value.len();
        match syscall::map_lookup(self.fd.as_fd(), &key.to_bytes(), &mut value, (KEY_SIZE, size)) {
            Ok(()) => decode_entry(&value).map(Some),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every SA in the map. The map is bounded (`max_entries`), and so is this walk: an SA
    /// removed under it can restart the kernel's walk, so it stops after that many keys.
    pub fn keys(&self) -> io::Result<Vec<SaKey>> {
        let mut keys = Vec::new();
        let mut current: Option<[u8; KEY_SIZE]> = None;
        while keys.len() < self.max_entries as usize {
            let mut next = [0u8; KEY_SIZE];
            match syscall::map_next_key(self.fd.as_fd(), current.as_ref().map(|k| &k[..]), &mut next, KEY_SIZE) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
                Err(e) => return Err(e),
            }
            keys.push(SaKey::from_bytes(&next));
            current = Some(next);
        }
        Ok(keys)
    }
}

/// Decodes one per-CPU value buffer: the rewrite of the first CPU's copy (all copies carry
/// the same one) and the counters over all CPUs.
fn decode_entry(buffer: &[u8]) -> io::Result<SaEntry> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "SA map value of an unknown shape");
    let mut counters = SaCounters::default();
    let mut rewrite = None;
    for copy in buffer.chunks_exact(VALUE_SIZE) {
        let u32_at = |at: usize| copy.get(at..at + 4).and_then(|b| b.try_into().ok()).ok_or_else(bad);
        let u64_at =
            |at: usize| copy.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_ne_bytes).ok_or_else(bad);
        if rewrite.is_none() {
            let address = Ipv4Addr::from(u32_at(0)?);
            rewrite = Some(match u32::from_ne_bytes(u32_at(4)?) {
                REWRITE_SOURCE => Rewrite::Source(address),
                REWRITE_DESTINATION => Rewrite::Destination(address),
                _ => return Err(bad()),
            });
        }
        counters.packets = counters.packets.wrapping_add(u64_at(8)?);
        counters.bytes = counters.bytes.wrapping_add(u64_at(16)?);
        counters.last_seen_ns = counters.last_seen_ns.max(u64_at(24)?);
    }
    Ok(SaEntry { rewrite: rewrite.ok_or_else(bad)?, counters })
}

/// The number of possible CPUs from `/sys/devices/system/cpu/possible` ("0-3", "0,2-5"):
/// the per-CPU value buffer holds one slot for each.
pub fn parse_possible_cpus(text: &str) -> Option<usize> {
    let mut count = 0usize;
    for range in text.trim().split(',') {
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let cpu = range.parse::<usize>().ok()?;
                (cpu, cpu)
            }
        };
        count = count.checked_add(last.checked_sub(first)?.checked_add(1)?)?;
    }
    (count > 0).then_some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_bytes_are_network_order_and_round_trip() {
        let key = SaKey {
            source: Ipv4Addr::new(192, 168, 1, 10),
            destination: Ipv4Addr::new(198, 51, 100, 20),
            spi: 0x0102_0304,
        };
        let bytes = key.to_bytes();
        assert_eq!(bytes, [192, 168, 1, 10, 198, 51, 100, 20, 1, 2, 3, 4]);
        assert_eq!(SaKey::from_bytes(&bytes), key);
    }

    #[test]
    fn possible_cpus_counts_ranges_and_lists() {
        assert_eq!(parse_possible_cpus("0-3\n"), Some(4));
        assert_eq!(parse_possible_cpus("0"), Some(1));
        assert_eq!(parse_possible_cpus("0,2-5"), Some(5));
        assert_eq!(parse_possible_cpus(""), None);
        assert_eq!(parse_possible_cpus("3-1"), None);
        assert_eq!(parse_possible_cpus("x"), None);
    }

    #[test]
    fn entry_sums_counters_over_cpus_and_keeps_the_latest_time() {
        let copy = |packets: u64, bytes: u64, seen: u64| {
            let mut v = Vec::new();
            v.extend_from_slice(&[203, 0, 113, 7]);
            v.extend_from_slice(&REWRITE_SOURCE.to_ne_bytes());
            for n in [packets, bytes, seen] {
                v.extend_from_slice(&n.to_ne_bytes());
            }
            v
        };
        let buffer = [copy(2, 200, 50), copy(3, 300, 90), copy(0, 0, 0)].concat();
        let entry = decode_entry(&buffer).unwrap();
        assert_eq!(entry.rewrite, Rewrite::Source(Ipv4Addr::new(203, 0, 113, 7)));
        assert_eq!(entry.counters, SaCounters { packets: 5, bytes: 500, last_seen_ns: 90 });
    }

    #[test]
    fn entry_with_an_unknown_rewrite_is_an_error() {
        let mut buffer = vec![0u8; VALUE_SIZE];
        buffer[4..8].copy_from_slice(&9u32.to_ne_bytes());
        assert!(decode_entry(&buffer).is_err());
        assert!(decode_entry(&[]).is_err());
    }
}
