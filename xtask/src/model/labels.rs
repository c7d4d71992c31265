//! The label keys the tool reads and writes, in one place.

/// `org.opencontainers.image.created`, from CREATION_DATE.
pub const CREATED: &str = "org.opencontainers.image.created";
/// `org.opencontainers.image.version`, from ITWINAI_VERSION.
pub const VERSION: &str = "org.opencontainers.image.version";
/// `org.opencontainers.image.revision`, from COMMIT_HASH.
pub const REVISION: &str = "org.opencontainers.image.revision";
/// `org.opencontainers.image.ref.name`, from IMAGE_FULL_NAME.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// `org.opencontainers.image.base.name`, from BASE_IMG_NAME.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
/// `org.opencontainers.image.base.digest`, from BASE_IMG_DIGEST.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// Set to `true` by the tool (`docker build --label`) on an image built
/// from a working tree with uncommitted changes: its revision label does
/// not describe all of what is in it. `image push` never publishes such an
/// image under a release tag or alias. A clean build does not set it (a
/// `--label` costs the classic builder an extra commit).
pub const DIRTY: &str = "eu.intertwin.itwinai.tree-dirty";

/// Each provenance label and the build arg it is set from, in the order
/// the Dockerfiles write them.
pub const FROM_ARGS: [(&str, &str); 6] = [
    (CREATED, "CREATION_DATE"),
    (VERSION, "ITWINAI_VERSION"),
    (REVISION, "COMMIT_HASH"),
    (REF_NAME, "IMAGE_FULL_NAME"),
    (BASE_NAME, "BASE_IMG_NAME"),
    (BASE_DIGEST, "BASE_IMG_DIGEST"),
];

/// The `version` label of an image's labels: an empty one is no version
/// (never shown as `version ` nor compared as one).
pub fn version_of(labels: &std::collections::BTreeMap<String, String>) -> Option<String> {
    labels
        .get(VERSION)
        .filter(|v| !v.trim().is_empty())
        .cloned()
}

/// The documented provenance build args, in the order they are passed.
pub const PROVENANCE_ARGS: [&str; 6] = [
    "COMMIT_HASH",
    "BASE_IMG_NAME",
    "BASE_IMG_DIGEST",
    "ITWINAI_VERSION",
    "CREATION_DATE",
    "IMAGE_FULL_NAME",
];

#[cfg(test)]
mod tests {
    #[test]
    fn an_empty_version_label_is_no_version() {
        let labels = |v: &str| [(super::VERSION.to_string(), v.to_string())].into();
        assert_eq!(super::version_of(&labels("0.4.2")), Some("0.4.2".into()));
        assert_eq!(super::version_of(&labels("")), None);
        assert_eq!(super::version_of(&labels("  ")), None);
        assert_eq!(super::version_of(&Default::default()), None);
    }
}
