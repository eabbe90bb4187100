//! The Docker backend: each step is a container, created through the Docker engine's API
//! (bollard).
//!
//! **Steps.** The steps of a job run one after another, each in a container of its own
//! image. A `script` is written to the job's scripts directory, mounted read-only at
//! `/tekton/scripts`, and run by its shebang (without one, `#!/bin/sh` and `set -e` are
//! prepended, as Tekton does). Otherwise `command` replaces the image's entrypoint and
//! `args` its cmd; a step without `command` runs what Tekton's entrypoint resolution gives:
//! the image's entrypoint (with its cmd when the step has no args), else its cmd, then the
//! step's args. Environment: the image's, then `HOME=/tekton/home`, then the step's
//! `env`. The working directory is the step's `workingDir` (a relative one is taken from
//! `/workspace`), else the image's. `securityContext.runAsUser`/`runAsGroup` become the
//! container's user, `computeResources.limits` its CPU and memory limits.
//!
//! **Mounts.** Every step of a job sees the same directories, bind-mounted from the host:
//! the job's [`Mount`]s (`/tekton/results`, `/tekton/steps` read-only, workspaces),
//! `/workspace` and `/tekton/home`; each step may write its own `/tekton/steps/step-NAME`
//! (`/tekton/steps/INDEX` links to it), and mounts its own [`StepJob::mounts`]. The Docker engine must therefore see runnel's state directory, as a
//! local engine does.
//!
//! **Sidecars** start before the first step, on a network of the job's own on which the
//! steps reach them by name; the steps wait for their readiness probes. They are stopped
//! after the last step. [`DockerConfig::network`] puts every container on one network
//! instead (`host`: the host's, where steps reach sidecars on `localhost`, as in a pod).
//!
//! **Stopping.** A step's timeout and the job's cancellation stop its container: SIGTERM,
//! then SIGKILL after [`TaskJob::grace`]. A container killed for exceeding its memory limit
//! is reported as such.
//!
//! **Nothing left behind.** Every container and network carries the labels
//! `dev.runnel.owner` (the runnel process, see [`DockerConfig::owner`]), `dev.runnel.run`,
//! `dev.runnel.taskrun` and, for steps, `dev.runnel.step`, and is removed when its step or
//! job ends. What a killed runnel left behind is removed by [`DockerRunner::reap`] (at
//! startup) and [`DockerRunner::reap_periodically`].

mod image;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder, StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures::StreamExt;
use tokio::sync::{OnceCell, mpsc};
use tokio_util::sync::CancellationToken;

pub use image::{Credentials, ImageRewrite, Reference};

use crate::lines::{Lines, StreamCopy, send_line};
use crate::{
    BoxFuture, Event, Mount, Probe, ProbeCheck, PullPolicy, Runner, StepJob, StepOutcome,
    StepStatus, Stream, TaskJob, TaskOutcome, error_outcome, file_name, format_duration, run_steps,
    write_exit_code,
};

/// The network name that shares the host's network (`--network host`).
const HOST_NETWORK: &str = "host";

/// The label naming the runnel process that created a container or network.
pub const OWNER_LABEL: &str = "dev.runnel.owner";
/// The label holding the run's id.
pub const RUN_LABEL: &str = "dev.runnel.run";
/// The label holding the TaskRun attempt's id.
pub const TASKRUN_LABEL: &str = "dev.runnel.taskrun";
/// The label holding the step's (or sidecar's) name.
pub const STEP_LABEL: &str = "dev.runnel.step";

/// Where scripts are mounted in the containers.
const SCRIPTS_DIR: &str = "/tekton/scripts";
/// The job's default working directory, as Tekton mounts it.
const WORKSPACE_DIR: &str = "/workspace";
/// The steps' shared home directory.
const HOME_DIR: &str = "/tekton/home";

/// What a script without a shebang is run with (Tekton's choice).
const SCRIPT_PREAMBLE: &str = "#!/bin/sh\nset -e\n";

/// How the Docker backend is set up.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// The engine's address (`unix:///var/run/docker.sock`, `tcp://…`); `None` reads
    /// `DOCKER_HOST`, else the local socket.
    pub host: Option<String>,
    /// The pull policy of steps that name none. runnel's default is `IfNotPresent` for
    /// every tag (Kubernetes pulls `:latest` always), so that a laptop does not pull on
    /// every step.
    pub pull_policy: PullPolicy,
    /// Image rewrite rules, tried in order; the first that matches wins.
    pub rewrites: Vec<ImageRewrite>,
    /// The Docker config file with registry credentials (see
    /// [`Credentials::default_path`]).
    pub credentials: Option<PathBuf>,
    /// Who runnel is, as a label value on everything it creates: the reaper removes what
    /// belongs to an owner that is no longer alive.
    pub owner: String,
    /// A network every step and sidecar joins instead of Docker's default bridge (and of a
    /// job's own network for sidecars): `host` shares the host's network, as a pod with
    /// `hostNetwork: true` does (steps then reach sidecars and the host's loopback services
    /// on `localhost`); any other name is an existing network, on which steps reach
    /// sidecars by name. GitLab Runner's `network_mode`, Woodpecker's
    /// `WOODPECKER_BACKEND_DOCKER_NETWORK`.
    pub network: Option<String>,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            host: None,
            pull_policy: PullPolicy::IfNotPresent,
            rewrites: Vec::new(),
            credentials: Credentials::default_path(),
            owner: String::new(),
            network: None,
        }
    }
}

