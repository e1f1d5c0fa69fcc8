//! Bounded reads of files that come from outside the process (an author's app dir, a
//! bundle dir, a key file). One helper for every such read, so each one:
//!
//! - refuses symbolic links that leave the directory the file must be in (a link inside it
//!   is followed, so `images/web.oci.tar -> ../build/web.oci.tar` works), or every link at
//!   all with [`open_regular`];
//! - refuses anything that is not a regular file (FIFO, device, socket, directory) before
//!   opening it, and again on the opened handle (`fstat`), so nothing can block or stream
//!   forever; the open itself uses `O_NOFOLLOW | O_NONBLOCK`;
//! - checks the size on the opened handle against a limit *before* reading, then reads at
//!   most `limit + 1` bytes, so a file that grows meanwhile cannot exceed it.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::hash::Hash;

/// What a path is when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character device (`/dev/zero`).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A symbolic link.
    Symlink,
    /// Anything else.
    Other,
}

impl FileKind {
    fn of(t: fs::FileType) -> Option<Self> {
        if t.is_file() {
            return None;
        }
        Some(if t.is_dir() {
            Self::Directory
        } else if t.is_fifo() {
            Self::Fifo
        } else if t.is_socket() {
            Self::Socket
        } else if t.is_char_device() {
            Self::CharDevice
        } else if t.is_block_device() {
            Self::BlockDevice
        } else if t.is_symlink() {
            Self::Symlink
        } else {
            Self::Other
        })
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Directory => "a directory",
            Self::Fifo => "a FIFO",
            Self::Socket => "a socket",
            Self::CharDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::Symlink => "a symbolic link",
            Self::Other => "a special file",
        })
    }
}

/// Why a file from outside the process was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Nothing at that path (or a link to nothing).
    #[error("{path} does not exist")]
    Missing {
        /// The path as named.
        path: PathBuf,
    },
    /// A symbolic link (the path itself or a parent directory) resolves outside the
    /// directory the file must be in.
    #[error("{path} is a symbolic link leaving the {scope} {dir} (it resolves to {target})")]
    LeavesDir {
        /// The path as named.
        path: PathBuf,
        /// The directory it must stay in.
        dir: PathBuf,
        /// Which directory that is ("app directory", "bundle directory").
        scope: &'static str,
        /// Where it resolves to.
        target: PathBuf,
    },
    /// A symbolic link where none is allowed.
    #[error("{path} is a symbolic link; refusing to follow it")]
    Symlink {
        /// The path.
        path: PathBuf,
    },
    /// Not a regular file.
    #[error("{path} is {kind}, not a regular file")]
    NotRegular {
        /// The path as named.
        path: PathBuf,
        /// What it is.
        kind: FileKind,
    },
    /// Larger than the limit, as seen on the opened file before reading.
    #[error("{path} is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// The path as named.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The file grew past the limit while it was read.
    #[error("{path} grew past the limit of {max} bytes while it was read")]
    Grew {
        /// The path as named.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// Text was expected.
    #[error("{path} is not UTF-8 text")]
    NotUtf8 {
        /// The path as named.
        path: PathBuf,
    },
    /// Any other OS error.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl FileError {
    /// The path the error is about, as it was named.
    pub fn path(&self) -> &Path {
        match self {
            Self::Missing { path }
            | Self::LeavesDir { path, .. }
            | Self::Symlink { path }
            | Self::NotRegular { path, .. }
            | Self::TooLarge { path, .. }
            | Self::Grew { path, .. }
            | Self::NotUtf8 { path }
            | Self::Io { path, .. } => path,
        }
    }
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FileError + 'a {
    move |source| {
        if source.kind() == io::ErrorKind::NotFound {
            FileError::Missing {
                path: path.to_owned(),
            }
        } else {
            FileError::Io {
                action,
                path: path.to_owned(),
                source,
            }
        }
    }
}

/// A regular file opened for a bounded read; its size was checked against the limit.
#[derive(Debug)]
pub struct Bounded {
    file: File,
    path: PathBuf,
    meta: fs::Metadata,
    max: u64,
}

impl Bounded {
    /// The path as named.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the opened file when it was opened (≤ the limit).
    pub fn size(&self) -> u64 {
        self.meta.len()
    }

    /// Metadata of the opened handle (`fstat`), e.g. for a permission check.
    pub fn metadata(&self) -> &fs::Metadata {
        &self.meta
    }

