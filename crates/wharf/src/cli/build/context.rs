//! The build context `wharf build` sends, prepared as docker CLI 28 prepares it: a directory
//! (tarred with its `.dockerignore` applied, the Dockerfile and `.dockerignore` always in), a
//! tar on stdin (sent as it is), or a Dockerfile on stdin (a context of that file alone). A
//! Dockerfile outside the context directory, or from stdin with `-f -`, travels in the tar
//! under a random name `.dockerfile.<hex>` that the tar's `.dockerignore` also lists.
//!
//! The tar is written on a blocking thread into a channel that the request body reads, so a
//! large context is never held in memory.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

/// The name docker looks for when `-f` is not given.
const DEFAULT_DOCKERFILE: &str = "Dockerfile";
/// How many bytes of stdin tell a tar from a Dockerfile (docker peeks two tar blocks).
const PEEK: usize = 1024;
/// Size of the chunks the tar is sent in.
const CHUNK: usize = 64 * 1024;

/// Why the context could not be prepared or sent; the texts follow docker CLI's.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The context argument or the Dockerfile could not be used.
    #[error("unable to prepare context: {0}")]
    Prepare(String),
    /// `-` for both the context and the Dockerfile.
    #[error("invalid argument: can't use stdin for both build context and dockerfile")]
    BothStdin,
    /// The `.dockerignore` of the context could not be read or parsed.
    #[error("error reading .dockerignore: {0}")]
    Ignore(String),
    /// Reading the context (a file in it, or stdin) failed while the tar was written.
    #[error("error checking context: {0}")]
    Read(String),
    /// The tar could not be handed to the request (the request ended early).
    #[error("sending the build context: {0}")]
    Send(#[from] io::Error),
}

/// Where the Dockerfile of a directory context comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dockerfile {
    /// A file inside the context, by its path relative to it (`/`-separated).
    InContext(String),
    /// A Dockerfile outside the context or from stdin, added to the tar under `name`.
    Added {
        /// `.dockerfile.<20 hex digits>`.
        name: String,
        /// Its text.
        content: Vec<u8>,
    },
}

/// A context ready to be written.
#[derive(Debug)]
pub enum Source {
    /// A directory, tarred as it is written.
    Dir {
        /// The context directory, absolute, symlinks resolved.
        dir: PathBuf,
        /// The Dockerfile.
        dockerfile: Dockerfile,
    },
    /// A tar on stdin: the bytes already read, then the rest of stdin.
    StdinTar {
        /// The first bytes, read to recognise the archive.
        head: Vec<u8>,
    },
    /// A tar made here, whole (a Dockerfile from stdin as the context).
    Memory(Vec<u8>),
}

/// A prepared context: what to send, and the `dockerfile` query value.
#[derive(Debug)]
pub struct Prepared {
    /// The tar's source.
    pub source: Source,
    /// The Dockerfile's path inside the tar (`None`: the daemon's default).
    pub dockerfile: Option<String>,
}

/// Prepares the context argument (`PATH` or `-`) with the `-f` value, reading stdin from
/// `stdin` when the context or the Dockerfile is `-`.
pub fn prepare(
    context: &str,
    file: Option<&str>,
    stdin: &mut dyn Read,
) -> Result<Prepared, ContextError> {
    let file = file.filter(|f| !f.is_empty());
    if context == "-" {
        if file == Some("-") {
            return Err(ContextError::BothStdin);
        }
        return prepare_stdin(stdin, file);
    }
    if is_remote(context) {
        return Err(ContextError::Prepare(format!(
            "{context}: remote build contexts (URLs and git repositories) are not supported; \
             give a local directory or a tar archive on stdin"
        )));
    }
    if std::fs::metadata(context).is_err() {
        return Err(ContextError::Prepare(format!("path {context:?} not found")));
    }
    let dir = context_dir(context)?;
    let (dockerfile, query) = match file {
        Some("-") => {
            let mut content = Vec::new();
            stdin.read_to_end(&mut content).map_err(|e| {
                ContextError::Read(format!("reading the Dockerfile from stdin: {e}"))
            })?;
            let name = random_name()?;
            (
                Dockerfile::Added {
                    name: name.clone(),
                    content,
                },
                name,
            )
        }
        _ => locate_dockerfile(&dir, file)?,
    };
    Ok(Prepared {
        source: Source::Dir { dir, dockerfile },
        dockerfile: Some(query),
    })
}

