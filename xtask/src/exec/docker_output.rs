//! Pure parsers of what docker prints: `image inspect`, `pull`, `push`,
//! `manifest inspect`, `buildx imagetools inspect`, and the in-image probe.
//! No IO here; the executor hands them the text.

use std::collections::BTreeMap;

use crate::model::image::{ImageInfo, Inside};
use crate::model::reference::{check_repo_digest, AnyRef};
use crate::support::json::Json;

/// The config keys that decide how an image runs ([`ImageInfo::behaviour`]).
const BEHAVIOUR_KEYS: [&str; 11] = [
    "Cmd",
    "Entrypoint",
    "Env",
    "ExposedPorts",
    "Healthcheck",
    "OnBuild",
    "Shell",
    "StopSignal",
    "User",
    "Volumes",
    "WorkingDir",
];

/// Parse the JSON array `docker image inspect` prints.
pub fn parse_inspect(text: &str) -> Result<Vec<ImageInfo>, String> {
    let v = Json::parse(text.trim()).map_err(|e| format!("not JSON ({e})"))?;
    let items = v.as_array().ok_or("not a JSON array")?;
    items
        .iter()
        .map(|item| {
            let id = item
                .get("Id")
                .and_then(Json::as_str)
                .ok_or("an image has no Id")?
                .to_string();
            let labels = labels_of(item.get("Config"));
            let config = item.get("Config");
            let mut runtime: Vec<String> = config
                .and_then(|c| c.get("Env"))
                .map(Json::strings)
                .unwrap_or_default()
                .into_iter()
                .map(|e| format!("Env={e}"))
                .collect();
            for key in ["WorkingDir", "User"] {
                let value = config
                    .and_then(|c| c.get(key))
                    .and_then(Json::as_str)
                    .unwrap_or("");
                runtime.push(format!("{key}={value}"));
            }
            let onbuild = config
                .and_then(|c| c.get("OnBuild"))
                .map(Json::strings)
                .unwrap_or_default();
            let behaviour = Json::object(BEHAVIOUR_KEYS.iter().map(|k| {
                (
                    *k,
                    config.and_then(|c| c.get(k)).cloned().unwrap_or(Json::Null),
                )
            }))
            .render();
            let top = |k: &str| item.get(k).and_then(Json::as_str).unwrap_or("").to_string();
            Ok(ImageInfo {
                os: top("Os"),
                architecture: top("Architecture"),
                variant: top("Variant"),
                id,
                runtime,
                onbuild,
                behaviour,
                repo_digests: item
                    .get("RepoDigests")
                    .map(Json::strings)
                    .unwrap_or_default(),
                labels,
                layers: item
                    .get("RootFS")
                    .and_then(|r| r.get("Layers"))
                    .map(Json::strings)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The RepoDigests entry of `image`'s own repository. An image pulled under
/// several names has one entry per repository; index 0 may be another's.
pub fn pick_repo_digest(image: &AnyRef, repo_digests: &[String]) -> Result<String, String> {
    let want = image.familiar_repository();
    let found = repo_digests
        .iter()
        .find(|d| d.split_once('@').is_some_and(|(repo, _)| repo == want));
    match found {
        Some(d) => {
            check_repo_digest(d)?;
            Ok(d.clone())
        }
        None if repo_digests.is_empty() => Err(format!(
            "{image} has no repository digest: it was never pulled from or pushed to a registry"
        )),
        None => Err(format!(
            "{image} has no digest for repository {want} (it has: {})",
            repo_digests.join(", ")
        )),
    }
}

/// The digest `docker pull` reports (`Digest: sha256:…`), as
/// `repository@sha256:…` for `image`'s repository.
pub fn pull_digest(image: &AnyRef, pull_output: &str) -> Result<Option<String>, String> {
    let Some(digest) = pull_output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Digest:").map(str::trim))
    else {
        return Ok(None);
    };
    let repo_digest = format!("{}@{digest}", image.familiar_repository());
    check_repo_digest(&repo_digest)?;
    Ok(Some(repo_digest))
}

/// Whether a container failed because its binaries are for another
/// machine and no emulator is registered for them.
pub fn is_exec_format_error(stderr: &str) -> bool {
    stderr.to_ascii_lowercase().contains("exec format error")
}

/// Parse the probe's one JSON line.
pub fn parse_probe(text: &str) -> Result<Inside, String> {
    let v = Json::parse(text.trim()).map_err(|e| format!("not JSON ({e})"))?;
    let os_release = match v.get("os_release") {
        Some(Json::Str(s)) => Some(s.clone()),
        Some(Json::Null) => None,
        _ => return Err("no os_release field".into()),
    };
    let dists = v
        .get("dists")
        .and_then(Json::as_object)
        .ok_or("no dists field")?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
        .collect();
    Ok(Inside { os_release, dists })
}

/// Whether a line of a program's stderr only points at its help
/// (`Run 'docker run --help' for more information`, docker 23 and later;
/// `See 'docker run --help'.`, docker 20.10 and git) rather than saying
/// what went wrong.
pub fn points_at_help(line: &str) -> bool {
    let l = line.trim();
    (l.starts_with("Run '") && l.ends_with("' for more information"))
        || (l.starts_with("See '") && l.ends_with("'."))
}

/// Why `docker run` could not start the container, when it could not: the
/// docker CLI exits 125 (the engine refused: a name in use, no such image),
/// 126 (the program cannot be run) or 127 (no such program) and says why
/// on a line of its own starting `docker: `. A container's process that
/// exits with one of those codes prints no such line, so its exit is the
/// test's own. The cause without `docker: `.
pub fn run_refused(code: Option<i32>, stderr: &str) -> Option<String> {
    if !matches!(code, Some(125..=127)) {
        return None;
    }
    stderr
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("docker: "))
        .map(|cause| cause.trim().to_string())
        .filter(|cause| !cause.is_empty())
}

/// Whether a failed `docker run --entrypoint python3` means the image has
/// no python3 (rather than an engine failure).
pub fn is_missing_executable(code: Option<i32>, stderr: &str) -> bool {
    code == Some(127)
        || stderr.contains("executable file not found")
        || stderr.contains("no such file or directory: unknown")
}

/// The string labels of an image config (`Labels`, null when none).
fn labels_of(config: Option<&Json>) -> BTreeMap<String, String> {
    config
        .and_then(|c| c.get("Labels"))
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> AnyRef {
        AnyRef::parse(s).unwrap()
    }

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn picks_the_digest_of_the_named_repository() {
        let digests = vec![
            format!("other/x@sha256:{HEX}"),
            format!("127.0.0.1:5000/base@sha256:{HEX}"),
        ];
        assert_eq!(
            pick_repo_digest(&a("127.0.0.1:5000/base:1"), &digests).unwrap(),
            digests[1]
        );
        assert_eq!(
            pick_repo_digest(
                &a("docker.io/library/ubuntu:22.04"),
                &[format!("ubuntu@sha256:{HEX}")]
            )
            .unwrap(),
            format!("ubuntu@sha256:{HEX}")
        );
        assert!(pick_repo_digest(&a("base:1"), &[])
            .unwrap_err()
            .contains("never pulled"));
        assert!(pick_repo_digest(&a("base:1"), &digests)
            .unwrap_err()
            .contains("no digest for repository base"));
        assert!(pick_repo_digest(&a("base:1"), &["base@sha256:zz".into()]).is_err());
    }

    #[test]
    fn parses_inspect_output() {
        let text = format!(
            r#"[{{"Id":"sha256:{HEX}","RepoDigests":[],"Config":{{"Labels":{{"a":"1"}}}},"RootFS":{{"Layers":["l1","l2"]}}}},{{"Id":"x","Config":{{"Labels":null}}}}]"#
        );
        let infos = parse_inspect(&text).unwrap();
        assert_eq!(infos[0].labels.get("a").map(String::as_str), Some("1"));
        assert_eq!(infos[0].layers, vec!["l1", "l2"]);
        assert!(infos[1].labels.is_empty());
        assert!(parse_inspect("garbage").is_err());
        assert!(parse_inspect("[{}]").is_err());
    }

    #[test]
    fn reads_the_digest_from_pull_output() {
        let out = format!("1: Pulling from base\nDigest: sha256:{HEX}\nStatus: Image is up to date for 127.0.0.1:5000/base:1\n127.0.0.1:5000/base:1\n");
        assert_eq!(
            pull_digest(&a("127.0.0.1:5000/base:1"), &out).unwrap(),
            Some(format!("127.0.0.1:5000/base@sha256:{HEX}"))
        );
        assert_eq!(pull_digest(&a("base:1"), "base:1\n").unwrap(), None);
        assert!(pull_digest(&a("base:1"), "Digest: sha256:short\n").is_err());
    }

    #[test]
    fn parses_probe_output() {
        let got = parse_probe(r#"{"os_release": "ID=ubuntu\nVERSION_CODENAME=noble\n", "dists": {"torch": "2.6.0+cu124", "itwinai": null}}"#).unwrap();
        assert_eq!(got.codename().as_deref(), Some("noble"));
        assert_eq!(got.dists["torch"].as_deref(), Some("2.6.0+cu124"));
        assert_eq!(got.dists["itwinai"], None);
        let none = parse_probe(r#"{"os_release": null, "dists": {}}"#).unwrap();
        assert_eq!(none.codename(), None);
        assert!(parse_probe("Traceback").is_err());
        assert!(parse_probe(r#"{"dists": {}}"#).is_err());
    }

    #[test]
    fn a_container_that_could_not_start_is_told_from_a_failed_one() {
        // As docker 28 and 20.10 print them (the engine's message, then a
        // pointer at the help), and a test's own exit with those codes.
        let conflict = "docker: Error response from daemon: Conflict. The container name \"/xtask-1-0\" is already in use by container \"9ced\". You have to remove (or rename) that container to be able to reuse that name.\n\nRun 'docker run --help' for more information\n";
        let old = "docker: Error response from daemon: Conflict. The container name \"/xtask-1-0\" is already in use.\nSee 'docker run --help'.\n";
        let missing = "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown\n\nRun 'docker run --help' for more information\n";
        let cases: [(Option<i32>, &str, Option<&str>); 7] = [
            (Some(125), conflict, Some("Error response from daemon: Conflict. The container name \"/xtask-1-0\" is already in use by container \"9ced\". You have to remove (or rename) that container to be able to reuse that name.")),
            (Some(125), old, Some("Error response from daemon: Conflict. The container name \"/xtask-1-0\" is already in use.")),
            (Some(127), missing, Some("Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown")),
            // The test itself exited 125, 127: it ran.
            (Some(125), "Traceback (most recent call last):\nSystemExit: 125\n", None),
            (Some(127), "sh: 1: pytest: not found\n", None),
            // Another code is the test's, whatever it printed.
            (Some(1), conflict, None),
            (None, conflict, None),
        ];
        for (code, stderr, want) in cases {
            assert_eq!(
                run_refused(code, stderr).as_deref(),
                want,
                "{code:?} {stderr}"
            );
        }
        assert!(points_at_help(
            "Run 'docker run --help' for more information"
        ));
        assert!(points_at_help("See 'docker run --help'."));
        assert!(points_at_help("See 'git --help'."));
        assert!(!points_at_help("Error response from daemon: See 'x'"));
        assert!(!points_at_help("Run the tests again"));
    }

    #[test]
    fn missing_python() {
        assert!(is_missing_executable(Some(127), ""));
        assert!(is_missing_executable(
            Some(127),
            "exec: \"python3\": executable file not found in $PATH: unknown"
        ));
        assert!(!is_missing_executable(
            Some(125),
            "Cannot connect to the Docker daemon"
        ));
    }
}
