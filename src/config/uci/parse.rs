//! The UCI parser: applies the lexer's commands to a [`Package`] as libuci's loader does.
//!
//! Read first: libuci's `file.c` (`uci_parse_line`, `uci_parse_package`, `uci_parse_config`,
//! `uci_parse_option`, `assert_eol`), as `uci_load` runs it on `/etc/config/<name>` (strict,
//! one package per file). Each command's arguments are read and checked one after the
//! other, as in libuci. Errors are located at the argument at fault, or where a missing
//! argument should have been.

use super::lex::{Arg, Lexer, Located, Pos, Word};
use super::package::{is_valid_name, is_valid_package_name, is_valid_type};
use super::{ErrorKind, Package, ParseError, Section, Warning};

/// Parses the text of one UCI file. `file` is only used in error and warning messages; the
/// warnings are in [`Package::warnings`].
pub fn parse(text: &str, file: &str) -> Result<Package, ParseError> {
    let mut parser = Parser { lexer: Lexer::new(text), package: Package::default(), current: None, notes: Vec::new() };
    let located =
        |(at, kind): (Pos, ErrorKind)| ParseError { file: file.to_owned(), line: at.line, column: at.column, kind };
    while let Some(word) = parser.lexer.next_word() {
        parser.command(word).map_err(located)?;
    }
    let dropped = parser.lexer.take_dropped().into_iter().map(|d| {
        let message = format!(
            "ignored '{}' after the unquoted '{}' (libuci drops the rest of a line after a ';' that ends an unquoted word; quote the word or put a blank before ';')",
            d.rest.escape_debug(),
            d.word.escape_debug()
        );
        (d.line, message)
    });
    let mut notes: Vec<(u32, String)> = parser.notes.into_iter().chain(dropped).collect();
    notes.sort_by_key(|(line, _)| *line);
    let mut package = parser.package;
    package.warnings =
        notes.into_iter().map(|(line, message)| Warning { file: file.to_owned(), line, message }).collect();
    Ok(package)
}

/// Applies commands to the package being built (libuci's `uci_parse_*` and `list.c`).
struct Parser {
    lexer: Lexer,
    package: Package,
    /// Index of the section that `option` and `list` go to.
    current: Option<usize>,
    /// Warnings found by the parser (line, message).
    notes: Vec<(u32, String)>,
}

const KEYWORDS: [&str; 8] = ["package", "p", "config", "c", "option", "o", "list", "l"];

impl Parser {
    fn command(&mut self, word: Word) -> Result<(), Located> {
        let command = match word.text.as_str() {
            "package" | "p" => "package",
            "config" | "c" => "config",
            "option" | "o" => "option",
            "list" | "l" => "list",
            _ => return Err(bad_command(word)),
        };
        if command == "option" || command == "list" {
            self.current.ok_or((word.at, ErrorKind::OptionOutsideSection { command }))?;
        }
        if word.ends_line {
            // libuci: nothing follows the word on this line ("... without name").
            let what = match command {
                "package" => "package name",
                "config" => "section type",
                _ => "option name",
            };
            return Err((word.end, ErrorKind::MissingArgument { command, what }));
        }
        let line = word.at.line;
        match command {
            "package" => self.package_statement(),
            "config" => self.config_statement(line),
            _ => self.option_statement(line, command),
        }
    }

    /// A required argument, not empty.
    fn required(&mut self, command: &'static str, what: &'static str) -> Result<Arg, Located> {
        let arg = self.lexer.next_arg()?;
        if arg.text.is_empty() {
            return Err((arg.at, ErrorKind::MissingArgument { command, what }));
        }
        Ok(arg)
    }

    /// libuci's `assert_eol`: reads one more argument, which must be empty.
    fn end_of_command(&mut self, command: &'static str, earlier: &[&Arg]) -> Result<(), Located> {
        let extra = self.lexer.next_arg()?;
        if extra.text.is_empty() {
            return Ok(());
        }
        if earlier.iter().any(|a| a.cut_by_continuation) {
            return Err((extra.at, ErrorKind::BlankAfterContinuation { found: extra.text }));
        }
        Err((extra.at, ErrorKind::ExtraArgument { command, found: extra.text }))
    }

