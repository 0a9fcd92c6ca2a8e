//! Reading the json-file log a container's supervisor writes (`docker logs`).

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::mpsc;

/// One record of Docker's json-file log driver.
#[derive(Debug, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub timestamps: bool,
    /// Only the last N lines (None: all).
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Without a TTY, output is framed as the multiplexed stream.
    pub multiplexed: bool,
}

/// An 8-byte stream header followed by the payload.
pub fn frame(stream: u8, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.push(stream);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// Docker's timestamp prefix: RFC 3339 with nanoseconds, always 9 digits.
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

fn render(entry: &Entry, opts: &Options) -> Option<Bytes> {
    let stream = match entry.stream.as_str() {
        "stdout" if opts.stdout => 1,
        "stderr" if opts.stderr => 2,
        _ => return None,
    };
    if opts.since.is_some_and(|s| entry.time < s) || opts.until.is_some_and(|u| entry.time > u) {
        return None;
    }
    let mut text = Vec::new();
    if opts.timestamps {
        text.extend_from_slice(timestamp(&entry.time).as_bytes());
        text.push(b' ');
    }
    text.extend_from_slice(entry.log.as_bytes());
    Some(if opts.multiplexed {
        frame(stream, &text)
    } else {
        Bytes::from(text)
    })
}

/// Streams the log into `tx`. With `follow`, keeps reading until `running()` says the
/// container stopped and the file is drained, or the receiver goes away.
pub async fn stream(
    path: &Path,
    opts: Options,
    tx: mpsc::Sender<Bytes>,
    running: impl Fn() -> bool,
) {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(_) if opts.follow => {
            // The supervisor creates the log at start; wait for it.
            loop {
                if let Ok(f) = std::fs::File::open(path) {
                    break f;
                }
                if !running() || tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(_) => return,
    };
    let mut reader = BufReader::new(file);
    // The past: read everything, keep the tail.
    let mut past: std::collections::VecDeque<Bytes> = Default::default();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !line.ends_with('\n') {
            // A record being written: go back and read it whole later.
            let back = line.len() as i64;
            let _ = reader.seek(SeekFrom::Current(-back));
            break;
        }
        if let Ok(entry) = serde_json::from_str::<Entry>(&line)
            && let Some(b) = render(&entry, &opts)
        {
            past.push_back(b);
            if let Some(n) = opts.tail
                && past.len() > n
            {
                past.pop_front();
            }
        }
    }
    for b in past {
        if tx.send(b).await.is_err() {
            return;
        }
    }
    if !opts.follow {
        return;
    }
    loop {
        line.clear();
        let pos = reader.stream_position().unwrap_or(0);
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 && line.ends_with('\n') => {
                if let Ok(entry) = serde_json::from_str::<Entry>(&line)
                    && let Some(b) = render(&entry, &opts)
                    && tx.send(b).await.is_err()
                {
                    return;
                }
                continue;
            }
            _ => {
                let _ = reader.seek(SeekFrom::Start(pos));
            }
        }
        if tx.is_closed() {
            return;
        }
        if !running() {
            // One more pass for what was written just before the exit.
            let mut rest = String::new();
            while reader.read_line(&mut rest).unwrap_or(0) > 0 {
                if rest.ends_with('\n')
                    && let Ok(entry) = serde_json::from_str::<Entry>(&rest)
                    && let Some(b) = render(&entry, &opts)
                    && tx.send(b).await.is_err()
                {
                    return;
                }
                rest.clear();
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Parses `since`/`until`: Unix seconds with an optional fraction, or RFC 3339.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if s.is_empty() || s == "0" {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos_str = frac.to_string();
    nanos_str.truncate(9);
    while nanos_str.len() < 9 {
        nanos_str.push('0');
    }
    let nanos: u32 = nanos_str.parse().ok()?;
    DateTime::from_timestamp(secs, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_docker_headers() {
        let f = frame(2, b"hi\n");
        assert_eq!(&f[..8], &[2, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(&f[8..], b"hi\n");
    }

    #[test]
    fn times() {
        let t = parse_time("1700000000.5").expect("unix");
        assert_eq!(t.timestamp(), 1_700_000_000);
        assert_eq!(t.timestamp_subsec_nanos(), 500_000_000);
        assert!(parse_time("2026-11-21T10:00:00Z").is_some());
        assert!(parse_time("0").is_none());
    }

    #[tokio::test]
    async fn tail_and_filters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let mut text = String::new();
        for (i, s) in ["stdout", "stderr", "stdout", "stdout"].iter().enumerate() {
            text.push_str(&format!(
                "{{\"log\":\"line{i}\\n\",\"stream\":\"{s}\",\"time\":\"2026-11-21T10:00:0{i}.000000001Z\"}}\n"
            ));
        }
        std::fs::write(&path, text).expect("write");
        let (tx, mut rx) = mpsc::channel(16);
        let opts = Options {
            stdout: true,
            stderr: false,
            tail: Some(2),
            ..Default::default()
        };
        stream(&path, opts, tx, || false).await;
        let mut got = Vec::new();
        while let Some(b) = rx.recv().await {
            got.extend_from_slice(&b);
        }
        assert_eq!(String::from_utf8_lossy(&got), "line2\nline3\n");
    }
}
