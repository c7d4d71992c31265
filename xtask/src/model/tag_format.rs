//! Tag formats: how a flavour's release tag is computed, and the rules that
//! keep every computed tag unique and recognisable.
//!
//! A format is literal text (`[a-z0-9._-]`) and the placeholders
//! `{version}`, `{framework}`, `{framework-version}`, `{distro}` (exactly one
//! each) and `{variant}` (once, exactly when the flavour has a variant). The
//! default is the documented convention,
//! `{version}-{framework}{framework-version}-{distro}`. A JupyterLab flavour's
//! tag starts with `jlab-` (put in front when its format does not start so);
//! no other flavour's may.
//!
//! With a flavour's values filled in, a format is a [`Pattern`]: a prefix,
//! the version, a suffix. Two patterns that can give the same tag for some
//! version are found from the patterns alone ([`collision`]), not only for
//! today's version; a tag is recognised by parsing it back ([`Pattern::parse`]).

use crate::model::version::Version;

/// The documented convention.
pub const DEFAULT: &str = "{version}-{framework}{framework-version}-{distro}";

/// What JupyterLab tags start with.
pub const JLAB: &str = "jlab-";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Version,
    Framework,
    FrameworkVersion,
    Distro,
    Variant,
}

impl Placeholder {
    const ALL: [(Placeholder, &'static str); 5] = [
        (Placeholder::Version, "version"),
        (Placeholder::Framework, "framework"),
        (Placeholder::FrameworkVersion, "framework-version"),
        (Placeholder::Distro, "distro"),
        (Placeholder::Variant, "variant"),
    ];

    fn name(self) -> &'static str {
        Placeholder::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("", |(_, n)| n)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Ph(Placeholder),
}

/// A parsed, checked tag format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFormat {
    text: String,
    pieces: Vec<Piece>,
}

/// A flavour's values for the placeholders other than `{version}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Values<'a> {
    pub framework: &'a str,
    pub framework_version: &'a str,
    pub distro: &'a str,
    pub variant: Option<&'a str>,
    pub jupyterlab: bool,
}

/// A tag with everything but the version filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub prefix: String,
    pub suffix: String,
}

fn is_literal_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

