//! The scanner tasks of the catalog (`tasks/gitleaks`, `tasks/secret-scan`,
//! `tasks/trivy-scan`) read their tools' reports right. Each test takes a step's script from
//! the parsed Task, substitutes it as a TaskRun would (params from the step's `env` with the
//! Task's defaults, `$(results.NAME.path)`, `$(workspaces.NAME.path)`; the `reports` volume
//! mounted as a directory of the test's), and runs it on this host.
//!
//! gitleaks and trivy cannot be installed here, so their report steps read real reports
//! written by those tools, kept in `tests/fixtures/reports/` (its README names where each
//! comes from). The gitleaks step runs under Debian's `sh` and awk and under busybox, the
//! shell and awk of the gitleaks image. detect-secrets runs for real. A missing busybox or
//! detect-secrets (tests/run installs both) fails the test in CI and is reported otherwise.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use runnel_engine::exec::scope::{Scope, value_of};
use runnel_engine::load::Loaded;
use runnel_engine::model::step::Step;
use runnel_engine::model::{Resource, Task};
use runnel_engine::subst::{Value, substitute};
use tempfile::TempDir;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(tool: &str, name: &str) -> PathBuf {
    root().join("tests/fixtures/reports").join(tool).join(name)
}

/// The Task of `tasks/NAME/NAME.yaml`, which must load without a problem.
fn task(name: &str) -> Task {
    let path = root().join("tasks").join(name).join(format!("{name}.yaml"));
    let loaded = Loaded::from_paths(std::slice::from_ref(&path)).expect("the task file exists");
    assert!(
        loaded.diagnostics.iter().next().is_none(),
        "{}: {:?}",
        path.display(),
        loaded.diagnostics
    );
    loaded
        .resources
        .into_iter()
        .find_map(|r| match r.resource {
            Resource::Task(t) => Some(t),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{} holds no Task", path.display()))
}

fn step<'t>(task: &'t Task, name: &str) -> &'t Step {
    task.spec
        .steps
        .iter()
        .map(|s| &s.value)
        .find(|s| s.name.as_ref().is_some_and(|n| n.value == name))
        .unwrap_or_else(|| panic!("no step `{name}`"))
}

/// How a step's script is run here.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shell {
    /// By its shebang: Debian's `/bin/sh` (dash, with mawk), or `python3`.
    Host,
    /// `busybox sh` with only busybox's applets on `PATH`, as in an alpine image.
    Busybox,
}

/// A step of a TaskRun of a catalog task, substituted and ready to run on this host.
struct StepRun {
    dir: TempDir,
    results: Vec<String>,
    /// `mountPath` → the host directory standing for the step's volume.
    mounts: Vec<(String, PathBuf)>,
    env: Vec<(String, String)>,
    script: String,
}

/// What a step did.
#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// The results the step wrote.
    results: BTreeMap<String, String>,
}

impl StepRun {
    /// Step `step_name` of `task` with `params` over the Task's defaults and the workspaces
    /// `workspaces` bound to host directories.
    fn new(
        task: &Task,
        step_name: &str,
        params: &[(&str, &str)],
        workspaces: &[(&str, &Path)],
    ) -> Self {
        let dir = TempDir::new().expect("a temporary directory");
        let mut scope = Scope::new();
        for p in &task.spec.params {
            if let Some(default) = &p.default {
                scope.set_param(&p.name, value_of(&default.value));
            }
        }
        for (name, value) in params {
            assert!(
                task.spec.params.iter().any(|p| p.name.value == *name),
                "the task has no param `{name}`"
            );
            scope.set_param(name, Value::String((*value).to_owned()));
        }
        for w in &task.spec.workspaces {
            let bound = workspaces.iter().find(|(n, _)| *n == w.name.value);
            let path = bound.map_or_else(String::new, |(_, p)| p.display().to_string());
            scope.set_workspace(&w.name, "path", path);
            scope.set_workspace(&w.name, "bound", bound.is_some().to_string());
        }
        let results_dir = dir.path().join("results");
        std::fs::create_dir(&results_dir).expect("results directory");
        let results: Vec<String> = task
            .spec
            .results
            .iter()
            .map(|r| r.name.value.clone())
            .collect();
        for r in &results {
            scope.set_result_path(r, results_dir.join(r).display().to_string());
        }

        let step = step(task, step_name);
        let mounts: Vec<(String, PathBuf)> = step
            .volume_mounts
            .iter()
            .map(|m| {
                let host = dir.path().join("volumes").join(&*m.name);
                std::fs::create_dir_all(&host).expect("volume directory");
                (m.mount_path.value.clone(), host)
            })
            .collect();
        let env = step
            .env
            .iter()
            .map(|e| {
                let value = e.value.as_ref().map_or("", |v| v.as_str());
                let value = substitute(value, &scope);
                // Where the container would see its volume, this host has the volume's directory.
                let value = mounts
                    .iter()
                    .find_map(|(at, host)| {
                        value
                            .strip_prefix(at.as_str())
                            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                            .map(|rest| format!("{}{rest}", host.display()))
                    })
                    .unwrap_or(value);
                (e.name.value.clone(), value)
            })
            .collect();
        let script = step.script.as_ref().expect("the step has a script");
        let script = substitute(script, &scope);
        StepRun {
            dir,
            results,
            mounts,
            env,
            script,
        }
    }

