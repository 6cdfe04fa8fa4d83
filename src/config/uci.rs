//! UCI, OpenWrt's configuration file format: a reader and a writer, std only, no I/O.
//!
//! Read first: libuci's grammar as `openwrt/uci` `file.c` implements it (`uci_parse_line`,
//! `parse_str`, `parse_backslash`), its merge rules in `list.c` (`uci_set`, `uci_add_list`),
//! and its validation rules in `util.c` (`uci_validate_str`, `uci_validate_text`). The user
//! guide is <https://openwrt.org/docs/guide-user/base-system/uci>.
//!
//! [`parse`] turns the text of one `/etc/config` file into a [`Package`]; [`write`] turns a
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

use std::fmt;

/// One configuration file: an optional `package` name and its sections, in file order.
///
/// Built by [`parse`] or through [`Package::named_section_mut`] and
/// [`Package::add_anonymous_section`], so names, types and values always satisfy libuci's rules
/// and section names are unique; [`write`] therefore always produces text libuci can load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Package {
    name: Option<String>,
    sections: Vec<Section>,
}

/// One `config <type> [name]` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    section_type: String,
    name: Option<String>,
    line: u32,
    options: Vec<Entry>,
}

/// The value of an option: a single string (`option`) or a list (`list`, one item per line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Option(String),
    List(Vec<String>),
}

/// A parse failure, located in the file. Displays as one line:
/// `/etc/config/ike-esp-alg:12:8: expected section type after 'config'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    pub kind: ErrorKind,
}

/// What was wrong, without the location. Also returned by the building methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The first word of a command is not `package`, `config`, `option`, `list` (or `p/c/o/l`).
    UnknownCommand(String),
    /// A command word written with quotes or backslashes, which libuci does not unquote.
    QuotedCommand(String),
    /// A required argument is missing or empty.
    MissingArgument {
        command: &'static str,
        what: &'static str,
    },
    /// A command has an argument more than it takes.
    ExtraArgument {
        command: &'static str,
        found: String,
    },
    /// `option` or `list` before any `config`.
    OptionOutsideSection {
        command: &'static str,
    },
    /// End of file inside a quoted string; the location is the opening quote.
    UnterminatedQuote {
        quote: char,
    },
    InvalidPackageName(String),
    InvalidSectionName(String),
    InvalidSectionType(String),
    InvalidOptionName(String),
    /// A value with a control character other than tab, CR or LF.
    InvalidValue(String),
    /// A named section repeated with another type.
    TypeConflict {
        name: String,
        existing: String,
        found: String,
    },
    /// Two `package` statements with different names.
    PackageConflict {
        existing: String,
        found: String,
    },
}

/// Parses the text of one UCI file. `file` is only used in error messages.
pub fn parse(text: &str, file: &str) -> Result<Package, ParseError> {
    let mut parser = Parser {
        lexer: Lexer::new(text),
        package: Package::default(),
        current: None,
    };
    let located = |(at, kind): (Pos, ErrorKind)| ParseError {
        file: file.to_owned(),
        line: at.line,
        column: at.column,
        kind,
    };
    while let Some(command) = parser.lexer.next_command().map_err(located)? {
        parser.apply(command).map_err(located)?;
    }
    Ok(parser.package)
}

/// Writes a package the way `uci export` does: `package`, then per section a blank line,
/// `config type 'name'` and `\toption key 'value'` / `\tlist key 'item'`, with `'` written
/// as `'\''`. [`parse`] reads the result back to the same data.
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

