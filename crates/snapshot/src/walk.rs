//! Read-only walks of a container's upper directory: disk usage and `docker diff` changes.

use std::collections::{BTreeSet, HashSet};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::extract::OPAQUE_XATTR;
use crate::store::{Change, ChangeKind};
use crate::sys::{self, XattrTarget};

fn show(comps: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(c));
    }
    s
}

/// Sums the sizes of non-directories below `dir`, counting hard links once.
pub(crate) fn usage(dir: BorrowedFd<'_>, seen: &mut HashSet<(u64, u64)>) -> Result<u64> {
    let mut total = 0u64;
    for name in sys::list_dir(dir).ctx(|| "listing the upper directory".into())? {
        let Some(st) = sys::lstat_at(dir, &name).ctx(|| "inspecting the upper directory".into())?
        else {
            continue;
        };
        if sys::file_type(&st) == libc::S_IFDIR {
            if let Ok(fd) = sys::open_subdir(dir, &name) {
                total += usage(fd.as_fd(), seen)?;
            }
            continue;
        }
        if st.st_nlink > 1 && !seen.insert((st.st_dev, st.st_ino)) {
            continue;
        }
        total += u64::try_from(st.st_size).unwrap_or(0);
    }
    Ok(total)
}

fn is_opaque(path: &Path) -> bool {
    sys::lget_xattr(path, OPAQUE_XATTR)
        .ok()
        .flatten()
        .is_some_and(|v| v == b"y")
}

fn under(lower: &Path, comps: &[Vec<u8>]) -> PathBuf {
    let mut p = lower.to_path_buf();
    for c in comps {
        p.push(std::ffi::OsStr::from_bytes(c));
    }
    p
}

/// Whether `comps` is visible in the overlay of `lowers` (topmost first), honouring
/// whiteouts, opaque directories and non-directories that shadow a path.
pub(crate) fn lower_exists(lowers: &[PathBuf], comps: &[Vec<u8>]) -> bool {
    for lower in lowers {
        let mut p = lower.clone();
        let mut opaque = false;
        for (i, c) in comps.iter().enumerate() {
            p.push(std::ffi::OsStr::from_bytes(c));
            let Ok(Some(st)) = sys::lstat(&p) else {
                break;
            };
            if sys::is_whiteout(&st) {
                return false;
            }
            if i + 1 == comps.len() {
                return true;
            }
            if sys::file_type(&st) != libc::S_IFDIR {
                return false;
            }
            opaque |= is_opaque(&p);
        }
        if opaque {
            return false;
        }
    }
    false
}

/// The names visible in the lower directory `comps`.
fn lower_children(lowers: &[PathBuf], comps: &[Vec<u8>]) -> BTreeSet<Vec<u8>> {
    let mut seen = HashSet::new();
    let mut visible = BTreeSet::new();
    for lower in lowers {
        let p = under(lower, comps);
        match sys::lstat(&p) {
            Ok(Some(st)) if sys::file_type(&st) == libc::S_IFDIR => {}
            Ok(Some(_)) => break,
            _ => continue,
        }
        if let Ok(rd) = std::fs::read_dir(&p) {
            for entry in rd.flatten() {
                let name = entry.file_name().as_bytes().to_vec();
                if !seen.insert(name.clone()) {
                    continue;
                }
                let whiteout = sys::lstat(&entry.path())
                    .ok()
                    .flatten()
                    .is_some_and(|st| sys::is_whiteout(&st));
                if !whiteout {
                    visible.insert(name);
                }
            }
        }
        if is_opaque(&p) {
            break;
        }
    }
    visible
}

/// Collects the changes below the upper directory `dir` (at `comps`).
pub(crate) fn changes(
    dir: BorrowedFd<'_>,
    lowers: &[PathBuf],
    comps: &mut Vec<Vec<u8>>,
    opaque_above: bool,
    out: &mut Vec<Change>,
) -> Result<()> {
    let names = sys::list_dir(dir).ctx(|| format!("listing {}", show(comps)))?;
    for name in &names {
        let Some(st) = sys::lstat_at(dir, name).ctx(|| format!("inspecting {}", show(comps)))?
        else {
            continue;
        };
        comps.push(name.clone());
        if sys::is_whiteout(&st) {
            out.push(Change {
                kind: ChangeKind::Deleted,
                path: show(comps),
            });
        } else {
            let in_lower = !opaque_above && lower_exists(lowers, comps);
            out.push(Change {
                kind: if in_lower {
                    ChangeKind::Modified
                } else {
                    ChangeKind::Added
                },
                path: show(comps),
            });
            if sys::file_type(&st) == libc::S_IFDIR {
                if let Ok(fd) = sys::open_subdir(dir, name) {
                    let opaque = sys::get_xattr(XattrTarget::Fd(fd.as_fd()), OPAQUE_XATTR)
                        .ok()
                        .flatten()
                        .is_some_and(|v| v == b"y");
                    if opaque && in_lower {
                        let present: HashSet<Vec<u8>> = sys::list_dir(fd.as_fd())
                            .ctx(|| format!("listing {}", show(comps)))?
                            .into_iter()
                            .collect();
                        for child in lower_children(lowers, comps) {
                            if !present.contains(&child) {
                                comps.push(child);
                                out.push(Change {
                                    kind: ChangeKind::Deleted,
                                    path: show(comps),
                                });
                                comps.pop();
                            }
                        }
                    }
                    changes(fd.as_fd(), lowers, comps, opaque_above || opaque, out)?;
                }
            }
        }
        comps.pop();
    }
    Ok(())
}