    fn env(&self, name: &str) -> &str {
        self.env
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("the step sets no `{name}`"))
    }

    /// Makes `other` see this run's volumes (two steps of one TaskRun share them).
    fn share_volumes_with(&self, other: &mut StepRun) {
        for (at, host) in &other.mounts {
            let mine = self
                .mounts
                .iter()
                .find(|(a, _)| a == at)
                .unwrap_or_else(|| panic!("the steps do not both mount {at}"));
            for (_, value) in &mut other.env {
                if let Some(rest) = value.strip_prefix(&*host.display().to_string()) {
                    *value = format!("{}{rest}", mine.1.display());
                }
            }
        }
    }

    /// Puts `report` where the step reads its report (`$REPORT_FILE`).
    fn with_report(self, report: &Path) -> Self {
        std::fs::copy(report, self.env("REPORT_FILE")).expect("copy the report into the volume");
        self
    }

    fn run(&self, shell: Shell) -> Outcome {
        let script = self.dir.path().join("script");
        std::fs::write(&script, &self.script).expect("write the script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the script");
        let results_dir = self.dir.path().join("results");
        for r in &self.results {
            let _ = std::fs::remove_file(results_dir.join(r));
        }
        let mut command = match shell {
            Shell::Host => Command::new(&script),
            Shell::Busybox => {
                let (busybox, bin) = busybox_applets(self.dir.path());
                let mut c = Command::new(busybox);
                c.arg("sh").arg(&script).env("PATH", bin);
                c
            }
        };
        let output = command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            .output()
            .expect("run the step's script");
        let results = self
            .results
            .iter()
            .filter_map(|r| {
                let text = std::fs::read_to_string(results_dir.join(r)).ok()?;
                Some((r.clone(), text))
            })
            .collect();
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            results,
        }
    }
}

