//! `runnel init`: writes a repository's `.tekton/pipeline.yaml`, the golden-path Pipeline over
//! the shared task catalog (`tasks/`, referenced by name), tuned to the repository's language,
//! and prints the `[[repos]]` entry that makes a server run it on every push. The texts are
//! templates under `src/cli/init/` with `@NAME@` placeholders.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;

/// The golden-path Pipeline, with `@SERVICE@`, `@LANGUAGE@` and `@TOOLCHAIN_IMAGE@`.
const PIPELINE_TEMPLATE: &str = include_str!("init/pipeline.yaml.in");
/// The server's `[[repos]]` entry, with `@SERVICE@` and `@SECRET_ENV@`.
const REPOS_TEMPLATE: &str = include_str!("init/runnel.toml.in");

/// Where the pipeline is written, under the repository.
pub const PIPELINE_PATH: &str = ".tekton/pipeline.yaml";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The service's language (default: detected from the files in DIR).
    #[arg(long, value_enum)]
    pub language: Option<Language>,
    /// The service's name: the pipeline's, and the default image's and ArgoCD app's
    /// (default: DIR's name).
    #[arg(long, value_name = "SERVICE")]
    pub name: Option<String>,
    /// The repository to set up.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite an existing .tekton/pipeline.yaml.
    #[arg(long)]
    pub force: bool,
}

/// A language the golden path knows: which toolchain image lints and tests it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Language {
    Python,
    Node,
    Go,
    Rust,
}

impl Language {
    pub const ALL: [Language; 4] = [
        Language::Python,
        Language::Node,
        Language::Go,
        Language::Rust,
    ];

    /// The name the catalog's `language` params take.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Node => "node",
            Language::Go => "go",
            Language::Rust => "rust",
        }
    }

    /// The image code-quality and unit-test run in.
    pub fn toolchain_image(self) -> &'static str {
        match self {
            Language::Python => "python:3.12-slim",
            Language::Node => "node:20-bookworm-slim",
            Language::Go => "golang:1.23-bookworm",
            Language::Rust => "rust:1.83-bookworm",
        }
    }

    /// The files that mark a repository of this language (as code-quality's `auto` reads
    /// them).
    pub fn markers(self) -> &'static [&'static str] {
        match self {
            Language::Python => &["pyproject.toml", "requirements.txt"],
            Language::Node => &["package.json"],
            Language::Go => &["go.mod"],
            Language::Rust => &["Cargo.toml"],
        }
    }
}

/// The language of the repository in `dir`, from its marker files. Fails when there is none,
/// saying what was looked for, and when markers of several languages are there.
pub fn detect_language(dir: &Path) -> Result<Language> {
    let found: Vec<(Language, &str)> = Language::ALL
        .iter()
        .filter_map(|&language| {
            language
                .markers()
                .iter()
                .find(|marker| dir.join(marker).is_file())
                .map(|&marker| (language, marker))
        })
        .collect();
    match found.as_slice() {
        [(language, _)] => Ok(*language),
        [] => {
            let looked: Vec<String> = Language::ALL
                .iter()
                .map(|l| format!("{} ({})", l.markers().join(", "), l.as_str()))
                .collect();
            bail!(
                "cannot tell the language of {}: it has none of {}; \
                 name it with --language python|node|go|rust",
                dir.display(),
                looked.join(", ")
            )
        }
        several => {
            let seen: Vec<String> = several
                .iter()
                .map(|(l, marker)| format!("{marker} ({})", l.as_str()))
                .collect();
            bail!(
                "{} holds files of several languages: {}; choose one with --language",
                dir.display(),
                seen.join(", ")
            )
        }
    }
}

/// Whether `name` can name the pipeline, the image and the ArgoCD application: a DNS label
/// (lowercase letters, digits and `-`, at most 63 characters, a letter or digit at each end).
pub fn is_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// The closest service name to `text`: lowercased, every run of other characters turned
/// into one `-`, trimmed to 63 characters. Empty when `text` has no letter or digit.
pub fn to_service_name(text: &str) -> String {
    let mut name = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    name.truncate(63);
    name.trim_end_matches('-').to_owned()
}

