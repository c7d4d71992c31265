//! PEP 440 versions, as far as image tags and releases need them.
//!
//! Accepted syntax is PEP 440's normalized form:
//! `[N!]N(.N)*[(a|b|rc)N][.postN][.devN][+local]`. A spelling that PEP 440
//! would normalize (`1.0-RC1`, `v1.0`) is refused with the normalized form to
//! write instead, so the version in pyproject.toml and in the tag are the same
//! string.

use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PreKind {
    Alpha,
    Beta,
    Rc,
}

impl PreKind {
    fn as_str(self) -> &'static str {
        match self {
            PreKind::Alpha => "a",
            PreKind::Beta => "b",
            PreKind::Rc => "rc",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub epoch: Option<u64>,
    pub release: Vec<u64>,
    pub pre: Option<(PreKind, u64)>,
    pub post: Option<u64>,
    pub dev: Option<u64>,
    pub local: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bump {
    Major,
    Minor,
    Patch,
}

impl Version {
    /// Parse a PEP 440 version written in normalized form. A version that
    /// PEP 440 accepts in another spelling (`0.3.4-rc2`, `v1.0`, `1.0.0-1`) is
    /// refused with its normalized form and the command that writes it.
    pub fn parse(s: &str) -> Result<Version, String> {
        Version::parse_normalized(s).map_err(|e| match normalize(s) {
            Some(n) if n != s && Version::parse_normalized(&n).is_ok() => format!(
                "'{s}' is a PEP 440 version but not in normalized form; write it as '{n}' (cargo xtask version set {n})"
            ),
            _ => e,
        })
    }

    fn parse_normalized(s: &str) -> Result<Version, String> {
        if let Some(run) = s
            .split(|c: char| !c.is_ascii_digit())
            .find(|run| run.len() > 18)
        {
            return Err(format!(
                "'{s}' is not a usable version: the number {run} is too large (at most 18 digits)"
            ));
        }
        let mut p = Cursor { s, i: 0 };
        let first = p
            .number()
            .ok_or_else(|| not_pep440(s, "it does not start with a number"))?;
        let (epoch, first) = if p.eat("!") {
            let n = p
                .number()
                .ok_or_else(|| not_pep440(s, "no release number after the epoch"))?;
            (Some(first), n)
        } else {
            (None, first)
        };
        let mut release = vec![first];
        while p.peek_dot_digit() {
            p.eat(".");
            release.push(
                p.number()
                    .ok_or_else(|| not_pep440(s, "bad release number"))?,
            );
        }
        let mut pre = None;
        for (tok, kind) in [
            ("rc", PreKind::Rc),
            ("a", PreKind::Alpha),
            ("b", PreKind::Beta),
        ] {
            if p.eat(tok) {
                let n = p
                    .number()
                    .ok_or_else(|| not_pep440(s, "a pre-release needs a number, as in 1.0.0rc1"))?;
                pre = Some((kind, n));
                break;
            }
        }
        let post = if p.eat(".post") {
            Some(
                p.number()
                    .ok_or_else(|| not_pep440(s, "'.post' needs a number"))?,
            )
        } else {
            None
        };
        let dev = if p.eat(".dev") {
            Some(
                p.number()
                    .ok_or_else(|| not_pep440(s, "'.dev' needs a number"))?,
            )
        } else {
            None
        };
        let local = if p.eat("+") {
            let l = p.rest().to_string();
            let ok = !l.is_empty()
                && l.split('.').all(|seg| {
                    !seg.is_empty()
                        && seg
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                });
            if !ok {
                return Err(not_pep440(s, "bad local version label"));
            }
            p.i = s.len();
            Some(l)
        } else {
            None
        };
        if p.i != s.len() {
            return Err(not_pep440(
                s,
                &format!("unexpected '{}' (write it in PEP 440 normalized form, e.g. 1.2.3, 1.2.3rc1, 1.2.3.post1, 1.2.3.dev1)", p.rest()),
            ));
        }
        Ok(Version {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    /// Parse a version that can be the `X.Y.Z` part of an image tag:
    /// no epoch, no local label, exactly three release numbers.
    pub fn parse_tag_version(s: &str) -> Result<Version, String> {
        let v = Version::parse(s)?;
        v.check_taggable()?;
        Ok(v)
    }

    /// Why this version cannot be the `X.Y.Z` part of an image tag, if it cannot.
    pub fn check_taggable(&self) -> Result<(), String> {
        if let Some(local) = &self.local {
            return Err(format!(
                "version '{self}' has the local label '+{local}', which cannot appear in an image tag; release without it"
            ));
        }
        if let Some(e) = self.epoch {
            return Err(format!(
                "version '{self}' has the epoch '{e}!', which cannot appear in an image tag"
            ));
        }
        if self.release.len() != 3 {
            return Err(format!(
                "version '{self}' is not X.Y.Z; the tag convention needs exactly three release numbers"
            ));
        }
        Ok(())
    }

    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    /// The next release. On a pre-release (a/b/rc/dev) of X.Y.Z, the part
    /// that X.Y.Z already bumped is finished rather than bumped again:
    /// `patch` of 1.2.3rc1 is 1.2.3; `minor` of 1.3.0rc1 is 1.3.0 but of
    /// 1.2.3rc1 is 1.3.0; `major` of 2.0.0b1 is 2.0.0. On a release (or
    /// post-release) the part is incremented and the lower ones reset.
    pub fn bump(&self, part: Bump) -> Result<Version, String> {
        self.check_taggable()?;
        let (x, y, z) = (self.release[0], self.release[1], self.release[2]);
        // Below X.Y.Z (a pre-release, or a dev release of X.Y.Z itself):
        // bumping may finish X.Y.Z. X.Y.Z.postN.devM is above X.Y.Z.
        let pre = self.pre.is_some() || (self.dev.is_some() && self.post.is_none());
        let next = |n: u64| {
            n.checked_add(1)
                .filter(|n| *n <= 999_999_999_999_999_999)
                .ok_or_else(|| format!("version '{self}': {n} + 1 has more than 18 digits"))
        };
        let release = match part {
            Bump::Patch if pre => vec![x, y, z],
            Bump::Patch => vec![x, y, next(z)?],
            Bump::Minor if pre && z == 0 => vec![x, y, 0],
            Bump::Minor => vec![x, next(y)?, 0],
            Bump::Major if pre && y == 0 && z == 0 => vec![x, 0, 0],
            Bump::Major => vec![next(x)?, 0, 0],
        };
        Ok(Version {
            epoch: None,
            release,
            pre: None,
            post: None,
            dev: None,
            local: None,
        })
    }

    fn sort_key(&self) -> (u64, Vec<u64>, (u8, u8, u64), i128, i128) {
        let mut release = self.release.clone();
        while release.len() > 1 && release.last() == Some(&0) {
            release.pop();
        }
        // X.devN sorts before XaN; a plain release after every pre-release.
        let pre = match (self.pre, self.post, self.dev) {
            (Some((k, n)), _, _) => (1, k as u8, n),
            (None, None, Some(_)) => (0, 0, 0),
            (None, _, _) => (2, 0, 0),
        };
        let post = self.post.map_or(-1, i128::from);
        let dev = self.dev.map_or(i128::MAX, i128::from);
        (self.epoch.unwrap_or(0), release, pre, post, dev)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key()
            .cmp(&other.sort_key())
            .then_with(|| self.local.cmp(&other.local))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = self.epoch {
            write!(f, "{e}!")?;
        }
        let release: Vec<String> = self.release.iter().map(u64::to_string).collect();
        f.write_str(&release.join("."))?;
        if let Some((k, n)) = self.pre {
            write!(f, "{}{n}", k.as_str())?;
        }
        if let Some(n) = self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = self.dev {
            write!(f, ".dev{n}")?;
        }
        if let Some(l) = &self.local {
            write!(f, "+{l}")?;
        }
        Ok(())
    }
}

/// The PEP 440 normalized form of a version written in one of the
/// spellings PEP 440 also accepts: any case, a leading `v`, `-`, `_` or `.`
/// around pre-release, post-release and dev parts, the long names (`alpha`,
/// `beta`, `c`, `pre`, `preview`, `rev`, `r`), implicit numbers (`1.0rc`),
/// implicit post-releases (`1.0-1`), leading zeros. `None` when it is not
/// PEP 440 at all.
pub fn normalize(s: &str) -> Option<String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_prefix('v').unwrap_or(&t);
    let b = t.as_bytes();
    let mut i = 0;
    // Leading zeros are a spelling (`01` is `1`): only the digits after
    // them count against the 18 a number may have.
    let num = |i: &mut usize| -> Option<u64> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        let digits = t[start..*i].trim_start_matches('0');
        if *i == start || digits.len() > 18 {
            return None;
        }
        if digits.is_empty() {
            Some(0)
        } else {
            digits.parse().ok()
        }
    };
    // A number left out is 0 (`1.0rc` is `1.0rc0`); one written must be
    // read whole, never dropped for that 0.
    let implicit = |i: &mut usize| -> Option<u64> {
        if b.get(*i).is_some_and(u8::is_ascii_digit) {
            num(i)
        } else {
            Some(0)
        }
    };
    let sep = |i: &mut usize| {
        if *i < b.len() && matches!(b[*i], b'-' | b'_' | b'.') {
            *i += 1;
        }
    };
    let word = |i: &mut usize, words: &[&str]| -> Option<usize> {
        let (k, w) = words
            .iter()
            .enumerate()
            .filter(|(_, w)| t[*i..].starts_with(**w))
            .max_by_key(|(_, w)| w.len())?;
        *i += w.len();
        Some(k)
    };
    let mut out = String::new();
    let first = num(&mut i)?;
    if t[i..].starts_with('!') {
        i += 1;
        out.push_str(&format!("{first}!{}", num(&mut i)?));
    } else {
        out.push_str(&first.to_string());
    }
    while t[i..].starts_with('.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        out.push_str(&format!(".{}", num(&mut i)?));
    }
    // Pre-release.
    let save = i;
    sep(&mut i);
    const PRE: [&str; 7] = ["a", "alpha", "b", "beta", "c", "rc", "pre"];
    match word(
        &mut i,
        &["a", "alpha", "b", "beta", "c", "rc", "pre", "preview"],
    ) {
        Some(k) => {
            let kind = match PRE.get(k).copied().unwrap_or("pre") {
                "a" | "alpha" => "a",
                "b" | "beta" => "b",
                _ => "rc",
            };
            sep(&mut i);
            let n = implicit(&mut i)?;
            out.push_str(&format!("{kind}{n}"));
        }
        None => i = save,
    }
    // Post-release: `-N`, or [sep](post|rev|r)[sep][N].
    let save = i;
    if t[i..].starts_with('-') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        out.push_str(&format!(".post{}", num(&mut i)?));
    } else {
        sep(&mut i);
        if word(&mut i, &["post", "rev", "r"]).is_some() {
            sep(&mut i);
            out.push_str(&format!(".post{}", implicit(&mut i)?));
        } else {
            i = save;
        }
    }
    // Dev release.
    let save = i;
    sep(&mut i);
    if t[i..].starts_with("dev") {
        i += 3;
        sep(&mut i);
        out.push_str(&format!(".dev{}", implicit(&mut i)?));
    } else {
        i = save;
    }
    if let Some(local) = t[i..].strip_prefix('+') {
        let local = local.replace(['-', '_'], ".");
        out.push('+');
        out.push_str(&local);
        i = t.len();
    }
    (i == t.len()).then_some(out)
}

fn not_pep440(s: &str, why: &str) -> String {
    format!("'{s}' is not a PEP 440 version: {why}")
}

struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }

