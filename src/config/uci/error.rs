//! UCI parse errors: where in the file ([`ParseError`]) and what was expected ([`ErrorKind`]);
//! and [`Warning`]s about text that libuci reads without complaint but ignores.
//!
//! Every message reads as one line, says what was expected and then what was found, in the
//! spirit of libuci's `uci_perror`, but with a column.

use std::fmt;

use super::package::is_forbidden_in_value;

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
    /// A VT, FF or CR next to a command word: libuci splits the word only at spaces and tabs
    /// (`strtok(" \t")`), so the command is not recognised.
    CommandSeparator {
        found: char,
    },
    /// Blanks and a line break left over after a command's arguments (after `option a 'b';`
    /// or `option a b ;`): libuci reads the line break as one more command and rejects it.
    LeftoverLineBreak,
    /// A backslash continuation whose next line starts with a blank: libuci ends the argument
    /// at the blank, so what follows is one argument too many.
    BlankAfterContinuation {
        found: String,
    },
}

/// Something the file says that libuci reads without complaint but ignores: the daemon goes
/// by what libuci reads, and tells the operator. Displays as one line:
/// `/etc/config/ike-esp-alg:4: warning: ignored 'option y 2' after the unquoted 'x;' ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    /// 1-based line.
    pub line: u32,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: warning: {}", self.file, self.line, self.message)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.kind)
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
            ErrorKind::UnknownCommand(word) => found(f, "'package', 'config', 'option' or 'list'", word),
            ErrorKind::QuotedCommand(word) => {
                write!(f, "expected the command '{word}' without quotes or backslashes")
            }
            ErrorKind::MissingArgument { command, what } => {
                write!(f, "expected {what} after '{command}'")
            }
            ErrorKind::ExtraArgument { command, found: extra } => {
                found(f, &format!("end of '{command}' command"), extra)
            }
            ErrorKind::OptionOutsideSection { command } => {
                write!(f, "expected a 'config' section before the first '{command}'")
            }
            ErrorKind::UnterminatedQuote { quote } => {
                write!(f, "expected closing {quote} before end of file (quote opened here)")
            }
            ErrorKind::InvalidPackageName(name) => {
                found(f, "a package name of ASCII letters, digits, '_' and '-'", name)
            }
            ErrorKind::InvalidSectionName(name) => found(f, "a section name of ASCII letters, digits and '_'", name),
            ErrorKind::InvalidSectionType(name) => found(f, "a section type of printable ASCII without spaces", name),
            ErrorKind::InvalidOptionName(name) => found(f, "an option name of ASCII letters, digits and '_'", name),
            ErrorKind::InvalidValue(value) => {
                let bad = value.chars().find(|&c| is_forbidden_in_value(c));
                let bad = bad.map_or(0, u32::from);
                let rule = "a value without control characters other than tab, CR and LF";
                write!(f, "expected {rule}, found U+{bad:04X}")
            }
            ErrorKind::TypeConflict { name, existing, found: other } => {
                found(f, &format!("section '{name}' to keep its type '{existing}'"), other)
            }
            ErrorKind::CommandSeparator { found: c } => write!(
                f,
                "expected a space or tab next to the command word, found U+{:04X} (libuci splits commands only at spaces and tabs)",
                u32::from(*c)
            ),
            ErrorKind::LeftoverLineBreak => f.write_str(
                "expected the line to end right after the command, found blanks and a line break after ';' or an empty argument (libuci reads them as another command)",
            ),
            ErrorKind::BlankAfterContinuation { found: extra } => write!(
                f,
                "expected the line after a backslash continuation to start without blanks, found '{}' one argument too many (libuci ends the argument at the blank)",
                extra.escape_debug()
            ),
        }
    }
}

impl std::error::Error for ErrorKind {}
