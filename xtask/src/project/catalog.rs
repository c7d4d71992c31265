//! The image catalog, `env-files/images.toml`: which flavours exist, where
//! their Dockerfiles are, and what their tags say.
//!
//! [`Catalog::parse`] checks everything that the text alone can tell (keys,
//! types, values, duplicate aliases); [`Catalog::check`] checks what needs the
//! version (duplicate production tags) and the resolved Dockerfile bases.

use std::collections::BTreeMap;

use anyhow::Result;
use toml_edit::{Item, TableLike};

use crate::model::platform::Platform;
use crate::model::reference::{
    check_distro, check_framework_version, check_tag, AnyRef, Framework, Reference, Registry,
};
use crate::model::tag_format::{self, Pattern, TagFormat, Values};
use crate::model::version::Version;
use crate::support::error::invalid;
use crate::support::tomlfile;

pub const FILE: &str = "env-files/images.toml";

const TOP_KEYS: &[&str] = &[
    "registry",
    "production",
    "development",
    "tag-format",
    "dev-hash-length",
    "test",
    "flavours",
];
const FLAVOUR_KEYS: &[&str] = &[
    "dockerfile",
    "framework",
    "framework-version",
    "framework-package",
    "distro",
    "jupyterlab",
    "variant",
    "tag-format",
    "test",
    "test-entrypoint",
    "test-network",
    "base-image",
    "latest",
    "build-args",
    "platforms",
];

/// The build arg that carries the catalog's `framework-version` into the
/// Dockerfile, so that what it installs is what the tag says.
pub const FRAMEWORK_ARG: &str = "FRAMEWORK_VERSION";

/// Build args the tool computes itself (provenance and FRAMEWORK_VERSION)
/// or the builder sets per platform (TARGET*, BUILD*); a catalog may not
/// set them.
pub fn is_reserved_arg(name: &str) -> bool {
    name == FRAMEWORK_ARG
        || crate::model::labels::PROVENANCE_ARGS.contains(&name)
        || crate::project::dockerfile::PLATFORM_ARGS.contains(&name)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub registry: Registry,
    pub production: String,
    pub development: String,
    /// Hex digits of HEAD in a default development tag.
    pub dev_hash_length: usize,
    /// In file order.
    pub flavours: Vec<Flavour>,
}

/// `dev-hash-length`: the default, and the range allowed.
pub const DEV_HASH_DEFAULT: usize = 12;
const DEV_HASH_RANGE: std::ops::RangeInclusive<usize> = 7..=40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flavour {
    pub name: String,
    /// Relative to the workspace root, as written.
    pub dockerfile: String,
    pub framework: Framework,
    pub framework_version: String,
    /// The Python distribution that holds the framework, as installed
    /// (`torch`, `tensorflow`, or e.g. `tensorflow-cpu`).
    pub framework_package: String,
    pub distro: String,
    pub jupyterlab: bool,
    /// Tells apart flavours of one framework and distro (`slim`, `skinny`).
    pub variant: Option<String>,
    /// The flavour's, else the catalog's, else the convention.
    pub tag_format: TagFormat,
    /// The test run inside the image before it is published.
    pub test: Option<Test>,
    pub base_image: Option<String>,
    /// The one `*-latest` tag this flavour may publish.
    pub latest: Option<String>,
    pub build_args: Vec<(String, String)>,
    /// The platforms it is built and published for, one image each under
    /// one index; empty: the engine's native platform, one plain image.
    pub platforms: Vec<Platform>,
}

/// A flavour's test: an argv run inside its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    pub argv: Vec<String>,
    /// Run through the image's ENTRYPOINT (`test-entrypoint = true`), as a
    /// plain `docker run IMAGE ARGV` would; else the argv is the
    /// container's process, as a CI runs tests in the image.
    pub entrypoint: bool,
    pub network: TestNetwork,
}

/// `test-network`: the network a test's container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestNetwork {
    /// No network (`--network none`): the test is hermetic.
    None,
    /// The engine's default network: for a test that needs one, which is
    /// then not hermetic.
    Default,
}

impl TestNetwork {
    pub fn as_str(self) -> &'static str {
        match self {
            TestNetwork::None => "none",
            TestNetwork::Default => "default",
        }
    }
}

impl Test {
    /// The test as a key: what it runs and how, one line without control
    /// characters (the argv is checked to hold none).
    pub fn key(&self) -> String {
        format!(
            "entrypoint={} network={} {}",
            self.entrypoint,
            self.network.as_str(),
            self.argv.join("\u{1f}")
        )
    }
}

/// Which image name a reference goes under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    Production,
    /// `head` is the 40-hex commit; `tag` an explicit tag (`--tag`);
    /// `dirty` appends `-dirty` to the default tag.
    Dev {
        head: String,
        tag: Option<String>,
        dirty: bool,
    },
}

impl Flavour {
    fn values(&self) -> Values<'_> {
        Values {
            framework: self.framework.as_str(),
            framework_version: &self.framework_version,
            distro: &self.distro,
            variant: self.variant.as_deref(),
            jupyterlab: self.jupyterlab,
        }
    }

    /// Its release tags, with the version left open.
    pub fn pattern(&self) -> Pattern {
        self.tag_format.pattern(&self.values())
    }

    pub fn production_tag(&self, version: &Version) -> String {
        self.pattern().render(&version.to_string())
    }

    /// The build args this flavour passes besides provenance:
    /// FRAMEWORK_VERSION when its Dockerfile declares it (`takes_framework`),
    /// then the catalog's `build-args`.
    pub fn build_args(&self, takes_framework: bool) -> Vec<(String, String)> {
        let mut args = Vec::new();
        if takes_framework {
            args.push((FRAMEWORK_ARG.to_string(), self.framework_version.clone()));
        }
        args.extend(self.build_args.iter().cloned());
        args
    }

    /// The framework the tag names, as the verifier looks it up.
    pub fn framework_expect(&self) -> crate::model::image::Framework {
        crate::model::image::Framework {
            package: self.framework_package.clone(),
            version: self.framework_version.clone(),
        }
    }
}

