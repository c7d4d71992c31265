pub(crate) mod arg;
pub(crate) mod check;
pub(crate) mod engine_call;
pub(crate) mod expectation;
pub(crate) mod provenance;
pub mod step;
pub(crate) mod write;
