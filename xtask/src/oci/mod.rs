pub mod distribution;
pub mod proxy;
