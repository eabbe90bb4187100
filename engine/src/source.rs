//! Source files and positions. Every YAML node, model value and diagnostic points back into a
//! [`SourceMap`] through a [`Span`]: a file id, a byte range, and the 1-based line and column
//! (in characters) of its start, so a span can be printed without the map at hand.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A range of a source file: byte offsets plus the line and column of its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    /// Byte offset of the first byte.
    pub start: u32,
    /// Byte offset one past the last byte.
    pub end: u32,
    /// 1-based line of `start`.
    pub line: u32,
    /// 1-based column of `start`, counted in characters.
    pub col: u32,
}

impl Span {
    /// An empty span at the start of `file`, for problems about a whole file.
    pub fn file_start(file: FileId) -> Span {
        Span {
            file,
            start: 0,
            end: 0,
            line: 1,
            col: 1,
        }
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// One loaded file: its name as the user gave it, and its text.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: Arc<str>,
    line_starts: Vec<u32>,
}

impl SourceFile {
    fn new(path: PathBuf, text: Arc<str>) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| (i + 1) as u32),
        );
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    /// Byte offset of a 1-based line and a 0-based character column.
    pub fn offset_of(&self, line: usize, col_chars: usize) -> u32 {
        let Some(&line_start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len() as u32;
        };
        let rest = &self.text[line_start as usize..];
        let within = rest
            .char_indices()
            .nth(col_chars)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        line_start + within as u32
    }

    /// A span over `start..end` (byte offsets), with its line and column computed.
    pub fn span(&self, id: FileId, start: u32, end: u32) -> Span {
        let (line, col) = self.line_col(start);
        Span {
            file: id,
            start,
            end,
            line,
            col,
        }
    }

    /// 1-based line and character column of a byte offset.
    pub fn line_col(&self, offset: u32) -> (u32, u32) {
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let line_start = self.line_starts[line_idx] as usize;
        let end = (offset as usize).min(self.text.len());
        let col = self
            .text
            .get(line_start..end)
            .map_or(end - line_start, |s| s.chars().count());
        (line_idx as u32 + 1, col as u32 + 1)
    }

    /// The full text of the given 1-based line, without its line break.
    pub fn line_text(&self, line: u32) -> &str {
        let idx = line.saturating_sub(1) as usize;
        let Some(&start) = self.line_starts.get(idx) else {
            return "";
        };
        let end = self
            .line_starts
            .get(idx + 1)
            .map_or(self.text.len(), |&e| e as usize);
        self.text[start as usize..end].trim_end_matches(['\n', '\r'])
    }

    /// The text a span covers.
    pub fn slice(&self, span: Span) -> &str {
        self.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }
}

/// Every file read in one invocation, addressed by [`FileId`].
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile::new(path.into(), text.into()));
        id
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn path(&self, id: FileId) -> &Path {
        &self.get(id).path
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// `file:line:col` for a span.
    pub fn location(&self, span: Span) -> Location<'_> {
        Location {
            path: self.path(span.file),
            line: span.line,
            col: span.col,
        }
    }
}

/// A printable `file:line:col`.
pub struct Location<'a> {
    pub path: &'a Path,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let mut map = SourceMap::new();
        let id = map.add("a.yaml", "a: é\nb: x\n");
        let file = map.get(id);
        assert_eq!(file.line_col(0), (1, 1));
        // 'x' is after "a: é\n" (6 bytes) + "b: " (3 bytes)
        assert_eq!(file.line_col(9), (2, 4));
        // byte 5 is the newline after the two-byte 'é' (col 5 in characters)
        assert_eq!(file.line_col(5), (1, 5));
        assert_eq!(file.offset_of(1, 4), 5);
        assert_eq!(file.offset_of(2, 3), 9);
        assert_eq!(file.line_text(2), "b: x");
    }
}
