//! Junos `set` statements to UCI: the importer behind `ike-esp-alg import-junos`.
//!
//! Read first: Juniper's "IKE and ESP ALG" guide (its "CLI quick configuration" blocks and
//! step-by-step procedures) and SPEC §4, whose Junos-to-UCI table this module implements.
//! The input follows the Junos CLI: `set <path…> <value>` statements, `"…"` quoting, `[ a b ]`
//! value lists, `[edit <path>]` banners and `user@host#` prompts that set the hierarchy level
//! of the `set` statements after them.
//!
//! Input may keep its line breaks or run statements together, as the guide's quick
//! configuration blocks do. Without a line break, a new statement starts at `set`, `delete`,
//! `activate` or `deactivate` followed by a top-level statement name (`security`,
//! `applications`, …), at a prompt, or at an `[edit …]` banner; a word such as a pool called
//! `set` therefore stays a name.
//!
//! Nothing is dropped silently: every statement or part of one that has no place in
//! `/etc/config/ike-esp-alg` comes back as a [`Warning`] carrying the original text. Values
//! are checked for form (IPv4 addresses, numbers) but not for range: that is the typed
//! configuration's job, which then reports the file, section and option.

use std::fmt;
use std::net::Ipv4Addr;

use super::uci::Package;

/// The UCI package the importer writes.
pub const PACKAGE_NAME: &str = "ike-esp-alg";

/// The section that holds the ALG's own options (SPEC §4).
pub const ALG_SECTION: &str = "ike_esp_nat";

/// What came out of an import: the UCI package and what could not be carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Sections in a fixed order: `alg`, `nat`, `pool`s, `rule_set`s, `rule`s.
    pub package: Package,
    /// In input order.
    pub warnings: Vec<Warning>,
}

/// One statement that was not, or not fully, carried over. Displays as one line:
/// `not mapped: set security zones … (reason)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The input line the statement starts on.
    pub line: u32,
    /// The statement as written, prefixed with its `[edit …]` level if it has one.
    pub statement: String,
    pub kind: WarningKind,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// Nothing of the statement was imported.
    NotMapped,
    /// Part of the statement was imported; the reason says which part was not.
    PartlyMapped,
    /// Imported under another name, because UCI names are `[A-Za-z0-9_]` and unique.
    Renamed,
}

/// Imports Junos `set` statements. Never fails: what cannot be imported becomes a warning.
pub fn import(text: &str) -> Import {
    let mut importer = Importer {
        package: Package::with_name(PACKAGE_NAME).unwrap_or_default(),
        ..Importer::default()
    };
    for statement in split_statements(text) {
        importer.statement(&statement);
    }
    importer.finish()
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.kind, self.statement, self.reason)
    }
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WarningKind::NotMapped => "not mapped",
            WarningKind::PartlyMapped => "partly mapped",
            WarningKind::Renamed => "renamed",
        })
    }
}

const ZONES: &str = "zones and address books belong to the OpenWrt firewall; \
                     a rule set names firewall zones, a rule takes addresses directly";
const POLICIES: &str = "policies are firewall rules; the ALG handles all IPsec passthrough \
                        that a NAT rule matches, whatever the policies";
const ONLY_SET: &str = "only 'set' statements are imported";

/// Section types in the order the output lists them.
const SECTION_ORDER: &[&str] = &["alg", "nat", "pool", "rule_set", "rule"];

/// Options per section type, in the order the output lists them (SPEC §4's table).
#[rustfmt::skip]
const OPTION_ORDER: &[(&str, &[&str])] = &[
    ("alg", &["enabled", "state_timeout", "esp_gate_timeout", "esp_session_timeout",
              "ike_port", "natt_port"]),
    ("pool", &["address", "proxy_arp"]),
    ("rule_set", &["from_zone", "to_zone"]),
    ("rule", &["rule_set", "source_address", "destination_address", "source_nat"]),
];

/// Junos top-level configuration statements: after `set`, one of these starts a statement.
#[rustfmt::skip]
const TOP_LEVEL: &[&str] = &[
    "access", "accounting-options", "applications", "apply-groups", "bridge-domains",
    "chassis", "class-of-service", "event-options", "firewall", "forwarding-options", "groups",
    "interfaces", "logical-systems", "multi-chassis", "poe", "policy-options", "protocols",
    "routing-instances", "routing-options", "schedulers", "security", "services", "snmp",
    "switch-options", "system", "tenants", "virtual-chassis", "vlans",
];

