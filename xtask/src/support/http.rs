//! HTTP/1.x header blocks, as a server sends them and curl prints them:
//! read by the registry client (curl's `--dump-header`) and by the engine
//! API client (the engine's socket).

/// A header block: its status, its headers (names in lower case, values
/// trimmed, each occurrence of a repeated one kept, in the order sent),
/// and the text after it.
pub type Block<'a> = (u16, Vec<(String, String)>, &'a str);

/// One header block at the start of `text`: `HTTP/… NNN …`, header
/// lines (a line starting with a space or tab continues the one before),
/// an empty line. Lines end with LF, a CR before it dropped.
pub fn header_block(text: &str) -> Result<Block<'_>, String> {
    let mut rest = text;
    let mut next_line = || -> Result<&str, String> {
        let (line, after) = rest
            .split_once('\n')
            .ok_or("the headers end inside a header block")?;
        rest = after;
        Ok(line.strip_suffix('\r').unwrap_or(line))
    };
    let status_line = next_line()?;
    let status = status_line
        .strip_prefix("HTTP/")
        .and_then(|l| l.split(' ').nth(1))
        .filter(|c| c.len() == 3)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("a status line it cannot read: {status_line:?}"))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let line = next_line()?;
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                let more = line.trim_matches([' ', '\t']);
                if !more.is_empty() {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(more);
                }
                continue;
            }
        }
        let (name, value) = line
            .split_once(':')
            .filter(|(n, _)| !n.is_empty() && !n.contains([' ', '\t']))
            .ok_or_else(|| format!("a header line it cannot read: {line:?}"))?;
        headers.push((
            name.to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Ok((status, headers, rest))
}

/// The first value of header `name` (lower case) in `headers`.
pub fn first<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Percent-encoding of `s` for a URL: ASCII letters, digits, `-._~` and
/// the bytes of `keep` as they are, every other byte as `%XX`.
pub fn percent_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_read_to_its_empty_line() {
        let (status, headers, rest) = header_block(
            "HTTP/1.1 200 OK\r\nA: 1\r\nlink: <a>;\r\n  rel=x\r\n \t\r\nA:  2 \r\nB:\r\n 3\r\n\r\nbody",
        )
        .unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            headers,
            [
                ("a".to_string(), "1".to_string()),
                ("link".to_string(), "<a>; rel=x".to_string()),
                ("a".to_string(), "2".to_string()),
                ("b".to_string(), "3".to_string())
            ]
        );
        assert_eq!(rest, "body");
        assert_eq!(first(&headers, "a"), Some("1"));
        assert_eq!(first(&headers, "b"), Some("3"));
        assert_eq!(first(&headers, "c"), None);
        for bad in [
            "HTTP/1.1 200 OK\r\nA: 1\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "garbage\r\n\r\n",
            "HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
            "HTTP/1.1 200 OK\r\nA B: 1\r\n\r\n",
        ] {
            assert!(header_block(bad).is_err(), "{bad:?}");
        }
    }
}
