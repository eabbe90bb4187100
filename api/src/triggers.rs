//! Triggers, from the server's config file: which webhooks start a run (events, branch, tag
//! and changed-path filters), which pipeline runs, and the params bound from the webhook, as
//! a Tekton TriggerBinding binds them (`$(body.head_commit.id)`, `$(header.X-GitHub-Event)`,
//! and our `$(event.sha)`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path};

use axum::http::{HeaderMap, HeaderName};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hooks::{EventKind, HookEvent};

/// Where a trigger's pipeline is looked for in the repository when it names none.
pub const DEFAULT_PIPELINE: &str = ".tekton/";

/// The names `events` accepts.
pub const EVENTS: [&str; 3] = ["push", "tag", "pull_request"];

/// The fields `$(event.FIELD)` reads: [`HookEvent`]'s, by the same names.
pub const EVENT_FIELDS: [&str; 15] = [
    "forge",
    "kind",
    "event",
    "action",
    "repo",
    "clone_url",
    "git_ref",
    "branch",
    "tag",
    "sha",
    "before",
    "pull_request",
    "base_branch",
    "sender",
    "changed_paths",
];

/// Which webhooks start a run, of which pipeline, with which params. Every filter that is
/// set must match.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Trigger {
    /// `push`, `tag`, `pull_request` (default: all three).
    pub events: Vec<String>,
    /// Branch globs (`main`, `release/*`, `**`) for pushes and pull requests; for a pull
    /// request they match its target (base) branch, as GitHub Actions and Pipelines-as-Code
    /// do. They do not apply to tags. Empty = any.
    pub branches: Vec<String>,
    /// Tag globs (`v*`) for tags. Empty = any.
    pub tags: Vec<String>,
    /// Changed-path globs: the event matches when any changed path matches one. Empty = any;
    /// unknown changed paths (pull requests, long pushes) match.
    pub paths: Vec<String>,
    /// Changed-path globs to ignore: the event does not match when every changed path (there
    /// is at least one) matches one.
    pub paths_ignore: Vec<String>,
    /// The pipeline file or directory in the repository (pipelines-as-code); default
    /// [`DEFAULT_PIPELINE`].
    pub pipeline: Option<String>,
    /// Params bound from the webhook: `NAME = "text with $(body.a.b), $(header.X-Name),
    /// $(event.sha)"` (see [`bind`]).
    pub params: BTreeMap<String, String>,
}

impl Default for Trigger {
    /// Every push, tag and pull request; the pipeline in [`DEFAULT_PIPELINE`]; no params.
    fn default() -> Self {
        Trigger {
            events: EVENTS.iter().map(|&event| event.to_owned()).collect(),
            branches: Vec::new(),
            tags: Vec::new(),
            paths: Vec::new(),
            paths_ignore: Vec::new(),
            pipeline: None,
            params: BTreeMap::new(),
        }
    }
}

/// Whether a trigger matches an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Yes,
    /// It does not, and why, for a person: "branch `dev` matches none of main, release/*".
    No(String),
}

