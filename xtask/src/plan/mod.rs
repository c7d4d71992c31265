pub mod provenance;
pub mod step;
