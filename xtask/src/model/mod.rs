pub mod git;
pub mod image;
pub mod labels;
pub mod platform;
pub mod reference;
pub mod remote;
pub mod tag_format;
pub mod version;
