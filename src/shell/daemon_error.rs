//! Why the daemon could not start or had to stop, typed by blame: the operator's file, the
//! kernel or system (a missing module or program, with the OpenWrt package that supplies
//! it), or a local resource. Each prints as one clear line (a bad file: one per problem).

use super::config_file::ConfigFileError;
use super::nfqueue::NfQueueError;
use super::nft::NftError;
use super::routes::RouteError;
use super::xtables::QueueRuleError;
use core::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum DaemonError {
    /// The configuration file (exit status 2, like `check`).
    Config(ConfigFileError),
    /// The engine refused a configuration the model accepted (a range only the engine
    /// knows); named with the file.
    Engine { path: PathBuf, message: String },
    /// `nft` refused our table, or is missing.
    Ruleset(NftError),
    /// The iptables-nft backend's queue rule.
    QueueRule(QueueRuleError),
    /// Binding the NFQUEUE.
    Queue(NfQueueError),
    /// The nf_tables netlink socket for set elements.
    Elements(io::Error),
    /// The rtnetlink sockets for the egress and the pool addresses.
    Routes(RouteError),
    /// The signal fd.
    Signals(io::Error),
    /// The control socket.
    Control { path: PathBuf, source: io::Error },
}

impl DaemonError {
    /// True when the operator's configuration is to blame (the command exits 2).
    pub fn is_config(&self) -> bool {
        matches!(self, DaemonError::Config(_) | DaemonError::Engine { .. })
    }
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Config(e) => write!(f, "{e}"),
            DaemonError::Engine { path, message } => write!(f, "{}: {message}", path.display()),
            DaemonError::Ruleset(e) => {
                write!(f, "cannot install the ike-esp-alg nftables table: {e}")?;
                match e.missing_kernel_module() {
                    Some(hint) => write!(f, " ({hint})"),
                    None => Ok(()),
                }
            }
            DaemonError::QueueRule(e) => write!(f, "{e}"),
            DaemonError::Queue(e) => write!(f, "{e}"),
            DaemonError::Elements(e) => write!(f, "cannot open the nf_tables netlink socket: {e}"),
            DaemonError::Routes(e) => write!(f, "{e}"),
            DaemonError::Signals(e) => write!(f, "signalfd: {e}"),
            DaemonError::Control { path, source } => write!(f, "control socket {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for DaemonError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_ruleset_names_the_package_to_install() {
        let refused = |message: &str| DaemonError::Ruleset(NftError::Refused { message: message.to_string() });
        assert_eq!(
            refused("Error: Could not process rule: No such file or directory").to_string(),
            "cannot install the ike-esp-alg nftables table: Error: Could not process rule: No such file or directory \
             (a kernel module is missing: install kmod-nft-queue and kmod-nft-nat)"
        );
        assert!(refused("Error: unknown expression queue").to_string().ends_with("install kmod-nft-queue)"));
        assert_eq!(refused("syntax error").to_string(), "cannot install the ike-esp-alg nftables table: syntax error");
        assert!(!refused("x").is_config());
        assert!(DaemonError::Engine { path: "/etc/config/ike-esp-alg".into(), message: "m".into() }.is_config());
    }
}
