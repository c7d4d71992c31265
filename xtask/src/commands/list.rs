//! `image list`: every flavour, the references it builds, its variant and
//! tag format, and whether a test gates its publishing.

use anyhow::Result;

use crate::cli::ListArgs;
use crate::engine::executor::Executor;
use crate::model::reference::Reference;
use crate::project::catalog::{Channel, Flavour};
use crate::project::workspace::Workspace;
use crate::support::json::Json;
use crate::support::shell::shell_line;

/// Columns of the text table: name and value per flavour.
const COLUMNS: [&str; 9] = [
    "FLAVOUR",
    "VARIANT",
    "PLATFORMS",
    "REFERENCE",
    "DEV REFERENCE",
    "LATEST",
    "TEST",
    "TAG FORMAT",
    "DOCKERFILE",
];

/// One flavour as listed: its names, and (with --remote) what the
/// registry serves under them.
struct Entry<'a> {
    flavour: &'a Flavour,
    reference: Reference,
    dev_reference: Reference,
    latest: Option<Reference>,
    problem: Option<&'a str>,
    /// --remote: per key ("reference", "latest"), the name and its
    /// digest when the registry serves it.
    remote: Vec<(&'static str, Option<Remote>)>,
}

/// A name looked up in the registry.
struct Remote {
    reference: Reference,
    served: bool,
    digest: Option<String>,
}

pub fn run(ws: &Workspace, args: &ListArgs) -> Result<()> {
    let project = ws.load()?;
    let catalog = &project.catalog;
    let mut exec = Executor::new(&ws.sh, false, args.json);
    let state = exec.git_state()?;
    if args.remote && catalog.registry.is_local() {
        return Err(crate::support::error::invalid(
            "--remote: the registry is \"\" (local names only); set 'registry' in env-files/images.toml",
        ));
    }
    let dev = Channel::Dev {
        dirty: state.dirty(),
        head: state.head,
        tag: None,
    };
    let flavours: Vec<&Flavour> = if args.flavours.is_empty() {
        catalog.flavours.iter().collect()
    } else {
        args.flavours
            .iter()
            .map(|n| catalog.flavour(n))
            .collect::<Result<_>>()?
    };
    let mut entries = Vec::new();
    for f in &flavours {
        entries.push(entry(&mut exec, &project, f, &dev, args.remote)?);
    }
    if args.json {
        crate::support::json::emit(&Json::Array(
            entries.iter().map(|e| json_of(e, args.remote)).collect(),
        ));
    } else {
        print_tables(&entries, args.remote);
    }
    // A flavour whose Dockerfile cannot be used is listed all the same:
    // its problem says what to fix; `check` lists every problem.
    for e in &entries {
        if let Some(why) = e.problem {
            crate::support::output::stderr_line(&format!(
                "unusable: flavour '{}' (build, test, push and tag refuse it): {}",
                e.flavour.name,
                crate::support::output::printable(why)
            ));
        }
    }
    crate::support::output::stderr_line(&summary(&flavours));
    Ok(())
}

/// Gather one flavour's names (and with `remote`, what the registry
/// serves under them).
fn entry<'a>(
    exec: &mut Executor,
    project: &'a crate::project::workspace::Project,
    f: &'a Flavour,
    dev: &Channel,
    remote: bool,
) -> Result<Entry<'a>> {
    let catalog = &project.catalog;
    let reference =
        catalog.reference(f, &project.version, &Channel::Production, &catalog.registry)?;
    let dev_reference = catalog.reference(f, &project.version, dev, &catalog.registry)?;
    let latest = catalog.latest_reference(f, &catalog.registry)?;
    let mut looked_up = Vec::new();
    if remote {
        for (key, r) in [("reference", Some(&reference)), ("latest", latest.as_ref())] {
            let row = match r {
                None => None,
                Some(r) => {
                    let served = exec.registry(r)?;
                    Some(Remote {
                        reference: r.clone(),
                        served: served.is_some(),
                        digest: served.and_then(|s| s.digest),
                    })
                }
            };
            looked_up.push((key, row));
        }
    }
    Ok(Entry {
        flavour: f,
        reference,
        dev_reference,
        latest,
        problem: project.problem(f),
        remote: looked_up,
    })
}