impl Catalog {
    pub fn flavour(&self, name: &str) -> Result<&Flavour> {
        self.flavours
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| {
                invalid(format!(
                    "unknown flavour '{name}'; {FILE} declares: {}",
                    self.flavour_names()
                ))
            })
    }

    pub fn flavour_names(&self) -> String {
        let names: Vec<&str> = self.flavours.iter().map(|f| f.name.as_str()).collect();
        names.join(", ")
    }

    /// `--tag` names any tag but one shaped like a default development
    /// tag (any flavour's, at any version, with as many hex digits as any
    /// `dev-hash-length` allowed) other than `flavour`'s own at
    /// this version for HEAD, clean or dirty as the tree is: such a tag
    /// promises its flavour, version and commit, test systems pull it on
    /// that promise, and `release` promotes it.
    fn no_default_of_another(
        &self,
        flavour: &Flavour,
        tag: &str,
        version: &Version,
        head: &str,
        dirty: bool,
    ) -> Result<()> {
        // A platform's local name (`<tag>-linux-arm64`) is the tag's too.
        let suffixes = self.flavours.iter().flat_map(|f| &f.platforms);
        let stripped = suffixes.filter_map(|p| p.untagged(tag));
        // Any length the catalog allows: its `dev-hash-length` may have
        // been another when older default tags were written.
        let shapes = std::iter::once(tag)
            .chain(stripped)
            .filter_map(|t| crate::model::tag_format::split_default_dev(t, DEV_HASH_RANGE));
        let own = |owner: &Flavour, at: &Version, hex: &str, says_dirty: bool| {
            owner.name == flavour.name
                && at == version
                && head.starts_with(hex)
                && says_dirty == dirty
        };
        let another = shapes
            .flat_map(|(release_tag, hex, says_dirty)| {
                let owners = self.parse_tag(release_tag).into_iter();
                owners.map(move |(owner, at)| (release_tag, hex, says_dirty, owner, at))
            })
            .find(|(_, hex, says_dirty, owner, at)| !own(owner, at, hex, *says_dirty));
        let Some((release_tag, hex, says_dirty, owner, at)) = another else {
            return Ok(());
        };
        let short = head.get(..self.dev_hash_length).unwrap_or(head);
        let now = if dirty { "-dirty" } else { "" };
        Err(invalid(format!(
            "--tag '{tag}' has the shape of flavour '{}''s default development tag for commit {hex}{} at version {at}, but this is flavour '{}' at version {version}, HEAD {short}{now}: drop --tag (the default names HEAD) or choose a tag of another shape: 7 to 40 digits 0-9a-f after a release tag read as a commit, a date or build number too, so put a word before them ('{release_tag}-nightly-{hex}')",
            owner.name,
            if says_dirty { " with uncommitted changes" } else { "" },
            flavour.name,
        )))
    }

    /// The reference a flavour is built, tagged and pushed under.
    pub fn reference(
        &self,
        flavour: &Flavour,
        version: &Version,
        channel: &Channel,
        registry: &Registry,
    ) -> Result<Reference> {
        let production_tag = flavour.production_tag(version);
        let (name, tag) = match channel {
            Channel::Production => {
                let owners: Vec<&str> = self
                    .parse_tag(&production_tag)
                    .into_iter()
                    .map(|(f, _)| f.name.as_str())
                    .collect();
                if owners != [flavour.name.as_str()] {
                    return Err(invalid(format!(
                        "{FILE}: flavour '{}': production tag '{production_tag}' parses back to the flavours [{}], not exactly to itself; change its 'tag-format' or 'variant'",
                        flavour.name,
                        owners.join(", ")
                    )));
                }
                (&self.production, production_tag)
            }
            Channel::Dev {
                tag: Some(tag),
                head,
                dirty,
            } => {
                self.no_default_of_another(flavour, tag, version, head, *dirty)?;
                (&self.development, tag.clone())
            }
            Channel::Dev {
                head,
                tag: None,
                dirty,
            } => {
                let short = head.get(..self.dev_hash_length).unwrap_or(head);
                let suffix = if *dirty { "-dirty" } else { "" };
                (
                    &self.development,
                    format!("{production_tag}-{short}{suffix}"),
                )
            }
        };
        if crate::model::reference::is_latest_tag(&tag) {
            return Err(invalid(format!(
                "flavour '{}': tag '{tag}' ends in -latest; only `image push --latest` or `image tag --latest` publish the declared alias",
                flavour.name
            )));
        }
        Reference::new(registry, name, &tag)
            .map_err(|e| invalid(format!("flavour '{}': {e}", flavour.name)))
    }

    /// The production alias reference (`<registry>/<production>:<latest>`).
    pub fn latest_reference(
        &self,
        flavour: &Flavour,
        registry: &Registry,
    ) -> Result<Option<Reference>> {
        flavour
            .latest
            .as_deref()
            .map(|alias| {
                Reference::new(registry, &self.production, alias)
                    .map_err(|e| invalid(format!("flavour '{}': {e}", flavour.name)))
            })
            .transpose()
    }

    /// The flavours whose release tags `tag` could be, and at which version:
    /// how the tool recognises its own release tags.
    pub fn parse_tag(&self, tag: &str) -> Vec<(&Flavour, Version)> {
        self.flavours
            .iter()
            .filter_map(|f| f.pattern().parse(tag).map(|v| (f, v)))
            .collect()
    }

    /// Checks that need the project version: every production tag parses
    /// back to its own flavour only, and no two flavours share one.
    pub fn check_tags(&self, version: &Version) -> Result<()> {
        match self.tag_problems(version).into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every problem [`Catalog::check_tags`] would find first.
    pub fn tag_problems(&self, version: &Version) -> Vec<anyhow::Error> {
        let mut p = Problems::default();
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for f in &self.flavours {
            if p.keep(self.reference(f, version, &Channel::Production, &self.registry))
                .is_none()
            {
                continue;
            }
            let tag = f.production_tag(version);
            // The longest default development tag: the release tag, `-`,
            // the hash, `-dirty`.
            let dev_len = tag.len() + 1 + self.dev_hash_length + "-dirty".len();
            if dev_len > 128 {
                p.push(invalid(format!(
                    "{FILE}: flavour '{}': its development tags would be {dev_len} characters long at version {version} ('{tag}' + '-' + {} hex digits + '-dirty'); Docker allows 128: shorten its 'tag-format' or lower 'dev-hash-length'",
                    f.name, self.dev_hash_length
                )));
            }
            if let Some(other) = seen.insert(tag.clone(), &f.name) {
                p.push(invalid(format!(
                    "{FILE}: flavours '{other}' and '{}' both make the production tag '{tag}'; give one a 'variant' and a 'tag-format' that uses it",
                    f.name
                )));
            }
        }
        p.0
    }

    /// Parse and check the catalog text: its first problem.
    pub fn parse(text: &str) -> Result<Catalog> {
        let (catalog, mut problems) = Catalog::parse_all(text);
        match catalog {
            Some(c) if problems.is_empty() => Ok(c),
            _ if !problems.is_empty() => Err(problems.remove(0)),
            _ => Err(invalid(format!("{FILE}: not a catalog"))),
        }
    }

    /// Parse and check the catalog text, finding every problem: each key is
    /// checked on its own, and a flavour with a problem is left out of the
    /// checks across flavours and of the catalog returned (`None` only when
    /// the top level is unusable). Use it only when the problems are empty.
    pub fn parse_all(text: &str) -> (Option<Catalog>, Vec<anyhow::Error>) {
        let doc = match tomlfile::parse(FILE, text) {
            Ok(doc) => doc,
            Err(e) => return (None, vec![e]),
        };
        let root: &dyn TableLike = doc.as_table();
        let mut r = Reader {
            text,
            problems: Problems::default(),
        };
        check_keys(&mut r.problems, root, TOP_KEYS, FILE, text, "");
        let names = r.names(root);
        let Some(table) = r.flavours_table(root) else {
            return (None, r.problems.0);
        };
        let defaults = r.defaults(root);
        let mut flavours = Vec::new();
        for (name, item) in table.iter() {
            flavours.extend(r.flavour(table, name, item, &defaults));
        }
        if table.iter().next().is_none() {
            r.problems.push(invalid(format!(
                "{FILE}: no flavours declared; add a [flavours.NAME] table"
            )));
        }
        // Problems in a flavour's keys hide what the checks across flavours
        // would find only with those keys right: run them on the rest.
        across_flavours(&mut r.problems, &mut flavours);
        let Names {
            registry: Some(registry),
            production: Some(production),
            development: Some(development),
        } = names
        else {
            return (None, r.problems.0);
        };
        // With problems, the flavours without any, for the checks that
        // read their Dockerfiles.
        let catalog = Catalog {
            registry,
            production,
            development,
            dev_hash_length: defaults.dev_hash_length,
            flavours,
        };
        (Some(catalog), r.problems.0)
    }
}

/// Problems found so far, each one line (invalid input).
#[derive(Default)]
pub struct Problems(pub Vec<anyhow::Error>);

impl Problems {
    pub fn push(&mut self, e: anyhow::Error) {
        self.0.push(e);
    }

    /// The value, or `None` with its error kept.
    pub fn keep<T>(&mut self, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }
}

/// Reads the catalog's text, keeping every problem it finds: each check
/// keeps its problem and the reading goes on. Its methods read the keys in
/// the order [`Catalog::parse_all`] reports their problems.
struct Reader<'a> {
    text: &'a str,
    problems: Problems,
}

/// The top level's names, each `None` when it has a problem.
struct Names {
    registry: Option<Registry>,
    production: Option<String>,
    development: Option<String>,
}

