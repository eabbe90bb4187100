//! The Tekton model (being written).
