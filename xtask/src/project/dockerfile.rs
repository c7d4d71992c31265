//! Reading a Dockerfile far enough to know what the final image is built
//! on, and whether that image records where it came from.
//!
//! Which lines are instructions is decided as Docker decides it (see
//! [`lex`]: parser directives, the escape character, line continuations,
//! comments and empty lines inside them, heredocs); where Docker versions
//! disagree, or where the tool cannot tell how Docker reads a line, the file
//! is refused with its line. On top of that: global `ARG`s (declared before
//! the first FROM, the only ones a FROM can use), `--platform=` flags and
//! stage aliases. Work is linear in the input: each stage's base is
//! resolved when the stage is declared, so following an alias is one map
//! lookup and no alias chain can loop; and substituting ARGs draws on a byte
//! budget proportional to the input, so defaults that double each other
//! (`ARG B=$A$A`, `ARG C=$B$B`, …) cannot blow up.

mod lex;

use std::collections::BTreeMap;
use std::fmt;

use crate::model::platform::Platform;

use lex::{lex, Instruction};

/// The ARG a Dockerfile declares for its base image.
pub const BASE_ARG: &str = "BASE_IMG_NAME";

/// What is wrong with a Dockerfile. The line is a field, not a prefix of
/// the message, so that callers can say `file:line:` without parsing text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// 1-based line of the instruction (or directive) at fault; `None` when
    /// no single line is (the file has no FROM at all).
    pub line: Option<usize>,
    /// What is wrong and what to do, without the line.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

fn at(line: usize, message: impl Into<String>) -> Error {
    Error {
        line: Some(line),
        message: message.into(),
    }
}

fn no_from() -> Error {
    Error {
        line: None,
        message: "no FROM instruction".into(),
    }
}

fn before_from(ins: &Instruction) -> Error {
    at(
        ins.line,
        format!(
            "{} before the first FROM; only ARG may come before FROM",
            ins.keyword
        ),
    )
}

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
    /// That FROM's `--platform=` value, expanded, when it reads none of
    /// BuildKit's platform ARGs: the platform the final image has.
    pub platform: Option<String>,
    /// How many instructions the classic builder commits on top of that
    /// image, along the stages from its FROM to the final one (each
    /// instruction but FROM commits one image; an ONBUILD of a stage used
    /// as a later FROM runs there too). Not counted: the base image's own
    /// ONBUILD triggers, and `docker build --label` (one more commit).
    pub steps: usize,
    /// Every stage name (`FROM … AS name`), lowercased.
    pub stages: Vec<String>,
    /// Every FROM of the file: its line and the image or stage it names
    /// after substitution (None: it reads a platform ARG BuildKit sets,
    /// off the final stage's chain).
    pub froms: Vec<(usize, Option<String>)>,
}

/// The final stage's `FROM --platform=` (`flag`, when it is known before
/// the build) against the platform built: BuildKit makes the image the
/// flag's platform whatever `--platform` the build is given (the classic
/// builder takes a local base as it is, measured on Docker 20.10), so
/// another one is refused before anything is built. A value whose reading
/// this tool does not know ([`Platform::from_docker_flag`]) is left to the
/// check of the built image.
pub fn check_from_platform(flag: Option<&str>, built_for: &Platform) -> Result<(), String> {
    match flag.and_then(Platform::from_docker_flag) {
        Some(p) if p != *built_for => Err(format!(
            "the final stage is built FROM --platform={} but this image is built for {built_for}: BuildKit would make it {p}, and the classic builder ignores the flag for a base it holds; drop the flag, or declare `ARG TARGETPLATFORM` before the first FROM and write --platform=$TARGETPLATFORM",
            flag.unwrap_or_default()
        )),
        _ => Ok(()),
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a valid ARG (and variable) name.
pub fn is_arg_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How many bytes of ARG values substitution may copy for one Dockerfile:
/// far more than any real file needs, and linear in its size.
fn expansion_budget(text: &str) -> usize {
    text.len().saturating_mul(16).saturating_add(1 << 20)
}

/// A global ARG's value, as a FROM would use it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Var {
    Set(String),
    /// Declared without a default (Docker substitutes an empty string).
    Unset,
    /// Its default has quotes or an escape character, whose handling the
    /// tool does not follow: the line of its ARG.
    Unsure(usize),
}

type Vars = BTreeMap<String, Var>;

/// A name an ARG declares, with its value or why substituting its default
/// failed.
type Declared = (String, Result<Var, String>);

/// The names a global `ARG` declares and each one's value: the build arg
/// when one is passed, else its default with earlier globals substituted
/// (or the error substituting gave).
fn global_arg(
    ins: &Instruction,
    escape: char,
    build_args: &BTreeMap<String, String>,
    vars: &Vars,
    budget: &mut usize,
) -> Result<Vec<Declared>, Error> {
    let unsure = ins.args.contains(['\'', '\\', '`', escape]);
    let mut out = Vec::new();
    for (name, default) in parse_arg(&ins.args).map_err(|e| at(ins.line, e))? {
        let value = match (build_args.get(&name), default) {
            (Some(v), _) => Ok(Var::Set(v.clone())),
            (None, None) => Ok(Var::Unset),
            (None, Some(_)) if unsure => Ok(Var::Unsure(ins.line)),
            (None, Some(d)) => expand(&d, vars, budget).map(Var::Set),
        };
        out.push((name, value));
    }
    Ok(out)
}

/// Give stage `index` the name `name` (lowercased), which no earlier stage
/// may have: Docker refuses a second stage of the same name.
fn name_stage(
    named: &mut BTreeMap<String, (usize, usize)>,
    name: String,
    index: usize,
    line: usize,
) -> Result<(), Error> {
    if let Some((_, earlier)) = named.get(&name) {
        return Err(at(
            line,
            format!("stage name '{name}' is already used at line {earlier}, which Docker refuses; rename one"),
        ));
    }
    named.insert(name, (index, line));
    Ok(())
}

/// Resolve the base of the final stage. `build_args` are the values passed
/// with `--build-arg`; they override the defaults of declared global ARGs.
/// Errors name the line.
pub fn final_base(text: &str, build_args: &BTreeMap<String, String>) -> Result<FinalBase, Error> {
    resolve(text, build_args, &PROXY_ARGS)
}

/// [`final_base`], with `automatic` the ARGs there for every FROM without
/// an ARG line when passed: Docker's proxies; for BuildKit, its platform
/// ARGs too.
fn resolve(
    text: &str,
    build_args: &BTreeMap<String, String>,
    automatic: &[&str],
) -> Result<FinalBase, Error> {
    let lexed = lex(text)?;
    let mut budget = expansion_budget(text);
    let mut globals: Vars = automatic
        .iter()
        .filter_map(|p| Some((p.to_string(), Var::Set(build_args.get(*p)?.clone()))))
        .collect();
    let mut walk = Walk::default();
    for ins in &lexed.instructions {
        match ins.keyword.as_str() {
            "ARG" if walk.last.is_none() => {
                let declared = global_arg(ins, lexed.escape, build_args, &globals, &mut budget)?;
                for (name, value) in declared {
                    globals.insert(name, value.map_err(|e| at(ins.line, e))?);
                }
            }
            "FROM" => walk.from(ins, &globals, &mut budget)?,
            _ if walk.last.is_none() => return Err(before_from(ins)),
            keyword => {
                walk.steps += 1;
                walk.onbuild += usize::from(keyword == "ONBUILD");
            }
        }
    }
    walk.finish()
}

/// The stages read so far, for [`final_base`].
#[derive(Default)]
struct Walk {
    /// Each distinct base once; a stage name maps to its stage's base, so
    /// an alias of an alias is still one lookup.
    bases: Vec<FinalBase>,
    /// Stage name: its base's index and the line of its FROM.
    named: BTreeMap<String, (usize, usize)>,
    /// The current stage's base.
    last: Option<usize>,
    /// Commits of the current stage's chain, and of its ONBUILD lines.
    steps: usize,
    onbuild: usize,
    /// The current stage's name; each named stage's commits at its end.
    stage: Option<String>,
    ended: BTreeMap<String, (usize, usize)>,
    /// Bases whose FROM reads a platform ARG BuildKit sets (a per-platform
    /// builder stage): an error only if the final stage is built on one.
    unresolved: BTreeMap<usize, Error>,
    froms: Vec<(usize, Option<String>)>,
}

impl Walk {
    fn from(&mut self, ins: &Instruction, globals: &Vars, budget: &mut usize) -> Result<(), Error> {
        let (raw, name, platform) = split_from(ins)?;
        let uses_base_arg = mentions_var(raw, BASE_ARG);
        if let Some(proxy) = PROXY_ARGS.iter().find(|p| mentions_var(raw, p)) {
            return Err(at(
                ins.line,
                format!("FROM reads ${proxy}, one of Docker's predefined proxy ARGs, which the docker CLI may set from ~/.docker/config.json without any ARG line, so the base recorded before the build could differ from the one built on; name the base without it"),
            ));
        }
        let image = match expand(raw, globals, budget) {
            Ok(image) => image,
            Err(e) if reads_platform_arg(raw, globals) => {
                self.froms.push((ins.line, None));
                let index =
                    self.new_base(String::new(), uses_base_arg, ins.line, &name, None, None);
                self.unresolved.insert(index, at(ins.line, e));
                return self.name(name, index, ins.line);
            }
            Err(e) => return Err(at(ins.line, e)),
        };
        self.froms.push((ins.line, Some(image.clone())));
        if image.is_empty() {
            return Err(at(ins.line, format!("FROM '{raw}' expands to nothing")));
        }
        if let Some(c) = image.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(at(
                ins.line,
                format!("FROM '{raw}' expands to '{image}', whose {c:?} no image reference or stage name has"),
            ));
        }
        let lower = image.to_ascii_lowercase();
        // On an earlier stage, its commits and then its triggers; its base
        // is this stage's base.
        let index = match self.named.get(&lower) {
            Some(&(earlier, _)) => {
                self.next_stage(&name, Some(&lower));
                earlier
            }
            None => {
                // A platform ARG is BuildKit's to set (TARGETPLATFORM is the
                // target by definition); an expansion error is Docker's.
                let platform = platform
                    .filter(|p| !PLATFORM_ARGS.iter().any(|a| mentions_var(p, a)))
                    .and_then(|p| expand(p, globals, budget).ok());
                self.new_base(
                    image,
                    uses_base_arg,
                    ins.line,
                    &name,
                    Some(&lower),
                    platform,
                )
            }
        };
        self.name(name, index, ins.line)
    }

    /// Close the current stage and start one named `name` on `image`
    /// (lowercased): on an ended stage, its commits and then its triggers.
    fn next_stage(&mut self, name: &Option<String>, image: Option<&str>) {
        if let Some(done) = self.stage.take() {
            self.ended.insert(done, (self.steps, self.onbuild));
        }
        let on = image.and_then(|i| self.ended.get(i));
        (self.steps, self.onbuild) = (on.map_or(0, |(s, o)| s + o), 0);
        self.stage.clone_from(name);
    }

    /// A stage on a base not seen before: its index.
    fn new_base(
        &mut self,
        image: String,
        uses_base_arg: bool,
        line: usize,
        name: &Option<String>,
        image_lower: Option<&str>,
        platform: Option<String>,
    ) -> usize {
        self.next_stage(name, image_lower);
        self.bases.push(FinalBase {
            image,
            uses_base_arg,
            line,
            platform,
            steps: 0,
            stages: Vec::new(),
            froms: Vec::new(),
        });
        self.bases.len() - 1
    }

    fn name(&mut self, name: Option<String>, index: usize, line: usize) -> Result<(), Error> {
        if let Some(name) = name {
            name_stage(&mut self.named, name, index, line)?;
        }
        self.last = Some(index);
        Ok(())
    }

    fn finish(mut self) -> Result<FinalBase, Error> {
        if let Some(e) = self.last.and_then(|i| self.unresolved.remove(&i)) {
            return Err(e);
        }
        let mut base = self
            .last
            .and_then(|i| self.bases.into_iter().nth(i))
            .ok_or_else(no_from)?;
        base.steps = self.steps;
        base.stages = self.named.into_keys().collect();
        base.froms = self.froms;
        if base.image == "scratch" {
            return Err(at(
                base.line,
                "the final stage is built FROM scratch; there is no base image to record",
            ));
        }
        Ok(base)
    }
}

