//! Loading: files and directories → a [`SourceMap`], positioned documents, typed resources
//! (converted to tekton.dev/v1) and every diagnostic found on the way. Each document goes
//! through the YAML parser, identification by `apiVersion`/`kind`, the structural pass
//! against its schema, deserialization and v1beta1 conversion; one bad document does not stop
//! the others.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostics};
use crate::model::{self, ApiVersion, Kind, Resource};
use crate::source::{FileId, SourceMap, Span};
use crate::validate::structure;
use crate::yaml::{self, Node};

/// A resource found in the input, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedResource {
    pub file: FileId,
    /// 0-based index of the document in its file.
    pub document: usize,
    /// The version the document was written in (the model is always v1-shaped).
    pub api_version: ApiVersion,
    pub kind: Kind,
    pub resource: Resource,
    /// The document's root mapping.
    pub span: Span,
}

/// Everything read from the input.
#[derive(Debug, Default)]
pub struct Loaded {
    pub sources: SourceMap,
    pub resources: Vec<LoadedResource>,
    pub diagnostics: Diagnostics,
}

/// Problems with the paths themselves (not with their contents): a usage error.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: no such file or directory")]
    NotFound { path: PathBuf },
    #[error("cannot read directory {path}: {source}")]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Lists the YAML files under `paths`: files as given, directories recursively (`*.yaml`,
/// `*.yml`, sorted; `.git` and `target` skipped; hidden folders such as `.tekton` included).
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut files)?;
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(LoadError::NotFound { path: path.clone() });
        }
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let read = |source| LoadError::ReadDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != ".git" && name != "target" {
                walk(&path, files)?;
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            files.push(path);
        }
    }
    Ok(())
}

impl Loaded {
    pub fn new() -> Self {
        Loaded::default()
    }

    /// Loads files and directories.
    pub fn from_paths(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
        let mut loaded = Loaded::new();
        for file in collect_files(paths)? {
            loaded.add_file(&file);
        }
        Ok(loaded)
    }

    /// Reads and loads one file; a read error becomes a diagnostic.
    pub fn add_file(&mut self, path: &Path) -> FileId {
        match std::fs::read_to_string(path) {
            Ok(text) => self.add_source(path, text),
            Err(e) => {
                let id = self.sources.add(path, "");
                self.diagnostics.error(
                    Code::Io,
                    Span::file_start(id),
                    format!("cannot read file: {e}"),
                );
                id
            }
        }
    }

    /// Loads YAML text under a file name.
    pub fn add_source(&mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> FileId {
        let id = self.sources.add(path.into(), text.into());
        let file = self.sources.get(id);
        let (docs, diags) = yaml::parse(file, id);
        self.diagnostics.extend(diags);
        for doc in docs {
            self.add_document(id, doc.index, &doc.root);
        }
        id
    }

    fn add_document(&mut self, file: FileId, index: usize, root: &Node) {
        if root.is_null() {
            return;
        }
        let diags = &mut self.diagnostics;
        let head = structure::first_line(root.span, Some(self.sources.get(file).slice(root.span)));
        if root.as_map().is_none() {
            diags
                .error(
                    Code::WrongType,
                    head,
                    format!(
                        "expected a Kubernetes resource (a mapping with `apiVersion` and `kind`), found {}",
                        root.type_name()
                    ),
                )
                .label("not a mapping");
            return;
        }
        let field = |name: &str| root.get(name).and_then(Node::as_str);
        let (Some(api), Some(kind)) = (field("apiVersion"), field("kind")) else {
            let missing: Vec<&str> = ["apiVersion", "kind"]
                .into_iter()
                .filter(|f| field(f).is_none())
                .collect();
            for f in missing {
                diags
                    .error(
                        Code::MissingField,
                        head,
                        format!("missing required field `{f}`"),
                    )
                    .label("this document needs `apiVersion` and `kind`");
            }
            return;
        };
        let kind_span = root.entry("kind").map_or(head, |(_, v)| v.span);
        let Some((version, kind)) = model::identify(api, kind) else {
            if api.starts_with("tekton.dev/") {
                diags
                    .error(
                        Code::UnknownKind,
                        kind_span,
                        format!("runnel does not know `{kind}` in `{api}`"),
                    )
                    .label("unknown kind")
                    .hint("runnel reads Task, Pipeline, TaskRun, PipelineRun and StepAction in tekton.dev/v1 and tekton.dev/v1beta1");
            } else {
                diags
                    .warning(
                        Code::IgnoredDocument,
                        kind_span,
                        format!("`{api}` `{kind}` is not a Tekton resource; runnel ignores it"),
                    )
                    .label("ignored");
            }
            return;
        };
        let errors_before = diags.error_count();
        structure::check(
            crate::schema::for_kind(version, kind),
            root,
            head,
            &self.sources.get(file).text,
            diags,
        );
        let structural_errors = diags.error_count() > errors_before;
        match Resource::from_node(kind, root) {
            Ok(mut resource) => {
                if version == ApiVersion::V1beta1 {
                    model::convert::to_v1(&mut resource, diags);
                }
                self.resources.push(LoadedResource {
                    file,
                    document: index,
                    api_version: version,
                    kind,
                    resource,
                    span: head,
                });
            }
            // The structural pass has said what is wrong already; the typed model is only
            // missing for the semantic passes.
            Err(_) if structural_errors => {}
            Err(e) => {
                diags
                    .error(Code::WrongType, e.span.unwrap_or(head), e.message)
                    .label("cannot read this value");
            }
        }
    }
}
