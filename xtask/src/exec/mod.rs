pub mod coreutils;
pub mod docker_output;
pub mod gateway;
pub mod git;
pub mod runner;