/// What went wrong with the Docker engine itself (a step's own failure is a
/// [`StepOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot reach the Docker engine at {host}: {message}. Is Docker running and may this user use its socket? (`--runner local` runs the steps on this host without Docker)"
    )]
    Unreachable { host: String, message: String },
    #[error("{0}")]
    Credentials(String),
    #[error("the Docker engine refused to {action}: {message}")]
    Api {
        action: &'static str,
        message: String,
    },
}

/// The message of an API error, without bollard's wrapping.
pub(crate) fn api_message(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => {
            message.trim().to_string()
        }
        other => other.to_string(),
    }
}

/// What [`DockerRunner::reap`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reaped {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

/// Runs steps in containers (see the [module documentation](self)).
pub struct DockerRunner {
    docker: Docker,
    config: DockerConfig,
    credentials: Credentials,
    /// Each image is made present once per runner, however many steps use it.
    images: Mutex<HashMap<String, Arc<ImageReady>>>,
    seen: Mutex<Seen>,
    /// Removals of ended steps' containers, done in the background so that the next
    /// step need not wait for them; [`Runner::close`] waits for them.
    removals: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Whether an image was made present, once known (the error in words).
type ImageReady = OnceCell<Result<(), String>>;

/// What [`DockerRunner::notices`] reports.
#[derive(Debug, Default)]
struct Seen {
    rewritten: BTreeMap<String, String>,
    /// Sidecars that did not start or get ready, networks not removed, failed reaping.
    sidecar_problems: Vec<String>,
}

impl std::fmt::Debug for DockerRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRunner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DockerRunner {
    /// Connects to the engine and checks that it answers.
    pub async fn connect(config: DockerConfig) -> Result<DockerRunner, DockerError> {
        let host = config
            .host
            .clone()
            .or_else(|| std::env::var("DOCKER_HOST").ok())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
        let unreachable = |e: &bollard::errors::Error| DockerError::Unreachable {
            host: host.clone(),
            message: api_message(e),
        };
        let docker = Docker::connect_with_host(&host).map_err(|e| unreachable(&e))?;
        // Requests wait for response headers at most this long; steps are waited on
        // through streams, which this does not limit.
        let docker = docker.with_timeout(Duration::from_secs(600));
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| unreachable(&e))?;
        docker.ping().await.map_err(|e| unreachable(&e))?;
        let credentials = match &config.credentials {
            Some(path) => Credentials::read(path).map_err(DockerError::Credentials)?,
            None => Credentials::default(),
        };
        Ok(DockerRunner {
            docker,
            config,
            credentials,
            images: Mutex::new(HashMap::new()),
            seen: Mutex::new(Seen::default()),
            removals: Mutex::new(Vec::new()),
        })
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        // Notices only: a poisoned lock is used as it is.
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Removes every container, network and volume labelled by a runnel whose owner
    /// `alive` says is gone (a runnel killed before it could clean up).
    pub async fn reap(&self, alive: &(dyn Fn(&str) -> bool + Sync)) -> Result<Reaped, DockerError> {
        let api = |action| {
            move |e: bollard::errors::Error| DockerError::Api {
                action,
                message: api_message(&e),
            }
        };
        let filters = HashMap::from([("label".to_string(), vec![OWNER_LABEL.to_string()])]);
        let dead = |labels: Option<&HashMap<String, String>>| {
            labels
                .and_then(|l| l.get(OWNER_LABEL))
                .is_some_and(|owner| !alive(owner))
        };
        let mut reaped = Reaped::default();
        let containers = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(api("list containers"))?;
        for c in containers {
            if let Some(id) = c.id.filter(|_| dead(c.labels.as_ref())) {
                remove_container(&self.docker, &id).await;
                reaped.containers += 1;
            }
        }
        let networks = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(api("list networks"))?;
        for n in networks {
            if let Some(id) = n.id.filter(|_| dead(n.labels.as_ref())) {
                self.docker
                    .remove_network(&id)
                    .await
                    .map_err(api("remove a network"))?;
                reaped.networks += 1;
            }
        }
        let volumes = self
            .docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(api("list volumes"))?;
        for v in volumes.volumes.unwrap_or_default() {
            if dead(Some(&v.labels)) {
                self.docker
                    .remove_volume(
                        &v.name,
                        Some(RemoveVolumeOptionsBuilder::new().force(true).build()),
                    )
                    .await
                    .map_err(api("remove a volume"))?;
                reaped.volumes += 1;
            }
        }
        Ok(reaped)
    }

