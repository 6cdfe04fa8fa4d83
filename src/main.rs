//! The `ike-esp-alg` binary: the daemon and the operator's commands.
//!
//! ```text
//! ike-esp-alg daemon [--config F] [--state F] [--control S] [--egress-device DEV] [--queue-backend nft|xtables] [--flush-on-exit] [--bpf-object FILE] [--bpf-pin FILE]
//! ike-esp-alg show [all|counters|state|gates|sessions|bindings] [--json] [--control S]
//! ike-esp-alg show security alg status | show security alg | show security nat [--config F]
//! ike-esp-alg clear all | clear client ADDRESS [--control S]
//! ike-esp-alg check [--config F]
//! ike-esp-alg print-ruleset [--config F] [--egress ADDRESS] [--queue-backend nft|xtables]
//! ike-esp-alg import-junos [FILE]
//! ike-esp-alg version
//! ```

#![forbid(unsafe_code)]

use ike_esp_alg::cli::junos_show;
use ike_esp_alg::config::junos;
use ike_esp_alg::config::model::AlgConfig;
use ike_esp_alg::config::uci;
use ike_esp_alg::shell::config_file;
use ike_esp_alg::shell::control::{request as send_request, DEFAULT_CONTROL_PATH};
use ike_esp_alg::shell::control_request::{ControlRequest, RequestError};
use ike_esp_alg::shell::daemon::{self, DaemonOptions, XTABLES_MARK};
use ike_esp_alg::shell::nft::{render_ruleset, DatapathSettings, QueueBackend};
use ike_esp_alg::shell::offload::{self, OffloadPaths};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

const DEFAULT_CONFIG: &str = "/etc/config/ike-esp-alg";
const DEFAULT_STATE: &str = "/var/run/ike-esp-alg.state";

const USAGE: &str = "usage:
  ike-esp-alg daemon [--config FILE] [--state FILE] [--control SOCKET] [--egress-device DEV] [--queue-backend nft|xtables] [--flush-on-exit] [--bpf-object FILE] [--bpf-pin FILE]
  ike-esp-alg show [all|counters|state|gates|sessions|bindings] [--json] [--control SOCKET]
  ike-esp-alg show security alg status | show security alg | show security nat [--config FILE]
  ike-esp-alg clear all | clear client ADDRESS [--control SOCKET]
  ike-esp-alg check [--config FILE]
  ike-esp-alg print-ruleset [--config FILE] [--egress ADDRESS] [--queue-backend nft|xtables]
  ike-esp-alg import-junos [FILE]     (reads standard input without FILE)
  ike-esp-alg version";

/// Words and `--flag value` pairs, parsed once.
struct Args {
    words: Vec<String>,
    flags: Vec<(String, Option<String>)>,
}

const VALUE_FLAGS: &[&str] = &[
    "--config",
    "--state",
    "--control",
    "--egress-device",
    "--egress",
    "--queue-backend",
    "--bpf-object",
    "--bpf-pin",
];
const BOOL_FLAGS: &[&str] = &["--json", "--flush-on-exit"];

impl Args {
    fn parse(raw: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut words = Vec::new();
        let mut flags = Vec::new();
        let mut raw = raw.peekable();
        while let Some(arg) = raw.next() {
            if VALUE_FLAGS.contains(&arg.as_str()) {
                let value = raw.next().ok_or_else(|| format!("{arg} needs a value"))?;
                flags.push((arg, Some(value)));
            } else if BOOL_FLAGS.contains(&arg.as_str()) {
                flags.push((arg, None));
            } else if arg.starts_with("--") {
                return Err(format!("unknown option {arg}"));
            } else {
                words.push(arg);
            }
        }
        Ok(Args { words, flags })
    }

