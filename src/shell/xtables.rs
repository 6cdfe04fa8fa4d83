//! The iptables-nft queue backend: for kernels without the nft `queue` expression (this
//! development host), the ALG's table marks what the daemon must see, and one iptables-nft
//! rule in `raw PREROUTING` hands marked packets to the NFQUEUE (`xt_NFQUEUE`).
//!
//! The rule lives in iptables-nft's own table, which `nft flush ruleset` (`fw4 flush`)
//! deletes along with ours; [`ensure_rule`] is therefore called on start-up and whenever
//! the daemon re-installs its table.

use super::nft::QueueBackend;
use super::programs::program;
use std::process::{Command, Stdio};

/// Mark bit the ALG's table sets on packets for the queue.
pub const XTABLES_MARK: u32 = 0x1000_0000;

/// The iptables arguments of the rule, for `op` `-C` (check), `-I` (insert) or `-D`.
fn rule(op: &str, mark: u32, queue_num: u16) -> Vec<String> {
    let mark = format!("0x{mark:08x}/0x{mark:08x}");
    let queue_num = queue_num.to_string();
    [
        "-t",
        "raw",
        op,
        "PREROUTING",
        "-m",
        "mark",
        "--mark",
        &mark,
        "-j",
        "NFQUEUE",
        "--queue-num",
        &queue_num,
        "--queue-bypass",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The queue rule could not be added: iptables-nft is missing, or the kernel lacks
/// `xt_NFQUEUE` (OpenWrt: `kmod-ipt-nfqueue`). Either is the system's to fix.
#[derive(Debug, PartialEq, Eq)]
pub struct QueueRuleError;

impl core::fmt::Display for QueueRuleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("cannot add the iptables-nft NFQUEUE rule (xt_NFQUEUE missing?)")
    }
}

impl std::error::Error for QueueRuleError {}

/// With the iptables-nft backend, adds the rule unless it is there already; with the nft
/// backend, nothing.
pub fn ensure_rule(backend: QueueBackend, queue_num: u16) -> Result<(), QueueRuleError> {
    let QueueBackend::XtablesMark(mark) = backend else { return Ok(()) };
    let iptables = program("iptables-nft");
    let present = Command::new(&iptables).args(rule("-C", mark, queue_num)).stderr(Stdio::null()).status();
    if present.is_ok_and(|s| s.success()) {
        return Ok(());
    }
    let added = Command::new(&iptables).args(rule("-I", mark, queue_num)).status();
    if !added.is_ok_and(|s| s.success()) {
        return Err(QueueRuleError);
    }
    Ok(())
}

/// Removes the rule, if the backend has one; a rule already gone is fine.
pub fn remove_rule(backend: QueueBackend, queue_num: u16) {
    if let QueueBackend::XtablesMark(mark) = backend {
        let _ = Command::new(program("iptables-nft")).args(rule("-D", mark, queue_num)).stderr(Stdio::null()).status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_queues_marked_packets_and_bypasses_without_a_reader() {
        assert_eq!(
            rule("-I", XTABLES_MARK, 500).join(" "),
            "-t raw -I PREROUTING -m mark --mark 0x10000000/0x10000000 -j NFQUEUE --queue-num 500 --queue-bypass"
        );
    }

    #[test]
    fn the_nft_backend_needs_no_rule() {
        assert_eq!(ensure_rule(QueueBackend::Nft, 500), Ok(()));
    }
}
