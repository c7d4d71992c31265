//! The rest of what docker prints and the tool reads: `docker pull`,
//! `docker push` and `docker manifest push` (digests): never panics; a
//! digest read is a well-formed one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xtask::exec::docker_output::{manifest_push_digest, pull_digest, pushed_digest};
use xtask::model::reference::{check_repo_digest, AnyRef};
use xtask::support::digest::check_sha256;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for image in ["base:1", "127.0.0.1:5000/itwinai:0.2.2-torch2.6-jammy"] {
        let image = AnyRef::parse(image).unwrap();
        if let Ok(Some(d)) = pull_digest(&image, s) {
            assert_eq!(check_repo_digest(&d), Ok(()), "{d:?}");
        }
    }
    if let Some(d) = pushed_digest(s) {
        assert_eq!(check_sha256(&d), Ok(()), "{d:?}");
    }
    if let Some(d) = manifest_push_digest(s) {
        assert_eq!(check_sha256(&d), Ok(()), "{d:?}");
    }
});
