//! The local backend: each step is a host process.
//!
//! A step runs its `script` (written to [`TaskDirs::scripts`] and run by its shebang, or by
//! bash (else `/bin/sh`) with `set -e` when it has none; see `script_preamble`) or its `command` and `args`
//! (the program is looked up on `PATH`). Images are ignored: the step runs on this host, with
//! the host's environment plus the step's `env`, in its `workingDir` (relative to
//! [`TaskDirs::work`], created if missing) or in [`TaskDirs::work`]. Its stdin is
//! `/dev/null`. Steps see host paths, so [`Runner::path_in_step`] answers the host path.
//!
//! Each step (and each sidecar) leads its own process group, so that SIGTERM and SIGKILL reach
//! everything it started. When a step's main process exits, whatever it left running in
//! its group is killed, as the end of a container's main process ends the container; output
//! still arriving from a descendant that left the group is read for a short moment only.
//!
//! Events: a step that was started gets [`Event::StepStarted`], its output lines, then
//! [`Event::StepFinished`]. A step that could not be started ([`StepStatus::Error`]) or was
//! never reached ([`StepStatus::Skipped`]) gets only [`Event::StepFinished`]. Every step that
//! was started has its exit code written to `STEPS/step-NAME/exitCode` ([`TaskDirs::steps`]).
//!
//! Sidecars are started before the first step, with their output discarded, and stopped
//! (SIGTERM, then SIGKILL after [`TaskJob::grace`]) after the last one. A sidecar that
//! cannot be started is reported by [`Runner::notices`].

mod output;
mod process;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::lines::StreamCopy;
use crate::{
    BoxFuture, Event, Runner, StepJob, StepOutcome, StepStatus, Stream, TaskDirs, TaskJob,
    TaskOutcome, error_outcome, file_name, format_duration, run_steps, write_exit_code,
};
use process::{Group, Stopped};

/// What a script without a shebang is run with. Tekton prepends `#!/bin/sh` and `set -e`,
/// and the `sh` of the images Tekton examples use is busybox ash or bash, which accept
/// `==` in `[` and `[[`; Debian's and Ubuntu's `/bin/sh` (dash) does not. So the local
/// runner prefers bash when the host has it (a deliberate, documented difference).
fn script_preamble() -> &'static str {
    if std::path::Path::new("/bin/bash").exists() {
        "#!/bin/bash\nset -e\n"
    } else {
        "#!/bin/sh\nset -e\n"
    }
}

/// Runs steps as host processes (see the [module documentation](self)).
///
/// One `LocalRunner` can run any number of jobs, concurrently too; it remembers the
/// images it ignored, for [`Runner::notices`].
#[derive(Debug, Default)]
pub struct LocalRunner {
    seen: Mutex<Seen>,
}

/// What [`LocalRunner::notices`] reports.
#[derive(Debug, Default)]
struct Seen {
    images: BTreeSet<String>,
    steps_with_image: usize,
    sidecars_with_image: usize,
    /// Steps and sidecars whose `volumeMounts` were not mounted.
    with_mounts: usize,
    /// Sidecars that could not be started, in words.
    sidecar_problems: Vec<String>,
}

