pub(crate) mod coreutils;
pub mod docker_output;
pub(crate) mod gateway;
pub(crate) mod git;
pub(crate) mod runner;