    /// Reaps (see [`reap`](Self::reap)) every `every`, in the background, for as long as
    /// the runner lives, so that a long-lived runnel also cleans up after others that were
    /// killed. Failures are reported once by [`Runner::notices`].
    pub fn reap_periodically(
        self: &Arc<Self>,
        every: Duration,
        alive: fn(&str) -> bool,
    ) -> tokio::task::JoinHandle<()> {
        let runner = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut reported = false;
            loop {
                tokio::time::sleep(every).await;
                let Some(runner) = runner.upgrade() else {
                    return;
                };
                if let Err(e) = runner.reap(&alive).await
                    && !reported
                {
                    reported = true;
                    runner
                        .seen()
                        .sidecar_problems
                        .push(format!("cleaning up after stopped runnels failed: {e}"));
                }
            }
        })
    }

    /// The image a step names, after the rewrite rules.
    fn image_of(&self, step: &StepJob) -> Result<String, String> {
        let Some(written) = step.image.as_deref().filter(|i| !i.is_empty()) else {
            return Err(format!("step `{}` names no image", step.name));
        };
        let image = image::rewrite(&self.config.rewrites, written);
        if image != written {
            self.seen()
                .rewritten
                .insert(written.to_string(), image.clone());
        }
        Ok(image)
    }

    /// Makes `image` present once per runner (concurrent steps share one pull).
    async fn ensure_image(&self, image: &str, policy: Option<PullPolicy>) -> Result<(), String> {
        let policy = policy.unwrap_or(self.config.pull_policy);
        let cell = {
            let mut images = self
                .images
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            images
                .entry(format!("{image}\0{policy:?}"))
                .or_default()
                .clone()
        };
        cell.get_or_init(|| image::ensure(&self.docker, &self.credentials, image, policy))
            .await
            .clone()
    }

    /// What a step without `command` runs, as Tekton resolves it from the image: its
    /// entrypoint (followed by its cmd when the step has no args), or its cmd when it has
    /// no entrypoint. The step's args follow.
    async fn image_command(&self, image: &str, has_args: bool) -> Result<Vec<String>, String> {
        let config = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| format!("cannot inspect the image `{image}`: {}", api_message(&e)))?
            .config
            .unwrap_or_default();
        let entrypoint = config.entrypoint.unwrap_or_default();
        let cmd = config.cmd.unwrap_or_default();
        let command = match (entrypoint.is_empty(), has_args) {
            (true, _) => cmd,
            (false, true) => entrypoint,
            (false, false) => entrypoint.into_iter().chain(cmd).collect(),
        };
        if command.is_empty() {
            return Err(format!(
                "the step has no command and the image `{image}` has neither an entrypoint nor a cmd"
            ));
        }
        Ok(command)
    }

    /// The step as it will run: with `command` resolved from the image when it has
    /// neither `command` nor `script`.
    async fn resolved<'s>(
        &self,
        step: &'s StepJob,
        image: &str,
    ) -> Result<std::borrow::Cow<'s, StepJob>, String> {
        if step.script.is_some() || !step.command.is_empty() {
            return Ok(std::borrow::Cow::Borrowed(step));
        }
        let command = self.image_command(image, !step.args.is_empty()).await?;
        Ok(std::borrow::Cow::Owned(StepJob {
            command,
            ..step.clone()
        }))
    }

    fn labels(&self, job: &TaskJob, step: Option<&str>) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (OWNER_LABEL.to_string(), self.config.owner.clone()),
            (RUN_LABEL.to_string(), job.run.clone()),
            (TASKRUN_LABEL.to_string(), job.id.clone()),
        ]);
        if let Some(step) = step {
            labels.insert(STEP_LABEL.to_string(), step.to_string());
        }
        labels
    }

    async fn run(
        &self,
        job: TaskJob,
        events: mpsc::Sender<Event>,
        cancel: CancellationToken,
    ) -> TaskOutcome {
        let setup = match JobSetup::prepare(&job).await {
            Ok(setup) => setup,
            Err(message) => {
                return self.fail_all(&job, &events, message).await;
            }
        };
        // The configured network, else a network of the job's own for its sidecars (which
        // this job removes), else Docker's default bridge.
        let own_network = if job.sidecars.is_empty() || self.config.network.is_some() {
            None
        } else {
            match self.create_network(&job).await {
                Ok(network) => Some(network),
                Err(message) => return self.fail_all(&job, &events, message).await,
            }
        };
        let network = own_network.clone().or_else(|| self.config.network.clone());
        let sidecars = self
            .start_sidecars(&job, &setup, network.as_deref(), &cancel)
            .await;
        let steps = run_steps(&job, &events, &cancel, |index| {
            self.run_step(index, &job, &setup, network.as_deref(), &events, &cancel)
        })
        .await;
        futures::future::join_all(
            sidecars
                .iter()
                .map(|name| stop_and_remove(&self.docker, name, job.grace)),
        )
        .await;
        if let Some(network) = own_network
            && let Err(e) = self.docker.remove_network(&network).await
        {
            self.seen().sidecar_problems.push(format!(
                "the network `{network}` of `{}` could not be removed: {}",
                job.name,
                api_message(&e)
            ));
        }
        TaskOutcome { steps }
    }

    /// Every step of a job that cannot start at all ends in error with `message`.
    async fn fail_all(
        &self,
        job: &TaskJob,
        events: &mpsc::Sender<Event>,
        message: String,
    ) -> TaskOutcome {
        let mut first = Some(message);
        let steps = run_steps(job, events, &CancellationToken::new(), |_| {
            let message = first.take().unwrap_or_default();
            async move { error_outcome(message) }
        })
        .await;
        TaskOutcome { steps }
    }

    async fn create_network(&self, job: &TaskJob) -> Result<String, String> {
        let name = format!("runnel-{}", job.id);
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".to_string()),
            labels: Some(self.labels(job, None)),
            ..NetworkCreateRequest::default()
        };
        self.docker
            .create_network(request)
            .await
            .map_err(|e| format!("cannot create the network `{name}`: {}", api_message(&e)))?;
        Ok(name)
    }

    /// Starts the sidecars and waits for their readiness; returns the names of the
    /// containers started (to stop later).
    async fn start_sidecars(
        &self,
        job: &TaskJob,
        setup: &JobSetup,
        network: Option<&str>,
        cancel: &CancellationToken,
    ) -> Vec<String> {
        let mut started = Vec::new();
        for (index, sidecar) in job.sidecars.iter().enumerate() {
            let result = async {
                let image = self.image_of(sidecar)?;
                self.ensure_image(&image, sidecar.pull_policy).await?;
                let sidecar = self.resolved(sidecar, &image).await?;
                let spec = setup
                    .container("sidecar-", index, &sidecar, &image, network)
                    .await?;
                let name = container_name(job, "sidecar-", index, &sidecar.name);
                let body = ContainerCreateBody {
                    labels: Some(self.labels(job, Some(&sidecar.name))),
                    ..spec
                };
                create_container(&self.docker, &name, body).await?;
                started.push(name.clone());
                self.docker
                    .start_container(&name, None)
                    .await
                    .map_err(|e| format!("cannot start: {}", api_message(&e)))?;
                Ok::<_, String>(name)
            }
            .await;
            let problem = match result {
                Ok(name) => match &sidecar.readiness {
                    Some(probe) => self.await_ready(&name, network, probe, cancel).await.err(),
                    None => None,
                },
                Err(problem) => Some(problem),
            };
            if let Some(problem) = problem {
                self.seen().sidecar_problems.push(format!(
                    "sidecar `{}` of `{}`: {problem}",
                    sidecar.name, job.name
                ));
            }
        }
        started
    }

    /// Waits until `probe` passes on the sidecar `name`, it exits, or `cancel` fires.
    async fn await_ready(
        &self,
        name: &str,
        network: Option<&str>,
        probe: &Probe,
        cancel: &CancellationToken,
    ) -> Result<(), String> {
        let pause = |d: Duration| async move {
            tokio::select! {
                () = tokio::time::sleep(d) => false,
                () = cancel.cancelled() => true,
            }
        };
        if pause(probe.initial_delay).await {
            return Ok(());
        }
        loop {
            let inspect = self
                .docker
                .inspect_container(name, None)
                .await
                .map_err(|e| api_message(&e))?;
            let state = inspect.state.unwrap_or_default();
            if state.running != Some(true) {
                return Err(format!(
                    "it exited (code {}) before its readiness probe passed",
                    state.exit_code.unwrap_or(-1)
                ));
            }
            let ready = match &probe.check {
                ProbeCheck::Exec(command) => {
                    tokio::time::timeout(probe.timeout, self.exec_succeeds(name, command))
                        .await
                        .unwrap_or(false)
                }
                ProbeCheck::Tcp(port) => {
                    let ip = if network == Some(HOST_NETWORK) {
                        Some(std::net::IpAddr::from([127, 0, 0, 1]))
                    } else {
                        inspect
                            .network_settings
                            .and_then(|s| s.networks)
                            .and_then(|mut n| network.and_then(|net| n.remove(net)))
                            .and_then(|e| e.ip_address)
                            .and_then(|ip| ip.parse().ok())
                    };
                    match ip {
                        Some(ip) => tokio::time::timeout(
                            probe.timeout,
                            tokio::net::TcpStream::connect(SocketAddr::new(ip, *port)),
                        )
                        .await
                        .is_ok_and(|r| r.is_ok()),
                        None => false,
                    }
                }
            };
            if ready || pause(probe.period.max(Duration::from_millis(100))).await {
                return Ok(());
            }
        }
    }

    /// Whether `command` exits 0 in the running container `name`.
    async fn exec_succeeds(&self, name: &str, command: &[String]) -> bool {
        let options = CreateExecOptions {
            cmd: Some(command.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..CreateExecOptions::default()
        };
        let Ok(exec) = self.docker.create_exec(name, options).await else {
            return false;
        };
        match self.docker.start_exec(&exec.id, None).await {
            Ok(StartExecResults::Attached { mut output, .. }) => {
                while output.next().await.is_some() {}
            }
            Ok(StartExecResults::Detached) => {}
            Err(_) => return false,
        }
        self.docker
            .inspect_exec(&exec.id)
            .await
            .is_ok_and(|i| i.exit_code == Some(0))
    }

    /// Runs one step's container to its end and reports its start and output (not its
    /// end); the container is removed whatever happens.
    async fn run_step(
        &self,
        index: usize,
        job: &TaskJob,
        setup: &JobSetup,
        network: Option<&str>,
        events: &mpsc::Sender<Event>,
        cancel: &CancellationToken,
    ) -> StepOutcome {
        let step = &job.steps[index];
        let image = match self.image_of(step) {
            Ok(image) => image,
            Err(message) => return error_outcome(message),
        };
        let pulled = tokio::select! {
            pulled = self.ensure_image(&image, step.pull_policy) => pulled,
            () = cancel.cancelled() => return cancelled_before_start(),
        };
        if let Err(message) = pulled {
            return error_outcome(message);
        }
        let resolved = match self.resolved(step, &image).await {
            Ok(resolved) => resolved,
            Err(message) => return error_outcome(message),
        };
        let spec = match setup.container("", index, &resolved, &image, network).await {
            Ok(spec) => spec,
            Err(message) => return error_outcome(message),
        };
        let copies = match setup.copies(step).await {
            Ok(copies) => copies,
            Err(message) => return error_outcome(message),
        };
        let name = container_name(job, "", index, &step.name);
        let body = ContainerCreateBody {
            labels: Some(self.labels(job, Some(&step.name))),
            ..spec
        };
        if let Err(message) = create_container(&self.docker, &name, body).await {
            return error_outcome(message);
        }
        let outcome = self
            .drive(index, step, job, &name, copies, events, cancel)
            .await;
        self.remove_later(name);
        if let Some(code) = outcome.exit_code
            && job.exit_codes
            && let Err(message) = write_exit_code(&job.dirs.steps, &step.name, code).await
        {
            return StepOutcome {
                status: StepStatus::Error,
                message: Some(message),
                ..outcome
            };
        }
        outcome
    }

    /// The entries of `name`'s log newer than `last` (a [`split_stamp`] key; `None`: all),
    /// from its last few entries, or from the whole log when those are all newer.
    async fn missed_entries(
        &self,
        name: &str,
        last: Option<&str>,
        started: SystemTime,
    ) -> Result<Vec<(Stream, Vec<u8>)>, String> {
        const TAIL: usize = 16;
        let read = |options| async move {
            let mut entries = Vec::new();
            let mut log = self.docker.logs(name, Some(options));
            while let Some(chunk) = log.next().await {
                let (stream, bytes) = match chunk.map_err(|e| api_message(&e))? {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        (Stream::Stdout, message)
                    }
                    LogOutput::StdErr { message } => (Stream::Stderr, message),
                    LogOutput::StdIn { .. } => continue,
                };
                let (stamp, rest) = split_stamp(&bytes);
                let newer = match (last, stamp.as_deref()) {
                    (Some(last), Some(stamp)) => stamp > last,
                    _ => true,
                };
                entries.push((newer, stream, rest.to_vec()));
            }
            Ok::<_, String>(entries)
        };
        let base = || {
            LogsOptionsBuilder::new()
                .stdout(true)
                .stderr(true)
                .timestamps(true)
        };
        let mut entries = read(base().tail(&TAIL.to_string()).build()).await?;
        if entries.len() == TAIL && entries.iter().all(|(newer, _, _)| *newer) && last.is_some() {
            // More may be missing than the tail holds: the whole log since the step began.
            let since = started
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs().saturating_sub(1));
            let since = i32::try_from(since).unwrap_or(0);
            entries = read(base().since(since).build()).await?;
        }
        Ok(entries
            .into_iter()
            .filter(|(newer, _, _)| *newer)
            .map(|(_, stream, bytes)| (stream, bytes))
            .collect())
    }

    /// Attaches to the created container `name`, starts it, forwards its output and waits
    /// for its end, stopping it on timeout or cancellation.
    #[allow(clippy::too_many_arguments)]
    async fn drive(
        &self,
        index: usize,
        step: &StepJob,
        job: &TaskJob,
        name: &str,
        mut copies: [Option<StreamCopy>; 2],
        events: &mpsc::Sender<Event>,
        cancel: &CancellationToken,
    ) -> StepOutcome {
        if let Err(e) = self.docker.start_container(name, None).await {
            return error_outcome(format!("cannot start the step: {}", api_message(&e)));
        }
        // The container's log, followed from its first line until it stops. Unlike an
        // attach made before the start, this loses nothing a quick step writes before the
        // engine has connected its streams: the logging driver keeps every line.
        // Each entry comes with its time, so that the entries the follow misses (below) can be
        // told from those it delivered.
        let follow = LogsOptionsBuilder::new()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .build();
        let mut output = self.docker.logs(name, Some(follow));
        let mut read_error: Option<String> = None;
        let started = SystemTime::now();
        let _ = events
            .send(Event::StepStarted {
                step: index,
                at: started,
            })
            .await;
        let deadline = step.timeout.map(|t| tokio::time::Instant::now() + t);
        let mut ending: Option<StepStatus> = None;
        let mut lines = [Lines::default(), Lines::default()];
        let mut last: Option<String> = None;
        loop {
            let chunk = tokio::select! {
                chunk = output.next() => chunk,
                () = cancel.cancelled(), if ending.is_none() => {
                    ending = Some(StepStatus::Cancelled);
                    self.stop_soon(name, job.grace);
                    continue;
                }
                () = sleep_until(deadline), if ending.is_none() => {
                    ending = Some(StepStatus::TimedOut);
                    self.stop_soon(name, job.grace);
                    continue;
                }
            };
            let (stream, bytes) = match chunk {
                None => break,
                Some(Err(e)) => {
                    read_error = Some(format!(
                        "the step's output could not be read: {}",
                        api_message(&e)
                    ));
                    break;
                }
                Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                    (Stream::Stdout, message)
                }
                Some(Ok(LogOutput::StdErr { message })) => (Stream::Stderr, message),
                Some(Ok(LogOutput::StdIn { .. })) => continue,
            };
            let (stamp, bytes) = split_stamp(&bytes);
            if stamp.is_some() {
                last = stamp;
            }
            forward(events, index, &mut lines, &mut copies, stream, bytes).await;
        }
        // The json-file driver writes a last line without `\n` when the container's output
        // closes, which can be after the follow above has ended: read the log's tail again
        // and forward what is newer than the last entry delivered.
        if read_error.is_none() {
            match self.missed_entries(name, last.as_deref(), started).await {
                Ok(missed) => {
                    for (stream, bytes) in missed {
                        forward(events, index, &mut lines, &mut copies, stream, &bytes).await;
                    }
                }
                Err(e) => {
                    read_error = Some(format!(
                        "the end of the step's output could not be read: {e}"
                    ));
                }
            }
        }
        for (slot, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            if let Some(line) = lines[slot].finish() {
                send_line(events, index, stream, line).await;
            }
        }
        let mut problems = Vec::new();
        for (copy, stream) in copies.into_iter().zip([Stream::Stdout, Stream::Stderr]) {
            if let Some(problem) = match copy {
                Some(copy) => copy.finish(stream).await,
                None => None,
            } {
                problems.push(problem);
            }
        }
        let exit = self.exit_of(name).await;
        let finished = SystemTime::now();
        let exit_code = exit.as_ref().ok().map(|e| e.code);
        let (status, message) = match (ending, exit) {
            (_, Err(message)) => (StepStatus::Error, Some(message)),
            (Some(StepStatus::TimedOut), Ok(_)) => (
                StepStatus::TimedOut,
                step.timeout
                    .map(|t| format!("timed out after {}", format_duration(t))),
            ),
            (Some(status), Ok(_)) => (status, Some("cancelled".to_string())),
            (None, Ok(Exit { oom: true, .. })) => (
                StepStatus::Failed,
                Some("OOMKilled: the step ran out of its memory limit".to_string()),
            ),
            (None, Ok(Exit { code: 0, .. })) if problems.is_empty() => {
                (StepStatus::Succeeded, None)
            }
            (None, Ok(Exit { code: 0, .. })) => (StepStatus::Failed, None),
            (None, Ok(Exit { code, .. })) => {
                (StepStatus::Failed, Some(format!("exited with code {code}")))
            }
        };
        // A log the engine cannot read (a logging driver without reads) is said, but does
        // not fail the step.
        problems.extend(read_error);
        let message = match (message, problems.is_empty()) {
            (message, true) => message,
            (None, false) => Some(problems.join("; ")),
            (Some(m), false) => Some(format!("{m}; {}", problems.join("; "))),
        };
        StepOutcome {
            status,
            exit_code,
            started: Some(started),
            finished,
            message,
        }
    }

    /// Removes the ended container `name` in the background.
    fn remove_later(&self, name: String) {
        let docker = self.docker.clone();
        let removal = tokio::spawn(async move { remove_container(&docker, &name).await });
        let mut removals = self
            .removals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        removals.retain(|r| !r.is_finished());
        removals.push(removal);
    }

    /// Stops the container `name` in the background: SIGTERM, SIGKILL after `grace`.
    fn stop_soon(&self, name: &str, grace: Duration) {
        let docker = self.docker.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let options = StopContainerOptionsBuilder::new()
                .t(grace_seconds(grace))
                .build();
            let _ = docker.stop_container(&name, Some(options)).await;
        });
    }

    /// The exit code of the ended container `name`, and whether it was OOM-killed.
    async fn exit_of(&self, name: &str) -> Result<Exit, String> {
        let options = WaitContainerOptionsBuilder::new()
            .condition("not-running")
            .build();
        let waited = self.docker.wait_container(name, Some(options)).next().await;
        let code = match waited {
            Some(Ok(response)) => response.status_code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(format!("cannot wait for the step: {}", api_message(&e))),
            None => return Err("the Docker engine did not say how the step ended".to_string()),
        };
        // Only a step that failed can have been killed for its memory.
        if code == 0 {
            return Ok(Exit {
                code: 0,
                oom: false,
            });
        }
        let state = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(|e| format!("cannot inspect the step: {}", api_message(&e)))?
            .state
            .unwrap_or_default();
        Ok(Exit {
            code: i32::try_from(state.exit_code.unwrap_or(code)).unwrap_or(i32::MAX),
            oom: state.oom_killed == Some(true),
        })
    }
}