impl TagFormat {
    pub fn parse(text: &str) -> Result<TagFormat, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if c == '{' {
                let end = rest
                    .find('}')
                    .ok_or_else(|| format!("'{text}' has a '{{' without its '}}'"))?;
                let name = &rest[1..end];
                let ph = Placeholder::ALL
                    .iter()
                    .find(|(_, n)| *n == name)
                    .map(|(p, _)| *p)
                    .ok_or_else(|| {
                        format!(
                            "'{text}' has the unknown placeholder '{{{name}}}'; known: {{version}}, {{framework}}, {{framework-version}}, {{distro}}, {{variant}}"
                        )
                    })?;
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Ph(ph));
                rest = &rest[end + 1..];
            } else if is_literal_char(c) {
                lit.push(c);
                rest = &rest[c.len_utf8()..];
            } else {
                return Err(format!(
                    "'{text}' has {c:?}; literal text may only use lowercase letters, digits, '.', '_' and '-'"
                ));
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        let count = |p: Placeholder| pieces.iter().filter(|x| **x == Piece::Ph(p)).count();
        let wrong: Vec<String> = Placeholder::ALL
            .iter()
            .filter(|(p, _)| {
                let n = count(*p);
                if *p == Placeholder::Variant {
                    n > 1
                } else {
                    n != 1
                }
            })
            .map(|(p, n)| format!("{{{n}}} {} times", count(*p)))
            .collect();
        if !wrong.is_empty() {
            return Err(format!(
                "'{text}' must hold exactly one each of {{version}}, {{framework}}, {{framework-version}} and {{distro}} (and {{variant}} at most once); it has {}",
                wrong.join(", ")
            ));
        }
        if text.ends_with("-latest") {
            return Err(format!(
                "'{text}' ends in -latest; only the catalog's declared aliases may (they are mirrored to CVMFS)"
            ));
        }
        Ok(TagFormat {
            text: text.to_string(),
            pieces,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn uses_variant(&self) -> bool {
        self.pieces.contains(&Piece::Ph(Placeholder::Variant))
    }

    /// The pattern of a flavour with these values (`jlab-` put in front for
    /// a JupyterLab flavour whose format does not start with it).
    pub fn pattern(&self, v: &Values) -> Pattern {
        let mut prefix = String::new();
        let mut suffix = String::new();
        let mut after = false;
        for piece in &self.pieces {
            let text = match piece {
                Piece::Lit(s) => s.as_str(),
                Piece::Ph(Placeholder::Version) => {
                    after = true;
                    continue;
                }
                Piece::Ph(Placeholder::Framework) => v.framework,
                Piece::Ph(Placeholder::FrameworkVersion) => v.framework_version,
                Piece::Ph(Placeholder::Distro) => v.distro,
                Piece::Ph(Placeholder::Variant) => v.variant.unwrap_or(""),
            };
            if after {
                suffix.push_str(text);
            } else {
                prefix.push_str(text);
            }
        }
        if v.jupyterlab && !self.text.starts_with(JLAB) {
            prefix.insert_str(0, JLAB);
        }
        Pattern { prefix, suffix }
    }

    /// What is wrong with this format for a flavour with these values.
    pub fn check_for(&self, v: &Values) -> Result<(), String> {
        match (self.uses_variant(), v.variant) {
            (true, None) => {
                return Err(format!(
                    "'{}' uses {{{}}} but the flavour has no 'variant'",
                    self.text,
                    Placeholder::Variant.name()
                ))
            }
            (false, Some(var)) => {
                return Err(format!(
                    "the flavour's variant '{var}' does not appear in its tag format '{}'; add {{variant}} to it",
                    self.text
                ))
            }
            _ => {}
        }
        let p = self.pattern(v);
        if !v.jupyterlab && p.prefix.starts_with(JLAB) {
            return Err(format!(
                "'{}' makes tags starting with '{JLAB}', which only JupyterLab flavours (jupyterlab = true) may",
                self.text
            ));
        }
        if p.suffix.ends_with("-latest") {
            return Err(format!(
                "'{}' makes tags ending in -latest, which only the declared aliases may",
                self.text
            ));
        }
        Ok(())
    }
}

/// A normalized, taggable version string (`X.Y.Z` and PEP 440 suffixes).
fn as_version(s: &str) -> Option<Version> {
    let v = Version::parse_tag_version(s).ok()?;
    (v.to_string() == s).then_some(v)
}

impl Pattern {
    pub fn render(&self, version: &str) -> String {
        format!("{}{version}{}", self.prefix, self.suffix)
    }

    /// The version of a tag this pattern made; `None` when it did not.
    pub fn parse(&self, tag: &str) -> Option<Version> {
        let middle = tag.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)?;
        as_version(middle)
    }
}

/// A version for which `a` and `b` give the same tag, if there is one.
///
/// `a = x·v·y` and `b = x'·v·y'` with `|x| <= |x'|`: a common tag needs
/// `x' = x·u`, and then `v·y = u·v·y'`, so `v` is a prefix of `u` repeated.
/// Every candidate is such a prefix; a version holds no character outside
/// `[0-9a-z.]` and at most four dots, which bounds their length by `6|u|`.
pub fn collision(a: &Pattern, b: &Pattern) -> Option<String> {
    let (a, b) = if a.prefix.len() <= b.prefix.len() {
        (a, b)
    } else {
        (b, a)
    };
    if a.prefix.len() + a.suffix.len() != b.prefix.len() + b.suffix.len() {
        return None;
    }
    let u = b.prefix.strip_prefix(&a.prefix)?;
    if u.is_empty() {
        return (a.suffix == b.suffix).then(|| "every version".to_string());
    }
    let max = 6 * u.len() + 1;
    let repeated: String = u.chars().cycle().take(max).collect();
    (1..=max)
        .filter_map(|n| repeated.get(..n))
        .filter(|v| as_version(v).is_some())
        .find(|v| a.render(v) == b.render(v))
        .map(str::to_string)
}

/// Normalized, taggable versions as a DFA (`X.Y.Z`, `aN`/`bN`/`rcN`,
/// `.postN`, `.devN`; numbers without leading zeros), for the search of
/// [`cross_collision`]. States: 0–8 the release, 9–12 the pre-release,
/// 13–19 `.post`, 20–25 `.dev`.
fn dfa_step(state: u8, c: char) -> Option<u8> {
    let digit = c.is_ascii_digit();
    let number = |zero: u8, more: u8| match c {
        '0' => Some(zero),
        '1'..='9' => Some(more),
        _ => None,
    };
    match state {
        0 => number(1, 2),
        3 => number(4, 5),
        6 => number(7, 8),
        9 => number(11, 12),
        17 => number(18, 19),
        23 => number(24, 25),
        2 | 5 | 8 | 12 | 19 | 25 if digit => Some(state),
        1 | 2 if c == '.' => Some(3),
        4 | 5 if c == '.' => Some(6),
        7 | 8 => match c {
            'a' | 'b' => Some(9),
            'r' => Some(10),
            '.' => Some(13),
            _ => None,
        },
        10 if c == 'c' => Some(9),
        11 | 12 if c == '.' => Some(13),
        13 => match c {
            'p' => Some(14),
            'd' => Some(21),
            _ => None,
        },
        14 if c == 'o' => Some(15),
        15 if c == 's' => Some(16),
        16 if c == 't' => Some(17),
        18 | 19 if c == '.' => Some(20),
        20 if c == 'd' => Some(21),
        21 if c == 'e' => Some(22),
        22 if c == 'v' => Some(23),
        _ => None,
    }
}

fn dfa_accepts(state: u8) -> bool {
    matches!(state, 7 | 8 | 11 | 12 | 18 | 19 | 24 | 25)
}

fn dfa_run(state: u8, text: &str) -> Option<u8> {
    text.chars().try_fold(state, dfa_step)
}

/// The characters a version is made of; `1` stands for every non-zero digit.
const VERSION_CHARS: &str = "01.abrcpostdev";

/// The shortest `x` (if any) for which machine 1, started in `p1`, and
/// machine 2, started in `p2`, both accept: machine 1 at the end of `x`,
/// machine 2 after `x` and then `tail`.
fn search(p1: u8, p2: u8, tail: &str) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut queue = std::collections::VecDeque::from([(p1, p2, String::new())]);
    let chars: Vec<char> = VERSION_CHARS
        .chars()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    while let Some((a, b, x)) = queue.pop_front() {
        if !seen.insert((a, b)) {
            continue;
        }
        if dfa_accepts(a) && dfa_run(b, tail).is_some_and(dfa_accepts) {
            return Some(x);
        }
        for &c in &chars {
            if let (Some(a2), Some(b2)) = (dfa_step(a, c), dfa_step(b, c)) {
                queue.push_back((a2, b2, format!("{x}{c}")));
            }
        }
    }
    None
}

