pub(crate) mod git;
pub(crate) mod image;
pub(crate) mod labels;
pub mod platform;
pub mod reference;
pub(crate) mod remote;
pub mod tag_format;
pub mod version;