impl Runner for DockerRunner {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn path_in_step(&self, _host_path: &Path, mount_path: &str) -> String {
        mount_path.to_string()
    }

    fn run_task<'a>(
        &'a self,
        job: TaskJob,
        events: mpsc::Sender<Event>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, TaskOutcome> {
        Box::pin(self.run(job, events, cancel))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            let removals = std::mem::take(
                &mut *self
                    .removals
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            );
            futures::future::join_all(removals).await;
        })
    }

    fn notices(&self) -> Vec<String> {
        let seen = self.seen();
        let mut notices = Vec::new();
        if !seen.rewritten.is_empty() {
            let pairs: Vec<String> = seen
                .rewritten
                .iter()
                .map(|(from, to)| format!("{from} → {to}"))
                .collect();
            notices.push(format!("images rewritten: {}", pairs.join(", ")));
        }
        notices.extend(seen.sidecar_problems.iter().cloned());
        notices
    }
}

/// How a container ended.
#[derive(Debug, Clone, Copy)]
struct Exit {
    code: i32,
    oom: bool,
}

/// The host directories of a job, made ready to mount.
#[derive(Debug)]
struct JobSetup {
    /// `host:container[:ro]` for every mount of the job.
    binds: Vec<String>,
    /// Container path → host path, longest container path first, to find where a
    /// container path lives on the host.
    places: Vec<(String, PathBuf)>,
    scripts: PathBuf,
    work: PathBuf,
    steps: PathBuf,
}

