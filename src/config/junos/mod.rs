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
//!
//! The pieces: `split` cuts the input into statements at their hierarchy level, `map` turns
//! each statement into UCI options (with `application` for the `applications` hierarchy,
//! `names` for Junos names that UCI cannot take as they are, and `address` for pool and
//! rule addresses).

mod address;
mod application;
mod map;
mod names;
mod split;

use std::fmt;

use super::uci::Package;
use map::Importer;
use split::split_statements;

/// The UCI package the importer writes.
pub const PACKAGE_NAME: &str = "ike-esp-alg";

/// The section that holds the ALG's own options (SPEC §4).
pub const ALG_SECTION: &str = super::model::ALG_SECTION;

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
    let mut importer = Importer::new();
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
