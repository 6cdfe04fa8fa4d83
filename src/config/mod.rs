//! Configuration: the UCI grammar (`uci`), the typed and checked configuration (`model`), and
//! the importer for Junos `set` lines (`junos`).
//!
//! Everything here is pure: these modules take text or parsed data and return typed data, or
//! located problems; the caller reads and writes the files.

pub mod junos;
pub mod model;
pub mod uci;
