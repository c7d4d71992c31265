//! Properties of the parsers: the reference/tag grammar, versions, the
//! Dockerfile FROM resolver, the catalog loader and JSON. None may panic on
//! any input; what they accept follows Docker's documented grammar; what
//! they format they parse back.

use std::collections::BTreeMap;

use proptest::prelude::*;
use xtask::model::reference::{check_tag, AnyRef, Reference, Registry};
use xtask::model::tag_format::{self, TagFormat, Values};
use xtask::model::version::Version;
use xtask::project::catalog::Catalog;
use xtask::project::dockerfile::final_base;
use xtask::support::json::Json;

/// Docker's tag grammar, written out independently of `check_tag`.
fn docker_accepts_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// Docker's path-component grammar: `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn docker_accepts_component(c: &str) -> bool {
    let alnum = |x: char| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut rest = c;
    let mut first = true;
    while !rest.is_empty() {
        if !first {
            let sep_len = if rest.starts_with("__") {
                2
            } else if rest.starts_with('.') || rest.starts_with('_') {
                1
            } else {
                rest.chars().take_while(|&x| x == '-').count()
            };
            if sep_len == 0 {
                return false;
            }
            rest = &rest[sep_len..];
        }
        let n = rest.chars().take_while(|&x| alnum(x)).count();
        if n == 0 {
            return false;
        }
        rest = &rest[n..];
        first = false;
    }
    !first
}

/// A line at the top of a generated Dockerfile: a parser directive, or
/// what ends them.
#[derive(Debug, Clone)]
enum Top {
    Escape(char),
    Syntax,
    Check,
    Unknown,
    Comment,
    Empty,
}

/// How a generated `USER` line ends before its tail.
#[derive(Debug, Clone, Copy)]
enum Mark {
    None,
    /// The escape character in force.
    Escape,
    /// The other one of `\` and `` ` ``.
    Other,
    /// The escape character twice.
    Double,
}

/// An instruction (with the lines after it) of a generated Dockerfile.
#[derive(Debug, Clone)]
enum Item {
    /// `FROM img<image> [AS s<alias>]`, lowercase keywords when `lower`.
    From {
        image: u8,
        alias: Option<u8>,
        lower: bool,
    },
    /// `FROM s<n>`: a stage when one of that name came before, else an image.
    Stage(u8),
    /// `USER x <mark><tail>`, then filler lines (blank, comments).
    User {
        mark: Mark,
        tail: String,
        fillers: Vec<String>,
    },
}

fn top() -> impl Strategy<Value = (String, Top)> {
    let pad = "[ \t\u{a0}]{0,2}";
    (
        pad,
        prop_oneof![
            Just(Top::Escape('`')),
            Just(Top::Escape('\\')),
            Just(Top::Syntax),
            Just(Top::Check),
            Just(Top::Unknown),
            Just(Top::Comment),
            Just(Top::Empty),
        ],
    )
        .prop_map(|(pad, t)| {
            let text = match &t {
                Top::Escape(c) => format!("{pad}# escape = {c}"),
                Top::Syntax => format!("{pad}#syntax=docker/dockerfile:1"),
                Top::Check => format!("{pad}# check=skip=all"),
                Top::Unknown => format!("{pad}# foo=bar"),
                Top::Comment => format!("{pad}# a comment"),
                Top::Empty => pad,
            };
            (text, t)
        })
}

fn item() -> impl Strategy<Value = Item> {
    // What may follow the mark: spaces and tabs (a continuation), a line end
    // of \r\n, any other Unicode whitespace (never a continuation), a lone
    // \r, or text.
    let tail = prop_oneof![
        "[ \t]{0,3}",
        "[ \t]{0,2}\r",
        "[ \t]{0,1}[\u{b}\u{c}\u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][ \t]{0,1}",
        "[ \t]{0,1}\r\r",
        " [a-z]{1,2}",
    ];
    let filler = prop_oneof![
        Just(String::new()),
        "[ \t\u{b}\u{c}\u{a0}\u{3000}]{1,3}",
        "[ \t\u{a0}]{0,2}#[ -~]{0,8}",
    ];
    let mark = prop_oneof![
        Just(Mark::None),
        Just(Mark::Escape),
        Just(Mark::Other),
        Just(Mark::Double)
    ];
    prop_oneof![
        (0u8..4, proptest::option::of(0u8..3), any::<bool>()).prop_map(|(image, alias, lower)| {
            Item::From {
                image,
                alias,
                lower,
            }
        }),
        (0u8..3).prop_map(Item::Stage),
        (mark, tail, proptest::collection::vec(filler, 0..3)).prop_map(|(mark, tail, fillers)| {
            Item::User {
                mark,
                tail,
                fillers,
            }
        }),
    ]
}

