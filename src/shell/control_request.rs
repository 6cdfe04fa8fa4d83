//! The control protocol's one request type: what the CLI sends and the daemon reads, one
//! line each (`show <part> [json]`, `clear all`, `clear client ADDRESS`). Both ends use
//! [`ControlRequest::parse_words`] and [`ControlRequest`]'s `Display`, so they cannot drift.

use crate::cli::status::Part;
use core::fmt;
use std::net::Ipv4Addr;

/// One request to the running daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlRequest {
    /// A part of the status, as tables or as the versioned JSON.
    Show { part: Part, json: bool },
    /// Forget every client's state (and remove its datapath entries).
    ClearAll,
    /// Forget one client's state.
    ClearClient(Ipv4Addr),
}

/// Why a request line is not one. The daemon answers `error: <this>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    UnknownPart(String),
    NotAnAddress(String),
    Unknown(String),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::UnknownPart(part) => {
                write!(f, "unknown part '{part}' (all, counters, state, gates, sessions, bindings)")
            }
            RequestError::NotAnAddress(address) => write!(f, "'{address}' is not an IPv4 address"),
            RequestError::Unknown(request) => write!(f, "unknown request '{request}'"),
        }
    }
}

impl std::error::Error for RequestError {}

impl ControlRequest {
    /// Reads a request line as the daemon receives it.
    pub fn parse(line: &str) -> Result<ControlRequest, RequestError> {
        let words: Vec<&str> = line.split_whitespace().collect();
        ControlRequest::parse_words(&words)
    }

    /// Reads a request from its words: the line's, or the CLI's arguments (`show` alone
    /// means `show all`; after the part only `json` counts).
    pub fn parse_words(words: &[&str]) -> Result<ControlRequest, RequestError> {
        match words {
            ["show"] => Ok(ControlRequest::Show { part: Part::All, json: false }),
            ["show", part, rest @ ..] => match Part::parse(part) {
                Some(part) => Ok(ControlRequest::Show { part, json: rest.contains(&"json") }),
                None => Err(RequestError::UnknownPart((*part).to_string())),
            },
            ["clear", "all"] => Ok(ControlRequest::ClearAll),
            ["clear", "client", address] => address
                .parse()
                .map(ControlRequest::ClearClient)
                .map_err(|_| RequestError::NotAnAddress((*address).to_string())),
            _ => Err(RequestError::Unknown(words.join(" "))),
        }
    }
}

impl fmt::Display for ControlRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlRequest::Show { part, json: false } => write!(f, "show {}", part.name()),
            ControlRequest::Show { part, json: true } => write!(f, "show {} json", part.name()),
            ControlRequest::ClearAll => f.write_str("clear all"),
            ControlRequest::ClearClient(client) => write!(f, "clear client {client}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_prints_as_a_line_that_parses_back() {
        let parts = [Part::All, Part::Counters, Part::State, Part::Gates, Part::Sessions, Part::Bindings];
        let mut requests: Vec<ControlRequest> =
            parts.iter().flat_map(|&part| [false, true].map(|json| ControlRequest::Show { part, json })).collect();
        requests.push(ControlRequest::ClearAll);
        requests.push(ControlRequest::ClearClient(Ipv4Addr::new(192, 168, 1, 10)));
        for request in requests {
            assert_eq!(ControlRequest::parse(&request.to_string()), Ok(request), "{request}");
        }
        assert_eq!(ControlRequest::ClearClient(Ipv4Addr::new(10, 0, 0, 1)).to_string(), "clear client 10.0.0.1");
        assert_eq!(ControlRequest::Show { part: Part::Gates, json: true }.to_string(), "show gates json");
    }

    #[test]
    fn aliases_name_the_same_parts() {
        for (alias, part) in [
            ("status", Part::All),
            ("statistics", Part::Counters),
            ("ike", Part::State),
            ("esp", Part::Sessions),
            ("nat", Part::Bindings),
        ] {
            assert_eq!(ControlRequest::parse(&format!("show {alias}")), Ok(ControlRequest::Show { part, json: false }));
        }
        assert_eq!(ControlRequest::parse_words(&["show"]), Ok(ControlRequest::Show { part: Part::All, json: false }));
        assert_eq!(
            ControlRequest::parse("  show   sessions extra json "),
            Ok(ControlRequest::Show { part: Part::Sessions, json: true })
        );
    }

    #[test]
    fn errors_say_what_was_wrong_in_the_daemons_words() {
        let error = |line: &str| ControlRequest::parse(line).err().map(|e| e.to_string());
        assert_eq!(
            error("show foo").as_deref(),
            Some("unknown part 'foo' (all, counters, state, gates, sessions, bindings)")
        );
        assert_eq!(error("clear client 300.1.1.1").as_deref(), Some("'300.1.1.1' is not an IPv4 address"));
        assert_eq!(error("reboot  now").as_deref(), Some("unknown request 'reboot now'"));
        assert_eq!(error("").as_deref(), Some("unknown request ''"));
        assert_eq!(error("clear").as_deref(), Some("unknown request 'clear'"));
    }
}
