pub mod catalog;
pub(crate) mod context;
pub mod dockerfile;
pub mod pyproject;
pub(crate) mod workspace;
