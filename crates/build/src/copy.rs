//! COPY and ADD.
//!
//! [`plan`] resolves the sources of one instruction (globs, directories, symlinks, `..`)
//! against the build context's index or another stage's root filesystem, without touching
//! the destination, and computes the content key of exactly what will be copied. [`apply`]
//! then writes it into the destination root filesystem, resolving every path inside it.
//!
//! The rules follow Docker's legacy builder (moby `builder/dockerfile/copy.go`,
//! `internals.go`) and, where that builder has no such feature (`--chmod`, `--exclude`,
//! `--parents`, heredocs), BuildKit's Dockerfile frontend and fsutil's copier.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::context::{Context, EntryKind};
use crate::ignore::{IgnoreError, Matcher, clean_path, go_match, has_wildcards};

/// Symlinks followed while resolving one source path.
const MAX_SYMLINKS: usize = 255;

/// Why a COPY or ADD failed. The texts are Docker's where Docker has one.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A source missing from the build context (moby's legacy builder's text).
    #[error(
        "{instruction} failed: file not found in build context or excluded by .dockerignore: stat {path}: file does not exist"
    )]
    NotInContext {
        /// `COPY` or `ADD`.
        instruction: String,
        /// The source as written, less a leading `/` or `./`.
        path: String,
    },
    /// A source missing from another stage or image.
    #[error("{instruction} failed: stat {path}: file does not exist")]
    NotFound {
        /// `COPY` or `ADD`.
        instruction: String,
        /// The source as written, less a leading `/` or `./`.
        path: String,
    },
    /// Globs that matched nothing, and no other source.
    #[error("{instruction} failed: no source files were specified")]
    NoSources {
        /// `COPY` or `ADD`.
        instruction: String,
    },
    /// Several sources into a destination not ending in `/`.
    #[error(
        "When using {instruction} with more than one source file, the destination must be a directory and end with a /"
    )]
    DestNotDir {
        /// `COPY` or `ADD`.
        instruction: String,
    },
    /// COPY of a URL.
    #[error("{instruction} failed: source can't be a URL for COPY")]
    UrlForCopy {
        /// `COPY`.
        instruction: String,
    },
    /// ADD of a URL: the builder has no network.
    #[error(
        "{instruction} failed: cannot download {url}: Wharf's builder has no network access for ADD of URLs; put the file in the build context and ADD it from there"
    )]
    AddUrl {
        /// `ADD`.
        instruction: String,
        /// The URL.
        url: String,
    },
    /// `--chown` names no user or group of the destination, or is malformed.
    #[error("unable to convert uid/gid chown string to host mapping: {0}")]
    Chown(String),
    /// `--chmod` is not an octal mode up to 07777 (BuildKit's text).
    #[error("invalid chmod parameter: '{0}'. it should be octal string and between 0 and 07777")]
    Chmod(String),
    /// An `--exclude` pattern is malformed.
    #[error("invalid --exclude pattern: {0}")]
    Exclude(#[from] IgnoreError),
    /// A file would replace a directory (fsutil's text).
    #[error("cannot replace to directory {0} with file")]
    ReplaceDir(String),
    /// A directory would be merged into something that is not one (fsutil's text).
    #[error("cannot copy to non-directory: {0}")]
    NotDir(String),
    /// Extracting an ADD archive failed or was refused.
    #[error("{instruction} failed: extracting {source_path}: {reason}")]
    Extract {
        /// `ADD`.
        instruction: String,
        /// The archive's path in the context.
        source_path: String,
        /// What went wrong.
        reason: String,
    },
    /// A path could not be resolved inside a root filesystem.
    #[error("{instruction} failed: resolving {path}: {reason}")]
    Resolve {
        /// `COPY` or `ADD`.
        instruction: String,
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("{instruction} failed: {what}: {source}")]
    Io {
        /// `COPY` or `ADD`.
        instruction: String,
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A heredoc source the request names is missing from `heredocs`.
    #[error("{instruction} failed: no content for heredoc {0}", instruction = .1)]
    Heredoc(String, String),
}

/// Where sources are read from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The build context.
    Context(&'a Context),
    /// Another stage's or an image's root filesystem, mounted read-only.
    Rootfs(&'a Path),
}

/// One COPY or ADD, its words already expanded.
#[derive(Debug, Clone, Copy)]
pub struct CopyRequest<'a> {
    /// `"COPY"` or `"ADD"`, for messages.
    pub instruction: &'a str,
    /// Source paths or globs; a source naming a heredoc is taken from `heredocs`.
    pub sources: &'a [String],
    /// `(file name, content)` of each `COPY <<EOF` source.
    pub heredocs: &'a [(String, Vec<u8>)],
    /// The destination.
    pub dest: &'a str,
    /// The working directory, for a relative destination.
    pub workdir: &'a str,
    /// `--chown`: `user[:group]`, names or ids, looked up in the destination's files.
    pub chown: Option<&'a str>,
    /// `--chmod`: an octal mode.
    pub chmod: Option<&'a str>,
    /// ADD: local archives are extracted, URLs are refused (no network).
    pub is_add: bool,
    /// `--exclude` patterns.
    pub exclude: &'a [String],
    /// `--parents`: keep each source's path (below a `/./` pivot) under the destination.
    pub parents: bool,
    /// When set, every mtime written is clamped to it.
    pub epoch: Option<i64>,
}

/// One thing a plan copies.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    /// Destination path relative to the unit's destination directory.
    rel: String,
    /// Path in the source (a context key, or relative to the source rootfs).
    src: String,
    kind: EntryKind,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: i64,
    digest: [u8; 32],
    link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum UnitKind {
    /// One file or symlink target; placed at the destination or inside it.
    File,
    /// A directory's contents, into the destination directory.
    Dir,
    /// ADD of a local archive: extracted into the destination directory.
    Archive,
    /// A heredoc's content (index into `heredocs`).
    Heredoc(usize),
}

#[derive(Debug, Clone)]
struct Unit {
    kind: UnitKind,
    /// File name used when the destination is a directory.
    base: String,
    /// With `--parents`: the path kept below the destination.
    under: Option<String>,
    items: Vec<Item>,
}

/// The resolved sources of one COPY or ADD and their content key.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Hex sha256 over each copied entry's destination path, kind, mode, owner, content
    /// digest and link target, and the destination, `--chown`, `--chmod` and flags; never
    /// mtimes.
    pub key: String,
    units: Vec<Unit>,
    /// The absolute, cleaned destination.
    dest: String,
    /// The destination is written as a directory (`/` at the end, `.`).
    dest_is_dir: bool,
}