/// The top level's settings: `tag-format` and `test` for the flavours that
/// set none, and `dev-hash-length`.
struct Defaults {
    tag_format: TagFormat,
    test: Option<Vec<String>>,
    dev_hash_length: usize,
}

/// A `[flavours.NAME]` table being read.
struct FlavourTable<'a> {
    name: &'a str,
    t: &'a dyn TableLike,
    /// `flavour 'NAME': `, how its problems start.
    ctx: String,
    /// Its header's `file:line`, where a missing key is reported.
    at: String,
}

/// The top level.
impl Reader<'_> {
    /// `registry`, `production` and `development`, which must differ.
    fn names(&mut self, root: &dyn TableLike) -> Names {
        let registry = self.registry(root);
        let production = self.image_name(
            root,
            registry.as_ref(),
            "production",
            "the release image name, e.g. \"itwinai\"",
        );
        let development = self.image_name(
            root,
            registry.as_ref(),
            "development",
            "the development image name, e.g. \"itwinai-dev\"",
        );
        if production.is_some() && production == development {
            self.problems.push(invalid(format!(
                "{FILE}: 'production' and 'development' are both '{}'; development images must not share the release name",
                production.as_deref().unwrap_or_default()
            )));
        }
        Names {
            registry,
            production,
            development,
        }
    }

    fn registry(&mut self, root: &dyn TableLike) -> Option<Registry> {
        let text = self.problems.keep(self.required(
            root,
            "registry",
            "",
            "a registry such as \"ghcr.io/intertwin-eu\" (or \"\" for local names)",
        ))?;
        let at = root
            .get("registry")
            .map_or_else(|| FILE.to_string(), |item| self.loc(item));
        self.problems
            .keep(Registry::parse(&text).map_err(|e| invalid(format!("{at}: 'registry': {e}"))))
    }

    /// An image name: present, and one a reference can hold (under the
    /// registry, or alone when the registry has a problem).
    fn image_name(
        &mut self,
        root: &dyn TableLike,
        registry: Option<&Registry>,
        key: &str,
        what: &str,
    ) -> Option<String> {
        let name = self.problems.keep(self.required(root, key, "", what))?;
        let local = Registry::parse("").expect("the empty registry parses");
        let checked = Reference::new(registry.unwrap_or(&local), &name, "x")
            .map_err(|e| invalid(format!("{FILE}: '{key}': {e}")));
        self.problems.keep(checked).map(|_| name)
    }

    /// The `[flavours.NAME]` tables; `None` when there is no such table.
    fn flavours_table<'d>(&mut self, root: &'d dyn TableLike) -> Option<&'d dyn TableLike> {
        let Some(item) = root.get("flavours") else {
            self.problems.push(invalid(format!(
                "{FILE}: no [flavours.NAME] table; declare at least one flavour"
            )));
            return None;
        };
        let table = item.as_table_like();
        if table.is_none() {
            self.problems.push(invalid(format!(
                "{}: 'flavours' must be a table of [flavours.NAME] tables",
                self.loc(item)
            )));
        }
        table
    }

    fn defaults(&mut self, root: &dyn TableLike) -> Defaults {
        // A top-level default with a problem: flavours that would use it
        // are checked against the built-in default meanwhile.
        let tag_format = match self.problems.keep(self.tag_format(root, "")) {
            Some(Some(f)) => f,
            _ => TagFormat::parse(tag_format::DEFAULT).expect("the default tag format parses"),
        };
        let test = self.problems.keep(self.test_argv(root, "")).flatten();
        let dev_hash_length = self.dev_hash_length(root);
        Defaults {
            tag_format,
            test,
            dev_hash_length,
        }
    }

    /// `dev-hash-length`: the default when it is absent or has a problem.
    fn dev_hash_length(&mut self, root: &dyn TableLike) -> usize {
        let Some(item) = root.get("dev-hash-length") else {
            return DEV_HASH_DEFAULT;
        };
        match item.as_integer() {
            Some(n) if usize::try_from(n).is_ok_and(|n| DEV_HASH_RANGE.contains(&n)) => n as usize,
            _ => {
                self.problems.push(invalid(format!(
                    "{}: 'dev-hash-length' must be a whole number from 7 to 40, not {}",
                    self.loc(item),
                    item.to_string().trim()
                )));
                DEV_HASH_DEFAULT
            }
        }
    }
}

