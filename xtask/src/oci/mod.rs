pub mod distribution;
pub mod evidence;
pub mod manifest;
pub mod proxy;
