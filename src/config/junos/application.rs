//! Junos applications to the ALG's ports: the IKE ALG application gives `ike_port`, a UDP
//! NAT-T application gives `natt_port`; any other application is a firewall matter.
//!
//! Read first: the guide's custom-application steps (`applications application … protocol
//! udp destination-port 500 application-protocol ike-esp-nat`, and `custom-ike-natt` on 4500).

use super::address::is_port;
use super::map::{Assign, Importer};
use super::split::Statement;
use super::{WarningKind, ALG_SECTION};
use crate::config::model::options::{IKE_PORT, NATT_PORT};

/// An application, collected over all its statements and mapped at the end.
#[derive(Debug, Clone, Default)]
pub(super) struct Application {
    name: String,
    protocol: Option<String>,
    destination_port: Option<(String, usize)>,
    source_port: Option<(String, usize)>,
    application_protocol: Option<String>,
    /// Indexes into `Importer::application_statements`.
    statements: Vec<usize>,
    /// Words that have no meaning here, with the statement they came from.
    unmapped: Vec<(String, usize)>,
}

impl Importer {
    /// `applications application <name> …`: collected, then mapped in `finish`.
    pub(super) fn application(&mut self, s: &Statement, name: &str, attributes: &[&str]) {
        let statement = self.application_statements.len();
        self.application_statements.push(s.clone());
        let index = match self.applications.iter().position(|a| a.name == name) {
            Some(index) => index,
            None => {
                let application = Application { name: name.to_owned(), ..Application::default() };
                self.applications.push(application);
                self.applications.len().saturating_sub(1)
            }
        };
        let Some(application) = self.applications.get_mut(index) else {
            return;
        };
        application.statements.push(statement);
        let mut rest = attributes;
        while let [keyword, value, tail @ ..] = rest {
            let value = (*value).to_owned();
            match *keyword {
                "protocol" => application.protocol = Some(value),
                "destination-port" => application.destination_port = Some((value, statement)),
                "source-port" => application.source_port = Some((value, statement)),
                "application-protocol" => application.application_protocol = Some(value),
                _ => break,
            }
            rest = tail;
        }
        if !rest.is_empty() || attributes.is_empty() {
            application.unmapped.push((rest.join(" "), statement));
        }
    }

    /// The IKE ALG application gives `ike_port`; a plain UDP application on 4500 (or named
    /// for NAT-T) gives `natt_port`; any other application is a firewall matter.
    pub(super) fn map_application(&mut self, application: &Application) {
        let statements: Vec<Statement> =
            application.statements.iter().filter_map(|&i| self.application_statements.get(i).cloned()).collect();
        let name = &application.name;
        let udp = application.protocol.as_deref() == Some("udp");
        let natt_named = name.to_ascii_lowercase().replace('-', "").contains("natt");
        let option = match (application.application_protocol.as_deref(), &application.destination_port) {
            (Some("ike-esp-nat"), Some((port, _))) if udp && is_port(port) => &IKE_PORT,
            (None, Some((port, _))) if udp && is_port(port) && (port == "4500" || natt_named) => &NATT_PORT,
            (Some("ike-esp-nat"), _) => {
                let reason = format!(
                    "application '{name}' for the IKE ALG needs 'protocol udp' and a single \
                     'destination-port'"
                );
                return self.warn_all(&statements, &reason);
            }
            (Some(other), _) => {
                let reason = format!("application-protocol '{other}' is not the IKE/ESP ALG");
                return self.warn_all(&statements, &reason);
            }
            _ => {
                let reason = format!(
                    "application '{name}' is neither the IKE ALG application (application-protocol \
                     ike-esp-nat) nor a UDP NAT-T application; other applications belong to \
                     firewall rules"
                );
                return self.warn_all(&statements, &reason);
            }
        };
        let Some((port, port_statement)) = &application.destination_port else {
            return;
        };
        let Some(s) = self.application_statements.get(*port_statement).cloned() else {
            return;
        };
        let existing = self.package.get(ALG_SECTION, option.name).map(str::to_owned);
        match existing {
            Some(existing) if existing != *port => {
                let reason = format!("{} is already {existing} from an earlier application", option.name);
                return self.warn_all(&statements, &reason);
            }
            _ => self.assign(&s, option, ALG_SECTION, Assign::Set(port)),
        }
        if let Some((source_port, i)) = &application.source_port {
            if source_port != port {
                if let Some(s) = self.application_statements.get(*i).cloned() {
                    let reason = format!(
                        "source-port {source_port} is not kept: the ALG matches the \
                         destination port; the client's source port may be translated"
                    );
                    self.warn(&s, WarningKind::PartlyMapped, &reason);
                }
            }
        }
        for (words, i) in &application.unmapped {
            if let Some(s) = self.application_statements.get(*i).cloned() {
                let reason =
                    if words.is_empty() { "nothing to set".to_owned() } else { format!("'{words}' has no UCI option") };
                self.warn(&s, WarningKind::PartlyMapped, &reason);
            }
        }
    }
}
