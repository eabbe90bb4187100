//! runnel API (to come).
