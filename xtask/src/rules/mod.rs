pub(crate) mod audit;
pub(crate) mod latest;
pub(crate) mod promotion;
pub(crate) mod publish;
pub(crate) mod verify;
