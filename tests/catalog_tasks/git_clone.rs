//! `git-clone` on the local runner: the step runs on this host, with its git.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::support::git_daemon::GitDaemon;
use crate::support::{git, runnel};
use crate::{Run, read, run_task, tree};

/// The committer (and author) dates of the origin's commits, in seconds since the epoch.
const DATES: [u64; 4] = [1_700_000_100, 1_700_000_200, 1_700_000_300, 1_700_000_400];

/// A repository served by `git daemon`:
///
/// ```text
/// first (tag v1.0, annotated) ── second ── third   main
///                                     └─── fourth  feature
/// ```
///
/// `VERSION` holds 1, 2, 3 along main; `feature.txt` is only on feature.
struct Origin {
    dir: TempDir,
    daemon: GitDaemon,
    first: String,
    second: String,
    third: String,
    fourth: String,
    /// The annotated tag's own object (not a commit).
    tag: String,
}

impl Origin {
    fn new() -> Origin {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        let commit = |message: &str, date: u64| {
            git(&work, &["add", "-A"]);
            let out = Command::new("git")
                .args(["commit", "-q", "-m", message])
                .current_dir(&work)
                .env("GIT_AUTHOR_NAME", "Dev")
                .env("GIT_AUTHOR_EMAIL", "dev@example.com")
                .env("GIT_COMMITTER_NAME", "Dev")
                .env("GIT_COMMITTER_EMAIL", "dev@example.com")
                .env("GIT_AUTHOR_DATE", format!("@{date} +0000"))
                .env("GIT_COMMITTER_DATE", format!("@{date} +0000"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            git(&work, &["rev-parse", "HEAD"])
        };
        std::fs::write(work.join("VERSION"), "1\n").unwrap();
        std::fs::write(work.join("README.md"), "# shop\n").unwrap();
        let first = commit("first", DATES[0]);
        git(&work, &["tag", "-a", "v1.0", "-m", "release 1.0"]);
        std::fs::write(work.join("VERSION"), "2\n").unwrap();
        let second = commit("second", DATES[1]);
        std::fs::write(work.join("VERSION"), "3\n").unwrap();
        let third = commit("third", DATES[2]);
        git(&work, &["checkout", "-q", "-b", "feature", &second]);
        std::fs::write(work.join("feature.txt"), "new\n").unwrap();
        let fourth = commit("fourth", DATES[3]);
        git(&work, &["checkout", "-q", "main"]);
        let tag = git(&work, &["rev-parse", "v1.0"]);
        assert_ne!(tag, first, "v1.0 is an annotated tag");

        let served = dir.path().join("served");
        std::fs::create_dir_all(&served).unwrap();
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                work.to_str().unwrap(),
                served.join("shop.git").to_str().unwrap(),
            ],
        );
        // `second` is no ref's tip: fetching it needs the sha itself.
        let tips = git(
            &served.join("shop.git"),
            &["for-each-ref", "--format=%(objectname)"],
        );
        assert!(!tips.contains(&second), "{tips}");
        let daemon = GitDaemon::start(&served, "shop.git");
        Origin {
            dir,
            daemon,
            first,
            second,
            third,
            fourth,
            tag,
        }
    }

    fn file_url(&self) -> String {
        format!(
            "file://{}",
            self.dir.path().join("served/shop.git").display()
        )
    }
}

/// Where a git-clone TaskRun runs: its directory (records), the `output` workspace, and the
/// HOME given to runnel (so to the step), holding a `.gitconfig` of its own that must come
/// out as it went in.
struct Clone {
    dir: TempDir,
    output: PathBuf,
    home: PathBuf,
}

const GITCONFIG: &str = "[user]\n\tname = Someone\n\temail = someone@example.com\n";