/// A problem in a trigger's configuration.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("unknown event `{0}` in `events` (expected push, tag or pull_request)")]
    UnknownEvent(String),
    #[error("`events` is empty: the trigger would never match")]
    NoEvents,
    #[error("`{field}`: {source}")]
    Glob {
        /// `branches`, `tags`, `paths` or `paths_ignore`.
        field: &'static str,
        source: globset::Error,
    },
    #[error(
        "`{field}`: `{glob}` starts with `!`, but patterns cannot be negated here \
         (for paths, use `paths_ignore`)"
    )]
    Negated { field: &'static str, glob: String },
    #[error("`pipeline`: `{0}` is not a relative path inside the repository")]
    Pipeline(String),
    #[error(transparent)]
    Param(#[from] ParamError),
}

/// Every problem [`Trigger::check`] found, one a line.
#[derive(Debug)]
pub struct TriggerErrors(pub Vec<TriggerError>);

impl std::error::Error for TriggerErrors {}

impl fmt::Display for TriggerErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl Trigger {
    /// Checks every event name, glob, the pipeline path and every param's template, and
    /// returns all the problems found.
    pub fn check(&self) -> Result<(), TriggerErrors> {
        let mut errors = Vec::new();
        if self.events.is_empty() {
            errors.push(TriggerError::NoEvents);
        }
        for event in &self.events {
            if !EVENTS.contains(&event.as_str()) {
                errors.push(TriggerError::UnknownEvent(event.clone()));
            }
        }
        for (field, globs) in self.globs() {
            for glob in globs {
                if let Err(error) = compile(field, std::slice::from_ref(glob)) {
                    errors.push(error);
                }
            }
        }
        if let Some(pipeline) = &self.pipeline
            && !is_inside_repository(pipeline)
        {
            errors.push(TriggerError::Pipeline(pipeline.clone()));
        }
        for (name, template) in &self.params {
            if let Err(source) = parse(template) {
                errors.push(TriggerError::Param(ParamError {
                    param: name.clone(),
                    source,
                }));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TriggerErrors(errors))
        }
    }

    /// Whether `event` passes the filters: its kind is in `events`, its branch (a pull
    /// request's target branch) or tag matches, and its changed paths, when known, pass
    /// `paths` and `paths_ignore`. Fails only on a bad glob, which [`Trigger::check`] reports.
    pub fn matches(&self, event: &HookEvent) -> Result<Match, TriggerError> {
        let kind = event.kind.as_str();
        if !self.events.iter().any(|name| name == kind) {
            return Ok(Match::No(format!(
                "`{kind}` is not among the trigger's events ({})",
                self.events.join(", ")
            )));
        }

        let (field, what, name, globs) = match event.kind {
            EventKind::Push => ("branches", "branch", &event.branch, &self.branches),
            EventKind::PullRequest => (
                "branches",
                "target branch",
                &event.base_branch,
                &self.branches,
            ),
            EventKind::Tag => ("tags", "tag", &event.tag, &self.tags),
        };
        if !globs.is_empty() {
            let set = compile(field, globs)?;
            match name {
                Some(name) if set.is_match(name) => {}
                Some(name) => {
                    return Ok(Match::No(format!(
                        "{what} `{name}` matches none of {}",
                        globs.join(", ")
                    )));
                }
                None => return Ok(Match::No(format!("the event names no {what}"))),
            }
        }

        let Some(changed) = &event.changed_paths else {
            return Ok(Match::Yes);
        };
        if !self.paths.is_empty() {
            let set = compile("paths", &self.paths)?;
            if !changed.iter().any(|path| set.is_match(path)) {
                return Ok(Match::No(format!(
                    "no changed path matches any of {}",
                    self.paths.join(", ")
                )));
            }
        }
        if !self.paths_ignore.is_empty() && !changed.is_empty() {
            let set = compile("paths_ignore", &self.paths_ignore)?;
            if changed.iter().all(|path| set.is_match(path)) {
                return Ok(Match::No(format!(
                    "every changed path matches paths_ignore ({})",
                    self.paths_ignore.join(", ")
                )));
            }
        }
        Ok(Match::Yes)
    }

    /// The pipeline file or directory: `pipeline`, else [`DEFAULT_PIPELINE`].
    pub fn pipeline_path(&self) -> &str {
        self.pipeline.as_deref().unwrap_or(DEFAULT_PIPELINE)
    }

    /// The trigger's params bound from a webhook (see [`bind_all`]).
    pub fn bind_params(
        &self,
        event: &HookEvent,
        headers: &HeaderMap,
        body: &Value,
    ) -> Result<Vec<(String, String)>, ParamError> {
        bind_all(&self.params, event, headers, body)
    }

    fn globs(&self) -> [(&'static str, &[String]); 4] {
        [
            ("branches", &self.branches),
            ("tags", &self.tags),
            ("paths", &self.paths),
            ("paths_ignore", &self.paths_ignore),
        ]
    }
}

/// Compiles globs where `*` stops at `/` and `**` crosses it, as GitHub Actions' filters:
/// `release/*` matches `release/1.x` but not `release/1.x/fix`; `release/**` matches both.
fn compile(field: &'static str, globs: &[String]) -> Result<GlobSet, TriggerError> {
    let mut set = GlobSetBuilder::new();
    for glob in globs {
        if glob.starts_with('!') {
            return Err(TriggerError::Negated {
                field,
                glob: glob.clone(),
            });
        }
        let compiled = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|source| TriggerError::Glob { field, source })?;
        set.add(compiled);
    }
    set.build()
        .map_err(|source| TriggerError::Glob { field, source })
}

/// Whether a path stays inside the repository: relative, no `..`.
fn is_inside_repository(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|part| matches!(part, Component::Normal(_) | Component::CurDir))
}