fn is_remote(context: &str) -> bool {
    ["http://", "https://", "git://", "git@", "github.com/"]
        .iter()
        .any(|prefix| context.starts_with(prefix))
}

/// docker's `ResolveAndValidateContextPath`: absolute, symlinks resolved, a directory.
fn context_dir(context: &str) -> Result<PathBuf, ContextError> {
    let absolute = std::path::absolute(context).map_err(|e| {
        ContextError::Prepare(format!(
            "unable to get absolute context directory of given context directory {context:?}: {e}"
        ))
    })?;
    let dir = std::fs::canonicalize(&absolute).map_err(|e| {
        ContextError::Prepare(format!(
            "unable to evaluate symlinks in context path: {}",
            go_error("lstat", &absolute, &e)
        ))
    })?;
    if !dir.is_dir() {
        return Err(ContextError::Prepare(format!(
            "context must be a directory: {}",
            dir.display()
        )));
    }
    Ok(dir)
}

/// docker's `getDockerfileRelPath`: `-f` is relative to the working directory; without it,
/// `Dockerfile` (or `dockerfile`) in the context. Returns the Dockerfile and the `dockerfile`
/// query value; one outside the context is read here and added under a random name.
fn locate_dockerfile(dir: &Path, file: Option<&str>) -> Result<(Dockerfile, String), ContextError> {
    let given = match file {
        Some(file) => std::path::absolute(file).map_err(|e| {
            ContextError::Prepare(format!("unable to get absolute path to Dockerfile: {e}"))
        })?,
        None => {
            let default = dir.join(DEFAULT_DOCKERFILE);
            let lower = dir.join(DEFAULT_DOCKERFILE.to_ascii_lowercase());
            if default.symlink_metadata().is_err() && lower.symlink_metadata().is_ok() {
                lower
            } else {
                default
            }
        }
    };
    let resolved = std::fs::canonicalize(&given).map_err(|e| {
        ContextError::Prepare(format!(
            "unable to evaluate symlinks in Dockerfile path: {}",
            go_error("lstat", &given, &e)
        ))
    })?;
    match resolved.strip_prefix(dir) {
        Ok(relative) if !relative.as_os_str().is_empty() => {
            let relative = relative.to_string_lossy().replace('\\', "/");
            Ok((Dockerfile::InContext(relative.clone()), relative))
        }
        _ => {
            let content = std::fs::read(&given).map_err(|e| {
                ContextError::Prepare(format!(
                    "unable to open Dockerfile: {}",
                    go_error("open", &given, &e)
                ))
            })?;
            let name = random_name()?;
            Ok((
                Dockerfile::Added {
                    name: name.clone(),
                    content,
                },
                name,
            ))
        }
    }
}

/// docker's `GetContextFromReader`: a tar (or compressed tar) on stdin is sent as it is,
/// with `-f` naming the Dockerfile inside it; anything else is a Dockerfile, sent as the
/// only file of the context.
fn prepare_stdin(stdin: &mut dyn Read, file: Option<&str>) -> Result<Prepared, ContextError> {
    let mut head = Vec::with_capacity(PEEK);
    stdin
        .take(PEEK as u64)
        .read_to_end(&mut head)
        .map_err(|e| {
            ContextError::Prepare(format!("failed to peek context header from STDIN: {e}"))
        })?;
    if is_archive(&head) {
        return Ok(Prepared {
            source: Source::StdinTar { head },
            dockerfile: file.map(str::to_string),
        });
    }
    if file.is_some() {
        return Err(ContextError::Prepare(
            "ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles".into(),
        ));
    }
    let mut content = head;
    stdin
        .read_to_end(&mut content)
        .map_err(|e| ContextError::Read(format!("reading the Dockerfile from stdin: {e}")))?;
    let mut tar = Vec::new();
    write_entry(&mut tar, DEFAULT_DOCKERFILE, &content, 0o644)?;
    tar.extend_from_slice(&[0; 1024]);
    Ok(Prepared {
        source: Source::Memory(tar),
        dockerfile: Some(DEFAULT_DOCKERFILE.into()),
    })
}

