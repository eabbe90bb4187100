//! Fetching: over `git daemon` and `file://`, by id and by the fallback ref, concurrently,
//! into corrupt mirrors, past the timeout, with credentials in the URL, with refused arguments.

use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::*;

/// The tip, an ancestor and a force-pushed-away commit all fetch by id and extract.
async fn check_force_pushed(history: &ForcePushed, url: &str) {
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    let ForcePushed { c1, c2, c3, .. } = history;
    assert_eq!(
        tekton_at(&mirrors, url, c3).await,
        files(&[(".tekton/pipeline.yaml", "v3")])
    );
    assert_eq!(
        tekton_at(&mirrors, url, c2).await,
        files(&[
            (".tekton/pipeline.yaml", "v2"),
            (".tekton/tasks/build.yaml", "build")
        ])
    );
    assert_eq!(
        tekton_at(&mirrors, url, c1).await,
        files(&[(".tekton/pipeline.yaml", "v1")])
    );
    let dir = mirrors.dir_of(url);
    assert!(dir.starts_with(cache.path()));
    assert_eq!(
        git(&dir, &["rev-parse", "--is-bare-repository"], &[]),
        "true"
    );
    assert_eq!(pins(&dir), sorted([c1, c2, c3]));
}

#[tokio::test]
async fn fetches_and_extracts_over_git_daemon() {
    let history = force_pushed();
    let daemon = Daemon::serve(&history.up.served());
    check_force_pushed(&history, &daemon.url("repo.git")).await;
}

#[tokio::test]
async fn fetches_and_extracts_over_file_urls() {
    let history = force_pushed();
    check_force_pushed(&history, &history.up.file_url()).await;
}

#[tokio::test]
async fn fetches_sha256_repositories() {
    let up = Upstream::with_format("sha256");
    let c1 = up.commit("one", 0, &[(".tekton/p.yaml", Some("sha256"))]);
    up.push();
    assert_eq!(c1.len(), 64);
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    assert_eq!(
        tekton_at(&mirrors, &up.file_url(), &c1).await,
        files(&[(".tekton/p.yaml", "sha256")])
    );
}

