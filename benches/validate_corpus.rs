//! Benchmark: load + validate the whole shared conformance corpus, against a baseline
//! measured in the same run (iterating the YAML parser's raw event stream over the same bytes:
//! the floor any YAML reader pays). Prints files/s, MB/s and the ratio to the baseline.
//! Run: `cargo bench --bench validate_corpus` (add `-- --iterations N` to change the count).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use runnel_engine::load::{Loaded, collect_files};

fn corpus() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    let files = collect_files(&[root]).unwrap_or_default();
    files
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t)))
        .collect()
}

fn best_of(iterations: usize, mut f: impl FnMut()) -> Duration {
    (0..iterations)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let iterations = std::env::args()
        .skip_while(|a| a != "--iterations")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let files = corpus();
    if files.is_empty() {
        eprintln!("validate_corpus: ../shared/conformance not found; nothing to measure");
        return;
    }
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();

    let baseline = best_of(iterations, || {
        for (_, text) in &files {
            black_box(runnel_engine::yaml::count_events(text));
        }
    });
    let mut diagnostics = 0;
    let full = best_of(iterations, || {
        let mut loaded = Loaded::new();
        for (path, text) in &files {
            loaded.add_source(path.clone(), text.clone());
        }
        diagnostics = runnel_engine::validate::validate(&loaded).len();
        black_box(&loaded);
    });

    let mb = bytes as f64 / 1e6;
    let report = |name: &str, d: Duration| {
        let s = d.as_secs_f64();
        println!(
            "{name:<28} {:>8.1} ms  {:>8.0} files/s  {:>6.1} MB/s  {:>5.2}x baseline",
            s * 1e3,
            files.len() as f64 / s,
            mb / s,
            s / baseline.as_secs_f64()
        );
    };
    println!(
        "corpus: {} files, {:.2} MB, best of {iterations} runs ({diagnostics} diagnostics)",
        files.len(),
        mb
    );
    report("baseline: YAML events only", baseline);
    report("runnel: load + validate", full);
}
