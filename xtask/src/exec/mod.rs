pub mod docker_output;
pub mod git;
pub mod runner;