/// Configuration-mode commands that take a path and may run on from a previous statement.
const PATH_COMMANDS: &[&str] = &["set", "delete", "activate", "deactivate"];

/// UCI section names the importer uses itself, or that mean something as a value.
const RESERVED_NAMES: &[&str] = &[ALG_SECTION, "source", "interface"];

/// One statement: the command word, and the words after it with the `[edit …]` level in front.
#[derive(Debug, Clone)]
struct Statement {
    /// Position in the input, for keeping warnings in input order.
    index: usize,
    line: u32,
    text: String,
    command: String,
    path: Vec<String>,
    /// A `"` string is not closed before the end of the line.
    unclosed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    /// A `"…"` string: never a command or a keyword.
    Quoted(String),
    /// A `"` string that the line ends before it is closed.
    Unclosed(String),
    Open,
    Close,
    LineBreak,
}

#[derive(Debug, Clone)]
struct Located {
    token: Token,
    line: u32,
    /// Byte range in the input, for quoting the statement as written.
    start: usize,
    end: usize,
}

fn tokenize(text: &str) -> Vec<Located> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut line: u32 = 1;
    while let Some(&(start, c)) = chars.peek() {
        let token_line = line;
        let token = match c {
            '\n' => {
                chars.next();
                line = line.saturating_add(1);
                Token::LineBreak
            }
            // Unicode spaces too: text copied from a web page may hold NBSP or U+3000.
            c if c.is_whitespace() => {
                chars.next();
                continue;
            }
            '[' | ']' => {
                chars.next();
                if c == '[' {
                    Token::Open
                } else {
                    Token::Close
                }
            }
            // A `#` that starts a word starts a comment, as in a `load set` file.
            '#' => {
                while chars.next_if(|&(_, c)| c != '\n').is_some() {}
                continue;
            }
            // Junos strings do not span lines: an unclosed one ends at the line break.
            '"' => {
                chars.next();
                let mut value = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next_if(|&(_, c)| c != '\n') {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => value.extend(chars.next_if(|&(_, c)| c != '\n').map(|(_, c)| c)),
                        c => value.push(c),
                    }
                }
                if closed {
                    Token::Quoted(value)
                } else {
                    Token::Unclosed(value)
                }
            }
            _ => {
                let mut word = String::new();
                while let Some((_, c)) =
                    chars.next_if(|&(_, c)| !c.is_whitespace() && c != '[' && c != ']')
                {
                    word.push(c);
                }
                Token::Word(word)
            }
        };
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        tokens.push(Located {
            token,
            line: token_line,
            start,
            end,
        });
    }
    tokens
}

/// Splits the input into statements, following `[edit …]` banners, prompts, `edit` and `top`.
fn split_statements(text: &str) -> Vec<Statement> {
    let tokens = tokenize(text);
    let mut statements = Vec::new();
    let mut level: Vec<String> = Vec::new();
    let mut current: Vec<&Located> = Vec::new();
    let mut i = 0;
    while let Some(located) = tokens.get(i) {
        i = i.saturating_add(1);
        let next = tokens.get(i).map(|l| &l.token);
        match &located.token {
            Token::LineBreak => flush(text, &mut current, &mut level, &mut statements),
            Token::Word(word) if is_prompt(word) => {
                flush(text, &mut current, &mut level, &mut statements);
            }
            Token::Open if matches!(next, Some(Token::Word(w)) if w == "edit") => {
                flush(text, &mut current, &mut level, &mut statements);
                level.clear();
                i = i.saturating_add(1);
                while let Some(located) = tokens.get(i) {
                    i = i.saturating_add(1);
                    match &located.token {
                        Token::Word(w) | Token::Quoted(w) | Token::Unclosed(w) => {
                            level.push(w.clone())
                        }
                        _ => break,
                    }
                }
            }
            Token::Word(word)
                if !current.is_empty()
                    && PATH_COMMANDS.contains(&word.as_str())
                    && matches!(next, Some(Token::Word(w)) if TOP_LEVEL.contains(&w.as_str())) =>
            {
                flush(text, &mut current, &mut level, &mut statements);
                current.push(located);
            }
            _ => current.push(located),
        }
    }
    flush(text, &mut current, &mut level, &mut statements);
    statements
}

