//! UCI, OpenWrt's configuration file format: a reader and a writer, std only, no I/O.
//!
//! Read first: libuci's grammar as `openwrt/uci` `file.c` implements it (`uci_parse_line`,
//! `parse_str`, `parse_backslash`), its merge rules in `list.c` (`uci_set`, `uci_add_list`),
//! and its validation rules in `util.c` (`uci_validate_str`, `uci_validate_text`). The user
//! guide is <https://openwrt.org/docs/guide-user/base-system/uci>.
//!
//! [`parse()`] turns the text of one `/etc/config` file into a [`Package`]; [`write()`] turns a
//! package back into text the way `uci export` prints it. Both are pure: the caller reads and
//! writes files. The reader reads every file as `uci_load` does (strict mode), including where
//! libuci's in-place parsing gives surprising results:
//!
//! - commands `package <name>`, `config <type> [name]`, `option <name> [value]`,
//!   `list <name> [value]`, and their one-letter forms `p`, `c`, `o`, `l`; the command word
//!   ends at a space or tab only, so a VT, FF or CR next to it is an error (at the start of a
//!   line they are blanks like any other);
//! - an argument is a concatenation of bare runs, `'…'` (no escapes) and `"…"` (`\x` is `x`),
//!   so `'it'\''s'` is `it's`; outside single quotes a backslash takes the next character
//!   literally, and a backslash at the end of a line joins the next line, but if that line
//!   starts with a blank the argument ends there (an error if more follows);
//! - quoted strings may span lines (the line break is part of the value); `#` outside quotes
//!   starts a comment; CRLF line ends and a missing final newline are fine;
//! - `;` separates commands, as libuci reads it: after a quoted word (`option a 'b'; option c
//!   d`) or after a blank (`option a b ; option c d`), the next command follows on the same
//!   line, and a line ending in such a `;` is an error. After a bare word (`option a b;…`) the
//!   rest of the line is ignored: that is read the same way, with a [`Warning`];
//! - a command reads one argument more than it takes, which must be empty (`''`); anything
//!   after it is the next command;
//! - `package` lines are checked and otherwise ignored, as `uci_load` names the package after
//!   the file: the first one is kept for writing, a later one with another name is ignored
//!   with a [`Warning`];
//! - a repeated `config` with the same name merges into the first one (a different type is an
//!   error); an anonymous section has libuci's generated name (`cfg` + section count + hash
//!   of the type, [`Section::generated_name`]), and a later `config` naming it merges into it,
//!   while a name held by an earlier section stays with that one;
//! - a later `option` replaces the earlier value (or list) in its place; `list` appends, and
//!   turns an option into a list in its place; an `option` with an empty value sets nothing;
//! - section and option names are `[A-Za-z0-9_]`, a package name may also hold `-`, a type is
//!   printable ASCII (33–126), and values hold no control characters but tab, CR and LF.
//!
//! [`Package::warnings`] lists what libuci ignores but the author probably meant: the daemon
//! reads the file as libuci does and tells the operator (`FILE:LINE: warning: ...`).
//!
//! The pieces: `lex` splits the text into commands and arguments, `parse` applies them to a
//! [`Package`] (`package` holds the data and libuci's rules for names and values), `write`
//! prints a package back, and `error` says what went wrong and where.

mod error;
mod lex;
mod package;
mod parse;
mod write;

pub use error::{ErrorKind, ParseError, Warning};
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
    fn option_replaces_in_place_list_converts_in_place() {
        let p = parsed("config t n\noption a 1\noption b 2\noption c 9\noption a 3\nlist b 4\n");
        let s = p.section("n").unwrap();
        let names: Vec<&str> = s.options().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(s.get("a"), Some("3"));
        assert_eq!(s.option_line("a"), Some(5));
        assert_eq!(s.get_list("b"), Some(&["2".to_owned(), "4".to_owned()][..]));
        assert_eq!(s.item_line("b", 0), Some(3));
        assert_eq!(s.item_line("b", 1), Some(6));
    }

    #[test]
    fn semicolon_after_bare_word_drops_the_line_with_a_warning() {
        let p = parse("config t n\noption a b;option c d\n", "f").unwrap();
        assert_eq!(p.get("n", "a"), Some("b"));
        assert_eq!(p.get("n", "c"), None);
        let warnings: Vec<String> = p.warnings().iter().map(ToString::to_string).collect();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("f:2: warning: ignored 'option c d' after the unquoted 'b;'"), "{warnings:?}");
        assert!(parsed("config t n\noption a b; # only a comment\n").warnings().is_empty());
    }

    #[test]
    fn semicolon_forms_libuci_rejects() {
        assert_eq!(error("config t n\noption a 'b';\n"), format!("f:2:14: {}", ErrorKind::LeftoverLineBreak));
        assert_eq!(error("config t n\noption a b ;\n"), format!("f:2:13: {}", ErrorKind::LeftoverLineBreak));
        // At the end of the file there is no line break to trip over.
        assert_eq!(parsed("config t n\noption a 'b';").get("n", "a"), Some("b"));
        assert!(error("config t n\noption a 'b';\u{b}option c d\n").starts_with("f:2:14: expected a space or tab"));
        assert!(error("config\u{c}t n\n").starts_with("f:1:7: expected a space or tab"));
    }

    #[test]
    fn anonymous_sections_answer_to_their_generated_names() {
        let p = parsed("config pool\nconfig rule x\nconfig pool\n");
        let names: Vec<Option<&str>> = p.sections().iter().map(Section::generated_name).collect();
        // "pool" hashes to 0x…60df with DJB's hash; the count includes named sections.
        assert_eq!(names, [Some("cfg0160df"), None, Some("cfg0360df")]);
        assert_eq!(p.section("cfg0360df").and_then(Section::line), Some(3));
        let merged = parsed("config pool\nconfig pool 'cfg0160df'\noption a 1\n");
        assert_eq!(merged.sections().len(), 1);
        assert_eq!(merged.get("@pool[0]", "a"), Some("1"));
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
