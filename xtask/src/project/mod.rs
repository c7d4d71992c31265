pub mod catalog;
pub mod context;
pub mod dockerfile;
pub mod pyproject;
pub mod workspace;
