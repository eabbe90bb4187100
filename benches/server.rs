//! `runnel serve` under load, through the release binary, each figure against a baseline
//! measured in the same run:
//!
//! - `rss`: the server's resident memory after it has idled 2 s, against a
//!   `python3 -m http.server` measured the same way (the smallest HTTP server at hand).
//! - `ingest`: signed GitHub push webhooks from `wrk` on loopback (2 threads × 4
//!   connections by default), each a distinct delivery of a distinct branch so that each
//!   queues a run, on SQLite, with `[server] run_queue = false` (nothing runs the queued
//!   runs: this is ingest alone); against the same `wrk` on the same server's
//!   `GET /healthz`. Afterwards the queued runs are counted through the API: they must be
//!   the deliveries answered 202 (plus at most one a connection, cut off when wrk stopped).
//! - `sse`: a step printing 100,000 lines/s for 5 s, each line carrying its print time,
//!   followed over the step's server-sent events; per line, the time it reached the client
//!   minus the time it was printed. Baseline: the same pipeline through `runnel run` with
//!   its stdout read by this bench from a pipe (runner, engine and printer, no HTTP). The
//!   `at` each line is stamped with when the runner read it gives the runner's share.
//!
//! `cargo bench --bench server [-- rss|ingest|sse] [--secs N] [--connections N]`: how long
//! `wrk` sends webhooks (default 10 s) and over how many connections (default 4). Needs
//! `wrk` (Debian package `wrk`) for `ingest` and `python3` for `rss` and `sse`; a case whose
//! tool is missing says so and is skipped. `RUNNEL_BENCH_SERIES=1` prints the SSE latency
//! by 250 ms of printing. Timings are printed, never asserted.

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};
use serde_json::Value;

const SECRET: &str = "bench-secret";
const REPO: &str = "Codertocat/Hello-World";
/// How long a server idles before its RSS is read.
const IDLE: Duration = Duration::from_secs(2);
/// The SSE case: lines per second, for how long, and how many per write.
const LINES_PER_SEC: usize = 100_000;
const LINE_SECS: usize = 5;
const BATCH: usize = 100;

// ---------------------------------------------------------------------------------------
// Processes

fn runnel() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runnel"));
    c.env_remove("RUNNEL_DATABASE_URL")
        .env_remove("RUNNEL_STATE_DIR")
        .env_remove("RUNNEL_LISTEN")
        .env_remove("RUNNEL_LOG_STORE")
        .env("NO_COLOR", "1");
    c
}

/// A `runnel serve` child; killed when dropped.
struct Server {
    child: Child,
    base: String,
    /// The last lines of its stderr.
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    fn start(dir: &Path, config: &Path, state: &Path) -> Server {
        let mut child = runnel()
            .args(["serve", "--listen", "127.0.0.1:0", "--runner", "local"])
            .arg("--state-dir")
            .arg(state)
            .arg("--config")
            .arg(config)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runnel serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(at) = line.find("serving on http://") {
                        let rest = &line[at + "serving on ".len()..];
                        let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                    }
                    let mut log = log.lock().expect("log lock");
                    if log.len() == 50 {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
            });
        }
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "the server did not start:\n{}",
                    Vec::from(log.lock().expect("log lock").clone()).join("\n")
                )
            });
        Server { child, base, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        Vec::from(self.log.lock().expect("log lock").clone()).join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(state: &Path, name: &str) -> String {
    let out = runnel()
        .args(["token", "create", name, "--state-dir"])
        .arg(state)
        .output()
        .expect("runnel token create runs");
    assert!(
        out.status.success(),
        "runnel token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc status")
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // After the command's ")": state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("a stat line")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // USER_HZ is 100 on Linux.
    ticks as f64 / 100.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The real python3 (not a version manager's shim), if there is one.
fn python() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as i64
}

/// The bench's client: one thread (the connection and the reading of its events on the
/// same thread, so that no chunk has to be handed over between threads).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

// ---------------------------------------------------------------------------------------
// Idle RSS

/// `python3 -m http.server` on loopback, idle for [`IDLE`]: its RSS in KiB.
fn baseline_rss(python: &Path) -> u64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(python)
        .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m http.server starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut first)
        .expect("http.server says where it serves");
    assert!(first.contains("Serving HTTP"), "http.server: {first}");
    std::thread::sleep(IDLE);
    let rss = rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    rss
}