    fn eat(&mut self, tok: &str) -> bool {
        if self.rest().starts_with(tok) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }

    fn peek_dot_digit(&self) -> bool {
        let r = self.rest().as_bytes();
        r.len() >= 2 && r[0] == b'.' && r[1].is_ascii_digit()
    }

    /// A decimal number without superfluous leading zeros.
    fn number(&mut self) -> Option<u64> {
        let digits = self.rest().bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 18 {
            return None;
        }
        let text = &self.s[self.i..self.i + digits];
        if text.len() > 1 && text.starts_with('0') {
            return None;
        }
        self.i += digits;
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bumps_never_go_backwards() {
        for (from, part, want) in [
            ("1.2.3.post1.dev1", Bump::Patch, "1.2.4"),
            ("2.0.0.post1.dev0", Bump::Major, "3.0.0"),
            ("1.2.3.dev1", Bump::Patch, "1.2.3"),
            ("1.2.3rc1.post1", Bump::Patch, "1.2.3"),
        ] {
            let v = Version::parse(from).unwrap();
            let got = v.bump(part).unwrap();
            assert_eq!(got.to_string(), want, "{from}");
            assert!(got > v, "{from} -> {got}");
        }
        let big = Version::parse("1.2.999999999999999999").unwrap();
        assert!(big
            .bump(Bump::Patch)
            .unwrap_err()
            .contains("more than 18 digits"));
    }

    #[test]
    fn other_spellings_name_their_normalized_form() {
        let cases = [
            ("0.3.4-rc2", Some("0.3.4rc2")),
            ("0.3.4.RC2", Some("0.3.4rc2")),
            ("v1.0.0", Some("1.0.0")),
            ("1.0.0-alpha.1", Some("1.0.0a1")),
            ("1.0.0beta", Some("1.0.0b0")),
            ("1.0.0-preview3", Some("1.0.0rc3")),
            ("1.0.0c1", Some("1.0.0rc1")),
            ("1.0.0-1", Some("1.0.0.post1")),
            ("1.0.0-post2", Some("1.0.0.post2")),
            ("1.0.0rev3", Some("1.0.0.post3")),
            ("1.0.0-dev4", Some("1.0.0.dev4")),
            ("1.0.0_dev", Some("1.0.0.dev0")),
            ("01.002.0", Some("1.2.0")),
            ("1.0.0+Ubuntu-1", Some("1.0.0+ubuntu.1")),
            ("1.0.0rc1", Some("1.0.0rc1")),
            ("one", None),
            ("1.0.0-", None),
            ("1.0.0 rc1", None),
            // A number too long to read is never dropped for an implicit 0.
            ("0.2.2.post99999999999999999999", None),
            // Leading zeros are a spelling, however many.
            ("0.2.2rc0000000000000000000001", Some("0.2.2rc1")),
            ("0.2.2.dev0000000000000000000001", Some("0.2.2.dev1")),
            ("0.2.2rc-0000000000000000000001", Some("0.2.2rc1")),
            ("0.2.2.post0000000000000000000000", Some("0.2.2.post0")),
            ("0.2.2rc1000000000000000000000", None),
            (
                "0.2.2.RC999999999999999999",
                Some("0.2.2rc999999999999999999"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input).as_deref(), want, "{input}");
        }
        let err = Version::parse("0.3.4-rc2").unwrap_err();
        assert_eq!(
            err,
            "'0.3.4-rc2' is a PEP 440 version but not in normalized form; write it as '0.3.4rc2' (cargo xtask version set 0.3.4rc2)"
        );
        assert!(Version::parse("one")
            .unwrap_err()
            .contains("is not a PEP 440 version"));
    }

    #[test]
    fn parse_and_display_round_trip() {
        for s in [
            "0.2.2",
            "1.0",
            "1!2.0.0",
            "1.0.0a1",
            "1.0.0b2",
            "1.0.0rc1",
            "1.0.0.post3",
            "1.0.0.dev4",
            "1.0.0rc1.post1.dev2",
            "1.0.0+abc.5",
        ] {
            assert_eq!(Version::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn refuses_what_is_not_normalized_pep440() {
        for s in [
            "",
            "v1.0",
            "1.0-rc1",
            "1.0.0RC1",
            "1.0.0.rc1",
            "01.0",
            "1..0",
            "1.0.",
            "1.0.0a",
            "1.0.0+",
            "1.0.0+ABC",
            "x.y.z",
            "1.0 ",
            "-1.0",
        ] {
            assert!(Version::parse(s).is_err(), "{s:?} should be refused");
        }
    }

    #[test]
    fn taggable_versions() {
        assert!(Version::parse_tag_version("0.2.2").is_ok());
        assert!(Version::parse_tag_version("0.3.0rc1").is_ok());
        let err = Version::parse_tag_version("1.0.0+abc").unwrap_err();
        assert!(err.contains("local label '+abc'"), "{err}");
        assert!(Version::parse_tag_version("1!1.0.0")
            .unwrap_err()
            .contains("epoch"));
        assert!(Version::parse_tag_version("1.0")
            .unwrap_err()
            .contains("X.Y.Z"));
    }

    #[test]
    fn ordering_follows_pep440() {
        let ordered = [
            "1.0.0.dev1",
            "1.0.0a1.dev1",
            "1.0.0a1",
            "1.0.0b1",
            "1.0.0rc1",
            "1.0.0",
            "1.0.0.post1.dev1",
            "1.0.0.post1",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ];
        for pair in ordered.windows(2) {
            let (a, b) = (
                Version::parse(pair[0]).unwrap(),
                Version::parse(pair[1]).unwrap(),
            );
            assert!(a < b, "{a} < {b}");
        }
        assert_eq!(
            Version::parse("1.0")
                .unwrap()
                .cmp(&Version::parse("1.0.0").unwrap()),
            Ordering::Equal
        );
    }

    #[test]
    fn prereleases() {
        for (s, pre) in [
            ("1.0.0", false),
            ("1.0.0.post1", false),
            ("1.0.0a1", true),
            ("1.0.0rc2", true),
            ("1.0.0.dev0", true),
        ] {
            assert_eq!(Version::parse(s).unwrap().is_prerelease(), pre, "{s}");
        }
    }

    #[test]
    fn bump_rules() {
        let cases = [
            ("1.2.3", Bump::Patch, "1.2.4"),
            ("1.2.3", Bump::Minor, "1.3.0"),
            ("1.2.3", Bump::Major, "2.0.0"),
            ("1.2.3.post1", Bump::Patch, "1.2.4"),
            ("1.2.3rc1", Bump::Patch, "1.2.3"),
            ("1.2.3rc1", Bump::Minor, "1.3.0"),
            ("1.3.0rc1", Bump::Minor, "1.3.0"),
            ("1.3.0.dev2", Bump::Patch, "1.3.0"),
            ("2.0.0b1", Bump::Major, "2.0.0"),
            ("2.1.0b1", Bump::Major, "3.0.0"),
        ];
        for (from, part, to) in cases {
            let got = Version::parse(from).unwrap().bump(part).unwrap();
            assert_eq!(got.to_string(), to, "{part:?} of {from}");
        }
        assert!(Version::parse("1.0").unwrap().bump(Bump::Patch).is_err());
    }
}
