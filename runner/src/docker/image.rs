//! Images: rewrite rules (mirrors, air-gapped installs), pull policies, and registry
//! credentials from a Docker config file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::StreamExt;
use serde::Deserialize;

use crate::PullPolicy;

/// Replaces an image reference that matches `from` with `to`.
///
/// `from` may hold one `*`, which matches any text (`mirror.gcr.io/ubuntu*` matches
/// `mirror.gcr.io/ubuntu` and `mirror.gcr.io/ubuntu:22.04`). When `to` holds a `*` too, it
/// is replaced by what the `*` of `from` matched (`docker.io/*` → `mirror.local/*`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImageRewrite {
    pub from: String,
    pub to: String,
}

impl ImageRewrite {
    /// What `image` becomes under this rule, if the rule matches it.
    pub fn apply(&self, image: &str) -> Option<String> {
        let matched = match self.from.split_once('*') {
            None => (image == self.from).then_some(""),
            Some((head, tail)) => image
                .strip_prefix(head)
                .and_then(|rest| rest.strip_suffix(tail))?
                .into(),
        }?;
        Some(self.to.replacen('*', matched, 1))
    }
}

/// The first rule that matches `image` rewrites it; the image is kept when none does.
pub fn rewrite(rules: &[ImageRewrite], image: &str) -> String {
    rules
        .iter()
        .find_map(|rule| rule.apply(image))
        .unwrap_or_else(|| image.to_string())
}

/// An image reference cut into what the Docker API's pull wants: the repository (with
/// its registry) and the tag or digest (`latest` when neither is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub repository: String,
    pub tag: String,
    /// The registry host, `docker.io` for Docker Hub.
    pub registry: String,
}

impl Reference {
    pub fn parse(image: &str) -> Reference {
        let (name, tag) = match image.split_once('@') {
            Some((name, digest)) => (name, digest.to_string()),
            None => {
                let last = image.rfind('/').map_or(0, |i| i + 1);
                match image[last..].rfind(':') {
                    Some(colon) => (
                        &image[..last + colon],
                        image[last + colon + 1..].to_string(),
                    ),
                    None => (image, "latest".to_string()),
                }
            }
        };
        let registry = match name.split_once('/') {
            Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
                first.to_string()
            }
            _ => "docker.io".to_string(),
        };
        Reference {
            repository: name.to_string(),
            tag,
            registry,
        }
    }
}

/// The `auths` of a Docker config file (`~/.docker/config.json`).
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

/// Registry credentials read from a Docker config file.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    by_registry: HashMap<String, DockerCredentials>,
}

impl Credentials {
    /// The Docker config file's path: `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
    }

    /// Reads `path`; a missing file means no credentials.
    pub fn read(path: &Path) -> Result<Credentials, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Credentials::default());
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let file: ConfigFile = serde_json::from_str(&text)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut by_registry = HashMap::new();
        for (server, entry) in file.auths {
            let (mut username, mut password) = (entry.username, entry.password);
            if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|e| format!("{}: `auths.{server}.auth`: {e}", path.display()))?;
                let decoded = String::from_utf8_lossy(&decoded).into_owned();
                if let Some((user, pass)) = decoded.split_once(':') {
                    username = Some(user.to_string());
                    password = Some(pass.to_string());
                }
            }
            let credentials = DockerCredentials {
                username,
                password,
                identitytoken: entry.identity_token,
                serveraddress: Some(server.clone()),
                ..DockerCredentials::default()
            };
            by_registry.insert(registry_key(&server), credentials);
        }
        Ok(Credentials { by_registry })
    }

    fn for_registry(&self, registry: &str) -> Option<DockerCredentials> {
        self.by_registry.get(&registry_key(registry)).cloned()
    }
}

/// `https://index.docker.io/v1/`, `index.docker.io` and `docker.io` are one registry;
/// a server's scheme and path do not matter.
fn registry_key(server: &str) -> String {
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        other => other.to_string(),
    }
}