/// `--json`: one object per flavour.
fn json_of(e: &Entry, remote: bool) -> Json {
    let f = e.flavour;
    let mut fields = vec![
        ("flavour", Json::str(&f.name)),
        ("problem", Json::opt_str(e.problem.map(str::to_string))),
        ("dockerfile", Json::str(&f.dockerfile)),
        ("variant", Json::opt_str(f.variant.clone())),
        (
            "platforms",
            Json::Array(
                f.platforms
                    .iter()
                    .map(|p| Json::str(p.to_string()))
                    .collect(),
            ),
        ),
        ("tag_format", Json::str(f.tag_format.as_str())),
        ("reference", Json::str(e.reference.to_string())),
        ("dev_reference", Json::str(e.dev_reference.to_string())),
        (
            "latest",
            Json::opt_str(e.latest.as_ref().map(ToString::to_string)),
        ),
        (
            "test",
            f.test.as_ref().map_or(Json::Null, |t| {
                Json::Array(t.argv.iter().map(Json::str).collect())
            }),
        ),
        (
            "test_entrypoint",
            Json::Bool(f.test.as_ref().is_some_and(|t| t.entrypoint)),
        ),
        (
            "test_network",
            Json::opt_str(f.test.as_ref().map(|t| t.network.as_str().to_string())),
        ),
    ];
    if remote {
        let looked_up = e.remote.iter().map(|(key, r)| {
            let value = r.as_ref().map_or(Json::Null, |r| {
                Json::object([
                    ("published", Json::Bool(r.served)),
                    ("digest", Json::opt_str(r.digest.clone())),
                ])
            });
            (*key, value)
        });
        fields.push(("remote", Json::object(looked_up)));
    }
    Json::object(fields)
}

/// The text tables: one row per flavour, then (with --remote) one per
/// name looked up.
fn print_tables(entries: &[Entry], remote: bool) {
    let mut all = vec![COLUMNS.map(str::to_string)];
    all.extend(entries.iter().map(text_row));
    for line in super::text_table(&all) {
        crate::support::output::stdout_line(&line);
    }
    if remote {
        let mut all =
            vec![["FLAVOUR", "PUBLISHED REFERENCE", "PUBLISHED", "DIGEST"].map(str::to_string)];
        for e in entries {
            for r in e.remote.iter().filter_map(|(_, r)| r.as_ref()) {
                all.push([
                    e.flavour.name.clone(),
                    r.reference.to_string(),
                    if r.served { "yes" } else { "no" }.to_string(),
                    r.digest.clone().unwrap_or_else(|| "-".into()),
                ]);
            }
        }
        crate::support::output::stdout_line("");
        for line in super::text_table(&all) {
            crate::support::output::stdout_line(&line);
        }
    }
}

fn text_row(e: &Entry) -> [String; 9] {
    let f = e.flavour;
    [
        f.name.clone(),
        f.variant.clone().unwrap_or_else(|| "-".into()),
        if f.platforms.is_empty() {
            "native".to_string()
        } else {
            f.platforms
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        },
        e.reference.to_string(),
        e.dev_reference.to_string(),
        e.latest
            .as_ref()
            .map_or_else(|| "-".into(), ToString::to_string),
        f.test
            .as_ref()
            .map_or_else(|| "none".into(), |t| shell_line(&t.argv)),
        f.tag_format.as_str().to_string(),
        match e.problem {
            None => f.dockerfile.clone(),
            Some(_) => format!("{} (unusable, below)", f.dockerfile),
        },
    ]
}

/// The closing line: how many flavours, which aliases, which are not
/// gated by a test.
fn summary(flavours: &[&Flavour]) -> String {
    let aliases: Vec<&str> = flavours
        .iter()
        .filter_map(|f| f.latest.as_deref())
        .collect();
    let ungated: Vec<&str> = flavours
        .iter()
        .filter(|f| f.test.is_none())
        .map(|f| f.name.as_str())
        .collect();
    format!(
        "{} flavour{}; {} -latest alias{} declared{}{}",
        flavours.len(),
        if flavours.len() == 1 { "" } else { "s" },
        aliases.len(),
        if aliases.len() == 1 { "" } else { "es" },
        if aliases.is_empty() {
            String::new()
        } else {
            format!(": {}", aliases.join(", "))
        },
        if ungated.is_empty() {
            String::new()
        } else {
            format!("; not gated by a test (no 'test'): {}", ungated.join(", "))
        }
    )
}
