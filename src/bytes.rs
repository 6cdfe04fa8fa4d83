//! Bounds-checked integer readers over byte slices: `None` past the end, never a panic.
//! Packet views ([`crate::wire`]) read network order; netlink framing ([`crate::netlink`])
//! reads host order, since the kernel writes `nlmsghdr` and `nlattr` in its own byte order.

/// Reads a big-endian `u16` at `at`.
pub(crate) fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(array(bytes, at)?))
}

/// Reads a big-endian `u32` at `at`.
pub(crate) fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(array(bytes, at)?))
}

/// Reads a big-endian `u64` at `at`.
pub(crate) fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(array(bytes, at)?))
}

/// Reads a host-order `u16` at `at`.
pub(crate) fn ne_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(array(bytes, at)?))
}

/// Reads a host-order `u32` at `at`.
pub(crate) fn ne_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(array(bytes, at)?))
}

/// Reads a host-order `i32` at `at`.
pub(crate) fn ne_i32(bytes: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(array(bytes, at)?))
}

/// The `N` bytes at `at`, or `None` if they are not all there.
fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_both_orders_and_refuses_past_the_end() {
        let b = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
        assert_eq!(be_u16(&b, 6), Some(0xdef0));
        assert_eq!(be_u32(&b, 0), Some(0x1234_5678));
        assert_eq!(be_u64(&b, 0), Some(0x1234_5678_9abc_def0));
        assert_eq!(ne_u16(&b, 0), Some(u16::from_ne_bytes([0x12, 0x34])));
        assert_eq!(ne_u32(&b, 4), Some(u32::from_ne_bytes([0x9a, 0xbc, 0xde, 0xf0])));
        assert_eq!(ne_i32(&b, 4), Some(i32::from_ne_bytes([0x9a, 0xbc, 0xde, 0xf0])));
        assert_eq!(be_u16(&b, 7), None);
        assert_eq!(be_u64(&b, 1), None);
        assert_eq!(ne_u32(&b, usize::MAX), None);
    }
}
