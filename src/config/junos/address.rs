//! Addresses in Junos statements: pool entries (`a`, `a/len`, `a to b`) and rule prefixes,
//! checked for form here; ranges are the typed configuration's job.

use std::net::Ipv4Addr;

/// A pool address as UCI writes it, the range it covers, and what was dropped on the way.
#[derive(Debug)]
pub(super) struct PoolEntry {
    pub(super) item: String,
    pub(super) range: (u32, u32),
    pub(super) dropped: Option<String>,
}

/// `a` (`a/32`), `a/len`, or `a to b`: Junos writes range ends as `/32` host prefixes.
pub(super) fn pool_entry(first: &str, last: Option<&str>) -> Result<PoolEntry, String> {
    let parse = |text: &str| {
        parse_prefix(text).ok_or_else(|| {
            let ipv6 = if text.contains(':') { " (pools are IPv4)" } else { "" };
            format!("expected an IPv4 address or prefix, found '{text}'{ipv6}")
        })
    };
    let (start, start_len) = parse(first)?;
    let Some(last) = last else {
        let (low, high) = prefix_range(start, start_len);
        let item = if start_len == 32 { start.to_string() } else { first.to_owned() };
        return Ok(PoolEntry { item, range: (low, high), dropped: None });
    };
    let (end, end_len) = parse(last)?;
    if u32::from(start) > u32::from(end) {
        return Err(format!("the range {start} to {end} ends before it starts"));
    }
    let dropped = (start_len != 32 || end_len != 32).then(|| {
        "the prefix lengths of the range ends are dropped: a range holds every address from \
         the first to the last"
            .to_owned()
    });
    Ok(PoolEntry { item: format!("{start}-{end}"), range: (u32::from(start), u32::from(end)), dropped })
}

/// `a.b.c.d` or `a.b.c.d/len` (IPv4 only).
pub(super) fn parse_prefix(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (address, len) = match text.split_once('/') {
        Some((address, len)) => (address, len.parse().ok().filter(|len| *len <= 32)?),
        None => (text, 32),
    };
    Some((address.parse().ok()?, len))
}

fn prefix_range(address: Ipv4Addr, len: u8) -> (u32, u32) {
    let host_bits = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
    let address = u32::from(address);
    (address & !host_bits, address | host_bits)
}

pub(super) fn is_number(text: &str) -> bool {
    !text.is_empty() && text.len() <= 9 && text.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn is_port(text: &str) -> bool {
    text.parse::<u16>().is_ok_and(|port| port != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_entries() {
        assert_eq!(pool_entry("10.0.0.1/32", Some("10.0.0.9/32")).unwrap().item, "10.0.0.1-10.0.0.9");
        assert_eq!(pool_entry("10.0.0.1/32", None).unwrap().item, "10.0.0.1");
        let cidr = pool_entry("10.0.0.0/30", None).unwrap();
        assert_eq!((cidr.item.as_str(), cidr.range), ("10.0.0.0/30", (0x0a00_0000, 0x0a00_0003)));
        assert!(pool_entry("10.0.0.9", Some("10.0.0.1")).is_err());
        assert!(pool_entry("2001:db8::1/128", None).unwrap_err().contains("pools are IPv4"));
        assert!(pool_entry("10.0.0.0/33", None).is_err());
        assert!(pool_entry("10.0.0.1/24", Some("10.0.0.9/24")).unwrap().dropped.is_some());
        assert_eq!(prefix_range(Ipv4Addr::new(1, 2, 3, 4), 0), (0, u32::MAX));
    }
}