/// Two versions `(v, w)` for which `a` at `v` and `b` at `w` give the same
/// tag, if any: then a tag could not be told apart by parsing it back.
/// With `a.prefix` the shorter prefix, `b.prefix = a.prefix·u`, the tag is
/// `v·a.suffix = u·w·b.suffix`; comparing the suffixes leaves a word
/// problem over versions that a search over pairs of states of the version
/// automaton decides (26 × 26 pairs at most).
pub fn cross_collision(a: &Pattern, b: &Pattern) -> Option<(String, String)> {
    if a.prefix.len() > b.prefix.len() {
        return cross_collision(b, a).map(|(v, w)| (w, v));
    }
    let u = b.prefix.strip_prefix(&a.prefix)?;
    let start = 0;
    let found = if let Some(s) = a.suffix.strip_suffix(&b.suffix) {
        // v·s = u·w: either v = u·t and w = t·s ...
        let after_u = dfa_run(start, u);
        let long = after_u
            .and_then(|p| search(p, start, s))
            .map(|t| (format!("{u}{t}"), format!("{t}{s}")));
        // ... or v is shorter than u: u = v·r and s = r·w.
        long.or_else(|| {
            (0..u.len())
                .filter(|k| u.is_char_boundary(*k))
                .find_map(|k| {
                    let (v, r) = u.split_at(k);
                    let w = s.strip_prefix(r)?;
                    (dfa_run(start, v).is_some_and(dfa_accepts)
                        && dfa_run(start, w).is_some_and(dfa_accepts))
                    .then(|| (v.to_string(), w.to_string()))
                })
        })
    } else if let Some(s) = b.suffix.strip_suffix(&a.suffix) {
        // v = u·w·s.
        let after_u = dfa_run(start, u)?;
        search(start, after_u, s).map(|w| (format!("{u}{w}{s}"), w))
    } else {
        None
    };
    found.filter(|(v, w)| a.render(v) == b.render(w))
}

/// The commit digits and the `-dirty` mark of a development tag of the
/// default form, `<release tag>-<hash_len lowercase hex digits>[-dirty]`;
/// `None` for any other tag.
pub fn default_dev_commit<'t>(
    tag: &'t str,
    release_tag: &str,
    hash_len: usize,
) -> Option<(&'t str, bool)> {
    split_default_dev(tag, hash_len..=hash_len)
        .filter(|(release, _, _)| *release == release_tag)
        .map(|(_, hex, dirty)| (hex, dirty))
}

