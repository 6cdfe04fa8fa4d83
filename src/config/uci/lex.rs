//! The UCI lexer: splits text into commands and their arguments, quotes removed.
//!
//! Read first: libuci's `file.c` (`parse_str`, `parse_single_quote`, `parse_double_quote`,
//! `parse_backslash`, `skip_whitespace`). A command ends at a line break, `;` or `#` outside
//! quotes; quoted strings may span lines; a backslash before a line break joins the lines.

use super::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: u32,
    pub(super) column: u32,
}

/// One argument of a command, quotes removed.
#[derive(Debug)]
pub(super) struct Arg {
    pub(super) text: String,
    pub(super) at: Pos,
    /// No quotes or backslashes: only such a word can be a command name (libuci compares the
    /// raw `strtok` word).
    pub(super) bare: bool,
}

#[derive(Debug)]
pub(super) struct Command {
    pub(super) words: Vec<Arg>,
    /// Where the command ended: the position of its `;`, `#`, line break or end of file.
    pub(super) end: Pos,
}

pub(super) type Located = (Pos, ErrorKind);

/// Splits the text into commands and arguments (libuci's `parse_str` and friends).
pub(super) struct Lexer {
    chars: Vec<char>,
    next: usize,
    pos: Pos,
}

impl Lexer {
    pub(super) fn new(text: &str) -> Lexer {
        Lexer { chars: text.chars().collect(), next: 0, pos: Pos { line: 1, column: 1 } }
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
            self.pos = Pos { line: self.pos.line.saturating_add(1), column: 1 };
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
    pub(super) fn next_command(&mut self) -> Result<Option<Command>, Located> {
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

/// C's `isspace` without the line feed, which ends a command.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c')
}
