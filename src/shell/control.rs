//! The local control socket: one request line in, one text answer out, then close.
//!
//! The requests are [`super::control_request::ControlRequest`]s, printed by the CLI and
//! parsed by the daemon with the same type. The CLI is a thin client of this socket; LuCI's
//! rpcd plugin runs `ike-esp-alg show all --json` and reads the versioned JSON as it is.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_CONTROL_PATH: &str = "/var/run/ike-esp-alg.sock";

/// The longest request line accepted.
const MAX_REQUEST: u64 = 256;

/// The daemon's end.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds, replacing a stale socket file left by a killed daemon.
    pub fn bind(path: &Path) -> io::Result<ControlSocket> {
        if path.exists() && UnixStream::connect(path).is_err() {
            let _ = std::fs::remove_file(path);
        }
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(ControlSocket { listener, path: path.to_path_buf() })
    }

    /// Accepts one pending client and reads its request, if one is waiting.
    pub fn accept(&self) -> Option<(UnixStream, String)> {
        let (stream, _) = self.listener.accept().ok()?;
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        let mut line = String::new();
        let mut reader = BufReader::new((&stream).take(MAX_REQUEST));
        reader.read_line(&mut line).ok()?;
        Some((stream, line.trim().to_string()))
    }
}

impl std::os::fd::AsFd for ControlSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl std::os::fd::AsRawFd for ControlSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.listener.as_raw_fd()
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Sends the answer and closes.
pub fn respond(mut stream: UnixStream, answer: &str) {
    let _ = stream.write_all(answer.as_bytes());
}

/// The CLI's end: sends one request and returns the answer.
pub fn request(path: &Path, line: &str) -> io::Result<String> {
    let mut stream = UnixStream::connect(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot reach the daemon at {}: {e} (is ike-esp-alg running?)", path.display()),
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(line.as_bytes())?;
    stream.write_all(b"\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::status::Part;
    use crate::shell::control_request::ControlRequest;

    #[test]
    fn a_request_crosses_the_socket_and_the_answer_comes_back() {
        let path = std::env::temp_dir().join(format!("ike-esp-alg-control-test-{}.sock", std::process::id()));
        let socket = ControlSocket::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        let sent = ControlRequest::Show { part: Part::Gates, json: true };
        let client_path = path.clone();
        let client = std::thread::spawn(move || request(&client_path, &sent.to_string()).map_err(|e| e.to_string()));
        // The listener does not block: poll it, for about 5 s at most.
        let accepted = (0..1000).find_map(|_| {
            let accepted = socket.accept();
            if accepted.is_none() {
                std::thread::sleep(Duration::from_millis(5));
            }
            accepted
        });
        let (stream, received) = accepted.unwrap_or_else(|| panic!("no request within 5 s"));
        assert_eq!(ControlRequest::parse(&received), Ok(sent));
        respond(stream, "answer\n");
        assert_eq!(client.join().ok(), Some(Ok("answer\n".to_string())));
        drop(socket);
        assert!(!path.exists(), "the socket file is removed on drop");
    }
}