/// A tag of the default development form split into what comes before
/// `-<lowercase hex digits, as many as one of hash_lens>[-dirty]`, those
/// digits and the mark; `None` for a tag without that ending.
pub fn split_default_dev(
    tag: &str,
    hash_lens: std::ops::RangeInclusive<usize>,
) -> Option<(&str, &str, bool)> {
    let (rest, dirty) = tag
        .strip_suffix("-dirty")
        .map_or((tag, false), |r| (r, true));
    let (release, hex) = rest.rsplit_once('-')?;
    let digits = hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (hash_lens.contains(&hex.len()) && digits).then_some((release, hex, dirty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_development_tag_names_its_commit() {
        let r = "0.2.2-torch2.6-jammy";
        let cases = [
            (
                "0.2.2-torch2.6-jammy-0123456789ab",
                Some(("0123456789ab", false)),
            ),
            (
                "0.2.2-torch2.6-jammy-0123456789ab-dirty",
                Some(("0123456789ab", true)),
            ),
            ("0.2.2-torch2.6-jammy-0123456789AB", None),
            ("0.2.2-torch2.6-jammy-0123456789a", None),
            ("0.2.2-torch2.6-jammy-0123456789abc", None),
            ("0.2.2-torch2.6-jammy-0123456789ab-DIRTY", None),
            ("0.2.2-torch2.6-jammy0123456789ab", None),
            ("jlab-0.2.2-torch2.6-jammy-0123456789ab", None),
            ("0.2.2-torch2.6-jammy", None),
        ];
        for (tag, want) in cases {
            assert_eq!(default_dev_commit(tag, r, 12), want, "{tag}");
        }
    }

    fn values<'a>(variant: Option<&'a str>, jupyterlab: bool) -> Values<'a> {
        Values {
            framework: "torch",
            framework_version: "2.6",
            distro: "noble",
            variant,
            jupyterlab,
        }
    }

    fn pattern(format: &str, variant: Option<&str>, jupyterlab: bool) -> Pattern {
        TagFormat::parse(format)
            .unwrap()
            .pattern(&values(variant, jupyterlab))
    }

    /// The upstream set: plain, skinny, slim, jlab, jlab-slim.
    fn upstream_set() -> [Pattern; 5] {
        let variant_second = "{version}-{variant}-{framework}{framework-version}-{distro}";
        [
            pattern(DEFAULT, None, false),
            pattern(variant_second, Some("skinny"), false),
            pattern(variant_second, Some("slim"), false),
            pattern(DEFAULT, None, true),
            pattern(
                "jlab-{variant}-{version}-{framework}{framework-version}-{distro}",
                Some("slim"),
                true,
            ),
        ]
    }

    #[test]
    fn the_upstream_images() {
        let skinny = "{version}-{variant}-{framework}{framework-version}-{distro}";
        let jlab = "jlab-{variant}-{version}-{framework}{framework-version}-{distro}";
        let cases = [
            (DEFAULT, None, false, "0.4.2-torch2.6-noble"),
            (DEFAULT, None, true, "jlab-0.4.2-torch2.6-noble"),
            (skinny, Some("skinny"), false, "0.4.2-skinny-torch2.6-noble"),
            (skinny, Some("slim"), false, "0.4.2-slim-torch2.6-noble"),
            (jlab, Some("slim"), true, "jlab-slim-0.4.2-torch2.6-noble"),
        ];
        for (format, variant, jl, want) in cases {
            let p = pattern(format, variant, jl);
            assert_eq!(p.render("0.4.2"), want);
            assert_eq!(p.parse(want), Version::parse("0.4.2").ok(), "{want}");
            assert_eq!(
                p.parse(&want.replace("0.4.2", "0.4.2rc1")),
                Version::parse("0.4.2rc1").ok()
            );
            assert_eq!(
                p.parse(&want.replace("0.4.2", "0.4.2-rc1")),
                None,
                "not normalized"
            );
            assert_eq!(p.parse(&want.replace("0.4.2", "0.4")), None);
        }
        let p = pattern(skinny, Some("skinny"), false);
        assert_eq!(
            p.parse("0.4.3rc1.post2.dev3-skinny-torch2.6-noble")
                .map(|v| v.to_string()),
            Some("0.4.3rc1.post2.dev3".into())
        );
    }

    #[test]
    fn formats_that_are_refused() {
        let cases = [
            (
                "{version}-{framework}-{distro}",
                "{framework-version} 0 times",
            ),
            (
                "{version}-{version}-{framework}{framework-version}-{distro}",
                "{version} 2 times",
            ),
            (
                "{version}-{variant}{variant}-{framework}{framework-version}-{distro}",
                "{variant} 2 times",
            ),
            (
                "{version}-{os}-{framework}{framework-version}-{distro}",
                "unknown placeholder '{os}'",
            ),
            (
                "{version}-{framework}{framework-version}-{distro",
                "without its",
            ),
            (
                "{version}-{framework}{framework-version}-{distro}-X",
                "has 'X'",
            ),
            (
                "{version} {framework}{framework-version}-{distro}",
                "has ' '",
            ),
            (
                "{version}-{framework}{framework-version}-{distro}-latest",
                "ends in -latest",
            ),
        ];
        for (format, want) in cases {
            let err = TagFormat::parse(format).unwrap_err();
            assert!(err.contains(want), "{format}: {err}");
        }
        let with_variant =
            TagFormat::parse("{version}-{variant}-{framework}{framework-version}-{distro}")
                .unwrap();
        assert!(with_variant
            .check_for(&values(None, false))
            .unwrap_err()
            .contains("no 'variant'"));
        assert!(TagFormat::parse(DEFAULT)
            .unwrap()
            .check_for(&values(Some("slim"), false))
            .unwrap_err()
            .contains("does not appear"));
        let jlab =
            TagFormat::parse("jlab-{version}-{framework}{framework-version}-{distro}").unwrap();
        assert!(jlab
            .check_for(&values(None, false))
            .unwrap_err()
            .contains("only JupyterLab"));
        assert!(jlab.check_for(&values(None, true)).is_ok());
        let mut latest = values(None, false);
        latest.distro = "latest";
        assert!(TagFormat::parse(DEFAULT)
            .unwrap()
            .check_for(&latest)
            .unwrap_err()
            .contains("-latest"));
    }

    #[test]
    fn collisions_across_versions() {
        let plain = pattern(DEFAULT, None, false);
        // `{version}.{variant}` with variant dev0 at 0.2.2 is the plain
        // flavour's tag at 0.2.2.dev0.
        let dev0 = pattern(
            "{version}.{variant}-{framework}{framework-version}-{distro}",
            Some("dev0"),
            false,
        );
        let (v, w) = cross_collision(&plain, &dev0).unwrap();
        assert_eq!(plain.render(&v), dev0.render(&w));
        assert!(
            as_version(&v).is_some() && as_version(&w).is_some(),
            "{v} {w}"
        );
        let (w2, v2) = cross_collision(&dev0, &plain).unwrap();
        assert_eq!(plain.render(&v2), dev0.render(&w2));
        // The upstream set never meets, at any versions.
        let all = upstream_set();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_eq!(cross_collision(a, b), None, "{a:?} {b:?}");
            }
        }
        // A variant that is a pre-release marker: 1.0.0 + "rc1" vs 1.0.0rc1.
        let rc = pattern(
            "{version}{variant}-{framework}{framework-version}-{distro}",
            Some("rc1"),
            false,
        );
        let (v, w) = cross_collision(&plain, &rc).unwrap();
        assert_eq!(plain.render(&v), rc.render(&w));
        // Identical patterns meet at equal versions.
        let (v, w) = cross_collision(&plain, &plain).unwrap();
        assert_eq!(v, w);
    }

    #[test]
    fn collisions_are_decided_from_the_formats() {
        let all = upstream_set();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_eq!(collision(a, b), None, "{a:?} {b:?}");
                assert_eq!(collision(b, a), None);
            }
        }
        let plain = &all[0];
        assert_eq!(collision(plain, plain).as_deref(), Some("every version"));
        // "1.0." + v + "-x" and v + ".1.0.-x"... a contrived pair that meets
        // only for the version 1.0.1 (prefix "" vs "1.0.", suffix shifted).
        let a = Pattern {
            prefix: String::new(),
            suffix: "-torch2.6-noble".into(),
        };
        let b = Pattern {
            prefix: "1.0.1-".into(),
            suffix: String::new(),
        };
        assert_eq!(collision(&a, &b), None);
        let a = Pattern {
            prefix: "x".into(),
            suffix: "1.0.1-t".into(),
        };
        let b = Pattern {
            prefix: "x1.0.1".into(),
            suffix: "-t".into(),
        };
        // x·v·1.0.1-t == x1.0.1·v·-t: v = 1.0.1 gives x1.0.11.0.1-t both ways.
        assert_eq!(collision(&a, &b).as_deref(), Some("1.0.1"));
        assert_eq!(a.render("1.0.1"), b.render("1.0.1"));
    }
}
