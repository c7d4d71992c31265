//! The corpus of bad input: each case is a fixture edit, arguments and
//! environment, the expected exit code and a fragment of the one-line
//! message, and for every case the proof (a recording fake docker) that no
//! docker command ran beyond the read-only probes (`buildx version`, the
//! engine's platform).
//!
//! docs/refusals.md's "What it refuses" list is generated from this table:
//! `XTASK_BLESS=1 cargo test --test it refusals::` rewrites it; the test fails
//! when the two differ.

use crate::support::*;

const REG: &str = "127.0.0.1:5999";
const BASE: &str = "127.0.0.1:5999/base:1";
const CATALOG: &str = "env-files/images.toml";
const PY: &str = "pyproject.toml";
const DF: &str = "env-files/fix/Dockerfile";

/// How the standard fixture is changed before the run.
#[derive(Clone, Copy)]
enum Edit {
    /// Replace the whole file.
    Write(&'static str, &'static str),
    /// Replace the first occurrence of a string.
    Replace(&'static str, &'static str, &'static str),
    /// Append to the file.
    Append(&'static str, &'static str),
    Remove(&'static str),
    /// A symlink at the path pointing at the target.
    Symlink(&'static str, &'static str),
    NoGit,
    NoCommit,
    Dirty,
    Detached,
    Shallow,
}

struct Case {
    area: &'static str,
    what: &'static str,
    edits: &'static [Edit],
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    code: i32,
    want: &'static str,
}

const BUILD: &[&str] = &["image", "build", "fix", "--dry-run"];
const LIST: &[&str] = &["image", "list"];
const TF_FLAVOUR: &str = "\n[flavours.tf]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"tf\"\nframework-version = \"2.16\"\ndistro = \"jammy\"\n";
const SECOND_FLAVOUR: &str = "\n[flavours.two]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"torch\"\nframework-version = \"2.6\"\ndistro = \"jammy\"\n";

use Edit::*;

const CASES: &[Case] = &[
    // pyproject.toml
    Case { area: "pyproject.toml", what: "missing", edits: &[Remove(PY)], args: LIST, env: &[], code: 2, want: "pyproject.toml: No such file" },
    Case { area: "pyproject.toml", what: "not TOML", edits: &[Write(PY, "[project\nversion = 1")], args: LIST, env: &[], code: 2, want: "pyproject.toml:1:9: not valid TOML" },
    Case { area: "pyproject.toml", what: "no [project]", edits: &[Write(PY, "[tool.x]\na = 1\n")], args: LIST, env: &[], code: 2, want: "no [project] table" },
    Case { area: "pyproject.toml", what: "no version", edits: &[Write(PY, "[project]\nname = \"itwinai\"\n")], args: LIST, env: &[], code: 2, want: "[project].version is missing" },
    Case { area: "pyproject.toml", what: "dynamic version", edits: &[Write(PY, "[project]\nname = \"itwinai\"\ndynamic = [\"version\"]\n")], args: LIST, env: &[], code: 2, want: "[project].dynamic lists \"version\"" },
    Case { area: "pyproject.toml", what: "version not a string", edits: &[Write(PY, "[project]\nversion = 1.0\n")], args: LIST, env: &[], code: 2, want: "[project].version is a float, not a string" },
    Case { area: "pyproject.toml", what: "version not PEP 440", edits: &[Write(PY, "[project]\nversion = \"one\"\n")], args: LIST, env: &[], code: 2, want: "'one' is not a PEP 440 version" },
    Case { area: "pyproject.toml", what: "version not normalized", edits: &[Write(PY, "[project]\nversion = \"1.0.0-rc1\"\n")], args: LIST, env: &[], code: 2, want: "'1.0.0-rc1' is a PEP 440 version but not in normalized form; write it as '1.0.0rc1' (cargo xtask version set 1.0.0rc1)" },
    Case { area: "pyproject.toml", what: "local version", edits: &[Write(PY, "[project]\nversion = \"1.0.0+abc\"\n")], args: LIST, env: &[], code: 2, want: "local label '+abc', which cannot appear in an image tag" },
    Case { area: "pyproject.toml", what: "epoch", edits: &[Write(PY, "[project]\nversion = \"1!1.0.0\"\n")], args: LIST, env: &[], code: 2, want: "epoch '1!'" },
    Case { area: "pyproject.toml", what: "not X.Y.Z", edits: &[Write(PY, "[project]\nversion = \"1.0\"\n")], args: LIST, env: &[], code: 2, want: "is not X.Y.Z" },
    Case { area: "pyproject.toml", what: "version only in another table", edits: &[Write(PY, "[project]\nname = \"itwinai\"\n[tool.x]\nversion = \"1.0.0\"\n")], args: LIST, env: &[], code: 2, want: "[project].version is missing" },
    // images.toml
    Case { area: "images.toml", what: "missing", edits: &[Remove(CATALOG)], args: LIST, env: &[], code: 2, want: "env-files/images.toml: No such file" },
    Case { area: "images.toml", what: "not TOML", edits: &[Write(CATALOG, "registry = ")], args: LIST, env: &[], code: 2, want: "env-files/images.toml:1:12: not valid TOML" },
    Case { area: "images.toml", what: "unknown top-level key", edits: &[Replace(CATALOG, "registry = ", "colour = \"red\"\nregistry = ")], args: LIST, env: &[], code: 2, want: "env-files/images.toml:1: unknown key 'colour'" },
    Case { area: "images.toml", what: "unknown flavour key", edits: &[Replace(CATALOG, "distro = \"jammy\"", "distro = \"jammy\"\nos = \"linux\"")], args: LIST, env: &[], code: 2, want: "env-files/images.toml:10: flavour 'fix': unknown key 'os'" },
    Case { area: "images.toml", what: "registry not a string", edits: &[Replace(CATALOG, "\"127.0.0.1:5999\"", "5999")], args: LIST, env: &[], code: 2, want: "'registry' must be a string, not a integer" },
    Case { area: "images.toml", what: "framework-version not a string", edits: &[Replace(CATALOG, "\"2.6\"", "2.6")], args: LIST, env: &[], code: 2, want: "flavour 'fix': 'framework-version' must be a string, not a float" },
    Case { area: "images.toml", what: "jupyterlab not a boolean", edits: &[Append(CATALOG, "jupyterlab = \"yes\"\n")], args: LIST, env: &[], code: 2, want: "'jupyterlab' must be true or false" },
    Case { area: "images.toml", what: "flavours not a table", edits: &[Write(CATALOG, "registry = \"\"\nproduction = \"a\"\ndevelopment = \"b\"\nflavours = 1\n")], args: LIST, env: &[], code: 2, want: "'flavours' must be a table" },
    Case { area: "images.toml", what: "unknown framework", edits: &[Replace(CATALOG, "framework = \"torch\"", "framework = \"jax\"")], args: LIST, env: &[], code: 2, want: "'framework' is 'jax'; it must be \"torch\" or \"tf\"" },
    Case { area: "images.toml", what: "framework-version 2", edits: &[Replace(CATALOG, "\"2.6\"", "\"2\"")], args: LIST, env: &[], code: 2, want: "'framework-version' '2' is not of the form x.y" },
    Case { area: "images.toml", what: "framework-version 2.6.1", edits: &[Replace(CATALOG, "\"2.6\"", "\"2.6.1\"")], args: LIST, env: &[], code: 2, want: "'framework-version' '2.6.1' is not of the form x.y" },
    Case { area: "images.toml", what: "framework-version x.y", edits: &[Replace(CATALOG, "\"2.6\"", "\"x.y\"")], args: LIST, env: &[], code: 2, want: "'framework-version' 'x.y' is not of the form x.y" },
    Case { area: "images.toml", what: "distro uppercase", edits: &[Replace(CATALOG, "\"jammy\"", "\"Jammy\"")], args: LIST, env: &[], code: 2, want: "'distro' 'Jammy' is not an OS codename" },
    Case { area: "images.toml", what: "distro with spaces", edits: &[Replace(CATALOG, "\"jammy\"", "\"jammy jellyfish\"")], args: LIST, env: &[], code: 2, want: "'distro' 'jammy jellyfish' is not an OS codename" },
    Case { area: "images.toml", what: "Dockerfile does not exist", edits: &[Replace(CATALOG, "env-files/fix/Dockerfile", "env-files/nope/Dockerfile")], args: BUILD, env: &[], code: 2, want: "flavour 'fix': 'dockerfile' env-files/nope/Dockerfile: No such file" },
    Case { area: "images.toml", what: "Dockerfile outside (..)", edits: &[Replace(CATALOG, "env-files/fix/Dockerfile", "../Dockerfile")], args: LIST, env: &[], code: 2, want: "'dockerfile' '../Dockerfile' leaves the workspace" },
    Case { area: "images.toml", what: "Dockerfile absolute", edits: &[Replace(CATALOG, "env-files/fix/Dockerfile", "/etc/hostname")], args: LIST, env: &[], code: 2, want: "'dockerfile' '/etc/hostname' is absolute" },
    Case { area: "images.toml", what: "Dockerfile symlink to outside", edits: &[Remove(DF), Symlink(DF, "/etc/hostname")], args: BUILD, env: &[], code: 2, want: "resolves to /etc/hostname, outside the workspace" },
    Case { area: "images.toml", what: "two flavours, one production tag", edits: &[Append(CATALOG, SECOND_FLAVOUR)], args: LIST, env: &[], code: 2, want: "flavours 'fix' and 'two' make the same release tag for every version" },
    Case { area: "images.toml", what: "tag-format without {distro}", edits: &[Append(CATALOG, "tag-format = \"{version}-{framework}{framework-version}\"\n")], args: LIST, env: &[], code: 2, want: "flavour 'fix': 'tag-format' '{version}-{framework}{framework-version}' must hold exactly one each of {version}, {framework}, {framework-version} and {distro}" },
    Case { area: "images.toml", what: "tag-format with an unknown placeholder", edits: &[Append(CATALOG, "tag-format = \"{version}-{os}-{framework}{framework-version}-{distro}\"\n")], args: LIST, env: &[], code: 2, want: "has the unknown placeholder '{os}'" },
    Case { area: "images.toml", what: "tag-format with a character outside [a-z0-9._-]", edits: &[Append(CATALOG, "tag-format = \"{version}+{framework}{framework-version}-{distro}\"\n")], args: LIST, env: &[], code: 2, want: "has '+'; literal text may only use" },
    Case { area: "images.toml", what: "tag-format ending in -latest", edits: &[Append(CATALOG, "tag-format = \"{version}-{framework}{framework-version}-{distro}-latest\"\n")], args: LIST, env: &[], code: 2, want: "ends in -latest" },
    Case { area: "images.toml", what: "{variant} without a variant", edits: &[Append(CATALOG, "tag-format = \"{version}-{variant}-{framework}{framework-version}-{distro}\"\n")], args: LIST, env: &[], code: 2, want: "flavour 'fix': 'tag-format' '{version}-{variant}-{framework}{framework-version}-{distro}' uses {variant} but the flavour has no 'variant'" },
    Case { area: "images.toml", what: "a variant the format does not use", edits: &[Append(CATALOG, "variant = \"slim\"\n")], args: LIST, env: &[], code: 2, want: "the flavour's variant 'slim' does not appear in its tag format" },
    Case { area: "images.toml", what: "variant not lowercase letters and digits", edits: &[Append(CATALOG, "variant = \"Slim\"\n")], args: LIST, env: &[], code: 2, want: "'variant' 'Slim' must be lowercase letters and digits" },
    Case { area: "images.toml", what: "jlab- tags for a flavour without JupyterLab", edits: &[Append(CATALOG, "tag-format = \"jlab-{version}-{framework}{framework-version}-{distro}\"\n")], args: LIST, env: &[], code: 2, want: "makes tags starting with 'jlab-', which only JupyterLab flavours" },
    Case { area: "images.toml", what: "top-level tag-format missing {version}", edits: &[Replace(CATALOG, "production = ", "tag-format = \"{framework}{framework-version}-{distro}\"\nproduction = ")], args: LIST, env: &[], code: 2, want: "'tag-format' '{framework}{framework-version}-{distro}' must hold exactly one each" },
    Case { area: "images.toml", what: "formats that collide for some version", edits: &[Append(CATALOG, "tag-format = \"v{version}1.0.1-{framework}{framework-version}-{distro}\"\n"), Append(CATALOG, "\n[flavours.two]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"torch\"\nframework-version = \"2.6\"\ndistro = \"jammy\"\ntag-format = \"v1.0.1{version}-{framework}{framework-version}-{distro}\"\n")], args: LIST, env: &[], code: 2, want: "flavours 'fix' and 'two' make the same release tag at version 1.0.1 ('v1.0.11.0.1-torch2.6-jammy')" },
    Case { area: "images.toml", what: "formats that collide across versions", edits: &[Append(CATALOG, "\n[flavours.two]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"torch\"\nframework-version = \"2.6\"\ndistro = \"jammy\"\nvariant = \"dev0\"\ntag-format = \"{version}.{variant}-{framework}{framework-version}-{distro}\"\n")], args: LIST, env: &[], code: 2, want: "flavours 'fix' and 'two' make the same release tag at different versions" },
    Case { area: "images.toml", what: "dev-hash-length out of range", edits: &[Replace(CATALOG, "production = ", "dev-hash-length = 41\nproduction = ")], args: LIST, env: &[], code: 2, want: "'dev-hash-length' must be a whole number from 7 to 40, not 41" },
    Case { area: "images.toml", what: "test not a list", edits: &[Append(CATALOG, "test = \"pytest\"\n")], args: LIST, env: &[], code: 2, want: "'test' must be a list of strings" },
    Case { area: "images.toml", what: "test empty", edits: &[Append(CATALOG, "test = []\n")], args: LIST, env: &[], code: 2, want: "'test' is empty" },
    Case { area: "images.toml", what: "test with an empty program", edits: &[Append(CATALOG, "test = [\"\"]\n")], args: LIST, env: &[], code: 2, want: "'test' starts with an empty word" },
    Case { area: "images.toml", what: "a tag format too long for development tags", edits: &[Append(CATALOG, "tag-format = \"{version}-{framework}{framework-version}-{distro}-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n")], args: LIST, env: &[], code: 2, want: "its development tags would be 130 characters long" },
    Case { area: "images.toml", what: "test with a control character", edits: &[Append(CATALOG, "test = [\"python3\", \"-c\", \"1\\n2\"]\n")], args: LIST, env: &[], code: 2, want: "a word holds the control character '\\n'" },
    Case { area: "images.toml", what: "test-network neither none nor default", edits: &[Append(CATALOG, "test = [\"true\"]\ntest-network = \"host\"\n")], args: LIST, env: &[], code: 2, want: "flavour 'fix': 'test-network' must be \"none\" (the default: no network) or \"default\"" },
    Case { area: "images.toml", what: "test-entrypoint without a test", edits: &[Append(CATALOG, "test-entrypoint = true\n")], args: LIST, env: &[], code: 2, want: "'test-entrypoint' says how the test runs, but there is no 'test'" },
    Case { area: "CLI", what: "image test of a flavour without a test", edits: &[], args: &["image", "test", "fix"], env: &[], code: 2, want: "flavour 'fix' declares no 'test'" },
    Case { area: "CLI", what: "--base-image with several flavours", edits: &[Append(CATALOG, TF_FLAVOUR)], args: &["image", "build", "--all", "--base-image", "other:1", "--dry-run"], env: &[], code: 2, want: "--base-image rebases one flavour but 2 were selected" },
    Case { area: "images.toml", what: "alias not ending in -latest", edits: &[Replace(CATALOG, "\"fix-latest\"", "\"fix-newest\"")], args: LIST, env: &[], code: 2, want: "'latest' is 'fix-newest'; an alias must end in -latest" },
    Case { area: "images.toml", what: "alias shared by two flavours", edits: &[Append(CATALOG, "\n[flavours.two]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"tf\"\nframework-version = \"2.16\"\ndistro = \"jammy\"\nlatest = \"fix-latest\"\n")], args: LIST, env: &[], code: 2, want: "both declare the alias 'fix-latest'" },
    Case { area: "images.toml", what: "registry uppercase", edits: &[Replace(CATALOG, "\"127.0.0.1:5999\"", "\"GHCR.io/x\"")], args: LIST, env: &[], code: 2, want: "registry host 'GHCR.io' must be lowercase" },
    Case { area: "images.toml", what: "registry bad port", edits: &[Replace(CATALOG, "\"127.0.0.1:5999\"", "\"127.0.0.1:99999\"")], args: LIST, env: &[], code: 2, want: "has a bad port '99999'" },
    Case { area: "images.toml", what: "image name uppercase", edits: &[Replace(CATALOG, "production = \"itwinai\"", "production = \"ItwinAI\"")], args: LIST, env: &[], code: 2, want: "'production': image name 'ItwinAI'" },
    Case { area: "images.toml", what: "production = development", edits: &[Replace(CATALOG, "\"itwinai-dev\"", "\"itwinai\"")], args: LIST, env: &[], code: 2, want: "'production' and 'development' are both 'itwinai'" },
    Case { area: "images.toml", what: "no flavours", edits: &[Write(CATALOG, "registry = \"\"\nproduction = \"a\"\ndevelopment = \"b\"\n[flavours]\n")], args: LIST, env: &[], code: 2, want: "no flavours declared" },
    Case { area: "images.toml", what: "build-args sets a provenance arg", edits: &[Append(CATALOG, "build-args = { COMMIT_HASH = \"x\" }\n")], args: LIST, env: &[], code: 2, want: "'COMMIT_HASH' is computed by the tool" },
    Case { area: "images.toml", what: "build-args sets a platform ARG the builder sets", edits: &[Append(CATALOG, "build-args = { TARGETARCH = \"arm64\" }\n")], args: LIST, env: &[], code: 2, want: "'TARGETARCH' is computed by the tool (or set by the builder per platform)" },
    Case { area: "images.toml", what: "flavour name starting with -", edits: &[Replace(CATALOG, "[flavours.fix]", "[flavours.-fix]")], args: LIST, env: &[], code: 2, want: "flavour name '-fix' must be" },
    // Dockerfiles
    Case { area: "Dockerfile", what: "no FROM", edits: &[Write(DF, "# nothing\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile: no FROM instruction" },
    Case { area: "Dockerfile", what: "instruction before FROM", edits: &[Write(DF, "RUN true\nFROM a\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:1: RUN before the first FROM" },
    Case { area: "Dockerfile", what: "FROM with an undefined ARG", edits: &[Write(DF, "FROM ${NOPE}:1\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:1: $NOPE has no value" },
    Case { area: "Dockerfile", what: "stage alias loop terminates (refused: a stage is named as its base)", edits: &[Write(DF, concat!("FROM b AS a\nFROM a AS b\nFROM b\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile: stage 'b' has the name of the base image b" },
    Case { area: "Dockerfile", what: "stage alias chain back to a tagged base", edits: &[Write(DF, concat!("FROM b:1 AS a\nFROM a AS b\nFROM b\n", provenance!()))], args: BUILD, env: &[], code: 0, want: "" },
    Case { area: "Dockerfile", what: "base ARG read inside a longer word (docker would expand it twice)", edits: &[Write(DF, concat!("ARG BASE_IMG_NAME=a.test/base:1\nFROM ${BASE_IMG_NAME}-slim\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: the final FROM resolves to a.test/base:1-slim, but docker is given --build-arg BASE_IMG_NAME=a.test/base:1-slim (what base.name records) and would then build FROM a.test/base:1-slim-slim" },
    Case { area: "Dockerfile", what: "base that reads a value passed only at build time", edits: &[Write(DF, concat!("ARG ITWINAI_VERSION=1\nFROM a.test/base:${ITWINAI_VERSION}\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: the final base depends on ITWINAI_VERSION" },
    Case { area: "Dockerfile", what: "base named with BuildKit's platform ARG", edits: &[Write(DF, concat!("FROM a.test/base:${TARGETARCH}\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:1: $TARGETARCH is set by BuildKit per platform at build time" },
    Case { area: "Dockerfile", what: "base ARG whose value names a stage (docker would skip the stage)", edits: &[Write(DF, concat!("ARG BASE_IMG_NAME=hardened\nFROM a.test/base:1 AS hardened\nRUN true\nFROM ${BASE_IMG_NAME}\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:4: the final stage reaches a.test/base:1 through the stage whose FROM is line 2" },
    Case { area: "Dockerfile", what: "base override only mentioned, not built on", edits: &[Write(DF, concat!("ARG BASE_IMG_NAME\nFROM ${BASE_IMG_NAME:+a.test/base:1}\n", provenance!())), Append(CATALOG, "base-image = \"other:1\"\n")], args: BUILD, env: &[], code: 2, want: "'base-image' 'other:1' is ignored by env-files/fix/Dockerfile, whose final image is built FROM a.test/base:1" },
    Case { area: "Dockerfile", what: "a builder stage that reads the base ARG (the build would rebase it)", edits: &[Write(DF, concat!("ARG BASE_IMG_NAME=a.test/devel:1\nFROM ${BASE_IMG_NAME} AS builder\nRUN true\nFROM a.test/base:1\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: this FROM reads BASE_IMG_NAME, which the build sets to the final base a.test/base:1" },
    Case { area: "Dockerfile", what: "a per-platform builder stage off the final chain", edits: &[Write(DF, concat!("FROM a.test/b-amd64:1 AS build-amd64\nFROM a.test/b-arm64:1 AS build-arm64\nFROM build-${TARGETARCH} AS build\nFROM 127.0.0.1:5999/base:1\nCOPY --from=build /a /a\n", provenance!()))], args: &["check"], env: &[], code: 0, want: "" },
    Case { area: "Dockerfile", what: "a per-platform builder stage, its ARG declared, with the classic builder", edits: &[Write(DF, concat!("ARG TARGETARCH=amd64\nFROM a.test/b-amd64:1 AS build-amd64\nFROM a.test/b-arm64:1 AS build-arm64\nFROM build-${TARGETARCH} AS build\nFROM 127.0.0.1:5999/base:1\nCOPY --from=build /a /a\n", provenance!()))], args: BUILD, env: &[], code: 0, want: "" },
    Case { area: "Dockerfile", what: "a proxy ARG reached through a global ARG", edits: &[Write(DF, concat!("ARG IMG=${HTTP_PROXY:-a.test/base:1}\nFROM ${IMG}\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: the final base depends on HTTP_PROXY" },
    Case { area: "Dockerfile", what: "base override through another ARG's default", edits: &[Write(DF, concat!("ARG BASE_IMG_NAME\nARG RUNTIME_IMG=${BASE_IMG_NAME}\nFROM ${RUNTIME_IMG}\n", provenance!())), Append(CATALOG, "base-image = \"127.0.0.1:5999/base:1\"\n")], args: BUILD, env: &[], code: 0, want: "" },
    Case { area: "Dockerfile", what: "a FROM reading an undeclared TARGET* ARG with the classic builder", edits: &[Write(DF, concat!("FROM scratch AS build-amd64\nFROM scratch AS build-arm64\nFROM build-${TARGETARCH:-amd64} AS build\nFROM 127.0.0.1:5999/base:1\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:3: this FROM names build-arm64 under BuildKit for linux/arm64 but build-amd64 under the classic builder (no buildx here)" },
    Case { area: "Dockerfile", what: "a TARGET* ARG reached through another ARG's default with the classic builder", edits: &[Write(DF, concat!("ARG ARCH=${TARGETARCH:-amd64}\nARG TARGETARCH\nFROM scratch AS build-amd64\nFROM scratch AS build-arm64\nFROM build-${ARCH} AS build\nFROM 127.0.0.1:5999/base:1\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:5: this FROM names build-arm64 under BuildKit for linux/arm64 but build-amd64 under the classic builder (no buildx here)" },
    Case { area: "Dockerfile", what: "FROM --platform=$TARGETPLATFORM, its ARG undeclared, with the classic builder", edits: &[Write(DF, concat!("FROM --platform=$TARGETPLATFORM 127.0.0.1:5999/base:1\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:1: FROM --platform=$TARGETPLATFORM reads $TARGETPLATFORM, which the classic builder (no buildx here) leaves empty unless an ARG before the first FROM declares it" },
    Case { area: "Dockerfile", what: "FROM --platform=$BUILDPLATFORM with the classic builder", edits: &[Write(DF, concat!("FROM --platform=$BUILDPLATFORM 127.0.0.1:5999/base:1 AS build\nFROM 127.0.0.1:5999/base:1\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:1: FROM reads $BUILDPLATFORM, which BuildKit sets per platform but the classic builder (no buildx here) leaves empty in a FROM; install the buildx plugin" },
    Case { area: "Dockerfile", what: "final FROM --platform= another platform than the one built", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "latest = \"fix-latest\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n"), Write(DF, concat!("ARG P=linux/arm64\nFROM --platform=${P} 127.0.0.1:5999/base:1\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: the final stage is built FROM --platform=linux/arm64 but this image is built for linux/amd64: BuildKit would make it linux/arm64, and the classic builder ignores the flag for a base it holds; drop the flag, or declare `ARG TARGETPLATFORM` before the first FROM and write --platform=$TARGETPLATFORM (flavour 'fix')" },
    Case { area: "Dockerfile", what: "final FROM --platform= the platform built", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "latest = \"fix-latest\"\nplatforms = [\"linux/arm64\"]\n"), Write(DF, concat!("FROM --platform=linux/arm64/v8 127.0.0.1:5999/base:1\n", provenance!()))], args: BUILD, env: &[], code: 0, want: "" },
    Case { area: "Dockerfile", what: "stage named as the base", edits: &[Write(DF, concat!("ARG BASE_IMG_NAME=ubuntu\nFROM ${BASE_IMG_NAME} AS ubuntu\nRUN true\nFROM ubuntu\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile: stage 'ubuntu' has the name of the base image ubuntu" },
    Case { area: "Dockerfile", what: "base override ignored by the Dockerfile", edits: &[Write(DF, "FROM fixed:1\n"), Append(CATALOG, "base-image = \"other:1\"\n")], args: BUILD, env: &[], code: 2, want: "'base-image' 'other:1' is ignored by env-files/fix/Dockerfile" },
    Case { area: "Dockerfile", what: "--base-image ignored by the Dockerfile", edits: &[Write(DF, concat!("FROM fixed:1\n", provenance!()))], args: &["image", "build", "fix", "--base-image", "other:1"], env: &[], code: 2, want: "--base-image 'other:1' is ignored" },
    Case { area: "Dockerfile", what: "FROM scratch last", edits: &[Write(DF, "FROM a AS build\nFROM scratch\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: the final stage is built FROM scratch" },
    Case { area: "Dockerfile", what: "line continuations and comments", edits: &[Write(DF, concat!("ARG BASE_IMG_NAME=127.0.0.1:5999/base:1\n# comment\nFROM \\\n  # inside\n  ${BASE_IMG_NAME}\n", provenance!()))], args: BUILD, env: &[], code: 0, want: "" },
    Case { area: "Dockerfile", what: "escape directive", edits: &[Write(DF, concat!("# escape=`\nARG BASE_IMG_NAME=127.0.0.1:5999/base:1\nFROM `\n  ${BASE_IMG_NAME}\n", provenance!()))], args: BUILD, env: &[], code: 0, want: "" },
    Case { area: "Dockerfile", what: "FROM inside a heredoc is not an instruction", edits: &[Write(DF, concat!("ARG BASE_IMG_NAME=127.0.0.1:5999/base:1\nFROM ${BASE_IMG_NAME}\nRUN <<EOF\nFROM evil:1\nEOF\n", provenance!()))], args: LIST, env: &[], code: 0, want: "" },
    Case { area: "Dockerfile", what: "a heredoc with the classic builder", edits: &[Write(DF, concat!("ARG BASE_IMG_NAME=127.0.0.1:5999/base:1\nFROM ${BASE_IMG_NAME}\nRUN <<EOF\nFROM evil:1\nEOF\n", provenance!()))], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:3: a heredoc, which only BuildKit reads" },
    Case { area: "Dockerfile", what: "FROM an image starting with -", edits: &[Write(DF, "FROM -evil\n")], args: BUILD, env: &[], code: 2, want: "image reference '-evil' starts with '-'" },
    Case { area: "Dockerfile", what: "FROM with an unknown flag", edits: &[Write(DF, "FROM --network=host a\n")], args: BUILD, env: &[], code: 2, want: "unknown FROM flag '--network=host'" },
    Case { area: "images.toml", what: "base-image starting with -", edits: &[Append(CATALOG, "base-image = \"--privileged\"\n")], args: LIST, env: &[], code: 2, want: "'base-image': image reference '--privileged' starts with '-'" },
    Case { area: "CLI", what: "--base-image starting with -", edits: &[], args: &["image", "build", "fix", "--base-image=-x"], env: &[], code: 2, want: "--base-image: image reference '-x' starts with '-'" },
    Case { area: "Dockerfile", what: "unterminated heredoc", edits: &[Write(DF, "FROM a\nRUN <<EOF\necho\n")], args: BUILD, env: &[], code: 2, want: "heredoc 'EOF' is not terminated" },
    Case { area: "Dockerfile", what: "bad escape directive", edits: &[Write(DF, "# escape=x\nFROM a\n")], args: BUILD, env: &[], code: 2, want: "invalid escape directive 'x'" },
    Case { area: "Dockerfile", what: "an unknown directive, then escape (a comment, as Docker reads it)", edits: &[Write(DF, concat!("# foo=bar\n# escape=`\nFROM 127.0.0.1:5999/base:1\nUSER x `\nFROM 127.0.0.1:5999/base:1\n", provenance!()))], args: LIST, env: &[], code: 0, want: "" },
    Case { area: "Dockerfile", what: "a backslash then a form feed (no continuation, as Docker reads it)", edits: &[Write(DF, concat!("FROM 127.0.0.1:5999/base:1\nUSER x \\\x0c\nFROM 127.0.0.1:5999/base:1\n", provenance!()))], args: LIST, env: &[], code: 0, want: "" },
    Case { area: "Dockerfile", what: "a parser directive twice", edits: &[Write(DF, "# escape=`\n# escape=\\\nFROM a\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: a second 'escape' parser directive" },
    Case { area: "Dockerfile", what: "a directive after check", edits: &[Write(DF, "# check=skip=all\n# escape=`\nFROM a\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: the 'escape' parser directive after the check directive of line 1" },
    Case { area: "Dockerfile", what: "another BuildKit frontend", edits: &[Write(DF, "#!/bin/sh\n# syntax=example.com/frontend\nFROM a\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: the syntax directive hands this file to the BuildKit frontend 'example.com/frontend'" },
    Case { area: "Dockerfile", what: "a carriage return inside a line", edits: &[Write(DF, "FROM a\nUSER x \\\r\r\nFROM b\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: a carriage return that does not end the line" },
    Case { area: "Dockerfile", what: "two escape characters at a line's end", edits: &[Write(DF, "FROM a\nUSER x \\\\\nFROM b\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: the line ends in two escape characters" },
    Case { area: "Dockerfile", what: "an unknown instruction", edits: &[Write(DF, "FROM a\nFROMM b\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: unknown instruction 'FROMM', which Docker refuses" },
    Case { area: "Dockerfile", what: "a stage name used twice", edits: &[Write(DF, "FROM a AS s\nFROM b AS s\nFROM s\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: stage name 's' is already used at line 1" },
    Case { area: "Dockerfile", what: "FROM with a quote or a non-ASCII space", edits: &[Write(DF, "FROM a:1\u{a0}AS b\n")], args: BUILD, env: &[], code: 2, want: "holds '\\u{a0}': Docker's builders split or unquote such a line in different ways" },
    Case { area: "Dockerfile", what: "FROM through a single-quoted ARG default", edits: &[Write(DF, "ARG B='a:1'\nFROM $B\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: $B comes from the ARG at line 1, whose default has quotes" },
    Case { area: "Dockerfile", what: "a heredoc whose lines all read as instructions", edits: &[Write(DF, "FROM a:1\nCOPY <<EOF f /x/\nFROM b:1\nUSER x \\\nEOF\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: every line of this heredoc and its end word reads as an instruction too" },
    Case { area: "Dockerfile", what: "a heredoc marker BuildKit may read otherwise", edits: &[Write(DF, "FROM a:1\nRUN cat <<'FROM b:1'\nFROM b:1\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: cannot tell which heredocs BuildKit reads in this line" },
    Case { area: "Dockerfile", what: "<< in an ONBUILD", edits: &[Write(DF, "FROM a:1\nONBUILD RUN <<EOF\nFROM b:1\nEOF\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:2: '<<' in an ONBUILD" },
    Case { area: "Dockerfile", what: "no provenance labels", edits: &[Write(DF, "FROM a:1\n")], args: BUILD, env: &[], code: 2, want: "env-files/fix/Dockerfile:1: the final stage (FROM at line 1) must declare ARG CREATION_DATE" },
    Case { area: "Dockerfile", what: "a label set from a literal", edits: &[Replace(DF, "revision=\"${COMMIT_HASH}\"", "revision=\"abc\"")], args: BUILD, env: &[], code: 2, want: "org.opencontainers.image.revision from ${COMMIT_HASH} (line" },
    Case { area: "Dockerfile", what: "a provenance ARG declared only before FROM", edits: &[Replace(DF, "ARG COMMIT_HASH\n", ""), Replace(DF, "ARG BASE_IMG_NAME=", "ARG COMMIT_HASH\nARG BASE_IMG_NAME=")], args: BUILD, env: &[], code: 2, want: "must declare ARG COMMIT_HASH" },
    Case { area: "images.toml", what: "framework-package not a distribution name", edits: &[Append(CATALOG, "framework-package = \"torch; rm\"\n")], args: LIST, env: &[], code: 2, want: "'framework-package' 'torch; rm' is not a Python distribution name" },
    // Command line
    Case { area: "CLI", what: "no flavour", edits: &[], args: &["image", "build"], env: &[], code: 2, want: "name the flavours to work on, or pass --all; flavours: fix" },
    Case { area: "CLI", what: "unknown flavour", edits: &[], args: &["image", "build", "nope"], env: &[], code: 2, want: "unknown flavour 'nope'; env-files/images.toml declares: fix" },
    Case { area: "CLI", what: "image list of an unknown flavour", edits: &[], args: &["image", "list", "fix", "nope"], env: &[], code: 2, want: "unknown flavour 'nope'; env-files/images.toml declares: fix" },
    Case { area: "CLI", what: "flavour starting with -", edits: &[], args: &["image", "build", "--", "-fix"], env: &[], code: 2, want: "unknown flavour '-fix'" },
    Case { area: "CLI", what: "tag starting with -", edits: &[], args: &["image", "build", "fix", "--dev", "--tag=-x"], env: &[], code: 2, want: "tag '-x' must start with a letter, digit or '_'" },
    Case { area: "CLI", what: "tag of 129 characters", edits: &[], args: &["image", "build", "fix", "--dev", "--tag", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], env: &[], code: 2, want: "is 129 characters long; at most 128" },
    Case { area: "catalog", what: "build arg with a NUL byte", edits: &[Append(CATALOG, "build-args = { EXTRA = \"a\\u0000b\" }\n")], args: BUILD, env: &[], code: 2, want: "flavour 'fix': build-args.EXTRA contains the control character U+0000" },
    Case { area: "catalog", what: "build arg with an escape sequence", edits: &[Append(CATALOG, "build-args = { EXTRA = \"a\\u001b[31mb\" }\n")], args: BUILD, env: &[], code: 2, want: "build-args.EXTRA contains the control character U+001B" },
    Case { area: "catalog", what: "flavour name too long", edits: &[Replace(CATALOG, "[flavours.fix]", "[flavours.fixaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]")], args: LIST, env: &[], code: 2, want: "characters long; at most 64 are allowed" },
    Case { area: "CLI", what: "version with a huge number", edits: &[], args: &["version", "set", "99999999999999999999999.0.0"], env: &[], code: 2, want: "the number 99999999999999999999999 is too large (at most 18 digits)" },
    Case { area: "CLI", what: "tag with a newline", edits: &[], args: &["image", "build", "fix", "--dev", "--tag", "a\nb"], env: &[], code: 2, want: "tag 'a\\nb' contains a newline" },
    Case { area: "CLI", what: "tag with characters outside the grammar", edits: &[], args: &["image", "build", "fix", "--dev", "--tag", "v1+local"], env: &[], code: 2, want: "tag 'v1+local' contains '+'" },
    Case { area: "CLI", what: "uppercase repository (--registry)", edits: &[], args: &["image", "build", "fix", "--registry", "ghcr.io/InterTwin"], env: &[], code: 2, want: "'InterTwin' must be lowercase" },
    Case { area: "CLI", what: "--tag on a production build", edits: &[], args: &["image", "build", "fix", "--tag", "mine"], env: &[], code: 2, want: "--tag sets a development tag and needs --dev" },
    Case { area: "CLI", what: "--tag with several flavours", edits: &[Append(CATALOG, TF_FLAVOUR)], args: &["image", "build", "--all", "--dev", "--tag", "mine"], env: &[], code: 2, want: "--tag names one image but 2 flavours were selected" },
    Case { area: "CLI", what: "build --tag ending in -latest", edits: &[], args: &["image", "build", "fix", "--dev", "--tag", "fix-latest"], env: &[], code: 2, want: "tag 'fix-latest' ends in -latest" },
    Case { area: "CLI", what: "--latest with --dev", edits: &[], args: &["image", "push", "fix", "--latest", "--dev"], env: &[], code: 2, want: "--latest publishes the production alias and cannot be combined with --dev" },
    Case { area: "CLI", what: "flavour and --all", edits: &[], args: &["image", "build", "fix", "--all"], env: &[], code: 2, want: "cannot be used with" },
    Case { area: "CLI", what: "--latest and --from", edits: &[], args: &["image", "tag", "fix", "--latest", "--from", "x:1"], env: &[], code: 2, want: "cannot be used with" },
    Case { area: "CLI", what: "image tag without --latest or --from", edits: &[], args: &["image", "tag", "fix"], env: &[], code: 2, want: "image tag needs --latest or --from REF" },
    Case { area: "CLI", what: "--from that is not a reference", edits: &[], args: &["image", "tag", "fix", "--from", "Not A Ref"], env: &[], code: 2, want: "--from: image reference 'Not A Ref'" },
    Case { area: "CLI", what: "--base-image scratch", edits: &[], args: &["image", "build", "fix", "--base-image", "scratch"], env: &[], code: 2, want: "--base-image scratch: scratch has no digest" },
    Case { area: "CLI", what: "--base-image on a release build", edits: &[], args: &["image", "build", "fix", "--base-image", "other:1", "--dry-run"], env: &[], code: 2, want: "--base-image other:1 builds a development image" },
    Case { area: "CLI", what: "--platform on a flavour without platforms", edits: &[], args: &["image", "build", "fix", "--platform", "linux/arm64"], env: &[], code: 2, want: "--platform: flavour 'fix' declares no 'platforms'" },
    Case { area: "CLI", what: "--platform the flavour does not declare", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "latest = \"fix-latest\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n")], args: &["image", "push", "fix", "--platform", "linux/arm64,linux/riscv64"], env: &[], code: 2, want: "--platform: flavour 'fix' is not declared for linux/riscv64 in env-files/images.toml; it declares linux/amd64, linux/arm64" },
    Case { area: "CLI", what: "--platform not os/arch", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "latest = \"fix-latest\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n")], args: &["image", "tag", "fix", "--from", "x:1", "--platform", "arm64"], env: &[], code: 2, want: "--platform: 'arm64' is not a platform of the form os/arch[/variant]" },
    Case { area: "CLI", what: "--platform listing one twice", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "latest = \"fix-latest\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n")], args: &["image", "build", "fix", "--platform", "linux/arm64,linux/arm64"], env: &[], code: 2, want: "--platform: 'linux/arm64' is listed twice" },
    Case { area: "CLI", what: "push of a release for some of its platforms", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "latest = \"fix-latest\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n")], args: &["image", "push", "fix", "--platform", "linux/arm64"], env: &[], code: 2, want: "--platform narrows development pushes and promotions only: a release of flavour 'fix' serves every platform it declares (linux/amd64, linux/arm64)" },
    Case { area: "CLI", what: "promotion into a release of some of its platforms", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "latest = \"fix-latest\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n")], args: &["image", "tag", "fix", "--from", "x:1", "--platform", "linux/amd64"], env: &[], code: 2, want: "--platform narrows development pushes and promotions only: a release of flavour 'fix' serves every platform it declares (linux/amd64, linux/arm64); drop --platform, or pass --force to publish linux/amd64 alone" },
    Case { area: "CLI", what: "tag --latest of a multi-platform flavour", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "latest = \"fix-latest\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n")], args: &["image", "tag", "fix", "--latest"], env: &[], code: 2, want: "its alias is an index, which exists only in the registry" },
    Case { area: "CLI", what: "tag --from a digest of a multi-platform flavour", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "latest = \"fix-latest\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n")], args: &["image", "tag", "fix", "--from", "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"], env: &[], code: 2, want: "names the tag of a multi-platform image" },
    Case { area: "catalog", what: "platforms not a list", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "platforms = \"linux/amd64\"\n")], args: BUILD, env: &[], code: 2, want: "flavour 'fix': 'platforms' must be a list of platforms" },
    Case { area: "catalog", what: "platform not os/arch", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "platforms = [\"linux/amd64\", \"Linux/ARM64\"]\n")], args: BUILD, env: &[], code: 2, want: "'platforms' 'Linux/ARM64' is not a platform of the form os/arch[/variant]" },
    Case { area: "catalog", what: "platform listed twice", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "platforms = [\"linux/amd64\", \"linux/amd64\"]\n")], args: BUILD, env: &[], code: 2, want: "'platforms' lists 'linux/amd64' twice" },
    Case { area: "catalog", what: "a release tag that is another flavour's platform image name", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "latest = \"fix-latest\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n"), Append(CATALOG, "\n[flavours.other]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"torch\"\nframework-version = \"2.6\"\ndistro = \"jammy\"\ntag-format = \"{version}-{framework}{framework-version}-{distro}-linux-amd64\"\n")], args: BUILD, env: &[], code: 2, want: "flavour 'other' makes release tags that end like the local name of flavour 'fix''s linux/amd64 image" },
    Case { area: "catalog", what: "platforms empty", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "platforms = []\n")], args: BUILD, env: &[], code: 2, want: "'platforms' is empty" },
    Case { area: "CLI", what: "--builder starting with -", edits: &[], args: &["image", "build", "fix", "--builder=-x"], env: &[], code: 2, want: "--builder '-x' is not a builder name" },
    Case { area: "CLI", what: "unknown option", edits: &[], args: &["image", "build", "fix", "--frobnicate"], env: &[], code: 2, want: "unexpected argument '--frobnicate'" },
    Case { area: "CLI", what: "push with local names only", edits: &[Replace(CATALOG, "\"127.0.0.1:5999\"", "\"\"")], args: &["image", "push", "fix"], env: &[], code: 2, want: "the registry is \"\" (local names only)" },
    Case { area: "CLI", what: "push --latest of a flavour without alias", edits: &[Replace(CATALOG, "latest = \"fix-latest\"\n", "")], args: &["image", "push", "fix", "--latest"], env: &[], code: 2, want: "flavour 'fix' declares no 'latest' alias" },
    Case { area: "CLI", what: "version set with a local label", edits: &[], args: &["version", "set", "1.0.0+abc"], env: &[], code: 2, want: "local label '+abc'" },
    Case { area: "CLI", what: "version set not PEP 440", edits: &[], args: &["version", "set", "latest"], env: &[], code: 2, want: "'latest' is not a PEP 440 version" },
    // Environment
    Case { area: "environment", what: "SOURCE_DATE_EPOCH not an integer", edits: &[], args: BUILD, env: &[("SOURCE_DATE_EPOCH", "yesterday")], code: 2, want: "SOURCE_DATE_EPOCH='yesterday' is not a whole number of seconds" },
    Case { area: "environment", what: "SOURCE_DATE_EPOCH negative", edits: &[], args: BUILD, env: &[("SOURCE_DATE_EPOCH", "-5")], code: 2, want: "SOURCE_DATE_EPOCH='-5' is not a whole number" },
    Case { area: "environment", what: "SOURCE_DATE_EPOCH out of range", edits: &[], args: BUILD, env: &[("SOURCE_DATE_EPOCH", "999999999999999")], code: 2, want: "SOURCE_DATE_EPOCH='999999999999999' is out of range" },
    Case { area: "environment", what: "timeout setting not a number", edits: &[], args: BUILD, env: &[("XTASK_TRANSFER_TIMEOUT_SECS", "1h")], code: 2, want: "XTASK_TRANSFER_TIMEOUT_SECS='1h' is not a whole number of seconds" },
    // git
    Case { area: "git", what: "not a repository", edits: &[NoGit], args: BUILD, env: &[], code: 2, want: "is not a git repository; COMMIT_HASH needs one" },
    Case { area: "git", what: "no commits", edits: &[NoCommit], args: BUILD, env: &[], code: 2, want: "git has no commit at HEAD" },
    Case { area: "git", what: "shallow clone (builds)", edits: &[Shallow], args: BUILD, env: &[], code: 0, want: "" },
    Case { area: "git", what: "detached HEAD (builds)", edits: &[Detached], args: BUILD, env: &[], code: 0, want: "" },
    Case { area: "git", what: "uncommitted changes, production build", edits: &[Dirty], args: BUILD, env: &[], code: 2, want: "the working tree has uncommitted changes" },
    Case { area: "git", what: "uncommitted changes, a -latest alias moved", edits: &[Dirty], args: &["image", "tag", "fix", "--latest"], env: &[], code: 2, want: "): a -latest alias is moved as HEAD's catalog declares it (its name) for HEAD's version, so the catalog and pyproject.toml must be HEAD's; commit or stash them first" },
    Case { area: "git", what: "uncommitted changes, promotion into the default development tag", edits: &[Dirty], args: &["image", "tag", "fix", "--dev", "--from", "127.0.0.1:5999/itwinai-dev:0.2.2-torch2.6-jammy-0123456789ab"], env: &[], code: 2, want: "whose -dirty says the image was built from them, but a promotion copies a clean build; commit or stash them (the default tag is then HEAD's clean one), or name a tag with --tag" },
    Case { area: "git", what: "uncommitted changes, promotion into a release", edits: &[Dirty], args: &["image", "tag", "fix", "--from", "127.0.0.1:5999/itwinai-dev:0.2.2-torch2.6-jammy-0123456789ab"], env: &[], code: 2, want: "): a promotion into a release applies the catalog and pyproject.toml of HEAD, so they must be HEAD's; commit or stash them first" },
];

fn apply(ws: &Workspace, edit: Edit) -> Option<TempDir> {
    let path = |rel: &str| ws.root().join(rel);
    match edit {
        Write(rel, text) => ws.write(rel, text),
        Replace(rel, from, to) => {
            let text = std::fs::read_to_string(path(rel)).unwrap();
            assert!(text.contains(from), "fixture {rel} has no {from:?}");
            ws.write(rel, &text.replacen(from, to, 1));
        }
        Append(rel, more) => {
            let text = std::fs::read_to_string(path(rel)).unwrap();
            ws.write(rel, &(text + more));
        }
        Remove(rel) => std::fs::remove_file(path(rel)).unwrap(),
        Symlink(rel, target) => std::os::unix::fs::symlink(target, path(rel)).unwrap(),
        NoGit => std::fs::remove_dir_all(path(".git")).unwrap(),
        NoCommit => {
            std::fs::remove_dir_all(path(".git")).unwrap();
            ws.git(&["init", "-q"]);
        }
        Dirty => ws.write("notes.txt", "uncommitted"),
        Detached => {
            let head = ws.head();
            ws.git(&["checkout", "-q", "--detach", &head]);
        }
        Shallow => {
            // A shallow clone of the fixture replaces it.
            ws.commit();
            let clone = TempDir::new("shallow");
            let src = format!("file://{}", ws.root().display());
            let ok = pinned(std::process::Command::new("git"), ws.home.path())
                .args(["clone", "-q", "--depth", "1", &src])
                .arg(clone.path().join("c"))
                .status()
                .unwrap()
                .success();
            assert!(ok);
            return Some(clone);
        }
    }
    None
}

fn git_edit(e: &Edit) -> bool {
    matches!(e, NoGit | NoCommit | Dirty | Detached | Shallow)
}

#[test]
fn every_bad_input_is_refused_before_docker_runs() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    for case in CASES {
        let ws = Workspace::fixture("corpus", REG, BASE);
        let mut shallow = None;
        for e in case.edits {
            if let Some(dir) = apply(&ws, *e) {
                shallow = Some(dir);
            }
        }
        if !case.edits.iter().any(git_edit) && !case.edits.is_empty() {
            ws.commit();
        }
        let fake = FakeDocker::new();
        let mut cmd = ws.xtask_command(case.args, Some(fake.bin()));
        if let Some(dir) = &shallow {
            // Point --root at the shallow clone instead.
            let args: Vec<std::ffi::OsString> = cmd.get_args().map(|a| a.to_owned()).collect();
            let mut c = pinned(
                std::process::Command::new(env!("CARGO_BIN_EXE_xtask")),
                ws.home.path(),
            );
            c.env(
                "PATH",
                format!(
                    "{}:{}",
                    fake.bin().display(),
                    std::env::var("PATH").unwrap()
                ),
            );
            c.arg("--root").arg(dir.path().join("c")).args(&args[2..]);
            cmd = c;
        }
        cmd.env("GIT_CEILING_DIRECTORIES", std::env::temp_dir());
        for (k, v) in case.env {
            cmd.env(k, v);
        }
        let run = Run::from(cmd.output().unwrap());
        let name = format!("{} / {}", case.area, case.what);
        assert_eq!(run.code, Some(case.code), "{name}: {}", run.stderr);
        if case.code != 0 {
            let line = run.error_line();
            assert!(
                line.contains(case.want),
                "{name}: want {:?} in {line:?}",
                case.want
            );
        }
        let ran: Vec<String> = fake
            .calls()
            .into_iter()
            .filter(|c| !READ_ONLY_PROBES.contains(&c.as_str()))
            .collect();
        assert!(ran.is_empty(), "{name}: docker ran {ran:?}");
    }
}

/// The docs/refusals.md section, one line per case.
fn refusals_section() -> String {
    let mut out = String::from("<!-- refusals:begin (generated from xtask/tests/it/refusals.rs; XTASK_BLESS=1 cargo test --test it refusals::) -->\n");
    out.push_str("| area | input | exit | the message says |\n|---|---|---|---|\n");
    for c in CASES {
        let says = if c.code == 0 {
            "(accepted)".to_string()
        } else {
            format!("`{}`", c.want.replace('|', "\\|"))
        };
        out.push_str(&format!(
            "| {} | {} | {} | {says} |\n",
            c.area, c.what, c.code
        ));
    }
    out.push_str("<!-- refusals:end -->");
    out
}

#[test]
fn the_docs_list_the_corpus() {
    if !itwinai_repository() {
        return;
    }
    const FILE: &str = "docs/refusals.md";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(FILE);
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{FILE}: {e}"));
    let start = doc
        .find("<!-- refusals:begin")
        .unwrap_or_else(|| panic!("{FILE} has no refusals:begin marker"));
    let end = doc
        .find("<!-- refusals:end -->")
        .unwrap_or_else(|| panic!("{FILE} has no refusals:end marker"))
        + "<!-- refusals:end -->".len();
    let want = refusals_section();
    if doc[start..end] != want {
        if std::env::var("XTASK_BLESS").is_ok() {
            let updated = format!("{}{want}{}", &doc[..start], &doc[end..]);
            std::fs::write(&path, updated).unwrap();
        } else {
            panic!("{FILE}'s refusal list differs from the corpus; run XTASK_BLESS=1 cargo test --test it refusals::");
        }
    }
}
