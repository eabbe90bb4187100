//! Running one git command: a clean environment (no prompts, no system or global config, no
//! inherited repository variables), a timeout that kills the command's whole process group, and
//! errors that name the command, its exit code and the end of its stderr, credentials redacted.

use std::ffi::OsString;
use std::future::Future;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::{ChildStdin, ChildStdout, Command};

use super::GitError;
use super::names::{credentials, redact};

/// Variables a parent process (a git hook, a developer's shell) may have set that would point
/// git at another repository or change what it reads.
const CLEARED: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_QUARANTINE_PATH",
    "GIT_SHALLOW_FILE",
    "GIT_REPLACE_REF_BASE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_PAGER",
    "GIT_EXTERNAL_DIFF",
];

/// Variables every command runs with.
const SET: &[(&str, &str)] = &[
    ("GIT_TERMINAL_PROMPT", "0"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("LC_ALL", "C"),
    // `ext::` and other remote helpers that run commands stay refused.
    ("GIT_ALLOW_PROTOCOL", "file:git:http:https:ssh"),
    // A path is a path, never a `:(glob)` pathspec.
    ("GIT_LITERAL_PATHSPECS", "1"),
    ("GIT_NO_REPLACE_OBJECTS", "1"),
];

/// How many lines of stderr an error keeps, and at most how many bytes of them.
const STDERR_LINES: usize = 20;
const STDERR_BYTES: usize = 4000;

/// One git command, built then run once.
pub(super) struct GitCommand {
    args: Vec<OsString>,
    /// Configuration given through `GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>`: never on the
    /// command line (where other users see it) nor in the shown command.
    config: Vec<(String, String)>,
    /// Blanked out of the shown command and of stderr.
    secrets: Vec<String>,
    timeout: Duration,
}

impl GitCommand {
    /// `git --git-dir=DIR` (or bare `git` without a directory).
    pub(super) fn new(git_dir: Option<&Path>, timeout: Duration) -> Self {
        let mut args = Vec::new();
        if let Some(dir) = git_dir {
            let mut arg = OsString::from("--git-dir=");
            arg.push(dir);
            args.push(arg);
        }
        GitCommand {
            args,
            config: Vec::new(),
            secrets: Vec::new(),
            timeout,
        }
    }

    pub(super) fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub(super) fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets `key` to `value` for this command only, through the environment.
    pub(super) fn config(mut self, key: &str, value: &str) -> Self {
        self.config.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Defines the remote `name` as `url` for this command only: the URL, which may hold
    /// credentials, is neither on the command line nor written anywhere, and its credentials
    /// are blanked out of errors.
    pub(super) fn remote(mut self, name: &str, url: &str) -> Self {
        self.secrets.extend(credentials(url));
        self.config(&format!("remote.{name}.url"), url)
    }

    /// The command as errors show it: `git --git-dir=… fetch …`, credentials redacted.
    pub(super) fn shown(&self) -> String {
        let mut shown = String::from("git");
        for arg in &self.args {
            shown.push(' ');
            shown.push_str(&arg.to_string_lossy());
        }
        self.redact(&shown)
    }

    fn redact(&self, text: &str) -> String {
        let mut text = redact(text);
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }

    fn command(&self) -> Command {
        let mut command = Command::new("git");
        command.args(&self.args);
        for name in CLEARED {
            command.env_remove(name);
        }
        command.envs(SET.iter().copied());
        command.env("GIT_CONFIG_COUNT", self.config.len().to_string());
        for (n, (key, value)) in self.config.iter().enumerate() {
            command.env(format!("GIT_CONFIG_KEY_{n}"), key);
            command.env(format!("GIT_CONFIG_VALUE_{n}"), value);
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout also kills the helpers it started
            // (`git-remote-https`, `ssh`, `upload-pack`), which would otherwise keep running.
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    /// Runs the command and returns its stdout, or an error when it exits non-zero.
    pub(super) async fn output(self) -> Result<Vec<u8>, GitError> {
        let command = self.shown();
        self.streaming(|stdin, mut stdout| async move {
            drop(stdin);
            let mut out = Vec::new();
            match stdout.read_to_end(&mut out).await {
                Ok(_) => Ok(out),
                Err(source) => Err(GitError::Run { command, source }),
            }
        })
        .await
    }

    /// Runs the command with `body` talking to its stdin and stdout, then waits for it. The
    /// timeout covers both. When git exits non-zero its error wins over the one of `body`,
    /// which is then a consequence; when a signal ends git after `body` failed, `body`'s wins.
    pub(super) async fn streaming<T, F, Fut>(self, body: F) -> Result<T, GitError>
    where
        F: FnOnce(ChildStdin, ChildStdout) -> Fut,
        Fut: Future<Output = Result<T, GitError>>,
    {
        let shown = self.shown();
        let mut child = self.command().spawn().map_err(|source| GitError::Run {
            command: shown.clone(),
            source,
        })?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(GitError::Run {
                command: shown,
                source: std::io::Error::other("no pipe to the child process"),
            });
        };
        let run = async {
            let mut err = Vec::new();
            let (result, _) = tokio::join!(body(stdin, stdout), stderr.read_to_end(&mut err));
            (result, err, child.wait().await)
        };
        let Ok((result, stderr, status)) = tokio::time::timeout(self.timeout, run).await else {
            if let Some(pid) = pid {
                kill_process_group(pid).await;
            }
            return Err(GitError::Timeout {
                command: shown,
                timeout: self.timeout,
            });
        };
        let status = status.map_err(|source| GitError::Run {
            command: shown.clone(),
            source,
        })?;
        if status.success() || (result.is_err() && status.code().is_none()) {
            // Killed by a signal after `body` failed: SIGPIPE, as `body` stopped reading.
            result
        } else {
            Err(GitError::Command {
                command: shown,
                code: status.code(),
                stderr: self.redact(&stderr_tail(&stderr)),
            })
        }
    }
}

/// Sends SIGKILL to the process group `pgid` (a command started with `process_group(0)`).
/// Through kill(1), as this crate has no libc binding; `kill_on_drop` still kills git itself
/// should this fail.
async fn kill_process_group(pgid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    if !matches!(status, Ok(s) if s.success()) {
        tracing::warn!(
            pgid,
            ?status,
            "could not kill a timed-out git command's process group"
        );
    }
}

/// The last lines of `stderr` (progress lines ending in `\r` split too).
fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .split(['\n', '\r'])
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .collect();
    let mut tail = lines[lines.len().saturating_sub(STDERR_LINES)..].join("\n");
    if tail.len() > STDERR_BYTES {
        let mut start = tail.len() - STDERR_BYTES;
        while !tail.is_char_boundary(start) {
            start += 1;
        }
        tail = format!("…{}", &tail[start..]);
    }
    tail
}
