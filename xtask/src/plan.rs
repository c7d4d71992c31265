//! Plans: what will run, as plain data. One executor (in `docker`) prints a
//! plan (`--dry-run`) or runs it; tests compare plans with `assert_eq!`.

use std::collections::BTreeMap;

/// One argv element: known now, or filled in by the executor from what an
/// earlier step learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Lit(String),
    /// `prefix` followed by the value of a slot (e.g. `BASE_IMG_DIGEST=` and
    /// the digest that a pull revealed).
    Slot {
        prefix: String,
        slot: Slot,
    },
}

/// A value only known at run time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    /// The `repository@sha256:…` digest of a base image once pulled.
    BaseDigest { image: String },
    /// The `sha256:…` digest the registry reported for a push.
    PushedDigest { reference: String },
}

impl Slot {
    /// What `--dry-run` prints instead of the value.
    pub fn placeholder(&self) -> String {
        match self {
            Slot::BaseDigest { image } => {
                format!("<BASE_IMG_DIGEST of {image}, known after the pull>")
            }
            Slot::PushedDigest { reference } => {
                format!("<digest of {reference}, known after the push>")
            }
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run a command that changes state (pull, build, tag, push).
    Run,
    /// Run a read-only lookup and keep what it says in a slot.
    Capture(Slot),
    /// Check a freshly built image against what it must record.
    Verify(Box<Expectation>),
}

/// What a built image must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub reference: String,
    /// OCI labels and their values (may name a slot's value).
    pub labels: Vec<(String, Arg)>,
    /// VERSION_CODENAME of /etc/os-release in the final image.
    pub distro: String,
    /// The base image whose layers must be a prefix of the built image's.
    pub base: String,
    /// The BASE_IMG_DIGEST that was passed.
    pub base_digest: Arg,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Why this step is in the plan, for humans.
    pub purpose: String,
    /// Program and arguments; never passed through a shell.
    pub argv: Vec<Arg>,
    pub action: Action,
}

impl Step {
    pub fn run(purpose: impl Into<String>, argv: Vec<Arg>) -> Step {
        Step {
            purpose: purpose.into(),
            argv,
            action: Action::Run,
        }
    }

    /// The argv with slots filled from `values`, or with placeholders where
    /// a value is not known yet.
    pub fn resolve(&self, values: &BTreeMap<Slot, String>) -> Vec<String> {
        self.argv.iter().map(|a| a.resolve(values)).collect()
    }
}

impl Arg {
    pub fn resolve(&self, values: &BTreeMap<Slot, String>) -> String {
        match self {
            Arg::Lit(s) => s.clone(),
            Arg::Slot { prefix, slot } => match values.get(slot) {
                Some(v) => format!("{prefix}{v}"),
                None => format!("{prefix}{}", slot.placeholder()),
            },
        }
    }
}

/// Literal argv from anything string-like.
pub fn lits<I, S>(items: I) -> Vec<Arg>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(|s| Arg::Lit(s.into())).collect()
}

/// POSIX shell quoting: the word as is when it is plainly safe, else in
/// single quotes with `'` written as `'\''`.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%^".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// One command line, each word quoted.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let cases = [
            ("docker", "docker"),
            ("COMMIT_HASH=abc", "COMMIT_HASH=abc"),
            ("ghcr.io/x/y:1.0-a", "ghcr.io/x/y:1.0-a"),
            ("", "''"),
            ("a b", "'a b'"),
            ("it's", r"'it'\''s'"),
            ("$HOME", "'$HOME'"),
            ("a;rm -rf /", "'a;rm -rf /'"),
            ("{{json .}}", "'{{json .}}'"),
            ("2026-11-24T12:05:09+01:00", "2026-11-24T12:05:09+01:00"),
            ("<x>", "'<x>'"),
        ];
        for (word, want) in cases {
            assert_eq!(shell_quote(word), want, "{word:?}");
        }
    }

    #[test]
    fn slots_resolve_or_show_placeholders() {
        let slot = Slot::BaseDigest {
            image: "b:1".into(),
        };
        let step = Step::run(
            "build",
            vec![
                Arg::Lit("docker".into()),
                Arg::Slot {
                    prefix: "BASE_IMG_DIGEST=".into(),
                    slot: slot.clone(),
                },
            ],
        );
        let mut values = BTreeMap::new();
        assert_eq!(
            step.resolve(&values),
            vec![
                "docker",
                "BASE_IMG_DIGEST=<BASE_IMG_DIGEST of b:1, known after the pull>"
            ]
        );
        values.insert(slot, "b@sha256:00".to_string());
        assert_eq!(
            step.resolve(&values),
            vec!["docker", "BASE_IMG_DIGEST=b@sha256:00"]
        );
    }
}