/// True if `name` is a valid section or option name: one or more of `[A-Za-z0-9_]`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Package {
    /// An empty package that `write` heads with `package <name>`.
    pub fn with_name(name: &str) -> Result<Package, ErrorKind> {
        if !is_valid_package_name(name) {
            return Err(ErrorKind::InvalidPackageName(name.to_owned()));
        }
        Ok(Package {
            name: Some(name.to_owned()),
            sections: Vec::new(),
        })
    }

    /// The name from the `package` statement, if the file has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// All sections, in file order (a merged section stays where it first appeared).
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The sections of one type, in file order.
    pub fn sections_of_type<'a>(
        &'a self,
        section_type: &'a str,
    ) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections
            .iter()
            .filter(move |s| s.section_type == section_type)
    }

    /// The section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name.as_deref() == Some(name))
    }

    /// Looks a section up the way `uci get` does: by name, or `@type[n]` for the n-th section
    /// of that type (named ones included), `@type[-1]` for the last, `@[n]` over all types.
    pub fn section_by_ref(&self, reference: &str) -> Option<&Section> {
        self.sections.get(self.section_index(reference)?)
    }

    /// [`Package::section_by_ref`], for changing the section's options.
    pub fn section_by_ref_mut(&mut self, reference: &str) -> Option<&mut Section> {
        let index = self.section_index(reference)?;
        self.sections.get_mut(index)
    }

    /// `uci get package.<section_ref>.<option>` for a single-valued option.
    pub fn get(&self, section_ref: &str, option: &str) -> Option<&str> {
        self.section_by_ref(section_ref)?.get(option)
    }

    /// The items of a list option (a single-valued option reads as a one-item list).
    pub fn get_list(&self, section_ref: &str, option: &str) -> Option<&[String]> {
        self.section_by_ref(section_ref)?.get_list(option)
    }

    /// The section called `name`, created at the end if there is none: what a repeated
    /// `config <type> '<name>'` does. Another type under the same name is an error.
    pub fn named_section_mut(
        &mut self,
        section_type: &str,
        name: &str,
    ) -> Result<&mut Section, ErrorKind> {
        self.named_section_at(section_type, name, 0)
    }

    /// Appends an anonymous section (`config <type>` without a name).
    pub fn add_anonymous_section(&mut self, section_type: &str) -> Result<&mut Section, ErrorKind> {
        Ok(self.push_section(Section::new(section_type, None, 0)?))
    }

    /// The sections, for changing options or reordering (as `uci reorder` does); adding,
    /// removing and renaming go through the methods that keep names unique.
    pub fn sections_mut(&mut self) -> &mut [Section] {
        &mut self.sections
    }

    fn section_index(&self, reference: &str) -> Option<usize> {
        let Some(extended) = reference.strip_prefix('@') else {
            return self
                .sections
                .iter()
                .position(|s| s.name.as_deref() == Some(reference));
        };
        // libuci's uci_lookup_ext_section: `@type[index]`, a negative index counts from the end.
        let (section_type, index) = extended.strip_suffix(']')?.split_once('[')?;
        let index: i64 = index.parse().ok()?;
        if !section_type.is_empty() && !is_valid_type(section_type) {
            return None;
        }
        let of_type = |s: &Section| section_type.is_empty() || s.section_type == section_type;
        let index = if index < 0 {
            let count = i64::try_from(self.sections.iter().filter(|s| of_type(s)).count()).ok()?;
            index.checked_add(count)?
        } else {
            index
        };
        let nth = usize::try_from(index).ok()?;
        self.sections
            .iter()
            .enumerate()
            .filter(|(_, s)| of_type(s))
            .nth(nth)
            .map(|(i, _)| i)
    }

    fn named_section_at(
        &mut self,
        section_type: &str,
        name: &str,
        line: u32,
    ) -> Result<&mut Section, ErrorKind> {
        if !is_valid_name(name) {
            return Err(ErrorKind::InvalidSectionName(name.to_owned()));
        }
        if !is_valid_type(section_type) {
            return Err(ErrorKind::InvalidSectionType(section_type.to_owned()));
        }
        let index = match self
            .sections
            .iter()
            .position(|s| s.name.as_deref() == Some(name))
        {
            Some(index) => index,
            None => {
                self.sections
                    .push(Section::new(section_type, Some(name), line)?);
                self.sections.len().saturating_sub(1)
            }
        };
        let section = element_mut(&mut self.sections, index);
        if section.section_type != section_type {
            return Err(ErrorKind::TypeConflict {
                name: name.to_owned(),
                existing: section.section_type.clone(),
                found: section_type.to_owned(),
            });
        }
        Ok(section)
    }

    fn push_section(&mut self, section: Section) -> &mut Section {
        self.sections.push(section);
        let last = self.sections.len().saturating_sub(1);
        element_mut(&mut self.sections, last)
    }
}

