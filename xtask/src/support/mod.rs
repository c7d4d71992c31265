pub mod cache;
pub mod error;
pub mod json;
pub mod lock;
pub mod output;
pub mod tomlfile;
