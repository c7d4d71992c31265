pub mod expectation;
pub mod provenance;
pub mod step;
