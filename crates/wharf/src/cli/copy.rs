//! `cp`: files between a container and the local filesystem through
//! `GET`/`HEAD`/`PUT /containers/{id}/archive` tar archives, with docker's rules for where
//! the copy lands (into an existing directory, or renamed to a new path). `-` on the local side
//! means a tar stream on stdin/stdout.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::Value;

use super::client::{Client, Query, RequestBody, next_chunk};
use tokio::io::AsyncWriteExt;

/// `cp` flags.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH or SRC_PATH|-
    pub source: String,
    /// DEST_PATH|- or CONTAINER:DEST_PATH
    pub destination: String,
}

/// Splits `CONTAINER:PATH`; local paths (absolute, relative with `.`, or `-`) give `None`.
pub fn split_container_path(arg: &str) -> Option<(&str, &str)> {
    if arg == "-" || arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    match arg.split_once(':') {
        Some((container, path)) if !container.is_empty() => Some((container, path)),
        _ => None,
    }
}

/// The container-side stat docker returns in `X-Docker-Container-Path-Stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    /// The base name.
    pub name: String,
    /// Whether it is a directory (Go's `os.ModeDir` bit).
    pub is_dir: bool,
}

fn parse_stat(header: Option<&hyper::header::HeaderValue>) -> anyhow::Result<PathStat> {
    let header = header.context("the daemon sent no X-Docker-Container-Path-Stat header")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(header.as_bytes())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(header.as_bytes()))
        .context("decoding X-Docker-Container-Path-Stat")?;
    let stat: Value =
        serde_json::from_slice(&decoded).context("reading X-Docker-Container-Path-Stat")?;
    let mode = stat["mode"].as_u64().unwrap_or(0);
    Ok(PathStat {
        name: stat["name"].as_str().unwrap_or_default().to_string(),
        is_dir: mode & (1 << 31) != 0,
    })
}

/// `cp`.
pub async fn cp(client: &Client, args: CpArgs) -> anyhow::Result<i32> {
    match (
        split_container_path(&args.source),
        split_container_path(&args.destination),
    ) {
        (Some((container, path)), None) => {
            copy_from(client, container, path, &args.destination).await
        }
        (None, Some((container, path))) => {
            copy_to(
                client,
                &args.source,
                container,
                path,
                args.follow_link,
                args.archive,
            )
            .await
        }
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }?;
    Ok(0)
}

fn container_parent(path: &str) -> (String, String) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((parent, name)) => (
            if parent.is_empty() {
                "/".into()
            } else {
                parent.into()
            },
            name.to_string(),
        ),
        None => (".".into(), trimmed.to_string()),
    }
}

async fn copy_from(
    client: &Client,
    container: &str,
    path: &str,
    destination: &str,
) -> anyhow::Result<()> {
    let response = client
        .request(
            Method::GET,
            &format!("/containers/{container}/archive"),
            &Query::new().add("path", path),
            RequestBody::Empty,
            &[],
        )
        .await?;
    let stat = parse_stat(response.headers().get("x-docker-container-path-stat"))?;
    if destination == "-" {
        let mut body = response.into_body();
        let mut out = tokio::io::stdout();
        while let Some(chunk) = next_chunk(&mut body).await? {
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        return Ok(());
    }
    let archive = response.into_body().collect().await?.to_bytes();
    let destination = PathBuf::from(destination);
    let trailing_slash = destination.to_string_lossy().ends_with('/');
    tokio::task::spawn_blocking(move || extract(&archive, &stat, &destination, trailing_slash))
        .await
        .context("extracting the archive")?
}

/// Extracts a container archive whose top entry is `stat.name`: into `destination` if that is
/// a directory, otherwise as `destination` itself.
fn extract(
    archive: &[u8],
    stat: &PathStat,
    destination: &Path,
    trailing_slash: bool,
) -> anyhow::Result<()> {
    let mut tar = tar::Archive::new(archive);
    tar.set_preserve_permissions(true);
    tar.set_overwrite(true);
    if destination.is_dir() {
        tar.unpack(destination)
            .with_context(|| format!("extracting into {}", destination.display()))?;
        return Ok(());
    }
    if destination.exists() && stat.is_dir {
        bail!(
            "cannot copy a directory to a file: {}",
            destination.display()
        );
    }
    if trailing_slash {
        bail!(
            "destination directory {} does not exist",
            destination.display()
        );
    }
    let parent = match destination.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!("no such directory: {}", parent.display());
    }
    let new_name = destination
        .file_name()
        .context("the destination has no file name")?
        .to_os_string();
    for entry in tar.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        let original = entry
            .path()
            .context("an archive entry's path")?
            .into_owned();
        let mut renamed = PathBuf::new();
        for (index, component) in original.components().enumerate() {
            match component {
                Component::Normal(part) if index == 0 && part == stat.name.as_str() => {
                    renamed.push(&new_name)
                }
                Component::Normal(part) => renamed.push(part),
                Component::CurDir => {}
                _ => bail!(
                    "refusing archive entry {}: it leaves the destination",
                    original.display()
                ),
            }
        }
        if renamed.as_os_str().is_empty() {
            continue;
        }
        let target = parent.join(&renamed);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        entry
            .unpack(&target)
            .with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(())
}