/// `dir/bin`, made on first use: a link to busybox for each of its applets, as an alpine
/// image has them. Returns busybox and that directory.
fn busybox_applets(dir: &Path) -> (PathBuf, PathBuf) {
    let busybox = which("busybox").expect("busybox is installed");
    let bin = dir.join("bin");
    if !bin.exists() {
        std::fs::create_dir(&bin).expect("mkdir bin");
        let list = Command::new(&busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            std::os::unix::fs::symlink(&busybox, bin.join(applet)).expect("link an applet");
        }
    }
    (busybox, bin)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Whether `program` is here; when it is not, fails under CI (`CI=true`) and says why
/// otherwise.
fn have(program: &str, why: &str) -> bool {
    if which(program).is_some() {
        return true;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "`{program}` is missing ({why}); tests/run installs it"
    );
    eprintln!("skipped: `{program}` is missing ({why}); tests/run installs it");
    false
}

/// The shells the gitleaks report step is run under: the host's, and busybox when present.
fn gitleaks_shells() -> Vec<Shell> {
    let mut shells = vec![Shell::Host];
    if have(
        "busybox",
        "the gitleaks image runs the report step with busybox sh and awk",
    ) {
        shells.push(Shell::Busybox);
    }
    shells
}

fn gitleaks_report(report: &Path) -> StepRun {
    StepRun::new(&task("gitleaks"), "report", &[], &[]).with_report(report)
}

/// The `scan` step of `task` hands its report to the `report` step: both mount the `reports`
/// volume at `/reports`, both name the same `REPORT_FILE` in it, and the scan passes that path
/// to its tool as `flag`. Returns the scan step.
fn check_report_handoff(task: &Task, flag: &str, workspaces: &[(&str, &Path)]) -> StepRun {
    let scan = StepRun::new(task, "scan", &[], workspaces);
    let mut report = StepRun::new(task, "report", &[], workspaces);
    for run in [&scan, &report] {
        let mounts: Vec<&str> = run.mounts.iter().map(|(at, _)| at.as_str()).collect();
        assert_eq!(mounts, ["/reports"]);
    }
    scan.share_volumes_with(&mut report);
    assert_eq!(scan.env("REPORT_FILE"), report.env("REPORT_FILE"));
    let volume = &scan.mounts[0].1;
    assert!(
        Path::new(scan.env("REPORT_FILE")).starts_with(volume),
        "{} is not in the volume",
        scan.env("REPORT_FILE")
    );
    let passed = format!("{flag} \"$REPORT_FILE\"");
    assert!(scan.script.contains(&passed), "{}", scan.script);
    scan
}

#[test]
fn gitleaks_scan_writes_the_report_the_report_step_reads() {
    check_report_handoff(&task("gitleaks"), "--report-path", &[]);
}

#[test]
fn gitleaks_empty_report_is_no_finding() {
    // testdata/expected/report/empty.json is `[]`: what gitleaks writes when it finds nothing.
    let run = gitleaks_report(&fixture("gitleaks", "empty.json"));
    for shell in gitleaks_shells() {
        let out = run.run(shell);
        assert_eq!(out.code, Some(0), "{shell:?}: {out:?}");
        assert_eq!(out.results["findings"], "0", "{shell:?}");
        assert!(
            out.stdout.contains("gitleaks: no secrets found"),
            "{shell:?}: {out:?}"
        );
    }
}

#[test]
fn gitleaks_finding_is_counted_and_fails_the_task() {
    // json_simple.json: one object in the array (`grep -c '"RuleID"'` = 1), RuleID
    // "test-rule", File "auth.py", StartLine 1, Commit "0000000000000000"; its Secret is
    // "a secret" and its Match "line containing secret", neither of which may be printed.
    let run = gitleaks_report(&fixture("gitleaks", "json_simple.json"));
    for shell in gitleaks_shells() {
        let out = run.run(shell);
        assert_eq!(out.code, Some(1), "{shell:?}: {out:?}");
        assert_eq!(out.results["findings"], "1", "{shell:?}");
        assert!(
            out.stdout
                .contains("  test-rule  auth.py:1  (commit 000000000000)\n"),
            "{shell:?}: {}",
            out.stdout
        );
        assert!(
            out.stdout.contains("gitleaks: 1 secret(s) found"),
            "{}",
            out.stdout
        );
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(
            !all.contains("a secret") && !all.contains("line containing"),
            "{all}"
        );
    }
}

#[test]
fn gitleaks_every_finding_is_listed() {
    // baseline.json: two objects (`grep -c '"RuleID"'` = 2), both rule pypi-upload-token in
    // detect/detect_test.go, at StartLine 32 and 33, commit 9326f353806….
    let run = gitleaks_report(&fixture("gitleaks", "baseline.json"));
    for shell in gitleaks_shells() {
        let out = run.run(shell);
        assert_eq!(out.code, Some(1), "{shell:?}: {out:?}");
        assert_eq!(out.results["findings"], "2", "{shell:?}");
        let listed: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("  ")).collect();
        assert_eq!(
            listed,
            [
                "  pypi-upload-token  detect/detect_test.go:32  (commit 9326f3538063)",
                "  pypi-upload-token  detect/detect_test.go:33  (commit 9326f3538063)",
            ],
            "{shell:?}"
        );
        assert!(
            !out.stdout.contains("****"),
            "the redacted Match is not printed"
        );
    }
}

