//! Which lines of a Dockerfile are instructions, read by Docker's own rules
//! (moby/buildkit `frontend/dockerfile/parser`, which the classic builder of
//! Engine 20.10 and BuildKit share), and refused wherever Docker versions
//! read the same bytes differently:
//!
//! - Lines end at `\n`; one `\r` before it is part of the line end. Any
//!   other carriage return is refused: Engine 20.10 keeps a second one in the
//!   line, BuildKit drops every `\r` at a line's end. A line longer than
//!   65 535 bytes is refused, as Docker refuses it. A byte order mark at the
//!   very start is dropped.
//! - Parser directives are the lines at the very top of the form
//!   `# name = value` (leading Unicode whitespace allowed; around `=` and at
//!   the end only space, tab, form feed, carriage return, as Go's `\s`).
//!   Known names: `syntax`, `escape`, and (BuildKit only) `check`. The first
//!   line that is not one (an empty line, a comment, an unknown directive,
//!   an instruction) ends them for good. A repeated directive, an `escape`
//!   other than `\` or `` ` ``, and a directive after `check` (a comment to
//!   Engine 20.10, a directive to BuildKit) are refused.
//! - A `syntax` directive hands the file to another BuildKit frontend; only
//!   Docker's own (`docker/dockerfile`) is accepted, also where BuildKit
//!   alone looks for it (after a `#!` line, behind other directives, `//`).
//! - Comment lines (`#` after leading Unicode whitespace) and empty lines
//!   are skipped, also inside a continuation.
//! - A line continues when it ends in the escape character followed only by
//!   spaces and tabs (not a form feed, not a no-break space). Ending in two
//!   escape characters is refused: BuildKit and Engine 20.10 read an escaped
//!   escape character there, older Docker a continuation.
//! - The instruction word is split off at the first space, tab, vertical
//!   tab, form feed or carriage return, compared case-insensitively, and must
//!   be one Docker knows.
//! - Heredocs (`RUN`, `COPY`, `ADD`): their bodies are not instructions. A
//!   `<<` that BuildKit versions might read otherwise is refused, and so is a
//!   heredoc whose lines are all valid instructions for a builder that does
//!   not read heredocs (the classic builder, BuildKit before 0.10).

use super::{at, Error};

/// Docker's longest line (Go's `bufio.MaxScanTokenSize` less the `\n`).
const MAX_LINE: usize = 65_535;

/// Every instruction Docker knows (both builders), lowercase.
const KNOWN: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// One instruction after joining continuation lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Instruction {
    /// 1-based line where it starts.
    pub line: usize,
    /// Uppercase.
    pub keyword: String,
    /// The rest of the joined line, trimmed.
    pub args: String,
}

/// A Dockerfile as Docker splits it.
#[derive(Debug)]
pub(super) struct Lexed {
    pub instructions: Vec<Instruction>,
    /// The escape character (`\` unless a directive says `` ` ``).
    pub escape: char,
    /// The line of the first instruction with a heredoc.
    pub first_heredoc: Option<usize>,
}

/// Read `text` as Docker does, or say where Docker (some version of it)
/// would read it otherwise.
pub(super) fn lex(text: &str) -> Result<Lexed, Error> {
    let lines = split_lines(text)?;
    check_frontend(&lines)?;
    let escape = directives(&lines)?;
    let lexed = read(&lines, escape, true)?;
    if let Some(line) = lexed.first_heredoc {
        // A builder without heredocs reads every line as Dockerfile text:
        // it must fail (an end word like EOF is no instruction).
        if read(&lines, escape, false).is_ok() {
            return Err(at(
                line,
                "every line of this heredoc and its end word reads as an instruction too, so a builder that does not read heredocs (the classic builder, BuildKit before 0.10) would build them; end the heredoc with a word that is no instruction, such as EOF",
            ));
        }
    }
    Ok(lexed)
}

/// The lines, without their `\n` or `\r\n` and without a leading byte
/// order mark.
fn split_lines(text: &str) -> Result<Vec<&str>, Error> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (raw, next) = rest.split_once('\n').unwrap_or((rest, ""));
        let n = lines.len() + 1;
        if raw.len() > MAX_LINE {
            return Err(at(
                n,
                format!(
                    "the line is {} bytes long; Docker reads at most {MAX_LINE}",
                    raw.len()
                ),
            ));
        }
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.contains('\r') {
            return Err(at(
                n,
                "a carriage return that does not end the line: Docker versions disagree on where this line ends; end lines with \\n or \\r\\n only",
            ));
        }
        lines.push(line);
        rest = next;
    }
    if let Some(first) = lines.first_mut() {
        *first = first.strip_prefix('\u{feff}').unwrap_or(first);
    }
    Ok(lines)
}