/// A FROM whose `--platform=` reads a TARGET* ARG no global ARG
/// declares: the classic builder applies the value the tool passes only
/// to a declared ARG, so the flag is empty and the build fails to parse
/// it (measured on Docker 20.10).
fn undeclared_platform_flag(text: &str, lexed: &lex::Lexed) -> Option<(usize, String)> {
    let globals = stages(text).ok()?.globals;
    lexed
        .instructions
        .iter()
        .filter(|i| i.keyword == "FROM")
        .find_map(|ins| {
            let (_, _, flag) = split_from(ins).ok()?;
            let flag = flag?;
            let arg = PLATFORM_ARGS
                .iter()
                .find(|p| p.starts_with("TARGET") && mentions_var(flag, p) && !globals.contains_key(**p))?;
            Some((ins.line, format!("FROM --platform={flag} reads ${arg}, which the classic builder (no buildx here) leaves empty unless an ARG before the first FROM declares it, and the build then fails to parse the platform; declare `ARG {arg}` before the first FROM, or install the buildx plugin")))
        })
}

/// Whether the Dockerfile reads BuildKit's TARGET* ARGs anywhere (a
/// per-platform stage, a RUN): the classic builder does not set them, so
/// the tool passes them (`Platform::target_args`).
pub fn reads_target_args(text: &str) -> bool {
    // The instructions as Docker joins them (a continuation may split a
    // name), and any ARG that declares one (a RUN reads it from its
    // environment then).
    let Ok(lexed) = lex(text) else {
        return false;
    };
    PLATFORM_ARGS
        .iter()
        .filter(|p| p.starts_with("TARGET"))
        .any(|p| {
            declares_arg(text, p) || lexed.instructions.iter().any(|i| mentions_var(&i.args, p))
        })
}

/// A FROM the classic builder reads otherwise than BuildKit: its line and
/// why. The classic builder sets no platform ARG; the tool passes the
/// TARGET* ones (`Platform::target_args`), which it applies only where an
/// ARG declares them, in order. So each FROM is resolved both ways, for
/// amd64 and arm64, and must come out the same; and a FROM whose text
/// reads a BUILD* ARG (its `--platform` flag too) is one the tool cannot
/// give.
pub fn classic_reads_otherwise(text: &str) -> Option<(usize, String)> {
    let lexed = lex(text).ok()?;
    if let Some((line, arg)) = lexed
        .instructions
        .iter()
        .filter(|i| i.keyword == "FROM")
        .find_map(|i| {
            PLATFORM_ARGS
                .iter()
                .find(|p| p.starts_with("BUILD") && mentions_var(&i.args, p))
                .map(|p| (i.line, *p))
        })
    {
        return Some((line, format!("FROM reads ${arg}, which BuildKit sets per platform but the classic builder (no buildx here) leaves empty in a FROM; install the buildx plugin")));
    }
    if let Some(found) = undeclared_platform_flag(text, &lexed) {
        return Some(found);
    }
    let automatic: Vec<&str> = PROXY_ARGS.iter().chain(&PLATFORM_ARGS).copied().collect();
    // The build machine as the target too: on an amd64 and an arm64 engine.
    for target in ["linux/amd64", "linux/arm64"] {
        let target = Platform::parse(target).ok()?;
        let passed: BTreeMap<String, String> = target.target_args().into_iter().collect();
        let mut set = passed.clone();
        set.extend(
            passed
                .iter()
                .map(|(k, v)| (k.replacen("TARGET", "BUILD", 1), v.clone())),
        );
        let classic = resolve(text, &passed, &PROXY_ARGS).map(|b| b.froms);
        let buildkit = resolve(text, &set, &automatic).map(|b| b.froms);
        let (Ok(classic), Ok(buildkit)) = (classic, buildkit) else {
            continue;
        };
        if let Some(((line, c), (_, b))) = classic.iter().zip(&buildkit).find(|(c, b)| c != b) {
            let shown = |i: &Option<String>| {
                i.clone()
                    .unwrap_or_else(|| "nothing (an empty platform ARG)".into())
            };
            return Some((*line, format!("this FROM names {} under BuildKit for {target} but {} under the classic builder (no buildx here), which sets no platform ARG and applies the TARGET* ones the tool passes only where an ARG declares them before they are read; install the buildx plugin, or declare `ARG TARGETARCH` (or the one read) before the first ARG or FROM that reads it", shown(b), shown(c))));
        }
    }
    None
}

/// Whether `raw` reads a platform ARG that has no value here (BuildKit
/// sets it per platform at build time).
fn reads_platform_arg(raw: &str, globals: &Vars) -> bool {
    PLATFORM_ARGS
        .iter()
        .any(|p| mentions_var(raw, p) && !matches!(globals.get(*p), Some(Var::Set(_))))
}

/// Docker's predefined ARGs: usable without an ARG line, and set by the
/// docker CLI from its config's `proxies`.
const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The ARGs BuildKit sets itself for each build (its platforms).
pub const PLATFORM_ARGS: [&str; 8] = [
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// The ARGs set only at build time besides `BASE_IMG_NAME`: what the tool
/// passes, BuildKit's platform ARGs, the proxies the docker CLI may pass
/// from its config.
fn passed_at_build() -> impl Iterator<Item = &'static str> {
    crate::model::labels::FROM_ARGS
        .iter()
        .map(|(_, arg)| *arg)
        .filter(|arg| *arg != BASE_ARG)
        .chain(PLATFORM_ARGS)
        .chain(PROXY_ARGS)
}

/// Sample `k` (0 or 1) of a value set at build time: a base that reads it
/// differs between the two.
fn sample(name: &str, k: usize) -> String {
    format!("{}-{k}", name.to_ascii_lowercase())
}

/// The base resolved as docker resolves it when the build is given
/// `--build-arg BASE_IMG_NAME=<recorded>` and the other provenance values:
/// it must be `recorded` again. A FROM that reads `BASE_IMG_NAME` inside a
/// longer word (`${BASE_IMG_NAME}-slim`, or through another ARG's default)
/// would be expanded a second time into another image, and one that reads
/// another provenance ARG depends on a value known only at build time.
pub fn check_recorded_base(
    text: &str,
    build_args: &BTreeMap<String, String>,
    recorded: &str,
    as_read: &FinalBase,
) -> Result<(), Error> {
    let resolve_with = |base: bool, sample_k: usize, only: Option<&str>| {
        let mut args = build_args.clone();
        if base {
            args.insert(BASE_ARG.to_string(), recorded.to_string());
        }
        for name in passed_at_build() {
            let k = if only.is_none_or(|o| o == name) {
                sample_k
            } else {
                0
            };
            args.insert(name.to_string(), sample(name, k));
        }
        final_base(text, &args)
    };
    let resolve = |sample: usize, only: Option<&str>| resolve_with(true, sample, only);
    // The image, and the way to it: the FROM that names it and the
    // commits on it along the stages.
    let path = |b: &FinalBase| (b.image.clone(), b.line, b.steps);
    let first = resolve(0, None)?;
    let second = resolve(1, None)?;
    if path(&first) != path(&second) {
        let read = passed_at_build()
            .filter(|name| resolve(1, Some(name)).map(|b| path(&b)) != Ok(path(&first)))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(at(
            first.line,
            format!("the final base depends on {read}, set only at build time, so the base recorded before the build could not be the one built on; name the base without it"),
        ));
    }
    if first.image != recorded {
        return Err(at(
            first.line,
            format!("the final FROM resolves to {recorded}, but docker is given --build-arg {BASE_ARG}={recorded} (what base.name records) and would then build FROM {}; put the whole base image in {BASE_ARG} and write FROM ${{{BASE_ARG}}}", first.image),
        ));
    }
    if (first.line, first.steps) != (as_read.line, as_read.steps) {
        return Err(at(
            first.line,
            format!("the final stage reaches {recorded} through the stage whose FROM is line {} ({BASE_ARG}'s value names a stage), but docker, given --build-arg {BASE_ARG}={recorded} (what base.name records), would build on it here directly and skip that stage; name the base image itself in {BASE_ARG}", as_read.line),
        ));
    }
    // Every other stage too: the value the build gives BASE_IMG_NAME (for
    // the final stage's label) must not rebase a stage that reads it.
    let read = resolve_with(false, 0, None)?;
    let moved = read
        .froms
        .iter()
        .zip(&first.froms)
        // The final base's own FROM was compared above (as docker is
        // given its name).
        .find(|(a, b)| a.0 != first.line && a != b);
    if let Some(((line, before), (_, after))) = moved {
        let shown = |i: &Option<String>| i.clone().unwrap_or_else(|| "?".into());
        return Err(at(
            *line,
            format!("this FROM reads {BASE_ARG}, which the build sets to the final base {recorded} (its base.name label), so this stage would be built FROM {} instead of {}; give this stage's base an ARG of its own", shown(after), shown(before)),
        ));
    }
    Ok(())
}