/// The escape character the tops set, or `None` where the tool must refuse
/// (a directive repeated, or after `check`): Docker's rules, written out
/// from the generated structure rather than from the text.
fn model_escape(tops: &[Top]) -> Option<char> {
    let mut escape = '\\';
    let mut seen: Vec<&str> = Vec::new();
    for t in tops {
        let name = match t {
            Top::Escape(_) => "escape",
            Top::Syntax => "syntax",
            Top::Check => "check",
            Top::Unknown | Top::Comment | Top::Empty => break,
        };
        if seen.contains(&name) || seen.contains(&"check") {
            return None;
        }
        if let Top::Escape(c) = t {
            escape = *c;
        }
        seen.push(name);
    }
    Some(escape)
}

/// The final base (image and line) Docker builds on, or `None` where the
/// tool must refuse.
fn model_base(tops: &[Top], items: &[Item]) -> Option<(String, usize)> {
    model_escape(tops)?;
    let mut line = tops.len();
    let mut bases: Vec<(String, usize)> = Vec::new();
    let mut stages: Vec<(u8, usize)> = Vec::new();
    let mut last: Option<usize> = None;
    let mut joined = false;
    for item in items {
        line += 1;
        let swallowed = std::mem::take(&mut joined);
        match item {
            Item::User {
                mark,
                tail,
                fillers,
            } => {
                let tail = tail.strip_suffix('\r').unwrap_or(tail);
                let blank = tail.chars().all(|c| c == ' ' || c == '\t');
                if tail.contains('\r') || (matches!(mark, Mark::Double) && blank) {
                    return None;
                }
                if !swallowed && last.is_none() {
                    return None;
                }
                joined = matches!(mark, Mark::Escape) && blank;
                line += fillers.len();
            }
            // Joined to the instruction before: not a FROM.
            _ if swallowed => {}
            Item::From { image, alias, .. } => {
                bases.push((format!("img{image}"), line));
                let index = bases.len() - 1;
                if let Some(a) = alias {
                    if stages.iter().any(|(n, _)| n == a) {
                        return None;
                    }
                    stages.push((*a, index));
                }
                last = Some(index);
            }
            Item::Stage(n) => {
                let index = match stages.iter().find(|(s, _)| s == n) {
                    Some(&(_, i)) => i,
                    None => {
                        bases.push((format!("s{n}"), line));
                        bases.len() - 1
                    }
                };
                last = Some(index);
            }
        }
    }
    last.map(|i| bases[i].clone())
}

