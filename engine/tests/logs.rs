//! `engine::logs`: step logs written in chunks to an object store and read back, on a local
//! directory and in memory.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use runnel_engine::logs::{
    DEFAULT_CHUNK_SIZE, LogError, LogStore, LogStream, parse_line, stored_len,
};
use tempfile::TempDir;

/// A store of each backend, with the object store underneath (to look at the chunks) and the
/// temporary directory that must outlive it.
fn stores() -> Vec<(&'static str, Arc<dyn ObjectStore>, Option<TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    vec![
        ("local", local, Some(dir)),
        ("memory", Arc::new(InMemory::new()), None),
    ]
}

/// (name, size) of each chunk object of a log, in name order.
async fn chunks(store: &Arc<dyn ObjectStore>, key: &str) -> Vec<(String, u64)> {
    let listed = store
        .list_with_delimiter(Some(&ObjectPath::parse(key).unwrap()))
        .await
        .unwrap();
    let mut out: Vec<(String, u64)> = listed
        .objects
        .into_iter()
        .map(|m| (m.location.filename().unwrap().to_owned(), m.size))
        .collect();
    out.sort();
    out
}

fn at(micros: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 16, 30).unwrap() + chrono::Duration::microseconds(micros)
}

#[tokio::test]
async fn round_trip_with_timestamps() {
    for (backend, store, _dir) in stores() {
        let logs = LogStore::new(store);
        let mut w = logs.writer("runs/r1/build/step-compile").unwrap();
        w.line(at(123_456), LogStream::Stdout, b"compiling runnel")
            .await
            .unwrap();
        w.line(
            at(200_000),
            LogStream::Stderr,
            b"warning: unused variable\n",
        )
        .await
        .unwrap();
        w.line(at(1_000_001), LogStream::Stdout, b"").await.unwrap();
        w.line(at(2_000_000), LogStream::Stdout, b"two\nlines")
            .await
            .unwrap();
        let size = w.finish().await.unwrap();
        // What a live reader adds up for the same lines is where they end in the log.
        let counted = stored_len(at(123_456), b"compiling runnel")
            + stored_len(at(200_000), b"warning: unused variable\n")
            + stored_len(at(1_000_001), b"")
            + stored_len(at(2_000_000), b"two\nlines");
        assert_eq!(counted, size, "{backend}");

        let text = logs.read("runs/r1/build/step-compile").await.unwrap();
        let expected = "2026-11-23T10:16:30.123456Z out compiling runnel\n\
                        2026-11-23T10:16:30.200000Z err warning: unused variable\n\
                        2026-11-23T10:16:31.000001Z out \n\
                        2026-11-23T10:16:32.000000Z out two\n\
                        2026-11-23T10:16:32.000000Z out lines\n";
        assert_eq!(std::str::from_utf8(&text).unwrap(), expected, "{backend}");
        assert_eq!(size, expected.len() as u64, "{backend}");
        assert_eq!(
            logs.size("runs/r1/build/step-compile").await.unwrap(),
            size,
            "{backend}"
        );

        let lines: Vec<_> = text
            .split_inclusive(|b| *b == b'\n')
            .map(|l| parse_line(l).unwrap())
            .collect();
        assert_eq!(lines[0].at, at(123_456));
        assert_eq!(lines[0].stream, LogStream::Stdout);
        assert_eq!(lines[0].text, b"compiling runnel");
        assert_eq!(lines[1].stream, LogStream::Stderr);
        assert_eq!(lines[1].text, b"warning: unused variable");
        assert_eq!(lines[2].text, b"");
        assert_eq!(lines[2].at, at(1_000_001));
        assert_eq!(lines[4].text, b"lines");
    }
}

#[tokio::test]
async fn invalid_utf8_is_stored_as_is() {
    let raw: &[u8] = b"bytes \xff\xfe and \xc3( then text \x80";
    for (backend, store, _dir) in stores() {
        let logs = LogStore::new(store);
        let mut w = logs.writer("bin").unwrap();
        w.line(at(0), LogStream::Stderr, raw).await.unwrap();
        w.finish().await.unwrap();
        let text = logs.read("bin").await.unwrap();
        let line = parse_line(&text).unwrap();
        assert_eq!(line.text, raw, "{backend}");
        assert_eq!(line.stream, LogStream::Stderr);
        assert!(text.ends_with(b"\n"));
    }
}

