pub mod audit;
pub mod latest;
pub mod promotion;
pub mod publish;
pub mod verify;
