//! Content digests (`sha256:<64 hex>`), a streaming hasher, and readers/writers that hash and
//! count the bytes passing through them.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// The only digest algorithm Wharf computes and accepts.
pub const SHA256: &str = "sha256";

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not of the form `algorithm:hex`.
    #[error("invalid checksum digest format: {0:?}")]
    Format(String),
    /// An algorithm other than sha256.
    #[error("unsupported digest algorithm: {0:?}")]
    Unsupported(String),
    /// The hex part has the wrong length or non-lowercase-hex characters.
    #[error(
        "invalid checksum digest length or characters: {0:?} (sha256 needs 64 lowercase hex digits)"
    )]
    Hex(String),
}

/// A content digest, always `sha256:<64 lowercase hex>`; an image ID is the digest of its config.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let Some((algo, hex)) = s.split_once(':') else {
            return Err(DigestError::Format(s.to_string()));
        };
        if algo.is_empty() || hex.is_empty() {
            return Err(DigestError::Format(s.to_string()));
        }
        if algo != SHA256 {
            return Err(DigestError::Unsupported(s.to_string()));
        }
        if !is_hex64(hex) {
            return Err(DigestError::Hex(s.to_string()));
        }
        Ok(Digest(s.to_string()))
    }

    /// Builds a sha256 digest from its 64 hex digits.
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        Digest::parse(&format!("{SHA256}:{hex}"))
    }

    /// The sha256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        let mut h = Hasher::new();
        h.update(bytes);
        h.finish()
    }

    /// The algorithm (`sha256`).
    pub fn algorithm(&self) -> &str {
        SHA256
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0[SHA256.len() + 1..]
    }

    /// The first 12 hex digits, as `docker images` shows IDs.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    /// The whole `sha256:<hex>` string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// True when `s` is exactly 64 lowercase hex digits.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An incremental sha256 hasher that also counts bytes.
#[derive(Clone, Default)]
pub struct Hasher {
    inner: Sha256,
    len: u64,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher").field("len", &self.len).finish()
    }
}

impl Hasher {
    /// A fresh sha256 hasher.
    pub fn new() -> Hasher {
        Hasher::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        Digest(format!("{SHA256}:{}", hex::encode(self.inner.finalize())))
    }
}

/// A reader that hashes and counts what is read through it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// True when nothing was read yet.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// The digest and count of everything read.
    pub fn finish(self) -> (Digest, u64) {
        let n = self.hasher.len();
        (self.hasher.finish(), n)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes and counts what is written through it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// True when nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// The inner writer, the digest and the count of everything written.
    pub fn finish(self) -> (W, Digest, u64) {
        let n = self.hasher.len();
        (self.inner, self.hasher.finish(), n)
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

/// Hashes a whole stream, returning its digest and length.
pub fn digest_reader(r: impl Read) -> io::Result<(Digest, u64)> {
    let mut hr = HashingReader::new(r);
    io::copy(&mut hr, &mut io::sink())?;
    Ok(hr.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn of_empty_is_known_value() {
        assert_eq!(Digest::of(b"").to_string(), EMPTY);
        let d = Digest::parse(EMPTY).expect("valid digest");
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(d.hex().len(), 64);
    }

    #[test]
    fn parse_rejects_bad_input() {
        assert!(matches!(Digest::parse("e3b0"), Err(DigestError::Format(_))));
        assert!(matches!(
            Digest::parse("md5:abcd"),
            Err(DigestError::Unsupported(_))
        ));
        assert!(matches!(
            Digest::parse("sha256:abcd"),
            Err(DigestError::Hex(_))
        ));
        let upper = EMPTY.to_uppercase().replace("SHA256", "sha256");
        assert!(matches!(Digest::parse(&upper), Err(DigestError::Hex(_))));
    }

    #[test]
    fn serde_round_trip_as_string() {
        let d = Digest::of(b"x");
        let j = serde_json::to_string(&d).expect("serialize");
        assert_eq!(j, format!("\"{d}\""));
        let back: Digest = serde_json::from_str(&j).expect("deserialize");
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }

    #[test]
    fn hashing_reader_and_writer_agree() {
        let data = vec![7u8; 100_000];
        let (d, n) = digest_reader(&data[..]).expect("read");
        assert_eq!(n, 100_000);
        assert_eq!(d, Digest::of(&data));
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(&data).expect("write");
        let (out, d2, n2) = w.finish();
        assert_eq!((d2, n2), (d, 100_000));
        assert_eq!(out, data);
    }
}