/// docker's `IsArchive`: the magic of a compressed stream, or a valid tar header.
pub fn is_archive(head: &[u8]) -> bool {
    const MAGICS: [&[u8]; 4] = [
        &[0x1f, 0x8b, 0x08],
        b"BZh",
        &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
        &[0x28, 0xb5, 0x2f, 0xfd],
    ];
    if MAGICS.iter().any(|magic| head.starts_with(magic)) {
        return true;
    }
    if head.len() < 512 || head[..512].iter().all(|b| *b == 0) {
        return false;
    }
    let header = tar::Header::from_byte_slice(&head[..512]);
    let Ok(stored) = header.cksum() else {
        return false;
    };
    let computed: u32 = head[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(*b)
            }
        })
        .sum();
    stored == computed
}

/// `.dockerfile.` and 20 random hex digits, as docker names an added Dockerfile.
fn random_name() -> Result<String, ContextError> {
    let mut bytes = [0u8; 10];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| ContextError::Read(format!("reading /dev/urandom: {e}")))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(".dockerfile.{hex}"))
}

/// Go's `*PathError` text: `lstat /x/Dockerfile: no such file or directory`.
fn go_error(op: &str, path: &Path, error: &io::Error) -> String {
    let reason = match error.raw_os_error() {
        Some(code) => {
            let text = nix::errno::Errno::from_raw(code).desc();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => String::new(),
            }
        }
        None => error.to_string(),
    };
    format!("{op} {}: {reason}", path.display())
}

/// One regular file in ustar format (mode `mode`, owned by root, modified now).
fn write_entry(out: &mut dyn Write, name: &str, content: &[u8], mode: u32) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_path(name)?;
    header.set_size(content.len() as u64);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    header.set_mtime(now);
    header.set_cksum();
    out.write_all(header.as_bytes())?;
    out.write_all(content)?;
    let padding = (512 - content.len() % 512) % 512;
    out.write_all(&[0; 512][..padding])
}

impl Prepared {
    /// Writes the whole tar to `out` (blocking: files are read as they are written).
    pub fn write_to(self, out: &mut dyn Write) -> Result<(), ContextError> {
        match self.source {
            Source::Memory(bytes) => out.write_all(&bytes)?,
            Source::StdinTar { head } => {
                out.write_all(&head)?;
                let mut stdin = io::stdin().lock();
                copy_reader(&mut stdin, out)?;
            }
            Source::Dir { dir, dockerfile } => write_dir(&dir, &dockerfile, out)?,
        }
        out.flush()?;
        Ok(())
    }
}

fn copy_reader(from: &mut dyn Read, out: &mut dyn Write) -> Result<(), ContextError> {
    let mut buffer = vec![0; CHUNK];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ContextError::Read(format!("reading stdin: {e}"))),
        };
        out.write_all(&buffer[..n])?;
    }
}

/// The `.dockerignore` text of `dir` (`None` when it has none).
fn read_dockerignore(dir: &Path) -> Result<Option<String>, ContextError> {
    match std::fs::read(dir.join(".dockerignore")) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ContextError::Ignore(e.to_string())),
    }
}