#[tokio::test]
async fn chunks_roll_over_in_order_without_splitting_lines() {
    const CHUNK: usize = 200;
    for (backend, store, _dir) in stores() {
        let logs = LogStore::new(Arc::clone(&store)).with_chunk_size(CHUNK);
        let mut w = logs.writer("runs/r2/test/step").unwrap();
        for i in 0..500 {
            // Lines of varying length (42..=73 bytes with timestamp and stream).
            let text = format!("line {i} {}", "x".repeat(i % 32));
            w.line(at(i as i64), LogStream::Stdout, text.as_bytes())
                .await
                .unwrap();
        }
        w.finish().await.unwrap();

        let listed = chunks(&store, "runs/r2/test/step").await;
        assert!(listed.len() > 100, "{backend}: {} chunks", listed.len());
        for (i, (name, size)) in listed.iter().enumerate() {
            assert_eq!(name, &format!("{i:08}"), "{backend}: chunk names count up");
            assert!(
                *size as usize <= CHUNK,
                "{backend}: chunk {name} is {size} bytes"
            );
        }
        for (name, _) in &listed {
            let bytes = logs
                .object_store()
                .get(&ObjectPath::parse(format!("runs/r2/test/step/{name}")).unwrap())
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert!(
                bytes.ends_with(b"\n"),
                "{backend}: chunk {name} ends inside a line"
            );
            for line in bytes.split_inclusive(|b| *b == b'\n') {
                assert!(parse_line(line).is_some(), "{backend}: a piece of a line");
            }
        }

        let text = logs.read("runs/r2/test/step").await.unwrap();
        let texts: Vec<String> = text
            .split_inclusive(|b| *b == b'\n')
            .map(|l| String::from_utf8(parse_line(l).unwrap().text.to_vec()).unwrap())
            .collect();
        assert_eq!(texts.len(), 500);
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(t, &format!("line {i} {}", "x".repeat(i % 32)), "{backend}");
        }

        // The stream gives the same bytes, chunk by chunk.
        let streamed: Vec<_> = logs
            .stream("runs/r2/test/step")
            .map(|c| c.unwrap())
            .collect()
            .await;
        assert_eq!(streamed.len(), listed.len());
        assert_eq!(streamed.concat(), text.to_vec());
    }
}

