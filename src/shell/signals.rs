//! SIGTERM, SIGINT and SIGHUP as a file descriptor (`signalfd(2)`), so the event loop
//! waits on signals, the queue and the clock in one `poll`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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
    fd: OwnedFd,
}

#[allow(unsafe_code)]
impl Signals {
    /// Blocks the signals in this thread (call before starting any other) and opens the fd.
    pub fn open() -> io::Result<Signals> {
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t owned by this frame.
        unsafe {
            libc::sigemptyset(&mut set);
            for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                libc::sigaddset(&mut set, signal);
            }
        }
        // SAFETY: blocking signals for this thread; `set` is initialised.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: -1 asks for a new fd; flags are valid.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(Signals { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// The next pending signal, if any.
    pub fn read(&self) -> Option<Signal> {
        // SAFETY: signalfd_siginfo is plain data.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: reading at most `size` bytes into `info`.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
        if usize::try_from(n).ok() != Some(size) {
            return None;
        }
        match i32::try_from(info.ssi_signo).unwrap_or(0) {
            libc::SIGHUP => Some(Signal::Reload),
            libc::SIGTERM | libc::SIGINT => Some(Signal::Terminate),
            _ => None,
        }
    }
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
