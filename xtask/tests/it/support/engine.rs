//! The shared start of an engine test: an engine that answers, a registry
//! of its own on 127.0.0.1 that already serves the fixture bases, and a
//! workspace no other test or run shares.

use super::python::{seed_storage, BaseSpec, DEFAULT_DISTS};
use super::{catalog, dockerfile, engine_available, Registry, Workspace, PYPROJECT};

/// The bases every engine test may build on, as a seeded registry serves
/// them (`<host>/<name>:1`): one storage, made once for every test file.
pub const JAMMY: &str = "base-jammy";
pub const NOBLE: &str = "base-noble";
pub const OLD_TORCH: &str = "base-torch251";
pub const BASES: &[BaseSpec] = &[
    (JAMMY, "jammy", DEFAULT_DISTS),
    (NOBLE, "noble", DEFAULT_DISTS),
    (
        OLD_TORCH,
        "jammy",
        &[("torch", "2.5.1"), ("tensorflow", "2.16.1")],
    ),
];

/// What an engine test starts from.
pub struct EngineTest {
    pub registry: Registry,
    /// The base the workspace's Dockerfile is built on.
    pub base: String,
    pub ws: Workspace,
}

impl EngineTest {
    /// The standard one-flavour workspace (`fix`, alias `fix-latest`) on
    /// the seeded base `base_name`. `None`: no engine, and
    /// XTASK_DOCKER_TESTS=skip (without it, a missing engine fails).
    pub fn start(label: &str, base_name: &str) -> Option<EngineTest> {
        EngineTest::start_with(label, base_name, |host| catalog(host, ""))
    }

    /// As [`EngineTest::start`], with the catalog `catalog(registry host)`.
    pub fn start_with(
        label: &str,
        base_name: &str,
        catalog: impl FnOnce(&str) -> String,
    ) -> Option<EngineTest> {
        if !engine_available() {
            return None;
        }
        let registry = Registry::start_seeded(&seed_storage(BASES));
        let base = seeded_base(&registry, base_name);
        let ws = unique_workspace(label, &base, &catalog(&registry.host()));
        Some(EngineTest { registry, base, ws })
    }
}

pub fn seeded_base(registry: &Registry, name: &str) -> String {
    assert!(BASES.iter().any(|b| b.0 == name), "{name} is not seeded");
    format!("{}/{name}:1", registry.host())
}

/// A workspace with the fixture Dockerfile on `base`, `catalog` as
/// env-files/images.toml, and a `pyproject.toml` no other test or run has:
/// the seeded bases have one image ID everywhere, so without it the
/// engine's build cache could hand this test another one's COPY layer
/// (same content, another mtime, so other layer IDs).
pub fn unique_workspace(label: &str, base: &str, catalog: &str) -> Workspace {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Workspace::new(
        label,
        &[
            (
                "pyproject.toml",
                format!("{PYPROJECT}# {label} {} {now}\n", std::process::id()),
            ),
            ("env-files/images.toml", catalog.to_string()),
            ("env-files/fix/Dockerfile", copy_first_dockerfile(base)),
        ],
    )
}

/// [`dockerfile`] with its COPY right after FROM. The classic builder looks
/// a step up among the children of the previous one and takes the newest
/// match: with `ARG FRAMEWORK_VERSION` first, that child is shared by every
/// fixture build on the same base (other tests, other runs), so a rebuild
/// running beside them can miss its own COPY and make new layers. A COPY of
/// this workspace's own `pyproject.toml` first has no such twin.
pub fn copy_first_dockerfile(base: &str) -> String {
    let arg_then_copy = "ARG FRAMEWORK_VERSION\nCOPY pyproject.toml /itwinai/pyproject.toml\n";
    let text = dockerfile(base);
    assert!(text.contains(arg_then_copy), "{text}");
    text.replacen(
        arg_then_copy,
        "COPY pyproject.toml /itwinai/pyproject.toml\nARG FRAMEWORK_VERSION\n",
        1,
    )
}