/// One flavour.
impl Reader<'_> {
    /// A `[flavours.NAME]` table: `None` when it has any problem, which
    /// leaves it out of the checks across flavours.
    fn flavour(
        &mut self,
        table: &dyn TableLike,
        name: &str,
        item: &Item,
        defaults: &Defaults,
    ) -> Option<Flavour> {
        let before = self.problems.0.len();
        let at = tomlfile::key_location(FILE, self.text, table.key(name));
        self.problems
            .keep(check_flavour_name(name).map_err(|e| invalid(format!("{at}: {e}"))));
        let ctx = format!("flavour '{name}': ");
        let Some(t) = item.as_table_like() else {
            self.problems.push(invalid(format!(
                "{at}: {ctx}must be a table, not a {}",
                item.type_name()
            )));
            return None;
        };
        check_keys(&mut self.problems, t, FLAVOUR_KEYS, FILE, self.text, &ctx);
        let f = FlavourTable { name, t, ctx, at };
        let flavour = self.flavour_keys(&f, defaults);
        flavour.filter(|_| self.problems.0.len() == before)
    }

    /// The flavour's keys, each read and checked on its own so that every
    /// problem is kept: `None` when any has one.
    fn flavour_keys(&mut self, f: &FlavourTable, defaults: &Defaults) -> Option<Flavour> {
        let dockerfile = self.required_key(
            f,
            "dockerfile",
            "the Dockerfile's path from the workspace root",
            check_relative_path,
        );
        let framework = self.framework(f);
        let framework_version = self.required_key(
            f,
            "framework-version",
            "the framework's x.y, e.g. \"2.4\"",
            check_framework_version,
        );
        let framework_package = self.optional_key(f, "framework-package", check_distribution_name);
        let distro = self.required_key(
            f,
            "distro",
            "the final image's OS codename, e.g. \"jammy\"",
            check_distro,
        );
        let jupyterlab = self.jupyterlab(f);
        let base_image = self.base_image(f);
        let variant = self.optional_key(f, "variant", check_variant);
        let tag_format = self
            .problems
            .keep(self.tag_format(f.t, &f.ctx))
            .map(|format| format.unwrap_or_else(|| defaults.tag_format.clone()));
        let test = self.test(f, defaults.test.as_ref());
        let latest = self.latest(f);
        let build_args = self.build_args(f);
        let platforms = self.platforms(f);
        let framework = framework?;
        Some(Flavour {
            name: f.name.to_string(),
            dockerfile: dockerfile?,
            framework_package: framework_package?
                .unwrap_or_else(|| framework.package().to_string()),
            framework,
            framework_version: framework_version?,
            distro: distro?,
            jupyterlab: jupyterlab?,
            variant: variant?,
            tag_format: tag_format?,
            test: test?,
            base_image: base_image?,
            latest: latest?,
            build_args,
            platforms: platforms?,
        })
    }

    /// A string key the flavour must set, whose value `check` accepts.
    fn required_key(
        &mut self,
        f: &FlavourTable,
        key: &str,
        what: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        let value = self.problems.keep(self.required(f.t, key, &f.ctx, what))?;
        let checked = check(&value).map_err(|e| self.key_problem(f, key, e));
        self.problems.keep(checked).map(|()| value)
    }

    /// A string key the flavour may set, whose value `check` accepts.
    fn optional_key(
        &mut self,
        f: &FlavourTable,
        key: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<Option<String>> {
        let value = self.problems.keep(self.string(f.t, key, &f.ctx))?;
        if let Some(v) = &value {
            let checked = check(v).map_err(|e| self.key_problem(f, key, e));
            self.problems.keep(checked)?;
        }
        Some(value)
    }

    fn framework(&mut self, f: &FlavourTable) -> Option<Framework> {
        let fw =
            self.problems
                .keep(self.required(f.t, "framework", &f.ctx, "\"torch\" or \"tf\""))?;
        let parsed = Framework::parse(&fw).ok_or_else(|| {
            invalid(format!(
                "{}: {}'framework' is '{fw}'; it must be \"torch\" or \"tf\"",
                self.key_at(f, "framework"),
                f.ctx
            ))
        });
        self.problems.keep(parsed)
    }

    fn jupyterlab(&mut self, f: &FlavourTable) -> Option<bool> {
        let Some(item) = f.t.get("jupyterlab") else {
            return Some(false);
        };
        let value = item.as_bool().ok_or_else(|| {
            invalid(format!(
                "{}: {}'jupyterlab' must be true or false, not a {}",
                self.loc(item),
                f.ctx,
                item.type_name()
            ))
        });
        self.problems.keep(value)
    }

    /// `base-image`: a reference with a digest to record (not scratch).
    fn base_image(&mut self, f: &FlavourTable) -> Option<Option<String>> {
        let base = self.problems.keep(self.string(f.t, "base-image", &f.ctx))?;
        if let Some(b) = &base {
            let at = self.key_at(f, "base-image");
            let ctx = &f.ctx;
            match AnyRef::parse(b) {
                Err(e) => {
                    self.problems
                        .push(invalid(format!("{at}: {ctx}'base-image': {e}")));
                    return None;
                }
                Ok(r) if r.is_scratch() => {
                    self.problems.push(invalid(format!(
                        "{at}: {ctx}'base-image' is scratch, which has no digest to record"
                    )));
                    return None;
                }
                Ok(_) => {}
            }
        }
        Some(base)
    }

    /// `test`, the flavour's or else the catalog's, and how it runs.
    fn test(&mut self, f: &FlavourTable, default: Option<&Vec<String>>) -> Option<Option<Test>> {
        let argv = self.problems.keep(self.test_argv(f.t, &f.ctx))?;
        let argv = argv.or_else(|| default.cloned());
        let test = test_of_flavour(f.t, &f.ctx, argv, &|key| self.key_at(f, key));
        self.problems.keep(test)
    }

    /// `latest`: a tag ending in -latest.
    fn latest(&mut self, f: &FlavourTable) -> Option<Option<String>> {
        let latest = self.problems.keep(self.string(f.t, "latest", &f.ctx))?;
        if let Some(l) = &latest {
            let at = self.key_at(f, "latest");
            let (ctx, name) = (&f.ctx, f.name);
            match check_tag(l) {
                Err(e) => {
                    self.problems
                        .push(invalid(format!("{at}: {ctx}'latest': {e}")));
                    return None;
                }
                Ok(()) if !l.ends_with("-latest") => {
                    self.problems.push(invalid(format!(
                        "{at}: {ctx}'latest' is '{l}'; an alias must end in -latest (e.g. \"{name}-latest\")"
                    )));
                    return None;
                }
                Ok(()) => {}
            }
        }
        Some(latest)
    }

    /// `build-args`: each entry checked on its own, at its own line.
    fn build_args(&mut self, f: &FlavourTable) -> Vec<(String, String)> {
        let mut build_args = Vec::new();
        let Some(item) = f.t.get("build-args") else {
            return build_args;
        };
        let ctx = &f.ctx;
        let Some(args) = item.as_table_like() else {
            self.problems.push(invalid(format!(
                "{}: {ctx}'build-args' must be a table of strings",
                self.loc(item)
            )));
            return build_args;
        };
        for (k, v) in args.iter() {
            let entry = tomlfile::key_location(FILE, self.text, args.key(k));
            self.problems.keep(
                check_arg_name(k).map_err(|e| invalid(format!("{entry}: {ctx}build-args: {e}"))),
            );
            let Some(v) = v.as_str() else {
                self.problems.push(invalid(format!(
                    "{entry}: {ctx}build-args.{k} must be a string, not a {}",
                    v.type_name()
                )));
                continue;
            };
            self.problems.keep(
                check_arg_value(v)
                    .map_err(|e| invalid(format!("{entry}: {ctx}build-args.{k} {e}"))),
            );
            build_args.push((k.to_string(), v.to_string()));
        }
        build_args
    }

    fn platforms(&mut self, f: &FlavourTable) -> Option<Vec<Platform>> {
        let Some(item) = f.t.get("platforms") else {
            return Some(Vec::new());
        };
        let platforms = platforms_of(item)
            .map_err(|e| invalid(format!("{}: {}'platforms' {e}", self.loc(item), f.ctx)));
        self.problems.keep(platforms)
    }
}

/// Reading values, each problem one line with the value's `file:line`.
impl Reader<'_> {
    /// A value's `file:line`.
    fn loc(&self, item: &Item) -> String {
        tomlfile::item_location(FILE, self.text, item)
    }

    /// The `file:line` of a flavour's key, or of its header when the key
    /// is missing.
    fn key_at(&self, f: &FlavourTable, key: &str) -> String {
        f.t.get(key)
            .map_or_else(|| f.at.clone(), |item| self.loc(item))
    }

    /// A problem with the value of a flavour's key.
    fn key_problem(&self, f: &FlavourTable, key: &str, e: String) -> anyhow::Error {
        invalid(format!("{}: {}'{key}' {e}", self.key_at(f, key), f.ctx))
    }

    /// A string key: `None` when it is absent. `ctx` starts the problem's
    /// text (`flavour 'NAME': `, or empty at the top level).
    fn string(&self, t: &dyn TableLike, key: &str, ctx: &str) -> Result<Option<String>> {
        let Some(item) = t.get(key) else {
            return Ok(None);
        };
        match item.as_str() {
            Some(s) => Ok(Some(s.to_string())),
            None => Err(invalid(format!(
                "{}: {ctx}'{key}' must be a string, not a {}",
                self.loc(item),
                item.type_name()
            ))),
        }
    }

    /// A string key that must be set; `what` says what to set it to.
    fn required(&self, t: &dyn TableLike, key: &str, ctx: &str, what: &str) -> Result<String> {
        self.string(t, key, ctx)?
            .ok_or_else(|| invalid(format!("{FILE}: {ctx}'{key}' is missing; set it to {what}")))
    }

    /// `tag-format`, at the top level or in a flavour.
    fn tag_format(&self, t: &dyn TableLike, ctx: &str) -> Result<Option<TagFormat>> {
        let Some(text) = self.string(t, "tag-format", ctx)? else {
            return Ok(None);
        };
        TagFormat::parse(&text).map(Some).map_err(|e| {
            let at = t
                .get("tag-format")
                .map_or_else(|| FILE.to_string(), |item| self.loc(item));
            invalid(format!("{at}: {ctx}'tag-format' {e}"))
        })
    }

    /// `test`, at the top level or in a flavour: its argv.
    fn test_argv(&self, t: &dyn TableLike, ctx: &str) -> Result<Option<Vec<String>>> {
        let Some(item) = t.get("test") else {
            return Ok(None);
        };
        test_argv(item, &self.loc(item), ctx).map(Some)
    }
}