impl Clone {
    fn new() -> Clone {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("output");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join(".gitconfig"), GITCONFIG).unwrap();
        Clone { dir, output, home }
    }

    /// Runs git-clone with `params` into the `output` workspace, `workspaces` bound besides
    /// (`NAME=PATH`), `env` added; checks that the home was left alone.
    fn run_with(
        &self,
        params: &[(&str, &str)],
        workspaces: &[String],
        env: &[(&str, OsString)],
    ) -> Run {
        let mut args: Vec<OsString> = vec!["--runner".into(), "local".into(), "-w".into()];
        args.push(format!("output={}", self.output.display()).into());
        for w in workspaces {
            args.push("-w".into());
            args.push(w.into());
        }
        let mut env = env.to_vec();
        env.push(("HOME", self.home.clone().into_os_string()));
        let run = run_task(self.dir.path(), "git-clone", params, &args, &env);
        // The step's git settings and credentials never go to the home it was given.
        assert_eq!(read(self.home.join(".gitconfig")), GITCONFIG, "{}", run.all);
        assert_eq!(
            tree(&self.home),
            BTreeSet::from([".gitconfig".to_owned()]),
            "{}",
            run.all
        );
        run
    }

    fn run(&self, params: &[(&str, &str)]) -> Run {
        self.run_with(params, &[], &[])
    }

    /// `git ARGS` in the checkout (`subdirectory` under the workspace).
    fn git(&self, subdirectory: &str, args: &[&str]) -> String {
        git(&self.output.join(subdirectory), args)
    }

    /// How many commits the checkout's history holds.
    fn history(&self) -> usize {
        self.git("", &["rev-list", "--count", "HEAD"])
            .parse()
            .unwrap()
    }
}

#[test]
fn a_branch_is_cloned_shallow_with_its_commit_url_and_committer_date() {
    let origin = Origin::new();
    let clone = Clone::new();
    let url = origin.daemon.url();
    let run = clone.run(&[("url", &url), ("revision", "feature")]);
    run.assert_succeeded();

    assert_eq!(clone.git("", &["rev-parse", "HEAD"]), origin.fourth);
    assert_eq!(read(clone.output.join("feature.txt")), "new\n");
    assert_eq!(read(clone.output.join("VERSION")), "2\n");
    assert_eq!(clone.history(), 1, "depth 1 by default");
    assert!(clone.output.join(".git/shallow").is_file());

    assert_eq!(
        run.result("commit"),
        Some(origin.fourth.clone()),
        "{}",
        run.all
    );
    assert_eq!(run.result("url"), Some(url.clone()), "{}", run.all);
    let date = run.result("committer-date").unwrap();
    assert_eq!(date, DATES[3].to_string(), "{}", run.all);
    assert_eq!(date, clone.git("", &["log", "-1", "--format=%ct"]));

    // The run's record holds the same results.
    let out = runnel()
        .args(["describe", "git-clone"])
        .current_dir(clone.dir.path())
        .output()
        .unwrap();
    let described = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{described}");
    assert!(described.contains("Status:    Succeeded"), "{described}");
    assert!(
        described.contains(&format!("  commit = \"{}\"", origin.fourth)),
        "{described}"
    );
    assert!(
        described.contains(&format!("  committer-date = \"{}\"", DATES[3])),
        "{described}"
    );
}

#[test]
fn a_tag_checks_out_the_commit_it_names() {
    let origin = Origin::new();
    let clone = Clone::new();
    let run = clone.run(&[("url", &origin.daemon.url()), ("revision", "v1.0")]);
    run.assert_succeeded();
    // The commit, not the annotated tag's object.
    assert_eq!(
        run.result("commit"),
        Some(origin.first.clone()),
        "{}",
        run.all
    );
    assert_ne!(run.result("commit"), Some(origin.tag.clone()));
    assert_eq!(clone.git("", &["rev-parse", "HEAD"]), origin.first);
    assert_eq!(read(clone.output.join("VERSION")), "1\n");
    assert!(!clone.output.join("feature.txt").exists());
    assert_eq!(
        run.result("committer-date"),
        Some(DATES[0].to_string()),
        "{}",
        run.all
    );
}

#[test]
fn an_exact_commit_that_no_branch_points_at_is_fetched_by_its_sha() {
    let origin = Origin::new();
    let clone = Clone::new();
    let run = clone.run(&[("url", &origin.daemon.url()), ("revision", &origin.second)]);
    run.assert_succeeded();
    assert_eq!(clone.git("", &["rev-parse", "HEAD"]), origin.second);
    assert_eq!(read(clone.output.join("VERSION")), "2\n");
    assert_eq!(clone.history(), 1);
    // Fetched directly (protocol v2), not from the whole history.
    assert!(!run.all.contains("cannot fetch"), "{}", run.all);
    assert_eq!(
        run.result("commit"),
        Some(origin.second.clone()),
        "{}",
        run.all
    );
    assert_eq!(
        run.result("committer-date"),
        Some(DATES[1].to_string()),
        "{}",
        run.all
    );
}

