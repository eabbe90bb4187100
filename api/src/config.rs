//! The server's settings: the `[server]` table and the `[[repos]]` of runnel's config file,
//! with environment variables over them. Every setting has a default.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8080"      # RUNNEL_LISTEN
//! max_runs = 4                   # runs at once, in all
//! max_runs_per_repo = 2          # runs at once, per repository
//! cancel_superseded = false      # a newer push to a branch cancels its older runs
//! body_limit = 5242880           # the largest webhook body, in bytes
//! tasks = ["tasks"]              # the shared catalog the pipelines' taskRefs resolve from
//! pipelines = ["pipelines"]      # where POST /api/v1/runs finds pipelines by name
//! drain_seconds = 60             # at shutdown, how long running runs get to finish
//! public_url = "https://ci.example"  # how browsers reach the server (status links)
//! run_queue = true               # false: only take webhooks; other servers run the queue
//!
//! [[repos]]
//! name = "acme/shop"             # as the forge names it (GitLab: group/project)
//! forge = "github"               # github, gitlab or gitea (Forgejo too)
//! secret_env = "SHOP_HOOK_SECRET"  # or secret = "..."; no secret, no runs
//! clone_url = "https://git.example/acme/shop.git"  # default: the payload's
//! token_env = "SHOP_FORGE_TOKEN"  # with it, runs are reported as commit statuses
//! api_url = "https://api.github.com"  # the forge's API (Gitea: required)
//!
//! [[repos.triggers]]             # default: one trigger for every push, tag and PR
//! events = ["push", "pull_request"]
//! branches = ["main", "release/*"]
//! paths = ["src/**"]
//! pipeline = ".tekton/pipeline.yaml"
//! params = { revision = "$(event.sha)", url = "$(body.repository.clone_url)" }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::hooks::Forge;
use crate::triggers::Trigger;

/// The `[server]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: Option<String>,
    pub max_runs: Option<usize>,
    pub max_runs_per_repo: Option<usize>,
    #[serde(default)]
    pub cancel_superseded: bool,
    pub body_limit: Option<usize>,
    #[serde(default)]
    pub tasks: Vec<PathBuf>,
    #[serde(default)]
    pub pipelines: Vec<PathBuf>,
    pub drain_seconds: Option<u64>,
    /// The server's address as browsers reach it (for links in commit statuses).
    pub public_url: Option<String>,
    /// Whether this server starts queued runs (default true). `false`: it only takes
    /// webhooks and API calls, and other servers sharing its PostgreSQL database run the
    /// queue (a run is claimed by one of them only).
    pub run_queue: Option<bool>,
}

/// A `[[repos]]` entry: a repository whose webhooks the server takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    pub name: String,
    pub forge: String,
    pub secret: Option<String>,
    pub secret_env: Option<String>,
    pub clone_url: Option<String>,
    pub cancel_superseded: Option<bool>,
    /// The environment variable holding a forge API token: with one, runs report their
    /// state as commit statuses.
    pub token_env: Option<String>,
    /// The forge's API (default: https://api.github.com, https://gitlab.com/api/v4; Gitea
    /// needs it, e.g. https://gitea.example/api/v1).
    pub api_url: Option<String>,
    #[serde(default)]
    pub triggers: Vec<Trigger>,
}

/// What is wrong with the server's settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("repos `{repo}`: forge must be github, gitlab or gitea (Forgejo), not `{forge}`")]
    Forge { repo: String, forge: String },
    #[error("repos `{repo}`: {message}")]
    Trigger { repo: String, message: String },
    #[error("repos `{repo}`: the environment variable {var} (its secret_env) is not set")]
    SecretEnv { repo: String, var: String },
    #[error("repos `{repo}`: give either secret or secret_env, not both")]
    TwoSecrets { repo: String },
    #[error("repos `{repo}`: a token_env for commit statuses on Gitea needs api_url")]
    NoApiUrl { repo: String },
    #[error("repos `{repo}` is listed twice for {forge}")]
    Twice { repo: String, forge: String },
}

/// A repository ready to take webhooks.
#[derive(Debug, Clone)]
pub struct Repo {
    pub name: String,
    pub forge: Forge,
    /// `None`: every webhook for it is refused (no secret configured).
    pub secret: Option<Vec<u8>>,
    pub clone_url: Option<String>,
    pub cancel_superseded: bool,
    pub triggers: Vec<Trigger>,
    /// Where and how to report commit statuses, when a token is configured.
    pub status: Option<StatusTarget>,
}

/// A forge API to report commit statuses to.
#[derive(Clone)]
pub struct StatusTarget {
    pub api_url: String,
    pub token: String,
}

