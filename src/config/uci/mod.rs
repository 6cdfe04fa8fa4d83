//! UCI, OpenWrt's configuration file format: a reader and a writer, std only, no I/O.
//!
//! Read first: libuci's grammar as `openwrt/uci` `file.c` implements it (`uci_parse_line`,
//! `parse_str`, `parse_backslash`), its merge rules in `list.c` (`uci_set`, `uci_add_list`),
//! and its validation rules in `util.c` (`uci_validate_str`, `uci_validate_text`). The user
//! guide is <https://openwrt.org/docs/guide-user/base-system/uci>.
//!
//! [`parse()`] turns the text of one `/etc/config` file into a [`Package`]; [`write()`] turns a
//! package back into text the way `uci export` prints it. Both are pure: the caller reads and
//! writes files. What is accepted, as in libuci:
//!
//! - commands `package <name>`, `config <type> [name]`, `option <name> [value]`,
//!   `list <name> [value]`, and their one-letter forms `p`, `c`, `o`, `l`;
//! - an argument is a concatenation of bare runs, `'…'` (no escapes) and `"…"` (`\x` is `x`),
//!   so `'it'\''s'` is `it's`; outside single quotes a backslash takes the next character
//!   literally, and a backslash at the end of a line joins the next line;
//! - quoted strings may span lines (the line break is part of the value); `;` ends a command;
//!   `#` outside quotes starts a comment; CRLF line ends and a missing final newline are fine;
//! - a repeated `config` with the same name merges into the first one (a different type is an
//!   error); a later `option` replaces the earlier value; `list` appends; an `option` with an
//!   empty value sets nothing;
//! - section and option names are `[A-Za-z0-9_]`, a package name may also hold `-`, a type is
//!   printable ASCII (33–126), and values hold no control characters but tab, CR and LF.
//!
//! Two places where libuci's C parser trips over its own in-place buffer handling are read the
//! evident way instead. `;` ends a command wherever it stands outside quotes: libuci honours it
//! only after a quoted argument, silently drops the rest of the line after `config foo;`, and
//! rejects `config foo ; option a b`. A continued line may start with blanks: libuci ends the
//! argument there and then fails with "too many arguments". Every other file parses here to the
//! same data as in libuci, and what libuci rejects is rejected here too.
//!
//! The pieces: `lex` splits the text into commands and arguments, `parse` applies them to a
//! [`Package`] (`package` holds the data and libuci's rules for names and values), `write`
//! prints a package back, and `error` says what went wrong and where.

mod error;
mod lex;
mod package;
mod parse;
mod write;

pub use error::{ErrorKind, ParseError};
pub use package::{is_valid_name, Package, Section, Value};
pub use parse::parse;
pub use write::write;

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Package {
        parse(text, "test").unwrap()
    }

    fn error(text: &str) -> String {
        parse(text, "f").unwrap_err().to_string()
    }

    #[test]
    fn quoting_styles_concatenate() {
        let p = parsed(concat!(
            "config t 'n'\n",
            "option a 'it'\\''s'\n",
            "option b \"say \\\"hi\\\"\"\n",
            "option c foo'bar'\"baz\"\n",
        ));
        assert_eq!(p.get("n", "a"), Some("it's"));
        assert_eq!(p.get("n", "b"), Some("say \"hi\""));
        assert_eq!(p.get("n", "c"), Some("foobarbaz"));
    }

    #[test]
    fn one_letter_commands() {
        let p = parsed("p pkg\nc t n\no a 1\nl b x\nl b y\n");
        assert_eq!(p.name(), Some("pkg"));
        assert_eq!(p.get_list("n", "b"), Some(&["x".to_owned(), "y".to_owned()][..]));
    }

    #[test]
    fn quoted_command_word_is_not_a_command() {
        assert_eq!(error("'config' t\n"), "f:1:1: expected the command 'config' without quotes or backslashes");
    }

    #[test]
    fn missing_type_points_after_the_keyword() {
        assert_eq!(error("config \n"), "f:1:8: expected section type after 'config'");
        assert_eq!(error("config"), "f:1:7: expected section type after 'config'");
    }

    #[test]
    fn option_replaces_and_moves_last_list_appends() {
        let p = parsed("config t n\noption a 1\noption b 2\noption a 3\nlist b 4\n");
        let s = p.section("n").unwrap();
        let names: Vec<&str> = s.options().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(s.get_list("b"), Some(&["2".to_owned(), "4".to_owned()][..]));
        assert_eq!(s.item_line("b", 0), Some(3));
        assert_eq!(s.item_line("b", 1), Some(5));
    }

    #[test]
    fn section_refs() {
        let p = parsed("config a\nconfig b x\nconfig a y\nconfig a\n");
        assert_eq!(p.section_by_ref("@a[1]").and_then(Section::name), Some("y"));
        assert_eq!(p.section_by_ref("@a[-1]").and_then(Section::line), Some(4));
        assert_eq!(p.section_by_ref("@[1]").and_then(Section::name), Some("x"));
        assert!(p.section_by_ref("@a[3]").is_none());
        assert!(p.section_by_ref("@a[-4]").is_none());
        assert!(p.section_by_ref("@a[x]").is_none());
        assert!(p.section_by_ref("@a[0").is_none());
    }

    #[test]
    fn builder_checks_names_and_values() {
        let mut p = Package::default();
        assert!(matches!(p.named_section_mut("t", "a-b"), Err(ErrorKind::InvalidSectionName(_))));
        assert!(matches!(p.add_anonymous_section("a b"), Err(ErrorKind::InvalidSectionType(_))));
        let s = p.named_section_mut("t", "n").unwrap();
        assert!(matches!(s.set_option("x", "\u{7}"), Err(ErrorKind::InvalidValue(_))));
        s.set_option("x", "1").unwrap();
        s.set_option("x", "").unwrap();
        assert!(s.value("x").is_none());
        assert!(matches!(p.named_section_mut("u", "n"), Err(ErrorKind::TypeConflict { .. })));
    }
}