impl JobSetup {
    /// Creates the job's directories (writable by any user, as Kubernetes' emptyDirs are)
    /// and lists its mounts.
    async fn prepare(job: &TaskJob) -> Result<JobSetup, String> {
        let dirs = &job.dirs;
        let absolute = |p: &Path| {
            std::path::absolute(p).map_err(|e| format!("cannot resolve `{}`: {e}", p.display()))
        };
        let mut mounts: Vec<Mount> = job.mounts.clone();
        mounts.push(Mount {
            host_path: dirs.work.clone(),
            mount_path: WORKSPACE_DIR.to_string(),
            read_only: false,
        });
        mounts.push(Mount {
            host_path: dirs.home.clone(),
            mount_path: HOME_DIR.to_string(),
            read_only: false,
        });
        mounts.push(Mount {
            host_path: dirs.scripts.clone(),
            mount_path: SCRIPTS_DIR.to_string(),
            read_only: true,
        });
        for own in [
            &dirs.work,
            &dirs.home,
            &dirs.scripts,
            &dirs.steps,
            &dirs.results,
        ] {
            make_shared_dir(own).await?;
        }
        // Tekton's layout: `/tekton/steps/step-NAME/`, and `/tekton/steps/INDEX` linking
        // to it.
        for (index, step) in job.steps.iter().enumerate() {
            let own = format!("step-{}", step.name);
            make_shared_dir(&dirs.steps.join(&own)).await?;
            // The engine made `results` for the step's declared results.
            let results = dirs.steps.join(&own).join("results");
            if results.is_dir() {
                make_shared_dir(&results).await?;
            }
            let link = dirs.steps.join(index.to_string());
            if tokio::fs::symlink_metadata(&link).await.is_err() {
                tokio::fs::symlink(&own, &link)
                    .await
                    .map_err(|e| format!("cannot link `{}`: {e}", link.display()))?;
            }
        }
        let mut binds = Vec::with_capacity(mounts.len());
        let mut places = Vec::with_capacity(mounts.len());
        for m in &mounts {
            let host = absolute(&m.host_path)?;
            if !host.exists() {
                tokio::fs::create_dir_all(&host)
                    .await
                    .map_err(|e| format!("cannot create `{}`: {e}", host.display()))?;
            }
            let ro = if m.read_only { ":ro" } else { "" };
            binds.push(format!("{}:{}{ro}", host.display(), m.mount_path));
            places.push((m.mount_path.trim_end_matches('/').to_string(), host));
        }
        places.sort_by_key(|(c, _)| std::cmp::Reverse(c.len()));
        Ok(JobSetup {
            binds,
            places,
            scripts: absolute(&dirs.scripts)?,
            work: absolute(&dirs.work)?,
            steps: absolute(&dirs.steps)?,
        })
    }