/// The service's name: `--name` as given (checked), else DIR's own name made into one.
fn service_name(given: Option<&str>, dir: &Path) -> Result<String> {
    if let Some(name) = given {
        if is_service_name(name) {
            return Ok(name.to_owned());
        }
        let suggestion = to_service_name(name);
        let hint = if suggestion.is_empty() {
            String::new()
        } else {
            format!(", e.g. `{suggestion}`")
        };
        bail!(
            "`{name}` cannot name a service: it names the pipeline, the image and the ArgoCD \
             application, so use lowercase letters, digits and `-` (at most 63){hint}"
        );
    }
    let absolute = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let base = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = to_service_name(&base);
    if name.is_empty() {
        bail!("cannot make a service name of the directory name `{base}`; give one with --name");
    }
    Ok(name)
}

/// Replaces each `@KEY@` of `template` by its value.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |text, (key, value)| {
            text.replace(&format!("@{key}@"), value)
        })
}

/// The golden-path Pipeline for `service`, written in `language`.
pub fn render_pipeline(language: Language, service: &str) -> String {
    fill(
        PIPELINE_TEMPLATE,
        &[
            ("SERVICE", service),
            ("LANGUAGE", language.as_str()),
            ("TOOLCHAIN_IMAGE", language.toolchain_image()),
        ],
    )
}

/// The `[[repos]]` entry of the server's `runnel.toml` that runs the pipeline on each push.
pub fn render_repos_entry(service: &str) -> String {
    let secret_env = format!(
        "{}_HOOK_SECRET",
        service.to_ascii_uppercase().replace('-', "_")
    );
    fill(
        REPOS_TEMPLATE,
        &[("SERVICE", service), ("SECRET_ENV", &secret_env)],
    )
}

pub fn run(args: &Args) -> ExitCode {
    match init(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init(args: &Args) -> Result<()> {
    if !args.dir.is_dir() {
        bail!("{}: no such directory", args.dir.display());
    }
    let language = match args.language {
        Some(language) => language,
        None => detect_language(&args.dir)?,
    };
    let service = service_name(args.name.as_deref(), &args.dir)?;
    // Paths as the user wrote DIR, without a leading `./` for the default.
    let in_dir = |path: &str| {
        if args.dir == Path::new(".") {
            PathBuf::from(path)
        } else {
            args.dir.join(path)
        }
    };
    let path = in_dir(PIPELINE_PATH);
    let pipeline = render_pipeline(language, &service);
    write_pipeline(&path, &pipeline, args.force)?;

    let tekton = in_dir(".tekton");
    let mut out = std::io::stdout().lock();
    let printed = writeln!(
        out,
        "wrote {}: the golden-path pipeline of `{service}` ({}, {})\n\
         check it against the shared catalog: runnel validate {}/ PATH/TO/tasks/\n\n\
         To run it on each push, add this to the server's runnel.toml:\n\n{}",
        path.display(),
        language.as_str(),
        language.toolchain_image(),
        tekton.display(),
        render_repos_entry(&service)
    );
    if let Err(e) = printed
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e).context("cannot write to stdout");
    }
    Ok(())
}

/// Writes the pipeline at `path`, making `.tekton/`; an existing file is kept unless `force`.
fn write_pipeline(path: &Path, text: &str, force: bool) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot write {}", path.display())),
    };
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        for language in Language::ALL {
            let text = render_pipeline(language, "shop") + &render_repos_entry("shop");
            for key in ["SERVICE", "LANGUAGE", "TOOLCHAIN_IMAGE", "SECRET_ENV"] {
                assert!(
                    !text.contains(&format!("@{key}@")),
                    "{key} left in:\n{text}"
                );
            }
        }
    }

    #[test]
    fn service_names_from_directory_names() {
        for (dir, name) in [
            ("shop", "shop"),
            ("My_Shop.v2", "my-shop-v2"),
            ("--x--", "x"),
            ("日本", ""),
            (&"a".repeat(70), &"a".repeat(63)),
        ] {
            assert_eq!(to_service_name(dir), name, "{dir}");
            assert!(name.is_empty() || is_service_name(name), "{name}");
        }
        assert!(!is_service_name("Shop"));
        assert!(!is_service_name("-shop"));
        assert!(!is_service_name("shop_1"));
    }
}
