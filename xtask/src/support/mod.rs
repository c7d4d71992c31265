pub(crate) mod atomic;
pub(crate) mod cache;
pub mod digest;
pub mod error;
pub(crate) mod http;
pub mod json;
pub(crate) mod lock;
pub mod output;
pub(crate) mod process;
#[cfg(test)]
pub(crate) mod scratch;
pub mod sha256;
pub mod shell;
pub(crate) mod signals;
pub(crate) mod tomlfile;