/// Tars `dir` with its `.dockerignore` applied. A Dockerfile added from elsewhere goes first,
/// with a `.dockerignore` that lists it (so that the daemon keeps it out of what COPY sees,
/// as with docker); the directory's own `.dockerignore` is then left out.
fn write_dir(dir: &Path, dockerfile: &Dockerfile, out: &mut dyn Write) -> Result<(), ContextError> {
    let ignore = read_dockerignore(dir)?;
    let (patterns, always): (String, Vec<String>) = match dockerfile {
        Dockerfile::InContext(relative) => (
            ignore.clone().unwrap_or_default(),
            vec![relative.clone(), ".dockerignore".to_string()],
        ),
        Dockerfile::Added { name, content } => {
            write_entry(out, name, content, 0o600)?;
            let mut listed = ignore
                .clone()
                .unwrap_or_else(|| ".dockerignore".to_string());
            listed.push('\n');
            listed.push_str(name);
            listed.push('\n');
            write_entry(out, ".dockerignore", listed.as_bytes(), 0o600)?;
            let mut patterns = ignore.clone().unwrap_or_default();
            patterns.push_str("\n.dockerignore\n");
            (patterns, Vec::new())
        }
    };
    let matcher = ::build::ignore::Matcher::new(&::build::ignore::parse_dockerignore(&patterns))
        .map_err(|e| ContextError::Ignore(e.to_string()))?;
    let always: Vec<&str> = always.iter().map(String::as_str).collect();
    ::build::context::write_context_tar(dir, &matcher, &always, out)
        .map_err(|e| ContextError::Read(e.to_string()))?;
    Ok(())
}

/// The writing end of the context channel: whole chunks go to the request body.
struct ChannelWriter {
    sender: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the daemon stopped reading"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let n = data.len().min(room);
        self.buffer.extend_from_slice(&data[..n]);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The reading end: an `AsyncRead` for the request body. A failure of the writer reaches
/// the body as an error, which aborts the request.
pub struct ChannelReader {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.current.is_empty() {
            match this.receiver.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Some(Ok(chunk))) => this.current = chunk,
            }
        }
        let n = this.current.len().min(buf.remaining());
        buf.put_slice(&this.current.split_to(n));
        Poll::Ready(Ok(()))
    }
}

