//! What can be wrong with `/etc/config/ike-esp-alg`, one [`Problem`] per mistake.
//!
//! Read first: SPEC §4, last paragraph. Each problem displays as one line that names the
//! file, the line, the section, the option, what was found and what is allowed:
//! `/etc/config/ike-esp-alg:7: alg 'ike_esp_nat' option 'esp_gate_timeout': 45 is out of range
//! (allowed 2-30 seconds)`. All of them are the operator's to fix: the model never blames
//! itself, and the engine's own refusal ([`ConfigError`]) is reported in the same form.

use std::fmt;

use super::options::{SectionKind, SOURCE_NAT, SOURCE_NAT_INTERFACE};
use crate::config::uci;
use crate::engine::ConfigError;

/// One mistake in the configuration, located as closely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file as the caller named it, e.g. `/etc/config/ike-esp-alg`.
    pub file: String,
    /// 1-based line of the option, list item or section at fault; `None` for a package built
    /// in code, or for a problem with the whole file.
    pub line: Option<u32>,
    /// The section at fault, if any.
    pub section: Option<SectionRef>,
    /// The option at fault, if any.
    pub option: Option<String>,
    pub kind: ProblemKind,
}

/// A section as messages name it: `pool 'pool1'`, or `rule @rule[2]` for an anonymous one
/// (the index counts the sections of that type, as `uci show` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionRef {
    pub section_type: String,
    pub name: Option<String>,
    /// Position among the sections of the same type, from 0.
    pub index: usize,
}

/// What is wrong. The `Display` text says what was found, then what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The file is not UCI; `column` is 1-based. Nothing else is checked then.
    Syntax { column: u32, error: uci::ErrorKind },
    /// A `config` type that this package does not have.
    UnknownSectionType { allowed: &'static [&'static str] },
    /// `alg` and `nat` sections have one fixed name each.
    WrongSectionName { allowed: &'static str },
    /// Pools and rule sets are referred to by name, so they need one.
    NameRequired,
    /// A pool called `interface`: `source_nat 'interface'` already means the egress address.
    ReservedName,
    /// An option this section type does not take; the message lists the ones it does.
    UnknownOption { section: SectionKind },
    /// `list` where a single value (`option`) is expected.
    ListNotOption,
    /// `option` where a `list` is expected.
    OptionNotList,
    /// A required option is absent; `allowed` describes the value it needs.
    Missing { allowed: &'static str },
    /// Not `0` or `1`.
    NotBoolean { value: String },
    /// Not a decimal number.
    NotNumber { value: String, min: u64, max: u64, unit: Unit },
    /// A number outside its range.
    OutOfRange { value: String, min: u64, max: u64, unit: Unit },
    /// `ike_port` and `natt_port` are the same port; `other` is the option it collides with.
    SamePorts { port: u16, other: &'static str },
    /// Not an address in the form the option takes.
    BadAddress { value: String, form: AddressForm },
    /// An `A-B` pool range whose end comes before its start.
    ReversedRange { value: String },
    /// Pool addresses that can never be a NAT address (0/8, 127/8, multicast and above).
    NotUnicast { value: String },
    /// Two pool entries share addresses; `other_pool` is `None` within one pool.
    PoolOverlap { value: String, other_pool: Option<SectionRef>, other_value: String, other_line: Option<u32> },
    /// A pool larger than the engine takes.
    PoolTooLarge { size: u64, max: u64 },
    /// `source_nat` names no pool; `defined` lists the pools there are.
    UnknownPool { name: String, defined: Vec<String> },
    /// `rule_set` names no rule set; `defined` lists the rule sets there are.
    UnknownRuleSet { name: String, defined: Vec<String> },
    /// A zone option that does not hold one zone name.
    BadZoneName { value: String },
    /// A zone that the firewall does not have (see [`AlgConfig::check_zones`]).
    ///
    /// [`AlgConfig::check_zones`]: super::AlgConfig::check_zones
    UnknownZone { zone: String, known: Vec<String> },
    /// The engine refused the configuration; the model's own checks should have caught it.
    Engine(ConfigError),
}

/// The unit a number is counted in, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    /// Ports and queue numbers: a plain number.
    Plain,
}

/// The address forms that options take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressForm {
    /// `list address` of a pool: `A-B`, `a.b.c.d/n` or `a.b.c.d`.
    PoolEntry,
    /// `list source_address` / `destination_address`: `a.b.c.d/n` or `a.b.c.d`.
    Prefix,
}

impl Problem {
    /// A problem with the whole file, located nowhere in particular.
    pub fn in_file(file: &str, kind: ProblemKind) -> Problem {
        Problem { file: file.to_owned(), line: None, section: None, option: None, kind }
    }

    /// A UCI syntax error as a problem (the parser stops at the first one).
    pub fn from_parse_error(error: uci::ParseError) -> Problem {
        Problem {
            file: error.file,
            line: Some(error.line),
            section: None,
            option: None,
            kind: ProblemKind::Syntax { column: error.column, error: error.kind },
        }
    }

