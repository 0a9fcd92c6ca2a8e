//! The container's log in Docker's json-file format: one JSON object a line,
//! `{"log":"tick\n","stream":"stdout","time":"2026-11-21T17:00:00.123456789Z"}`.
//!
//! Output is split at newlines as Docker does: each complete line is a record (its `\n`, and a
//! terminal's `\r\n`, kept); a partial line waits for the rest, and is written as a record of
//! its own when it reaches [`MAX_PARTIAL`] bytes or when its stream ends.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

/// The longest partial line held back before it is written as a record (Docker's 16 KiB).
pub const MAX_PARTIAL: usize = 16 * 1024;

/// Which stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

#[derive(Serialize)]
struct Record<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

/// Splits output into records and appends them to a file. Writing never waits for anyone but
/// the file system; a failed write is reported once and the log goes on.
#[derive(Debug)]
pub struct JsonLog<W: Write = File> {
    out: W,
    pending: [Vec<u8>; 2],
    batch: Vec<u8>,
    failed: bool,
}

impl JsonLog<File> {
    /// Opens (creating it if needed) the log file for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        Ok(JsonLog::new(file))
    }
}

impl<W: Write> JsonLog<W> {
    /// A log writing to `out`.
    pub fn new(out: W) -> Self {
        JsonLog {
            out,
            pending: [Vec::new(), Vec::new()],
            batch: Vec::new(),
            failed: false,
        }
    }

    /// Adds output read from `stream` at time `time` (already formatted).
    pub fn write(&mut self, stream: Stream, data: &[u8], time: &str) {
        let i = stream.index();
        let mut rest = data;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(pos + 1);
            if self.pending[i].is_empty() {
                record(&mut self.batch, line, stream, time);
            } else {
                let mut joined = std::mem::take(&mut self.pending[i]);
                joined.extend_from_slice(line);
                record(&mut self.batch, &joined, stream, time);
                joined.clear();
                self.pending[i] = joined;
            }
            rest = tail;
        }
        self.pending[i].extend_from_slice(rest);
        while self.pending[i].len() >= MAX_PARTIAL {
            let chunk: Vec<u8> = self.pending[i].drain(..MAX_PARTIAL).collect();
            record(&mut self.batch, &chunk, stream, time);
        }
        if self.pending[i].is_empty() && self.pending[i].capacity() > MAX_PARTIAL {
            self.pending[i] = Vec::new();
        }
        self.flush_batch();
    }

    /// Writes what is left of a partial line of `stream` (its end was reached).
    pub fn finish(&mut self, stream: Stream, time: &str) {
        let i = stream.index();
        if !self.pending[i].is_empty() {
            let rest = std::mem::take(&mut self.pending[i]);
            record(&mut self.batch, &rest, stream, time);
            self.flush_batch();
        }
    }

    fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        if let Err(e) = self.out.write_all(&self.batch) {
            if !self.failed {
                eprintln!("shim: writing the container log failed (output is lost): {e}");
                self.failed = true;
            }
        }
        self.batch.clear();
        if self.batch.capacity() > 4 * MAX_PARTIAL {
            self.batch = Vec::new();
        }
    }

    /// The writer, for tests.
    pub fn get_ref(&self) -> &W {
        &self.out
    }
}

/// Appends one record to `batch`. Bytes that are not UTF-8 become U+FFFD, as in Docker.
fn record(batch: &mut Vec<u8>, line: &[u8], stream: Stream, time: &str) {
    let log = String::from_utf8_lossy(line);
    let rec = Record {
        log: &log,
        stream: stream.name(),
        time,
    };
    // Serializing a struct of strings into a Vec cannot fail.
    if serde_json::to_writer(&mut *batch, &rec).is_ok() {
        batch.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(log: &JsonLog<Vec<u8>>) -> Vec<(String, String)> {
        String::from_utf8(log.get_ref().clone())
            .expect("the log is UTF-8")
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
                (
                    v["log"].as_str().expect("log is a string").to_string(),
                    v["stream"]
                        .as_str()
                        .expect("stream is a string")
                        .to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn complete_lines_are_records() {
        let mut log = JsonLog::new(Vec::new());
        log.write(Stream::Stdout, b"a\nb\n", "T");
        assert_eq!(
            records(&log),
            vec![
                ("a\n".into(), "stdout".into()),
                ("b\n".into(), "stdout".into())
            ]
        );
        let line = String::from_utf8(log.get_ref().clone()).expect("utf-8");
        assert_eq!(
            line.lines().next().expect("a line"),
            r#"{"log":"a\n","stream":"stdout","time":"T"}"#
        );
    }

    #[test]
    fn partial_lines_wait_for_their_end_per_stream() {
        let mut log = JsonLog::new(Vec::new());
        log.write(Stream::Stdout, b"hel", "T");
        log.write(Stream::Stderr, b"oops\n", "T");
        log.write(Stream::Stdout, b"lo\nwor", "T");
        assert_eq!(
            records(&log),
            vec![
                ("oops\n".into(), "stderr".into()),
                ("hello\n".into(), "stdout".into())
            ]
        );
        log.finish(Stream::Stdout, "T");
        assert_eq!(records(&log)[2], ("wor".into(), "stdout".into()));
        log.finish(Stream::Stdout, "T");
        assert_eq!(records(&log).len(), 3);
    }

    #[test]
    fn long_partial_lines_are_cut_at_16k() {
        let mut log = JsonLog::new(Vec::new());
        log.write(Stream::Stdout, &vec![b'x'; MAX_PARTIAL + 10], "T");
        let r = records(&log);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0.len(), MAX_PARTIAL);
        log.write(Stream::Stdout, b"\n", "T");
        assert_eq!(records(&log)[1].0, "xxxxxxxxxx\n");
    }

    #[test]
    fn terminal_line_ends_are_kept_and_bad_utf8_replaced() {
        let mut log = JsonLog::new(Vec::new());
        log.write(Stream::Stdout, b"hi\r\n\xff\n", "T");
        assert_eq!(
            records(&log),
            vec![
                ("hi\r\n".into(), "stdout".into()),
                ("\u{fffd}\n".into(), "stdout".into())
            ]
        );
    }
}