/// `test = ["python3", "-m", "pytest"]`: an argv of printable words, the
/// first naming the program. `at` is the value's `file:line`.
fn test_argv(item: &Item, at: &str, ctx: &str) -> Result<Vec<String>> {
    let words = item.as_array().ok_or_else(|| {
        invalid(format!(
            "{at}: {ctx}'test' must be a list of strings (an argv, e.g. [\"python3\", \"-m\", \"pytest\"]), not a {}",
            item.type_name()
        ))
    })?;
    let mut argv = Vec::new();
    for w in words.iter() {
        let w = w
            .as_str()
            .ok_or_else(|| invalid(format!("{at}: {ctx}'test' must hold only strings")))?;
        check_test_word(w).map_err(|e| invalid(format!("{at}: {ctx}'test': {e}")))?;
        argv.push(w.to_string());
    }
    if argv.is_empty() {
        return Err(invalid(format!(
            "{at}: {ctx}'test' is empty; name the program to run inside the image, or remove the key"
        )));
    }
    if argv[0].is_empty() {
        return Err(invalid(format!(
            "{at}: {ctx}'test' starts with an empty word; the first word is the program to run"
        )));
    }
    if argv[0].starts_with('-') {
        return Err(invalid(format!(
            "{at}: {ctx}'test' starts with '{}'; the first word is the program to run",
            argv[0]
        )));
    }
    Ok(argv)
}

/// A flavour's test: its argv (its own or the catalog's) and how it runs
/// (`test-entrypoint`, `test-network`), which need a test.
fn test_of_flavour(
    t: &dyn TableLike,
    ctx: &str,
    argv: Option<Vec<String>>,
    key_at: &dyn Fn(&str) -> String,
) -> Result<Option<Test>> {
    let entrypoint = match t.get("test-entrypoint") {
        None => false,
        Some(item) => item.as_bool().ok_or_else(|| {
            invalid(format!(
                "{}: {ctx}'test-entrypoint' must be true or false, not a {}",
                key_at("test-entrypoint"),
                item.type_name()
            ))
        })?,
    };
    let network = match t.get("test-network") {
        None => TestNetwork::None,
        Some(item) => match item.as_str() {
            Some("none") => TestNetwork::None,
            Some("default") => TestNetwork::Default,
            _ => {
                return Err(invalid(format!(
                    "{}: {ctx}'test-network' must be \"none\" (the default: no network) or \"default\" (the engine's default network), not {}",
                    key_at("test-network"),
                    item.to_string().trim()
                )))
            }
        },
    };
    let Some(argv) = argv else {
        for key in ["test-entrypoint", "test-network"] {
            if t.get(key).is_some() {
                return Err(invalid(format!(
                    "{}: {ctx}'{key}' says how the test runs, but there is no 'test'; add one or remove the key",
                    key_at(key)
                )));
            }
        }
        return Ok(None);
    };
    Ok(Some(Test {
        argv,
        entrypoint,
        network,
    }))
}

/// `platforms = ["linux/amd64", "linux/arm64"]`: each `os/arch[/variant]`,
/// each once, at least one.
fn platforms_of(item: &Item) -> Result<Vec<Platform>, String> {
    let list = item.as_array().ok_or_else(|| {
        format!(
            "must be a list of platforms, e.g. [\"linux/amd64\", \"linux/arm64\"], not a {}",
            item.type_name()
        )
    })?;
    let mut out: Vec<Platform> = Vec::new();
    for v in list.iter() {
        let s = v
            .as_str()
            .ok_or_else(|| format!("must hold only strings, not a {}", v.type_name()))?;
        let p = Platform::parse(s)?;
        if out.contains(&p) {
            return Err(format!("lists '{p}' twice"));
        }
        out.push(p);
    }
    if out.is_empty() {
        return Err("is empty; list the platforms, or remove the key for the engine's own".into());
    }
    Ok(out)
}

fn check_keys(
    p: &mut Problems,
    t: &dyn TableLike,
    known: &[&str],
    file: &str,
    text: &str,
    ctx: &str,
) {
    for (key, _) in t.iter() {
        if !known.contains(&key) {
            let at = tomlfile::key_location(file, text, t.key(key));
            p.push(invalid(format!(
                "{at}: {ctx}unknown key '{key}'; known keys: {}",
                known.join(", ")
            )));
        }
    }
}

/// The checks across flavours, on the flavours without a problem of their
/// own: each tag format fits its flavour (a flavour whose format does not
/// is left out of the rest), no two flavours make one release tag, no
/// release tag is the local name of a platform's image, no alias is shared.
fn across_flavours(p: &mut Problems, flavours: &mut Vec<Flavour>) {
    flavours.retain(|f| {
        p.keep(
            f.tag_format
                .check_for(&f.values())
                .map_err(|e| invalid(format!("{FILE}: flavour '{}': 'tag-format' {e}", f.name))),
        )
        .is_some()
    });
    p.0.extend(release_tag_collisions(flavours));
    p.0.extend(platform_name_collisions(flavours));
    p.0.extend(shared_aliases(flavours));
}

/// Pairs of flavours that make the same release tag, at one version or at
/// two different ones (so that a tag could not be told apart).
fn release_tag_collisions(flavours: &[Flavour]) -> Vec<anyhow::Error> {
    let mut problems = Vec::new();
    for (i, a) in flavours.iter().enumerate() {
        for b in &flavours[i + 1..] {
            if let Some(v) = tag_format::collision(&a.pattern(), &b.pattern()) {
                let when = if v == "every version" {
                    format!("for every version (e.g. '{}')", a.pattern().render("1.0.0"))
                } else {
                    format!("at version {v} ('{}')", a.pattern().render(&v))
                };
                problems.push(invalid(format!(
                    "{FILE}: flavours '{}' and '{}' make the same release tag {when}; give one a 'variant' and a 'tag-format' that uses it",
                    a.name, b.name
                )));
            } else if let Some((v, w)) = tag_format::cross_collision(&a.pattern(), &b.pattern()) {
                problems.push(invalid(format!(
                    "{FILE}: flavours '{}' and '{}' make the same release tag at different versions: '{}' is '{}' at {v} and '{}' at {w}, so it could not be told apart; give one a 'variant' and a 'tag-format' that keeps them apart",
                    a.name,
                    b.name,
                    a.pattern().render(&v),
                    a.name,
                    b.name
                )));
            }
        }
    }
    problems
}

/// Flavours whose release tags end like the local name of a platform's
/// image (`<tag>-linux-arm64`) of a flavour.
fn platform_name_collisions(flavours: &[Flavour]) -> Vec<anyhow::Error> {
    let mut problems = Vec::new();
    for a in flavours {
        for platform in &a.platforms {
            let pattern = a.pattern();
            let local = Pattern {
                prefix: pattern.prefix.clone(),
                suffix: platform.tagged(&pattern.suffix),
            };
            for b in flavours {
                let same = tag_format::collision(&local, &b.pattern()).is_some()
                    || tag_format::cross_collision(&local, &b.pattern()).is_some();
                if same {
                    problems.push(invalid(format!(
                        "{FILE}: flavour '{}' makes release tags that end like the local name of flavour '{}''s {platform} image ('{}'); change its 'tag-format'",
                        b.name,
                        a.name,
                        local.render("1.0.0")
                    )));
                }
            }
        }
    }
    problems
}

/// `-latest` aliases declared by more than one flavour.
fn shared_aliases(flavours: &[Flavour]) -> Vec<anyhow::Error> {
    let mut problems = Vec::new();
    let mut aliases: BTreeMap<&str, &str> = BTreeMap::new();
    for f in flavours {
        if let Some(l) = &f.latest {
            if let Some(other) = aliases.insert(l, &f.name) {
                problems.push(invalid(format!(
                    "{FILE}: flavours '{other}' and '{}' both declare the alias '{l}'; each -latest alias belongs to one flavour",
                    f.name
                )));
            }
        }
    }
    problems
}

/// The longest build-arg value: far below Linux's 128 KiB per argument, so
/// that the whole argv of a build stays within the system's limit.
const MAX_ARG_VALUE: usize = 16 * 1024;

