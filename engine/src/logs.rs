//! Step logs, stored in an object store (a local directory, S3, or memory) line by line with
//! timestamps.
//!
//! A log is a sequence of lines, each stored as
//!
//! ```text
//! 2026-11-23T10:16:30.123456Z out the line's bytes, exactly as the step printed them
//! ```
//!
//! (an RFC 3339 UTC timestamp with microseconds, `out` or `err`, the raw bytes, a newline).
//! The lines of the log named `KEY` are written in chunks, the objects `KEY/00000000`,
//! `KEY/00000001`, … whose concatenation in index order is the log. A [`LogWriter`] keeps only
//! the current chunk in memory, so a log of any size costs at most one chunk of memory, and
//! [`LogWriter::flush`] stores the current chunk as it is so far, so readers see recent lines
//! while the step still runs. Every object write replaces a whole object at once, so a reader
//! never sees a half-written chunk.
//!
//! A chunk holds whole lines: a line goes to the next chunk when it does not fit in the current
//! one. Only a line longer than the chunk size is split, into pieces of the chunk size.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// The directory [`LogStore::local`] is meant to be given when nothing else is configured,
/// relative to the project root.
pub const DEFAULT_LOCAL_DIR: &str = ".runnel/logs";

/// The size of a full chunk unless [`LogStore::with_chunk_size`] says otherwise: 1 MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 1024 * 1024;

/// Chunk object names are the chunk index zero-padded to this many digits, so that they sort
/// in index order (up to 10⁸ chunks; readers order chunks by their number in any case).
const CHUNK_NAME_DIGITS: usize = 8;

/// What can go wrong opening, writing or reading logs.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A log store URL whose scheme runnel does not know, or whose rest is malformed.
    #[error(
        "invalid log store URL `{url}`: {reason}; use file:///absolute/path, s3://bucket/prefix or memory://"
    )]
    InvalidUrl { url: String, reason: String },
    /// A log key that cannot name objects in the store.
    #[error(
        "invalid log key `{key}`: {reason}; a key is a `/`-separated path without empty, `.` or `..` segments"
    )]
    InvalidKey { key: String, reason: String },
    /// The local log directory cannot be created.
    #[error("cannot create the log directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The object store could not be set up.
    #[error("cannot open the log store {location}: {source}")]
    Open {
        location: String,
        #[source]
        source: object_store::Error,
    },
    /// Writing a chunk failed; the writer still holds the lines that were not stored.
    #[error("cannot write log chunk `{location}` to {store}: {source}")]
    Write {
        location: String,
        store: String,
        #[source]
        source: object_store::Error,
    },
    /// Listing, reading or deleting the chunks of a log failed.
    #[error("cannot read log chunks under `{location}` from {store}: {source}")]
    Read {
        location: String,
        store: String,
        #[source]
        source: object_store::Error,
    },
}

/// Which output stream of a step a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    /// The tag stored in each line: `out` or `err`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "out",
            LogStream::Stderr => "err",
        }
    }
}

impl fmt::Display for LogStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored line, split into its parts by [`parse_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// When the line was printed.
    pub at: DateTime<Utc>,
    /// The stream it was printed on.
    pub stream: LogStream,
    /// The line as printed, without its newline; not necessarily UTF-8.
    pub text: &'a [u8],
}

/// Splits one stored line (with or without its trailing newline) into timestamp, stream and
/// text. Returns `None` when the line is not in the stored format, for example a piece of a
/// line longer than the chunk size that was split across chunks.
pub fn parse_line(line: &[u8]) -> Option<LogLine<'_>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let space = line.iter().position(|b| *b == b' ')?;
    let (stamp, rest) = line.split_at(space);
    let at = DateTime::parse_from_rfc3339(std::str::from_utf8(stamp).ok()?)
        .ok()?
        .with_timezone(&Utc);
    let rest = rest.get(1..)?;
    let stream = match rest.get(..3)? {
        b"out" => LogStream::Stdout,
        b"err" => LogStream::Stderr,
        _ => return None,
    };
    if rest.get(3) != Some(&b' ') {
        return None;
    }
    Some(LogLine {
        at,
        stream,
        text: rest.get(4..)?,
    })
}

/// How many bytes [`LogWriter::line`] stores for `line` printed at `at`: what a reader
/// following a log live adds to its offset for each line, to know where it is in the stored
/// log.
pub fn stored_len(at: DateTime<Utc>, line: &[u8]) -> u64 {
    // RFC 3339 with microseconds and `Z`, then ` out ` or ` err `; years past 9999 are wider.
    let head = if at.year_ce().1 <= 9999 {
        "2026-11-23T10:16:30.123456Z out ".len()
    } else {
        at.to_rfc3339_opts(SecondsFormat::Micros, true).len() + 5
    };
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.split(|b| *b == b'\n')
        .map(|part| (head + part.len() + 1) as u64)
        .sum()
}

/// Where logs are kept: any [`ObjectStore`], with the chunk size new writers use.
#[derive(Debug, Clone)]
pub struct LogStore {
    store: Arc<dyn ObjectStore>,
    /// The store as error messages name it (`s3://bucket/prefix`, a directory, ...).
    name: Arc<str>,
    chunk_size: usize,
}

