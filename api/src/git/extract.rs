//! Writing the files under one path of a commit out of a bare mirror: `git ls-tree` lists the
//! blobs, one `git cat-file --batch` streams their contents into files under the destination.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};

use super::names::Sha;
use super::{GitError, Mirrors, io_error};

/// A file of the tree to write: its blob id and path from the repository's root.
struct Blob {
    id: String,
    path: String,
    executable: bool,
}

/// Writes the regular files under `path` at commit `sha` into `dest`, keeping their paths from
/// the repository's root, and returns those paths.
pub(super) async fn write_tree(
    mirrors: &Mirrors,
    dir: &Path,
    sha: &Sha,
    path: &str,
    dest: &Path,
) -> Result<Vec<String>, GitError> {
    let list = mirrors
        .git(dir)
        .args(["ls-tree", "-r", "-z", "--full-tree", "--end-of-options"])
        .args([sha.as_str(), "--", path]);
    let shown = list.shown();
    let out = list.output().await?;
    let unexpected = |detail: String| GitError::Output {
        command: shown.clone(),
        detail,
    };
    let mut blobs = Vec::new();
    let mut found = false;
    for entry in out.split(|&b| b == 0).filter(|entry| !entry.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        let Some((meta, entry_path)) = entry.split_once('\t') else {
            return Err(unexpected(format!("no tab in the entry {entry:?}")));
        };
        // ls-tree matches whole path components; make sure of it.
        if entry_path != path && !entry_path.starts_with(&format!("{path}/")) {
            continue;
        }
        found = true;
        if entry_path
            .split('/')
            .any(|part| matches!(part, "" | "." | ".."))
        {
            return Err(unexpected(format!("the unsafe path {entry_path:?}")));
        }
        let mut fields = meta.split(' ');
        let (Some(mode), Some(kind), Some(id)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(unexpected(format!("the malformed entry {entry:?}")));
        };
        // 120000 (symbolic links) and submodules (`commit` entries) are skipped.
        if kind == "blob" && matches!(mode, "100644" | "100755" | "100664") {
            blobs.push(Blob {
                id: id.to_owned(),
                path: entry_path.to_owned(),
                executable: mode == "100755",
            });
        }
    }
    if !found {
        return Err(GitError::PathNotFound {
            path: path.to_owned(),
            sha: sha.to_string(),
        });
    }
    tokio::fs::create_dir_all(dest)
        .await
        .map_err(io_error("create", dest))?;
    if !blobs.is_empty() {
        let ids: String = blobs.iter().map(|blob| format!("{}\n", blob.id)).collect();
        let cat = mirrors.git(dir).args(["cat-file", "--batch"]);
        let shown = cat.shown();
        cat.streaming(|stdin, stdout| async {
            let (written, copied) = tokio::join!(
                send_ids(stdin, ids, &shown),
                copy_blobs(stdout, &blobs, dest, &shown)
            );
            written.and(copied)
        })
        .await?;
    }
    Ok(blobs.into_iter().map(|blob| blob.path).collect())
}

async fn send_ids(mut stdin: ChildStdin, ids: String, shown: &str) -> Result<(), GitError> {
    let sent = stdin.write_all(ids.as_bytes()).await;
    drop(stdin);
    sent.map_err(|source| GitError::Run {
        command: shown.to_owned(),
        source,
    })
}

/// Reads `cat-file --batch`'s answers (`<id> blob <size>\n<content>\n`) in the order asked, each
/// into its file.
async fn copy_blobs(
    stdout: ChildStdout,
    blobs: &[Blob],
    dest: &Path,
    shown: &str,
) -> Result<(), GitError> {
    let unexpected = |detail: String| GitError::Output {
        command: shown.to_owned(),
        detail,
    };
    let pipe = |source| GitError::Run {
        command: shown.to_owned(),
        source,
    };
    let mut reader = BufReader::new(stdout);
    let mut header = String::new();
    for blob in blobs {
        header.clear();
        reader.read_line(&mut header).await.map_err(pipe)?;
        let mut fields = header.trim_end().split(' ');
        let size = match (fields.next(), fields.next(), fields.next()) {
            (Some(id), Some("blob"), Some(size)) if id == blob.id => size.parse::<u64>().ok(),
            _ => None,
        };
        let Some(size) = size else {
            return Err(unexpected(format!(
                "{:?} in answer to blob {} ({})",
                header.trim_end(),
                blob.id,
                blob.path
            )));
        };
        let target: PathBuf = dest.join(&blob.path);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io_error("create", parent))?;
        }
        // `create_new`: never overwrite, never follow a link left in `dest`.
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .await
            .map_err(io_error("create", &target))?;
        let copied = tokio::io::copy(&mut (&mut reader).take(size), &mut file)
            .await
            .map_err(io_error("write", &target))?;
        file.flush().await.map_err(io_error("write", &target))?;
        if copied != size {
            return Err(unexpected(format!(
                "blob {} ended after {copied} of {size} bytes",
                blob.id
            )));
        }
        if blob.executable {
            tokio::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                .await
                .map_err(io_error("set the permissions of", &target))?;
        }
        let mut newline = [0u8; 1];
        reader.read_exact(&mut newline).await.map_err(pipe)?;
    }
    Ok(())
}
