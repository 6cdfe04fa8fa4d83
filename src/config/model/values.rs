//! Option values of `/etc/config/ike-esp-alg` read into types: booleans, numbers in a range,
//! pool entries, prefixes and zone names.
//!
//! Read first: SPEC §4's table for the forms. Each reader takes the text exactly as UCI gave
//! it (no trimming: `' 5'` is not a number) and returns the value or what is wrong with it;
//! the caller adds the location.

use std::net::Ipv4Addr;

use super::problem::{AddressForm, ProblemKind, Unit};
use crate::engine::{AddressRange, Ipv4Net};

/// `0` or `1`, as SPEC §4 writes booleans.
pub(super) fn boolean(value: &str) -> Result<bool, ProblemKind> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(ProblemKind::NotBoolean { value: value.to_owned() }),
    }
}

/// A decimal number within `min..=max`. Digits only: no sign, no spaces, no unit.
pub(super) fn number(value: &str, (min, max): (u64, u64), unit: Unit) -> Result<u64, ProblemKind> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProblemKind::NotNumber { value: value.to_owned(), min, max, unit });
    }
    // Too many digits for u64 is out of range too, not "not a number".
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ProblemKind::OutOfRange { value: value.to_owned(), min, max, unit }),
    }
}

/// A pool entry: `A-B`, `a.b.c.d/n` or a single `a.b.c.d`, as the range it covers.
pub(super) fn pool_entry(value: &str) -> Result<AddressRange, ProblemKind> {
    let bad = || ProblemKind::BadAddress { value: value.to_owned(), form: AddressForm::PoolEntry };
    let range = if let Some((first, last)) = value.split_once('-') {
        let first: Ipv4Addr = first.parse().map_err(|_| bad())?;
        let last: Ipv4Addr = last.parse().map_err(|_| bad())?;
        AddressRange::new(first, last).ok_or_else(|| ProblemKind::ReversedRange { value: value.to_owned() })?
    } else {
        AddressRange::from_net(prefix_of(value).ok_or_else(bad)?)
    };
    if !is_unicast_range(&range) {
        return Err(ProblemKind::NotUnicast { value: value.to_owned() });
    }
    Ok(range)
}

/// A rule's source or destination: `a.b.c.d/n` or a single `a.b.c.d` (a `/32`). Host bits
/// are cleared, as firewall4 does: `192.168.1.1/24` is `192.168.1.0/24`.
pub(super) fn prefix(value: &str) -> Result<Ipv4Net, ProblemKind> {
    prefix_of(value).ok_or_else(|| ProblemKind::BadAddress { value: value.to_owned(), form: AddressForm::Prefix })
}

/// One firewall zone name. firewall4 puts zone names into nftables chain names, so they are
/// letters, digits, `_` and `-`; a space would mean several zones, which a rule set has not.
pub(super) fn zone_name(value: &str) -> Result<&str, ProblemKind> {
    let ok = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(value)
    } else {
        Err(ProblemKind::BadZoneName { value: value.to_owned() })
    }
}

fn prefix_of(value: &str) -> Option<Ipv4Net> {
    let (address, len) = match value.split_once('/') {
        Some((address, len)) => (address, prefix_len(len)?),
        None => (value, 32),
    };
    Ipv4Net::new(address.parse().ok()?, len)
}

/// `0`..`32` in decimal, digits only (`u8::from_str` would take `+24`).
fn prefix_len(text: &str) -> Option<u8> {
    if text.is_empty() || text.len() > 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|len| *len <= 32)
}

/// No address of "this network" (0/8), loopback (127/8), multicast or the reserved space
/// above it (224.0.0.0 and up): the kernel would not send from any of them.
fn is_unicast_range(range: &AddressRange) -> bool {
    const NOT_A_SOURCE: [(u32, u32); 3] =
        [(0x0000_0000, 0x00ff_ffff), (0x7f00_0000, 0x7fff_ffff), (0xe000_0000, 0xffff_ffff)];
    let (first, last) = (u32::from(range.first()), u32::from(range.last()));
    NOT_A_SOURCE.iter().all(|&(low, high)| last < low || high < first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_plain_decimal_digits_within_range() {
        let range = (2, 30);
        assert_eq!(number("2", range, Unit::Seconds), Ok(2));
        assert_eq!(number("030", range, Unit::Seconds), Ok(30));
        for text in ["", "+5", "-1", " 5", "5s", "0x10", "1e1"] {
            assert!(matches!(number(text, range, Unit::Seconds), Err(ProblemKind::NotNumber { .. })), "{text}");
        }
        for text in ["1", "31", "99999999999999999999999"] {
            assert!(matches!(number(text, range, Unit::Seconds), Err(ProblemKind::OutOfRange { .. })), "{text}");
        }
    }

    #[test]
    fn pool_entries_take_three_forms() {
        let range = |v: &str| pool_entry(v).map(|r| r.to_string());
        assert_eq!(range("203.0.113.1-203.0.113.9"), Ok("203.0.113.1-203.0.113.9".into()));
        assert_eq!(range("203.0.113.7"), Ok("203.0.113.7".into()));
        assert_eq!(range("203.0.113.5/30"), Ok("203.0.113.4-203.0.113.7".into()));
        assert_eq!(range("203.0.113.7-203.0.113.7"), Ok("203.0.113.7".into()));
        for bad in ["", "203.0.113", "203.0.113.1 - 203.0.113.9", "203.0.113.0/33", "1.2.3.4/+8"] {
            assert!(matches!(pool_entry(bad), Err(ProblemKind::BadAddress { .. })), "{bad}");
        }
        assert!(matches!(pool_entry("203.0.113.9-203.0.113.1"), Err(ProblemKind::ReversedRange { .. })));
        for bad in ["0.0.0.0/0", "127.0.0.1", "224.0.0.1", "255.255.255.255", "0.1.2.3"] {
            assert!(matches!(pool_entry(bad), Err(ProblemKind::NotUnicast { .. })), "{bad}");
        }
    }

    #[test]
    fn prefixes_clear_host_bits_and_zones_are_single_names() {
        assert_eq!(prefix("192.168.1.77/24").map(|n| n.to_string()), Ok("192.168.1.0/24".into()));
        assert_eq!(prefix("0.0.0.0/0").map(|n| n.to_string()), Ok("0.0.0.0/0".into()));
        assert!(prefix("10.0.0.1-10.0.0.2").is_err());
        assert_eq!(zone_name("wan_6-b"), Ok("wan_6-b"));
        assert!(zone_name("lan wan").is_err());
        assert_eq!(boolean("1"), Ok(true));
        assert!(boolean("yes").is_err());
    }
}