impl std::fmt::Debug for StatusTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusTarget")
            .field("api_url", &self.api_url)
            .field("token", &"***")
            .finish()
    }
}

/// Every setting, defaults filled in.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub max_runs: usize,
    pub max_runs_per_repo: usize,
    pub body_limit: usize,
    pub tasks: Vec<PathBuf>,
    pub pipelines: Vec<PathBuf>,
    pub drain: Duration,
    pub public_url: Option<String>,
    pub run_queue: bool,
    pub repos: Vec<Repo>,
}

/// Parses a forge's name as the config file and the webhook paths give it.
pub fn parse_forge(name: &str) -> Option<Forge> {
    match name {
        "github" => Some(Forge::GitHub),
        "gitlab" => Some(Forge::GitLab),
        "gitea" | "forgejo" => Some(Forge::Gitea),
        _ => None,
    }
}

impl Settings {
    /// The settings from the file's tables, with `RUNNEL_LISTEN` over `listen` and secrets
    /// read from the environment.
    pub fn new(server: &ServerConfig, repos: &[RepoConfig]) -> Result<Settings, ConfigError> {
        let mut ready: Vec<Repo> = Vec::new();
        for r in repos {
            let forge = parse_forge(&r.forge).ok_or_else(|| ConfigError::Forge {
                repo: r.name.clone(),
                forge: r.forge.clone(),
            })?;
            if ready.iter().any(|x| x.name == r.name && x.forge == forge) {
                return Err(ConfigError::Twice {
                    repo: r.name.clone(),
                    forge: r.forge.clone(),
                });
            }
            let secret = match (&r.secret, &r.secret_env) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::TwoSecrets {
                        repo: r.name.clone(),
                    });
                }
                (Some(s), None) => Some(s.clone().into_bytes()),
                (None, Some(var)) => Some(
                    std::env::var(var)
                        .map_err(|_| ConfigError::SecretEnv {
                            repo: r.name.clone(),
                            var: var.clone(),
                        })?
                        .into_bytes(),
                ),
                (None, None) => None,
            }
            .filter(|s| !s.is_empty());
            let triggers = if r.triggers.is_empty() {
                vec![Trigger::default()]
            } else {
                r.triggers.clone()
            };
            for t in &triggers {
                t.check().map_err(|e| ConfigError::Trigger {
                    repo: r.name.clone(),
                    message: e.to_string(),
                })?;
            }
            let status = match &r.token_env {
                None => None,
                Some(var) => {
                    let token = std::env::var(var).map_err(|_| ConfigError::SecretEnv {
                        repo: r.name.clone(),
                        var: var.clone(),
                    })?;
                    let api_url = match (&r.api_url, forge) {
                        (Some(u), _) => u.trim_end_matches('/').to_owned(),
                        (None, Forge::GitHub) => "https://api.github.com".to_owned(),
                        (None, Forge::GitLab) => "https://gitlab.com/api/v4".to_owned(),
                        (None, Forge::Gitea) => {
                            return Err(ConfigError::NoApiUrl {
                                repo: r.name.clone(),
                            });
                        }
                    };
                    Some(StatusTarget { api_url, token })
                }
            };
            ready.push(Repo {
                name: r.name.clone(),
                forge,
                secret,
                clone_url: r.clone_url.clone(),
                cancel_superseded: r.cancel_superseded.unwrap_or(server.cancel_superseded),
                triggers,
                status,
            });
        }
        let or_default = |dirs: &Vec<PathBuf>, default: &str| {
            if dirs.is_empty() {
                vec![PathBuf::from(default)]
            } else {
                dirs.clone()
            }
        };
        Ok(Settings {
            listen: std::env::var("RUNNEL_LISTEN")
                .ok()
                .filter(|s| !s.is_empty())
                .or_else(|| server.listen.clone())
                .unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
            max_runs: server.max_runs.unwrap_or(4).max(1),
            max_runs_per_repo: server.max_runs_per_repo.unwrap_or(2).max(1),
            body_limit: server.body_limit.unwrap_or(5 * 1024 * 1024),
            tasks: or_default(&server.tasks, "tasks"),
            pipelines: or_default(&server.pipelines, "pipelines"),
            drain: Duration::from_secs(server.drain_seconds.unwrap_or(60)),
            run_queue: server.run_queue.unwrap_or(true),
            public_url: server
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            repos: ready,
        })
    }

    /// The configured repository a webhook names.
    pub fn repo(&self, forge: Forge, name: &str) -> Option<&Repo> {
        self.repos
            .iter()
            .find(|r| r.forge == forge && r.name.eq_ignore_ascii_case(name))
    }
}