    /// Where the container path `path` lives on the host, if under a mount.
    fn host_path(&self, path: &str) -> Option<PathBuf> {
        self.places.iter().find_map(|(container, host)| {
            let rest = path.strip_prefix(container.as_str())?;
            if rest.is_empty() {
                Some(host.clone())
            } else {
                rest.strip_prefix('/').map(|rest| host.join(rest))
            }
        })
    }

    /// The files `stdoutConfig.path` / `stderrConfig.path` ask for, opened on the host.
    async fn copies(&self, step: &StepJob) -> Result<[Option<StreamCopy>; 2], String> {
        let mut copies = [None, None];
        for (slot, (path, stream)) in [
            (&step.stdout_path, Stream::Stdout),
            (&step.stderr_path, Stream::Stderr),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(path) = path.as_deref().filter(|p| !p.is_empty()) else {
                continue;
            };
            let absolute = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("{WORKSPACE_DIR}/{path}")
            };
            let Some(host) = self.host_path(&absolute) else {
                return Err(format!(
                    "{}Config.path `{path}` is outside every mounted directory; the Docker runner copies output only into /workspace, /tekton/home, /tekton/results, /tekton/steps or a workspace",
                    stream.as_str()
                ));
            };
            copies[slot] = Some(StreamCopy::create(&host).await.map_err(|e| {
                format!(
                    "cannot open `{}` for the step's {}: {e}",
                    host.display(),
                    stream.as_str()
                )
            })?);
        }
        Ok(copies)
    }

    /// The container of step (or sidecar) `index`, without labels. Writes its script.
    async fn container(
        &self,
        prefix: &str,
        index: usize,
        step: &StepJob,
        image: &str,
        network: Option<&str>,
    ) -> Result<ContainerCreateBody, String> {
        let (entrypoint, cmd) = match &step.script {
            Some(script) => {
                let file = file_name(prefix, index, &step.name);
                let contents = if script.starts_with("#!") {
                    script.clone()
                } else {
                    format!("{SCRIPT_PREAMBLE}{script}")
                };
                let host = self.scripts.join(&file);
                let fail = |e: std::io::Error| {
                    format!("cannot write the script `{}`: {e}", host.display())
                };
                tokio::fs::write(&host, contents).await.map_err(fail)?;
                tokio::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o755))
                    .await
                    .map_err(fail)?;
                (
                    Some(vec![format!("{SCRIPTS_DIR}/{file}")]),
                    Some(step.args.clone()),
                )
            }
            // `command` replaces the image's entrypoint, `args` its cmd (see `resolved` for
            // steps without a command).
            None => (Some(step.command.clone()), Some(step.args.clone())),
        };
        let working_dir = match step.working_dir.as_deref().filter(|d| !d.is_empty()) {
            Some(dir) if dir.starts_with('/') => Some(dir.to_string()),
            Some(dir) => Some(format!("{WORKSPACE_DIR}/{dir}")),
            None => None,
        };
        // Tekton creates working directories under /workspace beforehand, so that
        // steps running as any user can use them: in the mount that holds it (a
        // workspace's, e.g. `$(workspaces.source.path)/.`), else in the job's /workspace.
        if let Some(dir) = working_dir.as_deref().filter(|d| {
            d.strip_prefix(WORKSPACE_DIR)
                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
        }) {
            let host = self.host_path(dir).unwrap_or_else(|| {
                self.work
                    .join(dir[WORKSPACE_DIR.len()..].trim_start_matches('/'))
            });
            // `a/./b/.` is `a/b`: `components` drops the `.`s.
            let host: PathBuf = host.components().collect();
            if !host.exists() {
                make_shared_dir(&host).await?;
            }
        }
        let mut env: Vec<(String, String)> = vec![("HOME".to_string(), HOME_DIR.to_string())];
        for (key, value) in &step.env {
            env.retain(|(k, _)| k != key);
            env.push((key.clone(), value.clone()));
        }
        let user = match (step.run_as_user, step.run_as_group) {
            (Some(u), Some(g)) => Some(format!("{u}:{g}")),
            (Some(u), None) => Some(u.to_string()),
            // A group without a user: the image's user... which Docker cannot name, so
            // root's uid, as Kubernetes runs an image without USER.
            (None, Some(g)) => Some(format!("0:{g}")),
            (None, None) => None,
        };
        // The step's own mounts, and the job's where the step mounts nothing at the same
        // path (a volume over /workspace replaces it, as in a pod).
        let mut binds: Vec<String> = self
            .binds
            .iter()
            .filter(|b| {
                let target = b.split(':').nth(1).unwrap_or("");
                !step
                    .mounts
                    .iter()
                    .any(|m| m.mount_path.trim_end_matches('/') == target.trim_end_matches('/'))
            })
            .cloned()
            .collect();
        // A step writes only its own `/tekton/steps/step-NAME` (its results), as in Tekton.
        if prefix.is_empty() {
            let own = format!("step-{}", step.name);
            binds.push(format!(
                "{}:/tekton/steps/{own}",
                self.steps.join(&own).display()
            ));
        }
        for m in &step.mounts {
            let host = std::path::absolute(&m.host_path)
                .map_err(|e| format!("cannot resolve `{}`: {e}", m.host_path.display()))?;
            let ro = if m.read_only { ":ro" } else { "" };
            binds.push(format!("{}:{}{ro}", host.display(), m.mount_path));
        }
        let host_config = HostConfig {
            binds: Some(binds),
            network_mode: network.map(str::to_string),
            memory: step.memory_limit,
            nano_cpus: step.cpu_limit.map(|cpus| (cpus * 1e9).round() as i64),
            init: Some(false),
            ..HostConfig::default()
        };
        // Sidecars get their name as an alias on a network that has names (not `host`).
        let networking_config = network
            .filter(|net| !prefix.is_empty() && *net != HOST_NETWORK)
            .map(|net| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    net.to_string(),
                    EndpointSettings {
                        aliases: Some(vec![step.name.clone()]),
                        ..EndpointSettings::default()
                    },
                )])),
            });
        Ok(ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint,
            cmd,
            env: Some(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()),
            working_dir,
            user,
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            open_stdin: Some(false),
            host_config: Some(host_config),
            networking_config,
            ..ContainerCreateBody::default()
        })
    }
}

