//! The UCI lexer: reads commands the way libuci's line parser does, quotes removed.
//!
//! Read first: libuci's `file.c` (`uci_parse_line`, `next_arg`, `parse_str`,
//! `parse_single_quote`, `parse_double_quote`, `parse_backslash`, `skip_whitespace`,
//! `assert_eol`). libuci reads one physical line into a buffer and parses it in place; the
//! rules below are what that amounts to, and the lexer follows them:
//!
//! - Blanks (`isspace`: space, tab, CR, LF, VT, FF) are skipped at the start of a line and
//!   before each argument, but never past the end of the line buffer.
//! - The command word runs to the next space or tab only (`strtok(" \t")`), so a VT, FF or CR
//!   next to it belongs to the word, and a line break left over after a command is read as a
//!   (bad) command.
//! - An argument is a concatenation of bare runs, `'…'` and `"…"` (where `\x` is `x`), up to a
//!   blank, `#` or `;`; one blank after it is consumed. Quoted strings may span lines.
//! - A backslash before the line break appends the next line in place; if that line starts
//!   with a blank, the argument ends there.
//! - A `;` at the start of an argument is an empty argument. A `;` that ends a quoted or
//!   escaped argument stays for the next argument to eat. A `;` that ends a bare word is
//!   overwritten by libuci's string terminator: the rest of the physical line is ignored, and
//!   a [`Dropped`] note says what was lost.
//! - Each command reads the arguments it takes and one more (`assert_eol`); whatever follows
//!   is the next command on the same line.

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
    /// A backslash continuation landed on a blank and ended the argument there.
    pub(super) cut_by_continuation: bool,
}

/// The command word, as libuci's `strtok` sees it.
#[derive(Debug)]
pub(super) struct Word {
    /// The raw text, without a line break at its end.
    pub(super) text: String,
    pub(super) at: Pos,
    /// Where the word ended: no space or tab followed it (a line break or end of input did).
    pub(super) ends_line: bool,
    pub(super) end: Pos,
}

/// Text of a physical line that libuci ignores after a bare word ended by `;`.
#[derive(Debug)]
pub(super) struct Dropped {
    pub(super) line: u32,
    /// The word that the `;` ended, and the ignored rest of the line.
    pub(super) word: String,
    pub(super) rest: String,
}

pub(super) type Located = (Pos, ErrorKind);

/// Reads commands from the text as libuci's parser does.
pub(super) struct Lexer {
    chars: Vec<char>,
    next: usize,
    pos: Pos,
    /// End (exclusive) of libuci's line buffer: past the line break of the last line read.
    end: usize,
    /// Where libuci's terminator cut the buffer short (`#`, or `;` after a bare word).
    cut: Option<usize>,
    dropped: Vec<Dropped>,
}

impl Lexer {
    pub(super) fn new(text: &str) -> Lexer {
        let chars: Vec<char> = text.chars().collect();
        let mut lexer =
            Lexer { chars, next: 0, pos: Pos { line: 1, column: 1 }, end: 0, cut: None, dropped: Vec::new() };
        lexer.end = lexer.line_end_from(0);
        lexer.skip_blanks();
        lexer
    }

    /// What libuci dropped after `;`, in file order.
    pub(super) fn take_dropped(&mut self) -> Vec<Dropped> {
        std::mem::take(&mut self.dropped)
    }

    /// Index past the line break of the physical line holding `from`, or the end of input.
    fn line_end_from(&self, from: usize) -> usize {
        let rest = self.chars.get(from..).unwrap_or_default();
        rest.iter().position(|&c| c == '\n').map_or(self.chars.len(), |i| from.saturating_add(i).saturating_add(1))
    }

    fn limit(&self) -> usize {
        self.cut.unwrap_or(self.end)
    }