/// One chunk object of a log, as listed.
struct Chunk {
    location: ObjectPath,
    size: u64,
}

impl LogStore {
    /// Logs in the given object store.
    pub fn new(store: Arc<dyn ObjectStore>) -> LogStore {
        let name = store.to_string().into();
        LogStore {
            store,
            name,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }

    /// The same store, named `name` in error messages.
    fn named(mut self, name: impl Into<Arc<str>>) -> LogStore {
        self.name = name.into();
        self
    }

    /// Logs in files under `dir` (created if missing), one directory per log key. runnel's
    /// default is [`DEFAULT_LOCAL_DIR`].
    pub fn local(dir: &Path) -> Result<LogStore, LogError> {
        std::fs::create_dir_all(dir).map_err(|source| LogError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(dir).map_err(|source| LogError::Open {
            location: dir.display().to_string(),
            source,
        })?;
        Ok(LogStore::new(Arc::new(store)).named(dir.display().to_string()))
    }

    /// Logs in memory, gone when the last clone of the store is dropped; for tests.
    pub fn in_memory() -> LogStore {
        LogStore::new(Arc::new(InMemory::new()))
    }

    /// Opens the store a URL names:
    ///
    /// - `file:///absolute/path`: files under that directory (see [`LogStore::local`]);
    /// - `s3://bucket` or `s3://bucket/prefix`: an S3 bucket, optionally under a prefix; the
    ///   region, endpoint (for S3-compatible servers such as MinIO) and credentials come from
    ///   the usual `AWS_*` environment variables (`AWS_REGION`, `AWS_ENDPOINT`,
    ///   `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, ...);
    /// - `memory://`: in memory (see [`LogStore::in_memory`]).
    ///
    /// Nothing is sent over the network here: a wrong bucket or credentials show up at the
    /// first write or read.
    pub fn from_url(url: &str) -> Result<LogStore, LogError> {
        let invalid = |reason: &str| LogError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(invalid("a file URL needs an absolute path (file:///path)"));
            }
            LogStore::local(Path::new(path))
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("the URL names no bucket"));
            }
            let s3 = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|source| LogError::Open {
                    location: url.to_owned(),
                    source,
                })?;
            let prefix = ObjectPath::parse(prefix)
                .map_err(|e| invalid(&format!("the prefix is not a valid object path: {e}")))?;
            let store: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            };
            Ok(LogStore::new(store).named(url))
        } else if url.starts_with("memory://") {
            Ok(LogStore::in_memory())
        } else {
            Err(invalid("unknown scheme"))
        }
    }

    /// The same store with writers that make chunks of `bytes` bytes (at least 1).
    pub fn with_chunk_size(mut self, bytes: usize) -> LogStore {
        self.chunk_size = bytes.max(1);
        self
    }

    /// The chunk size new writers use.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// The object store underneath.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// A writer for the log `key` (such as `runs/<run id>/<task>/<step>`). A key is written
    /// once, by one writer: a second writer on the same key overwrites its chunks from the
    /// first, and any chunks past the new log's end remain, so give each step attempt its own
    /// key (or [`LogStore::delete`] the old log first).
    pub fn writer(&self, key: &str) -> Result<LogWriter, LogError> {
        Ok(LogWriter {
            store: Arc::clone(&self.store),
            name: Arc::clone(&self.name),
            prefix: log_prefix(key)?,
            chunk_size: self.chunk_size,
            buf: Vec::new(),
            index: 0,
            dirty: false,
            stored_any: false,
            total: 0,
        })
    }

    /// Whether the log `key` has been written: true once a writer has stored anything,
    /// including a finished writer with no lines.
    pub async fn exists(&self, key: &str) -> Result<bool, LogError> {
        Ok(!self.chunks(key).await?.is_empty())
    }

    /// The size in bytes of the log as stored now (0 for a log that does not exist).
    pub async fn size(&self, key: &str) -> Result<u64, LogError> {
        Ok(self.chunks(key).await?.iter().map(|c| c.size).sum())
    }

    /// The whole log (empty for a log that does not exist). Reads every chunk into memory:
    /// use [`LogStore::stream`] or [`LogStore::read_range`] for logs that may be large.
    pub async fn read(&self, key: &str) -> Result<Bytes, LogError> {
        let chunks = self.chunks(key).await?;
        let mut out = BytesMut::with_capacity(chunks.iter().map(|c| c.size).sum::<u64>() as usize);
        for chunk in &chunks {
            out.extend_from_slice(&get_chunk(&self.store, &self.name, &chunk.location).await?);
        }
        Ok(out.freeze())
    }

    /// Bytes `range` of the log, counted over the concatenation of its chunks as listed when
    /// the call starts. A range reaching past the end is cut at the end; a range starting at
    /// or past the end (or with `start > end`) gives no bytes.
    pub async fn read_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, LogError> {
        let chunks = self.chunks(key).await?;
        let total: u64 = chunks.iter().map(|c| c.size).sum();
        let end = range.end.min(total);
        let start = range.start.min(end);
        if start == end {
            return Ok(Bytes::new());
        }
        let mut out = BytesMut::with_capacity((end - start) as usize);
        let mut offset = 0u64;
        for chunk in &chunks {
            let (chunk_start, chunk_end) = (offset, offset + chunk.size);
            offset = chunk_end;
            if chunk_end <= start || chunk.size == 0 {
                continue;
            }
            if chunk_start >= end {
                break;
            }
            let local = start.max(chunk_start) - chunk_start..end.min(chunk_end) - chunk_start;
            let bytes = self
                .store
                .get_range(&chunk.location, local)
                .await
                .map_err(|source| read_error(&self.name, &chunk.location, source))?;
            out.extend_from_slice(&bytes);
        }
        Ok(out.freeze())
    }

    /// The log as a stream of its chunks' contents, in order, one chunk in memory at a time.
    /// The chunks are those listed when the stream is first polled; the last one is read as
    /// it is when its turn comes. Every chunk ends with a whole line, except where a line
    /// longer than the chunk size was split. Errors (also an invalid key) come as items.
    pub fn stream(&self, key: &str) -> BoxStream<'static, Result<Bytes, LogError>> {
        let this = self.clone();
        let key = key.to_owned();
        stream::once(async move {
            let chunks = this.chunks(&key).await?;
            let LogStore { store, name, .. } = this;
            Ok::<_, LogError>(stream::iter(chunks).then(move |chunk| {
                let store = Arc::clone(&store);
                let name = Arc::clone(&name);
                async move { get_chunk(&store, &name, &chunk.location).await }
            }))
        })
        .try_flatten()
        .boxed()
    }

    /// Deletes every chunk of the log `key`; a log that does not exist is no error.
    pub async fn delete(&self, key: &str) -> Result<(), LogError> {
        for chunk in self.chunks(key).await? {
            match self.store.delete(&chunk.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => return Err(read_error(&self.name, &chunk.location, source)),
            }
        }
        Ok(())
    }

    /// The chunk objects of a log, in index order.
    async fn chunks(&self, key: &str) -> Result<Vec<Chunk>, LogError> {
        let prefix = log_prefix(key)?;
        let listed = match self.store.list_with_delimiter(Some(&prefix)).await {
            Ok(listed) => listed.objects,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(source) => return Err(read_error(&self.name, &prefix, source)),
        };
        let mut chunks: Vec<(u64, Chunk)> = listed
            .into_iter()
            .filter_map(|meta| {
                let index = chunk_index(meta.location.filename()?)?;
                Some((
                    index,
                    Chunk {
                        location: meta.location,
                        size: meta.size,
                    },
                ))
            })
            .collect();
        chunks.sort_by_key(|(index, _)| *index);
        Ok(chunks.into_iter().map(|(_, chunk)| chunk).collect())
    }
}

