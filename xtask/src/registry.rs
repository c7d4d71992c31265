//! What a registry holds under a tag, as data, and the rules on it. The
//! registry is read through the docker CLI (which carries the user's
//! `docker login` credentials; this tool passes none) by the executor's
//! `RegistryLookup` step; `--insecure` is given for loopback registries
//! only, the ones Docker itself allows over plain HTTP.

use crate::plan::RemoteExpect;

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
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost"
        || name == "::1"
        || (name.starts_with("127.") && name.split('.').count() == 4)
}

/// Whether a registry manifest is the local image `id`: the same config
/// digest, or a manifest digest the engine recorded for the repository.
pub fn is_image(remote: &Remote, id: &str, repo_digests: &[String], repository: &str) -> bool {
    remote.config.as_deref() == Some(id)
        || repo_digests.contains(&format!("{repository}@{}", remote.digest))
}

/// Whether what the registry serves under `reference` is what a plan
/// expects; the message says what differs.
pub fn check_expect(
    reference: &str,
    expect: &RemoteExpect,
    got: Option<&Remote>,
) -> Result<(), String> {
    let seen = |r: Option<&Remote>| match r {
        None => "nothing".to_string(),
        Some(r) => format!("manifest {}", r.digest),
    };
    let ok = match (expect, got) {
        (RemoteExpect::Absent, None) => true,
        (RemoteExpect::Digest(d), Some(r)) => r.digest == *d,
        (RemoteExpect::Image(id), Some(r)) => r.config.as_deref() == Some(id.as_str()),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let want = match expect {
        RemoteExpect::Absent => "nothing".to_string(),
        RemoteExpect::Digest(d) => format!("manifest {d}"),
        RemoteExpect::Image(id) => format!("the image {id}"),
    };
    Err(format!(
        "the registry serves {} under {reference}, where {want} was expected; another push changed it (run the command again to decide anew)",
        seen(got)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn loopback_registries() {
        let reg = |s: &str| crate::reference::Registry::parse(s).unwrap();
        for yes in [
            "127.0.0.1:5000/x",
            "127.1.2.3",
            "localhost:5000/x",
            "localhost",
        ] {
            assert!(reg(yes).is_loopback(), "{yes}");
        }
        // Not a registry this tool's grammar accepts, but loopback.
        assert!(is_loopback_host("[::1]:5000"));
        for no in [
            "ghcr.io/x",
            "127.0.0.1.example.com",
            "10.0.0.1:5000/x",
            "",
            "localhost.evil/x",
        ] {
            assert!(!reg(no).is_loopback(), "{no}");
        }
    }

    #[test]
    fn same_image_by_config_or_recorded_digest() {
        let remote = |digest: &str, config: Option<&str>| Remote {
            digest: digest.into(),
            config: config.map(str::to_string),
        };
        let recorded = [format!("r/x@{B}")];
        assert!(is_image(&remote("sha256:0", Some(A)), A, &recorded, "r/x"));
        assert!(is_image(&remote(B, None), A, &recorded, "r/x"));
        assert!(!is_image(&remote(B, None), A, &recorded, "r/y"));
        assert!(!is_image(&remote("sha256:0", Some(B)), A, &recorded, "r/x"));
    }

    #[test]
    fn expectations_on_what_the_registry_serves() {
        let at = |d: &str, c: &str| Remote {
            digest: d.into(),
            config: Some(c.into()),
        };
        let cases: Vec<(RemoteExpect, Option<Remote>, bool)> = vec![
            (RemoteExpect::Absent, None, true),
            (RemoteExpect::Absent, Some(at(A, B)), false),
            (RemoteExpect::Digest(A.into()), Some(at(A, B)), true),
            (RemoteExpect::Digest(A.into()), Some(at(B, B)), false),
            (RemoteExpect::Digest(A.into()), None, false),
            (RemoteExpect::Image(B.into()), Some(at(A, B)), true),
            (RemoteExpect::Image(A.into()), Some(at(A, B)), false),
            (RemoteExpect::Image(A.into()), None, false),
        ];
        for (expect, got, ok) in cases {
            let r = check_expect("h/r:1", &expect, got.as_ref());
            assert_eq!(r.is_ok(), ok, "{expect:?} {got:?}");
        }
        let err = check_expect("h/r:1", &RemoteExpect::Absent, Some(&at(A, B))).unwrap_err();
        assert!(
            err.contains(&format!("serves manifest {A} under h/r:1, where nothing")),
            "{err}"
        );
    }
}