#[test]
fn gitleaks_findings_in_other_layouts_are_read_the_same() {
    // The same finding as json_simple.json, written on one line with a non-empty Tags array
    // and escapes in File (`\"`, `\u003c` as Go writes `<`, `\\`): a reader that depended on
    // gitleaks' indentation, or stopped at an escaped quote, would miscount it.
    let simple = std::fs::read_to_string(fixture("gitleaks", "json_simple.json")).expect("fixture");
    let one_line: String = simple
        .lines()
        .map(str::trim)
        .collect::<String>()
        .replace(r#""Tags": []"#, r#""Tags": ["key", "aws"]"#)
        .replace(r#""auth.py""#, r#""dir \"q\"/\u003cauth\u003e\\.py""#);
    let doubled = format!("[{0},{0}]", &one_line[1..one_line.len() - 1]);
    let dir = TempDir::new().expect("a temporary directory");
    let report = dir.path().join("report.json");
    std::fs::write(&report, doubled).expect("write the report");
    let run = gitleaks_report(&report);
    for shell in gitleaks_shells() {
        let out = run.run(shell);
        assert_eq!(out.code, Some(1), "{shell:?}: {out:?}");
        assert_eq!(out.results["findings"], "2", "{shell:?}");
        assert!(
            out.stdout
                .contains("  test-rule  dir \"q\"/<auth>\\.py:1  (commit 000000000000)\n"),
            "{shell:?}: {}",
            out.stdout
        );
    }
}

#[test]
fn gitleaks_broken_report_fails_without_a_result() {
    // The first half of a real report, as a crashed or killed gitleaks would leave it.
    let simple = std::fs::read_to_string(fixture("gitleaks", "json_simple.json")).expect("fixture");
    let dir = TempDir::new().expect("a temporary directory");
    let report = dir.path().join("report.json");
    std::fs::write(&report, &simple[..simple.len() / 2]).expect("write the report");
    let run = gitleaks_report(&report);
    for shell in gitleaks_shells() {
        let out = run.run(shell);
        assert_eq!(out.code, Some(2), "{shell:?}: {out:?}");
        assert!(out.results.is_empty(), "{shell:?}: {out:?}");
        assert!(
            out.stderr.contains("is not a gitleaks JSON report"),
            "{out:?}"
        );
    }
    // An empty file, as a scan step that failed before writing would leave it.
    std::fs::write(run.env("REPORT_FILE"), "").expect("empty the report");
    let out = run.run(Shell::Host);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("no report at"), "{out:?}");
}

/// A source tree for secret-scan: `config.env` holds AWS's documented example access key id.
/// The same key in `.git/` (history, not files) and in `vendor/` (excluded by the test) must
/// not count.
fn source_with_a_key() -> TempDir {
    let dir = TempDir::new().expect("a temporary directory");
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write("app.py", "print('hello')\n");
    write(
        "config.env",
        "region = eu-west-1\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
    );
    write(".git/COMMIT_EDITMSG", "add AKIAIOSFODNN7EXAMPLE\n");
    write("vendor/lib/settings.txt", "key = AKIAIOSFODNN7EXAMPLE\n");
    dir
}

/// Runs secret-scan's two steps on `source`, sharing their volume: the real detect-secrets,
/// then the report step, whose outcome this is.
fn secret_scan(source: &Path, params: &[(&str, &str)]) -> Outcome {
    let task = task("secret-scan");
    let scan = StepRun::new(&task, "scan", params, &[("source", source)]);
    let mut report = StepRun::new(&task, "report", params, &[("source", source)]);
    scan.share_volumes_with(&mut report);
    let scanned = scan.run(Shell::Host);
    assert_eq!(scanned.code, Some(0), "the scan step: {scanned:?}");
    assert!(
        !scanned.stdout.contains("installing"),
        "detect-secrets was on PATH: {scanned:?}"
    );
    report.run(Shell::Host)
}

#[test]
fn secret_scan_finds_a_planted_aws_key() {
    if !have("detect-secrets", "secret-scan's test runs it") {
        return;
    }
    let source = source_with_a_key();
    let out = secret_scan(source.path(), &[("exclude-files", "^vendor/")]);
    // config.env line 2 only: .git/ is never scanned, vendor/ is excluded by the param.
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.results["findings"], "1");
    let listed: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(listed, ["  config.env:2  AWS Access Key"], "{}", out.stdout);
    assert!(
        !out.stdout.contains("AKIA"),
        "the secret is never printed: {}",
        out.stdout
    );

    // Without the exclusion, vendor/'s copy counts too; .git/ still does not.
    let out = secret_scan(source.path(), &[]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.results["findings"], "2", "{}", out.stdout);
    assert!(
        out.stdout
            .contains("  vendor/lib/settings.txt:1  AWS Access Key"),
        "{}",
        out.stdout
    );
}

