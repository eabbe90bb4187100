//! runnel's engine: the Tekton model (v1 and v1beta1), YAML parsing that keeps source
//! positions, and validation that reports every problem at once. It knows nothing of Docker,
//! Kubernetes, HTTP or SQL drivers.

pub mod diagnostic;
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
