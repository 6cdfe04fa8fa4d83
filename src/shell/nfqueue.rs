//! NFQUEUE socket (placeholder until the netlink client lands).
