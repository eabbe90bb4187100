//! Validation: passes over the parsed documents that each add diagnostics, all run in one go
//! so the user sees every problem at once.

pub mod structure;

use crate::diagnostic::Diagnostics;
use crate::load::Loaded;

/// Runs every semantic pass over what was loaded and returns all diagnostics, the loader's
/// (syntax, structure, conversion) included, sorted by position.
pub fn validate(loaded: &Loaded) -> Diagnostics {
    let mut diags = loaded.diagnostics.clone();
    diags.sort();
    diags
}
