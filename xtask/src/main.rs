mod dockerfile;
mod error;
mod pyproject;
mod reference;
mod tomlfile;
mod version;
fn main() {}
