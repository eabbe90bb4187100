//! The shared task catalog's reference page (`docs/catalog.md`), generated from the Tasks in
//! `tasks/` as the engine reads them: per task its description, params, results, workspaces
//! and images. `tests/catalog_docs.rs` fails when the checked-in page drifts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use runnel_engine::load::Loaded;
use runnel_engine::model::{ParamSpec, ParamValue, Resource, Task};

/// The command that regenerates the page.
pub const REGENERATE: &str = "RUNNEL_UPDATE_DOCS=1 cargo test --test catalog_docs";

/// A Task of the catalog and the file it was read from, relative to the catalog directory.
struct Entry<'a> {
    task: &'a Task,
    file: PathBuf,
}

/// Renders the page for the Tasks under `tasks_dir`, sorted by name. Links assume the page
/// lives in `docs/` beside `tasks/`. Fails when the directory cannot be read or a file in it
/// does not load (`runnel validate` shows why).
pub fn render(tasks_dir: &Path) -> Result<String> {
    let loaded = Loaded::from_paths(&[tasks_dir.to_path_buf()])
        .with_context(|| format!("cannot read the catalog {}", tasks_dir.display()))?;
    if loaded.diagnostics.has_errors() {
        bail!(
            "{} does not load cleanly; see `runnel validate {}`",
            tasks_dir.display(),
            tasks_dir.display()
        );
    }
    let mut entries: Vec<Entry<'_>> = loaded
        .resources
        .iter()
        .filter_map(|r| match &r.resource {
            Resource::Task(task) => {
                let path = loaded.sources.path(r.file);
                let file = path.strip_prefix(tasks_dir).unwrap_or(path).to_path_buf();
                Some(Entry { task, file })
            }
            _ => None,
        })
        .collect();
    entries.sort_by(|a, b| name(a.task).cmp(name(b.task)).then(a.file.cmp(&b.file)));

    let mut page = String::new();
    page.push_str(
        "# The task catalog\n\n\
         <!-- Generated from tasks/ by runnel::catalog_docs: do not edit. -->\n\n",
    );
    let _ = writeln!(
        page,
        "Tekton v1 Tasks shared by every pipeline (`tasks/`, one folder per task), referenced \
         by name (`taskRef: {{name: git-clone}}`). `runnel init` writes a pipeline over them \
         (README, \"Golden path\"). This page is generated from the Tasks: regenerate it with \
         `{REGENERATE}`.\n"
    );
    if entries.is_empty() {
        page.push_str("The catalog has no tasks yet.\n");
        return Ok(page);
    }
    page.push_str("| task | what it does |\n|---|---|\n");
    for entry in &entries {
        let _ = writeln!(
            page,
            "| [{0}](#{0}) | {1} |",
            name(entry.task),
            cell(&first_sentence(&description(entry.task)))
        );
    }
    for entry in &entries {
        page.push('\n');
        render_task(&mut page, entry, tasks_dir);
    }
    Ok(page)
}

fn render_task(page: &mut String, entry: &Entry<'_>, tasks_dir: &Path) {
    let task = entry.task;
    let meta = &task.metadata;
    let spec = &task.spec;
    let _ = writeln!(page, "## {}\n", name(task));

    let mut facts = Vec::new();
    let display = spec.display_name.as_ref().map(|d| d.as_str()).or(meta
        .annotations
        .get("tekton.dev/displayName")
        .map(String::as_str));
    if let Some(display) = display {
        facts.push(format!("**{display}**"));
    }
    if let Some(version) = meta.labels.get("app.kubernetes.io/version") {
        facts.push(format!("version {version}"));
    }
    let file = slash_path(&entry.file);
    facts.push(format!("[`tasks/{file}`](../tasks/{file})"));
    if let Some(readme) = entry.file.parent().map(|dir| dir.join("README.md"))
        && tasks_dir.join(&readme).is_file()
    {
        let readme = slash_path(&readme);
        facts.push(format!("[README](../tasks/{readme})"));
    }
    let _ = writeln!(page, "{}\n", facts.join(" · "));

    let text = description(task);
    if !text.is_empty() {
        let _ = writeln!(page, "{text}\n");
    }
    if let Some(environment) = meta.annotations.get("runnel.dev/deployment") {
        let _ = writeln!(
            page,
            "Each run is recorded as a deployment to {} (DORA metrics: [dora.md](dora.md)).\n",
            code(environment)
        );
    }

    page.push_str("**Params**\n\n");
    if spec.params.is_empty() {
        page.push_str("None.\n\n");
    } else {
        page.push_str("| name | type | default | description |\n|---|---|---|---|\n");
        for param in &spec.params {
            let default = param
                .default
                .as_ref()
                .map_or_else(|| "*required*".to_owned(), |d| code(&value_text(d)));
            let mut about = param.description.clone().unwrap_or_default();
            if !param.r#enum.is_empty() {
                let values: Vec<String> = param.r#enum.iter().map(|v| code(v)).collect();
                let _ = write!(about, " One of {}.", values.join(", "));
            }
            let _ = writeln!(
                page,
                "| `{}` | {} | {} | {} |",
                param.name.as_str(),
                param.effective_type(),
                default,
                cell(about.trim())
            );
        }
        page.push('\n');
    }

    page.push_str("**Results**\n\n");
    if spec.results.is_empty() {
        page.push_str("None.\n\n");
    } else {
        page.push_str("| name | type | description |\n|---|---|---|\n");
        for result in &spec.results {
            let kind = result.r#type.as_ref().map(|t| t.value).unwrap_or_default();
            let _ = writeln!(
                page,
                "| `{}` | {} | {} |",
                result.name.as_str(),
                kind,
                cell(result.description.as_deref().unwrap_or_default())
            );
        }
        page.push('\n');
    }

    page.push_str("**Workspaces**\n\n");
    if spec.workspaces.is_empty() {
        page.push_str("None.\n\n");
    } else {
        page.push_str("| name | optional | description |\n|---|---|---|\n");
        for workspace in &spec.workspaces {
            let optional = if workspace.optional.unwrap_or(false) {
                "yes"
            } else {
                "no"
            };
            let _ = writeln!(
                page,
                "| `{}` | {} | {} |",
                workspace.name.as_str(),
                optional,
                cell(workspace.description.as_deref().unwrap_or_default())
            );
        }
        page.push('\n');
    }

    let images = images(task);
    page.push_str("**Images**\n\n");
    if images.is_empty() {
        page.push_str("None.\n");
    } else {
        for image in images {
            let _ = writeln!(page, "- {image}");
        }
    }
}

