//! Renderings of the engine's status for people (`show`) and for programs (versioned JSON,
//! for LuCI/rpcd and scripts). Pure: they take the engine and `now`, and return text.

pub mod junos_show;
pub mod status;
pub mod status_json;
