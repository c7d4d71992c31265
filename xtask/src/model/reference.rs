//! Image references and the tag convention.
//!
//! Grammar (Docker's `distribution/reference`):
//! `[host[:port]/]path[:tag][@algo:hex]`, path components lowercase
//! `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`, tag
//! `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, whole name at most 255 characters.
//!
//! Convention for production tags: `[jlab-]X.Y.Z-(torch|tf)x.y-distro`.

use std::fmt;

const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// Where images go: `host[:port][/namespace...]`, or empty for local names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Registry(String);

impl Registry {
    pub fn parse(s: &str) -> Result<Registry, String> {
        if s.is_empty() {
            return Ok(Registry(String::new()));
        }
        let (host, path) = match s.split_once('/') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        check_host(host)?;
        // Docker's own rule: only such a first component names a host.
        if !(host.contains('.') || host.contains(':') || host == "localhost") {
            return Err(format!(
                "'{host}' is not a registry host to docker (no '.', no port, not localhost): it would push to Docker Hub under '{s}'; write docker.io/{s} for Docker Hub"
            ));
        }
        if let Some(path) = path {
            check_path(path)?;
        }
        Ok(Registry(s.to_string()))
    }

    pub fn is_local(&self) -> bool {
        self.0.is_empty()
    }

    /// `host[:port]`, the registry's own part.
    pub fn host(&self) -> &str {
        self.0.split('/').next().unwrap_or("")
    }

