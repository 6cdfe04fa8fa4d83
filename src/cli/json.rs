//! A small JSON writer: enough for flat objects and arrays of them, escaped per RFC 8259 §7.

use core::fmt::Write as _;

/// Builds one JSON object.
#[derive(Debug, Default)]
pub struct Object {
    out: String,
}

impl Object {
    pub fn new() -> Object {
        Object { out: String::from("{") }
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        push_string(&mut self.out, key);
        self.out.push(':');
    }

    pub fn str(mut self, key: &str, value: &str) -> Object {
        self.key(key);
        push_string(&mut self.out, value);
        self
    }

    pub fn opt_str(mut self, key: &str, value: Option<&str>) -> Object {
        self.key(key);
        match value {
            Some(v) => push_string(&mut self.out, v),
            None => self.out.push_str("null"),
        }
        self
    }

    pub fn num(mut self, key: &str, value: u64) -> Object {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    pub fn bool(mut self, key: &str, value: bool) -> Object {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// A value that is already JSON (an object or array built here).
    pub fn raw(mut self, key: &str, json: &str) -> Object {
        self.key(key);
        self.out.push_str(json);
        self
    }

    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// A JSON array of already-rendered values.
pub fn array(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    format!("[{}]", items.join(","))
}

fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_escaped_objects_and_arrays() {
        let inner = Object::new().num("n", 3).finish();
        let json = Object::new()
            .str("name", "a\"b\\c\n\u{1}")
            .opt_str("pool", None)
            .bool("on", true)
            .raw("list", &array([inner.clone(), inner]))
            .finish();
        assert_eq!(json, r#"{"name":"a\"b\\c\n\u0001","pool":null,"on":true,"list":[{"n":3},{"n":3}]}"#);
    }
}