/// A build-arg value reaches docker's argv and the image's labels: no NUL
/// (an argv cannot hold one), no control character (it would split or
/// colour what is printed), and not so long that the argv would not fit.
fn check_arg_value(v: &str) -> Result<(), String> {
    if let Some(c) = v.chars().find(|c| c.is_control()) {
        return Err(format!(
            "contains {}; a build arg holds printable text only",
            crate::model::reference::describe_char(c)
        ));
    }
    if v.len() > MAX_ARG_VALUE {
        return Err(format!(
            "is {} bytes long; at most {MAX_ARG_VALUE} are allowed (pass large data as a file in the build context)",
            v.len()
        ));
    }
    Ok(())
}

/// `[a-z0-9][a-z0-9_-]*`: flavour names are typed on command lines.
fn check_flavour_name(name: &str) -> Result<(), String> {
    if name.len() > 64 {
        return Err(format!(
            "flavour name '{}…' is {} characters long; at most 64 are allowed",
            name.chars().take(20).collect::<String>(),
            name.len()
        ));
    }
    let ok = name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "flavour name '{name}' must be lowercase letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

/// `[a-z0-9]+`: a variant appears in tags.
fn check_variant(v: &str) -> Result<(), String> {
    if !v.is_empty()
        && v.len() <= 32
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(format!(
            "'{v}' must be lowercase letters and digits (e.g. \"slim\")"
        ))
    }
}

/// A word of a test argv: no NUL or other control character, at most 4096 bytes.
fn check_test_word(w: &str) -> Result<(), String> {
    if let Some(c) = w.chars().find(|c| c.is_control()) {
        return Err(format!("a word holds the control character {c:?}"));
    }
    if w.len() > 4096 {
        return Err(format!("a word is {} bytes long; at most 4096", w.len()));
    }
    Ok(())
}

/// A Python distribution name as PEP 508 allows it: letters, digits and
/// `.`, `_`, `-`, starting and ending with a letter or digit.
fn check_distribution_name(name: &str) -> Result<(), String> {
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let ok = name.len() <= 100
        && ends_ok(name.chars().next())
        && ends_ok(name.chars().last())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a Python distribution name (letters, digits, '.', '_', '-'), e.g. \"tensorflow-cpu\""
        ))
    }
}

fn check_arg_name(name: &str) -> Result<(), String> {
    if !crate::project::dockerfile::is_arg_name(name) {
        return Err(format!("'{name}' is not a valid ARG name"));
    }
    if is_reserved_arg(name) {
        return Err(format!(
            "'{name}' is computed by the tool (or set by the builder per platform) and cannot be set here{}",
            if name == "BASE_IMG_NAME" {
                " (use 'base-image')"
            } else {
                ""
            }
        ));
    }
    Ok(())
}