/// Makes sure `image` is present, pulling it as `policy` says. Errs with a message for the
/// user.
pub async fn ensure(
    docker: &Docker,
    credentials: &Credentials,
    image: &str,
    policy: PullPolicy,
) -> Result<(), String> {
    let present = || async { docker.inspect_image(image).await.is_ok() };
    match policy {
        PullPolicy::Never if present().await => Ok(()),
        PullPolicy::Never => Err(format!(
            "image `{image}` is not present and its imagePullPolicy is Never"
        )),
        PullPolicy::IfNotPresent if present().await => Ok(()),
        PullPolicy::IfNotPresent | PullPolicy::Always => {
            pull(docker, credentials, image).await.map_err(|e| {
                format!(
                    "image `{image}` is not present here and could not be pulled: {e} (build or load it, or map it to a local image with an image rewrite rule)"
                )
            })
        }
    }
}

async fn pull(docker: &Docker, credentials: &Credentials, image: &str) -> Result<(), String> {
    let reference = Reference::parse(image);
    let options = CreateImageOptionsBuilder::new()
        .from_image(&reference.repository)
        .tag(&reference.tag)
        .build();
    let mut progress = docker.create_image(
        Some(options),
        None,
        credentials.for_registry(&reference.registry),
    );
    while let Some(item) = progress.next().await {
        match item {
            Ok(info) => {
                if let Some(error) = info.error_detail.and_then(|d| d.message) {
                    return Err(error);
                }
            }
            Err(e) => return Err(super::api_message(&e)),
        }
    }
    // A pull that reported nothing wrong but left nothing behind is still a failure.
    docker
        .inspect_image(image)
        .await
        .map(|_| ())
        .map_err(|e| super::api_message(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_rules_match_with_one_star() {
        let rules = vec![
            ImageRewrite {
                from: "mirror.gcr.io/ubuntu*".into(),
                to: "runnel-test/debian".into(),
            },
            ImageRewrite {
                from: "docker.io/*".into(),
                to: "mirror.local/*".into(),
            },
            ImageRewrite {
                from: "alpine".into(),
                to: "runnel-test/busybox".into(),
            },
        ];
        assert_eq!(
            rewrite(&rules, "mirror.gcr.io/ubuntu:22.04"),
            "runnel-test/debian"
        );
        assert_eq!(
            rewrite(&rules, "mirror.gcr.io/ubuntu"),
            "runnel-test/debian"
        );
        assert_eq!(
            rewrite(&rules, "docker.io/library/bash:5"),
            "mirror.local/library/bash:5"
        );
        assert_eq!(rewrite(&rules, "alpine"), "runnel-test/busybox");
        assert_eq!(rewrite(&rules, "alpine:3.19"), "alpine:3.19");
        assert_eq!(rewrite(&rules, "quay.io/x"), "quay.io/x");
    }

    #[test]
    fn references_name_their_registry_and_tag() {
        let r = Reference::parse("ubuntu");
        assert_eq!(
            (r.repository.as_str(), r.tag.as_str()),
            ("ubuntu", "latest")
        );
        assert_eq!(r.registry, "docker.io");
        let r = Reference::parse("localhost:5000/team/app:1.2");
        assert_eq!(
            (r.repository.as_str(), r.tag.as_str(), r.registry.as_str()),
            ("localhost:5000/team/app", "1.2", "localhost:5000")
        );
        let r = Reference::parse("gcr.io/distroless/base@sha256:abc");
        assert_eq!(
            (r.repository.as_str(), r.tag.as_str(), r.registry.as_str()),
            ("gcr.io/distroless/base", "sha256:abc", "gcr.io")
        );
    }

    #[test]
    fn credentials_come_from_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        // "user:secret" in base64.
        std::fs::write(
            &path,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpzZWNyZXQ="},
                "registry.example:5000":{"username":"bob","password":"pw"}}}"#,
        )
        .unwrap();
        let creds = Credentials::read(&path).unwrap();
        let hub = creds.for_registry("docker.io").unwrap();
        assert_eq!(hub.username.as_deref(), Some("user"));
        assert_eq!(hub.password.as_deref(), Some("secret"));
        let other = creds.for_registry("registry.example:5000").unwrap();
        assert_eq!(other.username.as_deref(), Some("bob"));
        assert!(creds.for_registry("quay.io").is_none());
        assert!(
            Credentials::read(&dir.path().join("missing.json"))
                .unwrap()
                .by_registry
                .is_empty()
        );
    }
}
