//! Image references normalised as Docker does (distribution/reference's `ParseNormalizedNamed`,
//! `TagNameOnly` and `FamiliarString`): `busybox` is `docker.io/library/busybox`, with the
//! default tag `latest` when asked for.

use std::fmt;

use crate::digest::{Digest, is_hex64};

/// The registry assumed when a name has none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The old spelling of the default registry, rewritten to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The repository prefix for official images on the default registry.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag assumed when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Longest allowed `domain/path`.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a string is not a valid image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The repository path has upper-case letters (Docker's wording).
    #[error("invalid reference format: repository name ({path}) must be lowercase")]
    Uppercase {
        /// The offending repository path, e.g. `library/Busybox`.
        path: String,
    },
    /// A bare 64-hex string cannot be a repository name (Docker's wording).
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    /// `domain/path` is longer than 255 characters.
    #[error("invalid reference format: repository name must not be more than 255 characters ({0})")]
    TooLong(String),
    /// Any other grammar violation.
    #[error("invalid reference format: {reason} in {input:?}")]
    Format {
        /// The string given.
        input: String,
        /// Which part broke the grammar.
        reason: String,
    },
}

impl ReferenceError {
    fn format(input: &str, reason: impl Into<String>) -> Self {
        ReferenceError::Format {
            input: input.to_string(),
            reason: reason.into(),
        }
    }
}