#[test]
fn depth_zero_fetches_the_whole_history_and_depth_n_that_many_commits() {
    let origin = Origin::new();
    let url = origin.file_url();

    let full = Clone::new();
    let run = full.run(&[("url", &url), ("revision", "main"), ("depth", "0")]);
    run.assert_succeeded();
    assert_eq!(full.history(), 3);
    assert!(!full.output.join(".git/shallow").exists());
    assert_eq!(run.result("url"), Some(url.clone()), "{}", run.all);
    assert_eq!(
        run.result("commit"),
        Some(origin.third.clone()),
        "{}",
        run.all
    );

    let two = Clone::new();
    two.run(&[("url", &url), ("revision", "main"), ("depth", "2")])
        .assert_succeeded();
    assert_eq!(two.history(), 2);
    assert_eq!(
        two.git("", &["log", "--format=%H"]),
        format!("{}\n{}", origin.third, origin.second)
    );
}

#[test]
fn a_subdirectory_takes_the_checkout_and_the_rest_of_the_workspace_stays() {
    let origin = Origin::new();
    let clone = Clone::new();
    std::fs::create_dir_all(&clone.output).unwrap();
    std::fs::write(clone.output.join("keep.txt"), "mine\n").unwrap();
    // No revision: the remote's HEAD (main).
    let run = clone.run(&[("url", &origin.daemon.url()), ("subdirectory", "src/shop")]);
    run.assert_succeeded();
    assert_eq!(clone.git("src/shop", &["rev-parse", "HEAD"]), origin.third);
    assert_eq!(read(clone.output.join("src/shop/VERSION")), "3\n");
    assert!(clone.output.join("src/shop/.git").is_dir());
    assert_eq!(
        tree(&clone.output),
        BTreeSet::from(
            [
                "keep.txt",
                "src",
                "src/shop",
                "src/shop/README.md",
                "src/shop/VERSION"
            ]
            .map(String::from)
        )
    );
    assert_eq!(
        run.result("commit"),
        Some(origin.third.clone()),
        "{}",
        run.all
    );
}

#[test]
fn delete_existing_empties_the_checkout_first_and_false_keeps_what_was_there() {
    let origin = Origin::new();
    let url = origin.daemon.url();
    let stale = |clone: &Clone| {
        std::fs::create_dir_all(clone.output.join("old/dir")).unwrap();
        std::fs::write(clone.output.join("stale.txt"), "old\n").unwrap();
        std::fs::write(clone.output.join("old/dir/file"), "old\n").unwrap();
    };
    let fresh = BTreeSet::from(["README.md", "VERSION"].map(String::from));

    let clone = Clone::new();
    stale(&clone);
    clone
        .run(&[
            ("url", &url),
            ("revision", "main"),
            ("delete-existing", "true"),
        ])
        .assert_succeeded();
    assert_eq!(tree(&clone.output), fresh);

    // Again into the same checkout, now with stale files and a clone already there.
    stale(&clone);
    clone
        .run(&[
            ("url", &url),
            ("revision", "v1.0"),
            ("delete-existing", "false"),
        ])
        .assert_succeeded();
    assert_eq!(clone.git("", &["rev-parse", "HEAD"]), origin.first);
    assert_eq!(read(clone.output.join("VERSION")), "1\n");
    let kept: BTreeSet<String> = tree(&clone.output).difference(&fresh).cloned().collect();
    assert_eq!(
        kept,
        BTreeSet::from(["old", "old/dir", "old/dir/file", "stale.txt"].map(String::from))
    );
}

#[test]
fn a_revision_that_does_not_exist_fails_the_task_with_gits_message() {
    let origin = Origin::new();
    let clone = Clone::new();
    let run = clone.run(&[
        ("url", &origin.daemon.url()),
        ("revision", "no-such-branch"),
    ]);
    run.assert_failed();
    assert!(
        run.all.contains("couldn't find remote ref no-such-branch"),
        "{}",
        run.all
    );
    assert_eq!(run.result("commit"), None, "{}", run.all);

    let missing = "0123456789abcdef0123456789abcdef01234567";
    let run = clone.run(&[("url", &origin.daemon.url()), ("revision", missing)]);
    run.assert_failed();
    assert!(
        run.all.contains(&format!("not our ref {missing}")),
        "{}",
        run.all
    );
    assert_eq!(run.result("commit"), None, "{}", run.all);
}