/// Go's `\s`: what Docker's directive pattern skips around `=` and at the end.
fn is_go_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// `PREFIX\s*name\s*=\s*(.+?)\s*$` (Docker's directive pattern, `#` or,
/// for BuildKit's syntax detection, `//`): the name lowercased and the value.
fn directive<'a>(prefix: &str, line: &'a str) -> Option<(String, &'a str)> {
    let body = line.strip_prefix(prefix)?.trim_start_matches(is_go_space);
    let len = body
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(body.len());
    let name = &body[..len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let after = body[len..]
        .trim_start_matches(is_go_space)
        .strip_prefix('=')?;
    let value = after.trim_matches(is_go_space);
    // `.+?` takes at least one character: a value of only spaces is the last.
    let value = match (value.is_empty(), after.char_indices().last()) {
        (false, _) => value,
        (true, Some((i, _))) => &after[i..],
        (true, None) => return None,
    };
    Some((name.to_ascii_lowercase(), value))
}

/// Docker's own Dockerfile frontend, `docker/dockerfile[:tag][@digest]`.
fn is_docker_frontend(value: &str) -> bool {
    let image = value.split(' ').next().unwrap_or_default();
    let image = image.strip_prefix("docker.io/").unwrap_or(image);
    image
        .strip_prefix("docker/dockerfile")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '@']))
}

/// Refuse a `syntax` directive that names another frontend wherever some
/// BuildKit looks for one: the leading `#` or `//` directive lines, after
/// an optional `#!` line, whatever their names.
fn check_frontend(lines: &[&str]) -> Result<(), Error> {
    let skip = usize::from(lines.first().is_some_and(|l| l.starts_with("#!")));
    for prefix in ["#", "//"] {
        for (i, line) in lines.iter().enumerate().skip(skip) {
            let Some((name, value)) = directive(prefix, line.trim_start()) else {
                break;
            };
            if name == "syntax" && !is_docker_frontend(value) {
                return Err(at(
                    i + 1,
                    format!("the syntax directive hands this file to the BuildKit frontend '{value}', whose reading of it the tool cannot check; drop the directive or name docker/dockerfile"),
                ));
            }
        }
    }
    Ok(())
}

/// The escape character, from the parser directives at the top.
fn directives(lines: &[&str]) -> Result<char, Error> {
    let mut escape = '\\';
    let mut seen: Vec<String> = Vec::new();
    let mut check: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        let Some((name, value)) = directive("#", line.trim_start()) else {
            break;
        };
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            break;
        }
        if seen.contains(&name) {
            return Err(at(
                i + 1,
                format!("a second '{name}' parser directive, which Docker refuses; keep one"),
            ));
        }
        if let Some(c) = check {
            return Err(at(
                i + 1,
                format!("the '{name}' parser directive after the check directive of line {c}: BuildKit reads it, the classic builder (which ends the directives at 'check') does not; put it before the check directive"),
            ));
        }
        match name.as_str() {
            "escape" => {
                escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(at(
                            i + 1,
                            format!(
                                "invalid escape directive '{other}'; Docker takes only \\ or `"
                            ),
                        ))
                    }
                }
            }
            "check" => check = Some(i + 1),
            _ => {}
        }
        seen.push(name);
    }
    Ok(escape)
}

/// A comment line: `#` after leading whitespace.
fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// The line without its continuation mark, and whether it has one: the
/// escape character, then only spaces and tabs.
fn continued(line: &str, escape: char) -> Result<(&str, bool), String> {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(head) if head.ends_with(escape) => Err(format!(
            "the line ends in two escape characters ({escape}{escape}): Engine 20.10 and BuildKit read an escaped {escape} and end the instruction, older Docker versions continue it on the next line; end a continued line with one escape character, and quote a literal one"
        )),
        Some(head) => Ok((head, true)),
        None => Ok((line, false)),
    }
}

/// Docker's split of an instruction word from its arguments: at the first
/// space, tab, vertical tab, form feed or carriage return.
fn split_command(joined: &str) -> (&str, &str) {
    let line = joined.trim();
    match line.find([' ', '\t', '\x0b', '\x0c', '\r']) {
        Some(k) => (&line[..k], line[k..].trim()),
        None => (line, ""),
    }
}

