//! runnel's engine: the Tekton model (v1 and v1beta1), YAML parsing that keeps source
//! positions, validation that reports every problem at once, and execution: task
//! resolution, the DAG scheduler with Tekton's semantics, run records (`store`, SQLite or
//! PostgreSQL) and step logs (`logs`). It drives runners only through `runnel_runner::Runner`
//! and knows nothing of Docker, Kubernetes or HTTP.

pub mod diagnostic;
pub mod dora;
pub mod duration;
pub mod exec;
pub mod load;
pub mod logs;
pub mod model;
pub mod resolve;
pub mod schema;
pub mod source;
pub mod spanned;
pub mod store;
pub mod subst;
pub mod validate;
pub mod vars;
pub mod yaml;

pub use diagnostic::{Code, Diagnostic, Diagnostics, Severity};
pub use source::{FileId, SourceMap, Span};
pub use spanned::Spanned;
