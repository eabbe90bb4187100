//! The git mirror cache behind pipelines-as-code: one bare mirror per repository URL under a
//! root directory. A webhook names a repository and a commit; [`Mirrors::fetch`] brings exactly
//! that commit into the mirror and [`Mirrors::extract`] writes the commit's `.tekton/` files out,
//! with no work tree. [`Mirrors::changed_paths`] and [`Mirrors::commits`] read history.
//!
//! # Fetching a commit by its id
//!
//! Checked with git 2.47 on both ends, over `git daemon` (`git://`) and `file://`:
//! - Protocol v2 (the default): `git fetch <url> <sha>` gets any commit the server's object
//!   store holds, whether a branch tip, an ancestor, or a commit no ref points to any more
//!   (force-pushed away, not yet garbage-collected). Upload-pack v2 does not check that a want
//!   is reachable; the `uploadpack.allow*SHA1InWant` settings only matter to v0. A commit the
//!   server lacks fails with `remote error: upload-pack: not our ref <sha>`.
//! - Protocol v0 (`protocol.version=0`, old servers): the client itself refuses any id that is
//!   not an advertised tip, ancestors included: `Server does not allow request for unadvertised
//!   object <sha>`. With `uploadpack.allowReachableSHA1InWant` on the server, ancestors are
//!   served and a force-pushed-away commit gets `not our ref`.
//!
//! Hence [`Mirrors::fetch`] asks for the id, and on such a refusal fetches the webhook's ref and
//! checks the commit is in its history.
//!
//! A fetched commit is pinned by a ref `refs/runnel/pins/<sha>` in the mirror, so that garbage
//! collection keeps it after the server forgets it, and a second fetch of it needs no network.
//! Credentials in a URL are passed to git through the environment (`GIT_CONFIG_*`): never on a
//! command line, in the mirror's config, its directory name, or an error.
//!
//! Needs git 2.30 or newer (`--end-of-options` everywhere, `--no-write-fetch-head`).

mod command;
mod extract;
mod names;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use command::GitCommand;
use names::{Sha, check_path, check_ref, check_url, mirror_name, redact, strip_credentials};

/// How long one git command may run before it is killed, unless [`Mirrors::with_timeout`]
/// says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The remote every fetch goes through, defined for that command only (see [`GitCommand::remote`]).
const UPSTREAM: &str = "upstream";
/// Where fetched commits are pinned: `refs/runnel/pins/<sha>`.
const PINS: &str = "refs/runnel/pins/";
/// Where the fallback fetch of a ref lands (see [`Mirrors::fetch`]).
const FALLBACK_REF: &str = "refs/runnel/fallback";

/// Why a git operation on a mirror failed. URLs, commands and stderr have their credentials
/// redacted.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A commit id that is not 40 or 64 hex digits.
    #[error("not a full commit id (40 or 64 hex digits): {0:?}")]
    InvalidSha(String),
    /// A URL, ref or path refused before git sees it (it could pass for an option, say).
    #[error("refusing {what} {value:?}: {reason}")]
    InvalidArgument {
        /// `URL`, `ref` or `path`.
        what: &'static str,
        value: String,
        reason: &'static str,
    },
    /// Git could not be started, or its pipes failed.
    #[error("could not run `{command}`: {source}")]
    Run {
        command: String,
        source: std::io::Error,
    },
    /// Git exited non-zero.
    #[error("`{command}` failed ({}): {stderr}", exit_text(*.code))]
    Command {
        command: String,
        /// `None` when a signal ended it.
        code: Option<i32>,
        /// The last lines of its stderr.
        stderr: String,
    },
    /// Git ran longer than the timeout and was killed, with the processes it started.
    #[error("`{command}` timed out after {timeout:?} and was killed")]
    Timeout { command: String, timeout: Duration },
    /// The server does not give this commit: it refused the id, and the ref (if any) fetched
    /// instead does not contain it either.
    #[error("{url} does not give commit {sha}: {reason}")]
    CommitUnavailable {
        url: String,
        sha: String,
        reason: String,
    },
    /// The commit (or the whole mirror) is not in the cache: [`Mirrors::fetch`] it first.
    #[error("commit {sha} of {url} has not been fetched")]
    NotFetched { url: String, sha: String },
    /// The path does not exist at that commit.
    #[error("{path:?} does not exist at commit {sha}")]
    PathNotFound { path: String, sha: String },
    /// Git's output is not what was asked for (a tree entry with an unsafe path, say).
    #[error("unexpected output from `{command}`: {detail}")]
    Output { command: String, detail: String },
    /// Reading or writing a file or directory failed.
    #[error("could not {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_owned(),
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> GitError {
    let path = path.to_owned();
    move |source| GitError::Io {
        action,
        path,
        source,
    }
}