    /// `127.0.0.0/8`, `localhost` or `[::1]` (with or without a port): the
    /// registries Docker itself talks to over plain HTTP.
    pub fn is_loopback(&self) -> bool {
        crate::model::remote::is_loopback_host(self.0.split('/').next().unwrap_or(""))
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fully specified reference that this tool builds, tags or pushes:
/// registry, repository name and tag, all validated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    registry: Registry,
    name: String,
    tag: String,
}

impl Reference {
    pub fn new(registry: &Registry, name: &str, tag: &str) -> Result<Reference, String> {
        check_path(name).map_err(|e| format!("image name '{name}': {e}"))?;
        check_tag(tag)?;
        let r = Reference {
            registry: registry.clone(),
            name: name.to_string(),
            tag: tag.to_string(),
        };
        if r.repository().len() > MAX_NAME_LEN {
            return Err(format!(
                "repository '{}' is longer than {MAX_NAME_LEN} characters",
                r.repository()
            ));
        }
        Ok(r)
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The same registry and name under another tag.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, String> {
        Reference::new(&self.registry, &self.name, tag)
    }

    /// The same registry and tag under another repository name.
    pub fn with_name(&self, name: &str) -> Result<Reference, String> {
        Reference::new(&self.registry, name, &self.tag)
    }

    /// The name of one platform's image of a multi-platform reference: its
    /// tag followed by `-os-arch[-variant]`
    /// (`…:0.4.2-skinny-torch2.6-noble-linux-arm64`). The local engine
    /// keeps each platform's image under it (it cannot hold an index), and
    /// the development repository stages it there before the index is
    /// written.
    pub fn for_platform(&self, p: &crate::model::platform::Platform) -> Result<Reference, String> {
        self.with_tag(&p.tagged(&self.tag))
    }

    /// The repository's name inside its registry, as the distribution API
    /// names it (`intertwin-eu/itwinai` for `ghcr.io/intertwin-eu/itwinai`).
    pub fn api_name(&self) -> String {
        match self.registry.0.split_once('/') {
            Some((_, namespace)) => format!("{namespace}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// `registry/name` (or `name` for local images).
    pub fn repository(&self) -> String {
        if self.registry.is_local() {
            self.name.clone()
        } else {
            format!("{}/{}", self.registry, self.name)
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository(), self.tag)
    }
}

impl fmt::Display for AnyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.domain {
            write!(f, "{d}/")?;
        }
        f.write_str(&self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl From<&Reference> for AnyRef {
    /// The same name, without parsing it back from its text.
    fn from(r: &Reference) -> AnyRef {
        let (domain, path) = if r.registry.is_local() {
            (None, r.name.clone())
        } else {
            (Some(r.registry.host().to_string()), r.api_name())
        };
        AnyRef {
            domain,
            path,
            tag: Some(r.tag.clone()),
            digest: None,
        }
    }
}

impl Reference {
    /// The reference `r` names, when it is one this tool can write to: a
    /// registry host, a repository, a tag, no digest.
    pub fn from_any(r: &AnyRef) -> Result<Reference, String> {
        let domain = r
            .domain
            .as_deref()
            .ok_or_else(|| format!("'{r}' names no registry host"))?;
        let tag = r
            .tag
            .as_deref()
            .filter(|_| r.digest.is_none())
            .ok_or_else(|| format!("'{r}' must name a tag, not a digest"))?;
        let (namespace, name) = match r.path.rsplit_once('/') {
            Some((ns, name)) => (format!("{domain}/{ns}"), name),
            None => (domain.to_string(), r.path.as_str()),
        };
        Reference::new(&Registry::parse(&namespace)?, name, tag)
    }
}

/// Any reference, as written in a FROM line or on the command line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnyRef {
    /// `host[:port]` when the first component names a registry host.
    pub domain: Option<String>,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl AnyRef {
    pub fn parse(s: &str) -> Result<AnyRef, String> {
        if s.is_empty() {
            return Err("empty image reference".into());
        }
        if s.starts_with('-') {
            return Err(format!("image reference '{s}' starts with '-'"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                check_digest(d)?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag)?;
        }
        if name.len() > MAX_NAME_LEN {
            return Err(format!(
                "repository in '{s}' is longer than {MAX_NAME_LEN} characters"
            ));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, p))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                check_host(first)?;
                (Some(first.to_string()), p)
            }
            _ => (None, name),
        };
        check_path(path).map_err(|e| format!("image reference '{s}': {e}"))?;
        Ok(AnyRef {
            domain,
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// One platform's image of a multi-platform tag, named as
    /// [`Reference::for_platform`] names it (`…:TAG-linux-arm64`).
    pub fn for_platform(&self, p: &crate::model::platform::Platform) -> Result<AnyRef, String> {
        let tag = self
            .tag
            .as_ref()
            .filter(|_| self.digest.is_none())
            .ok_or_else(|| format!("'{self}' names no tag to add -{} to", p.tag_suffix()))?;
        let tag = p.tagged(tag);
        check_tag(&tag)?;
        Ok(AnyRef {
            tag: Some(tag),
            ..self.clone()
        })
    }

    /// The repository as `docker inspect` spells it in RepoDigests: Docker
    /// Hub names in their familiar form (`ubuntu`, `user/app`).
    pub fn familiar_repository(&self) -> String {
        match self.domain.as_deref() {
            None | Some("docker.io") | Some("index.docker.io") => self
                .path
                .strip_prefix("library/")
                .filter(|p| !p.contains('/'))
                .unwrap_or(&self.path)
                .to_string(),
            Some(d) => format!("{d}/{}", self.path),
        }
    }

    /// Its registry host and its repository's name in that registry's API:
    /// Docker Hub for a name without a host, whose official images are
    /// `library/<name>` there.
    pub fn api_location(&self) -> (String, String) {
        match self.domain.as_deref() {
            None | Some("docker.io") | Some("index.docker.io") => {
                let name = if self.path.contains('/') {
                    self.path.clone()
                } else {
                    format!("library/{}", self.path)
                };
                ("docker.io".to_string(), name)
            }
            Some(d) => (d.to_string(), self.path.clone()),
        }
    }

    /// `scratch`: Docker's empty pseudo-image, which has no digest.
    pub fn is_scratch(&self) -> bool {
        self.domain.is_none() && self.path == "scratch"
    }
}

/// `<repository>@sha256:<64 hex>`, as RepoDigests and BASE_IMG_DIGEST hold it.
pub fn check_repo_digest(s: &str) -> Result<(), String> {
    let (repo, digest) = s
        .split_once('@')
        .ok_or_else(|| format!("'{s}' is not of the form repository@sha256:<64 hex>"))?;
    AnyRef::parse(repo).map_err(|e| format!("'{s}': {e}"))?;
    check_sha256(digest).map_err(|e| format!("'{s}': {e}"))
}

pub use crate::support::digest::check_sha256;

fn check_digest(d: &str) -> Result<(), String> {
    let (algo, hex) = d
        .split_once(':')
        .ok_or_else(|| format!("digest '{d}' has no algorithm"))?;
    let algo_ok = !algo.is_empty()
        && algo
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
    let hex_ok = hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if algo_ok && hex_ok {
        Ok(())
    } else {
        Err(format!("digest '{d}' is not valid"))
    }
}

/// A tag by Docker's grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
/// A character as a message names it: `a newline`, `a space`,
/// `the control character U+001B`, `'+'`.
pub fn describe_char(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        ' ' => "a space".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("'{c}'"),
    }
}

pub fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    if bytes.is_empty() {
        return Err("tag is empty".into());
    }
    if bytes.len() > MAX_TAG_LEN {
        return Err(format!(
            "tag '{tag}' is {} characters long; at most {MAX_TAG_LEN} are allowed",
            bytes.len()
        ));
    }
    if !word(bytes[0]) {
        return Err(format!(
            "tag '{tag}' must start with a letter, digit or '_'"
        ));
    }
    if let Some(c) = tag
        .chars()
        .find(|&c| !(c.is_ascii() && (word(c as u8) || c == '.' || c == '-')))
    {
        return Err(format!(
            "tag '{tag}' contains {}; tags may hold only letters, digits, '_', '.' and '-'",
            describe_char(c)
        ));
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    if let Some(port) = port {
        let ok = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !ok {
            return Err(format!("registry host '{host}' has a bad port '{port}'"));
        }
    }
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    if name.is_empty() || !name.split('.').all(component_ok) {
        return Err(format!("registry host '{host}' is not a valid host name"));
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("registry host '{host}' must be lowercase"));
    }
    Ok(())
}

/// `component('/'component)*`, each `[a-z0-9]+` joined by separators
/// `.`, `_`, `__` or one or more `-`.
fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("repository path is empty".into());
    }
    for comp in path.split('/') {
        check_component(comp).map_err(|why| format!("repository path '{path}': {why}"))?;
    }
    Ok(())
}

fn check_component(comp: &str) -> Result<(), String> {
    if comp.is_empty() {
        return Err("empty path component".into());
    }
    if comp.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("'{comp}' must be lowercase"));
    }
    let b = comp.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(format!(
            "'{comp}' must start and end with a lowercase letter or digit"
        ));
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &comp[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return Err(format!(
                "'{comp}' has the separator '{sep}'; only '.', '_', '__' or '-' runs"
            ));
        }
    }
    Ok(())
}

