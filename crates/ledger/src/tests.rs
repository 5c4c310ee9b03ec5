//! Ledger tests: scenario tables (`scenarios.rs`) and a model-based property test (`model.rs`).

mod model;
mod scenarios;
