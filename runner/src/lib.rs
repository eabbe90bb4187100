//! runnel runners (to come).