/// Creates `dir` (and its parents), writable by every user.
async fn make_shared_dir(dir: &Path) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot create `{}`: {e}", dir.display());
    tokio::fs::create_dir_all(dir).await.map_err(fail)?;
    tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
        .await
        .map_err(fail)
}

/// `runnel-TASKRUNID-NN-NAME` (or `…-sidecar-NN-NAME`).
fn container_name(job: &TaskJob, prefix: &str, index: usize, name: &str) -> String {
    format!("runnel-{}-{}", job.id, file_name(prefix, index, name))
}

async fn create_container(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
) -> Result<(), String> {
    let options = CreateContainerOptionsBuilder::new().name(name).build();
    docker
        .create_container(Some(options), body)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot create the container: {}", api_message(&e)))
}

/// Removes the container `name` and its anonymous volumes, killing it if it runs.
async fn remove_container(docker: &Docker, name: &str) {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    let _ = docker.remove_container(name, Some(options)).await;
}

/// Stops (SIGTERM, SIGKILL after `grace`) and removes the container `name`.
async fn stop_and_remove(docker: &Docker, name: &str, grace: Duration) {
    let options = StopContainerOptionsBuilder::new()
        .t(grace_seconds(grace))
        .build();
    let _ = docker.stop_container(name, Some(options)).await;
    remove_container(docker, name).await;
}

