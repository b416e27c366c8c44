//! Per-organisation access policies. Being written.
