//! The in-image probe's one JSON line (os-release text and the versions of
//! the distributions asked for): never panics; what it reads prints back to
//! a line that reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xtask::exec::docker_output::parse_probe;
use xtask::support::json::Json;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(inside) = parse_probe(s) else { return };
    let dists = inside
        .dists
        .iter()
        .map(|(k, v)| (k.clone(), Json::opt_str(v.clone())));
    let line = Json::object([
        ("os_release", Json::opt_str(inside.os_release.clone())),
        ("dists", Json::object(dists)),
    ])
    .render();
    assert_eq!(parse_probe(&line), Ok(inside.clone()), "{line}");
    let _ = inside.codename();
});