#[tokio::test]
async fn a_line_longer_than_a_chunk_is_split() {
    for (backend, store, _dir) in stores() {
        let logs = LogStore::new(Arc::clone(&store)).with_chunk_size(64);
        let mut w = logs.writer("long").unwrap();
        w.line(at(0), LogStream::Stdout, b"short").await.unwrap();
        let long = "y".repeat(300);
        w.line(at(1), LogStream::Stdout, long.as_bytes())
            .await
            .unwrap();
        w.line(at(2), LogStream::Stdout, b"after").await.unwrap();
        w.finish().await.unwrap();
        for (name, size) in chunks(&store, "long").await {
            assert!(size <= 64, "{backend}: chunk {name} is {size} bytes");
        }
        let text = logs.read("long").await.unwrap();
        let lines: Vec<_> = text
            .split_inclusive(|b| *b == b'\n')
            .map(|l| parse_line(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{backend}");
        assert_eq!(lines[1].text, long.as_bytes());
        assert_eq!(lines[2].text, b"after");
    }
}

#[tokio::test]
async fn flush_shows_recent_lines_while_the_writer_goes_on() {
    for (backend, store, _dir) in stores() {
        let writer_side = LogStore::new(Arc::clone(&store)).with_chunk_size(1000);
        let reader = LogStore::new(store);
        let key = "runs/r3/deploy/step";
        assert!(!reader.exists(key).await.unwrap());

        let mut w = writer_side.writer(key).unwrap();
        w.line(at(0), LogStream::Stdout, b"one").await.unwrap();
        assert!(
            reader.read(key).await.unwrap().is_empty(),
            "{backend}: nothing is stored before a flush"
        );
        w.flush().await.unwrap();
        let first = reader.read(key).await.unwrap();
        assert_eq!(parse_line(&first).unwrap().text, b"one", "{backend}");
        assert!(reader.exists(key).await.unwrap());

        // The writer continues: past several chunks, then a partial one.
        let mut count = 1;
        while w.len() < 3500 {
            w.line(
                at(count),
                LogStream::Stderr,
                format!("line {count}").as_bytes(),
            )
            .await
            .unwrap();
            count += 1;
        }
        let before_flush = reader.size(key).await.unwrap();
        assert!(before_flush < w.len(), "{backend}");
        w.flush().await.unwrap();
        let seen = reader.read(key).await.unwrap();
        assert_eq!(
            seen.len() as u64,
            w.len(),
            "{backend}: all lines after a flush"
        );
        assert!(seen.starts_with(&first));
        let last = seen[..seen.len() - 1]
            .rsplit(|b| *b == b'\n')
            .next()
            .unwrap();
        assert_eq!(
            parse_line(last).unwrap().text,
            format!("line {}", count - 1).as_bytes()
        );

        // Flushing again without new lines changes nothing; more lines after it show up at
        // the next flush.
        w.flush().await.unwrap();
        w.line(at(count), LogStream::Stdout, b"last").await.unwrap();
        assert_eq!(reader.read(key).await.unwrap(), seen);
        let size = w.finish().await.unwrap();
        let all = reader.read(key).await.unwrap();
        assert_eq!(all.len() as u64, size);
        assert!(all.ends_with(b" out last\n"));
    }
}

#[tokio::test]
async fn read_range_spans_chunk_boundaries() {
    for (backend, store, _dir) in stores() {
        let logs = LogStore::new(Arc::clone(&store)).with_chunk_size(100);
        let mut w = logs.writer("ranges").unwrap();
        for i in 0..40 {
            w.line(at(i), LogStream::Stdout, format!("n{i}").as_bytes())
                .await
                .unwrap();
        }
        w.finish().await.unwrap();
        assert!(chunks(&store, "ranges").await.len() > 10);

        let all = logs.read("ranges").await.unwrap();
        let size = logs.size("ranges").await.unwrap();
        assert_eq!(size, all.len() as u64, "{backend}");
        for start in (0..size + 20).step_by(7) {
            for len in [0, 1, 35, 99, 100, 101, 250, 5000] {
                let got = logs.read_range("ranges", start..start + len).await.unwrap();
                let lo = (start as usize).min(all.len());
                let hi = ((start + len) as usize).min(all.len());
                assert_eq!(
                    got,
                    all.slice(lo..hi),
                    "{backend}: {start}..{}",
                    start + len
                );
            }
        }
        // Past the end, and backwards, give nothing.
        assert!(
            logs.read_range("ranges", size + 5..size + 10)
                .await
                .unwrap()
                .is_empty()
        );
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = logs.read_range("ranges", 50..10).await.unwrap();
        assert!(backwards.is_empty());
    }
}

#[tokio::test]
async fn missing_and_empty_logs() {
    for (backend, store, _dir) in stores() {
        let logs = LogStore::new(store);
        assert!(!logs.exists("nothing/here").await.unwrap(), "{backend}");
        assert_eq!(logs.size("nothing/here").await.unwrap(), 0);
        assert!(logs.read("nothing/here").await.unwrap().is_empty());
        assert!(
            logs.read_range("nothing/here", 0..10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(logs.stream("nothing/here").count().await, 0);

        // A step that printed nothing still has a log.
        let w = logs.writer("quiet").unwrap();
        assert_eq!(w.finish().await.unwrap(), 0);
        assert!(logs.exists("quiet").await.unwrap(), "{backend}");
        assert_eq!(logs.size("quiet").await.unwrap(), 0);

        // A log under another log's key is not part of it.
        let mut w = logs.writer("quiet/nested").unwrap();
        w.line(at(0), LogStream::Stdout, b"x").await.unwrap();
        w.finish().await.unwrap();
        assert_eq!(logs.size("quiet").await.unwrap(), 0, "{backend}");

        logs.delete("quiet/nested").await.unwrap();
        assert!(!logs.exists("quiet/nested").await.unwrap());
    }
}

#[tokio::test]
async fn invalid_keys_and_urls_are_refused() {
    let logs = LogStore::in_memory();
    for key in ["", "/", "a//b", "a/../b"] {
        let err = logs.writer(key).unwrap_err();
        assert!(matches!(err, LogError::InvalidKey { .. }), "{key}: {err}");
        assert!(err.to_string().contains("invalid log key"), "{err}");
    }
    let err = LogStore::from_url("ftp://example.com/logs").unwrap_err();
    assert!(err.to_string().contains("file:///"), "{err}");
    let err = LogStore::from_url("file://relative/path").unwrap_err();
    assert!(err.to_string().contains("absolute path"), "{err}");
    assert!(LogStore::from_url("s3:///prefix").is_err());
}

#[tokio::test]
async fn stores_from_urls() {
    let dir = tempfile::tempdir().unwrap();
    let logs_dir = dir.path().join("nested/logs");
    let url = format!("file://{}", logs_dir.display());
    let logs = LogStore::from_url(&url).unwrap();
    assert!(logs_dir.is_dir(), "the directory is created");
    let mut w = logs.writer("a/b").unwrap();
    w.line(at(0), LogStream::Stdout, b"hello").await.unwrap();
    w.finish().await.unwrap();
    assert!(logs_dir.join("a/b/00000000").is_file());
    // Another store on the same directory reads it.
    let again = LogStore::local(&logs_dir).unwrap();
    assert_eq!(
        parse_line(&again.read("a/b").await.unwrap()).unwrap().text,
        b"hello"
    );

    let memory = LogStore::from_url("memory://").unwrap();
    assert!(!memory.exists("a/b").await.unwrap());

    // Building an S3 store sends nothing over the network.
    let s3 = LogStore::from_url("s3://runnel-logs/ci/main").unwrap();
    assert!(
        s3.object_store().to_string().contains("ci/main"),
        "{}",
        s3.object_store()
    );
}

#[test]
fn parse_line_rejects_other_text() {
    assert!(parse_line(b"").is_none());
    assert!(parse_line(b"hello world").is_none());
    assert!(parse_line(b"2026-11-23T10:16:30.123456Z").is_none());
    assert!(parse_line(b"2026-11-23T10:16:30.123456Z xyz text").is_none());
    assert!(parse_line(b"2026-11-23T10:16:30.123456Z outtext").is_none());
    let line = parse_line(b"2026-11-23T10:16:30.123456Z err  two spaces\n").unwrap();
    assert_eq!(line.text, b" two spaces");
    assert_eq!(line.at, at(123_456));
}

/// A 100 MB log through a writer with the default chunk size: every chunk is at most the
/// chunk size (so the writer never held more than one chunk), and the content is intact.
#[tokio::test(flavor = "multi_thread")]
async fn a_100_mb_log() {
    const TOTAL: u64 = 100 * 1000 * 1000;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let logs = LogStore::new(Arc::clone(&store));
    assert_eq!(logs.chunk_size(), DEFAULT_CHUNK_SIZE);
    let key = "runs/big/task/step";
    let mut w = logs.writer(key).unwrap();
    let padding = "abcdefghijklmnopqrstuvwxyz".repeat(3);
    let mut written = 0u64;
    let mut i = 0u64;
    let mut longest = 0;
    while written < TOTAL {
        let text = format!("line {i:09} {}", &padding[..(i % 70) as usize]);
        let stream = if i.is_multiple_of(5) {
            LogStream::Stderr
        } else {
            LogStream::Stdout
        };
        w.line(at(i as i64), stream, text.as_bytes()).await.unwrap();
        let record = 27 + 1 + 3 + 1 + text.len() + 1;
        longest = longest.max(record);
        written += record as u64;
        if i.is_multiple_of(100_000) {
            w.flush().await.unwrap();
        }
        i += 1;
    }
    let lines = i;
    assert_eq!(w.finish().await.unwrap(), written);
    assert_eq!(logs.size(key).await.unwrap(), written);

    let listed = chunks(&store, key).await;
    assert!(listed.len() >= 95, "{} chunks", listed.len());
    for (name, size) in &listed {
        assert!(
            *size as usize <= DEFAULT_CHUNK_SIZE + longest,
            "chunk {name} is {size} bytes"
        );
    }

    // Spot checks: the first line, lines around every tenth chunk boundary, the last line.
    let head = logs.read_range(key, 0..200).await.unwrap();
    let first = parse_line(head.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first.text, b"line 000000000 ");
    assert_eq!(first.stream, LogStream::Stderr);
    let mut offset = 0u64;
    for (n, (_, size)) in listed.iter().enumerate() {
        offset += size;
        if n % 10 == 0 && offset < written {
            let around = logs
                .read_range(key, offset - 150..offset + 150)
                .await
                .unwrap();
            let (before, after) = around.split_at(150);
            assert!(before.ends_with(b"\n"), "chunk {n} ends inside a line");
            let next = parse_line(after.split(|b| *b == b'\n').next().unwrap()).unwrap();
            assert!(next.text.starts_with(b"line "));
        }
    }
    let tail = logs
        .read_range(key, written - 200..written + 1000)
        .await
        .unwrap();
    let last = tail[..tail.len() - 1]
        .rsplit(|b| *b == b'\n')
        .next()
        .unwrap();
    let last = parse_line(last).unwrap();
    assert!(
        last.text
            .starts_with(format!("line {:09} ", lines - 1).as_bytes())
    );
    assert_eq!(last.at, at(lines as i64 - 1));

    // Streaming reads it one chunk at a time.
    let mut stream = logs.stream(key);
    let mut total = 0u64;
    let mut chunks_seen = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.len() <= DEFAULT_CHUNK_SIZE + longest);
        total += chunk.len() as u64;
        chunks_seen += 1;
    }
    assert_eq!(total, written);
    assert_eq!(chunks_seen, listed.len());
}