/// Docker counts the stop grace period in whole seconds.
fn grace_seconds(grace: Duration) -> i32 {
    i32::try_from(grace.as_secs() + u64::from(grace.subsec_nanos() > 0)).unwrap_or(i32::MAX)
}

fn cancelled_before_start() -> StepOutcome {
    StepOutcome {
        status: StepStatus::Cancelled,
        exit_code: None,
        started: None,
        finished: SystemTime::now(),
        message: Some("cancelled before it started".to_string()),
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Splits a log entry read with `timestamps` into a key that orders entries by time
/// (`2026-11-23T22:50:01.123456789`, the fraction padded to nine digits) and the text.
fn split_stamp(bytes: &[u8]) -> (Option<String>, &[u8]) {
    let Some(space) = bytes.iter().position(|&b| b == b' ') else {
        return (None, bytes);
    };
    let Ok(stamp) = std::str::from_utf8(&bytes[..space]) else {
        return (None, bytes);
    };
    let Some(stamp) = stamp.strip_suffix('Z') else {
        return (None, bytes);
    };
    if stamp.len() < 19 || stamp.as_bytes().get(10) != Some(&b'T') {
        return (None, bytes);
    }
    let (seconds, fraction) = stamp.split_once('.').unwrap_or((stamp, ""));
    let key = format!("{seconds}.{fraction:0<9}");
    (Some(key), &bytes[space + 1..])
}

/// Hands one chunk of a step's output to its copy file and, line by line, to the events.
async fn forward(
    events: &mpsc::Sender<Event>,
    index: usize,
    lines: &mut [Lines; 2],
    copies: &mut [Option<StreamCopy>; 2],
    stream: Stream,
    bytes: &[u8],
) {
    let slot = usize::from(stream == Stream::Stderr);
    if let Some(copy) = copies[slot].as_mut() {
        copy.write(bytes).await;
    }
    for line in lines[slot].push(bytes) {
        send_line(events, index, stream, line).await;
    }
}
