pub(crate) mod coreutils;
pub mod docker_output;
pub mod engine_api;
pub(crate) mod gateway;
pub(crate) mod git;
pub(crate) mod runner;