impl Plan {
    /// How many entries the plan copies (files, directories, symlinks, archives).
    pub fn len(&self) -> usize {
        self.units.iter().map(|u| u.items.len()).sum()
    }

    /// Whether the plan copies nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn instr(req: &CopyRequest<'_>) -> String {
    req.instruction.to_string()
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Parses `--chmod` as BuildKit does: octal, at most 07777.
fn parse_chmod(chmod: &str) -> Result<u32, CopyError> {
    match u32::from_str_radix(chmod, 8) {
        Ok(m) if m <= 0o7777 && !chmod.is_empty() && !chmod.starts_with('+') => Ok(m),
        _ => Err(CopyError::Chmod(chmod.to_string())),
    }
}

/// The destination made absolute against the working directory, cleaned, and whether it
/// is written as a directory.
fn normalize_dest(dest: &str, workdir: &str) -> (String, bool) {
    let dir_syntax = dest.ends_with('/')
        || dest == "."
        || dest == ".."
        || dest.ends_with("/.")
        || dest.ends_with("/..");
    let abs = if dest.starts_with('/') {
        clean_path(dest)
    } else {
        clean_path(&format!("/{workdir}/{dest}"))
    };
    let is_root = abs == "/";
    (abs, dir_syntax || is_root)
}

/// The source path as moby shows it: a leading `/` and `./` removed.
fn shown_source(orig: &str) -> String {
    let p = orig.strip_prefix('/').unwrap_or(orig);
    p.strip_prefix("./").unwrap_or(p).to_string()
}

/// Resolves `path` in the context's index as if the context were `/`: `..` stops at the
/// root, symlinks are followed inside it. `None` when something on the way is missing.
fn resolve_in_index(ctx: &Context, path: &str) -> Option<String> {
    let mut pending: std::collections::VecDeque<String> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        resolved.push(c);
        let key = resolved.join("/");
        let entry = ctx.entries().get(&key)?;
        if entry.kind == EntryKind::Symlink {
            links += 1;
            if links > MAX_SYMLINKS {
                return None;
            }
            let target = entry.link.clone().unwrap_or_default();
            resolved.pop();
            if target.starts_with('/') {
                resolved.clear();
            }
            let mut next: std::collections::VecDeque<String> = target
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .map(str::to_string)
                .collect();
            next.extend(pending);
            pending = next;
        }
    }
    Some(resolved.join("/"))
}

fn base_name(path: &str) -> String {
    let p = path.trim_end_matches('/');
    match p.rfind('/') {
        Some(i) => p[i + 1..].to_string(),
        None => p.to_string(),
    }
}

fn join_rel(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// With `--parents`: the part of a matched source path kept under the destination (below
/// a `/./` pivot in the source as written, else the whole path).
fn parents_under(orig: &str, matched: &str) -> String {
    let trimmed = orig.strip_prefix('/').unwrap_or(orig);
    let pivot = trimmed
        .find("/./")
        .map(|i| clean_path(&trimmed[..i]))
        .filter(|p| p != ".");
    match pivot {
        Some(p) => matched
            .strip_prefix(&format!("{p}/"))
            .unwrap_or(matched)
            .to_string(),
        None => matched.to_string(),
    }
}

/// Lists what a source of the plan names.
struct Resolver<'a, 'b> {
    src: &'b Source<'a>,
    req: &'b CopyRequest<'b>,
    exclude: Matcher,
}

/// An I/O failure of `req`'s instruction while doing `what`.
fn io_error<'r>(
    req: &'r CopyRequest<'_>,
    what: String,
) -> impl FnOnce(io::Error) -> CopyError + use<'r> {
    let instruction = instr(req);
    move |source| CopyError::Io {
        instruction,
        what,
        source,
    }
}

