//! The shell: all I/O around the sans-IO engine. NFQUEUE, nftables, the clock, signals,
//! the state file and the control socket live here and nowhere else.

pub mod nfqueue;
pub mod nft;
