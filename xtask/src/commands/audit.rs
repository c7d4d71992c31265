//! `image audit`: what CVMFS unpacks from the production repository (every
//! `*-latest` tag), read from the registry itself, each tag judged by the
//! rules of `audit.rs`.

use anyhow::Result;

use crate::cli::AuditArgs;
use crate::engine::executor::Executor;
use crate::model::reference::{Reference, Registry};
use crate::project::workspace::Workspace;
use crate::rules::audit;
use crate::support::error::invalid;
use crate::support::json::Json;

/// The newest release version per flavour, from the listed tags.
type Newest = std::collections::BTreeMap<String, crate::model::version::Version>;

/// One `*-latest` tag as read and judged.
pub(super) struct Row {
    reference: Reference,
    digest: Option<String>,
    pub(super) version: Option<String>,
    judged: audit::Judged,
    pub(super) finding: Option<String>,
}

pub fn run(ws: &Workspace, args: &AuditArgs) -> Result<()> {
    let project = ws.load()?;
    let catalog = &project.catalog;
    let registry = match &args.registry {
        Some(r) => Registry::parse(r).map_err(|e| invalid(format!("--registry '{r}': {e}")))?,
        None => catalog.registry.clone(),
    };
    if registry.is_local() {
        return Err(invalid(
            "the registry is \"\" (local names only); set 'registry' in env-files/images.toml or pass --registry to audit one",
        ));
    }
    // The production repository (the tag is only a placeholder).
    let repository = Reference::new(&registry, &catalog.production, "latest")
        .map_err(|e| invalid(format!("{}: {e}", crate::project::catalog::FILE)))?;
    let page = page_size()?;
    let mut exec = Executor::new(&ws.sh, false, args.json);
    let tags = exec.read_tags(&repository, page)?;
    let newest = audit::newest_releases(catalog, &tags);
    let mut rows = Vec::new();
    for tag in audit::unpacked(&tags) {
        rows.extend(read_one(&mut exec, catalog, &repository, tag, &newest)?);
    }
    let missing: Vec<String> = catalog
        .flavours
        .iter()
        .filter_map(|f| f.latest.as_ref().map(|l| (f, l)))
        .filter(|(_, l)| !rows.iter().any(|r| r.judged.tag == **l))
        .map(|(f, l)| format!("{l} (flavour '{}')", f.name))
        .collect();

    if args.json {
        let doc = rows.iter().map(|r| json_of(r, &newest)).collect();
        crate::support::json::emit(&Json::Array(doc));
    } else {
        print_table(&rows);
    }
    crate::support::output::stderr_line(&format!(
        "{}: {} tag{}, {} of them *-latest (what CVMFS unpacks); declared in the catalog and not published: {}",
        repository.repository(),
        tags.len(),
        if tags.len() == 1 { "" } else { "s" },
        rows.len(),
        if missing.is_empty() {
            "none".to_string()
        } else {
            missing.join(", ")
        }
    ));
    let findings: Vec<&String> = rows.iter().filter_map(|r| r.finding.as_ref()).collect();
    for f in &findings {
        crate::support::output::stderr_line(&format!(
            "finding: {}",
            crate::support::output::printable(f)
        ));
    }
    if !findings.is_empty() {
        anyhow::bail!(
            "{} of the {} *-latest tags of {} need attention (above)",
            findings.len(),
            rows.len(),
            repository.repository()
        );
    }
    Ok(())
}

/// How many tags a page of the tag list asks for (XTASK_TAGS_PAGE_SIZE).
pub(super) fn page_size() -> Result<u32> {
    crate::oci::distribution::page_size(std::env::var("XTASK_TAGS_PAGE_SIZE").ok().as_deref())
        .map_err(invalid)
}

/// Read one listed tag and judge it; None when it is gone meanwhile.
pub(super) fn read_one(
    exec: &mut Executor,
    catalog: &crate::project::catalog::Catalog,
    repository: &Reference,
    tag: &str,
    newest: &Newest,
) -> Result<Option<Row>> {
    let reference = repository
        .with_tag(tag)
        .map_err(|e| anyhow::anyhow!("the registry lists the tag {tag:?}: {e}"))?;
    let Some(remote) = exec.registry(&reference)? else {
        crate::support::output::note(&format!(
            "{reference} was listed but is gone (deleted meanwhile?); it is not audited"
        ));
        return Ok(None);
    };
    let label = exec.remote_version(&reference, &remote)?;
    let judged = audit::judge(catalog, tag, &label, newest);
    let version = label.ok().flatten();
    let finding = audit::finding(&reference.to_string(), &judged, version.as_deref());
    Ok(Some(Row {
        digest: remote.digest.clone(),
        reference,
        version,
        judged,
        finding,
    }))
}

fn json_of(r: &Row, newest: &Newest) -> Json {
    let newest_release = r
        .judged
        .declared_by
        .as_ref()
        .and_then(|f| newest.get(f))
        .map(ToString::to_string);
    Json::object([
        ("tag", Json::str(&r.judged.tag)),
        ("reference", Json::str(r.reference.to_string())),
        ("declared_by", Json::opt_str(r.judged.declared_by.clone())),
        ("version", Json::opt_str(r.version.clone())),
        ("digest", Json::opt_str(r.digest.clone())),
        ("newest_release", Json::opt_str(newest_release)),
        ("status", Json::str(r.judged.status.as_str())),
        ("finding", Json::opt_str(r.finding.clone())),
    ])
}

fn print_table(rows: &[Row]) {
    let mut lines = vec![[
        "TAG".to_string(),
        "DECLARED BY".into(),
        "VERSION".into(),
        "STATUS".into(),
        "DIGEST".into(),
    ]];
    // What the registry sent never reaches the terminal raw.
    let cell = |v: &Option<String>| {
        v.as_deref()
            .map_or_else(|| "-".to_string(), crate::support::output::printable)
    };
    for r in rows {
        lines.push([
            crate::support::output::printable(&r.judged.tag),
            cell(&r.judged.declared_by),
            cell(&r.version),
            r.judged.status.as_str().to_string(),
            cell(&r.digest),
        ]);
    }
    for line in super::text_table(&lines) {
        crate::support::output::stdout_line(&line);
    }
}