impl LocalRunner {
    /// A runner that has run nothing yet.
    pub fn new() -> LocalRunner {
        LocalRunner::default()
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        // A panic while the lock was held cannot leave `Seen` inconsistent in a way that
        // matters for notices, so a poisoned lock is used as it is.
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record_images(&self, job: &TaskJob) {
        let mut seen = self.seen();
        for step in &job.steps {
            if let Some(image) = step.image.as_deref().filter(|i| !i.is_empty()) {
                seen.images.insert(image.to_string());
                seen.steps_with_image += 1;
            }
        }
        seen.with_mounts += job
            .steps
            .iter()
            .chain(&job.sidecars)
            .filter(|s| !s.mounts.is_empty())
            .count();
        for sidecar in &job.sidecars {
            if let Some(image) = sidecar.image.as_deref().filter(|i| !i.is_empty()) {
                seen.images.insert(image.to_string());
                seen.sidecars_with_image += 1;
            }
        }
    }

    async fn run(
        &self,
        job: TaskJob,
        events: mpsc::Sender<Event>,
        cancel: CancellationToken,
    ) -> TaskOutcome {
        self.record_images(&job);
        let sidecars = self.start_sidecars(&job).await;
        let outcomes = run_steps(&job, &events, &cancel, |index| {
            run_step(index, &job.steps[index], &job, &events, &cancel)
        })
        .await;
        stop_sidecars(sidecars, job.grace).await;
        TaskOutcome { steps: outcomes }
    }

    /// Starts the job's sidecars, recording those that cannot be started.
    async fn start_sidecars(&self, job: &TaskJob) -> Vec<Group> {
        let mut groups = Vec::with_capacity(job.sidecars.len());
        for (index, sidecar) in job.sidecars.iter().enumerate() {
            match start_sidecar(index, sidecar, &job.dirs).await {
                Ok(group) => groups.push(group),
                Err(problem) => self.seen().sidecar_problems.push(format!(
                    "sidecar `{}` of `{}` was not started: {problem}",
                    sidecar.name, job.name
                )),
            }
        }
        groups
    }
}

impl Runner for LocalRunner {
    fn name(&self) -> &'static str {
        "local"
    }

    fn path_in_step(&self, host_path: &Path, _mount_path: &str) -> String {
        host_path.to_string_lossy().into_owned()
    }

    fn run_task<'a>(
        &'a self,
        job: TaskJob,
        events: mpsc::Sender<Event>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, TaskOutcome> {
        Box::pin(self.run(job, events, cancel))
    }

    fn notices(&self) -> Vec<String> {
        let seen = self.seen();
        let mut notices = Vec::new();
        if !seen.images.is_empty() {
            let images = seen.images.iter().cloned().collect::<Vec<_>>().join(", ");
            let notice = if seen.sidecars_with_image == 0 {
                format!(
                    "the local runner ignored the images of {} step(s): {images} (steps ran on this host)",
                    seen.steps_with_image
                )
            } else {
                format!(
                    "the local runner ignored the images of {} step(s) and {} sidecar(s): {images} (they ran on this host)",
                    seen.steps_with_image, seen.sidecars_with_image
                )
            };
            notices.push(notice);
        }
        if seen.with_mounts > 0 {
            notices.push(format!(
                "the local runner mounted no volumes: {} step(s) or sidecar(s) with volumeMounts saw none (`--runner docker` mounts them)",
                seen.with_mounts
            ));
        }
        notices.extend(seen.sidecar_problems.iter().cloned());
        notices
    }
}

/// What a step or sidecar executes, ready to be spawned.
#[derive(Debug)]
struct Program {
    /// The program: a name looked up on `PATH`, or the path of the written script.
    program: OsString,
    args: Vec<String>,
    /// How messages name it.
    display: String,
    /// Whether it is a script (whose interpreter, named by its shebang, may be missing).
    script: bool,
    /// The working directory, created.
    dir: PathBuf,
}

impl Program {
    /// Works out what `step` runs, writing its script (as `NN-NAME`, or `PREFIX-NN-NAME`)
    /// and creating its working directory. Errs with a message for the user.
    async fn prepare(
        prefix: &str,
        index: usize,
        step: &StepJob,
        dirs: &TaskDirs,
    ) -> Result<Program, String> {
        let (program, args, display) = if let Some(script) = &step.script {
            let path =
                write_script(&dirs.scripts, &file_name(prefix, index, &step.name), script).await?;
            let display = format!("the script `{}`", path.display());
            (path.into_os_string(), step.args.clone(), display)
        } else {
            // `command` then `args`; without a command, the first arg is the program.
            let mut argv = step.command.iter().chain(&step.args);
            let Some(program) = argv.next() else {
                let image = match step.image.as_deref() {
                    Some(image) if !image.is_empty() => format!("image {image}"),
                    _ => "no image given".to_string(),
                };
                return Err(format!(
                    "step has no script and no command; the local runner cannot use an image's entrypoint ({image})"
                ));
            };
            (
                OsString::from(program),
                argv.cloned().collect(),
                format!("`{program}`"),
            )
        };
        let dir = match step.working_dir.as_deref() {
            Some(dir) if !dir.is_empty() => dirs.work.join(dir),
            _ => dirs.work.clone(),
        };
        tokio::fs::create_dir_all(&dir).await.map_err(|e| {
            format!(
                "cannot create the working directory `{}`: {e}",
                dir.display()
            )
        })?;
        Ok(Program {
            program,
            args,
            display,
            script: step.script.is_some(),
            dir,
        })
    }