/// The index of a chunk object from its name, if the name is one.
fn chunk_index(name: &str) -> Option<u64> {
    if name.len() >= CHUNK_NAME_DIGITS && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

fn chunk_name(index: u64) -> String {
    format!("{index:0width$}", width = CHUNK_NAME_DIGITS)
}

/// The object path under which the chunks of `key` live.
fn log_prefix(key: &str) -> Result<ObjectPath, LogError> {
    let invalid = |reason: String| LogError::InvalidKey {
        key: key.to_owned(),
        reason,
    };
    let path = ObjectPath::parse(key).map_err(|e| invalid(e.to_string()))?;
    if path.as_ref().is_empty() {
        return Err(invalid("the key is empty".to_owned()));
    }
    Ok(path)
}

fn read_error(store: &str, location: &ObjectPath, source: object_store::Error) -> LogError {
    LogError::Read {
        location: location.to_string(),
        store: store.to_owned(),
        source,
    }
}

async fn get_chunk(
    store: &Arc<dyn ObjectStore>,
    name: &str,
    location: &ObjectPath,
) -> Result<Bytes, LogError> {
    let result = store
        .get(location)
        .await
        .map_err(|source| read_error(name, location, source))?;
    result
        .bytes()
        .await
        .map_err(|source| read_error(name, location, source))
}

/// Writes one log: lines go into an in-memory chunk that is stored when full (as the next
/// chunk object) and, while partial, whenever [`LogWriter::flush`] is called.
///
/// Lines not yet flushed are lost if the writer is dropped: end with [`LogWriter::finish`].
/// After an error the writer keeps the lines it could not store, and the next call tries
/// again.
#[derive(Debug)]
pub struct LogWriter {
    store: Arc<dyn ObjectStore>,
    name: Arc<str>,
    prefix: ObjectPath,
    chunk_size: usize,
    /// The current chunk, never longer than `chunk_size`.
    buf: Vec<u8>,
    /// Index of the current chunk.
    index: u64,
    /// Whether `buf` holds bytes the stored copy of the current chunk lacks.
    dirty: bool,
    /// Whether any chunk object has been written.
    stored_any: bool,
    /// Bytes accepted so far, stored or not.
    total: u64,
}

impl LogWriter {
    /// Appends a line printed at `at` on `stream`. A trailing newline in `line` is dropped;
    /// a line with newlines inside is stored as several lines with the same timestamp. The
    /// bytes are stored as they are, valid UTF-8 or not. Stores the current chunk first when
    /// the line does not fit in it.
    pub async fn line(
        &mut self,
        at: DateTime<Utc>,
        stream: LogStream,
        line: &[u8],
    ) -> Result<(), LogError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let mut head = at.to_rfc3339_opts(SecondsFormat::Micros, true).into_bytes();
        head.push(b' ');
        head.extend_from_slice(stream.as_str().as_bytes());
        head.push(b' ');
        for part in line.split(|b| *b == b'\n') {
            let len = head.len() + part.len() + 1;
            if !self.buf.is_empty() && self.buf.len() + len > self.chunk_size {
                self.seal().await?;
            }
            self.append(&head).await?;
            self.append(part).await?;
            self.append(b"\n").await?;
            self.total += len as u64;
        }
        Ok(())
    }

    /// Stores the current partial chunk (replacing its previous partial copy), so readers see
    /// every line written so far. Does nothing when nothing changed since the last store.
    pub async fn flush(&mut self) -> Result<(), LogError> {
        if self.dirty {
            let data = Bytes::copy_from_slice(&self.buf);
            self.put(data).await?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Flushes and ends the log, returning its size in bytes. A log with no lines is stored
    /// as one empty chunk, so that [`LogStore::exists`] tells it from a log never written.
    /// On error, the lines not stored by then are lost (call [`LogWriter::flush`] first to be
    /// able to retry).
    pub async fn finish(mut self) -> Result<u64, LogError> {
        self.flush().await?;
        if !self.stored_any {
            self.put(Bytes::new()).await?;
        }
        Ok(self.total)
    }

    /// Bytes accepted so far, stored or not.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether no line has been written yet.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The object path of the log (its chunks are the objects under it).
    pub fn location(&self) -> &ObjectPath {
        &self.prefix
    }

    /// Adds bytes to the current chunk, storing each chunk that becomes full.
    async fn append(&mut self, mut bytes: &[u8]) -> Result<(), LogError> {
        while !bytes.is_empty() {
            if self.buf.len() >= self.chunk_size {
                self.seal().await?;
            }
            let n = (self.chunk_size - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            self.dirty = true;
            bytes = &bytes[n..];
        }
        if self.buf.len() >= self.chunk_size {
            self.seal().await?;
        }
        Ok(())
    }

    /// Stores the current chunk as final and starts the next one.
    async fn seal(&mut self) -> Result<(), LogError> {
        let data = Bytes::from(std::mem::take(&mut self.buf));
        if let Err(e) = self.put(data.clone()).await {
            self.buf = Vec::from(data);
            return Err(e);
        }
        self.index += 1;
        self.dirty = false;
        Ok(())
    }

    /// Writes `data` as the current chunk object.
    async fn put(&mut self, data: Bytes) -> Result<(), LogError> {
        let location = self.prefix.clone().join(chunk_name(self.index).as_str());
        self.store
            .put(&location, PutPayload::from_bytes(data))
            .await
            .map_err(|source| LogError::Write {
                location: location.to_string(),
                store: self.name.to_string(),
                source,
            })?;
        self.stored_any = true;
        Ok(())
    }
}
