//! The Dockerfile FROM resolver: never panics, always terminates.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = xtask::project::dockerfile::final_base(s, &BTreeMap::new());
});
