//! Configuration: the UCI grammar (`uci`), and the importer for Junos `set` lines (`junos`).
//!
//! Parsing is pure: these modules take text and return typed data or a located error.

pub mod junos;
pub mod uci;