/// Why a param template cannot be bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("`$(` without a closing `)` in `{template}`")]
    Unclosed { template: String },
    #[error("`$({expression})`: {reason}")]
    Syntax { expression: String, reason: String },
    /// A key, index or header the webhook does not have.
    #[error("`$({expression})`: `{parent}` has no `{part}`")]
    Missing {
        expression: String,
        /// What was found: `body.head_commit`, `header`.
        parent: String,
        /// What it lacks: `idx`, `[3]`, `X-Custom`.
        part: String,
    },
}

/// A param whose template cannot be bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("param `{param}`: {source}")]
pub struct ParamError {
    pub param: String,
    pub source: BindError,
}

/// Fills a template's `$(...)` expressions from a webhook, as a Tekton TriggerBinding:
///
/// - `$(body.a.b)`, `$(body.commits[0].id)`, `$(body.a['key.with.dots'])`: the JSON body. A
///   string is inserted as is, `null` as `null`, anything else as compact JSON (Tekton would
///   also escape a string's quotes and newlines as JSON; we do not). `$(body)` is the whole
///   body.
/// - `$(header.X-GitHub-Event)`: a header, by a name in any case; several values are joined
///   with `,`. `$(header)` is every header as a JSON object.
/// - `$(event.sha)`: a field of [`HookEvent`] (see [`EVENT_FIELDS`]); an unset one (the
///   branch of a tag) is empty.
///
/// Text outside `$(...)` is kept. A key, index or header the webhook lacks is an error.
pub fn bind(
    template: &str,
    event: &HookEvent,
    headers: &HeaderMap,
    body: &Value,
) -> Result<String, BindError> {
    let mut out = String::with_capacity(template.len());
    for piece in parse(template)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Expression(expression) => {
                out.push_str(&expression.evaluate(event, headers, body)?);
            }
        }
    }
    Ok(out)
}

/// Binds every param (see [`bind`]), in name order.
pub fn bind_all(
    params: &BTreeMap<String, String>,
    event: &HookEvent,
    headers: &HeaderMap,
    body: &Value,
) -> Result<Vec<(String, String)>, ParamError> {
    params
        .iter()
        .map(|(name, template)| {
            bind(template, event, headers, body)
                .map(|value| (name.clone(), value))
                .map_err(|source| ParamError {
                    param: name.clone(),
                    source,
                })
        })
        .collect()
}

/// A template, cut into text and expressions.
enum Piece<'a> {
    Text(&'a str),
    Expression(Expression<'a>),
}

/// What is inside one `$(...)`.
struct Expression<'a> {
    source: &'a str,
    root: Root<'a>,
}