impl Section {
    fn new(section_type: &str, name: Option<&str>, line: u32) -> Result<Section, ErrorKind> {
        if !is_valid_type(section_type) {
            return Err(ErrorKind::InvalidSectionType(section_type.to_owned()));
        }
        Ok(Section {
            section_type: section_type.to_owned(),
            name: name.map(str::to_owned),
            line,
            options: Vec::new(),
        })
    }

    /// The type, the first argument of `config`.
    pub fn section_type(&self) -> &str {
        &self.section_type
    }

    /// The name, or `None` for an anonymous section.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The line of the `config` command that opened the section (`None` if built in code).
    pub fn line(&self) -> Option<u32> {
        non_zero(self.line)
    }

    /// The options in order, lists as one entry each.
    pub fn options(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.options.iter().map(|e| (e.name.as_str(), &e.value))
    }

    pub fn value(&self, option: &str) -> Option<&Value> {
        self.entry(option).map(|e| &e.value)
    }

    /// The value of a single-valued option; `None` if missing or a list.
    pub fn get(&self, option: &str) -> Option<&str> {
        match self.value(option)? {
            Value::Option(value) => Some(value),
            Value::List(_) => None,
        }
    }

    /// The items of a list; a single-valued option reads as a one-item list.
    pub fn get_list(&self, option: &str) -> Option<&[String]> {
        self.value(option).map(Value::as_list)
    }

    /// The line that set the option (for a list, its first item).
    pub fn option_line(&self, option: &str) -> Option<u32> {
        self.item_line(option, 0)
    }

    /// The line of the `index`-th item of a list (index 0 for a single-valued option).
    pub fn item_line(&self, option: &str, index: usize) -> Option<u32> {
        self.entry(option)?
            .lines
            .get(index)
            .copied()
            .and_then(non_zero)
    }

    /// Sets a single-valued option, like `uci set`: an empty value removes the option.
    pub fn set_option(&mut self, option: &str, value: &str) -> Result<(), ErrorKind> {
        if value.is_empty() {
            check_name(option)?;
            self.options.retain(|e| e.name != option);
            return Ok(());
        }
        self.set_option_at(option, value, 0)
    }

    /// Appends one item to a list, like `uci add_list` (a single value becomes the first item).
    pub fn add_list(&mut self, option: &str, value: &str) -> Result<(), ErrorKind> {
        self.add_list_at(option, value, 0)
    }

    /// Reorders the options by a key given the option name, keeping the current order among
    /// equal keys.
    pub fn sort_options_by_key<K: Ord>(&mut self, mut key: impl FnMut(&str) -> K) {
        self.options.sort_by_key(|e| key(&e.name));
    }

    fn entry(&self, option: &str) -> Option<&Entry> {
        self.options.iter().find(|e| e.name == option)
    }

    fn set_option_at(&mut self, option: &str, value: &str, line: u32) -> Result<(), ErrorKind> {
        check_name(option)?;
        check_value(value)?;
        if let Some(index) = self.options.iter().position(|e| e.name == option) {
            // libuci (uci_set) keeps an unchanged option in place; a changed one is freed and
            // re-added, so it moves to the end.
            if self
                .options
                .get(index)
                .is_some_and(|e| e.value == Value::Option(value.to_owned()))
            {
                return Ok(());
            }
            self.options.remove(index);
        }
        self.options.push(Entry {
            name: option.to_owned(),
            value: Value::Option(value.to_owned()),
            lines: vec![line],
        });
        Ok(())
    }

    fn add_list_at(&mut self, option: &str, value: &str, line: u32) -> Result<(), ErrorKind> {
        check_name(option)?;
        check_value(value)?;
        let Some(index) = self.options.iter().position(|e| e.name == option) else {
            let value = Value::List(vec![value.to_owned()]);
            self.options.push(Entry {
                name: option.to_owned(),
                value,
                lines: vec![line],
            });
            return Ok(());
        };
        if let Some(Entry {
            value: Value::List(items),
            lines,
            ..
        }) = self.options.get_mut(index)
        {
            // An existing list keeps its place.
            items.push(value.to_owned());
            lines.push(line);
            return Ok(());
        }
        // libuci (uci_add_list) turns a single value into a list whose first item it is; the
        // new list is added at the end.
        let mut entry = self.options.remove(index);
        if let Value::Option(old) = entry.value {
            entry.value = Value::List(vec![old, value.to_owned()]);
            entry.lines.push(line);
        }
        self.options.push(entry);
        Ok(())
    }
}

