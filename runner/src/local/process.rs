//! Host processes that lead their own process group: spawning them, stopping them
//! (SIGTERM, a grace period, SIGKILL) and reading how they ended.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// How many times [`spawn`] tries again when the kernel answers ETXTBSY.
const SPAWN_ATTEMPTS: u32 = 20;

/// Spawns `command`, trying again for a short while when the kernel says the executable is
/// busy (ETXTBSY).
///
/// That happens with scripts we have just written: while we held the script open for
/// writing, another thread of this process may have forked, and its child holds a copy of
/// that descriptor until it calls exec. The window is tiny, so a few retries close it.
pub(super) async fn spawn(command: &mut Command) -> io::Result<Child> {
    let mut attempt = 1;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && attempt < SPAWN_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// How a process ended after it was asked to stop.
#[derive(Debug)]
pub(super) struct Stopped {
    pub status: io::Result<ExitStatus>,
    /// Whether it outlived the grace period and had to be killed with SIGKILL.
    pub killed: bool,
}

/// A child process spawned with `process_group(0)`, so that it leads a process group whose
/// id is its pid, and signals sent to the group reach everything it started (unless a
/// descendant moved to a group of its own).
///
/// Dropping a `Group` before [`Group::kill_leftovers`] (for instance because the future
/// running a task was dropped) kills the whole group with SIGKILL, so that no step outlives
/// the runner's interest in it.
#[derive(Debug)]
pub(super) struct Group {
    pub child: Child,
    /// `None` once the group was cleaned up (or if the pid was unknown, which cannot
    /// happen for a child that was just spawned and not yet waited for).
    pgid: Option<Pid>,
}

impl Group {
    /// Takes charge of a child that was just spawned with `process_group(0)`.
    pub fn new(child: Child) -> Group {
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        Group { child, pgid }
    }

    /// Sends `signal` to the whole group. Errors (the group is already gone) are ignored.
    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(pgid, signal);
        }
    }

    /// Asks the group to stop with SIGTERM, waits up to `grace` for the leader to exit,
    /// then kills the group with SIGKILL and waits for the leader.
    pub async fn stop(&mut self, grace: Duration) -> Stopped {
        self.signal(Signal::SIGTERM);
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => Stopped {
                status,
                killed: false,
            },
            Err(_elapsed) => {
                self.signal(Signal::SIGKILL);
                Stopped {
                    status: self.child.wait().await,
                    killed: true,
                }
            }
        }
    }

    /// Kills with SIGKILL whatever is left of the group once its leader has exited and was
    /// waited for, as the end of a container's main process ends everything in it.
    ///
    /// The group's id cannot have been reused at this point if any member is left (the
    /// kernel keeps a pid allocated while a group carries it); if none is left, the signal
    /// goes nowhere, barring a pid reuse in the microseconds since the leader was reaped.
    pub fn kill_leftovers(&mut self) {
        self.signal(Signal::SIGKILL);
        self.pgid = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// How a process that ran to its end finished, in the runner's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Exit {
    /// The exit code; for a process killed by signal N, 128 + N, as a shell reports it.
    pub code: Option<i32>,
    /// Whether the exit code was 0.
    pub success: bool,
    /// `exited with code N` or `killed by signal N (SIGNAME)`; `None` for success.
    pub message: Option<String>,
}

/// Reads an exit status. A process killed by signal N gets the exit code 128 + N, as a
/// shell reports it.
pub(super) fn exit(status: ExitStatus) -> Exit {
    if let Some(code) = status.code() {
        return Exit {
            code: Some(code),
            success: code == 0,
            message: (code != 0).then(|| format!("exited with code {code}")),
        };
    }
    match status.signal() {
        Some(signal) => {
            let name = Signal::try_from(signal)
                .map(|s| format!(" ({})", s.as_str()))
                .unwrap_or_default();
            Exit {
                code: Some(128 + signal),
                success: false,
                message: Some(format!("killed by signal {signal}{name}")),
            }
        }
        // Neither an exit code nor a signal: stopped or continued, which `wait` does not
        // report for a process it waits to the end; kept for completeness.
        None => Exit {
            code: None,
            success: false,
            message: Some(format!("ended without an exit code ({status})")),
        },
    }
}
