pub mod executor;
pub mod run;
pub mod verify;
