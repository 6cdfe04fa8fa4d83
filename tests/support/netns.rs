//! Network namespaces for the tests that talk to this host's kernel (NFQUEUE, nf_tables):
//! root check, tool lookup, a namespace deleted on drop, and a thread that runs inside it.

// setns(2) and geteuid(2) have no safe wrapper in std; these two calls are the only unsafe
// code here.
#![allow(unsafe_code)]
#![allow(clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The named programs, or `None` (after saying why) when this host can't run the test:
/// not root, or a tool missing.
pub fn root_tools(names: &[&str]) -> Option<Vec<PathBuf>> {
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: needs root (network namespaces, netfilter)");
        return None;
    }
    let find = |name: &str| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    };
    let found: Option<Vec<PathBuf>> = names.iter().map(|n| find(n)).collect();
    if found.is_none() {
        println!("skipped: needs {}", names.join(", "));
    }
    found
}

/// A network namespace deleted on drop (with its rules and sockets' routes).
pub struct Netns {
    ip: PathBuf,
    pub name: String,
}

impl Netns {
    /// Creates `ike-esp-alg-<purpose>-<pid>` with its loopback up.
    pub fn create(ip: &Path, purpose: &str) -> Netns {
        let name = format!("ike-esp-alg-{purpose}-{}", std::process::id());
        run(ip, &["netns", "add", &name]);
        let netns = Netns { ip: ip.to_path_buf(), name };
        run(ip, &["-n", &netns.name, "link", "set", "lo", "up"]);
        netns
    }

    /// Runs `program args` inside the namespace; panics with its stderr if it fails.
    pub fn exec(&self, program: &Path, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.name, program.to_str().unwrap_or_default()];
        all.extend_from_slice(args);
        run(&self.ip, &all)
    }

    /// Runs `body` on a thread that has entered the namespace (the rest of the test process
    /// stays put), then deletes the namespace, also when `body` panicked.
    pub fn run_inside(self, body: impl FnOnce() + Send + 'static) {
        let path = PathBuf::from("/run/netns").join(&self.name);
        let result = std::thread::spawn(move || {
            enter(&path);
            body();
        })
        .join();
        drop(self);
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new(&self.ip).args(["netns", "del", &self.name]).status();
    }
}

fn enter(path: &Path) {
    let file = File::open(path).expect("open the namespace file");
    // SAFETY: setns takes an fd we hold open for the call and a flag; it changes only the
    // calling thread's network namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// Runs a program; panics with its stderr if it fails. Returns its stdout.
pub fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect("run a tool");
    assert!(out.status.success(), "{} {}: {}", program.display(), args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
