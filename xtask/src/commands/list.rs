//! `image list`: every flavour, the references it builds, its variant and
//! tag format, and whether a test gates its publishing.

use anyhow::Result;

use crate::cli::ListArgs;
use crate::engine::executor::Executor;
use crate::project::catalog::Channel;
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
    // --remote: (reference, what the registry serves under it) per name.
    let mut remote_rows: Vec<[String; 4]> = Vec::new();
    let dev = Channel::Dev {
        dirty: state.dirty(),
        head: state.head,
        tag: None,
    };
    let mut json = Vec::new();
    let mut rows = Vec::new();
    let flavours: Vec<&crate::project::catalog::Flavour> = if args.flavours.is_empty() {
        catalog.flavours.iter().collect()
    } else {
        args.flavours
            .iter()
            .map(|n| catalog.flavour(n))
            .collect::<Result<_>>()?
    };
    for f in &flavours {
        let reference =
            catalog.reference(f, &project.version, &Channel::Production, &catalog.registry)?;
        let dev_reference = catalog.reference(f, &project.version, &dev, &catalog.registry)?;
        let latest = catalog.latest_reference(f, &catalog.registry)?;
        let mut remote = Vec::new();
        if args.remote {
            for (key, r) in [("reference", Some(&reference)), ("latest", latest.as_ref())] {
                let Some(r) = r else {
                    remote.push((key, Json::Null));
                    continue;
                };
                let served = exec.registry(r)?;
                let digest = served.as_ref().and_then(|s| s.digest.clone());
                remote_rows.push([
                    f.name.clone(),
                    r.to_string(),
                    if served.is_some() { "yes" } else { "no" }.to_string(),
                    digest.clone().unwrap_or_else(|| "-".into()),
                ]);
                remote.push((
                    key,
                    Json::object([
                        ("published", Json::Bool(served.is_some())),
                        ("digest", Json::opt_str(digest)),
                    ]),
                ));
            }
        }
        let problem = project.problem(f);
        let mut fields = vec![
            ("flavour", Json::str(&f.name)),
            ("problem", Json::opt_str(problem.map(str::to_string))),
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
            ("reference", Json::str(reference.to_string())),
            ("dev_reference", Json::str(dev_reference.to_string())),
            (
                "latest",
                Json::opt_str(latest.as_ref().map(|l| l.to_string())),
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
        if args.remote {
            fields.push(("remote", Json::object(remote)));
        }
        json.push(Json::object(fields));
        rows.push([
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
            reference.to_string(),
            dev_reference.to_string(),
            latest.map_or_else(|| "-".into(), |l| l.to_string()),
            f.test
                .as_ref()
                .map_or_else(|| "none".into(), |t| shell_line(&t.argv)),
            f.tag_format.as_str().to_string(),
            match problem {
                None => f.dockerfile.clone(),
                Some(_) => format!("{} (unusable, below)", f.dockerfile),
            },
        ]);
    }
    if args.json {
        crate::support::json::emit(&Json::Array(json));
    } else {
        let mut all = vec![COLUMNS.map(str::to_string)];
        all.extend(rows.iter().cloned());
        for line in super::text_table(&all) {
            crate::support::output::stdout_line(&line);
        }
        if args.remote {
            let mut all =
                vec![["FLAVOUR", "PUBLISHED REFERENCE", "PUBLISHED", "DIGEST"].map(str::to_string)];
            all.extend(remote_rows.iter().cloned());
            crate::support::output::stdout_line("");
            for line in super::text_table(&all) {
                crate::support::output::stdout_line(&line);
            }
        }
    }
    // A flavour whose Dockerfile cannot be used is listed all the same:
    // its problem says what to fix; `check` lists every problem.
    for f in &flavours {
        if let Some(why) = project.problem(f) {
            crate::support::output::stderr_line(&format!(
                "unusable: flavour '{}' (build, test, push and tag refuse it): {}",
                f.name,
                crate::support::output::printable(why)
            ));
        }
    }
    let aliases: Vec<&str> = flavours
        .iter()
        .filter_map(|f| f.latest.as_deref())
        .collect();
    let ungated: Vec<&str> = flavours
        .iter()
        .filter(|f| f.test.is_none())
        .map(|f| f.name.as_str())
        .collect();
    crate::support::output::stderr_line(&format!(
        "{} flavour{}; {} -latest alias{} declared{}{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
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
    ));
    Ok(())
}