/// The ML framework a flavour ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    Torch,
    Tf,
}

impl Framework {
    pub fn parse(s: &str) -> Option<Framework> {
        match s {
            "torch" => Some(Framework::Torch),
            "tf" => Some(Framework::Tf),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Torch => "torch",
            Framework::Tf => "tf",
        }
    }

    /// The Python distribution that installs it, unless the catalog's
    /// `framework-package` names another.
    pub fn package(self) -> &'static str {
        match self {
            Framework::Torch => "torch",
            Framework::Tf => "tensorflow",
        }
    }
}

/// `x.y`: two non-negative integers without leading zeros.
pub fn check_framework_version(s: &str) -> Result<(), String> {
    let num = |p: &str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p == "0" || !p.starts_with('0'))
            && p.len() <= 6
    };
    match s.split_once('.') {
        Some((x, y)) if num(x) && num(y) => Ok(()),
        _ => Err(format!("'{s}' is not of the form x.y (for example 2.4)")),
    }
}

/// An OS codename: lowercase letters and digits, starting with a letter.
pub fn check_distro(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    if !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(format!(
            "'{s}' is not an OS codename (lowercase letters and digits, for example jammy)"
        ))
    }
}

/// Aliases mirrored to CVMFS end in `-latest`.
pub fn is_latest_tag(tag: &str) -> bool {
    tag.ends_with("-latest") || tag == "latest"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_the_any_ref_its_text_parses_to() {
        for (registry, name, tag) in [
            ("", "itwinai", "0.4.2-torch2.6-noble"),
            ("ghcr.io/intertwin-eu", "itwinai-dev", "abc"),
            ("127.0.0.1:5000", "d", "1-linux-arm64"),
            ("localhost/ns/sub", "x", "1"),
        ] {
            let r = Reference::new(&Registry::parse(registry).unwrap(), name, tag).unwrap();
            assert_eq!(
                AnyRef::from(&r),
                AnyRef::parse(&r.to_string()).unwrap(),
                "{r}"
            );
            assert_eq!(AnyRef::from(&r).to_string(), r.to_string());
            if !r.registry().is_local() {
                assert_eq!(Reference::from_any(&AnyRef::from(&r)).as_ref(), Ok(&r));
            }
        }
    }

    #[test]
    fn a_registry_starts_with_what_docker_reads_as_a_host() {
        for ok in [
            "ghcr.io/intertwin-eu",
            "localhost",
            "127.0.0.1:5000",
            "r:5000/ns",
        ] {
            assert!(Registry::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["intertwin-eu", "myreg/ns"] {
            let e = Registry::parse(bad).unwrap_err();
            assert!(e.contains("Docker Hub"), "{bad}: {e}");
        }
    }

    #[test]
    fn tags_by_docker_grammar() {
        let long_ok = "a".repeat(128);
        let long_bad = "a".repeat(129);
        let cases: &[(&str, bool)] = &[
            ("0.2.2-torch2.6-jammy", true),
            ("jlab-0.2.2-tf2.16-jammy", true),
            ("_x", true),
            ("A.b-C_d", true),
            (&long_ok, true),
            ("", false),
            (&long_bad, false),
            ("-x", false),
            (".x", false),
            ("a+b", false),
            ("a/b", false),
            ("a:b", false),
            ("a b", false),
            ("é", false),
        ];
        for (tag, ok) in cases {
            assert_eq!(check_tag(tag).is_ok(), *ok, "tag {tag:?}");
        }
    }

    #[test]
    fn registries() {
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("ghcr.io/intertwin-eu", true),
            ("127.0.0.1:5000", true),
            ("localhost:5000/a/b", true),
            ("registry.example.com", true),
            ("GHCR.io/x", false),
            ("ghcr.io/Intertwin", false),
            ("ghcr.io:99999", false),
            ("ghcr.io:", false),
            ("ghcr.io:x1", false),
            ("ghcr.io//x", false),
            ("-ghcr.io", false),
            ("ghcr.io/x/", false),
        ];
        for (reg, ok) in cases {
            assert_eq!(Registry::parse(reg).is_ok(), *ok, "registry {reg:?}");
        }
    }

    #[test]
    fn references_render() {
        let reg = Registry::parse("ghcr.io/intertwin-eu").unwrap();
        let r = Reference::new(&reg, "itwinai", "0.2.2-torch2.6-jammy").unwrap();
        assert_eq!(
            r.to_string(),
            "ghcr.io/intertwin-eu/itwinai:0.2.2-torch2.6-jammy"
        );
        assert_eq!(r.repository(), "ghcr.io/intertwin-eu/itwinai");
        let local = Reference::new(&Registry::parse("").unwrap(), "itwinai", "t").unwrap();
        assert_eq!(local.to_string(), "itwinai:t");
        assert!(Reference::new(&reg, "ItwinAI", "t").is_err());
        assert!(Reference::new(&reg, "itwinai", "-t").is_err());
    }

    #[test]
    fn any_reference_parsing() {
        let r = AnyRef::parse("nvcr.io/nvidia/pytorch:24.05-py3").unwrap();
        assert_eq!(r.domain.as_deref(), Some("nvcr.io"));
        assert_eq!(r.path, "nvidia/pytorch");
        assert_eq!(r.tag.as_deref(), Some("24.05-py3"));
        assert_eq!(r.familiar_repository(), "nvcr.io/nvidia/pytorch");

        let r = AnyRef::parse("localhost:5000/base").unwrap();
        assert_eq!(r.domain.as_deref(), Some("localhost:5000"));
        assert_eq!(r.tag, None);

        let r = AnyRef::parse("127.0.0.1:5000/base:1@sha256:".to_string().as_str());
        assert!(r.is_err());

        let d = format!("sha256:{}", "a".repeat(64));
        let r = AnyRef::parse(&format!("ubuntu:22.04@{d}")).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.familiar_repository(), "ubuntu");
        assert_eq!(
            AnyRef::parse("docker.io/library/ubuntu")
                .unwrap()
                .familiar_repository(),
            "ubuntu"
        );
        assert_eq!(
            AnyRef::parse("docker.io/user/app")
                .unwrap()
                .familiar_repository(),
            "user/app"
        );
        assert!(AnyRef::parse("scratch").unwrap().is_scratch());
        for bad in [
            "",
            "-x",
            "Ubuntu",
            "ubuntu:",
            "ubuntu:-x",
            "a//b",
            "ubuntu@sha256",
        ] {
            assert!(AnyRef::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn repo_digests() {
        let hex = "0123456789abcdef".repeat(4);
        assert!(check_repo_digest(&format!("ubuntu@sha256:{hex}")).is_ok());
        assert!(check_repo_digest(&format!("127.0.0.1:5000/b@sha256:{hex}")).is_ok());
        assert!(check_repo_digest("").is_err());
        assert!(check_repo_digest("ubuntu").is_err());
        assert!(check_repo_digest("ubuntu@sha256:abc").is_err());
        assert!(check_repo_digest(&format!("ubuntu@sha256:{}", hex.to_uppercase())).is_err());
        assert!(check_repo_digest("<no value>").is_err());
    }

    #[test]
    fn framework_versions_and_distros() {
        for ok in ["2.4", "2.16", "0.1", "10.0"] {
            assert!(check_framework_version(ok).is_ok(), "{ok}");
        }
        for bad in ["2", "2.6.1", "x.y", "02.4", "2.", ".4", ""] {
            assert!(check_framework_version(bad).is_err(), "{bad}");
        }
        for ok in ["jammy", "noble", "bookworm", "ubi9"] {
            assert!(check_distro(ok).is_ok(), "{ok}");
        }
        for bad in ["Jammy", "jammy jellyfish", "", "9x", "a-b"] {
            assert!(check_distro(bad).is_err(), "{bad}");
        }
        assert!(is_latest_tag("torch-latest"));
        assert!(is_latest_tag("latest"));
        assert!(!is_latest_tag("latest-torch"));
    }
}