/// The instructions, with heredoc bodies skipped when `heredocs`.
fn read(lines: &[&str], escape: char, heredocs: bool) -> Result<Lexed, Error> {
    let mut instructions = Vec::new();
    let mut first_heredoc = None;
    let mut i = 0;
    while i < lines.len() {
        let start = i + 1;
        let first = lines[i].trim_start();
        i += 1;
        if first.starts_with('#') {
            continue;
        }
        let (head, mut more) = continued(first, escape).map_err(|e| at(start, e))?;
        if !more && head.is_empty() {
            continue;
        }
        let mut joined = head.to_string();
        while more && i < lines.len() {
            let line = lines[i];
            i += 1;
            if is_comment(line) || line.chars().all(char::is_whitespace) {
                continue;
            }
            let (part, again) = continued(line, escape).map_err(|e| at(i, e))?;
            joined.push_str(part);
            more = again;
        }
        let (word, args) = split_command(&joined);
        let lower = word.to_lowercase();
        if !KNOWN.contains(&lower.as_str()) {
            return Err(at(
                start,
                format!("unknown instruction '{word}', which Docker refuses; correct it or remove the line"),
            ));
        }
        if heredocs {
            let markers = heredoc_markers(&lower, &joined).map_err(|e| at(start, e))?;
            if !markers.is_empty() {
                first_heredoc.get_or_insert(start);
            }
            for (strip_tabs, word) in markers {
                i = skip_body(lines, i, strip_tabs, &word)
                    .ok_or_else(|| at(start, format!("heredoc '{word}' is not terminated")))?;
            }
        }
        instructions.push(Instruction {
            line: start,
            keyword: lower.to_ascii_uppercase(),
            args: args.to_string(),
        });
    }
    Ok(Lexed {
        instructions,
        escape,
        first_heredoc,
    })
}

/// The index of the line after the heredoc body that starts at `i` and ends
/// with the line `word` (leading tabs removed first for `<<-`).
fn skip_body(lines: &[&str], mut i: usize, strip_tabs: bool, word: &str) -> Option<usize> {
    loop {
        let body = lines.get(i)?;
        i += 1;
        let body = if strip_tabs {
            body.trim_start_matches('\t')
        } else {
            body
        };
        if body == word {
            return Some(i);
        }
    }
}

/// A heredoc name the tool reads: `[A-Za-z0-9_.-]+`.
fn is_heredoc_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// One word of a heredoc line: `N<<NAME`, `N<<-'NAME'`, `<<"NAME"`, …
/// (BuildKit's `^(\d*)<<(-?)([^<]*)$` with a plain or wholly quoted name):
/// whether `<<-`, and the end word.
fn marker(word: &str) -> Option<(bool, String)> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let name = ['\'', '"']
        .iter()
        .find_map(|q| rest.strip_prefix(*q).and_then(|r| r.strip_suffix(*q)))
        .unwrap_or(rest);
    is_heredoc_name(name).then(|| (strip_tabs, name.to_string()))
}

/// The heredocs an instruction opens, in order, as BuildKit finds them:
/// only RUN, COPY and ADD take them; in their line each whitespace-separated
/// word of the form `N<<-WORD` is one. Where quotes, escapes or `${…}`
/// could make BuildKit's words differ from these, a line with `<<` is
/// refused; so is `<<` in an ONBUILD, which BuildKit versions read
/// differently.
fn heredoc_markers(keyword: &str, line: &str) -> Result<Vec<(bool, String)>, String> {
    if !line.contains("<<") {
        return Ok(Vec::new());
    }
    if keyword == "onbuild" {
        return Err("'<<' in an ONBUILD: BuildKit versions disagree on whether it opens a heredoc; write the trigger without it".into());
    }
    if !matches!(keyword, "run" | "copy" | "add") {
        return Ok(Vec::new());
    }
    let unsure = |word: &str| {
        format!("cannot tell which heredocs BuildKit reads in this line (at '{word}'): write each as <<WORD, <<-WORD, <<'WORD' or <<\"WORD\" (WORD of letters, digits, '_', '.', '-'), with no \\, ${{…}} or quote spanning a space on the line")
    };
    let mut out = Vec::new();
    for word in line.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if word.contains("<<") {
            out.push(marker(word).ok_or_else(|| unsure(word))?);
        } else if word.contains('\\') || word.contains("${") || !quotes_balance(word) {
            return Err(unsure(word));
        }
    }
    Ok(out)
}

