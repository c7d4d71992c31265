//! What a registry holds under a tag, asked through the docker CLI (which
//! carries the user's `docker login` credentials; this tool passes none).
//!
//! With buildx: `docker buildx imagetools inspect`. Without:
//! `docker manifest inspect --verbose`, with `--insecure` only for loopback
//! registries, the ones Docker itself allows over plain HTTP.

use anyhow::Result;
use xshell::Shell;

use crate::json::Json;
use crate::reference::{check_sha256, Reference};
use crate::runner;

/// A tag's manifest in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `sha256:…` of the manifest (what `docker push` reports).
    pub digest: String,
    /// `sha256:…` of the image config: the image ID in the local engine.
    /// None for a multi-platform index.
    pub config: Option<String>,
}

/// `127.0.0.0/8`, `localhost` and `[::1]`, with or without a port.
pub fn is_loopback(reference: &str) -> bool {
    let host = reference.split('/').next().unwrap_or("");
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost"
        || name == "::1"
        || (name.starts_with("127.") && name.split('.').count() == 4)
}

/// Parse `docker manifest inspect --verbose` output for one image.
pub fn parse_manifest_inspect(text: &str) -> Result<Remote, String> {
    let v = Json::parse(text.trim()).map_err(|e| format!("not JSON ({e})"))?;
    // An index prints an array of per-platform entries: no single config.
    if let Some(entries) = v.as_array() {
        return Err(format!(
            "the tag names a multi-platform index of {} images; this tool publishes single images",
            entries.len()
        ));
    }
    let digest = v
        .get("Descriptor")
        .and_then(|d| d.get("digest"))
        .and_then(Json::as_str)
        .ok_or("no Descriptor.digest")?;
    check_sha256(digest)?;
    let config = ["SchemaV2Manifest", "OCIManifest"]
        .iter()
        .find_map(|k| v.get(k)?.get("config")?.get("digest")?.as_str())
        .map(str::to_string);
    Ok(Remote {
        digest: digest.to_string(),
        config,
    })
}

/// Parse `docker buildx imagetools inspect --format '{{json .Manifest}}'`.
pub fn parse_imagetools_manifest(text: &str) -> Result<Remote, String> {
    let v = Json::parse(text.trim()).map_err(|e| format!("not JSON ({e})"))?;
    let digest = v.get("digest").and_then(Json::as_str).ok_or("no digest")?;
    check_sha256(digest)?;
    let config = v
        .get("config")
        .and_then(|c| c.get("digest"))
        .and_then(Json::as_str)
        .map(str::to_string);
    Ok(Remote {
        digest: digest.to_string(),
        config,
    })
}

/// Whether the CLI's message means "no such tag" rather than a failure.
pub fn is_not_found(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("no such manifest") || s.contains("manifest unknown") || s.contains(": not found")
}

/// The manifest of `reference` in its registry; None when the tag does not
/// exist. An unreachable registry is an error.
pub fn lookup(sh: &Shell, buildx: bool, reference: &Reference) -> Result<Option<Remote>> {
    let r = reference.to_string();
    type Parser = fn(&str) -> Result<Remote, String>;
    let (cmd, parse): (xshell::Cmd<'_>, Parser) = if buildx {
        let args = [
            "buildx",
            "imagetools",
            "inspect",
            "--format",
            "{{json .Manifest}}",
            &r,
        ];
        (sh.cmd("docker").args(args), parse_imagetools_manifest)
    } else {
        let mut args = vec!["manifest", "inspect", "--verbose"];
        if is_loopback(&r) {
            args.push("--insecure");
        }
        args.push(&r);
        (sh.cmd("docker").args(args), parse_manifest_inspect)
    };
    let out = runner::output(cmd)?;
    if !out.ok {
        if is_not_found(&out.stderr) {
            return Ok(None);
        }
        anyhow::bail!("cannot look up {r} in its registry: {}", out.stderr_line());
    }
    parse(&out.stdout)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("looking up {r} in its registry: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn loopback_registries() {
        for yes in [
            "127.0.0.1:5000/x:1",
            "127.1.2.3/x",
            "localhost:5000/x",
            "localhost/x",
            "[::1]:5000/x",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "ghcr.io/x:1",
            "127.0.0.1.example.com/x",
            "10.0.0.1:5000/x",
            "itwinai:1",
            "localhost.evil/x",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    #[test]
    fn parses_manifest_inspect() {
        let text = format!(
            r#"{{"Ref":"r","Descriptor":{{"digest":"{A}"}},"SchemaV2Manifest":{{"config":{{"digest":"{B}"}}}}}}"#
        );
        assert_eq!(
            parse_manifest_inspect(&text).unwrap(),
            Remote {
                digest: A.into(),
                config: Some(B.into())
            }
        );
        let oci = format!(
            r#"{{"Descriptor":{{"digest":"{A}"}},"OCIManifest":{{"config":{{"digest":"{B}"}}}}}}"#
        );
        assert_eq!(
            parse_manifest_inspect(&oci).unwrap().config.as_deref(),
            Some(B)
        );
        assert!(parse_manifest_inspect("[{}, {}]")
            .unwrap_err()
            .contains("multi-platform"));
        assert!(parse_manifest_inspect("garbage").is_err());
        assert!(parse_manifest_inspect(r#"{"Descriptor":{"digest":"sha256:x"}}"#).is_err());
    }

    #[test]
    fn parses_imagetools_manifest() {
        let text = format!(r#"{{"schemaVersion":2,"digest":"{A}","config":{{"digest":"{B}"}}}}"#);
        assert_eq!(
            parse_imagetools_manifest(&text).unwrap(),
            Remote {
                digest: A.into(),
                config: Some(B.into())
            }
        );
        assert!(parse_imagetools_manifest("{}").is_err());
    }

    #[test]
    fn not_found_messages() {
        assert!(is_not_found("no such manifest: 127.0.0.1:5000/x:1"));
        assert!(is_not_found("ERROR: 127.0.0.1:5000/x:1: not found"));
        assert!(!is_not_found(
            "failed to configure transport: connection refused"
        ));
    }
}
