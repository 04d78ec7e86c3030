//! Charts and reports rendered from results.

pub mod plot;