    fn value(&self, flag: &str) -> Option<&str> {
        self.flags.iter().rev().find(|(f, _)| f == flag).and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|(f, _)| f == flag)
    }

    fn path(&self, flag: &str, default: &str) -> PathBuf {
        PathBuf::from(self.value(flag).unwrap_or(default))
    }

    fn backend(&self) -> Result<QueueBackend, String> {
        match self.value("--queue-backend").unwrap_or("nft") {
            "nft" => Ok(QueueBackend::Nft),
            "xtables" => Ok(QueueBackend::XtablesMark(XTABLES_MARK)),
            other => Err(format!("--queue-backend {other}: expected nft or xtables")),
        }
    }
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => return fail(&e, 2),
    };
    let words: Vec<&str> = args.words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["version"] => {
            println!("ike-esp-alg {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["daemon"] => run_daemon(&args),
        ["show", "security", "alg", "status"] => show_config(&args, junos_show::render_alg_status),
        ["show", "security", "alg"] => show_config(&args, junos_show::render_security_alg),
        ["show", "security", "nat"] => show_config(&args, junos_show::render_security_nat),
        ["show", ..] | ["clear", ..] => {
            let mut words = words.clone();
            if args.has("--json") {
                words.push("json");
            }
            match ControlRequest::parse_words(&words) {
                Ok(request) => control(&args, request),
                Err(RequestError::Unknown(_)) => fail(USAGE, 2),
                Err(e) => fail(&format!("error: {e}"), 2),
            }
        }
        ["check"] => check(&args),
        ["print-ruleset"] => print_ruleset(&args),
        ["import-junos", rest @ ..] => import_junos(rest.first().copied()),
        _ => fail(USAGE, 2),
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(code)
}

fn run_daemon(args: &Args) -> ExitCode {
    let backend = match args.backend() {
        Ok(b) => b,
        Err(e) => return fail(&e, 2),
    };
    let options = DaemonOptions {
        config_path: args.path("--config", DEFAULT_CONFIG),
        state_path: args.path("--state", DEFAULT_STATE),
        control_path: args.path("--control", DEFAULT_CONTROL_PATH),
        egress_device: args.value("--egress-device").map(str::to_string),
        backend,
        flush_on_exit: args.has("--flush-on-exit"),
        offload: OffloadPaths {
            object: args.path("--bpf-object", offload::DEFAULT_OBJECT),
            pin: args.path("--bpf-pin", offload::DEFAULT_PIN),
        },
    };
    match daemon::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_config() => fail(&e.to_string(), 2),
        Err(e) => fail(&format!("ike-esp-alg: {e}"), 1),
    }
}

fn control(args: &Args, request: ControlRequest) -> ExitCode {
    match send_request(&args.path("--control", DEFAULT_CONTROL_PATH), &request.to_string()) {
        Ok(answer) if answer.starts_with("error:") => fail(answer.trim_end(), 2),
        Ok(answer) => {
            print!("{answer}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string(), 1),
    }
}

/// The Junos-format `show security …` commands: the configuration file, no daemon needed.
fn show_config(args: &Args, render: fn(&AlgConfig) -> String) -> ExitCode {
    match config_file::load(&args.path("--config", DEFAULT_CONFIG)) {
        Ok(config) => {
            print!("{}", render(&config));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string(), 2),
    }
}

/// Checks the configuration; the reader's warnings go to stderr as `FILE:LINE: warning: ...`
/// and do not fail the check.
fn check(args: &Args) -> ExitCode {
    let path = args.path("--config", DEFAULT_CONFIG);
    let (loaded, warnings) = config_file::load_with_warnings(&path);
    for warning in &warnings {
        eprintln!("{warning}");
    }
    match loaded {
        Ok(config) => {
            let zones = std::fs::read_to_string("/etc/config/firewall")
                .ok()
                .and_then(|t| uci::parse(&t, "/etc/config/firewall").ok())
                .map(|p| ike_esp_alg::config::model::firewall_zone_names(&p));
            let problems = zones.map(|z| config.check_zones(z.iter().map(String::as_str))).unwrap_or_default();
            if problems.is_empty() {
                println!("{}: ok ({})", path.display(), if config.enabled { "enabled" } else { "disabled" });
                ExitCode::SUCCESS
            } else {
                let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
                fail(&lines.join("\n"), 2)
            }
        }
        Err(e) => fail(&e.to_string(), 2),
    }
}

fn print_ruleset(args: &Args) -> ExitCode {
    let backend = match args.backend() {
        Ok(b) => b,
        Err(e) => return fail(&e, 2),
    };
    let config = match config_file::load(&args.path("--config", DEFAULT_CONFIG)) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string(), 2),
    };
    let egress = match args.value("--egress").map(str::parse::<Ipv4Addr>) {
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => return fail("--egress needs an IPv4 address", 2),
        None => None,
    };
    let settings = DatapathSettings::from_config(&config.engine, egress, config.queue.number, backend);
    print!("{}", render_ruleset(&settings));
    ExitCode::SUCCESS
}

fn import_junos(file: Option<&str>) -> ExitCode {
    let text = match file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}")),
        None => std::io::read_to_string(std::io::stdin()).map_err(|e| format!("standard input: {e}")),
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => return fail(&e, 2),
    };
    let import = junos::import(&text);
    print!("{}", uci::write(&import.package));
    for warning in &import.warnings {
        eprintln!("{warning}");
    }
    ExitCode::SUCCESS
}
