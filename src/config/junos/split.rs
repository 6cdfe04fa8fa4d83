//! Junos CLI input cut into statements: `set …` lines, run-together quick-configuration
//! blocks, `[edit …]` banners, `user@host#` prompts, and `edit`/`top` moving the level.
//!
//! Read first: the Junos CLI user guide on configuration mode (`set`, `edit`, `top`, `up`)
//! and the guide's "CLI quick configuration" blocks, which lose their line breaks when copied.

/// Junos top-level configuration statements: after `set`, one of these starts a statement.
#[rustfmt::skip]
const TOP_LEVEL: &[&str] = &[
    "access", "accounting-options", "applications", "apply-groups", "bridge-domains",
    "chassis", "class-of-service", "event-options", "firewall", "forwarding-options", "groups",
    "interfaces", "logical-systems", "multi-chassis", "poe", "policy-options", "protocols",
    "routing-instances", "routing-options", "schedulers", "security", "services", "snmp",
    "switch-options", "system", "tenants", "virtual-chassis", "vlans",
];

/// Configuration-mode commands that take a path and may run on from a previous statement.
const PATH_COMMANDS: &[&str] = &["set", "delete", "activate", "deactivate"];

/// One statement: the command word, and the words after it with the `[edit …]` level in front.
#[derive(Debug, Clone)]
pub(super) struct Statement {
    /// Position in the input, for keeping warnings in input order.
    pub(super) index: usize,
    pub(super) line: u32,
    pub(super) text: String,
    pub(super) command: String,
    pub(super) path: Vec<String>,
    /// A `"` string is not closed before the end of the line.
    pub(super) unclosed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    /// A `"…"` string: never a command or a keyword.
    Quoted(String),
    /// A `"` string that the line ends before it is closed.
    Unclosed(String),
    Open,
    Close,
    LineBreak,
}

#[derive(Debug, Clone)]
struct Located {
    token: Token,
    line: u32,
    /// Byte range in the input, for quoting the statement as written.
    start: usize,
    end: usize,
}

fn tokenize(text: &str) -> Vec<Located> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut line: u32 = 1;
    while let Some(&(start, c)) = chars.peek() {
        let token_line = line;
        let token = match c {
            '\n' => {
                chars.next();
                line = line.saturating_add(1);
                Token::LineBreak
            }
            // Unicode spaces too: text copied from a web page may hold NBSP or U+3000.
            c if c.is_whitespace() => {
                chars.next();
                continue;
            }
            '[' | ']' => {
                chars.next();
                if c == '[' {
                    Token::Open
                } else {
                    Token::Close
                }
            }
            // A `#` that starts a word starts a comment, as in a `load set` file.
            '#' => {
                while chars.next_if(|&(_, c)| c != '\n').is_some() {}
                continue;
            }
            // Junos strings do not span lines: an unclosed one ends at the line break.
            '"' => {
                chars.next();
                let mut value = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next_if(|&(_, c)| c != '\n') {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => value.extend(chars.next_if(|&(_, c)| c != '\n').map(|(_, c)| c)),
                        c => value.push(c),
                    }
                }
                if closed {
                    Token::Quoted(value)
                } else {
                    Token::Unclosed(value)
                }
            }
            _ => {
                let mut word = String::new();
                while let Some((_, c)) = chars.next_if(|&(_, c)| !c.is_whitespace() && c != '[' && c != ']') {
                    word.push(c);
                }
                Token::Word(word)
            }
        };
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        tokens.push(Located { token, line: token_line, start, end });
    }
    tokens
}