/// The generated Dockerfile's text.
fn render(tops: &[(String, Top)], items: &[Item]) -> String {
    let escape = model_escape(&tops.iter().map(|t| t.1.clone()).collect::<Vec<_>>());
    let escape = escape.unwrap_or('\\');
    let other = if escape == '\\' { '`' } else { '\\' };
    let mut lines: Vec<String> = tops.iter().map(|t| t.0.clone()).collect();
    for item in items {
        match item {
            Item::From {
                image,
                alias,
                lower,
            } => {
                let (from, r#as) = if *lower {
                    ("from", "as")
                } else {
                    ("FROM", "AS")
                };
                let alias = alias.map(|a| format!(" {as} s{a}")).unwrap_or_default();
                lines.push(format!("{from} img{image}{alias}"));
            }
            Item::Stage(n) => lines.push(format!("FROM s{n}")),
            Item::User {
                mark,
                tail,
                fillers,
            } => {
                let mark = match mark {
                    Mark::None => String::new(),
                    Mark::Escape => escape.to_string(),
                    Mark::Other => other.to_string(),
                    Mark::Double => format!("{escape}{escape}"),
                };
                lines.push(format!("USER x {mark}{tail}"));
                lines.extend(fillers.iter().cloned());
            }
        }
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

const HOST: &str = "[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?){1,2}(:[1-9][0-9]{0,3})?";
const COMPONENT: &str = "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,6}){0,2}";
const TAG: &str = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn tag_check_is_docker_grammar(t in "\\PC{0,140}") {
        prop_assert_eq!(check_tag(&t).is_ok(), docker_accepts_tag(&t));
    }

    #[test]
    fn generated_tags_are_accepted(t in TAG) {
        prop_assert!(check_tag(&t).is_ok(), "{}", t);
    }

    #[test]
    fn references_format_then_parse(host in HOST, ns in COMPONENT, name in COMPONENT, tag in TAG) {
        let registry = Registry::parse(&format!("{host}/{ns}")).unwrap();
        let r = Reference::new(&registry, &name, &tag).unwrap();
        let parsed = AnyRef::parse(&r.to_string()).unwrap();
        prop_assert_eq!(parsed.domain.as_deref(), Some(host.as_str()));
        prop_assert_eq!(parsed.path, format!("{ns}/{name}"));
        prop_assert_eq!(parsed.tag.as_deref(), Some(tag.as_str()));
        prop_assert_eq!(parsed.digest, None);
    }

    #[test]
    fn any_reference_never_panics_and_accepts_only_the_grammar(s in "\\PC{0,80}") {
        if let Ok(r) = AnyRef::parse(&s) {
            prop_assert!(r.path.split('/').all(docker_accepts_component), "{}", s);
            if let Some(t) = &r.tag {
                prop_assert!(docker_accepts_tag(t), "{}", s);
            }
            prop_assert!(!s.starts_with('-'));
        }
    }

    #[test]
    fn reference_chars_never_panic(s in "[a-zA-Z0-9:/@._-]{0,60}") {
        let _ = AnyRef::parse(&s);
        let _ = Registry::parse(&s);
    }

    #[test]
    fn release_tags_parse_back_to_their_version(
        jlab in any::<bool>(), x in 0u64..100, y in 0u64..100, z in 0u64..100,
        rc in proptest::option::of(0u64..20),
        tf in any::<bool>(), fx in 0u32..30, fy in 0u32..30, distro in "[a-z][a-z0-9]{0,10}",
        variant in proptest::option::of("[a-z0-9]{1,8}"), variant_first in any::<bool>(),
    ) {
        let format = match (&variant, variant_first) {
            (None, _) => tag_format::DEFAULT.to_string(),
            (Some(_), true) => "{variant}-{version}-{framework}{framework-version}-{distro}".to_string(),
            (Some(_), false) => "{version}-{variant}-{framework}{framework-version}-{distro}".to_string(),
        };
        let fv = format!("{fx}.{fy}");
        let values = Values {
            framework: if tf { "tf" } else { "torch" },
            framework_version: &fv,
            distro: &distro,
            variant: variant.as_deref(),
            jupyterlab: jlab,
        };
        let pattern = TagFormat::parse(&format).unwrap().pattern(&values);
        let version = match rc {
            Some(n) => format!("{x}.{y}.{z}rc{n}"),
            None => format!("{x}.{y}.{z}"),
        };
        let tag = pattern.render(&version);
        prop_assert!(check_tag(&tag).is_ok());
        prop_assert_eq!(pattern.parse(&tag).map(|v| v.to_string()), Some(version));
    }

    #[test]
    fn collisions_across_versions_found_are_real(a in "[a-z0-9.-]{0,8}", b in "[a-z0-9.-]{0,8}", c in "[a-z0-9.-]{0,8}", d in "[a-z0-9.-]{0,8}") {
        let p = tag_format::Pattern { prefix: a, suffix: b };
        let q = tag_format::Pattern { prefix: c, suffix: d };
        if let Some((v, w)) = tag_format::cross_collision(&p, &q) {
            prop_assert_eq!(p.render(&v), q.render(&w));
            prop_assert!(p.parse(&p.render(&v)).is_some(), "{} is not a version", v);
            prop_assert!(q.parse(&q.render(&w)).is_some(), "{} is not a version", w);
        }
    }

    #[test]
    fn collisions_found_are_real(a in "[a-z0-9.-]{0,8}", b in "[a-z0-9.-]{0,8}", c in "[a-z0-9.-]{0,8}", d in "[a-z0-9.-]{0,8}") {
        let p = tag_format::Pattern { prefix: a, suffix: b };
        let q = tag_format::Pattern { prefix: c, suffix: d };
        if let Some(v) = tag_format::collision(&p, &q) {
            if v != "every version" {
                prop_assert_eq!(p.render(&v), q.render(&v));
            } else {
                prop_assert_eq!(p, q);
            }
        }
    }

    #[test]
    fn versions_round_trip(
        rel in proptest::collection::vec(0u64..1000, 1..5),
        pre in proptest::option::of((0usize..3, 0u64..50)),
        post in proptest::option::of(0u64..50),
        dev in proptest::option::of(0u64..50),
    ) {
        let mut s = rel.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
        if let Some((k, n)) = pre { s.push_str(&format!("{}{n}", ["a", "b", "rc"][k])); }
        if let Some(n) = post { s.push_str(&format!(".post{n}")); }
        if let Some(n) = dev { s.push_str(&format!(".dev{n}")); }
        let v = Version::parse(&s).unwrap();
        prop_assert_eq!(v.to_string(), s);
        prop_assert_eq!(v.is_prerelease(), pre.is_some() || dev.is_some());
    }

    #[test]
    fn version_parser_never_panics(s in "\\PC{0,40}") {
        let _ = Version::parse(&s);
    }

    #[test]
    fn from_resolver_never_panics(lines in proptest::collection::vec(
        prop_oneof![
            "FROM [a-z$:{}._-]{0,12}( AS [a-z]{1,3})?",
            "ARG [A-Z_]{1,4}(=[a-z0-9$:{}-]{0,8})?",
            "RUN <<-?['\"]?[A-Z]{0,3}['\"]?",
            "[A-Z]{1,4}",
            "# ?[a-z]{0,6}=[`\\\\a-z]{0,2}",
            "\\PC{0,20}\\\\?",
        ], 0..40)
    ) {
        let text = lines.join("\n");
        let _ = final_base(&text, &BTreeMap::new());
    }

    /// Generated Dockerfiles (directives in any order, continuations with
    /// any whitespace after the escape character, comments and blank lines
    /// inside them, stage aliases, lowercase keywords): the resolver names
    /// the base the model does, on the same line, and refuses exactly where
    /// the model says Docker versions disagree or Docker refuses.
    #[test]
    fn from_resolver_agrees_with_a_model_of_docker(
        tops in proptest::collection::vec(top(), 0..4),
        items in proptest::collection::vec(item(), 1..10),
    ) {
        let text = render(&tops, &items);
        let plain: Vec<Top> = tops.iter().map(|t| t.1.clone()).collect();
        let want = model_base(&plain, &items);
        let got = final_base(&text, &BTreeMap::new());
        match (&want, &got) {
            (Some((image, line)), Ok(b)) => {
                prop_assert_eq!((&b.image, b.line), (image, *line), "{:?}", text);
            }
            (None, Err(_)) => {}
            _ => prop_assert!(false, "{text:?}: the model says {want:?}, the resolver {got:?}"),
        }
    }

    /// Blank and comment lines inside a continuation never change the base,
    /// and neither do more of them after any instruction.
    #[test]
    fn fillers_never_change_the_base(
        tops in proptest::collection::vec(top(), 0..3),
        items in proptest::collection::vec(item(), 1..8),
        extra in prop_oneof![Just(""), Just("# more"), Just("  \u{a0}# \\"), Just("\u{c}")],
    ) {
        let text = render(&tops, &items);
        let more: Vec<Item> = items
            .iter()
            .map(|i| match i {
                Item::User { mark, tail, fillers } => {
                    let mut fillers = fillers.clone();
                    fillers.insert(0, extra.to_string());
                    Item::User { mark: *mark, tail: tail.clone(), fillers }
                }
                other => other.clone(),
            })
            .collect();
        let padded = render(&tops, &more);
        let image = |t: &str| final_base(t, &BTreeMap::new()).map(|b| b.image).ok();
        prop_assert_eq!(image(&text), image(&padded), "{:?} / {:?}", text, padded);
    }

    #[test]
    fn alias_chains_terminate_on_an_image(refs in proptest::collection::vec(0usize..12, 1..12)) {
        // Stage i is `FROM s<refs[i]> AS s<i>`: references to earlier stages
        // are aliases, to itself or later ones are image names.
        let text: String = refs.iter().enumerate().map(|(i, r)| format!("FROM s{r} AS s{i}\n")).collect();
        let base = final_base(&text, &BTreeMap::new()).unwrap();
        let n: usize = base.image.trim_start_matches('s').parse().unwrap();
        let line = base.line - 1;
        // The named image is not an earlier stage of the FROM that names it.
        prop_assert!(n >= line, "{} names stage {} which precedes it", base.line, n);
    }

    #[test]
    fn catalog_loader_never_panics(s in "\\PC{0,200}") {
        let _ = Catalog::parse(&s);
    }

    /// Valid catalogs (every value drawn from its grammar) always load, and
    /// what loads is what was written: the assertions run on every case.
    #[test]
    fn catalog_loader_accepts_valid_catalogs_as_written(
        registry in prop_oneof!["127\\.0\\.0\\.1:[1-9][0-9]{3}", "[a-z]{1,8}\\.io/[a-z]{1,8}", "localhost:5000"],
        name in "[a-z][a-z0-9_-]{0,7}", fw in prop_oneof!["torch", "tf"],
        fv in "[1-9]\\.(0|[1-9][0-9]?)", distro in "[a-z]{3,8}", alias in "[a-z]{1,6}",
        platforms in proptest::sample::subsequence(vec!["linux/amd64", "linux/arm64", "linux/arm/v7"], 0..=3),
    ) {
        let listed = if platforms.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = platforms.iter().map(|p| format!("\"{p}\"")).collect();
            format!("platforms = [{}]\n", quoted.join(", "))
        };
        let text = format!(
            "registry = \"{registry}\"\nproduction = \"itwinai\"\ndevelopment = \"itwinai-dev\"\n[flavours.{name}]\ndockerfile = \"d\"\nframework = \"{fw}\"\nframework-version = \"{fv}\"\ndistro = \"{distro}\"\nlatest = \"{alias}-latest\"\n{listed}"
        );
        let c = Catalog::parse(&text);
        prop_assert!(c.is_ok(), "{text}: {:?}", c.err());
        let c = c.unwrap();
        let f = &c.flavours[0];
        prop_assert_eq!(&f.name, &name);
        prop_assert_eq!(f.framework.as_str(), fw.as_str());
        prop_assert_eq!(&f.framework_version, &fv);
        prop_assert_eq!(&f.distro, &distro);
        prop_assert_eq!(f.latest.clone(), Some(format!("{alias}-latest")));
        let got: Vec<String> = f.platforms.iter().map(ToString::to_string).collect();
        prop_assert_eq!(got, platforms.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        prop_assert_eq!(c.registry.to_string(), registry);
    }

    #[test]
    fn catalog_loader_on_catalog_shaped_text(
        registry in prop_oneof!["[a-zA-Z0-9.:/-]{0,20}", "[a-z]{1,8}\\.io"],
        name in "[a-zA-Z0-9_-]{0,8}", fw in prop_oneof!["[a-z]{0,5}", "torch", "tf"],
        fv in prop_oneof!["[0-9x.]{0,5}", "[1-9]\\.[0-9]"],
        distro in prop_oneof!["[a-zA-Z0-9 ]{0,8}", "[a-z]{3,8}"],
        latest in prop_oneof!["[a-z-]{0,12}", "[a-z]{1,5}-latest"],
    ) {
        let text = format!(
            "registry = \"{registry}\"\nproduction = \"itwinai\"\ndevelopment = \"itwinai-dev\"\n[flavours.{name}]\ndockerfile = \"d\"\nframework = \"{fw}\"\nframework-version = \"{fv}\"\ndistro = \"{distro}\"\nlatest = \"{latest}\"\n"
        );
        if let Ok(c) = Catalog::parse(&text) {
            let f = &c.flavours[0];
            prop_assert!(fw == "torch" || fw == "tf");
            prop_assert!(f.latest.as_deref().is_some_and(|l| l.ends_with("-latest")));
            prop_assert!(xtask::model::reference::check_distro(&f.distro).is_ok());
        }
    }

    #[test]
    fn json_never_panics_and_round_trips(s in "\\PC{0,60}") {
        let _ = Json::parse(&s);
        let v = Json::object([("k", Json::str(s.clone())), ("a", Json::Array(vec![Json::Null, Json::Bool(true)]))]);
        prop_assert_eq!(Json::parse(&v.render()).unwrap(), v);
    }
}
