//! Tandem's transaction pool (work in progress).
