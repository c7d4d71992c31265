pub mod executor;
pub mod verify;