impl Resolver<'_, '_> {
    fn io(&self, what: String) -> impl FnOnce(io::Error) -> CopyError + use<'_> {
        io_error(self.req, what)
    }

    /// Paths (relative to the source root, unresolved) matching a glob.
    fn glob(&self, pattern: &str) -> Result<Vec<String>, CopyError> {
        let pattern = clean_path(pattern);
        let pattern = pattern.trim_start_matches('/').to_string();
        let depth = pattern.split('/').count();
        let mut out = Vec::new();
        match self.src {
            Source::Context(ctx) => {
                for key in ctx.entries().keys() {
                    if !key.is_empty()
                        && key.split('/').count() == depth
                        && go_match(&pattern, key).unwrap_or(false)
                    {
                        out.push(key.clone());
                    }
                }
            }
            Source::Rootfs(root) => {
                // Walk only as deep as the pattern has components: `*` never crosses `/`.
                let mut level = vec![String::new()];
                for _ in 0..depth {
                    let mut next = Vec::new();
                    for rel in &level {
                        let host = root.join(rel);
                        let Ok(rd) = fs::read_dir(&host) else {
                            continue;
                        };
                        for item in rd.flatten() {
                            let Some(name) = item.file_name().to_str().map(str::to_string) else {
                                continue;
                            };
                            let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
                            let child = join_rel(rel, &name);
                            if is_dir {
                                next.push(child.clone());
                            }
                            out.push(child);
                        }
                    }
                    level = next;
                }
                out.retain(|p| {
                    p.split('/').count() == depth && go_match(&pattern, p).unwrap_or(false)
                });
                out.sort();
            }
        }
        Ok(out)
    }

    /// Resolves one plain source path into a unit.
    fn unit(&self, orig: &str, path: &str, shown: &str) -> Result<Unit, CopyError> {
        let missing = || match self.src {
            Source::Context(_) => CopyError::NotInContext {
                instruction: instr(self.req),
                path: shown.to_string(),
            },
            Source::Rootfs(_) => CopyError::NotFound {
                instruction: instr(self.req),
                path: shown.to_string(),
            },
        };
        let base = base_name(&clean_path(&format!("/{path}")));
        let under = self
            .req
            .parents
            .then(|| parents_under(orig, &clean_path(&format!("/{path}"))[1..]));
        match self.src {
            Source::Context(ctx) => {
                let key = resolve_in_index(ctx, path).ok_or_else(missing)?;
                let entry = ctx.entries().get(&key).ok_or_else(missing)?;
                if entry.kind == EntryKind::Dir {
                    let mut items = Vec::new();
                    let prefix = if key.is_empty() {
                        String::new()
                    } else {
                        format!("{key}/")
                    };
                    let mut skip_below: Option<String> = None;
                    for (k, e) in ctx.entries().range(prefix.clone()..) {
                        if !k.starts_with(&prefix) || k.is_empty() {
                            if k.is_empty() {
                                continue;
                            }
                            break;
                        }
                        let rel = &k[prefix.len()..];
                        if let Some(s) = &skip_below {
                            if rel.starts_with(s.as_str()) {
                                continue;
                            }
                            skip_below = None;
                        }
                        if self.exclude.is_excluded(rel) {
                            if e.kind == EntryKind::Dir && !self.exclude.must_descend(rel) {
                                skip_below = Some(format!("{rel}/"));
                            }
                            continue;
                        }
                        items.push(Item {
                            rel: rel.to_string(),
                            src: k.clone(),
                            kind: e.kind,
                            mode: e.mode,
                            uid: 0,
                            gid: 0,
                            size: e.size,
                            mtime: e.mtime,
                            digest: e.digest,
                            link: e.link.clone(),
                        });
                    }
                    return Ok(Unit {
                        kind: UnitKind::Dir,
                        base,
                        under,
                        items,
                    });
                }
                let kind = if self.req.is_add && self.is_archive(&ctx.root().join(&key)) {
                    UnitKind::Archive
                } else {
                    UnitKind::File
                };
                Ok(Unit {
                    kind,
                    base,
                    under,
                    items: vec![Item {
                        rel: String::new(),
                        src: key,
                        kind: EntryKind::File,
                        mode: entry.mode,
                        uid: 0,
                        gid: 0,
                        size: entry.size,
                        mtime: entry.mtime,
                        digest: entry.digest,
                        link: None,
                    }],
                })
            }
            Source::Rootfs(root) => {
                let host =
                    snapshot::resolve_in_root(root, path).map_err(|e| CopyError::Resolve {
                        instruction: instr(self.req),
                        path: shown.to_string(),
                        reason: e.to_string(),
                    })?;
                let md = match fs::symlink_metadata(&host) {
                    Ok(md) => md,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
                    Err(e) => return Err(self.io(format!("inspecting {shown}"))(e)),
                };
                let rel_src = host
                    .strip_prefix(root)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if md.is_dir() {
                    let mut items = Vec::new();
                    self.walk_rootfs(root, &rel_src, "", &mut items)?;
                    return Ok(Unit {
                        kind: UnitKind::Dir,
                        base,
                        under,
                        items,
                    });
                }
                let mut item = rootfs_item(&md, String::new(), rel_src);
                item.kind = EntryKind::File;
                Ok(Unit {
                    kind: UnitKind::File,
                    base,
                    under,
                    items: vec![item],
                })
            }
        }
    }

    fn walk_rootfs(
        &self,
        root: &Path,
        src_dir: &str,
        rel: &str,
        out: &mut Vec<Item>,
    ) -> Result<(), CopyError> {
        let host = root.join(join_rel(src_dir, rel));
        let mut names: Vec<String> = Vec::new();
        for item in fs::read_dir(&host).map_err(self.io(format!("reading {}", host.display())))? {
            let item = item.map_err(self.io(format!("reading {}", host.display())))?;
            names.push(item.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        for name in names {
            let child = join_rel(rel, &name);
            let src = join_rel(src_dir, &child);
            let md = fs::symlink_metadata(root.join(&src))
                .map_err(self.io(format!("inspecting {src}")))?;
            let ft = md.file_type();
            if !(ft.is_dir() || ft.is_file() || ft.is_symlink()) {
                tracing::debug!(path = %src, "not copying a socket, fifo or device");
                continue;
            }
            if self.exclude.is_excluded(&child) {
                if ft.is_dir() && self.exclude.must_descend(&child) {
                    self.walk_rootfs(root, src_dir, &child, out)?;
                }
                continue;
            }
            let mut item = rootfs_item(&md, child.clone(), src.clone());
            if ft.is_symlink() {
                item.link = Some(
                    fs::read_link(root.join(&src))
                        .map_err(self.io(format!("reading link {src}")))?
                        .to_string_lossy()
                        .into_owned(),
                );
            }
            out.push(item);
            if ft.is_dir() {
                self.walk_rootfs(root, src_dir, &child, out)?;
            }
        }
        Ok(())
    }

    /// Whether a file is a tar (plain, gzip or zstd), judged by its content as moby does.
    fn is_archive(&self, path: &Path) -> bool {
        let Ok(f) = File::open(path) else {
            return false;
        };
        let Ok(stream) = image::archive::Decompressor::new(io::BufReader::new(f)) else {
            return false;
        };
        let mut archive = tar::Archive::new(stream);
        let Ok(mut entries) = archive.entries() else {
            return false;
        };
        matches!(entries.next(), Some(Ok(_)))
    }
}

fn rootfs_item(md: &fs::Metadata, rel: String, src: String) -> Item {
    let kind = if md.is_dir() {
        EntryKind::Dir
    } else if md.file_type().is_symlink() {
        EntryKind::Symlink
    } else {
        EntryKind::File
    };
    Item {
        rel,
        src,
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        size: if kind == EntryKind::File { md.len() } else { 0 },
        mtime: md.mtime(),
        digest: [0; 32],
        link: None,
    }
}

/// Resolves the sources of `req` against `src` without touching the destination, and
/// computes the plan's key. A directory source copies its contents; a glob (Go's
/// `filepath.Match`) copies every match; `..` and absolute paths stay inside the source.
/// From the context the index's digests are used (no file is read, except the first bytes
/// of an ADD source to tell whether it is an archive); from a root filesystem nothing is
/// hashed (the caller adds the source's identity).
pub fn plan(src: &Source<'_>, req: &CopyRequest<'_>) -> Result<Plan, CopyError> {
    if let Some(c) = req.chmod {
        parse_chmod(c)?;
    }
    let exclude = Matcher::new(req.exclude)?;
    let resolver = Resolver { src, req, exclude };
    let mut units = Vec::new();
    for (i, (name, _)) in req.heredocs.iter().enumerate() {
        units.push(Unit {
            kind: UnitKind::Heredoc(i),
            base: base_name(name),
            under: None,
            items: vec![Item {
                rel: String::new(),
                src: name.clone(),
                kind: EntryKind::File,
                mode: 0o644,
                uid: 0,
                gid: 0,
                size: req.heredocs[i].1.len() as u64,
                mtime: 0,
                digest: blake3::hash(&req.heredocs[i].1).into(),
                link: None,
            }],
        });
    }
    for orig in req.sources {
        if req.heredocs.iter().any(|(n, _)| n == orig) {
            continue;
        }
        if is_url(orig) {
            return Err(if req.is_add {
                CopyError::AddUrl {
                    instruction: instr(req),
                    url: orig.clone(),
                }
            } else {
                CopyError::UrlForCopy {
                    instruction: instr(req),
                }
            });
        }
        let shown = shown_source(orig);
        if has_wildcards(&shown) {
            for matched in resolver.glob(&shown)? {
                if resolver.exclude.is_excluded(&matched) {
                    continue;
                }
                let mut unit = resolver.unit(orig, &matched, &matched)?;
                unit.base = base_name(&matched);
                units.push(unit);
            }
        } else {
            units.push(resolver.unit(orig, &shown, &shown)?);
        }
    }
    if units.is_empty() {
        return Err(CopyError::NoSources {
            instruction: instr(req),
        });
    }
    let (dest, dest_is_dir) = normalize_dest(req.dest, req.workdir);
    if units.len() > 1 && !req.dest.ends_with('/') && !req.parents {
        return Err(CopyError::DestNotDir {
            instruction: instr(req),
        });
    }
    let key = plan_key(req, &dest, dest_is_dir, &units);
    Ok(Plan {
        key,
        units,
        dest,
        dest_is_dir,
    })
}

fn plan_key(req: &CopyRequest<'_>, dest: &str, dest_is_dir: bool, units: &[Unit]) -> String {
    let mut h = Sha256::new();
    let mut line = |s: String| {
        h.update(s.as_bytes());
        h.update(b"\n");
    };
    line("wharf-copy-v1".into());
    line(format!(
        "instruction {:?} add {}",
        req.instruction, req.is_add
    ));
    line(format!("dest {dest:?} dir {dest_is_dir}"));
    line(format!("chown {:?} chmod {:?}", req.chown, req.chmod));
    line(format!("parents {} exclude {:?}", req.parents, req.exclude));
    line(format!("epoch {:?}", req.epoch));
    for u in units {
        line(format!("unit {:?} {:?} {:?}", u.kind, u.base, u.under));
        for it in &u.items {
            line(format!(
                "{:?} {:?} {:o} {}:{} {} {} {:?}",
                it.rel,
                it.kind,
                it.mode,
                it.uid,
                it.gid,
                it.size,
                hex::encode(it.digest),
                it.link
            ));
        }
    }
    hex::encode(h.finalize())
}

/// Looks `--chown`'s names up in the destination's `/etc/passwd` and `/etc/group`, as
/// moby's legacy builder does: ids are taken as they are, a missing group is the user
/// string again.
fn resolve_chown(rootfs: &Path, chown: &str) -> Result<(u32, u32), CopyError> {
    let parts: Vec<&str> = chown.split(':').collect();
    let (user, group) = match parts.as_slice() {
        [u] => (*u, *u),
        [u, g] => (*u, *g),
        _ => {
            return Err(CopyError::Chown(format!(
                "invalid chown string format: {chown}"
            )));
        }
    };
    let uid = lookup_id(rootfs, "/etc/passwd", user, 2, "user")
        .map_err(|e| CopyError::Chown(format!("can't find uid for user {user}: {e}")))?;
    let gid = lookup_id(rootfs, "/etc/group", group, 2, "group")
        .map_err(|e| CopyError::Chown(format!("can't find gid for group {group}: {e}")))?;
    Ok((uid, gid))
}

/// A numeric column of the line for `name` in a root's passwd-style `file` (`name` itself
/// when it is a number): `field` 2 is the uid or gid, 3 a user's primary gid.
pub(crate) fn lookup_id(
    rootfs: &Path,
    file: &str,
    name: &str,
    field: usize,
    what: &str,
) -> Result<u32, String> {
    if field == 2
        && let Ok(id) = name.parse::<u32>()
    {
        return Ok(id);
    }
    let path = snapshot::resolve_in_root(rootfs, file)
        .map_err(|e| format!("can't resolve {file} path in container rootfs: {e}"))?;
    let text = fs::read_to_string(&path).map_err(|e| format!("open {file}: {e}"))?;
    let key_col = if name.parse::<u32>().is_ok() { 2 } else { 0 };
    for l in text.lines() {
        let cols: Vec<&str> = l.split(':').collect();
        if cols.get(key_col) == Some(&name)
            && let Some(id) = cols.get(field).and_then(|v| v.trim().parse::<u32>().ok())
        {
            return Ok(id);
        }
    }
    Err(format!("no such {what}: {name}"))
}

fn system_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// Writes one plan into a root filesystem.
struct Writer<'a> {
    rootfs: &'a Path,
    req: &'a CopyRequest<'a>,
    owner: Option<(u32, u32)>,
    chmod: Option<u32>,
    /// Resolved host directories, by absolute path in the rootfs.
    dirs: HashMap<String, PathBuf>,
    /// Directories whose mtime is set last (creating entries changes it).
    dir_times: Vec<(PathBuf, i64)>,
    /// Source inodes already copied, for hard links within this copy.
    inodes: HashMap<(u64, u64), PathBuf>,
    now: i64,
}