/// An ssh:// URL with the `ssh-directory` workspace: a stand-in `ssh` on PATH records how git
/// called it, then runs the remote command here. The keys reach ssh from a home of the
/// step's own (ssh reads `~/.ssh` from the passwd entry, not HOME), which is gone afterwards.
#[test]
fn ssh_directory_keys_are_handed_to_ssh_from_a_home_of_the_steps_own() {
    let origin = Origin::new();
    let clone = Clone::new();
    let bin = clone.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = clone.dir.path().join("ssh.log");
    std::fs::write(
        bin.join("ssh"),
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$FAKE_SSH_LOG\"\nprev=\nfor arg; do\n  if [ \"$prev\" = -i ]; then stat -c %a \"$arg\" > \"$FAKE_SSH_LOG.mode\"; fi\n  prev=$arg\ndone\nexec sh -c \"$prev\"\n",
    )
    .unwrap();
    std::fs::set_permissions(bin.join("ssh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let keys = clone.dir.path().join("ssh-keys");
    std::fs::create_dir_all(&keys).unwrap();
    for (name, text) in [
        ("id_ed25519", "private\n"),
        ("id_ed25519.pub", "public\n"),
        ("known_hosts", "git.example ssh-ed25519 AAAA\n"),
        ("config", "Host git.example\n  User git\n"),
    ] {
        std::fs::write(keys.join(name), text).unwrap();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.clone()];
    paths.extend(std::env::split_paths(&path));
    let served = origin.dir.path().join("served/shop.git");
    let url = format!("ssh://git.example{}", served.display());

    let run = clone.run_with(
        &[("url", &url)],
        &[format!("ssh-directory={}", keys.display())],
        &[
            ("PATH", std::env::join_paths(paths).unwrap()),
            ("FAKE_SSH_LOG", log.clone().into_os_string()),
        ],
    );
    run.assert_succeeded();
    assert_eq!(
        run.result("commit"),
        Some(origin.third.clone()),
        "{}",
        run.all
    );

    let args: Vec<String> = read(&log).lines().map(String::from).collect();
    let after = |flag: &str| -> Vec<&str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    };
    let identity = after("-i");
    assert_eq!(identity.len(), 1, "only the private key: {args:?}");
    let step_ssh = Path::new(identity[0]).parent().unwrap().to_owned();
    assert!(identity[0].ends_with("/.ssh/id_ed25519"), "{args:?}");
    assert_ne!(step_ssh, clone.home.join(".ssh"), "{args:?}");
    assert_eq!(read(format!("{}.mode", log.display())), "600\n");
    assert_eq!(
        after("-F"),
        [step_ssh.join("config").display().to_string()],
        "{args:?}"
    );
    assert!(
        after("-o").contains(
            &format!(
                "UserKnownHostsFile={}",
                step_ssh.join("known_hosts").display()
            )
            .as_str()
        ),
        "{args:?}"
    );
    assert!(args.contains(&"git.example".to_owned()), "{args:?}");
    // The step's home, keys and all, was removed at its end.
    assert!(!step_ssh.exists(), "{} is still there", step_ssh.display());
}

/// The `basic-auth` workspace's `.gitconfig` is the step's git configuration: here an
/// `insteadOf` rule that sends an https:// URL no one serves to the file:// origin.
#[test]
fn basic_auth_gitconfig_is_the_steps_own() {
    let origin = Origin::new();
    let clone = Clone::new();
    let auth = clone.dir.path().join("auth");
    std::fs::create_dir_all(&auth).unwrap();
    std::fs::write(
        auth.join(".gitconfig"),
        format!(
            "[credential]\n\thelper = store\n[url \"{}\"]\n\tinsteadOf = https://git.example/shop.git\n",
            origin.file_url()
        ),
    )
    .unwrap();
    std::fs::write(
        auth.join(".git-credentials"),
        "https://dev:s3cret@git.example\n",
    )
    .unwrap();
    let url = "https://git.example/shop.git";

    let run = clone.run_with(
        &[("url", url), ("revision", "feature")],
        &[format!("basic-auth={}", auth.display())],
        &[],
    );
    run.assert_succeeded();
    assert_eq!(
        run.result("commit"),
        Some(origin.fourth.clone()),
        "{}",
        run.all
    );
    assert_eq!(run.result("url"), Some(url.to_owned()), "{}", run.all);
}