/// A normalised image reference: `domain/path[:tag][@digest]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises a reference as `docker` does: `busybox` →
    /// `docker.io/library/busybox` (no tag added; see [`Reference::with_default_tag`]).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if is_hex64(s) {
            return Err(ReferenceError::HexName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => remainder.as_str(),
        };
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::Uppercase {
                path: remote.to_string(),
            });
        }
        let (name_tag, digest) = match remainder.split_once('@') {
            Some((n, d)) => {
                let digest = Digest::parse(d)
                    .map_err(|e| ReferenceError::format(s, format!("bad digest: {e}")))?;
                (n, Some(digest))
            }
            None => (remainder.as_str(), None),
        };
        let (path, tag) = match name_tag.rsplit_once(':') {
            Some((p, t)) => (p, Some(t)),
            None => (name_tag, None),
        };
        validate_domain(s, &domain)?;
        validate_path(s, path)?;
        if let Some(t) = tag {
            validate_tag(s, t)?;
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::TooLong(s.to_string()));
        }
        Ok(Reference {
            domain,
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `domain/path`, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// True when the reference has neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// Adds the tag `latest` when there is neither tag nor digest (Docker's `TagNameOnly`).
    pub fn with_default_tag(mut self) -> Reference {
        if self.is_name_only() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The same repository with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        validate_tag(tag, tag)?;
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// The same repository with `digest` and no tag (a repo digest, `name@sha256:…`).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// The repository alone, without tag or digest.
    pub fn repository(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// The short name Docker shows (`FamiliarName`): `busybox`, `user/app`,
    /// `localhost:5000/a/b`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The short form Docker shows (`FamiliarString`): `busybox:latest`.
    pub fn familiar(&self) -> String {
        self.suffixed(self.familiar_name())
    }

    fn suffixed(&self, mut s: String) -> String {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
        s
    }
}

impl fmt::Display for Reference {
    /// The full normalised form, e.g. `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.suffixed(self.name()))
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl serde::Serialize for Reference {
    /// As the full normalised string.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// True when `s` could be (a prefix of) an image ID: 1 to 64 lowercase hex digits, optionally
/// after `sha256:`.
pub fn looks_like_id_prefix(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    !hex.is_empty()
        && hex.len() <= 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Docker's `splitDockerDomain`: the first component is a registry only if it has a `.` or `:`,
/// is `localhost`, or has upper case letters.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.find('/') {
        Some(i) => {
            let first = &name[..i];
            if !first.contains(['.', ':']) && first != "localhost" && first.to_lowercase() == first
            {
                (DEFAULT_DOMAIN.to_string(), name.to_string())
            } else {
                (first.to_string(), name[i + 1..].to_string())
            }
        }
        None => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

fn validate_domain(input: &str, domain: &str) -> Result<(), ReferenceError> {
    let bad = |why: &str| {
        Err(ReferenceError::format(
            input,
            format!("registry {domain:?} {why}"),
        ))
    };
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return bad("has an unterminated IPv6 address");
        };
        let addr = &rest[..end];
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return bad("has an invalid IPv6 address");
        }
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => (None, Some(p)),
            None if after.is_empty() => (None, None),
            None => return bad("has junk after the IPv6 address"),
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(h) = host {
        if h.is_empty() {
            return bad("has an empty host");
        }
        for comp in h.split('.') {
            let ok = !comp.is_empty()
                && comp.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !comp.starts_with('-')
                && !comp.ends_with('-');
            if !ok {
                return bad("is not a valid host name");
            }
        }
    }
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return bad("has an invalid port");
        }
    }
    Ok(())
}

fn validate_path(input: &str, path: &str) -> Result<(), ReferenceError> {
    for comp in path.split('/') {
        if !valid_path_component(comp) {
            return Err(ReferenceError::format(
                input,
                format!(
                    "repository path component {comp:?} must be lowercase letters and digits \
                     separated by '.', '_', '__' or '-'"
                ),
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn validate_tag(input: &str, tag: &str) -> Result<(), ReferenceError> {
    let b = tag.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let ok = !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-');
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::format(
            input,
            format!("tag {tag:?} must be 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn full(s: &str) -> String {
        Reference::parse(s).expect(s).with_default_tag().to_string()
    }

    #[test]
    fn normalisation_table() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36",
                "busybox:1.36",
            ),
            (
                "library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "index.docker.io/library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
            ("a/b/c", "docker.io/a/b/c:latest", "a/b/c:latest"),
            (
                "docker.io/library/a/b",
                "docker.io/library/a/b:latest",
                "library/a/b:latest",
            ),
            (
                "localhost/app",
                "localhost/app:latest",
                "localhost/app:latest",
            ),
            (
                "localhost:5000/a/b:t",
                "localhost:5000/a/b:t",
                "localhost:5000/a/b:t",
            ),
            ("quay.io/x/y", "quay.io/x/y:latest", "quay.io/x/y:latest"),
            (
                "[::1]:5000/app",
                "[::1]:5000/app:latest",
                "[::1]:5000/app:latest",
            ),
            (
                "my-reg.example.com/a_b/c__d/e--f.g",
                "my-reg.example.com/a_b/c__d/e--f.g:latest",
                "my-reg.example.com/a_b/c__d/e--f.g:latest",
            ),
            (
                "busybox:Latest_1.x-y",
                "docker.io/library/busybox:Latest_1.x-y",
                "busybox:Latest_1.x-y",
            ),
        ];
        for (input, want_full, want_familiar) in cases {
            let r = Reference::parse(input).expect(input).with_default_tag();
            assert_eq!(r.to_string(), *want_full, "full form of {input}");
            assert_eq!(r.familiar(), *want_familiar, "familiar form of {input}");
        }
    }

    #[test]
    fn parts_and_digests() {
        let r = Reference::parse(&format!("a/b@sha256:{HEX}")).expect("digest ref");
        assert_eq!(r.domain(), "docker.io");
        assert_eq!(r.path(), "a/b");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().map(Digest::hex), Some(HEX));
        // A digest means no default tag.
        assert_eq!(r.clone().with_default_tag().tag(), None);
        assert_eq!(r.familiar(), format!("a/b@sha256:{HEX}"));

        let r = Reference::parse(&format!("busybox:1@sha256:{HEX}")).expect("tag+digest");
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/busybox:1@sha256:{HEX}")
        );
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.name(), "docker.io/library/busybox");

        let r = Reference::parse("localhost:5000/a/b").expect("port");
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.tag(), None);
        assert_eq!(full("Foo.io/x"), "Foo.io/x:latest");
    }

    #[test]
    fn errors() {
        assert_eq!(
            Reference::parse("Busybox")
                .expect_err("uppercase")
                .to_string(),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(
            Reference::parse(HEX).expect_err("hex").to_string(),
            format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings")
        );
        for bad in [
            "",
            ":tag",
            "busybox:",
            "busybox:-x",
            "busybox@sha256:abc",
            "busybox@",
            "a b",
            "a//b",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "/busybox",
            "localhost:port/app",
            "bad_host.io/app",
            "a:b:c",
        ] {
            let e = Reference::parse(bad).expect_err(bad);
            assert!(
                e.to_string().starts_with("invalid reference format"),
                "{bad}: {e}"
            );
        }
        let long = format!("a/{}", "b".repeat(300));
        assert!(matches!(
            Reference::parse(&long),
            Err(ReferenceError::TooLong(_))
        ));
        let tag129 = format!("busybox:{}", "t".repeat(129));
        assert!(Reference::parse(&tag129).is_err());
    }

    #[test]
    fn serde_as_full_string() {
        let r = Reference::parse("busybox:1").expect("ref");
        let j = serde_json::to_string(&r).expect("ser");
        assert_eq!(j, "\"docker.io/library/busybox:1\"");
        assert_eq!(serde_json::from_str::<Reference>(&j).expect("de"), r);
    }

    #[test]
    fn id_prefix_helper() {
        assert!(looks_like_id_prefix("abc"));
        assert!(looks_like_id_prefix(&format!("sha256:{HEX}")));
        assert!(!looks_like_id_prefix("busybox"));
        assert!(!looks_like_id_prefix(""));
    }
}