    /// Why it could not be spawned, in words.
    fn spawn_error(&self, e: &io::Error) -> String {
        let hint = if self.script && e.kind() == io::ErrorKind::NotFound {
            " (is the interpreter named by its first line installed?)"
        } else {
            ""
        };
        format!("cannot run {}: {e}{hint}", self.display)
    }

    /// A command for the program: in its own process group, stdin from `/dev/null`, the
    /// host's environment with `env` applied in order.
    fn command(&self, env: &[(String, String)]) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .process_group(0);
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }
}

/// A script written for an image's `sh` (busybox ash or bash) by `#!/bin/sh` or
/// `#!/usr/bin/env sh` runs with bash when the host's `/bin/sh` is dash, which rejects their
/// common extensions (`==` in `[`, `[[`); so does one written for alpine's `ash` when the
/// host has none. Other shebangs are kept as written.
fn with_host_shell(script: &str) -> String {
    let (first, rest) = script.split_once('\n').unwrap_or((script, ""));
    let shell = |prefix: &str| {
        first
            .strip_prefix(prefix)
            .filter(|a| a.is_empty() || a.starts_with(' '))
    };
    let dash =
        std::fs::read_link("/bin/sh").is_ok_and(|target| target.to_string_lossy().contains("dash"));
    let sh = shell("#!/bin/sh")
        .or_else(|| shell("#!/usr/bin/env sh"))
        .filter(|_| dash);
    // busybox's ash, the shell of alpine images, is not on Debian hosts at all.
    let ash = shell("#!/bin/ash")
        .or_else(|| shell("#!/usr/bin/env ash"))
        .filter(|_| !std::path::Path::new("/bin/ash").exists());
    match sh.or(ash) {
        Some(args) if std::path::Path::new("/bin/bash").exists() => {
            format!("#!/bin/bash{args}\n{rest}")
        }
        _ => script.to_string(),
    }
}

/// Writes `script` to `DIR/NAME` with mode 0755, prepending [`script_preamble`] unless it
/// starts with a shebang, and returns its absolute path (the step may run elsewhere).
async fn write_script(dir: &Path, name: &str, script: &str) -> Result<PathBuf, String> {
    let path = std::path::absolute(dir.join(name)).map_err(|e| {
        format!(
            "cannot write the script `{}`: {e}",
            dir.join(name).display()
        )
    })?;
    let fail = |e: io::Error| format!("cannot write the script `{}`: {e}", path.display());
    let contents = if script.starts_with("#!") {
        with_host_shell(script)
    } else {
        format!("{}{script}", script_preamble())
    };
    tokio::fs::create_dir_all(dir).await.map_err(fail)?;
    tokio::fs::write(&path, contents).await.map_err(fail)?;
    tokio::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .await
        .map_err(fail)?;
    Ok(path)
}

/// Opens the copy of a stream (`stdoutConfig.path`), relative to the working directory.
async fn open_copy(
    path: Option<&str>,
    dir: &Path,
    stream: Stream,
) -> Result<Option<StreamCopy>, String> {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let path = dir.join(path);
    StreamCopy::create(&path).await.map(Some).map_err(|e| {
        format!(
            "cannot open `{}` to copy the step's {} to: {e}",
            path.display(),
            stream.as_str()
        )
    })
}

/// How the step's main process came to an end.
enum Ending {
    Exited(io::Result<std::process::ExitStatus>),
    TimedOut(Stopped),
    Cancelled(Stopped),
}