fn name(task: &Task) -> &str {
    task.metadata.name.as_ref().map_or("", |n| n.as_str())
}

fn description(task: &Task) -> String {
    task.spec
        .description
        .as_deref()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The images of a Task's steps, sidecars and step template, each once, in order: an image
/// given by a param is shown with the param's default (`` `alpine/git:2.47.2` (param
/// `image`) ``).
fn images(task: &Task) -> Vec<String> {
    let spec = &task.spec;
    let written = spec
        .step_template
        .as_ref()
        .and_then(|t| t.image.as_ref())
        .into_iter()
        .chain(spec.steps.iter().filter_map(|s| s.image.as_ref()))
        .chain(spec.sidecars.iter().filter_map(|s| s.image.as_ref()));
    let mut shown: Vec<String> = Vec::new();
    for image in written {
        let line = image_line(image.as_str(), &spec.params);
        if !shown.contains(&line) {
            shown.push(line);
        }
    }
    shown
}

/// One image as written: literal, or `$(params.NAME)` resolved to the param's default.
fn image_line(image: &str, params: &[ParamSpec]) -> String {
    let param = image
        .strip_prefix("$(params.")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|name| params.iter().find(|p| p.name.as_str() == name));
    match param {
        Some(param) => {
            let default = param
                .default
                .as_ref()
                .and_then(|d| d.as_str())
                .filter(|d| !d.is_empty());
            match default {
                Some(default) => format!("{} (param `{}`)", code(default), param.name.as_str()),
                None => format!("param `{}` (no default)", param.name.as_str()),
            }
        }
        None => code(image),
    }
}

/// A param value as YAML would show it: `"text"`, `["a", "b"]`, `{k: "v"}`.
fn value_text(value: &ParamValue) -> String {
    let quote = |s: &str| format!("{s:?}");
    match value {
        ParamValue::String(s) => quote(s),
        ParamValue::Array(items) => {
            let items: Vec<String> = items.iter().map(|i| quote(i.as_str())).collect();
            format!("[{}]", items.join(", "))
        }
        ParamValue::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", quote(v.as_str())))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// The first sentence of a description, for the index.
fn first_sentence(text: &str) -> String {
    let flat = one_line(text);
    let end = flat
        .match_indices(". ")
        .map(|(at, _)| at)
        .find(|&at| !flat[..at].ends_with("e.g") && !flat[..at].ends_with("i.e"));
    match end {
        Some(end) => flat[..=end].to_owned(),
        None => flat,
    }
}

/// Text on one line: runs of whitespace (newlines too) become one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text for a Markdown table cell: one line, `|` escaped.
fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

/// Inline code, with a longer fence when the text holds backticks; `|` escaped for tables.
fn code(text: &str) -> String {
    let text = text.replace('|', "\\|");
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

/// A relative path with `/` separators, for links.
fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_code_stay_in_their_table_column() {
        assert_eq!(cell("a | b\n  c"), "a \\| b c");
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(first_sentence("Clones. Then more."), "Clones.");
        assert_eq!(first_sentence("v1.2 is here"), "v1.2 is here");
        assert_eq!(
            first_sentence("Builds, e.g. a jar. More."),
            "Builds, e.g. a jar."
        );
    }
}
