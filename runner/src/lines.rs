//! Output as it arrives: chunks cut into lines, and the copies of a stream that
//! `stdoutConfig.path` / `stderrConfig.path` ask for.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tokio::fs::File;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

use crate::{Event, Stream};

/// A line longer than this is reported in pieces of this size (so that output without
/// newlines cannot exhaust memory).
pub(crate) const MAX_LINE: usize = 1 << 20;

/// Cuts a stream that arrives in chunks of any size into lines.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Takes the next chunk and returns the lines it completed, without their `\n`.
    pub fn push(&mut self, mut chunk: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        while !chunk.is_empty() {
            let room = MAX_LINE - self.partial.len();
            match chunk.iter().take(room + 1).position(|&b| b == b'\n') {
                Some(newline) => {
                    self.partial.extend_from_slice(&chunk[..newline]);
                    lines.push(std::mem::take(&mut self.partial));
                    chunk = &chunk[newline + 1..];
                }
                None => {
                    let take = chunk.len().min(room);
                    self.partial.extend_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                    if self.partial.len() == MAX_LINE {
                        lines.push(std::mem::take(&mut self.partial));
                    }
                }
            }
        }
        lines
    }

    /// The last line, when the stream ended without a `\n`.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.partial.is_empty()).then(|| std::mem::take(&mut self.partial))
    }
}

/// The file a stream is copied to (`stdoutConfig.path`, `stderrConfig.path`).
#[derive(Debug)]
pub(crate) struct StreamCopy {
    path: PathBuf,
    file: BufWriter<File>,
    error: Option<std::io::Error>,
}

impl StreamCopy {
    /// Creates (or truncates) `path`, creating its parent directories.
    pub async fn create(path: &Path) -> std::io::Result<StreamCopy> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let file = File::create(path).await?;
        Ok(StreamCopy {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            error: None,
        })
    }

    /// Writes `bytes`; after a first error, nothing more is written.
    pub async fn write(&mut self, bytes: &[u8]) {
        if self.error.is_none()
            && let Err(e) = self.file.write_all(bytes).await
        {
            self.error = Some(e);
        }
    }

    /// Flushes the file and says what went wrong, if anything did.
    pub async fn finish(mut self, stream: Stream) -> Option<String> {
        if self.error.is_none()
            && let Err(e) = self.file.flush().await
        {
            self.error = Some(e);
        }
        self.error.map(|e| {
            format!(
                "could not copy {} to `{}`: {e}",
                stream.as_str(),
                self.path.display()
            )
        })
    }
}

/// Sends one line of step `step` as an [`Event::Output`] stamped now; a receiver that is
/// gone is no reason to stop the step.
pub(crate) async fn send_line(
    events: &mpsc::Sender<Event>,
    step: usize,
    stream: Stream,
    line: Vec<u8>,
) {
    let event = Event::Output {
        step,
        stream,
        at: SystemTime::now(),
        line,
    };
    // The receiver being gone is no reason to stop the step.
    let _ = events.send(event).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_lines() {
        let mut lines = Lines::default();
        assert_eq!(lines.push(b"a\nb"), vec![b"a".to_vec()]);
        assert_eq!(lines.push(b"c\n\nd"), vec![b"bc".to_vec(), Vec::new()]);
        assert_eq!(lines.finish(), Some(b"d".to_vec()));
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn long_lines_come_in_pieces() {
        let mut lines = Lines::default();
        let long = vec![b'x'; MAX_LINE + 10];
        let got = lines.push(&long);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(lines.push(b"\n"), vec![vec![b'x'; 10]]);
    }
}
