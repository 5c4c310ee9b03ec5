//! Model test (placeholder until written).