    /// Read the whole file, at most the limit.
    pub fn read_all(self) -> Result<Vec<u8>, FileError> {
        let mut out = Vec::with_capacity(usize::try_from(self.size()).unwrap_or(0));
        let max = self.max;
        let read = (&self.file)
            .take(max.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(io_err("reading", &self.path))?;
        if read as u64 > max {
            return Err(FileError::Grew {
                path: self.path,
                max,
            });
        }
        Ok(out)
    }

    /// Read the whole file as UTF-8 text, at most the limit.
    pub fn read_string(self) -> Result<String, FileError> {
        let path = self.path.clone();
        String::from_utf8(self.read_all()?).map_err(|_| FileError::NotUtf8 { path })
    }

    /// Stream the file through BLAKE3 (at most the limit), writing each chunk to `copy` too
    /// if given. Returns the hash and the number of bytes.
    pub fn hash(self, mut copy: Option<&mut dyn Write>) -> Result<(Hash, u64), FileError> {
        let max = self.max;
        let mut reader = (&self.file).take(max.saturating_add(1));
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("reading", &self.path)(e)),
            };
            hasher.update(&buf[..n]);
            if hasher.count() > max {
                return Err(FileError::Grew {
                    path: self.path,
                    max,
                });
            }
            if let Some(w) = copy.as_mut() {
                w.write_all(&buf[..n]).map_err(|source| FileError::Io {
                    action: "copying",
                    path: self.path.clone(),
                    source,
                })?;
            }
        }
        Ok((hasher.finalize().into(), hasher.count()))
    }
}

/// Open `path` for a bounded read: no symbolic link at the path itself, a regular file
/// only (checked before and after opening), at most `max` bytes.
pub fn open_regular(path: &Path, max: u64) -> Result<Bounded, FileError> {
    open_checked(path, path, max)
}

/// Open `dir/rel` for a bounded read, where the file must stay inside `dir`: links are
/// followed only while they resolve inside `dir` (a link of the file itself or of any
/// parent directory that leaves it is refused); then as [`open_regular`]. `scope` names
/// the directory in errors ("app directory").
pub fn open_in(
    dir: &Path,
    rel: &Path,
    scope: &'static str,
    max: u64,
) -> Result<Bounded, FileError> {
    let named = dir.join(rel);
    let root = fs::canonicalize(dir).map_err(io_err("resolving", dir))?;
    let target = fs::canonicalize(&named).map_err(io_err("resolving", &named))?;
    let leaves = |target: PathBuf| FileError::LeavesDir {
        path: named.clone(),
        dir: dir.to_owned(),
        scope,
        target,
    };
    if !target.starts_with(&root) {
        return Err(leaves(target));
    }
    let opened = open_checked(&target, &named, max)?;
    // Close the race of a parent directory swapped for a link between resolving and
    // opening: where the kernel says the opened file is must still be inside `dir`.
    if let Ok(real) = fs::read_link(format!("/proc/self/fd/{}", fd_of(&opened.file))) {
        if !real.starts_with(&root) {
            return Err(leaves(real));
        }
    }
    Ok(opened)
}

fn fd_of(file: &File) -> i32 {
    use std::os::fd::AsRawFd;
    file.as_raw_fd()
}

/// lstat, open with `O_NOFOLLOW | O_NONBLOCK`, fstat. `path` is opened, `named` is what
/// errors call it.
fn open_checked(path: &Path, named: &Path, max: u64) -> Result<Bounded, FileError> {
    let not_regular = |kind| FileError::NotRegular {
        path: named.to_owned(),
        kind,
    };
    let lmeta = fs::symlink_metadata(path).map_err(io_err("inspecting", named))?;
    if lmeta.file_type().is_symlink() {
        return Err(FileError::Symlink {
            path: named.to_owned(),
        });
    }
    if let Some(kind) = FileKind::of(lmeta.file_type()) {
        return Err(not_regular(kind));
    }
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                FileError::Symlink {
                    path: named.to_owned(),
                }
            } else {
                io_err("opening", named)(e)
            }
        })?;
    let meta = file.metadata().map_err(io_err("inspecting", named))?;
    if let Some(kind) = FileKind::of(meta.file_type()) {
        return Err(not_regular(kind));
    }
    if meta.len() > max {
        return Err(FileError::TooLarge {
            path: named.to_owned(),
            size: meta.len(),
            max,
        });
    }
    Ok(Bounded {
        file,
        path: named.to_owned(),
        meta,
        max,
    })
}

#[cfg(test)]
mod tests;