fn print_rss(label: &str, runnel_kib: u64, baseline_kib: Option<u64>) {
    let ratio = baseline_kib
        .map(|b| format!("  = {:.2}x http.server", runnel_kib as f64 / b as f64))
        .unwrap_or_default();
    println!("  {label:<38}: {:>6.1} MiB{ratio}", mib(runnel_kib));
}

fn rss_case(python: Option<&Path>) {
    let root = tempfile::tempdir().expect("tempdir");
    let config = root.path().join("runnel.toml");
    std::fs::write(&config, server_config("pipelines", false)).expect("config");
    std::fs::create_dir_all(root.path().join("pipelines")).expect("pipelines dir");
    let server = Server::start(root.path(), &config, &root.path().join("state"));
    std::thread::sleep(IDLE);
    let ours = rss_kib(server.pid());
    drop(server);
    let theirs = python.map(baseline_rss);
    println!("rss: idle for {} s after start", IDLE.as_secs());
    match theirs {
        Some(b) => println!(
            "  baseline: python3 -m http.server      : {:>6.1} MiB",
            mib(b)
        ),
        None => println!("  baseline: no python3, not measured"),
    }
    print_rss("runnel serve (SQLite, local runner)", ours, theirs);
    println!(
        "  target < 30 MB idle: {}",
        met(ours as f64 * 1024.0 < 30e6)
    );
}

/// A config file: the pipelines' directory, and the repository whose webhooks are taken
/// (with `run_queue = false`) when `ingest` is given.
fn server_config(pipelines: &str, ingest: bool) -> String {
    let mut s = format!("[server]\npipelines = [{pipelines:?}]\n");
    if ingest {
        let _ = write!(
            s,
            "run_queue = false\n\n[[repos]]\nname = \"{REPO}\"\nforge = \"github\"\nsecret = \"{SECRET}\"\n"
        );
    }
    s
}

// ---------------------------------------------------------------------------------------
// Webhook ingest

/// Counts answers by status in each thread, and prints one machine-readable line at the end.
const LUA_COMMON: &str = r#"
local threads = {}
local count = 0
function setup(thread)
  thread:set("id", count)
  count = count + 1
  table.insert(threads, thread)
end
function response(status, headers, body)
  if status == 202 then s202 = s202 + 1
  elseif status == 200 then s200 = s200 + 1
  elseif status >= 500 then s5xx = s5xx + 1
  else sother = sother + 1 end
end
function done(summary, latency, requests)
  local c = { s202 = 0, s200 = 0, s5xx = 0, sother = 0 }
  for _, t in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + t:get(k) end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%.0f duration_us=%.0f p50=%.0f p90=%.0f p99=%.0f p999=%.0f max=%.0f " ..
    "connect=%.0f read=%.0f write=%.0f status=%.0f timeout=%.0f " ..
    "s202=%.0f s200=%.0f s5xx=%.0f sother=%.0f\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, c.s202, c.s200, c.s5xx, c.sother))
end
"#;

const LUA_HEALTHZ: &str = r#"
function init(args)
  s202, s200, s5xx, sother = 0, 0, 0, 0
end
"#;

/// Reads this thread's share of the deliveries (every `nthreads`-th line of the file
/// `args[1]`, "delivery\tsignature\tbody") and sends them in turn.
const LUA_HOOKS: &str = r#"
function init(args)
  s202, s200, s5xx, sother = 0, 0, 0, 0
  local nthreads = tonumber(args[2])
  reqs = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local d, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", "/hooks/github", {
        ["X-GitHub-Event"] = "push",
        ["X-GitHub-Delivery"] = d,
        ["X-Hub-Signature-256"] = sig,
        ["Content-Type"] = "application/json",
      }, body)
    end
    i = i + 1
  end
  n = 0
end
function request()
  n = n + 1
  return reqs[(n - 1) % #reqs + 1]
end
"#;

#[derive(Debug, Default, Clone)]
struct WrkResult {
    requests: f64,
    secs: f64,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
    socket_errors: f64,
    s202: f64,
    s200: f64,
    s5xx: f64,
    sother: f64,
}

impl WrkResult {
    fn rate(&self) -> f64 {
        self.requests / self.secs
    }
}

fn wrk_available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("wrk"))
}

