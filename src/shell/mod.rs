//! The shell: all I/O around the sans-IO engine. NFQUEUE, nftables, the clock, signals,
//! the state file and the control socket live here and nowhere else.

pub mod activity;
pub mod clock;
pub mod config_file;
pub mod conntrack;
pub mod control;
pub mod control_request;
pub mod daemon;
pub mod daemon_error;
pub mod egress;
pub mod held;
pub mod kernel_state;
pub mod log;
pub mod netlink_socket;
pub mod nfqueue;
pub mod nft;
pub mod nft_netlink;
pub mod offload;
pub mod pool_addresses;
pub mod programs;
pub mod promotion;
pub mod routes;
pub mod schedule;
pub mod signals;
pub mod state_file;
pub mod table_names;
pub mod verdicts;
pub mod xtables;