impl Writer<'_> {
    fn io(&self, what: String) -> impl FnOnce(io::Error) -> CopyError + use<'_> {
        io_error(self.req, what)
    }

    fn mtime(&self, t: i64) -> i64 {
        match self.req.epoch {
            Some(e) if t > e => e,
            _ => t,
        }
    }

    fn resolve(&self, abs: &str) -> Result<PathBuf, CopyError> {
        snapshot::resolve_in_root(self.rootfs, abs).map_err(|e| CopyError::Resolve {
            instruction: instr(self.req),
            path: abs.to_string(),
            reason: e.to_string(),
        })
    }

    /// Makes the directory `abs` (absolute in the rootfs) and its missing parents: 0755 (or
    /// the `--chmod` mode), owned by the `--chown` owner or root. Returns the host path.
    fn ensure_dir(&mut self, abs: &str) -> Result<PathBuf, CopyError> {
        if let Some(p) = self.dirs.get(abs) {
            return Ok(p.clone());
        }
        let mut cur = String::new();
        let mut host = self.rootfs.to_path_buf();
        for comp in abs.split('/').filter(|c| !c.is_empty()) {
            cur.push('/');
            cur.push_str(comp);
            if let Some(p) = self.dirs.get(&cur) {
                host = p.clone();
                continue;
            }
            host = self.resolve(&cur)?;
            match fs::metadata(&host) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => return Err(CopyError::NotDir(cur.clone())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // The resolved path may lie below a symlink's target whose own
                    // parents are missing too; all of it is inside the root.
                    fs::create_dir_all(&host).map_err(self.io(format!("creating {cur}")))?;
                    let (uid, gid) = self.owner.unwrap_or((0, 0));
                    std::os::unix::fs::lchown(&host, Some(uid), Some(gid))
                        .map_err(self.io(format!("setting the owner of {cur}")))?;
                    fs::set_permissions(
                        &host,
                        fs::Permissions::from_mode(self.chmod.unwrap_or(0o755)),
                    )
                    .map_err(self.io(format!("setting the mode of {cur}")))?;
                }
                Err(e) => return Err(self.io(format!("inspecting {cur}"))(e)),
            }
            self.dirs.insert(cur.clone(), host.clone());
        }
        self.dirs.insert(abs.to_string(), host.clone());
        Ok(host)
    }

    /// Clears the way for a non-directory at `target`.
    fn clear_file_target(&self, target: &Path, shown: &str) -> Result<(), CopyError> {
        match fs::symlink_metadata(target) {
            Ok(md) if md.is_dir() => Err(CopyError::ReplaceDir(shown.to_string())),
            Ok(_) => fs::remove_file(target).map_err(self.io(format!("replacing {shown}"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(format!("inspecting {shown}"))(e)),
        }
    }

    fn owner_of(&self, src: &Source<'_>, item: &Item) -> (u32, u32) {
        match (self.owner, src) {
            (Some(o), _) => o,
            (None, Source::Context(_)) => (0, 0),
            (None, Source::Rootfs(_)) => (item.uid, item.gid),
        }
    }

    fn source_path(src: &Source<'_>, item: &Item) -> PathBuf {
        match src {
            Source::Context(ctx) => ctx.root().join(&item.src),
            Source::Rootfs(root) => root.join(&item.src),
        }
    }

    /// Writes a regular file from `data` (or the source file) to `target`.
    fn write_file(
        &mut self,
        target: &Path,
        shown: &str,
        mut data: impl Read,
        item: &Item,
        owner: (u32, u32),
        source_inode: Option<(u64, u64)>,
    ) -> Result<(), CopyError> {
        self.clear_file_target(target, shown)?;
        if let Some(first) = source_inode.and_then(|i| self.inodes.get(&i)) {
            return fs::hard_link(first, target).map_err(self.io(format!("linking {shown}")));
        }
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(target)
            .map_err(self.io(format!("creating {shown}")))?;
        io::copy(&mut data, &mut out).map_err(self.io(format!("writing {shown}")))?;
        std::os::unix::fs::fchown(&out, Some(owner.0), Some(owner.1))
            .map_err(self.io(format!("setting the owner of {shown}")))?;
        out.set_permissions(fs::Permissions::from_mode(self.chmod.unwrap_or(item.mode)))
            .map_err(self.io(format!("setting the mode of {shown}")))?;
        out.set_times(fs::FileTimes::new().set_modified(system_time(self.mtime(item.mtime))))
            .map_err(self.io(format!("setting the mtime of {shown}")))?;
        if let Some(i) = source_inode {
            self.inodes.insert(i, target.to_path_buf());
        }
        Ok(())
    }

    fn copy_file_item(
        &mut self,
        src: &Source<'_>,
        item: &Item,
        target: &Path,
        shown: &str,
    ) -> Result<(), CopyError> {
        let from = Self::source_path(src, item);
        let f = File::open(&from).map_err(self.io(format!("opening {}", item.src)))?;
        let md = f
            .metadata()
            .map_err(self.io(format!("inspecting {}", item.src)))?;
        let inode = (md.nlink() > 1).then(|| (md.dev(), md.ino()));
        let owner = self.owner_of(src, item);
        self.write_file(target, shown, f, item, owner, inode)
    }

    fn symlink_item(
        &mut self,
        src: &Source<'_>,
        item: &Item,
        target: &Path,
        shown: &str,
    ) -> Result<(), CopyError> {
        self.clear_file_target(target, shown)?;
        let link = item.link.clone().unwrap_or_default();
        std::os::unix::fs::symlink(&link, target)
            .map_err(self.io(format!("creating symlink {shown}")))?;
        let (uid, gid) = self.owner_of(src, item);
        std::os::unix::fs::lchown(target, Some(uid), Some(gid))
            .map_err(self.io(format!("setting the owner of {shown}")))?;
        let t = nix::sys::time::TimeSpec::new(self.mtime(item.mtime), 0);
        nix::sys::stat::utimensat(
            None,
            target,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| self.io(format!("setting the mtime of {shown}"))(io::Error::from(e)))
    }

    /// A directory item: created, or merged into an existing one (which takes the source's
    /// mode and owner, as fsutil's copier does).
    fn dir_item(&mut self, src: &Source<'_>, item: &Item, abs: &str) -> Result<(), CopyError> {
        let parent = abs
            .rsplit_once('/')
            .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
        let name = base_name(abs);
        let parent_host = self.ensure_dir(parent)?;
        let host = parent_host.join(&name);
        let (uid, gid) = self.owner_of(src, item);
        let host = match fs::symlink_metadata(&host) {
            Ok(md) if md.is_dir() => host,
            Ok(md) if md.file_type().is_symlink() => {
                let resolved = self.resolve(abs)?;
                if !resolved.is_dir() {
                    return Err(CopyError::NotDir(abs.to_string()));
                }
                self.dirs.insert(abs.to_string(), resolved);
                return Ok(());
            }
            Ok(_) => return Err(CopyError::NotDir(abs.to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&host).map_err(self.io(format!("creating {abs}")))?;
                host
            }
            Err(e) => return Err(self.io(format!("inspecting {abs}"))(e)),
        };
        std::os::unix::fs::lchown(&host, Some(uid), Some(gid))
            .map_err(self.io(format!("setting the owner of {abs}")))?;
        fs::set_permissions(
            &host,
            fs::Permissions::from_mode(self.chmod.unwrap_or(item.mode)),
        )
        .map_err(self.io(format!("setting the mode of {abs}")))?;
        self.dir_times.push((host.clone(), self.mtime(item.mtime)));
        self.dirs.insert(abs.to_string(), host);
        Ok(())
    }

    fn extract(&mut self, src: &Source<'_>, item: &Item, dest: &str) -> Result<(), CopyError> {
        let host_dir = self.ensure_dir(dest)?;
        let from = Self::source_path(src, item);
        let refused = |reason: String| CopyError::Extract {
            instruction: instr(self.req),
            source_path: item.src.clone(),
            reason,
        };
        let f = File::open(&from).map_err(self.io(format!("opening {}", item.src)))?;
        snapshot::extract_into(self.rootfs, &host_dir, io::BufReader::new(f))
            .map_err(|e| refused(e.to_string()))?;
        if self.owner.is_none() && self.req.epoch.is_none() {
            return Ok(());
        }
        // Owners and times of what was extracted: a second pass over the names.
        let f = File::open(&from).map_err(self.io(format!("opening {}", item.src)))?;
        let stream = image::archive::Decompressor::new(io::BufReader::new(f))
            .map_err(|e| refused(e.to_string()))?;
        let mut archive = tar::Archive::new(stream);
        for entry in archive.entries().map_err(|e| refused(e.to_string()))? {
            let entry = entry.map_err(|e| refused(e.to_string()))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let rel = clean_path(&format!("/{name}"));
            if rel == "/" {
                continue;
            }
            let path = host_dir.join(&rel[1..]);
            let Ok(md) = fs::symlink_metadata(&path) else {
                continue;
            };
            if let Some((uid, gid)) = self.owner {
                std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
                    .map_err(self.io(format!("setting the owner of {rel}")))?;
                if !md.file_type().is_symlink() {
                    // chown clears set-id bits: put the mode back.
                    fs::set_permissions(&path, fs::Permissions::from_mode(md.mode() & 0o7777))
                        .map_err(self.io(format!("setting the mode of {rel}")))?;
                }
            }
            if let Some(epoch) = self.req.epoch {
                if md.mtime() > epoch {
                    let t = nix::sys::time::TimeSpec::new(epoch, 0);
                    nix::sys::stat::utimensat(
                        None,
                        &path,
                        &t,
                        &t,
                        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                    )
                    .map_err(|e| {
                        self.io(format!("setting the mtime of {rel}"))(io::Error::from(e))
                    })?;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), CopyError> {
        for (dir, t) in std::mem::take(&mut self.dir_times).into_iter().rev() {
            let f = File::open(&dir).map_err(self.io(format!("opening {}", dir.display())))?;
            f.set_times(fs::FileTimes::new().set_modified(system_time(t)))
                .map_err(self.io(format!("setting the mtime of {}", dir.display())))?;
        }
        Ok(())
    }
}

fn join_abs(dir: &str, rel: &str) -> String {
    if rel.is_empty() {
        return dir.to_string();
    }
    if dir == "/" {
        format!("/{rel}")
    } else {
        format!("{dir}/{rel}")
    }
}

/// Performs the copy into `rootfs` (the destination's root filesystem): the destination is
/// resolved inside it (symlinks followed, never out of it); a trailing `/` or several
/// sources mean a directory, and so does an existing directory; missing parents are created
/// 0755 (the `--chmod` mode when given) owned by the `--chown` owner or root; modes are kept
/// unless `--chmod`; context files are owned by root and a root filesystem's files keep
/// their owners unless `--chown`; mtimes are kept (clamped to `epoch`); symlinks are copied
/// as symlinks and hard links within one copy stay hard links. ADD extracts local archives
/// with the snapshot crate's safe extraction.
pub fn apply(
    plan: &Plan,
    src: &Source<'_>,
    rootfs: &Path,
    req: &CopyRequest<'_>,
) -> Result<(), CopyError> {
    let owner = req.chown.map(|c| resolve_chown(rootfs, c)).transpose()?;
    let chmod = req.chmod.map(parse_chmod).transpose()?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let mut w = Writer {
        rootfs,
        req,
        owner,
        chmod,
        dirs: HashMap::new(),
        dir_times: Vec::new(),
        inodes: HashMap::new(),
        now,
    };
    for unit in &plan.units {
        let base_dir = match &unit.under {
            Some(under) => match unit.kind {
                UnitKind::Dir => join_abs(&plan.dest, under),
                _ => join_abs(&plan.dest, parent_of(under)),
            },
            None => plan.dest.clone(),
        };
        match &unit.kind {
            UnitKind::Dir => {
                w.ensure_dir(&base_dir)?;
                for item in &unit.items {
                    let abs = join_abs(&base_dir, &item.rel);
                    match item.kind {
                        EntryKind::Dir => w.dir_item(src, item, &abs)?,
                        EntryKind::File | EntryKind::Symlink => {
                            let parent = parent_of_abs(&abs);
                            let host = w.ensure_dir(&parent)?.join(base_name(&abs));
                            if item.kind == EntryKind::File {
                                w.copy_file_item(src, item, &host, &abs)?;
                            } else {
                                w.symlink_item(src, item, &host, &abs)?;
                            }
                        }
                    }
                }
            }
            UnitKind::Archive => {
                let item = unit.items.first().ok_or_else(|| CopyError::NoSources {
                    instruction: instr(req),
                })?;
                w.extract(src, item, &base_dir)?;
            }
            UnitKind::File | UnitKind::Heredoc(_) => {
                let item = unit.items.first().ok_or_else(|| CopyError::NoSources {
                    instruction: instr(req),
                })?;
                let into_dir = unit.under.is_some()
                    || plan.dest_is_dir
                    || plan.units.len() > 1
                    || w.resolve(&base_dir)?.is_dir();
                let abs = if into_dir {
                    join_abs(&base_dir, &unit.base)
                } else {
                    base_dir.clone()
                };
                let parent = parent_of_abs(&abs);
                let host = w.ensure_dir(&parent)?.join(base_name(&abs));
                // A symlink as the destination's last component is followed (inside the root).
                let host = if !into_dir
                    && fs::symlink_metadata(&host).is_ok_and(|m| m.file_type().is_symlink())
                {
                    w.resolve(&abs)?
                } else {
                    host
                };
                match &unit.kind {
                    UnitKind::Heredoc(i) => {
                        let (name, data) = req
                            .heredocs
                            .get(*i)
                            .ok_or_else(|| CopyError::Heredoc(unit.base.clone(), instr(req)))?;
                        let mut item = item.clone();
                        item.mtime = w.now;
                        let owner = w.owner.unwrap_or((0, 0));
                        w.write_file(&host, &abs, data.as_slice(), &item, owner, None)
                            .map_err(|e| match e {
                                CopyError::Io {
                                    instruction,
                                    what,
                                    source,
                                } => CopyError::Io {
                                    instruction,
                                    what: format!("{what} (heredoc {name})"),
                                    source,
                                },
                                other => other,
                            })?;
                    }
                    _ => w.copy_file_item(src, item, &host, &abs)?,
                }
            }
        }
    }
    w.finish()
}

fn parent_of(rel: &str) -> &str {
    rel.rfind('/').map_or("", |i| &rel[..i])
}

fn parent_of_abs(abs: &str) -> String {
    match abs.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => abs[..i].to_string(),
    }
}

#[cfg(test)]
mod tests;