/// Splits the input into statements, following `[edit …]` banners, prompts, `edit` and `top`.
pub(super) fn split_statements(text: &str) -> Vec<Statement> {
    let tokens = tokenize(text);
    let mut statements = Vec::new();
    let mut level: Vec<String> = Vec::new();
    let mut current: Vec<&Located> = Vec::new();
    let mut i = 0;
    while let Some(located) = tokens.get(i) {
        i = i.saturating_add(1);
        let next = tokens.get(i).map(|l| &l.token);
        match &located.token {
            Token::LineBreak => flush(text, &mut current, &mut level, &mut statements),
            Token::Word(word) if is_prompt(word) => {
                flush(text, &mut current, &mut level, &mut statements);
            }
            Token::Open if matches!(next, Some(Token::Word(w)) if w == "edit") => {
                flush(text, &mut current, &mut level, &mut statements);
                level.clear();
                i = i.saturating_add(1);
                while let Some(located) = tokens.get(i) {
                    i = i.saturating_add(1);
                    match &located.token {
                        Token::Word(w) | Token::Quoted(w) | Token::Unclosed(w) => level.push(w.clone()),
                        _ => break,
                    }
                }
            }
            Token::Word(word)
                if !current.is_empty()
                    && PATH_COMMANDS.contains(&word.as_str())
                    && matches!(next, Some(Token::Word(w)) if TOP_LEVEL.contains(&w.as_str())) =>
            {
                flush(text, &mut current, &mut level, &mut statements);
                current.push(located);
            }
            _ => current.push(located),
        }
    }
    flush(text, &mut current, &mut level, &mut statements);
    statements
}

/// Ends the statement in `current`: `edit` and `top` move the level, anything else is kept.
fn flush(text: &str, current: &mut Vec<&Located>, level: &mut Vec<String>, statements: &mut Vec<Statement>) {
    let (Some(first), Some(last)) = (current.first().copied(), current.last().copied()) else {
        return;
    };
    let mut words = current.iter().map(|l| match &l.token {
        Token::Word(w) | Token::Quoted(w) | Token::Unclosed(w) => w.clone(),
        Token::Open => "[".to_owned(),
        Token::Close => "]".to_owned(),
        Token::LineBreak => String::new(),
    });
    let command = words.next().unwrap_or_default();
    let words: Vec<String> = words.collect();
    let as_written = text.get(first.start..last.end).unwrap_or_default();
    let text =
        if level.is_empty() { as_written.to_owned() } else { format!("[edit {}] {as_written}", level.join(" ")) };
    let line = first.line;
    let unclosed = current.iter().any(|l| matches!(l.token, Token::Unclosed(_)));
    current.clear();
    match command.as_str() {
        "edit" if matches!(first.token, Token::Word(_)) && !unclosed => level.extend(words),
        "top" if words.is_empty() => level.clear(),
        _ => {
            let path = level.iter().cloned().chain(words).collect();
            let index = statements.len();
            statements.push(Statement { index, line, text, command, path, unclosed });
        }
    }
}

/// `user@host#` (configuration mode) or `user@host>` (operational mode).
fn is_prompt(word: &str) -> bool {
    word.len() > 2 && word.contains('@') && (word.ends_with('#') || word.ends_with('>'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(text: &str) -> Vec<String> {
        split_statements(text).into_iter().map(|s| format!("{} {}", s.command, s.path.join(" "))).collect()
    }

    #[test]
    fn run_together_statements_split_at_set_before_a_top_level_name() {
        let text = concat!(
            "set security nat source pool set address 1.2.3.4 ",
            "set applications application a protocol udp",
        );
        assert_eq!(
            commands(text),
            ["set security nat source pool set address 1.2.3.4", "set applications application a protocol udp"]
        );
    }

    #[test]
    fn edit_banners_and_prompts_set_the_level() {
        let text = concat!(
            "[edit security alg ike-esp-nat] user@host# set state-timeout 360 ",
            "user@host# set enable\n",
            "[edit] user@host# set security nat source address-persistent",
        );
        assert_eq!(
            commands(text),
            [
                "set security alg ike-esp-nat state-timeout 360",
                "set security alg ike-esp-nat enable",
                "set security nat source address-persistent",
            ]
        );
        let statements = split_statements(text);
        assert_eq!(statements[0].text, "[edit security alg ike-esp-nat] set state-timeout 360");
        assert_eq!(statements[2].line, 2);
    }

    #[test]
    fn edit_and_top_move_the_level() {
        let text = concat!(
            "edit security nat source\n",
            "set address-persistent\n",
            "top\n",
            "set security alg ike-esp-nat enable",
        );
        assert_eq!(
            commands(text),
            ["set security nat source address-persistent", "set security alg ike-esp-nat enable"]
        );
    }

    #[test]
    fn quoted_words_never_start_a_statement() {
        let text = "set system host-name \"x set security y\" set security nat source address-persistent";
        assert_eq!(commands(text).len(), 2);
        assert_eq!(commands(text)[0], "set system host-name x set security y");
    }
}
