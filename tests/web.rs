//! The web pages end to end: `runnel serve` through the real binary with the local runner,
//! driven by headless Chromium over WebDriver (Debian's `chromium` and `chromium-driver`):
//! signing in with a token, the runs list following runs live, a run page with its DAG and
//! its steps' logs (ANSI colours as spans, markup in a log shown as text, lines arriving
//! while the step runs), and a step that prints 1,000,000 lines: the page holds a window of
//! its tail, loads earlier lines on demand, and downloads the whole log.
//!
//! Without Chromium and its driver the test says why and passes, except in CI (`CI=true`),
//! where it fails: `tests/run` installs them.

mod support;

use std::path::Path;

use fantoccini::{Client, Locator};
use serde_json::json;
use support::browser::*;
use support::*;

async fn path_of(browser: &Client) -> String {
    browser.current_url().await.unwrap().path().to_owned()
}

/// The server's pipelines: `show` (a DAG whose steps print colours and markup, one of
/// them waiting for `go` before it prints more) and `big` (a million lines).
fn pipelines(dir: &Path, go: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("show.yaml"),
        format!(
            r#"apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: show
spec:
  tasks:
    - name: fetch
      taskSpec:
        steps:
          - name: colours
            image: busybox
            script: |
              #!/bin/sh
              printf '\033[31mred\033[0m plain \033[1;32mbold green\033[0m\n'
              echo '<script>window.pwned = 1</script><b>not bold</b>'
              echo 'to stderr' >&2
    - name: build
      runAfter: [fetch]
      taskSpec:
        steps:
          - name: compile
            image: busybox
            script: |
              #!/bin/sh
              echo compiling
    - name: test
      runAfter: [fetch]
      taskSpec:
        steps:
          - name: wait
            image: busybox
            script: |
              #!/bin/sh
              echo "before 1"
              echo "before 2"
              n=0; while [ ! -e {go} ] && [ $n -lt 900 ]; do sleep 0.1; n=$((n+1)); done
              for i in 1 2 3; do printf '\033[34mafter %s\033[0m\n' $i; sleep 0.2; done
  finally:
    - name: report
      taskSpec:
        steps:
          - name: say
            image: busybox
            script: |
              #!/bin/sh
              echo reported
"#,
            go = go.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("big.yaml"),
        r#"apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: big
spec:
  tasks:
    - name: count
      taskSpec:
        steps:
          - name: seq
            image: busybox
            script: |
              #!/bin/sh
              seq 1000000
"#,
    )
    .unwrap();
}