/// wrk's load: how long, over how many connections (and up to two threads).
#[derive(Debug, Clone, Copy)]
struct Load {
    secs: u64,
    connections: usize,
}

impl Load {
    fn threads(&self) -> usize {
        self.connections.clamp(1, 2)
    }
}

/// Runs wrk with `load` against `url` with `script`; `args` go to the script's `init`.
fn wrk(url: &str, load: Load, script: &Path, args: &[&str]) -> WrkResult {
    let out = Command::new("wrk")
        .arg(format!("-t{}", load.threads()))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.secs))
        .arg("--timeout=10s")
        .arg("-s")
        .arg(script)
        .arg(url)
        .arg("--")
        .args(args)
        .output()
        .expect("wrk runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wrk failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line from wrk:\n{stdout}"));
    let mut r = WrkResult::default();
    for pair in line.split_whitespace() {
        let (k, v) = pair.split_once('=').expect("key=value");
        let v: f64 = v.parse().expect("a number");
        match k {
            "requests" => r.requests = v,
            "duration_us" => r.secs = v / 1e6,
            "p50" => r.p50_us = v,
            "p90" => r.p90_us = v,
            "p99" => r.p99_us = v,
            "p999" => r.p999_us = v,
            "max" => r.max_us = v,
            "connect" | "read" | "write" | "timeout" => r.socket_errors += v,
            "s202" => r.s202 = v,
            "s200" => r.s200 = v,
            "s5xx" => r.s5xx = v,
            "sother" => r.sother = v,
            _ => {}
        }
    }
    r
}

/// [`wrk`], and the server's CPU time meanwhile.
fn wrk_on(
    server: &Server,
    path: &str,
    load: Load,
    script: &Path,
    args: &[&str],
) -> (WrkResult, f64) {
    let pid = server.pid().to_string();
    let before = cpu_secs(&pid);
    let r = wrk(&format!("{}{path}", server.base), load, script, args);
    (r, cpu_secs(&pid) - before)
}

fn sign(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// GitHub's example push of a new branch, as a template.
fn push_payload() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/webhooks/github/push_with-new-branch.payload.json");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read the example push {}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("the example push is JSON")
}

/// Writes `count` distinct signed deliveries (delivery `bench-TAG-I`, branch `b-TAG-I`),
/// one a line: "delivery\tsignature\tbody". Returns the body size of the first.
fn write_deliveries(path: &Path, template: &Value, tag: &str, count: usize) -> usize {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("deliveries file"));
    let mut payload = template.clone();
    let mut size = 0;
    for i in 0..count {
        payload["ref"] = Value::String(format!("refs/heads/b-{tag}-{i}"));
        let body = serde_json::to_vec(&payload).expect("payload serializes");
        if i == 0 {
            size = body.len();
        }
        out.write_all(format!("bench-{tag}-{i}\t{}\t", sign(&body)).as_bytes())
            .and_then(|()| out.write_all(&body))
            .and_then(|()| out.write_all(b"\n"))
            .expect("deliveries file is written");
    }
    out.flush().expect("deliveries file is written");
    size
}

/// The branches of every queued run, through `GET /api/v1/runs?status=Queued`, page by
/// page: how many runs, and their distinct branches.
async fn queued_branches(base: &str, token: &str) -> (usize, HashSet<String>) {
    let client = client();
    let mut rows = 0;
    let mut branches = HashSet::new();
    let mut offset = 0;
    loop {
        let page: Value = client
            .get(format!(
                "{base}/api/v1/runs?status=Queued&limit=500&offset={offset}"
            ))
            .bearer_auth(token)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("GET /api/v1/runs")
            .json()
            .await
            .expect("a JSON list of runs");
        let runs = page["runs"].as_array().expect("runs").clone();
        rows += runs.len();
        for r in &runs {
            if let Some(b) = r["source"]["branch"].as_str() {
                branches.insert(b.to_owned());
            }
        }
        if runs.len() < 500 {
            return (rows, branches);
        }
        offset += 500;
    }
}

