//! Load generators for Rapport (see BENCHMARKS.md).
fn main() {}
