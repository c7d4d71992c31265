//! Reading a Dockerfile far enough to know what the final image is built on.
//!
//! Handles parser directives (`# escape=`), line continuations, comments
//! inside continuations, heredocs (their bodies are not instructions),
//! global `ARG`s (declared before the first FROM, the only ones a FROM can
//! use), `--platform=` flags and stage aliases. Work is linear in the input:
//! each stage's base is resolved when the stage is declared, so following an
//! alias is one lookup and no alias chain can loop.

use std::collections::BTreeMap;

/// The ARG a Dockerfile declares for its base image.
pub const BASE_ARG: &str = "BASE_IMG_NAME";

/// What the final stage is built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalBase {
    /// The image reference after ARG substitution and alias following.
    pub image: String,
    /// Whether that reference came through `${BASE_IMG_NAME}`, so that a
    /// `--build-arg BASE_IMG_NAME=…` really changes the base.
    pub uses_base_arg: bool,
    /// 1-based line of the FROM that names the image.
    pub line: usize,
}

/// One instruction after joining continuation lines.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Instruction {
    line: usize,
    keyword: String,
    args: String,
}

#[derive(Debug, Clone)]
struct Stage {
    name: Option<String>,
    base: FinalBase,
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a valid ARG (and variable) name.
pub fn is_arg_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Resolve the base of the final stage. `build_args` are the values passed
/// with `--build-arg`; they override the defaults of declared global ARGs.
/// Errors name the line.
pub fn final_base(text: &str, build_args: &BTreeMap<String, String>) -> Result<FinalBase, String> {
    let instructions = instructions(text)?;
    let mut globals: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for ins in &instructions {
        match ins.keyword.as_str() {
            "ARG" if stages.is_empty() => {
                for (name, default) in parse_arg(&ins.args).map_err(|e| at(ins.line, &e))? {
                    let value = match build_args.get(&name) {
                        Some(v) => Some(v.clone()),
                        None => match default {
                            Some(d) => Some(expand(&d, &globals).map_err(|e| at(ins.line, &e))?),
                            None => None,
                        },
                    };
                    globals.insert(name, value);
                }
            }
            "FROM" => {
                let stage = parse_from(ins, &globals, &stages)?;
                stages.push(stage);
            }
            _ if stages.is_empty() => {
                return Err(at(
                    ins.line,
                    &format!(
                        "{} before the first FROM; only ARG may come before FROM",
                        ins.keyword
                    ),
                ));
            }
            _ => {}
        }
    }
    let last = stages.pop().ok_or("no FROM instruction")?;
    if last.base.image == "scratch" {
        return Err(at(
            last.base.line,
            "the final stage is built FROM scratch; there is no base image to record",
        ));
    }
    Ok(last.base)
}

fn at(line: usize, msg: &str) -> String {
    format!("line {line}: {msg}")
}

fn parse_from(
    ins: &Instruction,
    globals: &BTreeMap<String, Option<String>>,
    stages: &[Stage],
) -> Result<Stage, String> {
    let mut words = ins.args.split_whitespace().peekable();
    while words.peek().is_some_and(|w| w.starts_with("--")) {
        let flag = words.next().unwrap_or_default();
        if !flag.starts_with("--platform=") {
            return Err(at(ins.line, &format!("unknown FROM flag '{flag}'")));
        }
    }
    let raw = words
        .next()
        .ok_or_else(|| at(ins.line, "FROM names no image"))?;
    let name = match (words.next(), words.next(), words.next()) {
        (None, _, _) => None,
        (Some(kw), Some(name), None) if kw.eq_ignore_ascii_case("as") => {
            Some(name.to_ascii_lowercase())
        }
        _ => {
            return Err(at(
                ins.line,
                &format!(
                    "FROM '{}' is not of the form FROM [--platform=…] IMAGE [AS NAME]",
                    ins.args
                ),
            ))
        }
    };
    let uses_base_arg = mentions_var(raw, BASE_ARG);
    let image = expand(raw, globals).map_err(|e| at(ins.line, &e))?;
    if image.is_empty() {
        return Err(at(ins.line, &format!("FROM '{raw}' expands to nothing")));
    }
    // An earlier stage of that name: its base is this stage's base.
    let lowered = image.to_ascii_lowercase();
    let base = match stages
        .iter()
        .rev()
        .find(|s| s.name.as_deref() == Some(lowered.as_str()))
    {
        Some(earlier) => FinalBase {
            uses_base_arg: earlier.base.uses_base_arg,
            ..earlier.base.clone()
        },
        None => FinalBase {
            image,
            uses_base_arg,
            line: ins.line,
        },
    };
    Ok(Stage { name, base })
}

/// `ARG A`, `ARG A=1 B="two words"`.
fn parse_arg(args: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let mut out = Vec::new();
    for word in split_words(args)? {
        let (name, default) = match word.split_once('=') {
            Some((n, d)) => (n.to_string(), Some(d.to_string())),
            None => (word, None),
        };
        if !is_arg_name(&name) {
            return Err(format!("ARG name '{name}' is not valid"));
        }
        out.push((name, default));
    }
    if out.is_empty() {
        return Err("ARG declares nothing".into());
    }
    Ok(out)
}

/// Whitespace-separated words; double or single quotes group and are removed.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in '{s}'"));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Whether `s` references `$name` or `${name…}`.
fn mentions_var(s: &str, name: &str) -> bool {
    s.contains(&format!("${{{name}}}"))
        || s.contains(&format!("${{{name}:"))
        || s.match_indices(&format!("${name}")).any(|(i, m)| {
            !s[i + m.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Substitute `$VAR`, `${VAR}`, `${VAR:-word}` and `${VAR:+word}` with the
/// global ARGs. A variable with no value is an error: Docker would
/// substitute an empty string and build on something nobody named.
fn expand(s: &str, vars: &BTreeMap<String, Option<String>>) -> Result<String, String> {
    let lookup = |name: &str| vars.get(name).and_then(|v| v.clone());
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['$', '\\']) {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if rest.as_bytes()[i] == b'\\' {
            // `\$` is a literal dollar; any other backslash stays.
            match after.strip_prefix('$') {
                Some(r) => {
                    out.push('$');
                    rest = r;
                }
                None => {
                    out.push('\\');
                    rest = after;
                }
            }
            continue;
        }
        if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated '${{' in '{s}'"))?;
            let inner = &body[..end];
            rest = &body[end + 1..];
            let (name, op) = match inner.find(':') {
                Some(j) => (&inner[..j], Some(&inner[j..])),
                None => (inner, None),
            };
            check_var_name(name, s)?;
            let value = match op {
                None => lookup(name).ok_or_else(|| undefined(name))?,
                Some(op) if op.starts_with(":-") => match lookup(name).filter(|v| !v.is_empty()) {
                    Some(v) => v,
                    None => expand(&op[2..], vars)?,
                },
                Some(op) if op.starts_with(":+") => match lookup(name).filter(|v| !v.is_empty()) {
                    Some(_) => expand(&op[2..], vars)?,
                    None => String::new(),
                },
                Some(op) => {
                    return Err(format!(
                        "unsupported substitution '${{{name}{op}}}' in '{s}'"
                    ))
                }
            };
            out.push_str(&value);
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
                rest = after;
                continue;
            }
            let name = &after[..len];
            check_var_name(name, s)?;
            out.push_str(&lookup(name).ok_or_else(|| undefined(name))?);
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn check_var_name(name: &str, s: &str) -> Result<(), String> {
    if is_arg_name(name) {
        Ok(())
    } else {
        Err(format!("bad variable name '{name}' in '{s}'"))
    }
}

fn undefined(name: &str) -> String {
    format!(
        "${name} has no value: declare ARG {name}=<default> before the first FROM, or pass it as a build arg"
    )
}

/// Split the text into instructions: parser directives, comments, blank
/// lines and heredoc bodies are dropped; continuation lines are joined.
fn instructions(text: &str) -> Result<Vec<Instruction>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut escape = '\\';
    let mut directives = true;
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if directives {
            if let Some((key, value)) = directive(trimmed) {
                if key == "escape" {
                    escape = match value {
                        "\\" => '\\',
                        "`" => '`',
                        other => {
                            return Err(at(i + 1, &format!("invalid escape directive '{other}'")))
                        }
                    };
                }
                i += 1;
                continue;
            }
            directives = false;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut joined = String::new();
        let mut cur = line;
        loop {
            let t = cur.trim_end();
            match t.strip_suffix(escape) {
                Some(head) => {
                    joined.push_str(head);
                    i += 1;
                    // Skip comment and blank lines inside a continuation.
                    while i < lines.len() {
                        let n = lines[i].trim_start();
                        if n.is_empty() || n.starts_with('#') {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    match lines.get(i) {
                        Some(next) => cur = next,
                        None => break,
                    }
                }
                None => {
                    joined.push_str(t);
                    i += 1;
                    break;
                }
            }
        }
        let trimmed = joined.trim();
        let (keyword, args) = match trimmed.find(char::is_whitespace) {
            Some(k) => (&trimmed[..k], trimmed[k..].trim()),
            None => (trimmed, ""),
        };
        // Heredoc bodies follow the instruction line; skip each to its end word.
        for (strip_tabs, word) in heredocs(args) {
            loop {
                let Some(body) = lines.get(i) else {
                    return Err(at(start, &format!("heredoc '{word}' is not terminated")));
                };
                i += 1;
                let body = if strip_tabs {
                    body.trim_start_matches('\t')
                } else {
                    body
                };
                if body == word {
                    break;
                }
            }
        }
        out.push(Instruction {
            line: start,
            keyword: keyword.to_ascii_uppercase(),
            args: args.to_string(),
        });
    }
    Ok(out)
}

/// `# key=value` at the top of the file.
fn directive(line: &str) -> Option<(String, &str)> {
    let body = line.strip_prefix('#')?.trim();
    let (key, value) = body.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.trim()))
}

/// Heredoc markers `<<WORD`, `<<-WORD`, `<<"WORD"`, `<<'WORD'` in order.
fn heredocs(args: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut rest = args;
    while let Some(i) = rest.find("<<") {
        let mut after = &rest[i + 2..];
        let strip_tabs = after.starts_with('-');
        if strip_tabs {
            after = &after[1..];
        }
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
        if let Some(q) = quote {
            after = &after[1..];
            let len = after.find(q).unwrap_or(0);
            if len > 0 {
                out.push((strip_tabs, after[..len].to_string()));
                rest = &after[len + 1..];
                continue;
            }
        } else {
            let first_ok = after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if first_ok {
                out.push((strip_tabs, after[..len].to_string()));
                rest = &after[len..];
                continue;
            }
        }
        rest = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(text: &str) -> Result<FinalBase, String> {
        final_base(text, &BTreeMap::new())
    }

    fn image(text: &str) -> String {
        base(text).unwrap().image
    }

    #[test]
    fn resolves_the_last_from() {
        let cases = [
            ("FROM ubuntu:22.04\n", "ubuntu:22.04"),
            ("FROM a\nFROM b\n", "b"),
            (
                "from --platform=linux/amd64 ubuntu:22.04 as final\n",
                "ubuntu:22.04",
            ),
            ("ARG B=ubuntu:22.04\nFROM ${B}\n", "ubuntu:22.04"),
            ("ARG B=ubuntu\nARG T=22.04\nFROM $B:$T\n", "ubuntu:22.04"),
            ("ARG R=ghcr.io\nARG B=${R}/x:1\nFROM ${B}\n", "ghcr.io/x:1"),
            ("ARG B\nFROM ${B:-debian:12}\n", "debian:12"),
            ("ARG B=x\nFROM img${B:+-suffix}\n", "img-suffix"),
            (
                "FROM ubuntu:22.04 AS builder\nRUN make\nFROM builder\n",
                "ubuntu:22.04",
            ),
            (
                "FROM ubuntu:22.04 AS Base\nFROM base AS mid\nFROM MID\n",
                "ubuntu:22.04",
            ),
            ("FROM a AS a\nFROM a\n", "a"),
            ("FROM b AS a\nFROM a AS b\nFROM b\n", "b"),
        ];
        for (text, want) in cases {
            assert_eq!(image(text), want, "{text:?}");
        }
    }

    #[test]
    fn build_args_override_declared_defaults() {
        let text = "ARG BASE_IMG_NAME=ubuntu:22.04\nFROM ${BASE_IMG_NAME}\n";
        let mut args = BTreeMap::new();
        args.insert(BASE_ARG.to_string(), "debian:12".to_string());
        let b = final_base(text, &args).unwrap();
        assert_eq!(b.image, "debian:12");
        assert!(b.uses_base_arg);
        // An undeclared build arg does not reach FROM.
        let b = final_base("FROM ubuntu\n", &args).unwrap();
        assert_eq!(b.image, "ubuntu");
        assert!(!b.uses_base_arg);
    }

    #[test]
    fn knows_whether_base_arg_is_used() {
        let uses = |t: &str| base(t).unwrap().uses_base_arg;
        assert!(uses("ARG BASE_IMG_NAME=u\nFROM $BASE_IMG_NAME\n"));
        assert!(uses(
            "ARG BASE_IMG_NAME=u\nFROM ${BASE_IMG_NAME} AS b\nFROM x AS y\nFROM b\n"
        ));
        assert!(!uses(
            "ARG BASE_IMG_NAME=u\nARG BASE_IMG_NAME_X=v\nFROM $BASE_IMG_NAME_X\n"
        ));
        assert!(!uses(
            "ARG BASE_IMG_NAME=u\nFROM ${BASE_IMG_NAME} AS b\nFROM other\n"
        ));
    }

    #[test]
    fn continuations_comments_directives_heredocs() {
        let text = "# syntax=docker/dockerfile:1\n# escape=`\nARG B=ubuntu:22.04\nFROM `\n  # a comment inside\n  ${B}\nRUN echo `\n  done\n";
        let b = base(text).unwrap();
        assert_eq!(b.image, "ubuntu:22.04");
        assert_eq!(b.line, 4);
        let text = "FROM ubuntu:22.04\nRUN <<EOF\nFROM evil:1\nEOF\nCOPY <<-\"A\" <<'B' /x\n\tFROM a:1\n\tA\nFROM b:1\nB\n";
        assert_eq!(image(text), "ubuntu:22.04");
        let text = "FROM \\\n\n  a:1\n";
        assert_eq!(image(text), "a:1");
        // `#` after a directive-free start is a comment, not a directive.
        let text = "FROM a\n# escape=`\nRUN x `\nFROM b\n";
        assert_eq!(image(text), "b");
    }

    #[test]
    fn refusals_name_the_line() {
        let cases = [
            ("", "no FROM"),
            ("# just a comment\n", "no FROM"),
            ("RUN x\nFROM a\n", "line 1: RUN before the first FROM"),
            ("FROM $NOPE\n", "line 1: $NOPE has no value"),
            ("ARG B\nFROM ${B}\n", "$B has no value"),
            ("FROM a\nARG B=x\nFROM ${B}\n", "line 3: $B has no value"),
            (
                "FROM scratch\n",
                "line 1: the final stage is built FROM scratch",
            ),
            (
                "FROM a AS s\nFROM scratch AS t\nFROM t\n",
                "line 2: the final stage is built FROM scratch",
            ),
            ("FROM\n", "FROM names no image"),
            ("FROM a AS\n", "not of the form"),
            ("FROM --foo=1 a\n", "unknown FROM flag '--foo=1'"),
            ("ARG B=1\nFROM ${B#x}\n", "bad variable name"),
            ("ARG B=1\nFROM ${B:?x}\n", "unsupported substitution"),
            (
                "FROM a\nRUN <<EOF\nnever closed\n",
                "heredoc 'EOF' is not terminated",
            ),
            ("# escape=x\nFROM a\n", "invalid escape directive"),
            ("ARG B=\"x\nFROM a\n", "unterminated quote"),
            ("ARG 1B=x\nFROM a\n", "ARG name '1B'"),
        ];
        for (text, want) in cases {
            let err = base(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn large_input_is_linear() {
        let mut text = String::from("FROM base AS s0\n");
        for i in 1..20_000 {
            text.push_str(&format!("FROM s{} AS s{i}\nRUN echo {i}\n", i - 1));
        }
        let b = base(&text).unwrap();
        assert_eq!(b.image, "base");
        assert_eq!(b.line, 1);
    }
}