/// A stage name Docker accepts: `[a-z][a-z0-9-_.]*` once lowercased.
fn is_stage_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// `FROM [--platform=…] IMAGE [AS NAME]`: the IMAGE word as written, the
/// stage name, lowercased as Docker compares them, and the last
/// `--platform=` value as written. Only plain ASCII,
/// spaces and tabs: Docker splits flags at Unicode spaces (byte by byte),
/// the rest at ASCII ones, and unquotes flags but not the image.
fn split_from(ins: &Instruction) -> Result<(&str, Option<String>, Option<&str>), Error> {
    let odd = |c: &char| {
        !(c.is_ascii_graphic() || *c == ' ' || *c == '\t') || matches!(c, '"' | '\'' | '\\' | '`')
    };
    if let Some(c) = ins.args.chars().find(odd) {
        return Err(at(
            ins.line,
            format!("FROM '{}' holds {c:?}: Docker's builders split or unquote such a line in different ways; write FROM [--platform=…] IMAGE [AS NAME] in plain ASCII", ins.args),
        ));
    }
    let mut words = ins
        .args
        .split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .peekable();
    let mut platform = None;
    while let Some(flag) = words.next_if(|w| w.starts_with("--")) {
        let Some(value) = flag.strip_prefix("--platform=") else {
            return Err(at(ins.line, format!("unknown FROM flag '{flag}'")));
        };
        platform = Some(value);
    }
    let raw = words
        .next()
        .ok_or_else(|| at(ins.line, "FROM names no image"))?;
    let name = match (words.next(), words.next(), words.next()) {
        (None, _, _) => None,
        (Some(kw), Some(name), None) if kw.eq_ignore_ascii_case("as") => {
            let name = name.to_ascii_lowercase();
            if !is_stage_name(&name) {
                return Err(at(
                    ins.line,
                    format!("stage name '{name}' is not one Docker accepts: a letter, then letters, digits, '-', '_' or '.'"),
                ));
            }
            Some(name)
        }
        _ => {
            return Err(at(
                ins.line,
                format!(
                    "FROM '{}' is not of the form FROM [--platform=…] IMAGE [AS NAME]",
                    ins.args
                ),
            ))
        }
    };
    Ok((raw, name, platform))
}

/// One stage as the provenance check sees it.
#[derive(Debug, Default)]
struct Stage {
    /// Line of its FROM.
    line: usize,
    /// The earlier stage it is built FROM, when it names one.
    parent: Option<usize>,
    /// Each ARG it declares, with the line of the first declaration.
    args: BTreeMap<String, usize>,
    /// Each label key it sets, with the line and the value as written
    /// (quoted, unexpanded) of the LABEL that sets it last.
    labels: BTreeMap<String, (usize, String)>,
}

/// Every stage (at least one) and the global ARGs with their lines.
struct Stages {
    globals: BTreeMap<String, usize>,
    stages: Vec<Stage>,
}

/// Walk the whole file: stages, the ARGs each declares and the labels each
/// sets. Refuses what Docker would refuse to parse (including a malformed
/// ARG or LABEL in any stage). Stage aliases are resolved with the global
/// ARGs' defaults, as no build args are known here; a FROM whose ARGs have
/// no value names an image, not a stage.
fn stages(text: &str) -> Result<Stages, Error> {
    let lexed = lex(text)?;
    let escape = lexed.escape;
    let mut budget = expansion_budget(text);
    let mut values = Vars::new();
    let mut globals: BTreeMap<String, usize> = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut named: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for ins in &lexed.instructions {
        let keyword = ins.keyword.as_str();
        if keyword == "FROM" {
            let (raw, name, _) = split_from(ins)?;
            let parent = expand(raw, &values, &mut budget)
                .ok()
                .and_then(|image| named.get(&image.to_ascii_lowercase()).map(|n| n.0));
            if let Some(name) = name {
                name_stage(&mut named, name, stages.len(), ins.line)?;
            }
            stages.push(Stage {
                line: ins.line,
                parent,
                ..Stage::default()
            });
            continue;
        }
        let Some(stage) = stages.last_mut() else {
            if keyword != "ARG" {
                return Err(before_from(ins));
            }
            let none = BTreeMap::new();
            for (name, value) in global_arg(ins, escape, &none, &values, &mut budget)? {
                globals.entry(name.clone()).or_insert(ins.line);
                values.insert(name, value.unwrap_or(Var::Unset));
            }
            continue;
        };
        match keyword {
            "ARG" => {
                for (name, _) in parse_arg(&ins.args).map_err(|e| at(ins.line, e))? {
                    stage.args.entry(name).or_insert(ins.line);
                }
            }
            "LABEL" => {
                for (key, value) in label_pairs(&ins.args, escape).map_err(|e| at(ins.line, e))? {
                    stage.labels.insert(key, (ins.line, value));
                }
            }
            _ => {}
        }
    }
    if stages.is_empty() {
        return Err(no_from());
    }
    Ok(Stages { globals, stages })
}

/// Check, before anything is built, that the final image will carry each
/// `(label, ARG)` of `required` with the value passed as that build arg.
///
/// The stage that sets a label is the latest one on the chain from the
/// final stage through its stage aliases (`FROM builder`) that has a LABEL
/// for it; within a stage the last LABEL of a key wins. That LABEL's value
/// must be exactly `${NAME}` or `$NAME`, bare or in double quotes (single
/// quotes keep `$` literal in Docker, so they are refused), and the same
/// stage must declare `ARG NAME` before it: an ARG's scope is its stage, and
/// a global ARG reaches no stage that does not redeclare it. One error, on
/// the line of the final FROM, lists every ARG and label to fix.
pub fn check_provenance(text: &str, required: &[(&str, &str)]) -> Result<(), Error> {
    let Stages { globals, stages } = stages(text)?;
    let last = stages.len().saturating_sub(1);
    let Some(final_stage) = stages.get(last) else {
        return Err(no_from());
    };
    let mut args: Vec<String> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    for &(key, arg) in required {
        // The stage that sets the label, the LABEL's line and its value.
        let mut cursor = Some(last);
        let mut setter = None;
        while let Some(stage) = cursor.and_then(|i| stages.get(i)) {
            if let Some((line, value)) = stage.labels.get(key) {
                setter = Some((cursor, *line, value.as_str()));
                break;
            }
            cursor = stage.parent;
        }
        match setter {
            None => labels.push(format!("{key} from ${{{arg}}} (not set)")),
            Some((_, line, value)) if !refers_exactly(value, arg) => {
                let how = if value.is_empty() {
                    format!("line {line} sets it empty")
                } else if value.starts_with('\'') {
                    format!("line {line} sets it to {value}, and single quotes keep it literal")
                } else {
                    format!("line {line} sets it to {value}")
                };
                labels.push(format!("{key} from ${{{arg}}} ({how})"));
            }
            Some(_) => {}
        }
        // The ARG: in the stage that sets the label (or would: the final
        // one), before that LABEL.
        let (index, label_line) = match setter {
            Some((index, line, _)) => (index.unwrap_or(last), Some(line)),
            None => (last, None),
        };
        let Some(stage) = stages.get(index) else {
            continue;
        };
        let declared = stage.args.get(arg).copied();
        let in_time = match (declared, label_line) {
            (Some(d), Some(l)) => d < l,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if in_time {
            continue;
        }
        let mut why = Vec::new();
        if index != last {
            why.push(format!("in the stage FROM at line {}", stage.line));
        }
        if let Some(l) = label_line {
            why.push(format!("before the LABEL at line {l}"));
        }
        match (declared, globals.get(arg)) {
            (Some(d), _) => why.push(format!("line {d} declares it too late")),
            (None, Some(g)) => why.push(format!(
                "the global one at line {g} does not reach a stage that does not redeclare it"
            )),
            (None, None) => {}
        }
        let item = if why.is_empty() {
            format!("ARG {arg}")
        } else {
            format!("ARG {arg} ({})", why.join("; "))
        };
        if !args.contains(&item) {
            args.push(item);
        }
    }
    if args.is_empty() && labels.is_empty() {
        return Ok(());
    }
    let mut wants = Vec::new();
    if !args.is_empty() {
        wants.push(format!("declare {}", args.join(", ")));
    }
    if !labels.is_empty() {
        wants.push(format!("set {}", labels.join(", ")));
    }
    Err(at(
        final_stage.line,
        format!(
            "the final stage (FROM at line {}) must {}: write ARG NAME, then LABEL key=\"${{NAME}}\", in the stage that sets the label; see README \"The conventions\"",
            final_stage.line,
            wants.join(" and ")
        ),
    ))
}

/// Whether the Dockerfile declares `ARG name` anywhere: before the first
/// FROM or in any stage. A file that does not parse declares nothing.
pub fn declares_arg(text: &str, name: &str) -> bool {
    stages(text).is_ok_and(|s| {
        s.globals.contains_key(name) || s.stages.iter().any(|st| st.args.contains_key(name))
    })
}

/// Whether a LABEL value, as written, is exactly a reference to ARG
/// `name`: `${name}` or `$name`, bare or in double quotes. Anything around
/// it, or a default (`${name:-x}`), would record something else than the
/// build arg.
fn refers_exactly(raw: &str, name: &str) -> bool {
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    inner.strip_prefix('$').is_some_and(|r| {
        r == name || r.strip_prefix('{').and_then(|r| r.strip_suffix('}')) == Some(name)
    })
}

/// `LABEL k=v "k 2"="v 2" …`, or the legacy one-pair `LABEL key value`
/// (when the first word has no `=`, as Docker decides): each key with its
/// quotes removed, and each value as written, so that `"${A}"` can be told
/// from `"x${A}"` or `'${A}'`.
fn label_pairs(args: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = raw_words(args, escape)?;
    let Some(first) = words.first() else {
        return Err("LABEL sets nothing; write LABEL key=value".into());
    };
    if !first.contains('=') {
        return match args.trim().split_once(char::is_whitespace) {
            Some((key, value)) => Ok(vec![(unquote(key, escape)?, value.trim().to_string())]),
            None => Err(format!(
                "LABEL '{args}' has a key and no value; write LABEL key=value"
            )),
        };
    }
    words
        .iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) => Ok((unquote(key, escape)?, value.to_string())),
            None => Err(format!(
                "LABEL word '{word}' has no '='; write LABEL key=value …"
            )),
        })
        .collect()
}