#[test]
fn secret_scan_passes_a_clean_tree() {
    if !have("detect-secrets", "secret-scan's test runs it") {
        return;
    }
    let source = TempDir::new().expect("a temporary directory");
    std::fs::write(source.path().join("app.py"), "print('hello')\n").expect("write");
    let out = secret_scan(source.path(), &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.results["findings"], "0");
    assert!(
        out.stdout.contains("secret-scan: no secrets found"),
        "{out:?}"
    );
}

#[test]
fn secret_scan_scans_the_source_dir_param() {
    if !have("detect-secrets", "secret-scan's test runs it") {
        return;
    }
    // Only vendor/: its one key, named relative to the scanned directory.
    let source = source_with_a_key();
    let out = secret_scan(source.path(), &[("source-dir", "vendor")]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.results["findings"], "1");
    assert!(
        out.stdout.contains("  lib/settings.txt:1  AWS Access Key"),
        "{}",
        out.stdout
    );
}

/// What trivy-scan's report step gives for a report: counts and exit code.
struct TrivyCase {
    report: &'static str,
    params: &'static [(&'static str, &'static str)],
    /// critical, high, medium, low, unknown
    counts: [u32; 5],
    code: i32,
}

fn trivy_report(case: &TrivyCase) -> Outcome {
    let task = task("trivy-scan");
    let run =
        StepRun::new(&task, "report", case.params, &[]).with_report(&fixture("trivy", case.report));
    let out = run.run(Shell::Host);
    let counts = ["critical", "high", "medium", "low", "unknown"].map(|r| {
        out.results
            .get(r)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(u32::MAX)
    });
    assert_eq!(
        counts, case.counts,
        "{} {:?}: {out:?}",
        case.report, case.params
    );
    assert_eq!(
        out.code,
        Some(case.code),
        "{} {:?}: {out:?}",
        case.report,
        case.params
    );
    out
}

#[test]
fn trivy_counts_vulnerabilities_by_severity() {
    // The counts are `grep -c '"Severity": "X"'` over each file; every one of those lines
    // belongs to an entry of a Vulnerabilities array (grep -c '"VulnerabilityID"' agrees).
    let cases = [
        // alpine-39 (an image): CVE-2019-14697 in musl and musl-utils CRITICAL,
        // CVE-2019-1549 and CVE-2019-1551 in libcrypto1.1 and libssl1.1 MEDIUM.
        TrivyCase {
            report: "alpine-39.json.golden",
            params: &[],
            counts: [2, 0, 4, 0, 0],
            code: 1,
        },
        TrivyCase {
            report: "alpine-39.json.golden",
            params: &[("fail-on-findings", "false")],
            counts: [2, 0, 4, 0, 0],
            code: 0,
        },
        // gomod (a repository): one MEDIUM (CVE-2022-23628 in opa), four UNKNOWN
        // (GMS-2022-20 three times, CVE-2021-38561): nothing at HIGH,CRITICAL...
        TrivyCase {
            report: "gomod.json.golden",
            params: &[],
            counts: [0, 0, 1, 0, 4],
            code: 0,
        },
        // ...but the gate takes any severities, in any case and spacing.
        TrivyCase {
            report: "gomod.json.golden",
            params: &[("severity", "medium, Unknown")],
            counts: [0, 0, 1, 0, 4],
            code: 1,
        },
        // fluentd-multiple-lockfiles: two results; bash LOW and libidn2-0 CRITICAL in the
        // debian one, activesupport HIGH in the Ruby one.
        TrivyCase {
            report: "fluentd-multiple-lockfiles.json.golden",
            params: &[("severity", "LOW")],
            counts: [1, 1, 0, 1, 0],
            code: 1,
        },
    ];
    for case in &cases {
        trivy_report(case);
    }
}