enum Root<'a> {
    Body(Vec<Step<'a>>),
    /// One header, or all of them.
    Header(Option<&'a str>),
    Event(&'a str),
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn parse(template: &str) -> Result<Vec<Piece<'_>>, BindError> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("$(") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let inner = &rest[start + 2..];
        let end = inner.find(')').ok_or_else(|| BindError::Unclosed {
            template: template.to_owned(),
        })?;
        pieces.push(Piece::Expression(Expression::parse(&inner[..end])?));
        rest = &inner[end + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

impl<'a> Expression<'a> {
    fn parse(source: &'a str) -> Result<Self, BindError> {
        let syntax = |reason: String| BindError::Syntax {
            expression: source.to_owned(),
            reason,
        };
        let split = source.find(['.', '[']).unwrap_or(source.len());
        let (name, rest) = source.split_at(split);
        let root = match name {
            "body" => Root::Body(steps(rest).map_err(syntax)?),
            "header" if rest.is_empty() => Root::Header(None),
            "header" => {
                let header = rest
                    .strip_prefix('.')
                    .filter(|header| HeaderName::from_bytes(header.as_bytes()).is_ok())
                    .ok_or_else(|| {
                        syntax("expected `header.NAME` with a valid header name".into())
                    })?;
                Root::Header(Some(header))
            }
            "event" => {
                let field = rest
                    .strip_prefix('.')
                    .ok_or_else(|| syntax("expected `event.FIELD`".into()))?;
                if !EVENT_FIELDS.contains(&field) {
                    return Err(syntax(format!(
                        "unknown event field `{field}` (expected one of {})",
                        EVENT_FIELDS.join(", ")
                    )));
                }
                Root::Event(field)
            }
            _ => {
                return Err(syntax(format!(
                    "`{name}` is not `body`, `header` or `event`"
                )));
            }
        };
        Ok(Expression { source, root })
    }

    fn evaluate(
        &self,
        event: &HookEvent,
        headers: &HeaderMap,
        body: &Value,
    ) -> Result<String, BindError> {
        let missing = |parent: String, part: String| BindError::Missing {
            expression: self.source.to_owned(),
            parent,
            part,
        };
        match &self.root {
            Root::Body(steps) => {
                let mut value = body;
                let mut path = String::from("body");
                for step in steps {
                    let (next, part, separator) = match step {
                        Step::Key(key) => (value.get(*key), (*key).to_owned(), "."),
                        Step::Index(index) => (value.get(*index), format!("[{index}]"), ""),
                    };
                    value = next.ok_or_else(|| missing(path.clone(), part.clone()))?;
                    path.push_str(separator);
                    path.push_str(&part);
                }
                Ok(json_text(value))
            }
            Root::Header(Some(name)) => {
                header_text(headers, name).ok_or_else(|| missing("header".into(), (*name).into()))
            }
            Root::Header(None) => {
                let all: serde_json::Map<String, Value> = headers
                    .keys()
                    .filter_map(|name| {
                        let text = header_text(headers, name.as_str())?;
                        Some((name.as_str().to_owned(), Value::String(text)))
                    })
                    .collect();
                Ok(Value::Object(all).to_string())
            }
            Root::Event(field) => event_field(event, field)
                .map(Option::unwrap_or_default)
                .ok_or_else(|| missing("event".into(), (*field).into())),
        }
    }
}

/// Parses `.key`, `[0]`, `['key']` steps after `body`.
fn steps(mut rest: &str) -> Result<Vec<Step<'_>>, String> {
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return Err("a `.` must be followed by a key".to_owned());
            }
            steps.push(Step::Key(&after[..end]));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or("`[` without a closing `]`")?;
            let inside = &after[..end];
            let quoted = ['\'', '"'].iter().find_map(|&quote| {
                inside
                    .strip_prefix(quote)
                    .and_then(|key| key.strip_suffix(quote))
            });
            let step =
                match quoted {
                    Some(key) => Step::Key(key),
                    None => Step::Index(inside.parse().map_err(|_| {
                        format!("`[{inside}]` is neither an index nor a quoted key")
                    })?),
                };
            steps.push(step);
            rest = &after[end + 1..];
        } else {
            return Err(format!("expected `.` or `[` before `{rest}`"));
        }
    }
    Ok(steps)
}

/// A JSON value as a param's text: a string as is, anything else as compact JSON (`null`
/// included, as Tekton Triggers does).
fn json_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A header's values joined with `,` (as Tekton Triggers), `None` when it has none.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<_> = headers
        .get_all(name)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// A [`HookEvent`] field as text: `None` for an unknown field, `Some(None)` for an unset
