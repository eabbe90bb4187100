//! runnel's config file (TOML): `--config FILE`, else `$RUNNEL_CONFIG`, else `runnel.toml`
//! in the current directory when it exists. Every setting has a default, so no file is
//! needed.
//!
//! ```toml
//! runner = "docker"                  # the default of `runnel run --runner`
//!
//! [docker]
//! host = "unix:///var/run/docker.sock"  # default: $DOCKER_HOST, else this socket
//! pull_policy = "IfNotPresent"          # for steps that name none
//! credentials = "/home/me/.docker/config.json"
//! network = "host"                      # every step on this network (default: Docker's bridge)
//!
//! [[images.rewrite]]                 # tried in order; the first match wins
//! from = "mirror.gcr.io/ubuntu*"     # one `*` matches any text
//! to = "runnel-test/debian"          # a `*` here is what the `*` of `from` matched
//! ```
//!
//! `runnel serve` reads `[server]` and `[[repos]]` too (see `runnel_api::config`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use runnel_runner::PullPolicy;
use runnel_runner::docker::{DockerConfig, ImageRewrite};
use serde::Deserialize;

/// `--config`, shared by the commands that read the config file.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// runnel's config file (TOML). Default: runnel.toml in the current directory, if any.
    #[arg(long = "config", value_name = "FILE", env = "RUNNEL_CONFIG")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `local` or `docker`.
    #[serde(default)]
    pub runner: Option<String>,
    #[serde(default)]
    pub docker: DockerSection,
    #[serde(default)]
    pub images: ImagesSection,
    /// `runnel serve`'s settings.
    #[serde(default)]
    pub server: runnel_api::config::ServerConfig,
    /// The repositories `runnel serve` takes webhooks from.
    #[serde(default)]
    pub repos: Vec<runnel_api::config::RepoConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSection {
    pub host: Option<String>,
    pub pull_policy: Option<String>,
    pub credentials: Option<PathBuf>,
    /// The network every step and sidecar joins (`host`, or an existing network's name).
    pub network: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesSection {
    #[serde(default)]
    pub rewrite: Vec<ImageRewrite>,
}

impl Config {
    /// Reads the config file `arg` names, or `runnel.toml` if present, or nothing.
    pub fn load(arg: &ConfigArg) -> Result<Config> {
        match &arg.file {
            Some(path) => Config::read(path),
            None if Path::new("runnel.toml").is_file() => Config::read(Path::new("runnel.toml")),
            None => Ok(Config::default()),
        }
    }

    fn read(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        let config: Config = toml::from_str(&text)
            .with_context(|| format!("the config file {} is not valid", path.display()))?;
        if let Some(policy) = &config.docker.pull_policy
            && PullPolicy::parse(policy).is_none()
        {
            bail!(
                "{}: docker.pull_policy must be Always, IfNotPresent or Never, not `{policy}`",
                path.display()
            );
        }
        if let Some(rule) = config
            .images
            .rewrite
            .iter()
            .find(|r| r.from.matches('*').count() > 1 || r.from.is_empty())
        {
            bail!(
                "{}: the image rewrite rule from `{}` must be non-empty and hold at most one `*`",
                path.display(),
                rule.from
            );
        }
        Ok(config)
    }

    /// The Docker backend's settings, with the label value naming this process.
    pub fn docker(&self, owner: String) -> DockerConfig {
        let defaults = DockerConfig::default();
        DockerConfig {
            host: self.docker.host.clone(),
            pull_policy: self
                .docker
                .pull_policy
                .as_deref()
                .and_then(PullPolicy::parse)
                .unwrap_or(defaults.pull_policy),
            rewrites: self.images.rewrite.clone(),
            credentials: self.docker.credentials.clone().or(defaults.credentials),
            owner,
            network: self.docker.network.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_sets_the_runner_and_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runnel.toml");
        std::fs::write(
            &path,
            "runner = \"docker\"\n[docker]\npull_policy = \"Never\"\n\
             [[images.rewrite]]\nfrom = \"ubuntu*\"\nto = \"runnel-test/debian\"\n",
        )
        .unwrap();
        let config = Config::load(&ConfigArg {
            file: Some(path.clone()),
        })
        .unwrap();
        assert_eq!(config.runner.as_deref(), Some("docker"));
        let docker = config.docker("me".into());
        assert_eq!(docker.pull_policy, PullPolicy::Never);
        assert_eq!(docker.rewrites.len(), 1);
        assert_eq!(docker.owner, "me");

        std::fs::write(&path, "[docker]\npull_policy = \"Sometimes\"\n").unwrap();
        let err = Config::load(&ConfigArg { file: Some(path) }).unwrap_err();
        assert!(format!("{err:#}").contains("Sometimes"), "{err:#}");
    }
}