/// Runs one step to its end and reports its start and output (not its end).
async fn run_step(
    index: usize,
    step: &StepJob,
    job: &TaskJob,
    events: &mpsc::Sender<Event>,
    cancel: &CancellationToken,
) -> StepOutcome {
    let program = match Program::prepare("", index, step, &job.dirs).await {
        Ok(program) => program,
        Err(message) => return error_outcome(message),
    };
    let stdout_copy =
        match open_copy(step.stdout_path.as_deref(), &program.dir, Stream::Stdout).await {
            Ok(copy) => copy,
            Err(message) => return error_outcome(message),
        };
    let stderr_copy =
        match open_copy(step.stderr_path.as_deref(), &program.dir, Stream::Stderr).await {
            Ok(copy) => copy,
            Err(message) => return error_outcome(message),
        };
    let mut command = program.command(&step.env);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = match process::spawn(&mut command).await {
        Ok(child) => child,
        Err(e) => return error_outcome(program.spawn_error(&e)),
    };
    let deadline = step.timeout.map(|t| tokio::time::Instant::now() + t);
    let started = SystemTime::now();
    let _ = events
        .send(Event::StepStarted {
            step: index,
            at: started,
        })
        .await;

    let mut group = Group::new(child);
    let stdout = group.child.stdout.take();
    let stderr = group.child.stderr.take();
    let exited = CancellationToken::new();
    let wait = async {
        let ending = tokio::select! {
            status = group.child.wait() => Ending::Exited(status),
            () = sleep_until(deadline) => Ending::TimedOut(group.stop(job.grace).await),
            () = cancel.cancelled() => Ending::Cancelled(group.stop(job.grace).await),
        };
        group.kill_leftovers();
        exited.cancel();
        ending
    };
    let (ending, stdout_problem, stderr_problem) = tokio::join!(
        wait,
        output::forward(stdout, Stream::Stdout, index, events, stdout_copy, &exited),
        output::forward(stderr, Stream::Stderr, index, events, stderr_copy, &exited),
    );
    let finished = SystemTime::now();

    let kill_note = |stopped: &Stopped| {
        if stopped.killed {
            format!(
                "; killed with SIGKILL after the {} grace period",
                format_duration(job.grace)
            )
        } else {
            String::new()
        }
    };
    let (status, exit_code, message) = match &ending {
        Ending::Exited(Ok(status)) => {
            let exit = process::exit(*status);
            let status = if exit.success {
                StepStatus::Succeeded
            } else {
                StepStatus::Failed
            };
            (status, exit.code, exit.message)
        }
        Ending::Exited(Err(e))
        | Ending::TimedOut(Stopped { status: Err(e), .. })
        | Ending::Cancelled(Stopped { status: Err(e), .. }) => (
            StepStatus::Error,
            None,
            Some(format!("cannot wait for {}: {e}", program.display)),
        ),
        Ending::TimedOut(
            stopped @ Stopped {
                status: Ok(status), ..
            },
        ) => (
            StepStatus::TimedOut,
            process::exit(*status).code,
            Some(format!(
                "timed out after {}{}",
                format_duration(step.timeout.unwrap_or_default()),
                kill_note(stopped)
            )),
        ),
        Ending::Cancelled(
            stopped @ Stopped {
                status: Ok(status), ..
            },
        ) => (
            StepStatus::Cancelled,
            process::exit(*status).code,
            Some(format!(
                "stopped because the task was cancelled{}",
                kill_note(stopped)
            )),
        ),
    };

    let mut problems: Vec<String> = message.into_iter().collect();
    problems.extend(stdout_problem);
    problems.extend(stderr_problem);
    if let Some(code) = exit_code
        && job.exit_codes
        && let Err(problem) = write_exit_code(&job.dirs.steps, &step.name, code).await
    {
        problems.push(problem);
    }
    StepOutcome {
        status,
        exit_code,
        started: Some(started),
        finished,
        message: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Starts one sidecar, its output discarded.
async fn start_sidecar(index: usize, sidecar: &StepJob, dirs: &TaskDirs) -> Result<Group, String> {
    let program = Program::prepare("sidecar-", index, sidecar, dirs).await?;
    let mut command = program.command(&sidecar.env);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let child = process::spawn(&mut command)
        .await
        .map_err(|e| program.spawn_error(&e))?;
    Ok(Group::new(child))
}

/// Stops the sidecars together: SIGTERM, then SIGKILL after `grace`.
async fn stop_sidecars(sidecars: Vec<Group>, grace: Duration) {
    futures::future::join_all(sidecars.into_iter().map(|mut group| async move {
        group.stop(grace).await;
        group.kill_leftovers();
    }))
    .await;
}