/// one. `changed_paths` is a JSON array.
fn event_field(event: &HookEvent, field: &str) -> Option<Option<String>> {
    let text = |value: &Option<String>| value.clone();
    Some(match field {
        "forge" => Some(event.forge.as_str().to_owned()),
        "kind" => Some(event.kind.as_str().to_owned()),
        "event" => Some(event.event.clone()),
        "action" => text(&event.action),
        "repo" => Some(event.repo.clone()),
        "clone_url" => Some(event.clone_url.clone()),
        "git_ref" => Some(event.git_ref.clone()),
        "branch" => text(&event.branch),
        "tag" => text(&event.tag),
        "sha" => Some(event.sha.clone()),
        "before" => text(&event.before),
        "pull_request" => event.pull_request.map(|number| number.to_string()),
        "base_branch" => text(&event.base_branch),
        "sender" => text(&event.sender),
        "changed_paths" => event
            .changed_paths
            .as_ref()
            .map(|paths| Value::from(paths.clone()).to_string()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::hooks::samples::{self, headers, run};
    use crate::hooks::{Forge, read};

    const NEW_BRANCH: &str = "github/push_with-new-branch.payload.json";
    const SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

    /// The push of `master` in GitHub's sample: changed path `README.md`.
    fn push() -> HookEvent {
        let headers = headers(&[("X-GitHub-Event", "push")]);
        run(read(Forge::GitHub, &headers, &samples::json(NEW_BRANCH)).unwrap())
    }

    fn push_to(branch: &str, changed: &[&str]) -> HookEvent {
        let mut event = push();
        event.git_ref = format!("refs/heads/{branch}");
        event.branch = Some(branch.to_owned());
        event.changed_paths = Some(changed.iter().map(|&path| path.to_owned()).collect());
        event
    }

    fn tag(name: &str) -> HookEvent {
        let mut body = samples::json(NEW_BRANCH);
        body["ref"] = json!(format!("refs/tags/{name}"));
        run(read(
            Forge::GitHub,
            &headers(&[("X-GitHub-Event", "push")]),
            &body,
        )
        .unwrap())
    }

    /// The pull request of GitHub's sample: from `changes` into `master`, number 2.
    fn pull_request() -> HookEvent {
        let headers = headers(&[("X-GitHub-Event", "pull_request")]);
        let body = samples::json("github/pull_request_opened.payload.json");
        run(read(Forge::GitHub, &headers, &body).unwrap())
    }

    fn check(trigger: &Trigger, event: &HookEvent, expected: Match) {
        trigger.check().unwrap();
        assert_eq!(trigger.matches(event).unwrap(), expected, "{trigger:?}");
    }

    fn no(reason: &str) -> Match {
        Match::No(reason.to_owned())
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|&item| item.to_owned()).collect()
    }

    fn bind_push(template: &str) -> Result<String, BindError> {
        let headers = headers(&[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "d-1"),
            ("Accept", "application/json"),
            ("Accept", "text/plain"),
        ]);
        bind(template, &push(), &headers, &samples::json(NEW_BRANCH))
    }

    // Matching.

    #[test]
    fn the_default_trigger_matches_every_kind() {
        let trigger = Trigger::default();
        assert_eq!(trigger.pipeline_path(), ".tekton/");
        check(&trigger, &push(), Match::Yes);
        check(&trigger, &tag("v1.0.0"), Match::Yes);
        check(&trigger, &pull_request(), Match::Yes);
    }

    #[test]
    fn events() {
        let trigger = Trigger {
            events: strings(&["push", "pull_request"]),
            ..Trigger::default()
        };
        check(&trigger, &push(), Match::Yes);
        check(&trigger, &pull_request(), Match::Yes);
        check(
            &trigger,
            &tag("v1"),
            no("`tag` is not among the trigger's events (push, pull_request)"),
        );
    }

    #[test]
    fn branches() {
        let trigger = Trigger {
            branches: strings(&["main", "release/*"]),
            ..Trigger::default()
        };
        check(&trigger, &push_to("main", &[]), Match::Yes);
        check(&trigger, &push_to("release/1.x", &[]), Match::Yes);
        check(
            &trigger,
            &push_to("release/1.x/fix", &[]),
            no("branch `release/1.x/fix` matches none of main, release/*"),
        );
        check(
            &trigger,
            &push(),
            no("branch `master` matches none of main, release/*"),
        );
        // Branch globs do not filter tags.
        check(&trigger, &tag("v1"), Match::Yes);

        let deep = Trigger {
            branches: strings(&["release/**"]),
            ..Trigger::default()
        };
        check(&deep, &push_to("release/1.x/fix", &[]), Match::Yes);
        check(
            &deep,
            &push_to("releases", &[]),
            no("branch `releases` matches none of release/**"),
        );

        let any = Trigger {
            branches: strings(&["**"]),
            ..Trigger::default()
        };
        check(&any, &push_to("a/b/c", &[]), Match::Yes);
    }

    #[test]
    fn a_pull_request_is_filtered_by_its_target_branch() {
        let event = pull_request();
        assert_eq!(event.branch.as_deref(), Some("changes"));
        let master = Trigger {
            branches: strings(&["master"]),
            ..Trigger::default()
        };
        check(&master, &event, Match::Yes);
        let head = Trigger {
            branches: strings(&["changes"]),
            ..Trigger::default()
        };
        check(
            &head,
            &event,
            no("target branch `master` matches none of changes"),
        );
    }

    #[test]
    fn tags() {
        let trigger = Trigger {
            tags: strings(&["v*"]),
            ..Trigger::default()
        };
        check(&trigger, &tag("v1.0.0"), Match::Yes);
        check(
            &trigger,
            &tag("nightly"),
            no("tag `nightly` matches none of v*"),
        );
        // Tag globs do not filter branches.
        check(&trigger, &push(), Match::Yes);
    }

    #[test]
    fn paths() {
        let trigger = Trigger {
            paths: strings(&["src/**", "*.toml"]),
            ..Trigger::default()
        };
        // The real push changed README.md only.
        check(
            &trigger,
            &push(),
            no("no changed path matches any of src/**, *.toml"),
        );
        check(
            &trigger,
            &push_to("main", &["README.md", "src/a/b.rs"]),
            Match::Yes,
        );
        check(&trigger, &push_to("main", &["Cargo.toml"]), Match::Yes);
        check(
            &trigger,
            &push_to("main", &["api/Cargo.toml"]),
            no("no changed path matches any of src/**, *.toml"),
        );
        // Unknown changed paths match: a pull request, a push listing no commits.
        check(&trigger, &pull_request(), Match::Yes);
        let mut unknown = push();
        unknown.changed_paths = None;
        check(&trigger, &unknown, Match::Yes);
    }

    #[test]
    fn paths_ignore() {
        let trigger = Trigger {
            paths_ignore: strings(&["**/*.md", "docs/**"]),
            ..Trigger::default()
        };
        check(
            &trigger,
            &push(),
            no("every changed path matches paths_ignore (**/*.md, docs/**)"),
        );
        check(
            &trigger,
            &push_to("main", &["docs/a/b.png", "guide/intro.md"]),
            no("every changed path matches paths_ignore (**/*.md, docs/**)"),
        );
        check(
            &trigger,
            &push_to("main", &["README.md", "src/lib.rs"]),
            Match::Yes,
        );
        // Nothing listed, nothing to ignore.
        check(&trigger, &push_to("main", &[]), Match::Yes);
    }

    #[test]
    fn every_filter_must_match() {
        let trigger = Trigger {
            events: strings(&["push"]),
            branches: strings(&["main"]),
            paths: strings(&["src/**"]),
            paths_ignore: strings(&["src/**/*.md"]),
            ..Trigger::default()
        };
        check(&trigger, &push_to("main", &["src/lib.rs"]), Match::Yes);
        check(
            &trigger,
            &push_to("main", &["src/notes.md"]),
            no("every changed path matches paths_ignore (src/**/*.md)"),
        );
        check(
            &trigger,
            &push_to("dev", &["src/lib.rs"]),
            no("branch `dev` matches none of main"),
        );
    }

    // Checking.

    #[test]
    fn check_reports_every_problem() {
        let trigger = Trigger {
            events: strings(&["push", "pushh"]),
            branches: strings(&["main", "release/[1-"]),
            paths: strings(&["!docs/**"]),
            pipeline: Some("../other/.tekton".to_owned()),
            params: BTreeMap::from([
                ("sha".to_owned(), "$(event.sha)".to_owned()),
                ("bad".to_owned(), "$(bdy.ref)".to_owned()),
            ]),
            ..Trigger::default()
        };
        let errors = trigger.check().unwrap_err();
        let messages: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 5, "{messages:#?}");
        assert_eq!(
            messages[0],
            "unknown event `pushh` in `events` (expected push, tag or pull_request)"
        );
        assert!(
            messages[1].starts_with("`branches`: ") && messages[1].contains("release/[1-"),
            "{}",
            messages[1]
        );
        assert_eq!(
            messages[2],
            "`paths`: `!docs/**` starts with `!`, but patterns cannot be negated here \
             (for paths, use `paths_ignore`)"
        );
        assert_eq!(
            messages[3],
            "`pipeline`: `../other/.tekton` is not a relative path inside the repository"
        );
        assert_eq!(
            messages[4],
            "param `bad`: `$(bdy.ref)`: `bdy` is not `body`, `header` or `event`"
        );
        assert_eq!(errors.to_string(), messages.join("\n"));

        // matches() meets the same bad glob.
        assert!(matches!(
            trigger.matches(&push_to("main", &[])),
            Err(TriggerError::Glob {
                field: "branches",
                ..
            })
        ));
    }

    #[test]
    fn check_refuses_no_events_and_absolute_pipelines() {
        let trigger = Trigger {
            events: Vec::new(),
            pipeline: Some("/etc/pipeline.yaml".to_owned()),
            ..Trigger::default()
        };
        let messages: Vec<String> = trigger
            .check()
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            messages,
            [
                "`events` is empty: the trigger would never match",
                "`pipeline`: `/etc/pipeline.yaml` is not a relative path inside the repository",
            ]
        );
        let fine = Trigger {
            pipeline: Some("ci/pipeline.yaml".to_owned()),
            ..Trigger::default()
        };
        fine.check().unwrap();
        assert_eq!(fine.pipeline_path(), "ci/pipeline.yaml");
    }

    #[test]
    fn deserializes_with_defaults_and_refuses_unknown_keys() {
        let trigger: Trigger = serde_json::from_value(json!({
            "branches": ["main"],
            "params": {"revision": "$(event.sha)"},
        }))
        .unwrap();
        assert_eq!(
            trigger,
            Trigger {
                branches: strings(&["main"]),
                params: BTreeMap::from([("revision".to_owned(), "$(event.sha)".to_owned())]),
                ..Trigger::default()
            }
        );
        let err = serde_json::from_value::<Trigger>(json!({"branch": ["main"]})).unwrap_err();
        assert!(err.to_string().contains("unknown field `branch`"), "{err}");
    }

    // Binding.

    #[test]
    fn binds_body_fields_of_a_real_push() {
        assert_eq!(bind_push("$(body.head_commit.id)").unwrap(), SHA);
        assert_eq!(
            bind_push("$(body.repository.clone_url)").unwrap(),
            "https://github.com/Codertocat/Hello-World.git"
        );
        assert_eq!(bind_push("$(body.commits[0].id)").unwrap(), SHA);
        assert_eq!(
            bind_push("$(body.commits[0].added[0])").unwrap(),
            "README.md"
        );
        assert_eq!(
            bind_push("$(body.repository['full_name'])").unwrap(),
            "Codertocat/Hello-World"
        );
        assert_eq!(bind_push("$(body[\"ref\"])").unwrap(), "refs/heads/master");
    }

    #[test]
    fn binds_non_strings_as_json() {
        assert_eq!(bind_push("$(body.repository.id)").unwrap(), "186853002");
        assert_eq!(bind_push("$(body.created)").unwrap(), "true");
        assert_eq!(bind_push("$(body.base_ref)").unwrap(), "null");
        assert_eq!(bind_push("$(body.commits[0].removed)").unwrap(), "[]");
        let pusher: Value = serde_json::from_str(&bind_push("$(body.pusher)").unwrap()).unwrap();
        assert_eq!(
            pusher,
            json!({"name": "Codertocat", "email": "21031067+Codertocat@users.noreply.github.com"})
        );
        let whole: Value = serde_json::from_str(&bind_push("$(body)").unwrap()).unwrap();
        assert_eq!(whole, samples::json(NEW_BRANCH));
    }

    #[test]
    fn binds_nested_arrays() {
        let body = json!({"matrix": [[1, 2], [3, {"os": "linux", "arch": ["amd64", "arm64"]}]]});
        let render = |template| bind(template, &push(), &HeaderMap::new(), &body);
        assert_eq!(render("$(body.matrix[1][1].os)").unwrap(), "linux");
        assert_eq!(render("$(body.matrix[1][1].arch[1])").unwrap(), "arm64");
        assert_eq!(render("$(body.matrix[0])").unwrap(), "[1,2]");
        assert_eq!(render("$(body.matrix[1][0])").unwrap(), "3");
        assert_eq!(
            render("$(body.matrix[1][2])").unwrap_err(),
            BindError::Missing {
                expression: "body.matrix[1][2]".to_owned(),
                parent: "body.matrix[1]".to_owned(),
                part: "[2]".to_owned(),
            }
        );
    }

    #[test]
    fn binds_headers_in_any_case() {
        assert_eq!(bind_push("$(header.X-GitHub-Event)").unwrap(), "push");
        assert_eq!(bind_push("$(header.x-github-delivery)").unwrap(), "d-1");
        assert_eq!(
            bind_push("$(header.Accept)").unwrap(),
            "application/json,text/plain"
        );
        let all: Value = serde_json::from_str(&bind_push("$(header)").unwrap()).unwrap();
        assert_eq!(all["x-github-event"], "push");
        assert_eq!(all["accept"], "application/json,text/plain");
    }

    #[test]
    fn binds_event_fields() {
        let event = push();
        let render = |template| bind(template, &event, &HeaderMap::new(), &json!({}));
        assert_eq!(render("$(event.sha)").unwrap(), SHA);
        assert_eq!(render("$(event.branch)").unwrap(), "master");
        assert_eq!(
            render("$(event.forge)/$(event.kind)").unwrap(),
            "github/push"
        );
        assert_eq!(render("$(event.repo)").unwrap(), "Codertocat/Hello-World");
        assert_eq!(render("$(event.git_ref)").unwrap(), "refs/heads/master");
        assert_eq!(render("$(event.changed_paths)").unwrap(), "[\"README.md\"]");
        // Unset fields are empty: a push has no tag, a new branch no `before`.
        assert_eq!(render("[$(event.tag)][$(event.before)]").unwrap(), "[][]");

        let pr = pull_request();
        let render = |template| bind(template, &pr, &HeaderMap::new(), &json!({}));
        assert_eq!(render("$(event.pull_request)").unwrap(), "2");
        assert_eq!(
            render("$(event.branch) -> $(event.base_branch)").unwrap(),
            "changes -> master"
        );
        assert_eq!(
            render("$(event.action) by $(event.sender)").unwrap(),
            "opened by Codertocat"
        );
        assert_eq!(render("$(event.changed_paths)").unwrap(), "");

        // Every documented field resolves.
        for field in EVENT_FIELDS {
            assert!(event_field(&pr, field).is_some(), "{field}");
        }
    }

    #[test]
    fn keeps_text_around_several_expressions() {
        assert_eq!(
            bind_push("commit $(event.sha) on $(body.ref) ($(header.X-GitHub-Event)), $ (not) $x")
                .unwrap(),
            format!("commit {SHA} on refs/heads/master (push), $ (not) $x")
        );
        assert_eq!(bind_push("no expressions").unwrap(), "no expressions");
        assert_eq!(bind_push("").unwrap(), "");
    }

    #[test]
    fn a_missing_key_names_the_expression_and_the_part() {
        let err = bind_push("sha=$(body.head_commit.idx)").unwrap_err();
        assert_eq!(
            err,
            BindError::Missing {
                expression: "body.head_commit.idx".to_owned(),
                parent: "body.head_commit".to_owned(),
                part: "idx".to_owned(),
            }
        );
        assert_eq!(
            err.to_string(),
            "`$(body.head_commit.idx)`: `body.head_commit` has no `idx`"
        );
        assert_eq!(
            bind_push("$(body.commits[1].id)").unwrap_err().to_string(),
            "`$(body.commits[1].id)`: `body.commits` has no `[1]`"
        );
        // A string has no keys.
        assert_eq!(
            bind_push("$(body.ref.name)").unwrap_err().to_string(),
            "`$(body.ref.name)`: `body.ref` has no `name`"
        );
        assert_eq!(
            bind_push("$(header.X-Custom)").unwrap_err().to_string(),
            "`$(header.X-Custom)`: `header` has no `X-Custom`"
        );
    }

    #[test]
    fn syntax_errors() {
        let syntax = |template: &str| match bind_push(template).unwrap_err() {
            BindError::Syntax { reason, .. } => reason,
            other => panic!("{template}: {other:?}"),
        };
        assert_eq!(
            bind_push("$(body.ref").unwrap_err(),
            BindError::Unclosed {
                template: "$(body.ref".to_owned()
            }
        );
        assert_eq!(
            syntax("$(params.x)"),
            "`params` is not `body`, `header` or `event`"
        );
        assert_eq!(syntax("$(body..ref)"), "a `.` must be followed by a key");
        assert_eq!(
            syntax("$(body.commits[first])"),
            "`[first]` is neither an index nor a quoted key"
        );
        assert_eq!(syntax("$(body.commits[0)"), "`[` without a closing `]`");
        assert_eq!(syntax("$(event)"), "expected `event.FIELD`");
        assert!(syntax("$(event.commit)").starts_with("unknown event field `commit`"));
        assert_eq!(
            syntax("$(header.X Event)"),
            "expected `header.NAME` with a valid header name"
        );
    }

    #[test]
    fn bind_all_binds_every_param_or_names_the_one_that_fails() {
        let trigger = Trigger {
            params: BTreeMap::from([
                ("revision".to_owned(), "$(event.sha)".to_owned()),
                ("url".to_owned(), "$(body.repository.clone_url)".to_owned()),
                (
                    "first-file".to_owned(),
                    "$(body.commits[0].added[0])".to_owned(),
                ),
            ]),
            ..Trigger::default()
        };
        let headers = headers(&[("X-GitHub-Event", "push")]);
        let body = samples::json(NEW_BRANCH);
        assert_eq!(
            trigger.bind_params(&push(), &headers, &body).unwrap(),
            [
                ("first-file".to_owned(), "README.md".to_owned()),
                ("revision".to_owned(), SHA.to_owned()),
                (
                    "url".to_owned(),
                    "https://github.com/Codertocat/Hello-World.git".to_owned()
                ),
            ]
        );

        let mut params = trigger.params.clone();
        params.insert("pr".to_owned(), "$(body.pull_request.number)".to_owned());
        let err = bind_all(&params, &push(), &headers, &body).unwrap_err();
        assert_eq!(err.param, "pr");
        assert_eq!(
            err.to_string(),
            "param `pr`: `$(body.pull_request.number)`: `body` has no `pull_request`"
        );
    }
}
