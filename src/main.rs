//! The `ike-esp-alg` binary. Subcommands grow with the daemon and CLI issues.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("--version") | Some("version") => {
            println!("ike-esp-alg {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: ike-esp-alg version");
            ExitCode::from(2)
        }
    }
}
