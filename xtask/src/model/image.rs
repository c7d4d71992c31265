//! What is known of an image: what the engine says of it, what its own
//! python3 read inside it, what a registry serves of a base, and the
//! framework a tag names.

use std::collections::BTreeMap;

/// What `docker image inspect` tells about one image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageInfo {
    pub id: String,
    pub repo_digests: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub layers: Vec<String>,
    /// What else of the config shapes what a process inside sees: its
    /// environment, working directory and user (`Env=…`, `WorkingDir=…`,
    /// `User=…`). With the layers, it decides what the probe reads.
    pub runtime: Vec<String>,
    /// `ONBUILD` triggers: they run in any build `FROM` this image.
    pub onbuild: Vec<String>,
    /// Everything of the config that decides how the image runs (env, cmd,
    /// entrypoint, workdir, user, ports, volumes, signal, shell,
    /// healthcheck, triggers), as canonical JSON: equal for a faithful
    /// promotion.
    pub behaviour: String,
    /// The config's `os`, `architecture` and `variant` (empty when absent).
    pub os: String,
    pub architecture: String,
    pub variant: String,
}

impl ImageInfo {
    /// `os/arch[/variant]` as the config says, for messages.
    pub fn platform_shown(&self) -> String {
        let mut s = format!("{}/{}", self.os, self.architecture);
        if !self.variant.is_empty() {
            s = format!("{s}/{}", self.variant);
        }
        s
    }

    /// Whether its config is exactly `p` (os, architecture and variant).
    pub fn is_platform(&self, p: &crate::model::platform::Platform) -> bool {
        p.matches(
            &self.os,
            &self.architecture,
            Some(self.variant.as_str()).filter(|v| !v.is_empty()),
        )
    }
}

/// What the in-image probe read: the os-release text and, per
/// distribution asked for, its installed version (None: not installed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inside {
    pub os_release: Option<String>,
    pub dists: BTreeMap<String, Option<String>>,
}

impl Inside {
    pub fn codename(&self) -> Option<String> {
        self.os_release.as_deref().and_then(os_release_codename)
    }
}

/// `VERSION_CODENAME` from an os-release file (value may be quoted).
pub fn os_release_codename(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.trim().strip_prefix("VERSION_CODENAME=")?;
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// The framework the tag names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framework {
    /// The distribution to look up (`torch`, `tensorflow`, or the catalog's
    /// `framework-package`).
    pub package: String,
    /// `x.y` from the tag.
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_codenames() {
        assert_eq!(
            os_release_codename("ID=ubuntu\nVERSION_CODENAME=jammy\n").as_deref(),
            Some("jammy")
        );
        assert_eq!(
            os_release_codename("VERSION_CODENAME=\"noble\"\n").as_deref(),
            Some("noble")
        );
        assert_eq!(os_release_codename("ID=alpine\n"), None);
        assert_eq!(os_release_codename("VERSION_CODENAME=\n"), None);
    }
}