/// A path inside the workspace, written relative: no root, no `..`.
pub fn check_relative_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("is empty".into());
    }
    if p.starts_with('/') || p.starts_with('\\') {
        return Err(format!(
            "'{p}' is absolute; write it relative to the workspace root"
        ));
    }
    if p.split(['/', '\\']).any(|c| c == "..") {
        return Err(format!(
            "'{p}' leaves the workspace ('..'); keep Dockerfiles inside it"
        ));
    }
    if p.starts_with('-') {
        return Err(format!("'{p}' starts with '-'"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn build_arg_values_fit_an_argv_and_print_cleanly() {
        assert!(check_arg_value("plain value, with spaces = and 'quotes'").is_ok());
        assert!(check_arg_value(&"x".repeat(MAX_ARG_VALUE)).is_ok());
        assert!(check_arg_value(&"x".repeat(MAX_ARG_VALUE + 1))
            .unwrap_err()
            .contains("bytes long"));
        for bad in ["a\0b", "a\nb", "a\u{1b}[31m", "a\rb", "bell\u{7}"] {
            assert!(
                check_arg_value(bad).unwrap_err().contains("contains"),
                "{bad:?}"
            );
        }
    }

    /// Only the first word names the program (docker would read a leading
    /// `-` as its own option); later words are the program's to read.
    #[test]
    fn test_argv_is_an_argv_naming_a_program() {
        let ok = |words: &[&str]| Ok(words.iter().map(|w| w.to_string()).collect());
        let cases: &[(&str, Result<Vec<String>, &str>)] = &[
            (r#"["python3", "-m", "pytest"]"#, ok(&["python3", "-m", "pytest"])),
            (r#"["run", "-x", ""]"#, ok(&["run", "-x", ""])),
            (r#""pytest""#, Err("'test' must be a list of strings (an argv, e.g. [\"python3\", \"-m\", \"pytest\"]), not a string")),
            ("[]", Err("'test' is empty; name the program to run inside the image, or remove the key")),
            (r#"[""]"#, Err("'test' starts with an empty word; the first word is the program to run")),
            (r#"["-x", "y"]"#, Err("'test' starts with '-x'; the first word is the program to run")),
            (r#"["--rm"]"#, Err("'test' starts with '--rm'; the first word is the program to run")),
            (r#"["python3", 1]"#, Err("'test' must hold only strings")),
            (r#"["python3", "a\nb"]"#, Err("'test': a word holds the control character '\\n'")),
            (r#"["python3", "a\u0000"]"#, Err("'test': a word holds the control character '\\0'")),
        ];
        for (value, want) in cases {
            let text = format!("test = {value}\n");
            let doc = tomlfile::parse("f", &text).unwrap();
            let item = doc.get("test").unwrap();
            let got = test_argv(item, "f:1", "flavour 'a': ").map_err(|e| format!("{e:#}"));
            let want = want
                .clone()
                .map_err(|msg| format!("f:1: flavour 'a': {msg}"));
            assert_eq!(got, want, "{value}");
        }
    }

    #[test]
    fn parse_all_finds_every_problem_of_every_key_and_flavour() {
        let text = "registry = \"ghcr.io/intertwin-eu\"\nproduction = \"itwinai\"\ndevelopment = \"itwinai\"\ndev-hash-length = 3\n\n\
            [flavours.a]\ndockerfile = \"/abs/Dockerfile\"\nframework = \"jax\"\nframework-version = \"2\"\ndistro = \"jammy\"\nlatest = \"a-newest\"\n\n\
            [flavours.b]\ndockerfile = \"b/Dockerfile\"\nframework = \"torch\"\nframework-version = \"2.6\"\ndistro = \"jammy\"\nlatest = \"b-latest\"\n\n\
            [flavours.c]\ndockerfile = \"c/Dockerfile\"\nframework = \"torch\"\nframework-version = \"2.6\"\ndistro = \"jammy\"\nlatest = \"b-latest\"\n";
        let (catalog, problems) = Catalog::parse_all(text);
        let lines: Vec<String> = problems.iter().map(|e| format!("{e:#}")).collect();
        let starts = [
            "env-files/images.toml: 'production' and 'development' are both 'itwinai'",
            "env-files/images.toml:4: 'dev-hash-length'",
            "env-files/images.toml:7: flavour 'a': 'dockerfile'",
            "env-files/images.toml:8: flavour 'a': 'framework' is 'jax'",
            "env-files/images.toml:9: flavour 'a': 'framework-version'",
            "env-files/images.toml:11: flavour 'a': 'latest' is 'a-newest'",
            "env-files/images.toml: flavours 'b' and 'c' make the same release tag",
            "env-files/images.toml: flavours 'b' and 'c' both declare the alias 'b-latest'",
        ];
        assert_eq!(lines.len(), starts.len(), "{lines:#?}");
        for (line, start) in lines.iter().zip(starts) {
            assert!(
                line.starts_with(start),
                "{line:?} should start with {start:?}"
            );
        }
        // The flavours without a problem of their own are kept.
        let names: Vec<&str> = catalog
            .iter()
            .flat_map(|c| &c.flavours)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["b", "c"]);
        // parse: the first problem.
        assert_eq!(format!("{:#}", Catalog::parse(text).unwrap_err()), lines[0]);
    }

    pub const SAMPLE: &str = r#"registry = "ghcr.io/intertwin-eu"
production = "itwinai"
development = "itwinai-dev"

[flavours.torch]
dockerfile = "env-files/torch/Dockerfile"
framework = "torch"
framework-version = "2.4"
distro = "jammy"
base-image = "nvcr.io/nvidia/pytorch:24.05-py3"
latest = "torch-latest"
build-args = { EXTRA = "value" }

[flavours.jlab]
dockerfile = "env-files/jlab/Dockerfile"
framework = "torch"
framework-version = "2.4"
distro = "jammy"
jupyterlab = true
"#;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn parses_the_sample() {
        let c = Catalog::parse(SAMPLE).unwrap();
        assert_eq!(c.registry.to_string(), "ghcr.io/intertwin-eu");
        assert_eq!(c.flavour_names(), "torch, jlab");
        let torch = c.flavour("torch").unwrap();
        assert_eq!(
            torch.build_args,
            vec![("EXTRA".to_string(), "value".to_string())]
        );
        assert_eq!(torch.latest.as_deref(), Some("torch-latest"));
        assert!(!torch.jupyterlab);
        assert!(c.flavour("jlab").unwrap().jupyterlab);
        c.check_tags(&v("0.2.2")).unwrap();
    }

    #[test]
    fn a_tag_shaped_like_a_platform_image_of_another_default_is_refused() {
        let text = SAMPLE.replace(
            "jupyterlab = true\n",
            "jupyterlab = true\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n",
        );
        let c = Catalog::parse(&text).unwrap();
        let torch = c.flavour("torch").unwrap();
        let head = "0123456789abcdef0123456789abcdef01234567";
        let short = &head[..12];
        let cases = [
            (
                format!("jlab-0.2.2-torch2.4-jammy-{short}-linux-arm64"),
                false,
            ),
            (
                "0.2.2-torch2.4-jammy-fedcba987654-linux-amd64".to_string(),
                false,
            ),
            (format!("0.2.2-torch2.4-jammy-{short}-linux-arm64"), true),
            ("mine-linux-arm64".to_string(), true),
        ];
        for (tag, ok) in cases {
            let channel = Channel::Dev {
                head: head.to_string(),
                tag: Some(tag.clone()),
                dirty: false,
            };
            let got = c.reference(torch, &v("0.2.2"), &channel, &c.registry);
            assert_eq!(got.is_ok(), ok, "{tag}: {got:?}");
        }
    }

    #[test]
    fn references_for_each_channel() {
        let c = Catalog::parse(SAMPLE).unwrap();
        let torch = c.flavour("torch").unwrap();
        let jlab = c.flavour("jlab").unwrap();
        let head = "0123456789abcdef0123456789abcdef01234567".to_string();
        let reg = c.registry.clone();
        let r = |f, ch: &Channel| c.reference(f, &v("0.2.2"), ch, &reg).map(|r| r.to_string());
        assert_eq!(
            r(torch, &Channel::Production).unwrap(),
            "ghcr.io/intertwin-eu/itwinai:0.2.2-torch2.4-jammy"
        );
        assert_eq!(
            r(jlab, &Channel::Production).unwrap(),
            "ghcr.io/intertwin-eu/itwinai:jlab-0.2.2-torch2.4-jammy"
        );
        assert_eq!(
            r(
                torch,
                &Channel::Dev {
                    head: head.clone(),
                    tag: None,
                    dirty: false
                }
            )
            .unwrap(),
            "ghcr.io/intertwin-eu/itwinai-dev:0.2.2-torch2.4-jammy-0123456789ab"
        );
        assert_eq!(
            r(
                torch,
                &Channel::Dev {
                    head: head.clone(),
                    tag: None,
                    dirty: true
                }
            )
            .unwrap(),
            "ghcr.io/intertwin-eu/itwinai-dev:0.2.2-torch2.4-jammy-0123456789ab-dirty"
        );
        assert_eq!(
            r(
                torch,
                &Channel::Dev {
                    head: head.clone(),
                    tag: Some("mine".into()),
                    dirty: true
                }
            )
            .unwrap(),
            "ghcr.io/intertwin-eu/itwinai-dev:mine"
        );
        // A hand-given tag shaped like a default development tag must be
        // this flavour's at this version for HEAD, clean or dirty as the
        // tree is (any flavour's shape, any version's).
        let short = &head[..12];
        let other = "fedcba987654";
        let dev_tag = |tag: String, dirty: bool| {
            r(
                torch,
                &Channel::Dev {
                    head: head.clone(),
                    tag: Some(tag),
                    dirty,
                },
            )
        };
        let cases = [
            (format!("0.2.2-torch2.4-jammy-{short}"), false, true),
            (format!("0.2.2-torch2.4-jammy-{short}-dirty"), true, true),
            (format!("0.2.2-torch2.4-jammy-{short}-dirty"), false, false),
            (format!("0.2.2-torch2.4-jammy-{short}"), true, false),
            (format!("0.2.2-torch2.4-jammy-{other}"), false, false),
            (format!("jlab-0.2.2-torch2.4-jammy-{other}"), false, false),
            // Any length a `dev-hash-length` may have (7 to 40): HEAD's
            // own at another length is HEAD's still.
            (format!("0.2.2-torch2.4-jammy-{other}0"), false, false),
            (
                format!("0.2.2-torch2.4-jammy-{}", &other[..7]),
                false,
                false,
            ),
            (format!("0.2.2-torch2.4-jammy-{head}"), false, true),
            (format!("0.2.2-torch2.4-jammy-{}", &other[..6]), false, true),
            (format!("0.2.2-torch2.4-jammy-{head}0"), false, true),
            (
                format!("0.2.2-torch2.4-jammy-{}", other.to_uppercase()),
                false,
                true,
            ),
            // Another version's (the tag promises that version too).
            (format!("0.2.1-torch2.4-jammy-{other}"), false, false),
            (format!("0.2.1-torch2.4-jammy-{short}"), false, false),
            // Another flavour's, even HEAD's: it would hold this one's build.
            (format!("jlab-0.2.2-torch2.4-jammy-{short}"), false, false),
            (format!("0.2.2-torch2.4-jammy-{other}-mine"), false, true),
        ];
        for (tag, dirty, ok) in cases {
            let got = dev_tag(tag.clone(), dirty);
            assert_eq!(got.is_ok(), ok, "{tag} dirty={dirty}: {got:?}");
            if let Err(e) = got {
                assert!(e.to_string().contains("has the shape of flavour"), "{e}");
            }
        }
        for bad in ["x-latest", "-x", "a b", &"a".repeat(129)] {
            assert!(
                r(
                    torch,
                    &Channel::Dev {
                        head: head.clone(),
                        tag: Some(bad.into()),
                        dirty: false
                    }
                )
                .is_err(),
                "{bad}"
            );
        }
        let local = Registry::parse("").unwrap();
        assert_eq!(
            c.reference(torch, &v("0.2.2"), &Channel::Production, &local)
                .unwrap()
                .to_string(),
            "itwinai:0.2.2-torch2.4-jammy"
        );
        assert_eq!(
            c.latest_reference(torch, &reg)
                .unwrap()
                .unwrap()
                .to_string(),
            "ghcr.io/intertwin-eu/itwinai:torch-latest"
        );
        assert_eq!(c.latest_reference(jlab, &reg).unwrap(), None);
    }

    #[test]
    fn refusals_name_file_flavour_and_key() {
        let replace = |from: &str, to: &str| SAMPLE.replacen(from, to, 1);
        let cases: Vec<(String, &str)> = vec![
            ("x = = 1".into(), "not valid TOML"),
            (
                replace(
                    "distro = \"jammy\"\nbase",
                    "distro = \"jammy\"\ncolour = 1\nbase",
                ),
                "images.toml:10: flavour 'torch': unknown key 'colour'",
            ),
            (format!("{SAMPLE}\nextra = 1\n"), "unknown key"),
            (
                replace("framework = \"torch\"", "framework = \"jax\""),
                "'framework' is 'jax'",
            ),
            (
                replace("\"2.4\"", "\"2\""),
                "'framework-version' '2' is not of the form x.y",
            ),
            (
                replace("\"2.4\"", "\"2.6.1\""),
                "'framework-version' '2.6.1'",
            ),
            (replace("\"2.4\"", "\"x.y\""), "'framework-version' 'x.y'"),
            (
                replace("\"2.4\"", "2.4"),
                "'framework-version' must be a string, not a float",
            ),
            (
                replace("distro = \"jammy\"", "distro = \"Jammy\""),
                "'distro' 'Jammy'",
            ),
            (
                replace("distro = \"jammy\"", "distro = \"jammy jellyfish\""),
                "'distro' 'jammy jellyfish'",
            ),
            (
                replace("jupyterlab = true", "jupyterlab = \"yes\""),
                "'jupyterlab' must be true or false",
            ),
            (
                replace("env-files/torch/Dockerfile", "../outside/Dockerfile"),
                "leaves the workspace",
            ),
            (
                replace("env-files/torch/Dockerfile", "/etc/Dockerfile"),
                "is absolute",
            ),
            (
                replace("\"torch-latest\"", "\"torch-newest\""),
                "must end in -latest",
            ),
            (
                replace("\"torch-latest\"", "\"bad tag-latest\""),
                "'latest': tag 'bad tag-latest'",
            ),
            (
                replace(
                    "jupyterlab = true",
                    "jupyterlab = true\nlatest = \"torch-latest\"",
                ),
                "both declare the alias 'torch-latest'",
            ),
            (
                replace("ghcr.io/intertwin-eu", "GHCR.io/intertwin-eu"),
                "must be lowercase",
            ),
            (
                replace("ghcr.io/intertwin-eu", "ghcr.io:99999/x"),
                "bad port",
            ),
            (
                replace("production = \"itwinai\"", "production = \"ItwinAI\""),
                "'production'",
            ),
            (replace("itwinai-dev", "itwinai"), "both 'itwinai'"),
            (
                replace("nvcr.io/nvidia/pytorch:24.05-py3", "scratch"),
                "'base-image' is scratch",
            ),
            (
                replace("nvcr.io/nvidia/pytorch:24.05-py3", "Bad Image"),
                "'base-image'",
            ),
            (
                replace("EXTRA = \"value\"", "COMMIT_HASH = \"x\""),
                "computed by the tool",
            ),
            (
                replace("EXTRA = \"value\"", "EXTRA = 1"),
                "build-args.EXTRA must be a string",
            ),
            (
                replace("EXTRA = \"value\"", "FRAMEWORK_VERSION = \"2.5\""),
                "computed by the tool",
            ),
            (
                replace("[flavours.jlab]", "[flavours.-jlab]"),
                "flavour name '-jlab'",
            ),
            (
                replace("[flavours.jlab]", "[flavours.JLab]"),
                "flavour name 'JLab'",
            ),
            (
                replace("registry = \"ghcr.io/intertwin-eu\"\n", ""),
                "'registry' is missing",
            ),
            (
                replace("registry = \"ghcr.io/intertwin-eu\"", "registry = 5"),
                "'registry' must be a string",
            ),
            (
                "registry = \"\"\nproduction = \"a\"\ndevelopment = \"b\"\n".into(),
                "no [flavours.NAME] table",
            ),
            (
                "registry = \"\"\nproduction = \"a\"\ndevelopment = \"b\"\n[flavours]\n".into(),
                "no flavours declared",
            ),
            (
                "registry = \"\"\nproduction = \"a\"\ndevelopment = \"b\"\nflavours = 3\n".into(),
                "'flavours' must be a table",
            ),
        ];
        for (text, want) in cases {
            let err = Catalog::parse(&text).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains(want), "want {want:?} in {msg:?}");
            assert!(msg.starts_with(FILE), "{msg}");
            assert_eq!(crate::support::error::exit_code(&err), 2);
        }
    }

    #[test]
    fn colliding_formats_are_refused_for_every_version() {
        let text = SAMPLE.replace("jupyterlab = true", "jupyterlab = false");
        let msg = format!("{:#}", Catalog::parse(&text).unwrap_err());
        assert!(
            msg.contains("flavours 'torch' and 'jlab' make the same release tag for every version (e.g. '1.0.0-torch2.4-jammy')"),
            "{msg}"
        );
        // Variants tell them apart; a variant the format does not use does not.
        let variants = text
            .replace("[flavours.jlab]", "[flavours.jlab]\nvariant = \"slim\"\ntag-format = \"{version}-{variant}-{framework}{framework-version}-{distro}\"");
        let c = Catalog::parse(&variants).unwrap();
        c.check_tags(&v("0.2.2")).unwrap();
        let jlab = c.flavour("jlab").unwrap();
        assert_eq!(
            jlab.production_tag(&v("0.2.2")),
            "0.2.2-slim-torch2.4-jammy"
        );
        let found: Vec<(&str, String)> = c
            .parse_tag("0.2.2-slim-torch2.4-jammy")
            .into_iter()
            .map(|(f, v)| (f.name.as_str(), v.to_string()))
            .collect();
        assert_eq!(found, [("jlab", "0.2.2".to_string())]);
        assert!(c
            .parse_tag("0.2.2-slim-torch2.4-jammy-0123456789ab")
            .is_empty());
        let unused = text.replace("[flavours.jlab]", "[flavours.jlab]\nvariant = \"slim\"");
        let msg = format!("{:#}", Catalog::parse(&unused).unwrap_err());
        assert!(
            msg.contains(
                "flavour 'jlab': 'tag-format' the flavour's variant 'slim' does not appear"
            ),
            "{msg}"
        );
    }

    #[test]
    fn errors_name_the_line_of_the_key() {
        let text = "registry = \"\"\nproduction = \"a\"\ndevelopment = \"b\"\n\n[flavours.fix]\ndockerfile = \"d\"\nframework = \"torch\"\nframework-version = \"2.6\"\ndistro = \"Jammy\"\n";
        let msg = format!("{:#}", Catalog::parse(text).unwrap_err());
        assert!(msg.starts_with("env-files/images.toml:9:"), "{msg}");
        let text = text.replace("Jammy", "jammy")
            + "latest = \"fix-newest\"\n[flavours.fix.build-args]\nA = \"1\"\nCOMMIT_HASH = \"x\"\n";
        let msg = format!("{:#}", Catalog::parse(&text).unwrap_err());
        assert!(msg.starts_with("env-files/images.toml:10:"), "{msg}");
        let text = text.replace("fix-newest", "fix-latest");
        let msg = format!("{:#}", Catalog::parse(&text).unwrap_err());
        assert!(msg.starts_with("env-files/images.toml:13:"), "{msg}");
    }

    #[test]
    fn dev_hash_length() {
        let head = "0123456789abcdef0123456789abcdef01234567".to_string();
        let dev = Channel::Dev {
            head: head.clone(),
            tag: None,
            dirty: false,
        };
        for (line, want) in [
            ("", 12),
            ("dev-hash-length = 40\n", 40),
            ("dev-hash-length = 7\n", 7),
        ] {
            let c = Catalog::parse(&format!("{line}{SAMPLE}")).unwrap();
            let torch = c.flavour("torch").unwrap();
            let r = c
                .reference(torch, &v("0.2.2"), &dev, &c.registry)
                .unwrap()
                .to_string();
            assert!(r.ends_with(&format!("-jammy-{}", &head[..want])), "{r}");
        }
        for bad in ["6", "41", "\"12\"", "12.0"] {
            let msg = format!(
                "{:#}",
                Catalog::parse(&format!("dev-hash-length = {bad}\n{SAMPLE}")).unwrap_err()
            );
            assert!(
                msg.contains("'dev-hash-length' must be a whole number from 7 to 40"),
                "{msg}"
            );
        }
    }
}
