//! Input streams: compression detection by magic bytes, hashing of the uncompressed tar, and
//! telling apart a failing source (an I/O error) from a corrupt stream (an invalid layer).

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use crate::error::Error;

/// The compression of a layer stream, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

/// Records whether the wrapped source ever failed, so errors surfacing through decompressors
/// and the tar parser can be classified.
pub(crate) struct SourceReader<R> {
    inner: R,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for SourceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed.store(true, Ordering::Relaxed);
            }
        })
    }
}

/// Classifies errors raised while reading a tar stream.
#[derive(Clone)]
pub(crate) struct StreamErrors {
    failed: Arc<AtomicBool>,
    what: &'static str,
}

impl StreamErrors {
    /// An I/O error from the source stays an I/O error; anything else means the stream
    /// itself is malformed.
    pub(crate) fn classify(&self, e: io::Error) -> Error {
        if self.failed.load(Ordering::Relaxed) {
            Error::io(format!("reading the {} stream", self.what), e)
        } else {
            Error::Malformed {
                what: self.what,
                reason: format!("reading the tar stream: {e}"),
            }
        }
    }
}

/// sha256 of everything read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    /// Reads what is left (the tar's end blocks and padding) and returns `sha256:<hex>`.
    pub(crate) fn finish(mut self) -> io::Result<String> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(format!("sha256:{}", hex::encode(self.hasher.finalize())))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// sha256 of everything written through it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// Returns `sha256:<hex>` of what was written.
    pub(crate) fn digest(self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// An uncompressed tar stream, hashed as it is read.
pub(crate) type Decompressed<'a> = HashingReader<Box<dyn Read + 'a>>;

/// Detects the compression of `input` by its magic bytes and returns the uncompressed stream
/// (hashed as it is read), with the classifier for errors raised while reading it.
pub(crate) fn open_tar_stream<'a, R: Read + 'a>(
    input: R,
    what: &'static str,
) -> Result<(Decompressed<'a>, StreamErrors), Error> {
    let failed = Arc::new(AtomicBool::new(false));
    let errors = StreamErrors {
        failed: failed.clone(),
        what,
    };
    let mut source = SourceReader {
        inner: input,
        failed,
    };
    let mut magic = Vec::with_capacity(6);
    while magic.len() < 6 {
        let mut buf = [0u8; 6];
        let want = 6 - magic.len();
        match source.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => magic.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(errors.classify(e)),
        }
    }
    let compression = if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if magic.starts_with(b"BZh") || magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(Error::Malformed {
            what,
            reason: "bzip2 and xz compression are not supported (use plain tar, gzip or zstd)"
                .to_string(),
        });
    } else {
        Compression::None
    };
    let chained = io::Cursor::new(magic).chain(source);
    let reader: Box<dyn Read + 'a> = match compression {
        Compression::None => Box::new(chained),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(chained)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(chained)
                .map_err(|e| Error::io("starting the zstd decoder", e))?,
        ),
    };
    Ok((
        HashingReader {
            inner: reader,
            hasher: Sha256::new(),
        },
        errors,
    ))
}
