//! Where docker's client keeps its configuration (credentials, the current
//! context): `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.

use std::path::PathBuf;

/// The file, or `None` when neither DOCKER_CONFIG nor HOME is set.
pub fn file() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".docker/config.json"))
}