/// Ends the statement in `current`: `edit` and `top` move the level, anything else is kept.
fn flush(
    text: &str,
    current: &mut Vec<&Located>,
    level: &mut Vec<String>,
    statements: &mut Vec<Statement>,
) {
    let (Some(first), Some(last)) = (current.first().copied(), current.last().copied()) else {
        return;
    };
    let mut words = current.iter().map(|l| match &l.token {
        Token::Word(w) | Token::Quoted(w) | Token::Unclosed(w) => w.clone(),
        Token::Open => "[".to_owned(),
        Token::Close => "]".to_owned(),
        Token::LineBreak => String::new(),
    });
    let command = words.next().unwrap_or_default();
    let words: Vec<String> = words.collect();
    let as_written = text.get(first.start..last.end).unwrap_or_default();
    let text = if level.is_empty() {
        as_written.to_owned()
    } else {
        format!("[edit {}] {as_written}", level.join(" "))
    };
    let line = first.line;
    let unclosed = current
        .iter()
        .any(|l| matches!(l.token, Token::Unclosed(_)));
    current.clear();
    match command.as_str() {
        "edit" if matches!(first.token, Token::Word(_)) && !unclosed => level.extend(words),
        "top" if words.is_empty() => level.clear(),
        _ => {
            let path = level.iter().cloned().chain(words).collect();
            let index = statements.len();
            statements.push(Statement {
                index,
                line,
                text,
                command,
                path,
                unclosed,
            });
        }
    }
}

/// `user@host#` (configuration mode) or `user@host>` (operational mode).
fn is_prompt(word: &str) -> bool {
    word.len() > 2 && word.contains('@') && (word.ends_with('#') || word.ends_with('>'))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pool,
    RuleSet,
    Rule,
}

/// A Junos name and the UCI section name it became.
#[derive(Debug, Clone)]
struct Name {
    kind: Kind,
    /// Rule names are scoped by their rule set: `rs1/r1`.
    key: String,
    uci: String,
}