fn print_wrk(label: &str, r: &WrkResult, cpu: f64) {
    println!(
        "  {label:<24}: {:>8.0} req/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  max {:>7.2} ms  ({:.0} in {:.1} s; server CPU {:.0} % of a core, {:.0} µs a request)",
        r.rate(),
        r.p50_us / 1e3,
        r.p90_us / 1e3,
        r.p99_us / 1e3,
        r.p999_us / 1e3,
        r.max_us / 1e3,
        r.requests,
        r.secs,
        cpu / r.secs * 100.0,
        cpu / r.requests.max(1.0) * 1e6,
    );
}

fn file_mib(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0))
}

fn ingest_case(load: Load, python: Option<&Path>) {
    if !wrk_available() {
        println!(
            "ingest: skipped: wrk is not installed (apt-get install wrk, or your system's package)"
        );
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    // The request files are large (a few hundred MB at a few thousand deliveries/s): on
    // tmpfs when there is one, so that writing them costs no disk I/O during the run.
    let scratch = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").expect("tempdir in /dev/shm")
    } else {
        tempfile::tempdir().expect("tempdir")
    };
    let config = root.path().join("runnel.toml");
    std::fs::create_dir_all(root.path().join("pipelines")).expect("pipelines dir");
    std::fs::write(&config, server_config("pipelines", true)).expect("config");
    let state = root.path().join("state");
    let admin = token(&state, "bench");
    let server = Server::start(root.path(), &config, &state);
    std::thread::sleep(IDLE);
    let idle_kib = rss_kib(server.pid());

    let healthz_lua = scratch.path().join("healthz.lua");
    std::fs::write(&healthz_lua, format!("{LUA_COMMON}{LUA_HEALTHZ}")).expect("lua");
    let hooks_lua = scratch.path().join("hooks.lua");
    std::fs::write(&hooks_lua, format!("{LUA_COMMON}{LUA_HOOKS}")).expect("lua");
    let template = push_payload();
    let threads = load.threads().to_string();

    // Warm-up (3 s) on deliveries of their own; it also tells how many the measured run
    // needs so that none is sent twice.
    let warm_file = scratch.path().join("warm.tsv");
    let body_size = write_deliveries(&warm_file, &template, "warm", 12_000);
    let (warm, _) = wrk_on(
        &server,
        "/hooks/github",
        Load { secs: 3, ..load },
        &hooks_lua,
        &[warm_file.to_str().expect("utf-8 path"), &threads],
    );
    std::fs::remove_file(&warm_file).expect("remove the warm-up file");
    let needed = ((warm.rate() * load.secs as f64 * 2.5) as usize).clamp(20_000, 250_000);
    let main_file = scratch.path().join("main.tsv");
    write_deliveries(&main_file, &template, "main", needed);

    let (healthz, healthz_cpu) = wrk_on(&server, "/healthz", load, &healthz_lua, &[]);
    let (hooks, hooks_cpu) = wrk_on(
        &server,
        "/hooks/github",
        load,
        &hooks_lua,
        &[main_file.to_str().expect("utf-8 path"), &threads],
    );
    std::fs::remove_file(&main_file).expect("remove the deliveries file");
    let loaded_kib = rss_kib(server.pid());
    let (db, wal) = (
        file_mib(&state.join("runnel.db")),
        file_mib(&state.join("runnel.db-wal")),
    );
    std::thread::sleep(IDLE);
    let after_kib = rss_kib(server.pid());

    let (rows, branches) = runtime().block_on(queued_branches(&server.base, &admin));
    let main_runs = branches.iter().filter(|b| b.starts_with("b-main-")).count();
    let baseline = python.map(baseline_rss);
    drop(server);

    println!(
        "ingest: signed GitHub pushes ({body_size} B bodies), each a new delivery and branch, wrk -t{} -c{} -d{}s on loopback, SQLite, run_queue = false",
        load.threads(),
        load.connections,
        load.secs
    );
    print_wrk("baseline: GET /healthz", &healthz, healthz_cpu);
    print_wrk("POST /hooks/github", &hooks, hooks_cpu);
    println!(
        "  webhooks vs healthz     : throughput {:.3}x, p99 {:.1}x (+{:.2} ms)",
        hooks.rate() / healthz.rate(),
        hooks.p99_us / healthz.p99_us,
        (hooks.p99_us - healthz.p99_us) / 1e3
    );
    println!(
        "  answers (measured run)  : {} queued (202), {} duplicate (200), {} 5xx, {} other, {} socket errors; {} distinct deliveries in the file",
        hooks.s202, hooks.s200, hooks.s5xx, hooks.sother, hooks.socket_errors, needed
    );
    // A request wrk cut off when its time was up may have been queued unanswered: at most
    // one a connection.
    let cut = main_runs as f64 - hooks.s202;
    println!(
        "  check: {main_runs} queued runs of the measured run's branches for {} answers 202 ({}); {rows} queued runs in all, {} distinct branches",
        hooks.s202,
        if cut == 0.0 {
            "equal".to_owned()
        } else if cut > 0.0 && cut <= load.connections as f64 {
            format!("+{cut}: requests in flight when wrk stopped, queued but not counted")
        } else {
            format!("MISMATCH by {cut}")
        },
        branches.len(),
    );
    println!(
        "  warm-up (3 s)           : {:.0} req/s, {} queued; database after the load: {db:.1} MiB + WAL {wal:.1} MiB",
        warm.rate(),
        warm.s202
    );
    println!("  server RSS:");
    print_rss("idle, before the load", idle_kib, baseline);
    print_rss("right after the load", loaded_kib, baseline);
    print_rss("idle 2 s after the load", after_kib, baseline);
    println!(
        "  target ≥ 2,000 deliveries/s: {} ({:.0}/s); p99 < 25 ms: {} ({:.2} ms)",
        met(hooks.rate() >= 2000.0 && hooks.s5xx == 0.0),
        hooks.rate(),
        met(hooks.p99_us < 25_000.0),
        hooks.p99_us / 1e3
    );
}

