//! The end-to-end tests, one binary: the support module is compiled and
//! the binary linked once, and every test shares one harness (one python
//! fixture image a process, tests of all areas packed on the threads).
//! Run an area by its module path: `cargo test --test it refusals::`.

mod support;

mod checks;
mod cli;
mod context_integrity;
mod docker;
mod docs;
mod evidence;
mod faults;
mod image_id_file;
mod multiplatform;
mod platforms;
mod properties;
mod refusals;
mod registry;
mod release;
mod release_command;
mod robustness;
mod variants;
