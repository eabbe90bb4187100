//! Cycles in a pipeline task graph.