impl Value {
    /// The single value; `None` for a list.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Option(value) => Some(value),
            Value::List(_) => None,
        }
    }

    /// The items; a single value reads as a one-item list.
    pub fn as_list(&self) -> &[String] {
        match self {
            Value::Option(value) => std::slice::from_ref(value),
            Value::List(items) => items,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.kind
        )
    }
}

impl std::error::Error for ParseError {}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every message says what was expected, then what was found.
        let found = |f: &mut fmt::Formatter<'_>, expected: &str, found: &str| {
            write!(f, "expected {expected}, found '{}'", found.escape_debug())
        };
        match self {
            ErrorKind::UnknownCommand(word) => {
                found(f, "'package', 'config', 'option' or 'list'", word)
            }
            ErrorKind::QuotedCommand(word) => {
                write!(
                    f,
                    "expected the command '{word}' without quotes or backslashes"
                )
            }
            ErrorKind::MissingArgument { command, what } => {
                write!(f, "expected {what} after '{command}'")
            }
            ErrorKind::ExtraArgument {
                command,
                found: extra,
            } => found(f, &format!("end of '{command}' command"), extra),
            ErrorKind::OptionOutsideSection { command } => {
                write!(
                    f,
                    "expected a 'config' section before the first '{command}'"
                )
            }
            ErrorKind::UnterminatedQuote { quote } => {
                write!(
                    f,
                    "expected closing {quote} before end of file (quote opened here)"
                )
            }
            ErrorKind::InvalidPackageName(name) => found(
                f,
                "a package name of ASCII letters, digits, '_' and '-'",
                name,
            ),
            ErrorKind::InvalidSectionName(name) => {
                found(f, "a section name of ASCII letters, digits and '_'", name)
            }
            ErrorKind::InvalidSectionType(name) => {
                found(f, "a section type of printable ASCII without spaces", name)
            }
            ErrorKind::InvalidOptionName(name) => {
                found(f, "an option name of ASCII letters, digits and '_'", name)
            }
            ErrorKind::InvalidValue(value) => {
                let bad = value.chars().find(|&c| is_forbidden_in_value(c));
                let bad = bad.map_or(0, u32::from);
                let rule = "a value without control characters other than tab, CR and LF";
                write!(f, "expected {rule}, found U+{bad:04X}")
            }
            ErrorKind::TypeConflict {
                name,
                existing,
                found: other,
            } => found(
                f,
                &format!("section '{name}' to keep its type '{existing}'"),
                other,
            ),
            ErrorKind::PackageConflict {
                existing,
                found: other,
            } => found(f, &format!("one package per file ('{existing}')"), other),
        }
    }
}

impl std::error::Error for ErrorKind {}

/// One option or list, with the line of each assignment (one per list item).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    value: Value,
    lines: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: u32,
    column: u32,
}

/// One argument of a command, quotes removed.
#[derive(Debug)]
struct Arg {
    text: String,
    at: Pos,
    /// No quotes or backslashes: only such a word can be a command name (libuci compares the
    /// raw `strtok` word).
    bare: bool,
}

#[derive(Debug)]
struct Command {
    words: Vec<Arg>,
    /// Where the command ended: the position of its `;`, `#`, line break or end of file.
    end: Pos,
}

type Located = (Pos, ErrorKind);

/// Splits the text into commands and arguments (libuci's `parse_str` and friends).
struct Lexer {
    chars: Vec<char>,
    next: usize,
    pos: Pos,
}