/// The selector of a TaskRun's section on the run page, by its pipeline task.
fn section(task: &str) -> String {
    format!(
        "[...document.querySelectorAll('section.taskrun')].find(s => \
         s.querySelector('.tr-name').textContent === '{task}')"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pages_follow_runs_live_and_keep_huge_logs_usable() {
    let (chromium, chromedriver) = match browser_tools() {
        Ok(t) => t,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("the web pages' test cannot run in CI: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let root = tempfile::tempdir().unwrap();
    let go = root.path().join("go");
    let dir = root.path().join("pipelines");
    pipelines(&dir, &go);
    let state = root.path().join("state");
    let config = root.path().join("runnel.toml");
    std::fs::write(
        &config,
        format!("[server]\npipelines = [\"{}\"]\n", dir.display()),
    )
    .unwrap();
    let admin = token(&state, "admin", false);
    let viewer = token(&state, "viewer", true);
    let server = serve(root.path(), &config, &state);
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let driver = start_driver(&chromedriver).await;
    let browser = open_browser(&driver, &chromium).await;

    // Signing in: a page sends the browser to the form; a wrong token is refused; the
    // right one lands on the page asked for, in a cookie scripts cannot read.
    browser.goto(&format!("{base}/runs")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/login");
    browser
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys("rnl_not-a-token")
        .await
        .unwrap();
    browser
        .find(Locator::Css("form.login button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let problem = browser
        .wait()
        .for_element(Locator::Css("#login-error"))
        .await
        .unwrap();
    assert_eq!(problem.text().await.unwrap(), "unknown token");
    browser
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(&viewer)
        .await
        .unwrap();
    browser
        .find(Locator::Css("form.login button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        &browser,
        "the runs list",
        "return document.body.dataset.page === 'runs';",
    )
    .await;
    assert_eq!(path_of(&browser).await, "/runs");
    assert_eq!(
        js(&browser, "return document.cookie.includes('runnel_token');").await,
        json!(false)
    );
    assert!(
        js(
            &browser,
            "return document.querySelector('header .who').textContent;"
        )
        .await
        .as_str()
        .unwrap()
        .contains("viewer (read-only)")
    );

    // The list shows a run that starts after it was loaded, without a reload.
    js(&browser, "window.sameDocument = true; return null;").await;
    let show = start_named(&http, &base, &admin, "show").await;
    let row = format!("document.querySelector('tr[data-run=\"{show}\"]')");
    wait_js(
        &browser,
        "the new run in the list, running",
        &format!(
            "const r = {row}; return r && r.querySelector('.badge').textContent === 'Running';"
        ),
    )
    .await;
    assert_eq!(
        js(
            &browser,
            &format!("return {row}.querySelector('a').textContent.startsWith('show-run');")
        )
        .await,
        json!(true)
    );
    assert_eq!(
        js(&browser, "return window.sameDocument === true;").await,
        json!(true)
    );

    // The run page, in a window of its own (the list stays open in the first): the DAG
    // with its dependencies, the steps' logs.
    let list_window = browser.window().await.unwrap();
    let run_window = browser.new_window(true).await.unwrap().handle;
    browser.switch_to_window(run_window).await.unwrap();
    browser.goto(&format!("{base}/runs/{show}")).await.unwrap();
    js(&browser, "window.sameDocument = true; return null;").await;
    let tasks = wait_js(
        &browser,
        "the DAG",
        "const n = [...document.querySelectorAll('#dag g.node')].map(g => g.dataset.task); \
         return n.length === 4 ? n : null;",
    )
    .await;
    assert_eq!(tasks, json!(["fetch", "build", "test", "report"]));
    assert_eq!(
        js(
            &browser,
            "return document.querySelectorAll('#dag path.edge').length;"
        )
        .await,
        json!(2),
        "fetch → build and fetch → test"
    );
    // Columns by dependency level: fetch, then build and test, then finally.
    let columns = js(
        &browser,
        "return [...document.querySelectorAll('#dag g.node rect')].map(r => Number(r.getAttribute('x')));",
    )
    .await;
    let x: Vec<f64> = columns
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(x[0] < x[1] && x[1] == x[2] && x[2] < x[3], "{x:?}");
    wait_js(
        &browser,
        "fetch succeeded in the DAG",
        "const g = document.querySelector('#dag g.node[data-task=\"fetch\"]'); \
         return g && g.classList.contains('st-succeeded') && /\\d/.test(g.querySelector('[data-role=duration]').textContent);",
    )
    .await;
    // ANSI colours are spans with the palette's colours; markup in a log is text.
    let fetch = section("fetch");
    let colours = wait_js(
        &browser,
        "fetch's log",
        &format!(
            "const s = {fetch}; if (!s) return null; \
             const red = s.querySelector('.log .ln span.ansi-fg-1'); \
             const green = s.querySelector('.log .ln span.ansi-fg-2.ansi-bold'); \
             if (!red || !green) return null; \
             return [red.textContent, getComputedStyle(red).color, green.textContent, \
                     getComputedStyle(green).fontWeight];"
        ),
    )
    .await;
    assert_eq!(
        colours,
        json!(["red", "rgb(241, 76, 76)", "bold green", "700"])
    );
    // (stdout and stderr are read apart: their order is not asserted.)
    let markup = js(
        &browser,
        &format!(
            "const s = {fetch}; const lines = [...s.querySelectorAll('.log .ln')]; \
             return [lines.map(l => [l.querySelector('.tx').textContent, l.classList.contains('e')]).sort(), \
                     s.querySelectorAll('.log script, .log b').length, \
                     typeof window.pwned, document.querySelectorAll('script').length];"
        ),
    )
    .await;
    assert_eq!(
        markup,
        json!([
            [
                ["<script>window.pwned = 1</script><b>not bold</b>", false],
                ["red plain bold green", false],
                ["to stderr", true]
            ],
            0,
            "undefined",
            1
        ])
    );

    // The waiting step's lines come live, coloured, while the page stays.
    let test = section("test");
    wait_js(
        &browser,
        "the waiting step's first lines",
        &format!(
            "const s = {test}; return s && [...s.querySelectorAll('.log .ln .tx')].map(l => l.textContent).join('|') === 'before 1|before 2';"
        ),
    )
    .await;
    std::fs::write(&go, "").unwrap();
    let live = wait_js(
        &browser,
        "the lines printed after the page loaded",
        &format!(
            "const s = {test}; const t = [...s.querySelectorAll('.log .ln .tx')].map(l => l.textContent); \
             return t.length === 5 ? [t, s.querySelectorAll('.log span.ansi-fg-4').length] : null;"
        ),
    )
    .await;
    assert_eq!(
        live,
        json!([["before 1", "before 2", "after 1", "after 2", "after 3"], 3])
    );
    // The run ends: its status, the DAG, and the finally task that started meanwhile.
    wait_js(
        &browser,
        "the run's end",
        "return document.querySelector('#run h1 .badge').textContent === 'Succeeded';",
    )
    .await;
    wait_js(
        &browser,
        "every task succeeded in the DAG",
        "const g = [...document.querySelectorAll('#dag g.node')]; \
         return g.length === 4 && g.every(n => n.classList.contains('st-succeeded'));",
    )
    .await;
    let report = section("report");
    wait_js(
        &browser,
        "the finally task's log",
        &format!(
            "const s = {report}; return s && s.querySelector('.badge').textContent === 'Succeeded' \
             && [...s.querySelectorAll('.log .ln .tx')].some(l => l.textContent === 'reported');"
        ),
    )
    .await;
    assert_eq!(
        js(&browser, "return window.sameDocument === true;").await,
        json!(true)
    );
    let done = api(&http, &base, &admin, &format!("/runs/{show}")).await;
    assert_eq!(done["status"], "Succeeded", "{done}");

    // Meanwhile, the list saw the run end, without a reload.
    browser.close_window().await.unwrap();
    browser.switch_to_window(list_window).await.unwrap();
    wait_js(
        &browser,
        "the run's end in the list",
        &format!(
            "const r = {row}; return r.querySelector('.badge').textContent === 'Succeeded' \
             && r.classList.contains('st-succeeded') && r.querySelector('.dur').dataset.end;"
        ),
    )
    .await;
    assert_eq!(
        js(&browser, "return window.sameDocument === true;").await,
        json!(true)
    );

    // A million lines: the list shows the run as it starts and ends.
    std::fs::remove_file(&go).unwrap();
    let big = start_named(&http, &base, &admin, "big").await;
    let row = format!("document.querySelector('tr[data-run=\"{big}\"]')");
    wait_js(
        &browser,
        "the big run in the list",
        &format!("return {row} !== null;"),
    )
    .await;
    wait_js(
        &browser,
        "the big run to succeed in the list",
        &format!("return {row}.querySelector('.badge').textContent === 'Succeeded';"),
    )
    .await;
    assert_eq!(
        js(&browser, "return window.sameDocument === true;").await,
        json!(true)
    );
    wait_for_run(&http, &server, &admin, &big, 120, |r| {
        r["status"] == "Succeeded"
    })
    .await;

    // Its page holds the tail, not the million lines, and shows the last one.
    browser.goto(&format!("{base}/runs/{big}")).await.unwrap();
    let count = section("count");
    let window = wait_js(
        &browser,
        "the big log's window",
        &format!(
            "const s = {count}; if (!s) return null; const log = s.querySelector('.log'); \
             const lines = log.querySelectorAll('.ln'); if (!lines.length) return null; \
             log.scrollIntoView(); \
             const box = log.querySelector('.lines').getBoundingClientRect(); \
             const last = lines[lines.length - 1].getBoundingClientRect(); \
             return [lines.length, lines[0].querySelector('.tx').textContent, lines[lines.length - 1].querySelector('.tx').textContent, \
                     last.top >= box.top && last.bottom <= box.bottom + 1 && last.bottom <= innerHeight, \
                     document.getElementsByTagName('*').length, \
                     !log.querySelector('[data-role=earlier]').hidden];"
        ),
    )
    .await;
    let nodes = window[4].as_u64().unwrap();
    assert_eq!(
        window,
        json!([1000, "999001", "1000000", true, nodes, true]),
        "the window of the tail, its last line in view"
    );
    assert!(nodes < 10_000, "the page has {nodes} elements");

    // Earlier lines load on demand, before the window.
    browser
        .find(Locator::Css("section.taskrun .log [data-role=earlier]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let more = wait_js(
        &browser,
        "earlier lines",
        &format!(
            "const lines = {count}.querySelectorAll('.log .ln'); \
             return lines.length > 1000 ? [lines.length, lines[0].querySelector('.tx').textContent, lines[lines.length - 1].querySelector('.tx').textContent] : null;"
        ),
    )
    .await;
    assert_eq!(more, json!([2000, "998001", "1000000"]));

    // The download link gives the whole log as plain text.
    let download = js(
        &browser,
        &format!(
            "const a = {count}.querySelector('a[data-role=download]'); \
             return fetch(a.href).then(async r => {{ \
               const text = await r.text(); const lines = text.split('\\n'); \
               let inOrder = lines[lines.length - 1] === ''; \
               for (let i = 0; i < lines.length - 1 && inOrder; i++) inOrder = lines[i] === String(i + 1); \
               const name = /^attachment; filename=\"big-run[-a-z0-9]*-count-seq[.]log\"$/ \
                 .test(r.headers.get('content-disposition')); \
               return [r.status, name, lines.length - 1, inOrder]; \
             }});"
        ),
    )
    .await;
    assert_eq!(download, json!([200, true, 1_000_000, true]));

    // The API takes the cookie for reading, never for writing.
    let api_calls = js(
        &browser,
        &format!(
            "return Promise.all([fetch('/api/v1/runs').then(r => r.status), \
             fetch('/api/v1/runs/{big}/cancel', {{method: 'POST'}}).then(r => r.status)]);"
        ),
    )
    .await;
    assert_eq!(api_calls, json!([200, 401]));

    // Signing out: the pages want a sign-in again.
    browser
        .find(Locator::Css("header .who button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        &browser,
        "the sign-in form",
        "return document.body.dataset.page === 'login';",
    )
    .await;
    browser.goto(&format!("{base}/runs/{big}")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/login");

    browser.close().await.unwrap();
}