    /// The next character inside the line buffer.
    fn peek(&self) -> Option<char> {
        if self.next < self.limit() {
            self.chars.get(self.next).copied()
        } else {
            None
        }
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        let index = self.next.saturating_add(ahead);
        if index < self.limit() {
            self.chars.get(index).copied()
        } else {
            None
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.next).copied()?;
        self.next = self.next.saturating_add(1);
        if c == '\n' {
            self.pos = Pos { line: self.pos.line.saturating_add(1), column: 1 };
        } else {
            self.pos.column = self.pos.column.saturating_add(1);
        }
        Some(c)
    }

    /// Reads the next physical line into the buffer (libuci's `uci_getln`); false at end of input.
    fn read_next_line(&mut self) -> bool {
        if self.end >= self.chars.len() {
            return false;
        }
        self.end = self.line_end_from(self.end);
        true
    }

    /// Leaves the current line buffer and skips blank lines (the start of `uci_parse_line`).
    /// `None` at end of input.
    fn start_line(&mut self) -> Option<()> {
        loop {
            while self.next < self.end {
                self.bump();
            }
            self.cut = None;
            if self.next >= self.chars.len() {
                return None;
            }
            self.end = self.line_end_from(self.next);
            self.skip_blanks();
            if self.peek().is_some() {
                return Some(());
            }
        }
    }

    /// `skip_whitespace`: blanks up to the end of the buffer. Returns where a line break was
    /// skipped, so that a missing argument is reported before it, not on the next line.
    fn skip_blanks(&mut self) -> Option<Pos> {
        let mut line_break = None;
        while let Some(c) = self.peek() {
            if !is_blank(c) {
                break;
            }
            if c == '\n' && line_break.is_none() {
                line_break = Some(self.pos);
            }
            if c == '\r' && self.peek_at(1) == Some('\n') {
                line_break.get_or_insert(self.pos);
            }
            self.bump();
        }
        line_break
    }

    /// The next command word on the current line (`strtok(" \t")`), or `None` when the line
    /// is done and the next one has none either. A word starting with `#` is a comment.
    pub(super) fn next_word(&mut self) -> Option<Word> {
        loop {
            while matches!(self.peek(), Some(' ' | '\t')) {
                self.bump();
            }
            match self.peek() {
                None | Some('#') => self.start_line()?,
                Some(_) => break,
            }
        }
        let at = self.pos;
        let mut text = String::new();
        while let Some(c) = self.peek().filter(|&c| c != ' ' && c != '\t') {
            text.push(c);
            self.bump();
        }
        let ends_line = self.peek().is_none();
        if ends_line {
            // The line break is part of libuci's word; keep it out of messages.
            if text.ends_with('\n') {
                text.pop();
                if text.ends_with('\r') {
                    text.pop();
                }
            }
        } else {
            // strtok's terminator replaced the space or tab after the word.
            self.bump();
        }
        let end = if ends_line { line_break_pos(at, &text) } else { self.pos };
        Some(Word { text, at, ends_line, end })
    }

    /// One argument (`next_arg`): empty at the end of the buffer or for a lone `;`.
    pub(super) fn next_arg(&mut self) -> Result<Arg, Located> {
        let line_break = self.skip_blanks();
        let at = self.pos;
        match self.peek() {
            None => Ok(Arg { text: String::new(), at: line_break.unwrap_or(at), cut_by_continuation: false }),
            Some(';') => {
                self.bump();
                Ok(Arg { text: String::new(), at, cut_by_continuation: false })
            }
            Some(_) => self.arg(),
        }
    }