/// Starts writing the context on a blocking thread; returns the body to send and the
/// thread's result, which says why a body ended early.
pub fn stream(
    prepared: Prepared,
) -> (
    ChannelReader,
    tokio::sync::oneshot::Receiver<Result<(), ContextError>>,
) {
    let (sender, receiver) = mpsc::channel(16);
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut writer = ChannelWriter {
            sender: sender.clone(),
            buffer: Vec::with_capacity(CHUNK),
        };
        let outcome = prepared.write_to(&mut writer);
        if let Err(error) = &outcome {
            // The body fails with the reason; the request is abandoned.
            let _ = sender.blocking_send(Err(io::Error::other(error.to_string())));
        }
        // Nobody may be waiting for the result any more.
        let _ = done.send(outcome);
    });
    (
        ChannelReader {
            receiver,
            current: Bytes::new(),
        },
        result,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .expect("a tar")
            .map(|entry| {
                let mut entry = entry.expect("an entry");
                let name = entry.path().expect("a path").to_string_lossy().into_owned();
                let mut content = Vec::new();
                entry.read_to_end(&mut content).expect("readable");
                (name, content)
            })
            .collect()
    }

    #[test]
    fn a_dockerfile_on_stdin_is_the_whole_context() {
        let mut stdin: &[u8] = b"FROM busybox\nRUN true\n";
        let prepared = prepare("-", None, &mut stdin).expect("prepares");
        assert_eq!(prepared.dockerfile.as_deref(), Some("Dockerfile"));
        let mut tar = Vec::new();
        prepared.write_to(&mut tar).expect("writes");
        assert_eq!(
            tar_entries(&tar),
            vec![(
                "Dockerfile".to_string(),
                b"FROM busybox\nRUN true\n".to_vec()
            )]
        );
        // A Dockerfile on stdin and -f naming another one.
        let mut stdin: &[u8] = b"FROM busybox\n";
        let error = prepare("-", Some("Other"), &mut stdin).expect_err("ambiguous");
        assert_eq!(
            error.to_string(),
            "unable to prepare context: ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles"
        );
        let mut stdin: &[u8] = b"";
        let error = prepare("-", Some("-"), &mut stdin).expect_err("both on stdin");
        assert_eq!(
            error.to_string(),
            "invalid argument: can't use stdin for both build context and dockerfile"
        );
    }

    #[test]
    fn a_tar_on_stdin_is_sent_as_it_is() {
        let mut tar = Vec::new();
        write_entry(&mut tar, "sub/Dockerfile.dev", b"FROM scratch\n", 0o644).expect("writes");
        tar.extend_from_slice(&[0; 1024]);
        assert!(is_archive(&tar));
        assert!(is_archive(&[0x1f, 0x8b, 0x08, 0, 0]));
        assert!(!is_archive(b"FROM busybox\n"));
        assert!(!is_archive(&[0; 1024]));
        let mut stdin: &[u8] = &tar;
        let prepared = prepare("-", Some("sub/Dockerfile.dev"), &mut stdin).expect("prepares");
        assert_eq!(prepared.dockerfile.as_deref(), Some("sub/Dockerfile.dev"));
        let Source::StdinTar { head } = &prepared.source else {
            panic!("a stdin tar");
        };
        assert_eq!(head.len(), PEEK);
        assert_eq!(&head[..], &tar[..PEEK]);
        let mut stdin: &[u8] = &tar;
        let prepared = prepare("-", None, &mut stdin).expect("prepares");
        assert_eq!(prepared.dockerfile, None);
    }

    #[test]
    fn the_dockerfile_is_found_like_docker_finds_it() {
        let root = tempfile::tempdir().expect("a temp dir");
        let context = root.path().join("ctx");
        std::fs::create_dir_all(context.join("sub")).expect("mkdir");
        let context = std::fs::canonicalize(&context).expect("canonical");
        let no_stdin = &mut (&b""[..]);
        let ctx = context.to_str().expect("utf-8");

        let error = prepare(ctx, None, no_stdin).expect_err("no Dockerfile");
        assert_eq!(
            error.to_string(),
            format!(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}/Dockerfile: no such file or directory",
                context.display()
            )
        );

        // `dockerfile` is accepted when `Dockerfile` is missing.
        std::fs::write(context.join("dockerfile"), "FROM busybox\n").expect("write");
        let prepared = prepare(ctx, None, no_stdin).expect("prepares");
        assert_eq!(prepared.dockerfile.as_deref(), Some("dockerfile"));

        // -f inside the context: its relative path.
        let inner = context.join("sub/Build.df");
        std::fs::write(&inner, "FROM busybox\n").expect("write");
        let prepared = prepare(ctx, inner.to_str(), no_stdin).expect("prepares");
        assert_eq!(prepared.dockerfile.as_deref(), Some("sub/Build.df"));
        assert!(matches!(
            prepared.source,
            Source::Dir { dockerfile: Dockerfile::InContext(ref r), .. } if r == "sub/Build.df"
        ));

        // -f outside the context: added under a random name.
        let outer = root.path().join("Outside.df");
        std::fs::write(&outer, "FROM scratch\n").expect("write");
        let prepared = prepare(ctx, outer.to_str(), no_stdin).expect("prepares");
        let name = prepared.dockerfile.clone().expect("a name");
        assert!(name.starts_with(".dockerfile.") && name.len() == ".dockerfile.".len() + 20);
        assert!(name[12..].chars().all(|c| c.is_ascii_hexdigit()));
        let Source::Dir {
            dockerfile:
                Dockerfile::Added {
                    name: added,
                    content,
                },
            ..
        } = &prepared.source
        else {
            panic!("an added Dockerfile");
        };
        assert_eq!(added, &name);
        assert_eq!(content, b"FROM scratch\n");

        // -f - reads stdin.
        let mut stdin: &[u8] = b"FROM busybox\nCMD x\n";
        let prepared = prepare(ctx, Some("-"), &mut stdin).expect("prepares");
        let Source::Dir {
            dockerfile: Dockerfile::Added { content, .. },
            ..
        } = &prepared.source
        else {
            panic!("an added Dockerfile");
        };
        assert_eq!(content, b"FROM busybox\nCMD x\n");

        // Contexts that are not directories.
        let file = context.join("dockerfile");
        let error = prepare(file.to_str().expect("utf-8"), None, no_stdin).expect_err("a file");
        assert_eq!(
            error.to_string(),
            format!(
                "unable to prepare context: context must be a directory: {}",
                file.display()
            )
        );
        let error = prepare("/nonexistent/ctx", None, no_stdin).expect_err("missing");
        assert_eq!(
            error.to_string(),
            "unable to prepare context: path \"/nonexistent/ctx\" not found"
        );
        let error = prepare("https://example.com/ctx.tar", None, no_stdin).expect_err("remote");
        assert!(error.to_string().contains("not supported"));
    }

    #[test]
    fn a_directory_is_tarred_with_its_dockerignore() {
        let root = tempfile::tempdir().expect("a temp dir");
        let context = std::fs::canonicalize(root.path())
            .expect("canonical")
            .join("ctx");
        std::fs::create_dir_all(context.join("logs")).expect("mkdir");
        std::fs::write(context.join("Dockerfile"), "FROM busybox\n").expect("write");
        std::fs::write(context.join("app.txt"), "app").expect("write");
        std::fs::write(context.join("logs/a.log"), "log").expect("write");
        std::fs::write(
            context.join(".dockerignore"),
            "logs\nDockerfile\n.dockerignore\n",
        )
        .expect("write");
        let ctx = context.to_str().expect("utf-8");
        let names = |prepared: Prepared| {
            let mut tar = Vec::new();
            prepared.write_to(&mut tar).expect("writes");
            tar_entries(&tar)
        };

        // The Dockerfile and .dockerignore go in although .dockerignore names them.
        let prepared = prepare(ctx, None, &mut (&b""[..])).expect("prepares");
        let entries = names(prepared);
        let listed: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(listed, [".dockerignore", "Dockerfile", "app.txt"]);

        // An added Dockerfile comes first, and the tar's .dockerignore lists it.
        let outer = root.path().join("Other.df");
        std::fs::write(&outer, "FROM scratch\n").expect("write");
        let prepared = prepare(ctx, outer.to_str(), &mut (&b""[..])).expect("prepares");
        let name = prepared.dockerfile.clone().expect("a name");
        let entries = names(prepared);
        let listed: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(listed, [name.as_str(), ".dockerignore", "app.txt"]);
        assert_eq!(entries[0].1, b"FROM scratch\n");
        assert_eq!(
            String::from_utf8_lossy(&entries[1].1),
            format!("logs\nDockerfile\n.dockerignore\n\n{name}\n")
        );

        // Without a .dockerignore, docker's: the file names itself and the Dockerfile.
        std::fs::remove_file(context.join(".dockerignore")).expect("rm");
        let mut stdin: &[u8] = b"FROM busybox\n";
        let prepared = prepare(ctx, Some("-"), &mut stdin).expect("prepares");
        let name = prepared.dockerfile.clone().expect("a name");
        let entries = names(prepared);
        let listed: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            listed,
            [
                name.as_str(),
                ".dockerignore",
                "Dockerfile",
                "app.txt",
                "logs/",
                "logs/a.log"
            ]
        );
        assert_eq!(
            String::from_utf8_lossy(&entries[1].1),
            format!(".dockerignore\n{name}\n")
        );
    }

    #[tokio::test]
    async fn the_channel_carries_the_tar_and_its_failure() {
        use tokio::io::AsyncReadExt;
        let content = vec![7u8; 3 * CHUNK + 100];
        let mut tar = Vec::new();
        write_entry(&mut tar, "big.bin", &content, 0o644).expect("writes");
        tar.extend_from_slice(&[0; 1024]);
        let prepared = Prepared {
            source: Source::Memory(tar.clone()),
            dockerfile: None,
        };
        let (mut reader, result) = stream(prepared);
        let mut received = Vec::new();
        reader.read_to_end(&mut received).await.expect("reads");
        assert_eq!(received, tar);
        result.await.expect("a result").expect("succeeds");
    }
}
