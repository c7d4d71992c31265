pub mod client;
pub mod writer;
