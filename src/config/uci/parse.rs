//! The UCI parser: applies the lexer's commands to a [`Package`] as libuci's loader does.
//!
//! Read first: libuci's `file.c` (`uci_parse_line`, `uci_parse_package`, `uci_parse_config`,
//! `uci_parse_option`, `assert_eol`). Errors are located at the argument at fault, or where a
//! missing argument should have been.

use super::lex::{Arg, Command, Lexer, Located, Pos};
use super::package::{is_valid_name, is_valid_package_name, is_valid_type};
use super::{ErrorKind, Package, ParseError, Section};

/// Parses the text of one UCI file. `file` is only used in error messages.
pub fn parse(text: &str, file: &str) -> Result<Package, ParseError> {
    let mut parser = Parser { lexer: Lexer::new(text), package: Package::default(), current: None };
    let located =
        |(at, kind): (Pos, ErrorKind)| ParseError { file: file.to_owned(), line: at.line, column: at.column, kind };
    while let Some(command) = parser.lexer.next_command().map_err(located)? {
        parser.apply(command).map_err(located)?;
    }
    Ok(parser.package)
}

/// Applies commands to the package being built (libuci's `uci_parse_*` and `list.c`).
struct Parser {
    lexer: Lexer,
    package: Package,
    /// Index of the section that `option` and `list` go to.
    current: Option<usize>,
}

impl Parser {
    fn apply(&mut self, command: Command) -> Result<(), Located> {
        let Command { words, end } = command;
        let mut words = words.into_iter();
        let Some(keyword) = words.next() else {
            return Ok(());
        };
        let args: Vec<Arg> = words.collect();
        let command = match keyword.text.as_str() {
            "package" | "p" if keyword.bare => "package",
            "config" | "c" if keyword.bare => "config",
            "option" | "o" if keyword.bare => "option",
            "list" | "l" if keyword.bare => "list",
            "package" | "p" | "config" | "c" | "option" | "o" | "list" | "l" => {
                return Err((keyword.at, ErrorKind::QuotedCommand(keyword.text)));
            }
            _ => return Err((keyword.at, ErrorKind::UnknownCommand(keyword.text))),
        };
        let takes = if command == "package" { 1 } else { 2 };
        // libuci (assert_eol) only objects to a non-empty extra argument.
        if let Some(extra) = args.iter().skip(takes).find(|a| !a.text.is_empty()) {
            return Err((extra.at, ErrorKind::ExtraArgument { command, found: extra.text.clone() }));
        }
        let first = args.first().filter(|a| !a.text.is_empty());
        let second = args.get(1);
        // A missing argument is reported where it should have been: at an empty quoted
        // argument (`config ''`), or where the command ended.
        let missing_at = args.first().map_or(end, |a| a.at);
        match command {
            "package" => {
                let name = first.ok_or((missing_at, ErrorKind::MissingArgument { command, what: "package name" }))?;
                self.package_statement(name)
            }
            "config" => {
                let section_type =
                    first.ok_or((missing_at, ErrorKind::MissingArgument { command, what: "section type" }))?;
                self.config_statement(keyword.at.line, section_type, second.filter(|a| !a.text.is_empty()))
            }
            _ => {
                let section = self.current.ok_or((keyword.at, ErrorKind::OptionOutsideSection { command }))?;
                let name = first.ok_or((missing_at, ErrorKind::MissingArgument { command, what: "option name" }))?;
                self.option_statement(keyword.at.line, section, command == "list", name, second)
            }
        }
    }

    fn package_statement(&mut self, name: &Arg) -> Result<(), Located> {
        if !is_valid_package_name(&name.text) {
            return Err((name.at, ErrorKind::InvalidPackageName(name.text.clone())));
        }
        match &self.package.name {
            Some(existing) if *existing != name.text => {
                Err((name.at, ErrorKind::PackageConflict { existing: existing.clone(), found: name.text.clone() }))
            }
            _ => {
                self.package.name = Some(name.text.clone());
                Ok(())
            }
        }
    }

    fn config_statement(&mut self, line: u32, section_type: &Arg, name: Option<&Arg>) -> Result<(), Located> {
        if !is_valid_type(&section_type.text) {
            return Err((section_type.at, ErrorKind::InvalidSectionType(section_type.text.clone())));
        }
        match name {
            None => {
                let section = Section::new(&section_type.text, None, line).map_err(|k| (section_type.at, k))?;
                self.package.push_section(section);
                self.current = self.package.sections.len().checked_sub(1);
            }
            Some(name) => {
                if !is_valid_name(&name.text) {
                    return Err((name.at, ErrorKind::InvalidSectionName(name.text.clone())));
                }
                self.package
                    .named_section_at(&section_type.text, &name.text, line)
                    .map_err(|k| (section_type.at, k))?;
                self.current = self.package.sections.iter().position(|s| s.name.as_deref() == Some(name.text.as_str()));
            }
        }
        Ok(())
    }

    fn option_statement(
        &mut self,
        line: u32,
        section: usize,
        list: bool,
        name: &Arg,
        value: Option<&Arg>,
    ) -> Result<(), Located> {
        let Some(section) = self.package.sections.get_mut(section) else {
            return Ok(());
        };
        if !is_valid_name(&name.text) {
            return Err((name.at, ErrorKind::InvalidOptionName(name.text.clone())));
        }
        let (text, at) = value.map_or(("", name.at), |v| (v.text.as_str(), v.at));
        let result = if list {
            section.add_list_at(&name.text, text, line)
        } else if text.is_empty() {
            // libuci: setting an option to an empty value while loading does nothing.
            Ok(())
        } else {
            section.set_option_at(&name.text, text, line)
        };
        result.map_err(|k| (at, k))
    }
}
