//! Tests against real repositories: a work tree pushing to a bare repository, served over
//! `file://` and over `git daemon` on loopback.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{GitError, Mirrors};

mod fetch;
mod read;

/// Author times are `T0` plus a few seconds.
const T0: i64 = 1_700_000_000;
const ANN: (&str, &str) = ("Ann Example", "ann@example.com");
const ZOE: (&str, &str) = ("Zoë Exämple", "zoe@example.com");

/// Runs git for a test's setup with a fixed identity and no user configuration, and returns
/// its trimmed stdout; panics with its stderr when it fails.
fn git(dir: &Path, args: &[&str], env: &[(&str, String)]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", ANN.0)
        .env("GIT_AUTHOR_EMAIL", ANN.1)
        .env("GIT_COMMITTER_NAME", ANN.0)
        .env("GIT_COMMITTER_EMAIL", ANN.1)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// A repository served from `<served>/repo.git`, fed by pushes from a work tree.
struct Upstream {
    tmp: TempDir,
    work: PathBuf,
    bare: PathBuf,
}

impl Upstream {
    fn new() -> Self {
        Self::with_format("sha1")
    }

    fn with_format(format: &str) -> Self {
        let tmp = TempDir::new().expect("tempdir");
        let work = tmp.path().join("work");
        let bare = tmp.path().join("served/repo.git");
        let format = format!("--object-format={format}");
        git(
            tmp.path(),
            &["init", "-q", "--bare", &format, "served/repo.git"],
            &[],
        );
        git(
            tmp.path(),
            &["init", "-q", "-b", "main", &format, "work"],
            &[],
        );
        Upstream { tmp, work, bare }
    }

    fn served(&self) -> PathBuf {
        self.tmp.path().join("served")
    }

    fn file_url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Writes (`Some`) or deletes (`None`) files, commits them as Ann at `T0 + at` and returns
    /// the commit id.
    fn commit(&self, message: &str, at: i64, files: &[(&str, Option<&str>)]) -> String {
        self.commit_by(ANN, message, at, files)
    }

    fn commit_by(
        &self,
        (name, email): (&str, &str),
        message: &str,
        at: i64,
        files: &[(&str, Option<&str>)],
    ) -> String {
        for (path, content) in files {
            let path = self.work.join(path);
            match content {
                Some(content) => {
                    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                    std::fs::write(&path, content).expect("write");
                }
                None => std::fs::remove_file(&path).expect("rm"),
            }
        }
        git(&self.work, &["add", "-A"], &[]);
        let env = [
            ("GIT_AUTHOR_NAME", name.to_owned()),
            ("GIT_AUTHOR_EMAIL", email.to_owned()),
            ("GIT_AUTHOR_DATE", format!("@{} +0200", T0 + at)),
            ("GIT_COMMITTER_DATE", format!("@{} +0000", T0 + at)),
        ];
        git(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
            &env,
        );
        git(&self.work, &["rev-parse", "HEAD"], &[])
    }

    /// Force-pushes the work tree's `main`.
    fn push(&self) {
        let bare = self.bare.to_string_lossy();
        git(
            &self.work,
            &["push", "-q", "--force", &bare, "main:refs/heads/main"],
            &[],
        );
    }
}

/// `main` is `c1 ← c3`; `c2` was pushed on top of `c1`, then force-pushed away: the server
/// still has it, no ref reaches it.
struct ForcePushed {
    up: Upstream,
    c1: String,
    c2: String,
    c3: String,
}

fn force_pushed() -> ForcePushed {
    let up = Upstream::new();
    let c1 = up.commit(
        "one",
        0,
        &[
            (".tekton/pipeline.yaml", Some("v1")),
            ("README", Some("read me")),
        ],
    );
    up.push();
    let c2 = up.commit(
        "two",
        100,
        &[
            (".tekton/pipeline.yaml", Some("v2")),
            (".tekton/tasks/build.yaml", Some("build")),
        ],
    );
    up.push();
    git(&up.work, &["reset", "-q", "--hard", &c1], &[]);
    let c3 = up.commit("three", 200, &[(".tekton/pipeline.yaml", Some("v3"))]);
    up.push();
    let bare = up.bare.as_path();
    assert_eq!(git(bare, &["cat-file", "-t", &c2], &[]), "commit");
    assert_eq!(git(bare, &["for-each-ref", "--contains", &c2], &[]), "");
    ForcePushed { up, c1, c2, c3 }
}

/// `git daemon` serving a directory on a free loopback port; killed when dropped.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn serve(base: &Path) -> Self {
        let exec_path = git(base, &["--exec-path"], &[]);
        for _attempt in 0..5 {
            let port = free_port();
            // `git-daemon` itself: `git daemon` would run it as a child `kill` does not reach.
            let mut child = Command::new(Path::new(&exec_path).join("git-daemon"))
                .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1"])
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", base.display()))
                .arg(base)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start git daemon");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Daemon { child, port };
                }
                if child.try_wait().expect("wait").is_some() {
                    break; // the port was taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("git daemon did not start accepting connections");
    }

    fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The commits pinned in a mirror.
fn pins(dir: &Path) -> Vec<String> {
    let refs = git(
        dir,
        &["for-each-ref", "--format=%(refname)", "refs/runnel/pins/"],
        &[],
    );
    refs.lines()
        .map(|name| name.trim_start_matches("refs/runnel/pins/").to_owned())
        .collect()
}

fn sorted<const N: usize>(shas: [&String; N]) -> Vec<String> {
    let mut shas: Vec<String> = shas.into_iter().cloned().collect();
    shas.sort();
    shas
}

/// A loopback port nothing listens on (at least right now).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Every file under `dir`, path relative to it → content.
fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).expect("prefix");
                let content = std::fs::read_to_string(&path).unwrap_or_else(|_| "<link>".into());
                out.insert(relative.to_string_lossy().into_owned(), content);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(path, content)| (path.to_string(), content.to_string()))
        .collect()
}

/// Extracts `path` at `sha` into a new directory; checks the returned list is what is on disk.
async fn extract(
    mirrors: &Mirrors,
    url: &str,
    sha: &str,
    path: &str,
) -> Result<BTreeMap<String, String>, GitError> {
    let dest = TempDir::new().expect("tempdir");
    let written = mirrors.extract(url, sha, path, dest.path()).await?;
    let on_disk = read_dir(dest.path());
    assert_eq!(written, on_disk.keys().cloned().collect::<Vec<_>>());
    Ok(on_disk)
}

/// Fetches `sha` then returns its `.tekton/` files.
async fn tekton_at(mirrors: &Mirrors, url: &str, sha: &str) -> BTreeMap<String, String> {
    mirrors.fetch(url, sha, None).await.expect("fetch");
    extract(mirrors, url, sha, ".tekton")
        .await
        .expect("extract")
}