/// Under protocol v0 the client refuses any id the server does not advertise; the ref given
/// instead is fetched, and must contain the commit.
#[tokio::test]
async fn falls_back_to_the_ref_when_the_server_refuses_ids() {
    let history = force_pushed();
    let daemon = Daemon::serve(&history.up.served());
    let url = daemon.url("repo.git");
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    let dir = mirrors.dir_of(&url);
    std::fs::create_dir_all(&dir).expect("mkdir");
    git(&dir, &["init", "-q", "--bare"], &[]);
    git(&dir, &["config", "protocol.version", "0"], &[]);

    let err = mirrors.fetch(&url, &history.c1, None).await.unwrap_err();
    assert!(matches!(err, GitError::CommitUnavailable { .. }), "{err}");
    assert!(err.to_string().contains("unadvertised object"), "{err}");

    mirrors
        .fetch(&url, &history.c1, Some("main"))
        .await
        .expect("fallback");
    let at_c1 = extract(&mirrors, &url, &history.c1, ".tekton")
        .await
        .expect("extract");
    assert_eq!(at_c1, files(&[(".tekton/pipeline.yaml", "v1")]));

    let err = mirrors
        .fetch(&url, &history.c2, Some("refs/heads/main"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("not in the history of refs/heads/main"),
        "{err}"
    );
    let err = mirrors
        .fetch(&url, &history.c2, Some("no-such-branch"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("fetching no-such-branch failed"),
        "{err}"
    );
}

#[tokio::test]
async fn a_commit_the_server_lacks_is_unavailable() {
    let history = force_pushed();
    let url = history.up.file_url();
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    let unknown = "1".repeat(40);
    let err = mirrors.fetch(&url, &unknown, None).await.unwrap_err();
    assert!(matches!(err, GitError::CommitUnavailable { .. }), "{err}");
    assert!(err.to_string().contains("not our ref"), "{err}");
    let err = mirrors
        .fetch(&url, &unknown, Some("main"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not in the history of main"),
        "{err}"
    );
}

#[tokio::test]
async fn a_fetched_commit_needs_no_server_again() {
    let history = force_pushed();
    let daemon = Daemon::serve(&history.up.served());
    let url = daemon.url("repo.git");
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    mirrors.fetch(&url, &history.c3, None).await.expect("fetch");
    drop(daemon);
    mirrors
        .fetch(&url, &history.c3, None)
        .await
        .expect("pinned");
    // c1 is in the mirror as c3's parent: git pins it without asking the server.
    mirrors
        .fetch(&url, &history.c1, None)
        .await
        .expect("present");
    let err = mirrors.fetch(&url, &history.c2, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            GitError::Command {
                code: Some(128),
                ..
            }
        ),
        "{err}"
    );
    let dir = mirrors.dir_of(&url);
    assert_eq!(pins(&dir), sorted([&history.c1, &history.c3]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_fetches_all_succeed() {
    let history = force_pushed();
    let other = force_pushed();
    let (url, other_url) = (history.up.file_url(), other.up.file_url());
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    let (a, b, c, d) = tokio::join!(
        mirrors.fetch(&url, &history.c3, None),
        mirrors.fetch(&url, &history.c3, None),
        mirrors.fetch(&url, &history.c2, None),
        mirrors.fetch(&other_url, &other.c2, None),
    );
    for result in [a, b, c, d] {
        result.expect("fetch");
    }
    let at_c2 = extract(&mirrors, &url, &history.c2, ".tekton/tasks")
        .await
        .expect("extract");
    assert_eq!(at_c2, files(&[(".tekton/tasks/build.yaml", "build")]));
    let mut names: Vec<_> = std::fs::read_dir(cache.path())
        .expect("read_dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    names.sort();
    let mut expected = [mirrors.dir_of(&url), mirrors.dir_of(&other_url)]
        .map(|dir| dir.file_name().expect("name").to_owned());
    expected.sort();
    assert_eq!(names, expected, "no temporary directory left behind");
}

#[tokio::test]
async fn a_corrupt_mirror_is_recreated() {
    let history = force_pushed();
    let url = history.up.file_url();
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    let dir = mirrors.dir_of(&url);
    std::fs::create_dir_all(dir.join("objects")).expect("mkdir");
    std::fs::write(dir.join("HEAD"), "garbage").expect("write");
    assert_eq!(
        tekton_at(&mirrors, &url, &history.c3).await,
        files(&[(".tekton/pipeline.yaml", "v3")])
    );
    std::fs::remove_dir_all(&dir).expect("rm");
    std::fs::write(&dir, "a file where the mirror should be").expect("write");
    assert_eq!(
        tekton_at(&mirrors, &url, &history.c1).await,
        files(&[(".tekton/pipeline.yaml", "v1")])
    );
}

/// The timeout kills git and what it started: here a fake `ssh` that would sleep for a minute.
#[tokio::test]
async fn a_command_past_its_timeout_is_killed_with_its_children() {
    let tmp = TempDir::new().expect("tempdir");
    let pid_file = tmp.path().join("ssh.pid");
    let fake_ssh = tmp.path().join("fake-ssh");
    let script = format!(
        "#!/bin/sh\necho $$ > '{}'\nexec sleep 60\n",
        pid_file.display()
    );
    std::fs::write(&fake_ssh, script).expect("write");
    std::fs::set_permissions(
        &fake_ssh,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let url = "ssh://git@runnel.invalid/repo.git";
    let mirrors = Mirrors::new(tmp.path().join("cache")).with_timeout(Duration::from_secs(2));
    let dir = mirrors.dir_of(url);
    std::fs::create_dir_all(&dir).expect("mkdir");
    git(&dir, &["init", "-q", "--bare"], &[]);
    git(
        &dir,
        &["config", "core.sshCommand", &fake_ssh.to_string_lossy()],
        &[],
    );
    git(&dir, &["config", "ssh.variant", "simple"], &[]);

    let err = mirrors.fetch(url, &"2".repeat(40), None).await.unwrap_err();
    assert!(
        matches!(&err, GitError::Timeout { command, .. } if command.contains(" fetch ")),
        "{err}"
    );
    let pid = std::fs::read_to_string(&pid_file).expect("the fake ssh ran");
    let stat = format!("/proc/{}/stat", pid.trim());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Gone, or a zombie nobody reaped yet.
        match std::fs::read_to_string(&stat) {
            Err(_) => break,
            Ok(stat)
                if stat
                    .rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.starts_with(" Z")) =>
            {
                break;
            }
            Ok(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "the fake ssh {} still runs",
            pid.trim()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn credentials_stay_out_of_names_config_and_errors() {
    let port = free_port();
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    // Git itself prints the first as `http://127.0.0.1:…`, the second as it is.
    for url in [
        format!("http://alice:s3cr3t-t0ken@127.0.0.1:{port}/repo.git"),
        format!("git://alice:s3cr3t-t0ken@127.0.0.1:{port}/repo.git"),
    ] {
        let dir = mirrors.dir_of(&url);
        assert_eq!(dir, mirrors.dir_of(&url.replace("alice:s3cr3t-t0ken@", "")));
        assert!(!dir.to_string_lossy().contains("alice"));

        let err = mirrors
            .fetch(&url, &"3".repeat(40), None)
            .await
            .unwrap_err();
        assert!(matches!(err, GitError::Command { .. }), "{err}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        let config = std::fs::read_to_string(dir.join("config")).expect("config");
        let clean = format!("url = {}", url.replace("alice:s3cr3t-t0ken@", ""));
        assert!(
            config.contains(&clean) && !config.contains("s3cr3t"),
            "{config}"
        );

        let err = mirrors
            .extract(&url, &"3".repeat(40), "-x", &dir)
            .await
            .unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        let err = mirrors
            .extract(&url, &"3".repeat(40), ".tekton", &dir)
            .await
            .unwrap_err();
        assert!(!format!("{err} {err:?}").contains("s3cr3t"), "{err}");
    }
}

#[tokio::test]
async fn refused_arguments_touch_nothing() {
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path().join("cache"));
    let sha = "a".repeat(40);
    let url = "file:///nowhere";
    let refused = [
        mirrors.fetch("-oProxyCommand=x", &sha, None).await,
        mirrors.fetch(url, "--upload-pack=x", None).await,
        mirrors.fetch(url, &sha, Some("--upload-pack=x")).await,
        mirrors.fetch(url, &sha, Some("main:refs/heads/x")).await,
        mirrors
            .extract(url, &sha, "../x", cache.path())
            .await
            .map(drop),
        mirrors.changed_paths(url, &sha, "-x").await.map(drop),
        mirrors.commits(url, Some("--all"), &sha).await.map(drop),
    ];
    for result in refused {
        assert!(
            matches!(
                result,
                Err(GitError::InvalidSha(_) | GitError::InvalidArgument { .. })
            ),
            "{result:?}"
        );
    }
    assert!(!cache.path().join("cache").exists());
}