// ---------------------------------------------------------------------------------------
// SSE latency

/// A pipeline whose one step prints "ready", waits for the file `go`, then prints
/// [`LINES_PER_SEC`] lines/s for [`LINE_SECS`] s, each "TIME_NS SEQ", [`BATCH`] lines a
/// write.
fn flood_pipeline(python: &Path, go: &Path) -> String {
    let script = format!(
        r#"#!{python}
import os, sys, time
go = {go:?}
rate, total, batch = {LINES_PER_SEC}, {total}, {BATCH}
out = sys.stdout
out.write("ready\n")
out.flush()
deadline = time.monotonic() + 60
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("the bench never said go")
    time.sleep(0.002)
ns = time.time_ns
t0 = time.monotonic()
n = 0
while n < total:
    wait = t0 + n / rate - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    k = min(batch, total - n)
    out.write("".join(["%d %d\n" % (ns(), n + j) for j in range(k)]))
    out.flush()
    n += k
"#,
        python = python.display(),
        go = go.display().to_string(),
        total = LINES_PER_SEC * LINE_SECS,
    );
    let indented: String = script
        .lines()
        .map(|l| format!("              {l}\n"))
        .collect();
    format!(
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: flood\nspec:\n  tasks:\n    - name: flood\n      taskSpec:\n        steps:\n          - name: emit\n            image: python:3\n            script: |\n{indented}"
    )
}

/// What a follower of the flood saw.
#[derive(Default)]
struct Flood {
    /// Receive time − print time, per line, ns.
    latencies: Vec<i64>,
    /// The runner's `at` − print time, per line, ns (SSE only).
    runner_share: Vec<i64>,
    /// Lines out of order or missing.
    out_of_order: usize,
    first_printed: i64,
    last_printed: i64,
}

impl Flood {
    /// Takes a line "TIME_NS SEQ" that arrived at `received`.
    fn line(&mut self, text: &str, received: i64) -> Option<i64> {
        let (t, seq) = text.split_once(' ')?;
        let (t, seq): (i64, usize) = (t.parse().ok()?, seq.parse().ok()?);
        if seq != self.latencies.len() {
            self.out_of_order += 1;
        }
        if seq == 0 {
            self.first_printed = t;
        }
        self.last_printed = t;
        self.latencies.push(received - t);
        Some(t)
    }

