//! Reading TOML files with errors that point at a line: `file:line: ...`.

use toml_edit::{Document, Item, Key};

use crate::support::error::invalid;

/// Parse `text` (the contents of `file`) or fail with one line naming the
/// file, the line and column, and the parser's message.
pub fn parse<'a>(file: &str, text: &'a str) -> anyhow::Result<Document<&'a str>> {
    Document::parse(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let (line, col) = line_col(text, s.start);
                format!(":{line}:{col}")
            })
            .unwrap_or_default();
        let msg = e.message().trim().replace('\n', " ");
        invalid(format!("{file}{at}: not valid TOML: {msg}"))
    })
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// `file:line` for a key (or just `file` when the position is unknown).
pub fn key_location(file: &str, text: &str, key: Option<&Key>) -> String {
    match key.and_then(Key::span) {
        Some(s) => format!("{file}:{}", line_col(text, s.start).0),
        None => file.to_string(),
    }
}

/// `file:line` for a value.
pub fn item_location(file: &str, text: &str, item: &Item) -> String {
    match item.span() {
        Some(s) => format!("{file}:{}", line_col(text, s.start).0),
        None => file.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_are_one_line_with_position() {
        let err = parse("x.toml", "a = 1\nb = \n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.starts_with("x.toml:2:"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn positions() {
        let text = "a = 1\n[t]\nkey = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 10), (3, 1));
        let doc = parse("f", text).unwrap();
        let t = doc.get("t").unwrap().as_table().unwrap();
        assert_eq!(key_location("f", text, t.key("key")), "f:3");
        assert_eq!(item_location("f", text, t.get("key").unwrap()), "f:3");
    }
}