#[test]
fn trivy_lists_the_findings_at_the_gate_severities() {
    let out = trivy_report(&TrivyCase {
        report: "alpine-39.json.golden",
        params: &[],
        counts: [2, 0, 4, 0, 0],
        code: 1,
    });
    let listed: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("  ")).collect();
    let target = "[testdata/fixtures/images/alpine-39.tar.gz (alpine 3.9.4)]";
    assert_eq!(
        listed,
        [
            format!("  CRITICAL  CVE-2019-14697 in musl 1.1.20-r4 (fixed in 1.1.20-r5)  {target}"),
            format!(
                "  CRITICAL  CVE-2019-14697 in musl-utils 1.1.20-r4 (fixed in 1.1.20-r5)  {target}"
            ),
        ],
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("2 critical, 0 high, 4 medium, 0 low, 0 unknown"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("2 finding(s) at HIGH,CRITICAL; failing"),
        "{}",
        out.stdout
    );
}

#[test]
fn trivy_counts_misconfigurations_and_secrets() {
    // helm: 14 misconfigurations, all `"Status": "FAIL"` (MisconfSummary Failures 14):
    // KSV014 HIGH; KSV001, KSV012, KSV104, KSV117 MEDIUM; nine LOW.
    trivy_report(&TrivyCase {
        report: "helm.json.golden",
        params: &[],
        counts: [0, 1, 4, 9, 0],
        code: 1,
    });
    trivy_report(&TrivyCase {
        report: "helm.json.golden",
        params: &[("severity", "CRITICAL")],
        counts: [0, 1, 4, 9, 0],
        code: 0,
    });
    // secrets: deploy.sh holds two, aws-access-key-id CRITICAL (line 3) and mysecret HIGH
    // (line 7). Their text (Match, Code lines, a ghp_ token nearby) is never printed.
    let out = trivy_report(&TrivyCase {
        report: "secrets.json.golden",
        params: &[],
        counts: [1, 1, 0, 0, 0],
        code: 1,
    });
    let listed: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(
        listed,
        [
            "  CRITICAL  secret aws-access-key-id  [deploy.sh:3]",
            "  HIGH      secret mysecret  [deploy.sh:7]",
        ],
        "{}",
        out.stdout
    );
    for text in ["AWS_ACCESS_KEY_ID", "ghp_", "****"] {
        assert!(!out.stdout.contains(text), "{text} printed: {}", out.stdout);
    }
}

#[test]
fn trivy_clean_reports_are_zero_and_pass() {
    // alpine-39-skip: no Results at all; sl-micro-rancher5.4: one Result without findings.
    for report in [
        "alpine-39-skip.json.golden",
        "sl-micro-rancher5.4.json.golden",
    ] {
        let out = trivy_report(&TrivyCase {
            report,
            params: &[],
            counts: [0; 5],
            code: 0,
        });
        assert!(
            out.stdout.contains("0 finding(s) at HIGH,CRITICAL"),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn trivy_rejects_an_unknown_severity() {
    let task = task("trivy-scan");
    let run = StepRun::new(&task, "report", &[("severity", "HIGH,SEVERE")], &[])
        .with_report(&fixture("trivy", "gomod.json.golden"));
    let out = run.run(Shell::Host);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("must list some of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN"),
        "{out:?}"
    );
    assert!(out.results.is_empty(), "{out:?}");
}

#[test]
fn trivy_scan_writes_the_report_the_report_step_reads() {
    let task = task("trivy-scan");
    let source = TempDir::new().expect("a temporary directory");
    let scan = check_report_handoff(&task, "--output", &[("source", source.path())]);
    assert_eq!(scan.env("WORKSPACE_SOURCE_BOUND"), "true");
    assert_eq!(scan.env("PARAM_SCAN_TYPE"), "fs");
    // An image scan needs no workspace: unbound, the source's variables say so.
    let params = [("scan-type", "image"), ("target", "registry.example/app:1")];
    let image = StepRun::new(&task, "scan", &params, &[]);
    assert_eq!(image.env("WORKSPACE_SOURCE_BOUND"), "false");
    assert_eq!(image.env("PARAM_TARGET"), "registry.example/app:1");
}