impl Lexer {
    fn new(text: &str) -> Lexer {
        Lexer {
            chars: text.chars().collect(),
            next: 0,
            pos: Pos { line: 1, column: 1 },
        }
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.next.saturating_add(ahead)).copied()
    }

    fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.next = self.next.saturating_add(1);
        if c == '\n' {
            self.pos = Pos {
                line: self.pos.line.saturating_add(1),
                column: 1,
            };
        } else {
            self.pos.column = self.pos.column.saturating_add(1);
        }
        Some(c)
    }

    /// If a backslash (already consumed) ends the line, consumes the line break and says so.
    fn line_continues(&mut self) -> bool {
        match (self.peek(), self.peek_at(1)) {
            (Some('\n'), _) => {
                self.bump();
                true
            }
            (Some('\r'), Some('\n')) => {
                self.bump();
                self.bump();
                true
            }
            _ => false,
        }
    }

    /// The next non-empty command, or `None` at end of input.
    fn next_command(&mut self) -> Result<Option<Command>, Located> {
        let mut words = Vec::new();
        let mut end = None;
        loop {
            match self.peek() {
                None => {
                    let end = end.unwrap_or(self.pos);
                    return Ok((!words.is_empty()).then_some(Command { words, end }));
                }
                Some(c @ ('\n' | ';')) => {
                    let at = end.unwrap_or(self.pos);
                    self.bump();
                    if !words.is_empty() {
                        return Ok(Some(Command { words, end: at }));
                    }
                    if c == '\n' {
                        end = None;
                    }
                }
                Some('#') => {
                    end.get_or_insert(self.pos);
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                Some('\\')
                    if matches!(self.peek_at(1), Some('\n'))
                        || self.peek_at(1) == Some('\r') && self.peek_at(2) == Some('\n') =>
                {
                    self.bump();
                    self.line_continues();
                }
                Some(c) if is_blank(c) => {
                    self.bump();
                }
                Some(_) => words.push(self.arg()?),
            }
        }
    }

    /// One argument: bare runs and quoted strings up to a blank, `;`, `#` or line end.
    fn arg(&mut self) -> Result<Arg, Located> {
        let at = self.pos;
        let mut text = String::new();
        let mut bare = true;
        while let Some(c) = self.peek() {
            match c {
                '\n' | ';' | '#' => break,
                c if is_blank(c) => break,
                '\'' => {
                    bare = false;
                    self.single_quoted(&mut text)?;
                }
                '"' => {
                    bare = false;
                    self.double_quoted(&mut text)?;
                }
                '\\' => {
                    bare = false;
                    self.bump();
                    self.escaped(&mut text);
                }
                c => {
                    text.push(c);
                    self.bump();
                }
            }
        }
        Ok(Arg { text, at, bare })
    }

    /// After a backslash outside single quotes: a line break continues the line, any other
    /// character is taken as it is, and a backslash at end of file is dropped (as in libuci).
    fn escaped(&mut self, text: &mut String) {
        if self.line_continues() {
            return;
        }
        if let Some(c) = self.bump() {
            text.push(c);
        }
    }

    fn single_quoted(&mut self, text: &mut String) -> Result<(), Located> {
        let open = self.pos;
        self.bump();
        loop {
            match self.bump() {
                None => return Err((open, ErrorKind::UnterminatedQuote { quote: '\'' })),
                Some('\'') => return Ok(()),
                Some(c) => text.push(c),
            }
        }
    }

    fn double_quoted(&mut self, text: &mut String) -> Result<(), Located> {
        let open = self.pos;
        self.bump();
        loop {
            match self.bump() {
                None => return Err((open, ErrorKind::UnterminatedQuote { quote: '"' })),
                Some('"') => return Ok(()),
                Some('\\') => self.escaped(text),
                Some(c) => text.push(c),
            }
        }
    }
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
            return Err((
                extra.at,
                ErrorKind::ExtraArgument {
                    command,
                    found: extra.text.clone(),
                },
            ));
        }
        let first = args.first().filter(|a| !a.text.is_empty());
        let second = args.get(1);
        // A missing argument is reported where it should have been: at an empty quoted
        // argument (`config ''`), or where the command ended.
        let missing_at = args.first().map_or(end, |a| a.at);
        match command {
            "package" => {
                let name = first.ok_or((
                    missing_at,
                    ErrorKind::MissingArgument {
                        command,
                        what: "package name",
                    },
                ))?;
                self.package_statement(name)
            }
            "config" => {
                let section_type = first.ok_or((
                    missing_at,
                    ErrorKind::MissingArgument {
                        command,
                        what: "section type",
                    },
                ))?;
                self.config_statement(
                    keyword.at.line,
                    section_type,
                    second.filter(|a| !a.text.is_empty()),
                )
            }
            _ => {
                let section = self
                    .current
                    .ok_or((keyword.at, ErrorKind::OptionOutsideSection { command }))?;
                let name = first.ok_or((
                    missing_at,
                    ErrorKind::MissingArgument {
                        command,
                        what: "option name",
                    },
                ))?;
                self.option_statement(keyword.at.line, section, command == "list", name, second)
            }
        }
    }

    fn package_statement(&mut self, name: &Arg) -> Result<(), Located> {
        if !is_valid_package_name(&name.text) {
            return Err((name.at, ErrorKind::InvalidPackageName(name.text.clone())));
        }
        match &self.package.name {
            Some(existing) if *existing != name.text => Err((
                name.at,
                ErrorKind::PackageConflict {
                    existing: existing.clone(),
                    found: name.text.clone(),
                },
            )),
            _ => {
                self.package.name = Some(name.text.clone());
                Ok(())
            }
        }
    }

    fn config_statement(
        &mut self,
        line: u32,
        section_type: &Arg,
        name: Option<&Arg>,
    ) -> Result<(), Located> {
        if !is_valid_type(&section_type.text) {
            return Err((
                section_type.at,
                ErrorKind::InvalidSectionType(section_type.text.clone()),
            ));
        }
        match name {
            None => {
                let section = Section::new(&section_type.text, None, line)
                    .map_err(|k| (section_type.at, k))?;
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
                self.current = self
                    .package
                    .sections
                    .iter()
                    .position(|s| s.name.as_deref() == Some(name.text.as_str()));
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

fn check_name(option: &str) -> Result<(), ErrorKind> {
    if is_valid_name(option) {
        Ok(())
    } else {
        Err(ErrorKind::InvalidOptionName(option.to_owned()))
    }
}

fn check_value(value: &str) -> Result<(), ErrorKind> {
    if value.chars().any(is_forbidden_in_value) {
        Err(ErrorKind::InvalidValue(value.to_owned()))
    } else {
        Ok(())
    }
}

fn is_valid_package_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// libuci's `uci_validate_type`: printable ASCII from 33 to 126.
fn is_valid_type(section_type: &str) -> bool {
    !section_type.is_empty() && section_type.bytes().all(|b| (33..=126).contains(&b))
}

/// libuci's `uci_validate_text`: no control characters but tab, CR and LF.
fn is_forbidden_in_value(c: char) -> bool {
    u32::from(c) < 32 && !matches!(c, '\t' | '\r' | '\n')
}

/// C's `isspace` without the line feed, which ends a command.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c')
}

/// `&mut items[index]` for an index the caller just found or pushed.
#[allow(clippy::indexing_slicing)] // Callers pass `position()` results or `len() - 1` after a push.
fn element_mut<T>(items: &mut [T], index: usize) -> &mut T {
    &mut items[index]
}

fn non_zero(line: u32) -> Option<u32> {
    (line != 0).then_some(line)
}

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
        assert_eq!(
            p.get_list("n", "b"),
            Some(&["x".to_owned(), "y".to_owned()][..])
        );
    }

    #[test]
    fn quoted_command_word_is_not_a_command() {
        assert_eq!(
            error("'config' t\n"),
            "f:1:1: expected the command 'config' without quotes or backslashes"
        );
    }

    #[test]
    fn missing_type_points_after_the_keyword() {
        assert_eq!(
            error("config \n"),
            "f:1:8: expected section type after 'config'"
        );
        assert_eq!(
            error("config"),
            "f:1:7: expected section type after 'config'"
        );
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
        assert!(matches!(
            p.named_section_mut("t", "a-b"),
            Err(ErrorKind::InvalidSectionName(_))
        ));
        assert!(matches!(
            p.add_anonymous_section("a b"),
            Err(ErrorKind::InvalidSectionType(_))
        ));
        let s = p.named_section_mut("t", "n").unwrap();
        assert!(matches!(
            s.set_option("x", "\u{7}"),
            Err(ErrorKind::InvalidValue(_))
        ));
        s.set_option("x", "1").unwrap();
        s.set_option("x", "").unwrap();
        assert!(s.value("x").is_none());
        assert!(matches!(
            p.named_section_mut("u", "n"),
            Err(ErrorKind::TypeConflict { .. })
        ));
    }
}
