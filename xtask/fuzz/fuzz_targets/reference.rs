//! The reference and tag grammar: never panics; what it accepts formats
//! back to the same reference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xtask::model::reference::{check_tag, AnyRef, Registry};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = check_tag(s);
    let _ = Registry::parse(s);
    if let Ok(r) = AnyRef::parse(s) {
        let mut again = match &r.domain {
            Some(d) => format!("{d}/{}", r.path),
            None => r.path.clone(),
        };
        if let Some(t) = &r.tag {
            again = format!("{again}:{t}");
        }
        if let Some(d) = &r.digest {
            again = format!("{again}@{d}");
        }
        assert_eq!(AnyRef::parse(&again).as_ref(), Ok(&r), "{s:?}");
    }
});