    fn print(&mut self, label: &str) {
        if std::env::var_os("RUNNEL_BENCH_SERIES").is_some() {
            self.print_series();
        }
        let total = LINES_PER_SEC * LINE_SECS;
        let span = (self.last_printed - self.first_printed) as f64 / 1e9;
        println!(
            "  {label:<28}: p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  max {:>7.2} ms  | {} of {total} lines, {} out of order, printed at {:.0} lines/s",
            pct(&mut self.latencies, 50.0),
            pct(&mut self.latencies, 99.0),
            pct(&mut self.latencies, 99.9),
            pct(&mut self.latencies, 100.0),
            self.latencies.len(),
            self.out_of_order,
            self.latencies.len() as f64 / span.max(1e-9),
        );
    }
}

impl Flood {
    /// Latency by 250 ms of printing (in line order, before [`Flood::print`] sorts them).
    fn print_series(&self) {
        let per = LINES_PER_SEC / 4;
        for (i, w) in self.latencies.chunks(per).enumerate() {
            let mut w = w.to_vec();
            println!(
                "    {:>5} ms: p50 {:>7.2} ms  max {:>7.2} ms",
                i * 250,
                pct(&mut w, 50.0),
                pct(&mut w, 100.0)
            );
        }
    }
}

/// The `p`th percentile of `v`, in ms.
fn pct(v: &mut [i64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[i] as f64 / 1e6
}

/// Follows the flood through `runnel run` with its stdout on a pipe.
fn flood_through_run(dir: &Path, pipeline: &Path, go: &Path) -> Flood {
    std::fs::write(go, "go").expect("go file");
    let mut child = runnel()
        .args(["run", "--runner", "local", "--state-dir"])
        .arg(dir.join("run-state"))
        .arg(pipeline)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("runnel run starts");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut flood = Flood::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    const PREFIX: &str = "[flood/emit] ";
    loop {
        let n = stdout.read(&mut buf).expect("read runnel run's stdout");
        if n == 0 {
            break;
        }
        let received = now_ns();
        pending.extend_from_slice(&buf[..n]);
        let mut used = 0;
        while let Some(nl) = pending[used..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&pending[used..used + nl]).into_owned();
            used += nl + 1;
            if let Some(text) = line.strip_prefix(PREFIX) {
                flood.line(text, received);
            }
        }
        pending.drain(..used);
    }
    let status = child.wait().expect("runnel run ends");
    assert!(status.success(), "runnel run of the flood failed");
    std::fs::remove_file(go).expect("remove the go file");
    flood
}

#[derive(serde::Deserialize)]
struct LineData<'a> {
    #[serde(borrow)]
    at: &'a str,
    text: String,
}

/// Starts the flood on the server and follows its step's SSE stream.
async fn flood_through_sse(server: &Server, token: &str, go: &Path) -> Flood {
    let client = client();
    let base = &server.base;
    let started: Value = client
        .post(format!("{base}/api/v1/runs"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "pipeline": "flood" }))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("POST /api/v1/runs")
        .json()
        .await
        .expect("JSON");
    let run = started["run"].as_str().expect("a run id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let task_run = loop {
        let r: Value = client
            .get(format!("{base}/api/v1/runs/{run}"))
            .bearer_auth(token)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("GET /api/v1/runs/RUN")
            .json()
            .await
            .expect("JSON");
        if let Some(tr) = r["task_runs"].as_array().and_then(|t| t.first())
            && tr["steps"][0]["status"] == "Running"
        {
            break tr["id"].as_str().expect("a TaskRun id").to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the flood never ran: {r}\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut resp = client
        .get(format!(
            "{base}/api/v1/runs/{run}/taskruns/{task_run}/steps/0/log/stream"
        ))
        .bearer_auth(token)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("GET .../log/stream");
    let mut flood = Flood::default();
    let mut pending: Vec<u8> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) => panic!("the stream ended without an end event"),
            Ok(Err(e)) => panic!("the stream broke: {e}"),
            Err(_) => panic!("the flood took over 120 s\n{}", server.log_tail()),
        };
        let received = now_ns();
        pending.extend_from_slice(&chunk);
        let mut used = 0;
        let mut ended = false;
        while let Some(end) = pending[used..].windows(2).position(|w| w == b"\n\n") {
            let block = &pending[used..used + end];
            used += end + 2;
            let block = std::str::from_utf8(block).expect("UTF-8 events");
            let mut event = "message";
            let mut data = None;
            for l in block.lines() {
                if let Some(v) = l.strip_prefix("event: ") {
                    event = v;
                } else if let Some(v) = l.strip_prefix("data: ") {
                    data = Some(v);
                }
            }
            match (event, data) {
                ("end", _) => ended = true,
                ("line", Some(data)) => {
                    let l: LineData<'_> = serde_json::from_str(data).expect("line data");
                    if l.text == "ready" {
                        std::fs::write(go, "go").expect("go file");
                    } else if let Some(printed) = flood.line(&l.text, received) {
                        let at = chrono::DateTime::parse_from_rfc3339(l.at)
                            .expect("an RFC 3339 `at`")
                            .timestamp_nanos_opt()
                            .expect("`at` in range");
                        flood.runner_share.push(at - printed);
                    }
                }
                _ => {}
            }
        }
        pending.drain(..used);
        if ended {
            break;
        }
    }
    let _ = std::fs::remove_file(go);
    flood
}