/// Words separated by unquoted whitespace, kept as written (quotes and
/// escapes included). Inside single quotes the escape character is literal.
fn raw_words(s: &str, escape: char) -> Result<Vec<&str>, String> {
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<char> = None;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('\'') => {}
            Some(_) if c == escape => {
                chars.next();
            }
            Some(_) => {}
            None if c.is_whitespace() => {
                if let Some(b) = start.take() {
                    words.push(&s[b..i]);
                }
            }
            None => {
                start.get_or_insert(i);
                if c == '"' || c == '\'' {
                    quote = Some(c);
                } else if c == escape {
                    chars.next();
                }
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in '{s}'"));
    }
    if let Some(b) = start {
        words.push(&s[b..]);
    }
    Ok(words)
}

/// A word with its quotes and escapes removed, as Docker reads a label key.
fn unquote(raw: &str, escape: char) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut quote: Option<char> = None;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('\'') => out.push(c),
            Some(_) if c == escape => match chars.next() {
                Some(n) if n == '"' || n == '$' || n == escape => out.push(n),
                Some(n) => {
                    out.push(c);
                    out.push(n);
                }
                None => out.push(c),
            },
            Some(_) => out.push(c),
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == escape => out.extend(chars.next()),
            None => out.push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in '{raw}'"));
    }
    Ok(out)
}
/// The line of the first heredoc (`RUN <<EOF` …), if any. Only BuildKit
/// reads heredocs; the classic builder would take their bodies for
/// instructions, so it must not be given such a Dockerfile.
pub fn first_heredoc(text: &str) -> Option<usize> {
    lex(text).ok()?.first_heredoc
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
/// substitute an empty string and build on something nobody named. Every
/// value copied is paid for from `budget`; running out is an error. `s`
/// holds no quote or escape character (FROM refuses them; a default with
/// them is [`Var::Unsure`]), so `$` is the only special character.
/// Where the `}` that closes a `${` is in `body` (what follows the `${`),
/// past any `${…}` nested in a default (`${A:-${B}}`), as Docker's lexer
/// reads it.
fn matching_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn expand(s: &str, vars: &Vars, budget: &mut usize) -> Result<String, String> {
    let lookup = |name: &str| {
        match vars.get(name) {
        Some(Var::Set(v)) => Ok(Some(v.as_str())),
        Some(Var::Unsure(line)) => Err(format!(
            "${name} comes from the ARG at line {line}, whose default has quotes or an escape character that the tool does not evaluate as Docker does; write that default without them"
        )),
        Some(Var::Unset) | None => Ok(None),
    }
    };
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(body) = after.strip_prefix('{') {
            let end = matching_brace(body).ok_or_else(|| format!("unterminated '${{' in '{s}'"))?;
            let inner = &body[..end];
            rest = &body[end + 1..];
            let (name, op) = match inner.find(':') {
                Some(j) => (&inner[..j], Some(&inner[j..])),
                None => (inner, None),
            };
            check_var_name(name, s)?;
            let set = lookup(name)?.filter(|v| !v.is_empty());
            match op {
                None => push_value(
                    &mut out,
                    lookup(name)?.ok_or_else(|| undefined(name))?,
                    s,
                    budget,
                )?,
                Some(op) if op.starts_with(":-") => match set {
                    Some(v) => push_value(&mut out, v, s, budget)?,
                    None => out.push_str(&expand(&op[2..], vars, budget)?),
                },
                Some(op) if op.starts_with(":+") => {
                    if set.is_some() {
                        out.push_str(&expand(&op[2..], vars, budget)?);
                    }
                }
                Some(op) => {
                    return Err(format!(
                        "unsupported substitution '${{{name}{op}}}' in '{s}'"
                    ))
                }
            }
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
            push_value(
                &mut out,
                lookup(name)?.ok_or_else(|| undefined(name))?,
                s,
                budget,
            )?;
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn push_value(out: &mut String, value: &str, s: &str, budget: &mut usize) -> Result<(), String> {
    *budget = budget.checked_sub(value.len()).ok_or_else(|| {
        format!("'{s}' expands past the limit on ARG substitution for this file; ARG defaults that repeat each other grow without bound")
    })?;
    out.push_str(value);
    Ok(())
}

fn check_var_name(name: &str, s: &str) -> Result<(), String> {
    if is_arg_name(name) {
        Ok(())
    } else {
        Err(format!("bad variable name '{name}' in '{s}'"))
    }
}

fn undefined(name: &str) -> String {
    if PLATFORM_ARGS.contains(&name) {
        return format!(
            "${name} is set by BuildKit per platform at build time, while the final stage's base and the commits on it are read before the build, so they must not depend on it: keep per-platform stages off the final stage's chain (copy from them with COPY --from), and name a multi-platform base as one index"
        );
    }
    format!(
        "${name} has no value: declare ARG {name}=<default> before the first FROM, or pass it as a build arg"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_classic_builder_needs_to_be_given_platform_args() {
        let reads = [
            ("FROM a\nRUN echo $TARGETARCH\n", true),
            // Declared in a stage, read by a program from its environment.
            ("FROM a\nARG TARGETARCH=amd64\nRUN ./install.sh\n", true),
            // Split by a continuation: Docker joins the lines first.
            ("FROM a\nRUN echo ${TARGET\\\nARCH}\n", true),
            ("FROM a\n# TARGETARCH in a comment\nRUN true\n", false),
            ("FROM a\nRUN echo $BUILDARCH\n", false),
        ];
        for (text, want) in reads {
            assert_eq!(reads_target_args(text), want, "{text:?}");
        }
        let otherwise: &[(&str, Option<(usize, &str)>)] = &[
            ("FROM b-${TARGETARCH:-amd64}\n", Some((1, "names b-arm64 under BuildKit for linux/arm64 but b-amd64 under the classic builder"))),
            ("FROM b-$TARGETARCH AS b\nFROM x\n", Some((1, "names b-amd64 under BuildKit for linux/amd64 but nothing (an empty platform ARG)"))),
            ("ARG TARGETARCH=amd64\nFROM b-${TARGETARCH} AS b\nFROM x\n", None),
            ("ARG TARGETARCH\nFROM b-$TARGETARCH\n", None),
            // Through another ARG's default, or declared only after it.
            ("ARG A=${TARGETARCH:-amd64}\nFROM b-${A} AS b\nFROM x\n", Some((2, "b-arm64 under BuildKit"))),
            ("ARG A=${TARGETARCH:-amd64}\nARG TARGETARCH\nFROM b-${A} AS b\nFROM x\n", Some((3, "b-arm64 under BuildKit"))),
            ("ARG TARGETARCH\nARG A=${TARGETARCH:-amd64}\nFROM b-${A} AS b\nFROM x\n", None),
            ("ARG A=${BUILDARCH:-amd64}\nFROM b-${A} AS b\nFROM x\n", Some((2, "b-arm64 under BuildKit"))),
            ("FROM x AS s\nFROM --platform=$BUILDPLATFORM b\n", Some((2, "FROM reads $BUILDPLATFORM"))),
            ("ARG BUILDPLATFORM\nFROM --platform=$BUILDPLATFORM b\n", Some((2, "FROM reads $BUILDPLATFORM"))),
            ("FROM b\nRUN echo $TARGETARCH\n", None),
            // A --platform flag reading a TARGET* ARG no global ARG declares.
            ("FROM --platform=$TARGETPLATFORM b\n", Some((1, "FROM --platform=$TARGETPLATFORM reads $TARGETPLATFORM, which the classic builder (no buildx here) leaves empty"))),
            ("FROM --platform=linux/${TARGETARCH} b AS s\nFROM x\n", Some((1, "reads $TARGETARCH"))),
            ("ARG TARGETPLATFORM\nFROM --platform=$TARGETPLATFORM b\n", None),
            ("FROM x AS s\nARG TARGETPLATFORM\nFROM --platform=$TARGETPLATFORM b\n", Some((3, "reads $TARGETPLATFORM"))),
        ];
        for (text, want) in otherwise {
            let got = classic_reads_otherwise(text);
            match (&got, want) {
                (None, None) => {}
                (Some((line, why)), Some((l, w))) => {
                    assert_eq!(line, l, "{text:?}: {why}");
                    assert!(why.contains(w), "{text:?}: {why}");
                }
                _ => panic!("{text:?}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn the_recorded_base_is_what_docker_resolves_when_given_it() {
        let cases: &[(&str, &str, Result<(), &str>)] = &[
            (
                "ARG BASE_IMG_NAME=x/b:1\nFROM ${BASE_IMG_NAME}\n",
                "x/b:1",
                Ok(()),
            ),
            (
                "ARG BASE_IMG_NAME=x/b:1\nFROM $BASE_IMG_NAME AS s\nFROM s\n",
                "x/b:1",
                Ok(()),
            ),
            ("FROM x/b:1\n", "x/b:1", Ok(())),
            (
                "ARG BASE_IMG_NAME=x/b:1\nFROM ${BASE_IMG_NAME}-slim\n",
                "x/b:1-slim",
                Err("would then build FROM x/b:1-slim-slim"),
            ),
            (
                "ARG BASE_IMG_NAME=x/b\nFROM ${BASE_IMG_NAME}:1\n",
                "x/b:1",
                Err("would then build FROM x/b:1:1"),
            ),
            (
                "ARG BASE_IMG_NAME=x/b\nARG T=${BASE_IMG_NAME}:1\nFROM ${T}\n",
                "x/b:1",
                Err("would then build FROM x/b:1:1"),
            ),
            (
                "ARG ITWINAI_VERSION=1\nFROM x/b:${ITWINAI_VERSION}\n",
                "x/b:1",
                Err("depends on ITWINAI_VERSION,"),
            ),
            (
                "ARG COMMIT_HASH=c\nARG CREATION_DATE=d\nFROM x/b:${COMMIT_HASH}${CREATION_DATE}\n",
                "x/b:cd",
                Err("depends on CREATION_DATE, COMMIT_HASH,"),
            ),
            (
                "ARG BASE_IMG_NAME=hardened\nFROM x/b:1 AS hardened\nRUN harden\nFROM ${BASE_IMG_NAME}\n",
                "x/b:1",
                Err("through the stage whose FROM is line 2"),
            ),
            (
                "ARG BASE_IMG_NAME=x/devel:1\nFROM ${BASE_IMG_NAME} AS builder\nRUN make\nFROM x/b:1\n",
                "x/b:1",
                Err("this FROM reads BASE_IMG_NAME, which the build sets to the final base x/b:1 (its base.name label), so this stage would be built FROM x/b:1 instead of x/devel:1"),
            ),
            (
                "ARG BASE_IMG_NAME=x/b:1\nFROM ${BASE_IMG_NAME} AS base\nFROM base AS builder\nFROM base\n",
                "x/b:1",
                Ok(()),
            ),
            (
                "FROM x/b-amd64:1 AS build-amd64\nFROM x/b-arm64:1 AS build-arm64\nFROM build-${TARGETARCH} AS build\nFROM x/b:1\nCOPY --from=build /a /a\n",
                "x/b:1",
                Ok(()),
            ),
            (
                "ARG IMG=${HTTP_PROXY:-x/b:1}\nFROM ${IMG}\n",
                "x/b:1",
                Err("depends on HTTP_PROXY,"),
            ),
            (
                "ARG TARGETARCH=amd64\nFROM x/b:${TARGETARCH}\n",
                "x/b:amd64",
                Err("depends on TARGETARCH,"),
            ),
        ];
        for (text, recorded, want) in cases {
            let as_read = final_base(text, &BTreeMap::new()).unwrap();
            let got = check_recorded_base(text, &BTreeMap::new(), recorded, &as_read);
            match (&got, want) {
                (Ok(()), Ok(())) => {}
                (Err(e), Err(w)) => assert!(e.message.contains(w), "{text:?}: {}", e.message),
                _ => panic!("{text:?}: {got:?}, wanted {want:?}"),
            }
        }
    }

    fn base(text: &str) -> Result<FinalBase, Error> {
        final_base(text, &BTreeMap::new())
    }

    fn image(text: &str) -> String {
        base(text).unwrap().image
    }

    #[test]
    fn a_final_from_platform_must_be_the_platform_built() {
        let amd64 = Platform::parse("linux/amd64").unwrap();
        let arm64 = Platform::parse("linux/arm64").unwrap();
        let cases: &[(Option<&str>, &Platform, Option<&str>)] = &[
            (None, &amd64, None),
            (Some("linux/amd64"), &amd64, None),
            (Some("linux/arm64/v8"), &arm64, None),
            (Some("linux/arm64"), &amd64, Some("FROM --platform=linux/arm64 but this image is built for linux/amd64: BuildKit would make it linux/arm64")),
            (Some("linux/arm64/v8"), &amd64, Some("FROM --platform=linux/arm64/v8 but this image is built for linux/amd64: BuildKit would make it linux/arm64,")),
            // Left to the check of the built image: Docker parses more.
            (Some("linux/x86_64"), &arm64, None),
            (Some("linux/aarch64"), &amd64, None),
            (Some("Linux/ARM64"), &amd64, None),
            // containerd's spellings: amd64's baseline variant, a bare arch.
            (Some("linux/amd64/v1"), &amd64, None),
            (Some("amd64"), &amd64, None),
            (Some("linux"), &arm64, None),
            (Some("arm64"), &amd64, Some("FROM --platform=arm64 but this image is built for linux/amd64: BuildKit would make it linux/arm64")),
        ];
        for (flag, built_for, want) in cases {
            let got = check_from_platform(*flag, built_for);
            match want {
                None => assert_eq!(got, Ok(()), "{flag:?} {built_for}"),
                Some(w) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(w)),
                    "{flag:?} {built_for}: {got:?}"
                ),
            }
        }
    }
    #[test]
    fn the_final_base_s_platform_flag_is_known_when_it_reads_no_platform_arg() {
        let cases: &[(&str, Option<&str>)] = &[
            ("FROM a\n", None),
            ("FROM --platform=linux/arm64 a\n", Some("linux/arm64")),
            (
                "ARG P=linux/arm64\nFROM --platform=$P a\n",
                Some("linux/arm64"),
            ),
            ("FROM --platform=$TARGETPLATFORM a\n", None),
            ("FROM --platform=linux/${TARGETARCH} a\n", None),
            // The flag of the FROM that names the image, not of a later stage's.
            (
                "FROM --platform=linux/arm64 a AS b\nFROM --platform=linux/amd64 b\n",
                Some("linux/arm64"),
            ),
            ("FROM --platform=linux/arm64 x AS b\nFROM a\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(base(text).unwrap().platform.as_deref(), *want, "{text:?}");
        }
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
            // A default that is itself a substitution, as Docker reads it.
            ("ARG B\nARG C=debian:12\nFROM ${B:-${C}}\n", "debian:12"),
            (
                "ARG B=ubuntu:22.04\nARG C=debian:12\nFROM ${B:-${C}}\n",
                "ubuntu:22.04",
            ),
            ("ARG B=x\nARG C=-y\nFROM img${B:+${C}}:1\n", "img-y:1"),
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
    fn counts_the_commits_on_the_base_along_the_final_chain() {
        let cases = [
            ("FROM a\n", 0),
            ("ARG X=1\nFROM a\nARG X\nLABEL l=1\nCOPY f /f\n", 3),
            // A stage on another image starts again.
            ("FROM a\nRUN x\nRUN y\nFROM b\nCOPY f /f\n", 1),
            // A stage on an earlier one goes on from its commits.
            ("FROM a AS one\nENV A=b\nWORKDIR /w\nFROM one\nLABEL l=1\n", 3),
            ("FROM a AS one\nRUN x\nFROM one AS two\nRUN y\nFROM TWO\nRUN z\n", 3),
            // A stage in between on another image does not count.
            ("FROM a AS one\nRUN x\nFROM b AS two\nRUN y\nRUN y\nFROM one\nRUN z\n", 2),
            // An ONBUILD commits where it is, and runs again on the stage built on it.
            ("FROM a AS one\nONBUILD RUN x\nFROM one\nRUN z\n", 3),
            ("FROM a\nONBUILD RUN x\n", 1),
            (
                "FROM a\nEXPOSE 1\nUSER u\nCMD [\"x\"]\nENTRYPOINT [\"x\"]\nVOLUME /v\nSTOPSIGNAL 9\nHEALTHCHECK NONE\nSHELL [\"/bin/sh\", \"-c\"]\nADD f /f\nMAINTAINER m\n",
                10,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(base(text).unwrap().steps, want, "{text:?}");
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
    fn heredocs_only_in_run_copy_add() {
        // `<<` in a LABEL is text: the FROM after it is the final stage.
        let text = "FROM a:1\nLABEL note=<<'#'\nFROM evil:1\n#\n";
        assert_eq!(final_base(text, &BTreeMap::new()).unwrap().image, "evil:1");
        assert_eq!(first_heredoc(text), None);
        let run = "FROM a:1\nRUN <<EOF\nFROM evil:1\nEOF\n";
        assert_eq!(final_base(run, &BTreeMap::new()).unwrap().image, "a:1");
        assert_eq!(first_heredoc(run), Some(2));
        assert_eq!(first_heredoc("FROM a:1\nRUN true\n"), None);
        // A byte order mark is not an instruction.
        assert_eq!(
            final_base("\u{feff}FROM a:1\n", &BTreeMap::new())
                .unwrap()
                .image,
            "a:1"
        );
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
            ("", None, "no FROM instruction"),
            ("# just a comment\n", None, "no FROM instruction"),
            ("RUN x\nFROM a\n", Some(1), "RUN before the first FROM"),
            ("FROM $NOPE\n", Some(1), "$NOPE has no value"),
            ("ARG B\nFROM ${B}\n", Some(2), "$B has no value"),
            ("FROM a\nARG B=x\nFROM ${B}\n", Some(3), "$B has no value"),
            (
                "FROM ${HTTP_PROXY:-x/b:1}\n",
                Some(1),
                "FROM reads $HTTP_PROXY, one of Docker's predefined proxy ARGs",
            ),
            (
                "FROM x/b:$TARGETARCH\n",
                Some(1),
                "$TARGETARCH is set by BuildKit per platform",
            ),
            (
                "FROM x/b-amd64:1 AS build-amd64\nFROM build-${TARGETARCH} AS build\nFROM build\n",
                Some(2),
                "$TARGETARCH is set by BuildKit per platform",
            ),
            (
                "FROM scratch\n",
                Some(1),
                "the final stage is built FROM scratch",
            ),
            (
                "FROM a AS s\nFROM scratch AS t\nFROM t\n",
                Some(2),
                "the final stage is built FROM scratch",
            ),
            ("FROM\n", Some(1), "FROM names no image"),
            ("FROM a AS\n", Some(1), "not of the form"),
            ("FROM --foo=1 a\n", Some(1), "unknown FROM flag '--foo=1'"),
            ("ARG B=1\nFROM ${B#x}\n", Some(2), "bad variable name"),
            (
                "ARG B=1\nFROM ${B:?x}\n",
                Some(2),
                "unsupported substitution",
            ),
            (
                "FROM a\nRUN <<EOF\nnever closed\n",
                Some(2),
                "heredoc 'EOF' is not terminated",
            ),
            (
                "# escape=x\nFROM a\n",
                Some(1),
                "invalid escape directive 'x'",
            ),
            ("ARG B=\"x\nFROM a\n", Some(1), "unterminated quote"),
            ("ARG 1B=x\nFROM a\n", Some(1), "ARG name '1B'"),
            // What Docker refuses, refused here too.
            (
                "FROM a AS s\nFROM b AS S\nFROM s\n",
                Some(2),
                "stage name 's' is already used at line 1",
            ),
            (
                "FROM a AS 1st\n",
                Some(1),
                "stage name '1st' is not one Docker accepts",
            ),
            ("FROM a AS s!\n", Some(1), "stage name 's!'"),
            ("FROM a\nRUNN x\n", Some(2), "unknown instruction 'RUNN'"),
            // What Docker versions split or unquote differently.
            ("FROM \"a\"\n", Some(1), "FROM '\"a\"' holds '\"'"),
            (
                "FROM --platform=\"linux/amd64 x\" a\n",
                Some(1),
                "holds '\"'",
            ),
            ("FROM a\u{a0}AS b\n", Some(1), "holds '\\u{a0}'"),
            ("FROM a\x0cAS b\n", Some(1), "holds '\\u{c}'"),
            ("# escape=`\nFROM a`:1\n", Some(2), "holds '`'"),
            // A default with quotes or escapes is not evaluated: using it is refused.
            (
                "ARG B='a:1'\nFROM $B\n",
                Some(2),
                "$B comes from the ARG at line 1",
            ),
            (
                "ARG B=a\\:1\nFROM ${B:-x}\n",
                Some(2),
                "$B comes from the ARG at line 1",
            ),
            (
                "# escape=`\nARG B=\"a`:1\"\nFROM $B\n",
                Some(3),
                "$B comes from the ARG at line 2",
            ),
            // An expansion that is no image reference.
            (
                "ARG B=\"a b\"\nFROM $B\n",
                Some(2),
                "expands to 'a b', whose ' '",
            ),
            ("ARG B=\u{17f}\nFROM $B\n", Some(2), "whose '\u{17f}'"),
        ];
        for (text, line, want) in cases {
            let err = base(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err:?}");
            assert!(err.message.contains(want), "{text:?}: {err:?}");
            // Display is the message alone: the caller adds file and line.
            assert_eq!(err.to_string(), err.message);
        }
    }

    #[test]
    fn unsure_defaults_only_matter_where_used() {
        // Not used by any FROM, or replaced by a build arg: no refusal.
        assert_eq!(image("ARG X='a b'\nFROM ubuntu:22.04\n"), "ubuntu:22.04");
        let mut args = BTreeMap::new();
        args.insert("B".to_string(), "debian:12".to_string());
        let text = "ARG B='ubuntu:22.04'\nFROM $B\n";
        assert_eq!(final_base(text, &args).unwrap().image, "debian:12");
        assert!(base(text).is_err());
        // Double quotes alone are read as Docker reads them.
        assert_eq!(image("ARG B=\"ubuntu:22.04\"\nFROM $B\n"), "ubuntu:22.04");
        // The provenance walk treats an unsure value as no value: the FROM
        // names an image, not the stage `labelled`.
        let text = "ARG S='labelled'\nFROM a AS labelled\nARG COMMIT_HASH\nARG BASE_IMG_DIGEST\n\
                    LABEL org.opencontainers.image.revision=$COMMIT_HASH org.opencontainers.image.base.digest=$BASE_IMG_DIGEST\n\
                    FROM $S\n";
        assert_eq!(check_provenance(text, &TWO).unwrap_err().line, Some(6));
        assert_eq!(check_provenance(&text.replace('\'', ""), &TWO), Ok(()));
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

    const REV: &str = "org.opencontainers.image.revision";
    const DIGEST: &str = "org.opencontainers.image.base.digest";
    /// Two of the six, enough for the table below.
    const TWO: [(&str, &str); 2] = [(REV, "COMMIT_HASH"), (DIGEST, "BASE_IMG_DIGEST")];
    /// All six, as README "The conventions" lists them.
    const SIX: [(&str, &str); 6] = [
        ("org.opencontainers.image.created", "CREATION_DATE"),
        ("org.opencontainers.image.version", "ITWINAI_VERSION"),
        (REV, "COMMIT_HASH"),
        ("org.opencontainers.image.ref.name", "IMAGE_FULL_NAME"),
        ("org.opencontainers.image.base.name", "BASE_IMG_NAME"),
        (DIGEST, "BASE_IMG_DIGEST"),
    ];
    const HOW: &str = r#": write ARG NAME, then LABEL key="${NAME}", in the stage that sets the label; see README "The conventions""#;

    /// A minimal Dockerfile with the provenance block (the end-to-end
    /// fixture, `tests/it/support`, adds its own lines around the same block).
    fn fixture(base: &str) -> String {
        format!(
            "ARG BASE_IMG_NAME={base}\nFROM ${{BASE_IMG_NAME}}\nCOPY pyproject.toml /itwinai/pyproject.toml\n\
             ARG BASE_IMG_NAME\nARG BASE_IMG_DIGEST\nARG COMMIT_HASH\nARG CREATION_DATE\nARG IMAGE_FULL_NAME\nARG ITWINAI_VERSION\n\
             LABEL org.opencontainers.image.created=\"${{CREATION_DATE}}\" \\\n  \
             org.opencontainers.image.version=\"${{ITWINAI_VERSION}}\" \\\n  \
             org.opencontainers.image.revision=\"${{COMMIT_HASH}}\" \\\n  \
             org.opencontainers.image.ref.name=\"${{IMAGE_FULL_NAME}}\" \\\n  \
             org.opencontainers.image.base.name=\"${{BASE_IMG_NAME}}\" \\\n  \
             org.opencontainers.image.base.digest=\"${{BASE_IMG_DIGEST}}\"\n"
        )
    }

    /// Shaped like the shipped torch Dockerfile: a build stage on one
    /// global ARG, the final stage on another, continued RUN and LABEL lines
    /// with comments between instructions, the provenance block last.
    const TWO_STAGES: &str = r#"# A header comment, then a blank one.
#
ARG BASE_IMG_NAME=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04
ARG BUILD_IMG_NAME=nvidia/cuda:12.6.3-cudnn-devel-ubuntu24.04

FROM ${BUILD_IMG_NAME} AS build

ARG FRAMEWORK_VERSION
ARG ITWINAI_VERSION

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
ENV PATH=/opt/venv/bin:$PATH
# A comment between instructions.
RUN test -n "${FRAMEWORK_VERSION}" \
    && pip install --no-cache-dir "torch==${FRAMEWORK_VERSION}.*" "itwinai==${ITWINAI_VERSION}"

FROM ${BASE_IMG_NAME}

COPY --from=build /opt/venv /opt/venv
ENV PYTHONPATH=""

# Provenance: declared last.
ARG BASE_IMG_NAME
ARG BASE_IMG_DIGEST
ARG COMMIT_HASH
ARG CREATION_DATE
ARG IMAGE_FULL_NAME
ARG ITWINAI_VERSION
LABEL org.opencontainers.image.title="itwinai" \
      org.opencontainers.image.source="https://github.com/interTwin-eu/itwinai" \
      org.opencontainers.image.created="${CREATION_DATE}" \
      org.opencontainers.image.version="${ITWINAI_VERSION}" \
      org.opencontainers.image.revision="${COMMIT_HASH}" \
      org.opencontainers.image.ref.name="${IMAGE_FULL_NAME}" \
      org.opencontainers.image.base.name="${BASE_IMG_NAME}" \
      org.opencontainers.image.base.digest="${BASE_IMG_DIGEST}"
"#;

    /// Shaped like the shipped TensorFlow one: one stage whose ITWINAI_VERSION
    /// is declared at its top, a RUN whose single-quoted program spans
    /// continued lines (with `;`, `{`, `"` in it).
    const ONE_STAGE: &str = r#"ARG BASE_IMG_NAME=nvcr.io/nvidia/tensorflow:24.12-tf2-py3

FROM ${BASE_IMG_NAME}

ARG FRAMEWORK_VERSION
ARG ITWINAI_VERSION

RUN test -n "${FRAMEWORK_VERSION}" \
    && python3 -c 'import os, sys; \
       want = os.environ["FRAMEWORK_VERSION"]; \
       found = {"x": want}; \
       sys.exit(0)'
RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir \
       "tensorflow==${FRAMEWORK_VERSION}.*" "itwinai==${ITWINAI_VERSION}"

ARG BASE_IMG_NAME
ARG BASE_IMG_DIGEST
ARG COMMIT_HASH
ARG CREATION_DATE
ARG IMAGE_FULL_NAME
LABEL org.opencontainers.image.created="${CREATION_DATE}" \
      org.opencontainers.image.version="${ITWINAI_VERSION}" \
      org.opencontainers.image.revision="${COMMIT_HASH}" \
      org.opencontainers.image.ref.name="${IMAGE_FULL_NAME}" \
      org.opencontainers.image.base.name="${BASE_IMG_NAME}" \
      org.opencontainers.image.base.digest="${BASE_IMG_DIGEST}"
"#;

    /// Shaped like the shipped JupyterLab one: a `# hadolint` comment, USER
    /// from a base variable, a RUN continued over several lines.
    const USER_STAGE: &str = r#"ARG BASE_IMG_NAME=quay.io/jupyter/minimal-notebook:python-3.12

FROM ${BASE_IMG_NAME}

ARG FRAMEWORK_VERSION
ARG ITWINAI_VERSION

# hadolint ignore=DL3066
USER ${NB_UID}
RUN pip install --no-cache-dir \
       "torch==${FRAMEWORK_VERSION}.*" "itwinai==${ITWINAI_VERSION}" "jupyterlab==4.*" \
    && fix-permissions "${CONDA_DIR}" \
    && fix-permissions "/home/${NB_USER}"

ARG BASE_IMG_NAME
ARG BASE_IMG_DIGEST
ARG COMMIT_HASH
ARG CREATION_DATE
ARG IMAGE_FULL_NAME
LABEL org.opencontainers.image.created="${CREATION_DATE}" \
      org.opencontainers.image.version="${ITWINAI_VERSION}" \
      org.opencontainers.image.revision="${COMMIT_HASH}" \
      org.opencontainers.image.ref.name="${IMAGE_FULL_NAME}" \
      org.opencontainers.image.base.name="${BASE_IMG_NAME}" \
      org.opencontainers.image.base.digest="${BASE_IMG_DIGEST}"
"#;

    #[test]
    fn provenance_of_shipped_shapes_and_fixture_dockerfiles_passes() {
        let cases = [
            (
                TWO_STAGES,
                "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04",
                20,
            ),
            (ONE_STAGE, "nvcr.io/nvidia/tensorflow:24.12-tf2-py3", 3),
            (
                USER_STAGE,
                "quay.io/jupyter/minimal-notebook:python-3.12",
                3,
            ),
        ];
        for (text, image, line) in cases {
            assert_eq!(check_provenance(text, &SIX), Ok(()), "{text}");
            let b = base(text).unwrap();
            assert_eq!((b.image.as_str(), b.line), (image, line), "{text}");
            assert!(b.uses_base_arg, "{text}");
        }
        let text = fixture("127.0.0.1:5999/base:1");
        assert_eq!(check_provenance(&text, &SIX), Ok(()), "{text}");
        // Each shape fails once a label of its final stage is dropped.
        for text in [TWO_STAGES, ONE_STAGE, USER_STAGE] {
            let cut = text.replace(
                "org.opencontainers.image.revision=\"${COMMIT_HASH}\" \\\n      ",
                "",
            );
            assert_ne!(cut, text);
            let err = check_provenance(&cut, &SIX).unwrap_err();
            assert!(
                err.message
                    .contains("org.opencontainers.image.revision from ${COMMIT_HASH} (not set)"),
                "{err:?}"
            );
        }
    }

    #[test]
    fn provenance_passes() {
        let cases = [
            // The final stage is an alias of the stage that holds ARGs and LABELs.
            "ARG BASE_IMG_NAME=ubuntu:22.04\nFROM ${BASE_IMG_NAME} AS labelled\nARG COMMIT_HASH\nARG BASE_IMG_DIGEST\n\
             LABEL org.opencontainers.image.revision=\"${COMMIT_HASH}\" org.opencontainers.image.base.digest=\"${BASE_IMG_DIGEST}\"\n\
             FROM labelled\nRUN true\n",
            // Through two aliases, the name compared case-insensitively, the
            // alias named through a global ARG's default.
            "FROM ubuntu AS Labelled\nARG COMMIT_HASH BASE_IMG_DIGEST\n\
             LABEL org.opencontainers.image.revision=$COMMIT_HASH org.opencontainers.image.base.digest=$BASE_IMG_DIGEST\n\
             FROM labelled AS mid\nRUN true\nFROM MID\n",
            "ARG STAGE=labelled\nFROM ubuntu AS labelled\nARG COMMIT_HASH\nARG BASE_IMG_DIGEST\n\
             LABEL org.opencontainers.image.revision=$COMMIT_HASH org.opencontainers.image.base.digest=$BASE_IMG_DIGEST\n\
             FROM ${STAGE}\n",
            // Each accepted spelling; defaults on the ARGs; quoted keys.
            "FROM a\nARG COMMIT_HASH=unknown\nARG BASE_IMG_DIGEST\n\
             LABEL \"org.opencontainers.image.revision\"=\"$COMMIT_HASH\" 'org.opencontainers.image.base.digest'=${BASE_IMG_DIGEST}\n",
            // The legacy one-pair form, one LABEL each.
            "FROM a\nARG COMMIT_HASH\nARG BASE_IMG_DIGEST\n\
             LABEL org.opencontainers.image.revision \"${COMMIT_HASH}\"\nLABEL org.opencontainers.image.base.digest $BASE_IMG_DIGEST\n",
            // The final stage's own LABEL wins over a wrong one in its parent,
            // and a later correct LABEL over an earlier wrong one.
            "FROM a AS p\nLABEL org.opencontainers.image.revision=wrong\n\
             FROM p\nARG COMMIT_HASH\nARG BASE_IMG_DIGEST\n\
             LABEL org.opencontainers.image.base.digest=x\n\
             LABEL org.opencontainers.image.revision=\"${COMMIT_HASH}\" org.opencontainers.image.base.digest=\"${BASE_IMG_DIGEST}\"\n",
            // Labels split between the final stage and its parent, each with
            // its ARG in its own stage.
            "FROM a AS p\nARG COMMIT_HASH\nLABEL org.opencontainers.image.revision=\"${COMMIT_HASH}\"\n\
             FROM p\nARG BASE_IMG_DIGEST\nLABEL org.opencontainers.image.base.digest=\"${BASE_IMG_DIGEST}\"\n",
            // Escape directive, continuation with a comment inside; a LABEL
            // inside a heredoc is not an instruction.
            "# escape=`\nFROM a\nARG COMMIT_HASH\nARG BASE_IMG_DIGEST\nLABEL org.opencontainers.image.revision=\"${COMMIT_HASH}\" `\n\
             # comment\n  org.opencontainers.image.base.digest=\"${BASE_IMG_DIGEST}\"\n\
             RUN <<EOF\nLABEL org.opencontainers.image.revision=wrong\nEOF\n",
        ];
        for text in cases {
            assert_eq!(check_provenance(text, &TWO), Ok(()), "{text}");
        }
        // Nothing required, nothing to check beyond parsing.
        assert_eq!(check_provenance("FROM a\n", &[]), Ok(()));
    }

    #[test]
    fn provenance_failures_name_exactly_what_is_missing() {
        let good_labels = "LABEL org.opencontainers.image.revision=\"${COMMIT_HASH}\" org.opencontainers.image.base.digest=\"${BASE_IMG_DIGEST}\"\n";
        let both_args = "ARG COMMIT_HASH\nARG BASE_IMG_DIGEST\n";
        let cases: Vec<(String, usize, &str)> = vec![
            // Missing ARG.
            (
                format!("FROM ubuntu\nARG BASE_IMG_DIGEST\n{good_labels}"),
                1,
                "declare ARG COMMIT_HASH (before the LABEL at line 3)",
            ),
            // ARG declared after the LABEL.
            (
                format!("FROM ubuntu\nARG BASE_IMG_DIGEST\n{good_labels}ARG COMMIT_HASH\n"),
                1,
                "declare ARG COMMIT_HASH (before the LABEL at line 3; line 4 declares it too late)",
            ),
            // ARG only global.
            (
                format!("ARG COMMIT_HASH=x\nFROM ubuntu\nARG BASE_IMG_DIGEST\n{good_labels}"),
                2,
                "declare ARG COMMIT_HASH (before the LABEL at line 4; the global one at line 1 does not reach a stage that does not redeclare it)",
            ),
            // Label set from a literal.
            (
                format!("FROM ubuntu\n{both_args}LABEL {REV}=\"abc\" {DIGEST}=\"${{BASE_IMG_DIGEST}}\"\n"),
                1,
                "set org.opencontainers.image.revision from ${COMMIT_HASH} (line 4 sets it to \"abc\")",
            ),
            // Label with a prefix.
            (
                format!("FROM ubuntu\n{both_args}LABEL {REV}=\"x${{COMMIT_HASH}}\" {DIGEST}=\"${{BASE_IMG_DIGEST}}\"\n"),
                1,
                "set org.opencontainers.image.revision from ${COMMIT_HASH} (line 4 sets it to \"x${COMMIT_HASH}\")",
            ),
            // A default inside the reference.
            (
                format!("FROM ubuntu\n{both_args}LABEL {REV}=${{COMMIT_HASH:-x}} {DIGEST}=\"${{BASE_IMG_DIGEST}}\"\n"),
                1,
                "set org.opencontainers.image.revision from ${COMMIT_HASH} (line 4 sets it to ${COMMIT_HASH:-x})",
            ),
            // Single quotes: Docker would record the text `${COMMIT_HASH}`.
            (
                format!("FROM ubuntu\n{both_args}LABEL {REV}='${{COMMIT_HASH}}' {DIGEST}=\"${{BASE_IMG_DIGEST}}\"\n"),
                1,
                "set org.opencontainers.image.revision from ${COMMIT_HASH} (line 4 sets it to '${COMMIT_HASH}', and single quotes keep it literal)",
            ),
            // Empty.
            (
                format!("FROM ubuntu\n{both_args}LABEL {REV}= {DIGEST}=\"${{BASE_IMG_DIGEST}}\"\n"),
                1,
                "set org.opencontainers.image.revision from ${COMMIT_HASH} (line 4 sets it empty)",
            ),
            // One label overridden later by a literal.
            (
                format!("FROM ubuntu\n{both_args}{good_labels}RUN true\nLABEL {DIGEST}=sha256:0\n"),
                1,
                "set org.opencontainers.image.base.digest from ${BASE_IMG_DIGEST} (line 6 sets it to sha256:0)",
            ),
            // No labels at all.
            (
                "FROM ubuntu\nRUN true\n".to_string(),
                1,
                "declare ARG COMMIT_HASH, ARG BASE_IMG_DIGEST and set org.opencontainers.image.revision from ${COMMIT_HASH} (not set), org.opencontainers.image.base.digest from ${BASE_IMG_DIGEST} (not set)",
            ),
            // ARGs present, labels missing: only the labels are named.
            (
                format!("FROM ubuntu\n{both_args}"),
                1,
                "set org.opencontainers.image.revision from ${COMMIT_HASH} (not set), org.opencontainers.image.base.digest from ${BASE_IMG_DIGEST} (not set)",
            ),
            // The labelled parent lacks the ARG; the final stage declaring it
            // does not help, an ARG's scope is its stage.
            (
                format!("FROM ubuntu AS labelled\nARG BASE_IMG_DIGEST\n{good_labels}FROM labelled\nARG COMMIT_HASH\n"),
                4,
                "declare ARG COMMIT_HASH (in the stage FROM at line 1; before the LABEL at line 3)",
            ),
            // The final stage is not built on the labelled stage.
            (
                format!("FROM ubuntu AS labelled\n{both_args}{good_labels}FROM ubuntu\n{both_args}"),
                5,
                "set org.opencontainers.image.revision from ${COMMIT_HASH} (not set), org.opencontainers.image.base.digest from ${BASE_IMG_DIGEST} (not set)",
            ),
            // Wrong label and missing ARG for it, in one message.
            (
                format!("FROM ubuntu\nARG BASE_IMG_DIGEST\nLABEL {REV}=abc {DIGEST}=$BASE_IMG_DIGEST\n"),
                1,
                "declare ARG COMMIT_HASH (before the LABEL at line 3) and set org.opencontainers.image.revision from ${COMMIT_HASH} (line 3 sets it to abc)",
            ),
        ];
        for (text, line, want) in cases {
            let err = check_provenance(&text, &TWO).unwrap_err();
            assert_eq!(err.line, Some(line), "{text}");
            assert_eq!(
                err.message,
                format!("the final stage (FROM at line {line}) must {want}{HOW}"),
                "{text}"
            );
        }
        // All six missing: every one is named.
        let err = check_provenance("FROM ubuntu\n", &SIX).unwrap_err();
        for (label, arg) in SIX {
            assert!(
                err.message.contains(&format!("ARG {arg},"))
                    || err.message.contains(&format!("ARG {arg} and")),
                "{arg}: {err}"
            );
            assert!(
                err.message
                    .contains(&format!("{label} from ${{{arg}}} (not set)")),
                "{label}: {err}"
            );
        }
        // Each ARG named once even when two labels need it.
        let err = check_provenance("FROM a\n", &[(REV, "COMMIT_HASH"), ("x", "COMMIT_HASH")])
            .unwrap_err();
        assert_eq!(err.message.matches("ARG COMMIT_HASH").count(), 1, "{err}");
    }

    #[test]
    fn provenance_check_refuses_what_does_not_parse() {
        let cases = [
            ("", None, "no FROM instruction"),
            ("RUN x\nFROM a\n", Some(1), "RUN before the first FROM"),
            (
                "FROM --network=host a\n",
                Some(1),
                "unknown FROM flag '--network=host'",
            ),
            ("FROM a\nLABEL\n", Some(2), "LABEL sets nothing"),
            ("FROM a\nLABEL k\n", Some(2), "has a key and no value"),
            (
                "FROM a\nLABEL k=v w\n",
                Some(2),
                "LABEL word 'w' has no '='",
            ),
            ("FROM a\nLABEL k=\"v\n", Some(2), "unterminated quote"),
            ("FROM a\nARG 1X\n", Some(2), "ARG name '1X'"),
        ];
        for (text, line, want) in cases {
            let err = check_provenance(text, &TWO).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err:?}");
            assert!(err.message.contains(want), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn declares_arg_anywhere() {
        for name in [
            "FRAMEWORK_VERSION",
            "COMMIT_HASH",
            BASE_ARG,
            "BUILD_IMG_NAME",
            "ITWINAI_VERSION",
        ] {
            assert!(declares_arg(TWO_STAGES, name), "{name}");
        }
        assert!(!declares_arg(TWO_STAGES, "NB_UID"));
        assert!(!declares_arg(USER_STAGE, "NB_UID"));
        let cases = [
            ("ARG FRAMEWORK_VERSION=2.6\nFROM a\n", true),
            ("FROM a\nARG FRAMEWORK_VERSION\n", true),
            (
                "FROM a AS b\nARG X=1 FRAMEWORK_VERSION=\"2 6\"\nFROM b\n",
                true,
            ),
            ("FROM a\nARG X \\\n  FRAMEWORK_VERSION\n", true),
            ("FROM a\narg FRAMEWORK_VERSION\n", true),
            ("FROM a\nARG framework_version\n", false),
            ("FROM a\nARG FRAMEWORK_VERSION_X\n", false),
            ("FROM a\n# ARG FRAMEWORK_VERSION\n", false),
            ("FROM a\nRUN echo ARG FRAMEWORK_VERSION\n", false),
            ("FROM a\nENV FRAMEWORK_VERSION=1\n", false),
            ("FROM a\nRUN <<EOF\nARG FRAMEWORK_VERSION\nEOF\n", false),
            // Does not parse: declares nothing.
            ("ARG FRAMEWORK_VERSION\n", false),
            ("ARG FRAMEWORK_VERSION\nRUN x\nFROM a\n", false),
            ("FROM a\nARG FRAMEWORK_VERSION\nRUN <<EOF\n", false),
            ("", false),
        ];
        for (text, want) in cases {
            assert_eq!(declares_arg(text, "FRAMEWORK_VERSION"), want, "{text:?}");
        }
    }

    #[test]
    fn arg_defaults_that_double_stay_bounded() {
        let mut text = String::from("ARG A0=xxxxxxxx\n");
        for i in 1..80 {
            text.push_str(&format!("ARG A{i}=$A{}$A{}\n", i - 1, i - 1));
        }
        text.push_str("FROM $A79\n");
        let err = base(&text).unwrap_err();
        assert!(err.message.contains("limit on ARG substitution"), "{err:?}");
        // The provenance walk is lenient about values and still finishes.
        let err = check_provenance(&text, &TWO).unwrap_err();
        assert_eq!(err.line, Some(81));
        assert!(!declares_arg(&text, "NOPE"));
        assert!(declares_arg(&text, "A79"));
    }

    #[test]
    fn provenance_check_is_linear() {
        // A long alias chain, labels at its far end.
        let mut text = String::from("FROM base AS s0\nARG COMMIT_HASH\nARG BASE_IMG_DIGEST\n");
        text.push_str("LABEL org.opencontainers.image.revision=$COMMIT_HASH org.opencontainers.image.base.digest=$BASE_IMG_DIGEST\n");
        for i in 1..20_000 {
            text.push_str(&format!("FROM s{} AS s{i}\nRUN echo {i}\n", i - 1));
        }
        assert_eq!(check_provenance(&text, &TWO), Ok(()));
        // Many stages that are not aliases, and a label set over and over.
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!("FROM img{i} AS s{i}\n"));
        }
        for _ in 0..20_000 {
            text.push_str("LABEL org.opencontainers.image.revision=x\n");
        }
        let err = check_provenance(&text, &TWO).unwrap_err();
        assert_eq!(err.line, Some(20_000));
        assert!(declares_arg(&format!("{text}ARG Z\n"), "Z"));
    }

    proptest::proptest! {
        #[test]
        fn provenance_check_never_panics(lines in proptest::collection::vec(
            proptest::prop_oneof![
                "FROM [a-z$:{}._-]{0,12}( AS [a-z]{1,3})?",
                "ARG [A-Z_]{1,4}(=[a-z0-9$:{}-]{0,8})?",
                "LABEL ([a-z.\"']{0,6}=?[\"'$A-Z{}:-]{0,10} ?){0,3}\\\\?",
                "RUN <<-?['\"]?[A-Z]{0,3}['\"]?",
                "[A-Z]{1,4}",
                "# ?[a-z]{0,6}=[`\\\\a-z]{0,2}",
                "\\PC{0,20}\\\\?",
            ], 0..40)
        ) {
            let text = lines.join("\n");
            let _ = check_provenance(&text, &[("a", "A"), ("b.c", "B")]);
            let _ = declares_arg(&text, "A");
        }

        #[test]
        fn provenance_check_never_panics_on_any_text(text in "\\PC{0,200}") {
            let _ = check_provenance(&text, &TWO);
            let _ = declares_arg(&text, "A");
        }
    }
}