async fn container_stat(
    client: &Client,
    container: &str,
    path: &str,
) -> anyhow::Result<Option<PathStat>> {
    match client
        .request(
            Method::HEAD,
            &format!("/containers/{container}/archive"),
            &Query::new().add("path", path),
            RequestBody::Empty,
            &[],
        )
        .await
    {
        Ok(response) => Ok(Some(parse_stat(
            response.headers().get("x-docker-container-path-stat"),
        )?)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn copy_to(
    client: &Client,
    source: &str,
    container: &str,
    path: &str,
    follow_link: bool,
    archive_mode: bool,
) -> anyhow::Result<()> {
    let put = |target: String, body: RequestBody| async move {
        client
            .json(
                Method::PUT,
                &format!("/containers/{container}/archive"),
                &Query::new()
                    .add("path", target)
                    .add("noOverwriteDirNonDir", "true")
                    .add_if(archive_mode, "copyUIDGID", "true"),
                body,
            )
            .await
    };
    if source == "-" {
        put(
            path.to_string(),
            RequestBody::Reader(Box::new(tokio::io::stdin()), "application/x-tar"),
        )
        .await?;
        return Ok(());
    }
    let local = PathBuf::from(source);
    let metadata = match if follow_link {
        std::fs::metadata(&local)
    } else {
        std::fs::symlink_metadata(&local)
    } {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("lstat {source}: no such file or directory")
        }
        Err(e) => return Err(e).with_context(|| format!("lstat {source}")),
    };
    let local_name = local
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| local.file_name().map(|n| n.to_string_lossy().into_owned()))
        .context("the source has no file name")?;
    let (target_dir, entry_name) = match container_stat(client, container, path).await? {
        Some(stat) if stat.is_dir => (path.to_string(), local_name),
        Some(_) if metadata.is_dir() => {
            bail!("cannot copy a directory to a file: {container}:{path}")
        }
        Some(_) => container_parent(path),
        None => {
            if path.ends_with('/') && !metadata.is_dir() {
                bail!("destination directory {container}:{path} does not exist");
            }
            container_parent(path)
        }
    };
    let is_dir = metadata.is_dir();
    let tar = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(follow_link);
        if is_dir {
            builder
                .append_dir_all(&entry_name, &local)
                .with_context(|| format!("archiving {}", local.display()))?;
        } else {
            builder
                .append_path_with_name(&local, &entry_name)
                .with_context(|| format!("archiving {}", local.display()))?;
        }
        Ok(builder.into_inner()?)
    })
    .await
    .context("archiving the source")??;
    put(target_dir, RequestBody::Bytes(tar, "application/x-tar")).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_split_like_docker() {
        assert_eq!(
            split_container_path("web:/etc/hosts"),
            Some(("web", "/etc/hosts"))
        );
        assert_eq!(split_container_path("/tmp/a:b"), None);
        assert_eq!(split_container_path("./a:b"), None);
        assert_eq!(split_container_path("-"), None);
        assert_eq!(split_container_path("plainfile"), None);
        assert_eq!(split_container_path(":x"), None);
        assert_eq!(
            container_parent("/etc/hosts"),
            ("/etc".into(), "hosts".into())
        );
        assert_eq!(container_parent("/hosts"), ("/".into(), "hosts".into()));
        assert_eq!(container_parent("/dir/"), ("/".into(), "dir".into()));
    }

    fn archive_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, *data)
                .expect("appends");
        }
        builder.into_inner().expect("finishes")
    }

    #[test]
    fn extraction_renames_or_copies_into() {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = archive_of(&[("hostname", b"box\n")]);
        let stat = PathStat {
            name: "hostname".into(),
            is_dir: false,
        };
        // Into an existing directory: keeps the name.
        extract(&archive, &stat, dir.path(), false).expect("extracts");
        assert_eq!(
            std::fs::read(dir.path().join("hostname")).expect("exists"),
            b"box\n"
        );
        // To a new path: renamed.
        let renamed = dir.path().join("copy");
        extract(&archive, &stat, &renamed, false).expect("extracts");
        assert_eq!(std::fs::read(&renamed).expect("exists"), b"box\n");
        // Into a missing directory: refused.
        let missing = dir.path().join("nope/x");
        assert!(extract(&archive, &stat, &missing, false).is_err());
        // A directory tree to a new name.
        let tree = archive_of(&[("etc/a", b"1"), ("etc/sub/b", b"2")]);
        let stat = PathStat {
            name: "etc".into(),
            is_dir: true,
        };
        let target = dir.path().join("etc-copy");
        extract(&tree, &stat, &target, false).expect("extracts");
        assert_eq!(std::fs::read(target.join("sub/b")).expect("exists"), b"2");
        // A directory over a file: refused.
        assert!(extract(&tree, &stat, &renamed, false).is_err());
    }

    #[test]
    fn stat_header_decodes() {
        let json = r#"{"name":"etc","size":4096,"mode":2147484141,"mtime":"2024-01-01T00:00:00Z","linkTarget":""}"#;
        let encoded = base64::engine::general_purpose::STANDARD.encode(json);
        let header = hyper::header::HeaderValue::from_str(&encoded).expect("valid header");
        let stat = parse_stat(Some(&header)).expect("parses");
        assert_eq!(
            stat,
            PathStat {
                name: "etc".into(),
                is_dir: true
            }
        );
        assert!(parse_stat(None).is_err());
    }
}
