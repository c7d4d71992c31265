//! The rest of what docker prints and the tool reads: the digest `docker
//! pull` reports: never panics; a digest read is a well-formed one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xtask::exec::docker_output::pull_digest;
use xtask::model::reference::{check_repo_digest, AnyRef};

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
});
