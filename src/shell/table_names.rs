//! The names of everything in our nftables table, as one type each: the ruleset renderer,
//! the netlink element writer and the dump reader all name a set, map or counter through
//! these, so none of them can spell one differently from the others.
//!
//! Read first: the design notes of [`super::nft`], which say what each set and map is for.

use core::fmt;

/// The table's name, family `ip`.
pub const TABLE: &str = "ike_esp_alg";

/// A set or map of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SetName {
    /// Rule sources (inside), an interval set of prefixes.
    Clients,
    /// Rule destinations (outside), an interval set of prefixes.
    Servers,
    /// Pool addresses and the egress address: where inbound ESP of a learned SA arrives.
    NatAddresses,
    /// Outbound SAs: `saddr . daddr . spi : new saddr`, with per-element counters.
    EspOut,
    /// The outbound SAs' keys alone, for the membership test in `prerouting`.
    EspOutKeys,
    /// Inbound SAs: `saddr . daddr . spi : new daddr`, with per-element counters.
    EspIn,
    /// Persistent bindings: `client : NAT address`.
    Bindings,
    /// The bound clients' addresses alone, for the membership test in `srcnat`.
    BoundClients,
    /// IKE flows: `client . port . server . port : NAT address . port`.
    IkeNat,
    /// ESP keys that passed the forward hook's filters, as forwarded: what may be promoted
    /// to the eBPF fast path. Exists only while that runs.
    EspPassed,
}

impl SetName {
    /// Every set and map, in the order the ruleset declares them.
    pub const ALL: [SetName; 10] = [
        SetName::Clients,
        SetName::Servers,
        SetName::NatAddresses,
        SetName::EspOut,
        SetName::EspIn,
        SetName::EspOutKeys,
        SetName::Bindings,
        SetName::BoundClients,
        SetName::IkeNat,
        SetName::EspPassed,
    ];

    /// The name nft and the kernel know it by.
    pub const fn as_str(self) -> &'static str {
        match self {
            SetName::Clients => "clients",
            SetName::Servers => "servers",
            SetName::NatAddresses => "nat_addresses",
            SetName::EspOut => "esp_out",
            SetName::EspOutKeys => "esp_out_keys",
            SetName::EspIn => "esp_in",
            SetName::Bindings => "bindings",
            SetName::BoundClients => "bound_clients",
            SetName::IkeNat => "ike_nat",
            SetName::EspPassed => "esp_passed",
        }
    }
}

impl fmt::Display for SetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named counter of the table: what each queue rule sent to the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CounterName {
    QueuedEspOut,
    QueuedEspIn,
    QueuedIke,
    QueuedNatt,
}

impl CounterName {
    /// Every counter, in the order the ruleset declares them.
    pub const ALL: [CounterName; 4] =
        [CounterName::QueuedEspOut, CounterName::QueuedEspIn, CounterName::QueuedIke, CounterName::QueuedNatt];

    pub const fn as_str(self) -> &'static str {
        match self {
            CounterName::QueuedEspOut => "queued_esp_out",
            CounterName::QueuedEspIn => "queued_esp_in",
            CounterName::QueuedIke => "queued_ike",
            CounterName::QueuedNatt => "queued_natt",
        }
    }

    /// The counter a dump names, if it is one of ours.
    pub fn from_name(name: &[u8]) -> Option<CounterName> {
        CounterName::ALL.into_iter().find(|c| c.as_str().as_bytes() == name)
    }
}

impl fmt::Display for CounterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_nft_identifiers() {
        let mut names: Vec<&str> = SetName::ALL.iter().map(|s| s.as_str()).collect();
        names.extend(CounterName::ALL.iter().map(|c| c.as_str()));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a name used twice");
        for name in names {
            assert!(name.len() < 32, "{name}: nft names are at most 31 bytes (NFT_NAME_MAXLEN - 1)");
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{name}");
        }
    }

    #[test]
    fn counters_are_found_by_the_name_a_dump_gives() {
        for c in CounterName::ALL {
            assert_eq!(CounterName::from_name(c.as_str().as_bytes()), Some(c));
        }
        assert_eq!(CounterName::from_name(b"queued"), None);
    }
}
