pub mod distribution;
pub(crate) mod evidence;
pub(crate) mod manifest;
pub(crate) mod proxy;
