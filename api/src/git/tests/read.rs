//! Reading fetched commits: extracting paths, changed paths and commit lists.

use chrono::DateTime;
use tempfile::TempDir;

use super::*;
use crate::git::CommitInfo;

#[tokio::test]
async fn extracts_exactly_the_path_asked_for() {
    let history = force_pushed();
    let url = history.up.file_url();
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    mirrors.fetch(&url, &history.c2, None).await.expect("fetch");
    let check = async |path: &str| extract(&mirrors, &url, &history.c2, path).await;

    let build = files(&[(".tekton/tasks/build.yaml", "build")]);
    assert_eq!(check(".tekton/tasks").await.expect("dir"), build);
    assert_eq!(check(".tekton/tasks/").await.expect("dir/"), build);
    assert_eq!(
        check(".tekton/tasks/build.yaml").await.expect("file"),
        build
    );
    assert_eq!(
        check("README").await.expect("file"),
        files(&[("README", "read me")])
    );
    for missing in [
        "nope",
        ".tek",
        ".tekton/pipeline",
        "README/x",
        ".tekton/tasks/build.yaml/x",
    ] {
        let err = check(missing).await.unwrap_err();
        assert!(
            matches!(&err, GitError::PathNotFound { path, .. } if path == missing.trim_end_matches('/')),
            "{missing}: {err}"
        );
    }
}

#[tokio::test]
async fn extract_skips_links_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let up = Upstream::new();
    let tekton = up.work.join(".tekton");
    std::fs::create_dir_all(&tekton).expect("mkdir");
    std::os::unix::fs::symlink("/etc/passwd", tekton.join("link.yaml")).expect("ln");
    std::fs::write(tekton.join("run.sh"), "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(tekton.join("run.sh"), PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let c1 = up.commit("one", 0, &[(".tekton/p.yaml", Some("p"))]);
    up.push();
    let tree = git(
        &up.work,
        &["ls-tree", "-r", "--format=%(objectmode) %(path)", "HEAD"],
        &[],
    );
    assert_eq!(
        tree,
        "120000 .tekton/link.yaml\n100644 .tekton/p.yaml\n100755 .tekton/run.sh"
    );
    let url = up.file_url();
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    assert_eq!(
        tekton_at(&mirrors, &url, &c1).await,
        files(&[(".tekton/p.yaml", "p"), (".tekton/run.sh", "#!/bin/sh\n")])
    );
    let dest = TempDir::new().expect("tempdir");
    mirrors
        .extract(&url, &c1, ".tekton", dest.path())
        .await
        .expect("extract");
    let mode = |name: &str| {
        let meta = std::fs::metadata(dest.path().join(".tekton").join(name)).expect("stat");
        meta.permissions().mode() & 0o111
    };
    assert_eq!((mode("run.sh"), mode("p.yaml")), (0o111, 0));
    let err = mirrors
        .extract(&url, &c1, ".tekton", dest.path())
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::Io { .. }), "{err}");
}

#[tokio::test]
async fn reading_before_fetching_is_not_fetched() {
    let history = force_pushed();
    let url = history.up.file_url();
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    let dest = cache.path().join("out");
    let err = mirrors
        .extract(&url, &history.c1, ".tekton", &dest)
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::NotFetched { .. }), "{err}");
    mirrors.fetch(&url, &history.c1, None).await.expect("fetch");
    let err = mirrors
        .changed_paths(&url, &history.c1, &history.c3)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GitError::NotFetched { sha, .. } if *sha == history.c3),
        "{err}"
    );
    let err = mirrors.commits(&url, None, &history.c2).await.unwrap_err();
    assert!(matches!(err, GitError::NotFetched { .. }), "{err}");
    assert!(!dest.exists());
}

#[tokio::test]
async fn changed_paths_lists_both_sides_of_a_rename() {
    let up = Upstream::new();
    let c1 = up.commit(
        "one",
        0,
        &[
            ("a", Some("1")),
            ("b/c", Some("same")),
            ("d", Some("x")),
            ("g", Some("kept")),
        ],
    );
    let c2 = up.commit(
        "two",
        1,
        &[
            ("a", Some("2")),
            ("d", None),
            ("b/c", None),
            ("b/e", Some("same")),
            ("f", Some("new")),
        ],
    );
    up.push();
    let url = up.file_url();
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    mirrors.fetch(&url, &c2, None).await.expect("fetch");
    let changed = ["a", "b/c", "b/e", "d", "f"];
    assert_eq!(
        mirrors.changed_paths(&url, &c1, &c2).await.expect("diff"),
        changed
    );
    assert_eq!(
        mirrors.changed_paths(&url, &c2, &c1).await.expect("diff"),
        changed
    );
    assert!(
        mirrors
            .changed_paths(&url, &c1, &c1)
            .await
            .expect("diff")
            .is_empty()
    );
}

#[tokio::test]
async fn commits_skip_merges_and_keep_author_times() {
    let up = Upstream::new();
    let c1 = up.commit("first", 0, &[("a", Some("1"))]);
    git(&up.work, &["checkout", "-q", "-b", "feature"], &[]);
    let f1 = up.commit_by(
        ZOE,
        "feature: add b\n\nWith a body.",
        100,
        &[("b", Some("1"))],
    );
    git(&up.work, &["checkout", "-q", "main"], &[]);
    let c2 = up.commit("second", 200, &[("a", Some("2"))]);
    let at = [
        ("GIT_AUTHOR_DATE", format!("@{} +0000", T0 + 300)),
        ("GIT_COMMITTER_DATE", format!("@{} +0000", T0 + 300)),
    ];
    git(
        &up.work,
        &["merge", "-q", "--no-ff", "-m", "Merge feature", "feature"],
        &at,
    );
    let c3 = up.commit("third", 400, &[("a", Some("3"))]);
    up.push();
    let url = up.file_url();
    let cache = TempDir::new().expect("tempdir");
    let mirrors = Mirrors::new(cache.path());
    mirrors.fetch(&url, &c3, None).await.expect("fetch");

    let info = |id: &str, (name, email): (&str, &str), subject: &str, at: i64| CommitInfo {
        id: id.to_owned(),
        author_time: DateTime::from_timestamp(T0 + at, 0).expect("time"),
        author_name: name.to_owned(),
        author_email: email.to_owned(),
        subject: subject.to_owned(),
    };
    let all = vec![
        info(&c3, ANN, "third", 400),
        info(&c2, ANN, "second", 200),
        info(&f1, ZOE, "feature: add b", 100),
        info(&c1, ANN, "first", 0),
    ];
    assert_eq!(mirrors.commits(&url, None, &c3).await.expect("log"), all);
    assert_eq!(
        mirrors.commits(&url, Some(&c1), &c3).await.expect("log"),
        all[..3]
    );
    assert_eq!(
        mirrors.commits(&url, Some(&c2), &c3).await.expect("log"),
        [all[0].clone(), all[2].clone()]
    );
    assert!(
        mirrors
            .commits(&url, Some(&c3), &c3)
            .await
            .expect("log")
            .is_empty()
    );
}