    /// `parse_str`: bare runs and quoted strings up to a blank, `#`, `;` or the buffer's end.
    fn arg(&mut self) -> Result<Arg, Located> {
        let at = self.pos;
        let start = self.next;
        let mut text = String::new();
        // libuci copies characters back over its buffer; a bare word is copied onto itself.
        let mut bare = true;
        let mut cut_by_continuation = false;
        loop {
            match self.peek() {
                None => return Ok(Arg { text, at, cut_by_continuation }),
                Some('#') => {
                    self.cut = Some(self.next);
                    return Ok(Arg { text, at, cut_by_continuation });
                }
                Some(';') => {
                    if bare {
                        self.drop_after_semicolon(start);
                    }
                    return Ok(Arg { text, at, cut_by_continuation });
                }
                Some('\'') => {
                    bare = false;
                    self.single_quoted(&mut text)?;
                }
                Some('"') => {
                    bare = false;
                    self.double_quoted(&mut text)?;
                }
                Some('\\') => {
                    bare = false;
                    self.bump();
                    if self.continues_line() {
                        cut_by_continuation = self.peek().is_some_and(is_blank);
                    } else if let Some(c) = self.bump() {
                        text.push(c);
                    }
                }
                Some(c) => {
                    text.push(c);
                    self.bump();
                }
            }
            if self.peek().is_some_and(is_blank) {
                // The argument ends at a blank, which libuci's terminator replaces.
                self.bump();
                return Ok(Arg { text, at, cut_by_continuation });
            }
        }
    }

    /// The `;` after a bare word is overwritten by libuci's terminator: the buffer ends there.
    fn drop_after_semicolon(&mut self, word_start: usize) {
        let semicolon = self.next;
        let word: String = self.chars.get(word_start..=semicolon).unwrap_or_default().iter().collect();
        let rest: String = self.chars.get(semicolon.saturating_add(1)..self.end).unwrap_or_default().iter().collect();
        let rest = rest.trim_end_matches(['\n', '\r']).to_owned();
        let meaningful = rest.trim_start_matches(is_blank);
        if !meaningful.is_empty() && !meaningful.starts_with('#') {
            self.dropped.push(Dropped { line: self.pos.line, word, rest: rest.trim().to_owned() });
        }
        self.cut = Some(semicolon);
    }

    /// After a backslash (consumed): at the end of the buffer, before its line break, or
    /// before CR LF ending it, the next line is read in place (`parse_backslash`).
    fn continues_line(&mut self) -> bool {
        match (self.peek(), self.peek_at(1)) {
            (None, _) => {
                self.read_next_line();
                true
            }
            (Some('\n'), _) => {
                self.bump();
                self.read_next_line();
                true
            }
            (Some('\r'), Some('\n')) if self.next.saturating_add(2) == self.end => {
                self.bump();
                self.bump();
                self.read_next_line();
                true
            }
            _ => false,
        }
    }

    /// The next character of a quoted string, reading on into the next line if needed.
    fn quoted_char(&mut self, open: Pos, quote: char) -> Result<char, Located> {
        if self.peek().is_none() && !self.read_next_line() {
            return Err((open, ErrorKind::UnterminatedQuote { quote }));
        }
        self.bump().ok_or((open, ErrorKind::UnterminatedQuote { quote }))
    }

    fn single_quoted(&mut self, text: &mut String) -> Result<(), Located> {
        let open = self.pos;
        self.bump();
        loop {
            match self.quoted_char(open, '\'')? {
                '\'' => return Ok(()),
                c => text.push(c),
            }
        }
    }

    fn double_quoted(&mut self, text: &mut String) -> Result<(), Located> {
        let open = self.pos;
        self.bump();
        loop {
            if self.peek().is_none() && !self.read_next_line() {
                return Err((open, ErrorKind::UnterminatedQuote { quote: '"' }));
            }
            match self.peek() {
                Some('"') => {
                    self.bump();
                    return Ok(());
                }
                Some('\\') => {
                    self.bump();
                    if !self.continues_line() {
                        if let Some(c) = self.bump() {
                            text.push(c);
                        }
                    }
                }
                _ => {
                    let c = self.quoted_char(open, '"')?;
                    text.push(c);
                }
            }
        }
    }
}

/// Where the line break after a word ending its line is: right after the word.
fn line_break_pos(at: Pos, text: &str) -> Pos {
    let length = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    Pos { line: at.line, column: at.column.saturating_add(length) }
}

/// C's `isspace`.
pub(super) fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\x0b' | '\x0c')
}
