//! A `git daemon` serving a directory of bare repositories on loopback, so that a test clones
//! over `git://` (protocol v2) as a pipeline clones from a forge.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `git daemon` serving a directory on loopback, stopped on drop.
pub struct GitDaemon {
    child: Child,
    port: u16,
    repo: String,
}

impl GitDaemon {
    /// Serves every repository under `base`; returns once `repo` (a path under `base`, e.g.
    /// `shop.git`) answers `git ls-remote`.
    pub fn start(base: &Path, repo: &str) -> GitDaemon {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--export-all",
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                &base.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon runs");
        let daemon = GitDaemon {
            child,
            port,
            repo: repo.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Command::new("git")
            .args(["ls-remote", &daemon.url()])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            assert!(Instant::now() < deadline, "git daemon did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        daemon
    }

    /// The `git://` URL of the repository given to [`GitDaemon::start`].
    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/{}", self.port, self.repo)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