    /// The engine's refusal as a problem with the whole file.
    pub fn from_engine_error(file: &str, error: ConfigError) -> Problem {
        Problem::in_file(file, ProblemKind::Engine(error))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let ProblemKind::Syntax { column, error } = &self.kind {
            return write!(f, ":{column}: {error}");
        }
        f.write_str(": ")?;
        match (&self.section, &self.option) {
            (Some(section), Some(option)) => write!(f, "{section} option '{option}': ")?,
            (Some(section), None) => write!(f, "{section}: ")?,
            (None, Some(option)) => write!(f, "option '{option}': ")?,
            (None, None) => {}
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for Problem {}

impl fmt::Display for SectionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{} '{name}'", self.section_type),
            None => write!(f, "{} @{}[{}]", self.section_type, self.section_type, self.index),
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ProblemKind as K;
        match self {
            K::Syntax { error, .. } => write!(f, "{error}"),
            K::UnknownSectionType { allowed } => {
                write!(f, "unknown section type (allowed {})", allowed.join(", "))
            }
            K::WrongSectionName { allowed } => {
                write!(f, "wrong section name (allowed only '{allowed}')")
            }
            K::NameRequired => f.write_str("needs a name: rules refer to it by name (allowed letters, digits and '_')"),
            K::ReservedName => write!(
                f,
                "the name '{SOURCE_NAT_INTERFACE}' is reserved: {} '{SOURCE_NAT_INTERFACE}' means the \
                 egress interface's address (allowed any other name)",
                SOURCE_NAT.name
            ),
            K::UnknownOption { section } => {
                f.write_str("unknown option (allowed ")?;
                for (i, option) in section.options().enumerate() {
                    let comma = if i > 0 { ", " } else { "" };
                    write!(f, "{comma}{}", option.name)?;
                }
                f.write_str(")")
            }
            K::ListNotOption => f.write_str("is a 'list' (allowed one value, as 'option')"),
            K::OptionNotList => f.write_str("is an 'option' (allowed 'list', one item per line)"),
            K::Missing { allowed } => write!(f, "missing (allowed {allowed})"),
            K::NotBoolean { value } => {
                let value = value.escape_debug();
                write!(f, "'{value}' is not a boolean (allowed 0 or 1)")
            }
            K::NotNumber { value, min, max, unit } => {
                let value = value.escape_debug();
                write!(f, "'{value}' is not a number (allowed {min}-{max}{unit})")
            }
            K::OutOfRange { value, min, max, unit } => {
                write!(f, "{value} is out of range (allowed {min}-{max}{unit})")
            }
            K::SamePorts { port, other } => {
                write!(f, "{port} is also {other} (allowed 1-65535, other than {other})")
            }
            K::BadAddress { value, form } => write!(f, "'{}' is not {form}", value.escape_debug()),
            K::ReversedRange { value } => {
                write!(f, "'{value}' ends before it starts (allowed A-B with A not above B)")
            }
            K::NotUnicast { value } => write!(
                f,
                "'{value}' holds addresses that cannot be a NAT address (allowed unicast \
                 addresses outside 0.0.0.0/8, 127.0.0.0/8 and 224.0.0.0/3)"
            ),
            K::PoolOverlap { value, other_pool, other_value, other_line } => {
                write!(f, "'{value}' overlaps '{other_value}'")?;
                match other_pool {
                    Some(pool) => write!(f, " of {pool}")?,
                    None => f.write_str(" of the same pool")?,
                }
                if let Some(line) = other_line {
                    write!(f, " on line {line}")?;
                }
                f.write_str(" (allowed each address in one entry of one pool)")
            }
            K::PoolTooLarge { size, max } => {
                write!(f, "the pool has {size} addresses (allowed at most {max})")
            }
            K::UnknownPool { name, defined } => {
                let name = name.escape_debug();
                write!(f, "pool '{name}' is not defined (allowed 'interface'")?;
                for pool in defined {
                    write!(f, ", '{}'", pool.escape_debug())?;
                }
                f.write_str(")")
            }
            K::UnknownRuleSet { name, defined } => {
                write!(f, "rule_set '{}' is not defined ", name.escape_debug())?;
                write_allowed(f, defined, "no rule_set is defined")
            }
            K::BadZoneName { value } => write!(
                f,
                "'{}' is not a zone name (allowed one firewall zone: letters, digits, '_' and '-')",
                value.escape_debug()
            ),
            K::UnknownZone { zone, known } => {
                write!(f, "zone '{}' is not a firewall zone ", zone.escape_debug())?;
                write_allowed(f, known, "the firewall has no zone")
            }
            K::Engine(error) => write!(f, "{error}"),
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unit::Seconds => f.write_str(" seconds"),
            Unit::Plain => Ok(()),
        }
    }
}

impl fmt::Display for AddressForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressForm::PoolEntry => "an IPv4 pool entry (allowed A-B, a.b.c.d/n or a single address)",
            AddressForm::Prefix => "an IPv4 prefix (allowed a.b.c.d/n or a single address)",
        })
    }
}

/// `(allowed 'a', 'b')`, or `(none)` when there are no names.
fn write_allowed(f: &mut fmt::Formatter<'_>, names: &[String], none: &str) -> fmt::Result {
    if names.is_empty() {
        return write!(f, "({none})");
    }
    f.write_str("(allowed ")?;
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "'{}'", name.escape_debug())?;
    }
    f.write_str(")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_refusal_reads_as_a_problem_with_the_file() {
        let error = ConfigError::PoolsOverlap { first: "a".into(), second: "b".into() };
        let problem = Problem::from_engine_error("/etc/config/ike-esp-alg", error);
        assert_eq!(problem.to_string(), "/etc/config/ike-esp-alg: pools 'a' and 'b' overlap");
    }

    #[test]
    fn locations_are_left_out_when_unknown_and_values_stay_on_one_line() {
        let problem = Problem {
            file: "f".into(),
            line: None,
            section: Some(SectionRef { section_type: "rule".into(), name: None, index: 2 }),
            option: Some(SOURCE_NAT.name.into()),
            kind: ProblemKind::UnknownPool { name: "a\nb".into(), defined: vec![] },
        };
        assert_eq!(
            problem.to_string(),
            "f: rule @rule[2] option 'source_nat': pool 'a\\nb' is not defined (allowed \
             'interface')"
        );
        let problem = Problem { section: None, option: None, ..problem };
        assert!(problem.to_string().starts_with("f: pool 'a\\nb'"));
    }
}