/// An application, collected over all its statements and mapped at the end.
#[derive(Debug, Clone, Default)]
struct Application {
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

#[derive(Debug, Clone, Copy)]
enum Assign<'a> {
    Set(&'a str),
    Add(&'a str),
}

#[derive(Debug, Default)]
struct Importer {
    package: Package,
    /// Each with the index of its statement, for sorting into input order at the end.
    warnings: Vec<(usize, Warning)>,
    names: Vec<Name>,
    /// Address ranges of each pool, by UCI name, for matching proxy-ARP statements.
    pool_ranges: Vec<(String, (u32, u32))>,
    applications: Vec<Application>,
    application_statements: Vec<Statement>,
    proxy_arp: Vec<(Statement, String, (u32, u32))>,
}

impl Importer {
    fn statement(&mut self, s: &Statement) {
        if s.unclosed {
            return self.warn(
                s,
                WarningKind::NotMapped,
                "a \" string is not closed on its line",
            );
        }
        match s.command.as_str() {
            "set" => {}
            "up" | "exit" | "quit" => {
                let reason = "only 'edit', 'top' and [edit …] banners are followed: \
                              the statements after this one may be read at the wrong level";
                return self.warn(s, WarningKind::NotMapped, reason);
            }
            _ => return self.warn(s, WarningKind::NotMapped, ONLY_SET),
        }
        let path: Vec<&str> = s.path.iter().map(String::as_str).collect();
        match path.as_slice() {
            ["security", "alg", "ike-esp-nat", rest @ ..] => self.alg(s, rest),
            ["security", "alg", other, ..] => {
                let reason = format!("the '{other}' ALG is not part of this package");
                self.warn(s, WarningKind::NotMapped, &reason);
            }
            ["security", "nat", "source", "address-persistent"] => {
                self.assign(s, "nat", "source", "address_persistent", Assign::Set("1"));
            }
            ["security", "nat", "source", "pool", pool, rest @ ..] => self.pool(s, pool, rest),
            ["security", "nat", "source", "rule-set", rule_set, rest @ ..] => {
                self.rule_set(s, rule_set, rest);
            }
            ["security", "nat", "proxy-arp", rest @ ..] => self.proxy_arp(s, rest),
            ["security", "nat", ..] => self.warn(
                s,
                WarningKind::NotMapped,
                "of Junos NAT, only source pools, rule sets, address persistence and proxy ARP \
                 have UCI options here",
            ),
            ["security", "zones", ..] => self.warn(s, WarningKind::NotMapped, ZONES),
            ["security", "policies", ..] => self.warn(s, WarningKind::NotMapped, POLICIES),
            ["applications", "application", name, rest @ ..] => self.application(s, name, rest),
            ["interfaces", ..] => self.warn(
                s,
                WarningKind::NotMapped,
                "interfaces are configured in /etc/config/network",
            ),
            _ => self.warn(
                s,
                WarningKind::NotMapped,
                "no equivalent in /etc/config/ike-esp-alg",
            ),
        }
    }

    /// `security alg ike-esp-nat …`: `enable` and the three timeouts, possibly several in one
    /// statement.
    fn alg(&mut self, s: &Statement, attributes: &[&str]) {
        let mut rest = attributes;
        let mut mapped = false;
        while let [keyword, tail @ ..] = rest {
            let option = match *keyword {
                "enable" => {
                    self.assign(s, "alg", ALG_SECTION, "enabled", Assign::Set("1"));
                    mapped = true;
                    rest = tail;
                    continue;
                }
                "state-timeout" => "state_timeout",
                "esp-gate-timeout" => "esp_gate_timeout",
                "esp-session-timeout" => "esp_session_timeout",
                _ => break,
            };
            match tail {
                [seconds, tail @ ..] if is_number(seconds) => {
                    self.assign(s, "alg", ALG_SECTION, option, Assign::Set(seconds));
                    mapped = true;
                    rest = tail;
                }
                _ => break,
            }
        }
        if rest.is_empty() && mapped {
            return;
        }
        let reason = if rest.is_empty() {
            "nothing to set: expected enable, state-timeout, esp-gate-timeout or \
             esp-session-timeout"
                .to_owned()
        } else {
            format!(
                "'{}': expected enable, or state-timeout, esp-gate-timeout or \
                 esp-session-timeout with a number of seconds",
                rest.join(" ")
            )
        };
        self.warn_part(s, mapped, &reason);
    }

    /// `security nat source pool <name> address <a> [to <b>]`.
    fn pool(&mut self, s: &Statement, pool: &str, attributes: &[&str]) {
        let (first, last) = match attributes {
            ["address", first, "to", last] => (*first, Some(*last)),
            ["address", first] => (*first, None),
            _ => {
                let reason = "a pool maps only as 'address <address or prefix> [to <address>]'";
                return self.warn(s, WarningKind::NotMapped, reason);
            }
        };
        let entry = match pool_entry(first, last) {
            Ok(entry) => entry,
            Err(reason) => return self.warn(s, WarningKind::NotMapped, &reason),
        };
        let name = self.uci_name(s, Kind::Pool, pool, pool);
        self.assign(s, "pool", &name, "address", Assign::Add(&entry.item));
        self.pool_ranges.push((name, entry.range));
        if let Some(reason) = entry.dropped {
            self.warn(s, WarningKind::PartlyMapped, &reason);
        }
    }

    /// `security nat source rule-set <name> from zone …`, `to zone …`, `rule …`. Sections and
    /// names are only made for statements that map.
    fn rule_set(&mut self, s: &Statement, rule_set: &str, attributes: &[&str]) {
        match attributes {
            [] => {
                self.rule_set_section(s, rule_set);
            }
            [direction @ ("from" | "to"), "zone", zone] => {
                let option = if *direction == "from" {
                    "from_zone"
                } else {
                    "to_zone"
                };
                let name = self.rule_set_section(s, rule_set);
                self.assign_once(s, "rule_set", &name, option, zone);
            }
            ["rule", rule, rest @ ..] => self.rule(s, rule_set, rule, rest),
            [direction @ ("from" | "to"), ..] => {
                let reason = format!(
                    "only '{direction} zone <zone>' maps: a rule set names one firewall zone \
                     per direction"
                );
                self.warn(s, WarningKind::NotMapped, &reason);
            }
            _ => self.warn(
                s,
                WarningKind::NotMapped,
                "no UCI option for this rule-set statement",
            ),
        }
    }

    /// `… rule-set <set> rule <rule> match …` and `… then source-nat …`.
    fn rule(&mut self, s: &Statement, rule_set: &str, rule: &str, rest: &[&str]) {
        match rest {
            [] => {
                self.rule_section(s, rule_set, rule);
            }
            ["match", key @ ("source-address" | "destination-address"), values @ ..] => {
                let option = if *key == "source-address" {
                    "source_address"
                } else {
                    "destination_address"
                };
                self.rule_addresses(s, rule_set, rule, option, values);
            }
            ["match", other, ..] => {
                let reason = format!(
                    "'match {other}' has no UCI option: rules match source-address and \
                     destination-address prefixes"
                );
                self.warn(s, WarningKind::NotMapped, &reason);
            }
            ["then", "source-nat", "interface"] => {
                let name = self.rule_section(s, rule_set, rule);
                self.assign(s, "rule", &name, "source_nat", Assign::Set("interface"));
            }
            ["then", "source-nat", "pool", pool, more @ ..] => {
                let name = self.rule_section(s, rule_set, rule);
                let pool_name = self.uci_name(s, Kind::Pool, pool, pool);
                self.assign(s, "rule", &name, "source_nat", Assign::Set(&pool_name));
                if !more.is_empty() {
                    let reason = format!("'{}' has no UCI option", more.join(" "));
                    self.warn(s, WarningKind::PartlyMapped, &reason);
                }
            }
            ["then", "source-nat", "off"] => self.warn(
                s,
                WarningKind::NotMapped,
                "source_nat is a pool or 'interface'; leave such traffic out of the rule's match",
            ),
            _ => self.warn(
                s,
                WarningKind::NotMapped,
                "no UCI option for this rule statement",
            ),
        }
    }

    fn rule_addresses(
        &mut self,
        s: &Statement,
        rule_set: &str,
        rule: &str,
        option: &str,
        values: &[&str],
    ) {
        let values = match values {
            ["[", inner @ .., "]"] => inner,
            [single] => std::slice::from_ref(single),
            _ => &[],
        };
        let (good, bad): (Vec<&str>, Vec<&str>) = values
            .iter()
            .copied()
            .partition(|v| parse_prefix(v).is_some());
        if !good.is_empty() {
            let name = self.rule_section(s, rule_set, rule);
            for value in &good {
                self.assign(s, "rule", &name, option, Assign::Add(value));
            }
        }
        if good.is_empty() || !bad.is_empty() {
            let reason = if bad.is_empty() {
                "expected an address or prefix, or a list of them in [ ]".to_owned()
            } else {
                format!(
                    "expected IPv4 addresses or prefixes, found '{}' (address-book names and \
                     IPv6 do not map)",
                    bad.join(" ")
                )
            };
            self.warn_part(s, !good.is_empty(), &reason);
        }
    }

    /// The rule set's UCI section (made if new), and its name.
    fn rule_set_section(&mut self, s: &Statement, rule_set: &str) -> String {
        let name = self.uci_name(s, Kind::RuleSet, rule_set, rule_set);
        if let Err(error) = self.package.named_section_mut("rule_set", &name) {
            self.warn(s, WarningKind::NotMapped, &error.to_string());
        }
        name
    }

    /// The rule's UCI section with its `rule_set` (both made if new), and its name.
    fn rule_section(&mut self, s: &Statement, rule_set: &str, rule: &str) -> String {
        let set_name = self.rule_set_section(s, rule_set);
        // Junos scopes rule names by rule set; UCI section names are global.
        let name = self.uci_name(s, Kind::Rule, &format!("{rule_set}/{rule}"), rule);
        self.assign(s, "rule", &name, "rule_set", Assign::Set(&set_name));
        name
    }

    /// `security nat proxy-arp interface <if> address <a> [to <b>]`: `proxy_arp '1'` on the
    /// pools that hold those addresses, decided once all pools are known.
    fn proxy_arp(&mut self, s: &Statement, attributes: &[&str]) {
        let (interface, first, last) = match attributes {
            ["interface", interface, "address", first, "to", last] => {
                (*interface, *first, Some(*last))
            }
            ["interface", interface, "address", first] => (*interface, *first, None),
            _ => {
                let reason = "expected 'interface <name> address <address> [to <address>]'";
                return self.warn(s, WarningKind::NotMapped, reason);
            }
        };
        match pool_entry(first, last) {
            Ok(entry) => self
                .proxy_arp
                .push((s.clone(), interface.to_owned(), entry.range)),
            Err(reason) => self.warn(s, WarningKind::NotMapped, &reason),
        }
    }

    /// `applications application <name> …`: collected, then mapped in `finish`.
    fn application(&mut self, s: &Statement, name: &str, attributes: &[&str]) {
        let statement = self.application_statements.len();
        self.application_statements.push(s.clone());
        let index = match self.applications.iter().position(|a| a.name == name) {
            Some(index) => index,
            None => {
                let application = Application {
                    name: name.to_owned(),
                    ..Application::default()
                };
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

    fn finish(mut self) -> Import {
        for application in std::mem::take(&mut self.applications) {
            self.map_application(&application);
        }
        for (s, interface, range) in std::mem::take(&mut self.proxy_arp) {
            let pools: Vec<String> = self
                .pool_ranges
                .iter()
                .filter(|(_, pool)| pool.0 <= range.1 && range.0 <= pool.1)
                .map(|(name, _)| name.clone())
                .collect();
            if pools.is_empty() {
                let reason = "no pool holds these addresses: proxy ARP is set per pool";
                self.warn(&s, WarningKind::NotMapped, reason);
                continue;
            }
            for pool in &pools {
                self.assign(&s, "pool", pool, "proxy_arp", Assign::Set("1"));
            }
            let reason = format!(
                "interface '{interface}' is not kept: the daemon answers ARP for pool '{}' on \
                 the egress interface",
                pools.join("', '")
            );
            self.warn(&s, WarningKind::PartlyMapped, &reason);
        }
        // SPEC §4's order, so that the output reads the same whatever the statement order.
        let rank = |order: &[&str], name: &str| order.iter().position(|n| *n == name);
        let sections = self.package.sections_mut();
        sections.sort_by_key(|s| rank(SECTION_ORDER, s.section_type()));
        for section in sections {
            let order = OPTION_ORDER
                .iter()
                .find(|(t, _)| *t == section.section_type());
            let order = order.map_or(&[][..], |(_, options)| options);
            section.sort_options_by_key(|option| rank(order, option));
        }
        self.warnings.sort_by_key(|(index, _)| *index);
        Import {
            package: self.package,
            warnings: self.warnings.into_iter().map(|(_, w)| w).collect(),
        }
    }

    /// The IKE ALG application gives `ike_port`; a plain UDP application on 4500 (or named
    /// for NAT-T) gives `natt_port`; any other application is a firewall matter.
    fn map_application(&mut self, application: &Application) {
        let statements: Vec<Statement> = application
            .statements
            .iter()
            .filter_map(|&i| self.application_statements.get(i).cloned())
            .collect();
        let name = &application.name;
        let udp = application.protocol.as_deref() == Some("udp");
        let natt_named = name.to_ascii_lowercase().replace('-', "").contains("natt");
        let option = match (
            application.application_protocol.as_deref(),
            &application.destination_port,
        ) {
            (Some("ike-esp-nat"), Some((port, _))) if udp && is_port(port) => "ike_port",
            (None, Some((port, _))) if udp && is_port(port) && (port == "4500" || natt_named) => {
                "natt_port"
            }
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
        let existing = self.package.get(ALG_SECTION, option).map(str::to_owned);
        match existing {
            Some(existing) if existing != *port => {
                let reason = format!("{option} is already {existing} from an earlier application");
                return self.warn_all(&statements, &reason);
            }
            _ => self.assign(&s, "alg", ALG_SECTION, option, Assign::Set(port)),
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
                let reason = if words.is_empty() {
                    "nothing to set".to_owned()
                } else {
                    format!("'{words}' has no UCI option")
                };
                self.warn(&s, WarningKind::PartlyMapped, &reason);
            }
        }
    }

    /// The UCI section name for a Junos name: unsafe characters become `_`, and a name already
    /// taken by another section gets a `_2`, `_3`… suffix. Each rename is reported once.
    fn uci_name(&mut self, s: &Statement, kind: Kind, key: &str, shown: &str) -> String {
        if let Some(name) = self.names.iter().find(|n| n.kind == kind && n.key == key) {
            return name.uci.clone();
        }
        let base: String = shown
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let base = if base.is_empty() {
            "_".to_owned()
        } else {
            base
        };
        let taken = |name: &str, names: &[Name]| {
            RESERVED_NAMES.contains(&name) || names.iter().any(|n| n.uci == name)
        };
        let mut uci = base.clone();
        let mut suffix: u32 = 2;
        while taken(&uci, &self.names) {
            uci = format!("{base}_{suffix}");
            suffix = suffix.saturating_add(1);
        }
        if uci != shown {
            let what = match kind {
                Kind::Pool => "pool",
                Kind::RuleSet => "rule set",
                Kind::Rule => "rule",
            };
            let why = match base.as_str() {
                _ if base != shown => "UCI section names hold only ASCII letters, digits and '_'",
                "interface" => "source_nat 'interface' means the egress interface's address",
                "source" => "'source' is the nat section",
                ALG_SECTION => "'ike_esp_nat' is the alg section",
                _ => "another section already has that name",
            };
            let reason = format!("{what} '{shown}' is '{uci}' in UCI: {why}");
            self.warn(s, WarningKind::Renamed, &reason);
        }
        self.names.push(Name {
            kind,
            key: key.to_owned(),
            uci: uci.clone(),
        });
        uci
    }

    /// Sets an option, unless it already holds another value: Junos keeps several zones per
    /// direction, UCI one.
    fn assign_once(
        &mut self,
        s: &Statement,
        section_type: &str,
        name: &str,
        option: &str,
        value: &str,
    ) {
        match self.package.get(name, option).map(str::to_owned) {
            Some(existing) if existing != value => {
                let reason = format!(
                    "{section_type} '{name}' already has {option} '{existing}'; UCI takes one"
                );
                self.warn(s, WarningKind::NotMapped, &reason);
            }
            _ => self.assign(s, section_type, name, option, Assign::Set(value)),
        }
    }

    fn assign(
        &mut self,
        s: &Statement,
        section_type: &str,
        name: &str,
        option: &str,
        value: Assign<'_>,
    ) {
        let result = self
            .package
            .named_section_mut(section_type, name)
            .and_then(|section| match value {
                Assign::Set(value) => section.set_option(option, value),
                Assign::Add(value) => section.add_list(option, value),
            });
        if let Err(error) = result {
            self.warn(s, WarningKind::NotMapped, &error.to_string());
        }
    }

    fn warn(&mut self, s: &Statement, kind: WarningKind, reason: &str) {
        let warning = Warning {
            line: s.line,
            statement: s.text.clone(),
            kind,
            reason: reason.to_owned(),
        };
        self.warnings.push((s.index, warning));
    }

    fn warn_part(&mut self, s: &Statement, mapped_some: bool, reason: &str) {
        let kind = if mapped_some {
            WarningKind::PartlyMapped
        } else {
            WarningKind::NotMapped
        };
        self.warn(s, kind, reason);
    }

    fn warn_all(&mut self, statements: &[Statement], reason: &str) {
        for s in statements {
            self.warn(s, WarningKind::NotMapped, reason);
        }
    }
}

/// A pool address as UCI writes it, the range it covers, and what was dropped on the way.
#[derive(Debug)]
struct PoolEntry {
    item: String,
    range: (u32, u32),
    dropped: Option<String>,
}

/// `a` (`a/32`), `a/len`, or `a to b`: Junos writes range ends as `/32` host prefixes.
fn pool_entry(first: &str, last: Option<&str>) -> Result<PoolEntry, String> {
    let parse = |text: &str| {
        parse_prefix(text).ok_or_else(|| {
            let ipv6 = if text.contains(':') {
                " (pools are IPv4)"
            } else {
                ""
            };
            format!("expected an IPv4 address or prefix, found '{text}'{ipv6}")
        })
    };
    let (start, start_len) = parse(first)?;
    let Some(last) = last else {
        let (low, high) = prefix_range(start, start_len);
        let item = if start_len == 32 {
            start.to_string()
        } else {
            first.to_owned()
        };
        return Ok(PoolEntry {
            item,
            range: (low, high),
            dropped: None,
        });
    };
    let (end, end_len) = parse(last)?;
    if u32::from(start) > u32::from(end) {
        return Err(format!("the range {start} to {end} ends before it starts"));
    }
    let dropped = (start_len != 32 || end_len != 32).then(|| {
        "the prefix lengths of the range ends are dropped: a range holds every address from \
         the first to the last"
            .to_owned()
    });
    Ok(PoolEntry {
        item: format!("{start}-{end}"),
        range: (u32::from(start), u32::from(end)),
        dropped,
    })
}

/// `a.b.c.d` or `a.b.c.d/len` (IPv4 only).
fn parse_prefix(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (address, len) = match text.split_once('/') {
        Some((address, len)) => (address, len.parse().ok().filter(|len| *len <= 32)?),
        None => (text, 32),
    };
    Some((address.parse().ok()?, len))
}

fn prefix_range(address: Ipv4Addr, len: u8) -> (u32, u32) {
    let host_bits = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
    let address = u32::from(address);
    (address & !host_bits, address | host_bits)
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.len() <= 9 && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_port(text: &str) -> bool {
    text.parse::<u16>().is_ok_and(|port| port != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(text: &str) -> Vec<String> {
        split_statements(text)
            .into_iter()
            .map(|s| format!("{} {}", s.command, s.path.join(" ")))
            .collect()
    }

    #[test]
    fn run_together_statements_split_at_set_before_a_top_level_name() {
        let text = concat!(
            "set security nat source pool set address 1.2.3.4 ",
            "set applications application a protocol udp",
        );
        assert_eq!(
            commands(text),
            [
                "set security nat source pool set address 1.2.3.4",
                "set applications application a protocol udp"
            ]
        );
    }

    #[test]
    fn edit_banners_and_prompts_set_the_level() {
        let text = concat!(
            "[edit security alg ike-esp-nat] user@host# set state-timeout 360 ",
            "user@host# set enable\n",
            "[edit] user@host# set security nat source address-persistent",
        );
        assert_eq!(
            commands(text),
            [
                "set security alg ike-esp-nat state-timeout 360",
                "set security alg ike-esp-nat enable",
                "set security nat source address-persistent",
            ]
        );
        let statements = split_statements(text);
        assert_eq!(
            statements[0].text,
            "[edit security alg ike-esp-nat] set state-timeout 360"
        );
        assert_eq!(statements[2].line, 2);
    }

    #[test]
    fn edit_and_top_move_the_level() {
        let text = concat!(
            "edit security nat source\n",
            "set address-persistent\n",
            "top\n",
            "set security alg ike-esp-nat enable",
        );
        assert_eq!(
            commands(text),
            [
                "set security nat source address-persistent",
                "set security alg ike-esp-nat enable"
            ]
        );
    }

    #[test]
    fn quoted_words_never_start_a_statement() {
        let text =
            "set system host-name \"x set security y\" set security nat source address-persistent";
        assert_eq!(commands(text).len(), 2);
        assert_eq!(commands(text)[0], "set system host-name x set security y");
    }

    #[test]
    fn pool_entries() {
        assert_eq!(
            pool_entry("10.0.0.1/32", Some("10.0.0.9/32")).unwrap().item,
            "10.0.0.1-10.0.0.9"
        );
        assert_eq!(pool_entry("10.0.0.1/32", None).unwrap().item, "10.0.0.1");
        let cidr = pool_entry("10.0.0.0/30", None).unwrap();
        assert_eq!(
            (cidr.item.as_str(), cidr.range),
            ("10.0.0.0/30", (0x0a00_0000, 0x0a00_0003))
        );
        assert!(pool_entry("10.0.0.9", Some("10.0.0.1")).is_err());
        assert!(pool_entry("2001:db8::1/128", None)
            .unwrap_err()
            .contains("pools are IPv4"));
        assert!(pool_entry("10.0.0.0/33", None).is_err());
        assert!(pool_entry("10.0.0.1/24", Some("10.0.0.9/24"))
            .unwrap()
            .dropped
            .is_some());
        assert_eq!(prefix_range(Ipv4Addr::new(1, 2, 3, 4), 0), (0, u32::MAX));
    }
}
