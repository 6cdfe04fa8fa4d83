//! SIGTERM, SIGINT and SIGHUP as a file descriptor (`signalfd(2)`), so the event loop
//! waits on signals, the queue and the clock in one `poll`.

use nix::sys::signal::{SigSet, Signal as Posix};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

/// What the daemon was asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: persist state and stop.
    Terminate,
    /// SIGHUP: reload the configuration.
    Reload,
}

/// A signalfd for the signals above; they are blocked for normal delivery.
#[derive(Debug)]
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks the signals in this thread (call before starting any other) and opens the fd.
    pub fn open() -> io::Result<Signals> {
        let mut set = SigSet::empty();
        for signal in [Posix::SIGTERM, Posix::SIGINT, Posix::SIGHUP] {
            set.add(signal);
        }
        set.thread_block()?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    /// The next pending signal, if any.
    pub fn read(&mut self) -> Option<Signal> {
        let info = self.fd.read_signal().ok()??;
        match Posix::try_from(i32::try_from(info.ssi_signo).ok()?).ok()? {
            Posix::SIGHUP => Some(Signal::Reload),
            Posix::SIGTERM | Posix::SIGINT => Some(Signal::Terminate),
            _ => None,
        }
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