/// Whether every quote in `word` is closed within it.
fn quotes_balance(word: &str) -> bool {
    let mut open: Option<char> = None;
    for c in word.chars() {
        match open {
            Some(q) if c == q => open = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => open = Some(c),
            None => {}
        }
    }
    open.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keywords(text: &str) -> Result<Vec<(usize, String)>, Error> {
        lex(text).map(|l| {
            l.instructions
                .into_iter()
                .map(|i| (i.line, format!("{} {}", i.keyword, i.args)))
                .collect()
        })
    }

    #[test]
    fn directive_pattern_is_docker_s() {
        let cases: [(&str, Option<(&str, &str)>); 12] = [
            ("# escape=`", Some(("escape", "`"))),
            ("#escape=`", Some(("escape", "`"))),
            ("#  ESCAPE \t=\x0c ` \x0c", Some(("escape", "`"))),
            ("# escape=` x ", Some(("escape", "` x"))),
            // Go's \s has no vertical tab and no no-break space.
            ("# escape=`\x0b", Some(("escape", "`\x0b"))),
            ("# escape=`\u{a0}", Some(("escape", "`\u{a0}"))),
            // `.+?` takes one character at least.
            ("# escape=  ", Some(("escape", " "))),
            ("# escape=", None),
            ("# es-cape=x", None),
            ("# 1x=y", None),
            ("#! escape=x", None),
            ("# key1 = v", Some(("key1", "v"))),
        ];
        for (line, want) in cases {
            let got = directive("#", line);
            assert_eq!(
                got.as_ref().map(|(n, v)| (n.as_str(), *v)),
                want,
                "{line:?}"
            );
        }
    }

    #[test]
    fn the_directive_section_ends_where_docker_ends_it() {
        let escape = |t: &str| lex(t).map(|l| l.escape);
        assert_eq!(escape("# escape=`\nFROM a\n"), Ok('`'));
        assert_eq!(escape("  # escape=`\nFROM a\n"), Ok('`'));
        assert_eq!(escape("\u{feff}# escape=`\nFROM a\n"), Ok('`'));
        assert_eq!(
            escape("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n"),
            Ok('`')
        );
        assert_eq!(escape("# escape=`\n# check=skip=all\nFROM a\n"), Ok('`'));
        // Whatever is not a known directive ends the section.
        for first in ["# foo=bar", "", "# comment", "#!/bin/sh", "FROM a"] {
            let text = format!("{first}\n# escape=`\nFROM a\n");
            assert_eq!(escape(&text), Ok('\\'), "{text:?}");
        }
        let refused = [
            ("# escape=`\n# escape=`\nFROM a\n", 2, "a second 'escape'"),
            (
                "# check=skip=all\n# escape=`\nFROM a\n",
                2,
                "after the check directive of line 1",
            ),
            ("# check=a\n# check=b\nFROM a\n", 2, "a second 'check'"),
            ("# escape=x\nFROM a\n", 1, "invalid escape directive 'x'"),
            ("# escape=`\x0b\nFROM a\n", 1, "invalid escape directive"),
            (
                "# syntax=evil/frontend\nFROM a\n",
                1,
                "frontend 'evil/frontend'",
            ),
            ("#!/bin/sh\n# syntax=evil\nFROM a\n", 2, "frontend 'evil'"),
            ("# foo=bar\n# syntax=evil\nFROM a\n", 2, "frontend 'evil'"),
            ("//syntax=evil\nFROM a\n", 1, "frontend 'evil'"),
        ];
        for (text, line, want) in refused {
            let err = lex(text).unwrap_err();
            assert_eq!(err.line, Some(line), "{text:?}: {err:?}");
            assert!(err.message.contains(want), "{text:?}: {err:?}");
        }
        for ok in [
            "docker/dockerfile",
            "docker/dockerfile:1",
            "docker.io/docker/dockerfile:1.7@sha256:0",
            "docker/dockerfile:1 // options",
        ] {
            assert!(is_docker_frontend(ok), "{ok}");
        }
        for bad in [
            "docker/dockerfile-upstream:1",
            "evil/docker/dockerfile",
            "x",
        ] {
            assert!(!is_docker_frontend(bad), "{bad}");
        }
    }

    #[test]
    fn continuations_follow_docker() {
        let cases = [
            (
                "FROM a\nUSER x \\ \t\nFROM b\n",
                vec![(1, "FROM a"), (2, "USER x FROM b")],
            ),
            // Docker trims the arguments (and these) after the split.
            (
                "FROM a\nUSER x \\\x0c\nFROM b\n",
                vec![(1, "FROM a"), (2, "USER x \\"), (3, "FROM b")],
            ),
            (
                "FROM a\nUSER x \\\u{a0}\nFROM b\n",
                vec![(1, "FROM a"), (2, "USER x \\"), (3, "FROM b")],
            ),
            (
                "FROM a\r\nUSER x \\\r\nFROM b\r\n",
                vec![(1, "FROM a"), (2, "USER x FROM b")],
            ),
            // Comments, empty and blank lines inside are skipped.
            (
                "FROM a\nUSER x \\\n  # c\n\n\u{a0}\x0c\n\u{a0}# c\nFROM b\n",
                vec![(1, "FROM a"), (2, "USER x FROM b")],
            ),
            // A lone escape character continues into the next line.
            ("FROM a\n\\\nFROM b\n", vec![(1, "FROM a"), (2, "FROM b")]),
            // Continued to the end of the file.
            ("FROM a \\\n", vec![(1, "FROM a")]),
            (
                "from a\nOnBuild RUN x\n",
                vec![(1, "FROM a"), (2, "ONBUILD RUN x")],
            ),
        ];
        for (text, want) in cases {
            let got = keywords(text).unwrap();
            let want: Vec<(usize, String)> =
                want.into_iter().map(|(l, s)| (l, s.to_string())).collect();
            assert_eq!(got, want, "{text:?}");
        }
        let refused = [
            ("FROM a\nUSER x \\\\\nFROM b\n", 2, "two escape characters"),
            ("FROM a\nUSER x \\\r\r\nFROM b\n", 2, "carriage return"),
            ("FROM a\nUSER x\rFROM b\n", 2, "carriage return"),
            ("FROM a\r\r", 1, "carriage return"),
            (
                "FROM a\nFROM\u{a0}b\n",
                2,
                "unknown instruction 'FROM\u{a0}b'",
            ),
            ("FROM a\nEOF\n", 2, "unknown instruction 'EOF'"),
            ("{\"syntax\": \"x\"}\n", 1, "unknown instruction"),
        ];
        for (text, line, want) in refused {
            let err = lex(text).unwrap_err();
            assert_eq!(err.line, Some(line), "{text:?}: {err:?}");
            assert!(err.message.contains(want), "{text:?}: {err:?}");
        }
        let long = format!("FROM a\nLABEL x={}\n", "y".repeat(MAX_LINE));
        assert!(lex(&long)
            .unwrap_err()
            .message
            .contains("Docker reads at most 65535"));
        let fits = format!("FROM a\nLABEL x={}\n", "y".repeat(MAX_LINE - 8));
        assert!(lex(&fits).is_ok());
    }

    #[test]
    fn heredocs_as_buildkit_finds_them() {
        let found = [
            ("RUN <<EOF", vec![(false, "EOF")]),
            ("RUN 3<<-'E.1' cat", vec![(true, "E.1")]),
            ("COPY <<\"A\" <<B /x", vec![(false, "A"), (false, "B")]),
            ("RUN echo a<b", vec![]),
            ("RUN python3 - <<'PY' && echo \"done\"", vec![(false, "PY")]),
            ("LABEL a=<<EOF", vec![]),
        ];
        for (line, want) in found {
            let (keyword, _) = split_command(line);
            let got = heredoc_markers(&keyword.to_lowercase(), line).unwrap();
            let want: Vec<(bool, String)> =
                want.into_iter().map(|(s, w)| (s, w.to_string())).collect();
            assert_eq!(got, want, "{line}");
        }
        for line in [
            "RUN echo x<<EOF",
            "RUN cat <<'FROM evil'",
            "RUN echo \"a <<EOF\"",
            "RUN cat <<EOF \\",
            "RUN cat <<EOF > ${A:-x y}",
            "RUN cat <<<x",
            "RUN [\"cat\", \"<<EOF\"]",
            "ONBUILD RUN <<EOF",
        ] {
            let (keyword, _) = split_command(line);
            assert!(
                heredoc_markers(&keyword.to_lowercase(), line).is_err(),
                "{line}"
            );
        }
        // A heredoc whose lines a builder without heredocs would build.
        let text = "FROM a\nRUN <<FROM\nFROM b\nFROM\n";
        assert!(lex(text).is_err());
        let text = "FROM a\nCOPY <<RUN /x\nUSER y\nRUN\n";
        let err = lex(text).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(
            err.message
                .contains("a builder that does not read heredocs"),
            "{err:?}"
        );
        // The usual end word is no instruction: accepted, the body skipped.
        let text = "FROM a\nRUN <<EOF\nFROM b\nEOF\nUSER z\n";
        assert_eq!(
            keywords(text).unwrap(),
            vec![
                (1, "FROM a".into()),
                (2, "RUN <<EOF".into()),
                (5, "USER z".into())
            ]
        );
        assert_eq!(lex(text).unwrap().first_heredoc, Some(2));
    }
}