fn sse_case(python: Option<&Path>) {
    let Some(python) = python else {
        println!("sse: skipped: no python3 to print the lines");
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let pipelines = root.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).expect("pipelines dir");
    let go = root.path().join("go");
    let pipeline = pipelines.join("flood.yaml");
    std::fs::write(&pipeline, flood_pipeline(python, &go)).expect("pipeline");
    let config = root.path().join("runnel.toml");
    std::fs::write(
        &config,
        server_config(pipelines.to_str().expect("utf-8 path"), false),
    )
    .expect("config");
    let state = root.path().join("state");
    let admin = token(&state, "bench");

    let (mut sse, cpu) = {
        let server = Server::start(root.path(), &config, &state);
        let pid = server.pid().to_string();
        let (server_cpu, own_cpu, wall) = (cpu_secs(&pid), cpu_secs("self"), Instant::now());
        let sse = runtime().block_on(flood_through_sse(&server, &admin, &go));
        let cpu = format!(
            "CPU from POST /runs to the end event ({:.1} s): server {:.2} s, this SSE client {:.2} s (the printing step not counted)",
            wall.elapsed().as_secs_f64(),
            cpu_secs(&pid) - server_cpu,
            cpu_secs("self") - own_cpu
        );
        (sse, cpu)
    };
    let mut run = flood_through_run(root.path(), &pipeline, &go);

    println!(
        "sse: a step printing {LINES_PER_SEC} lines/s for {LINE_SECS} s ({BATCH} lines a write, each with its print time), local runner, SQLite"
    );
    run.print("baseline: runnel run | pipe");
    sse.print("runnel serve → SSE client");
    println!(
        "  runner's share (`at` − print): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&mut sse.runner_share, 50.0),
        pct(&mut sse.runner_share, 99.0),
        pct(&mut sse.runner_share, 100.0),
    );
    println!("  {cpu}");
    let (p99, base99) = (pct(&mut sse.latencies, 99.0), pct(&mut run.latencies, 99.0));
    println!(
        "  SSE vs runnel run: p99 {:.2}x (+{:.2} ms)",
        p99 / base99,
        p99 - base99
    );
    let all = sse.latencies.len() == LINES_PER_SEC * LINE_SECS && sse.out_of_order == 0;
    println!(
        "  target p99 < 100 ms: {} ({p99:.2} ms); no line lost: {}",
        met(p99 < 100.0),
        met(all)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: u64 = args
        .iter()
        .skip_while(|a| *a != "--secs")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let connections: usize = args
        .iter()
        .skip_while(|a| *a != "--connections")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(4);
    let case = args
        .iter()
        .find(|a| ["rss", "ingest", "sse"].contains(&a.as_str()))
        .cloned();
    let python = python();
    let python = python.as_deref();
    let all = case.is_none();
    if all || case.as_deref() == Some("rss") {
        rss_case(python);
    }
    if all || case.as_deref() == Some("ingest") {
        ingest_case(Load { secs, connections }, python);
    }
    if all || case.as_deref() == Some("sse") {
        sse_case(python);
    }
}