/// A commit as [`Mirrors::commits`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    /// The full commit id.
    pub id: String,
    /// When the author wrote it (not when it was committed or pushed).
    pub author_time: DateTime<Utc>,
    pub author_name: String,
    pub author_email: String,
    /// The first line of the message.
    pub subject: String,
}

/// A cache of bare mirrors, one per repository URL, under `root`.
///
/// Meant to be shared (in an `Arc`) by one process: fetches of the same URL wait for each other,
/// different URLs proceed in parallel. Two processes must not share a root.
#[derive(Debug)]
pub struct Mirrors {
    root: PathBuf,
    timeout: Duration,
    /// One lock per mirror directory, held while fetching into it.
    locks: std::sync::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl Mirrors {
    /// A cache under `root` (created when first needed), with [`DEFAULT_TIMEOUT`] per command.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Mirrors {
            root: root.into(),
            timeout: DEFAULT_TIMEOUT,
            locks: Default::default(),
        }
    }

    /// The same cache with another timeout per git command.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The mirror's directory for `url`: `<root>/<slug>-<hash>`, named after the URL without
    /// its credentials (see the module documentation), so a rotated token keeps the mirror.
    pub fn dir_of(&self, url: &str) -> PathBuf {
        self.root.join(mirror_name(url))
    }

    fn git(&self, dir: &Path) -> GitCommand {
        GitCommand::new(Some(dir), self.timeout)
    }

    fn lock_of(&self, dir: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(dir.to_owned()).or_default().clone()
    }

    /// Makes sure the mirror of `url` holds commit `sha` (40 or 64 hex digits).
    ///
    /// Creates the bare mirror when missing, or when its directory is not a git repository (a
    /// crash while creating it), then fetches that one commit, which needs no ref. When the
    /// server refuses to give a commit by id (protocol v0, see the module documentation) and
    /// `git_ref` is given (`main`, `refs/pull/7/head`), fetches that ref instead and checks the
    /// commit is in its history. Does nothing when the commit was fetched before.
    pub async fn fetch(&self, url: &str, sha: &str, git_ref: Option<&str>) -> Result<(), GitError> {
        check_url(url)?;
        let sha = Sha::parse(sha)?;
        if let Some(name) = git_ref {
            check_ref(name)?;
        }
        let dir = self.dir_of(url);
        let lock = self.lock_of(&dir);
        let _guard = lock.lock().await;
        self.ensure_mirror(url, &dir, &sha).await?;
        if self.has_commit(&dir, &format!("{PINS}{sha}")).await? {
            return Ok(());
        }
        let refusal = match self
            .fetch_refspec(&dir, url, &format!("{sha}:{PINS}{sha}"))
            .await
        {
            Ok(()) => return Ok(()),
            Err(GitError::Command { stderr, .. }) if is_refusal(&stderr) => stderr,
            Err(other) => return Err(other),
        };
        let unavailable = |reason: String| GitError::CommitUnavailable {
            url: redact(url),
            sha: sha.to_string(),
            reason: format!("{}, {reason}", last_line(&refusal)),
        };
        let Some(name) = git_ref else {
            return Err(unavailable(
                "and no ref was given to fetch instead".to_owned(),
            ));
        };
        tracing::debug!(
            url = %redact(url),
            %sha,
            git_ref = name,
            "the server refuses the commit by id; fetching the ref"
        );
        match self
            .fetch_refspec(&dir, url, &format!("+{name}:{FALLBACK_REF}"))
            .await
        {
            Ok(()) => {}
            Err(GitError::Command { stderr, .. }) if is_refusal(&stderr) => {
                let failure = last_line(&stderr);
                return Err(unavailable(format!(
                    "and fetching {name} failed: {failure}"
                )));
            }
            Err(other) => return Err(other),
        }
        if !self.has_commit(&dir, sha.as_str()).await? || !self.is_ancestor(&dir, &sha).await? {
            return Err(unavailable(format!(
                "and it is not in the history of {name}"
            )));
        }
        self.git(&dir)
            .args(["update-ref", "--end-of-options"])
            .arg(format!("{PINS}{sha}"))
            .arg(sha.as_str())
            .output()
            .await?;
        Ok(())
    }

    /// `git fetch` of one refspec from `url`, with no tags, no submodules, no `FETCH_HEAD`.
    async fn fetch_refspec(&self, dir: &Path, url: &str, refspec: &str) -> Result<(), GitError> {
        self.git(dir)
            .remote(UPSTREAM, url)
            .args([
                "fetch",
                "--no-tags",
                "--no-recurse-submodules",
                "--no-write-fetch-head",
            ])
            .args(["--end-of-options", UPSTREAM, refspec])
            .output()
            .await
            .map(drop)
    }

    /// Writes the files under `path` (a directory such as `.tekton`, or a file) as of commit
    /// `sha` into `dest`, at their paths from the repository's root (`dest/.tekton/…`), and
    /// returns those paths. Reads blobs straight from the mirror: no work tree, no checkout.
    ///
    /// `dest` is created; a file already there is an error, never overwritten. Symbolic links
    /// and submodules are skipped (a link could point anywhere on this machine).
    pub async fn extract(
        &self,
        url: &str,
        sha: &str,
        path: &str,
        dest: &Path,
    ) -> Result<Vec<String>, GitError> {
        check_url(url)?;
        let sha = Sha::parse(sha)?;
        let path = check_path(path)?;
        let dir = self.fetched_mirror(url, &[&sha]).await?;
        extract::write_tree(self, &dir, &sha, path, dest).await
    }

    /// The paths that differ between commits `from` and `to` (both fetched), sorted. A rename
    /// counts as two paths, the old and the new.
    pub async fn changed_paths(
        &self,
        url: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, GitError> {
        check_url(url)?;
        let (from, to) = (Sha::parse(from)?, Sha::parse(to)?);
        let dir = self.fetched_mirror(url, &[&from, &to]).await?;
        let out = self
            .git(&dir)
            .args([
                "diff-tree",
                "-r",
                "-z",
                "--name-only",
                "--no-renames",
                "--end-of-options",
            ])
            .args([from.as_str(), to.as_str(), "--"])
            .output()
            .await?;
        Ok(out
            .split(|&b| b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect())
    }

    /// The non-merge commits reachable from `to` and not from `from` (all of `to`'s history
    /// when `from` is `None`), newest first (by commit time, as `git log` lists them).
    pub async fn commits(
        &self,
        url: &str,
        from: Option<&str>,
        to: &str,
    ) -> Result<Vec<CommitInfo>, GitError> {
        check_url(url)?;
        let to = Sha::parse(to)?;
        let from = from.map(Sha::parse).transpose()?;
        let mut wanted = vec![&to];
        wanted.extend(&from);
        let dir = self.fetched_mirror(url, &wanted).await?;
        let mut git = self
            .git(&dir)
            .args(["log", "--no-merges", "--no-show-signature", "-z"])
            .args(["--format=%H%x00%at%x00%an%x00%ae%x00%s", "--end-of-options"])
            .arg(to.as_str());
        if let Some(from) = &from {
            git = git.arg(format!("^{from}"));
        }
        let shown = git.shown();
        let out = git.arg("--").output().await?;
        parse_log(&out).map_err(|detail| GitError::Output {
            command: shown,
            detail,
        })
    }

    /// The mirror of `url`, checked to hold every commit of `shas`.
    async fn fetched_mirror(&self, url: &str, shas: &[&Sha]) -> Result<PathBuf, GitError> {
        let dir = self.dir_of(url);
        for sha in shas {
            let is_dir = tokio::fs::metadata(&dir)
                .await
                .is_ok_and(|meta| meta.is_dir());
            if !is_dir || !self.has_commit(&dir, sha.as_str()).await? {
                return Err(GitError::NotFetched {
                    url: redact(url),
                    sha: sha.to_string(),
                });
            }
        }
        Ok(dir)
    }

    /// Whether `rev` (a commit id or a ref) names a commit present in the mirror.
    async fn has_commit(&self, dir: &Path, rev: &str) -> Result<bool, GitError> {
        let verify = self
            .git(dir)
            .args(["rev-parse", "--quiet", "--verify", "--end-of-options"])
            .arg(format!("{rev}^{{commit}}"))
            .output()
            .await;
        match verify {
            Ok(_) => Ok(true),
            Err(GitError::Command { code: Some(1), .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Whether `sha` is in the history of the ref the fallback fetch wrote.
    async fn is_ancestor(&self, dir: &Path, sha: &Sha) -> Result<bool, GitError> {
        let check = self
            .git(dir)
            .args([
                "merge-base",
                "--is-ancestor",
                "--end-of-options",
                sha.as_str(),
                FALLBACK_REF,
            ])
            .output()
            .await;
        match check {
            Ok(_) => Ok(true),
            Err(GitError::Command { code: Some(1), .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Creates the bare mirror of `url` at `dir` unless a git repository is there already; a
    /// directory that is not one (a crash half-way through creating it) is replaced. The new
    /// mirror is made in a temporary directory and renamed into place, so `dir` is either
    /// absent or complete.
    async fn ensure_mirror(&self, url: &str, dir: &Path, sha: &Sha) -> Result<(), GitError> {
        match tokio::fs::symlink_metadata(dir).await {
            Ok(meta) => {
                if meta.is_dir() && self.is_repository(dir).await? {
                    return Ok(());
                }
                tracing::warn!(mirror = %dir.display(), "not a git repository; recreating the mirror");
                remove(dir, meta.is_dir()).await?;
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_error("inspect", dir)(source)),
        }
        tokio::fs::create_dir_all(&self.root)
            .await
            .map_err(io_error("create", &self.root))?;
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        let tmp = self.root.join(format!(".{name}.tmp"));
        if let Ok(meta) = tokio::fs::symlink_metadata(&tmp).await {
            remove(&tmp, meta.is_dir()).await?;
        }
        let mut init = GitCommand::new(None, self.timeout).args(["init", "--bare", "--quiet"]);
        if sha.is_sha256() {
            init = init.arg("--object-format=sha256");
        }
        init.arg("--").arg(&tmp).output().await?;
        // `origin` records where the mirror comes from, for a person looking at it.
        self.git(&tmp)
            .args(["remote", "add", "--", "origin"])
            .arg(strip_credentials(url))
            .output()
            .await?;
        // Automatic maintenance runs inside the fetch that triggers it, under its timeout,
        // rather than in a detached process nobody waits for.
        for key in ["gc.autoDetach", "maintenance.autoDetach"] {
            self.git(&tmp)
                .args(["config", "--", key, "false"])
                .output()
                .await?;
        }
        tokio::fs::rename(&tmp, dir)
            .await
            .map_err(io_error("move the new mirror into", dir))
    }

    async fn is_repository(&self, dir: &Path) -> Result<bool, GitError> {
        let check = self
            .git(dir)
            .args(["rev-parse", "--is-bare-repository"])
            .output()
            .await;
        match check {
            Ok(out) => Ok(out.trim_ascii() == b"true"),
            Err(GitError::Command { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }
}

async fn remove(path: &Path, is_dir: bool) -> Result<(), GitError> {
    let removed = if is_dir {
        tokio::fs::remove_dir_all(path).await
    } else {
        tokio::fs::remove_file(path).await
    };
    removed.map_err(io_error("remove", path))
}

/// Whether git's stderr says the server will not give a commit (or ref) asked for by name,
/// as opposed to a network, authentication or local failure.
fn is_refusal(stderr: &str) -> bool {
    const REFUSALS: &[&str] = &[
        "not our ref",
        "unadvertised object",
        "couldn't find remote ref",
        "no such remote ref",
    ];
    let stderr = stderr.to_ascii_lowercase();
    REFUSALS.iter().any(|refusal| stderr.contains(refusal))
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or(text)
}

/// Reads `git log -z --format=%H%x00%at%x00%an%x00%ae%x00%s`: five NUL-terminated fields per
/// commit.
fn parse_log(out: &[u8]) -> Result<Vec<CommitInfo>, String> {
    let Some(body) = out.strip_suffix(b"\0") else {
        return if out.is_empty() {
            Ok(Vec::new())
        } else {
            Err("the output does not end with NUL".to_owned())
        };
    };
    let fields: Vec<String> = body
        .split(|&b| b == 0)
        .map(|field| String::from_utf8_lossy(field).into_owned())
        .collect();
    let records = fields.chunks_exact(5);
    if !records.remainder().is_empty() {
        return Err(format!("{} fields, not a multiple of 5", fields.len()));
    }
    records
        .map(|record| {
            let [id, time, name, email, subject] = record else {
                return Err(format!("a record of {} fields", record.len()));
            };
            let seconds: i64 = time
                .parse()
                .map_err(|_| format!("author time {time:?} of {id} is not a number"))?;
            let author_time = DateTime::from_timestamp(seconds, 0)
                .ok_or_else(|| format!("author time {seconds} of {id} is out of range"))?;
            Ok(CommitInfo {
                id: id.clone(),
                author_time,
                author_name: name.clone(),
                author_email: email.clone(),
                subject: subject.clone(),
            })
        })
        .collect()
}
