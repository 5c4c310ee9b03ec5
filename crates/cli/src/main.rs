//! The `elevenfold` binary.
fn main() {}
