//! `image list`: every flavour and the references it builds.

use anyhow::Result;

use crate::catalog::Channel;
use crate::cli::ListArgs;
use crate::executor::Executor;
use crate::json::Json;
use crate::workspace::Workspace;

pub fn run(ws: &Workspace, args: &ListArgs) -> Result<()> {
    let project = ws.load()?;
    let catalog = &project.catalog;
    let state = Executor::new(&ws.sh, false, args.json).git_state()?;
    let dev = Channel::Dev {
        dirty: state.dirty(),
        head: state.head,
        tag: None,
    };
    let mut rows = Vec::new();
    for f in &catalog.flavours {
        let reference =
            catalog.reference(f, &project.version, &Channel::Production, &catalog.registry)?;
        let dev_reference = catalog.reference(f, &project.version, &dev, &catalog.registry)?;
        let latest = catalog.latest_reference(f, &catalog.registry)?;
        rows.push((
            f,
            reference.to_string(),
            dev_reference.to_string(),
            latest.map(|l| l.to_string()),
        ));
    }
    let aliases: Vec<&str> = catalog
        .flavours
        .iter()
        .filter_map(|f| f.latest.as_deref())
        .collect();
    if args.json {
        let items = rows
            .iter()
            .map(|(f, r, d, l)| {
                Json::object([
                    ("flavour", Json::str(&f.name)),
                    ("dockerfile", Json::str(&f.dockerfile)),
                    ("reference", Json::str(r)),
                    ("dev_reference", Json::str(d)),
                    ("latest", Json::opt_str(l.clone())),
                ])
            })
            .collect();
        println!("{}", Json::Array(items).render());
    } else {
        let header = ["FLAVOUR", "REFERENCE", "LATEST", "DOCKERFILE"];
        let table: Vec<[String; 4]> = rows
            .iter()
            .map(|(f, r, _, l)| {
                [
                    f.name.clone(),
                    r.clone(),
                    l.clone().unwrap_or_else(|| "-".into()),
                    f.dockerfile.clone(),
                ]
            })
            .collect();
        let width = |i: usize| {
            table
                .iter()
                .map(|row| row[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        };
        let widths = [width(0), width(1), width(2)];
        let line = |cols: [&str; 4]| {
            format!(
                "{:w0$}  {:w1$}  {:w2$}  {}",
                cols[0],
                cols[1],
                cols[2],
                cols[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            )
        };
        println!("{}", line(header));
        for row in &table {
            println!("{}", line([&row[0], &row[1], &row[2], &row[3]]).trim_end());
        }
        for (f, _, d, _) in &rows {
            eprintln!("dev reference of {}: {d}", f.name);
        }
    }
    eprintln!(
        "{} flavours; {} -latest alias{} declared{}",
        rows.len(),
        aliases.len(),
        if aliases.len() == 1 { "" } else { "es" },
        if aliases.is_empty() {
            String::new()
        } else {
            format!(": {}", aliases.join(", "))
        }
    );
    Ok(())
}
