pub mod distribution;
pub mod manifest;
pub mod proxy;
