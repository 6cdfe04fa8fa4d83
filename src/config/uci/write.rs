//! The UCI writer: a [`Package`] as `uci export` prints it.
//!
//! Read first: libuci's `file.c` (`uci_export_package`) and `util.c` (`uci_escape`). What it
//! writes, [`parse`](fn@super::parse) reads back to the same data.

use super::{Package, Value};

/// Writes a package the way `uci export` does: `package`, then per section a blank line,
/// `config type 'name'` and `\toption key 'value'` / `\tlist key 'item'`, with `'` written
/// as `'\''`. [`parse`](fn@super::parse) reads the result back to the same data.
pub fn write(package: &Package) -> String {
    let mut out = String::new();
    if let Some(name) = &package.name {
        out.push_str("package ");
        out.push_str(name);
        out.push('\n');
    }
    for section in &package.sections {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("config ");
        out.push_str(&quote_type(&section.section_type));
        if let Some(name) = &section.name {
            out.push(' ');
            out.push_str(&quote(name));
        }
        out.push('\n');
        for entry in &section.options {
            match &entry.value {
                Value::Option(value) => push_line(&mut out, "option", &entry.name, value),
                Value::List(items) => {
                    for item in items {
                        push_line(&mut out, "list", &entry.name, item);
                    }
                }
            }
        }
    }
    out.push('\n');
    out
}

fn push_line(out: &mut String, command: &str, name: &str, value: &str) {
    out.push('\t');
    out.push_str(command);
    out.push(' ');
    out.push_str(name);
    out.push(' ');
    out.push_str(&quote(value));
    out.push('\n');
}

/// `'value'`, with each `'` closed, escaped and reopened: `'\''` (libuci's `uci_escape`).
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Types are written bare like `uci export` does, quoted only if they hold a character that
/// would otherwise be read as syntax (libuci itself would write those unreadably).
fn quote_type(section_type: &str) -> String {
    if section_type.contains(['\'', '"', '\\', '#', ';']) {
        quote(section_type)
    } else {
        section_type.to_owned()
    }
}
