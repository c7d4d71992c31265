pub mod arg;
pub mod check;
pub mod expectation;
pub mod provenance;
pub mod step;
pub mod write;
