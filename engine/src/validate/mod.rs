//! Validation: passes over the parsed documents that each add diagnostics, all run in one go
//! so the user sees every problem at once.

pub mod structure;
