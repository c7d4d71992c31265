//! The form of a content digest, as registries and the engine write it.

/// `sha256:<64 lowercase hex>`.
pub fn check_sha256(d: &str) -> Result<(), String> {
    match d.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(())
        }
        _ => Err(format!("'{d}' is not a sha256 digest (sha256:<64 hex>)")),
    }
}