    fn package_statement(&mut self) -> Result<(), Located> {
        let command = "package";
        let name = self.required(command, "package name")?;
        if !is_valid_package_name(&name.text) {
            return Err((name.at, ErrorKind::InvalidPackageName(name.text)));
        }
        self.end_of_command(command, &[&name])?;
        // uci_load reads a file as the package named after the file and ignores `package`
        // lines; the first one is kept, for writing the package back.
        match &self.package.name {
            None => self.package.name = Some(name.text),
            Some(existing) if *existing != name.text => {
                let message = format!(
                    "second package line '{}' ignored (libuci names the package after its file; the first package line said '{existing}')",
                    name.text
                );
                self.notes.push((name.at.line, message));
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn config_statement(&mut self, line: u32) -> Result<(), Located> {
        let command = "config";
        let section_type = self.required(command, "section type")?;
        if !is_valid_type(&section_type.text) {
            return Err((section_type.at, ErrorKind::InvalidSectionType(section_type.text)));
        }
        let name = self.lexer.next_arg()?;
        if !name.text.is_empty() && !is_valid_name(&name.text) {
            return Err((name.at, ErrorKind::InvalidSectionName(name.text)));
        }
        self.end_of_command(command, &[&section_type, &name])?;
        if name.text.is_empty() {
            let section = Section::new(&section_type.text, None, line).map_err(|k| (section_type.at, k))?;
            self.package.push_section(section);
            self.current = self.package.sections.len().checked_sub(1);
        } else {
            let index = self
                .package
                .named_section_index(&section_type.text, &name.text, line)
                .map_err(|k| (section_type.at, k))?;
            self.current = Some(index);
        }
        Ok(())
    }

    fn option_statement(&mut self, line: u32, command: &'static str) -> Result<(), Located> {
        let name = self.required(command, "option name")?;
        if !is_valid_name(&name.text) {
            return Err((name.at, ErrorKind::InvalidOptionName(name.text)));
        }
        let value = self.lexer.next_arg()?;
        self.end_of_command(command, &[&name, &value])?;
        let Some(section) = self.current.and_then(|index| self.package.sections.get_mut(index)) else {
            return Ok(());
        };
        let result = if command == "list" {
            section.add_list_at(&name.text, &value.text, line)
        } else if value.text.is_empty() {
            // libuci: setting an option to an empty value while loading does nothing.
            Ok(())
        } else {
            section.set_option_at(&name.text, &value.text, line)
        };
        result.map_err(|k| (value.at, k))
    }
}

/// Why a word is not a command, in the most helpful terms.
fn bad_command(word: Word) -> Located {
    if word.text.is_empty() {
        return (word.at, ErrorKind::LeftoverLineBreak);
    }
    // A VT, FF or CR glued to a command word (libuci splits only at spaces and tabs).
    if let Some((offset, found)) = word.text.char_indices().find(|&(_, c)| matches!(c, '\x0b' | '\x0c' | '\r')) {
        let before = word.text.get(..offset).unwrap_or_default();
        let after = word.text.get(offset..).unwrap_or_default().trim_start_matches(['\x0b', '\x0c', '\r']);
        if before.is_empty() || KEYWORDS.contains(&before) || KEYWORDS.iter().any(|k| after.starts_with(k)) {
            let column = u32::try_from(before.chars().count()).unwrap_or(u32::MAX);
            let at = Pos { line: word.at.line, column: word.at.column.saturating_add(column) };
            return (at, ErrorKind::CommandSeparator { found });
        }
    }
    let unquoted: String = word.text.chars().filter(|c| !matches!(c, '\'' | '"' | '\\')).collect();
    if unquoted != word.text && KEYWORDS.contains(&unquoted.as_str()) {
        return (word.at, ErrorKind::QuotedCommand(unquoted));
    }
    (word.at, ErrorKind::UnknownCommand(word.text))
}
