//! Opening a path confined beneath a directory descriptor, whatever the tree's owner does
//! to it meanwhile (swaps a file for a symlink to `/etc/passwd`, a directory for a link to
//! `/`): the kernel resolves every component relative to the directory with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, and where `openat2` is missing
//! (kernels before 5.6, or a seccomp filter that refuses it) a component-by-component
//! `openat(O_NOFOLLOW)` walk that follows no symlink and no `..` at all.
//!
//! Only regular files and directories are opened: the target is first opened `O_PATH`
//! (which opens nothing: no FIFO wait, no device side effect) and checked with `fstat`,
//! then opened for reading `O_NONBLOCK` and checked again, and must be the same inode.
//! Escaping and absent are the same answer ([`BeneathError::NotFound`]), so a caller
//! cannot learn which host paths exist.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{OFlag, ResolveFlag};
use nix::sys::stat::{fstat, FileStat, Mode, SFlag};

/// Why a path could not be opened.
#[derive(Debug)]
pub enum BeneathError {
    /// Absent, or outside the directory (through `..`, an absolute or escaping symlink, a
    /// magic link): deliberately the same answer.
    NotFound,
    /// A FIFO, socket or device: never opened for reading.
    NotRegular,
    /// Any other failure (permissions, I/O).
    Io(Errno),
}

/// What was opened.
pub enum Opened {
    /// A regular file, open for reading.
    File(File),
    /// A directory, open for reading (listing).
    Dir(OwnedFd),
}

/// Opens `root` itself: a directory the caller trusts (the agent's own work directory).
pub fn open_root(root: &Path) -> Result<OwnedFd, BeneathError> {
    nix::fcntl::open(
        root,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(classify)
}

/// Opens the directory `rel` beneath `dir` as a descriptor to resolve further paths from
/// (symlinks inside are followed as long as they stay beneath `dir`).
pub fn open_dir_beneath(dir: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd, BeneathError> {
    let fd = resolve(dir, rel, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    // O_PATH | O_DIRECTORY already refuses anything else; the fstat double-checks.
    match kind(&fstat(fd.as_fd()).map_err(classify)?) {
        Kind::Dir => Ok(fd),
        _ => Err(BeneathError::NotFound),
    }
}

/// Opens `rel` beneath `dir` for reading, if it is a regular file or a directory.
pub fn open_beneath(dir: BorrowedFd<'_>, rel: &Path) -> Result<Opened, BeneathError> {
    let probe = resolve(dir, rel, OFlag::O_PATH)?;
    let before = fstat(probe.as_fd()).map_err(classify)?;
    let flags = match kind(&before) {
        Kind::Other => return Err(BeneathError::NotRegular),
        Kind::Dir => OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Kind::File => OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
    };
    // Open it for real (the path may have been swapped since: same inode, or nothing).
    let fd = resolve(dir, rel, flags)?;
    let after = fstat(fd.as_fd()).map_err(classify)?;
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) {
        return Err(BeneathError::NotFound);
    }
    match kind(&after) {
        Kind::File => Ok(Opened::File(File::from(fd))),
        Kind::Dir => Ok(Opened::Dir(fd)),
        Kind::Other => Err(BeneathError::NotRegular),
    }
}

enum Kind {
    File,
    Dir,
    Other,
}

fn kind(st: &FileStat) -> Kind {
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => Kind::File,
        SFlag::S_IFDIR => Kind::Dir,
        _ => Kind::Other,
    }
}

/// Errors that mean "not reachable from here": all reported as absent.
fn classify(e: Errno) -> BeneathError {
    match e {
        Errno::ENOENT | Errno::ENOTDIR | Errno::EXDEV | Errno::ELOOP | Errno::ENAMETOOLONG => {
            BeneathError::NotFound
        }
        e => BeneathError::Io(e),
    }
}

/// Resolves `rel` beneath `dir` and opens it with `flags` (plus `O_CLOEXEC`).
fn resolve(dir: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> Result<OwnedFd, BeneathError> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    if rel.is_absolute() {
        return Err(BeneathError::NotFound);
    }
    let how = nix::fcntl::OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    match nix::fcntl::openat2(dir, rel, how) {
        Ok(fd) => Ok(fd),
        // No openat2 here (an old kernel, or a seccomp profile that refuses it).
        Err(Errno::ENOSYS) | Err(Errno::EPERM) => walk(dir, rel, flags),
        Err(e) => Err(classify(e)),
    }
}

/// The fallback: one `openat(O_NOFOLLOW)` per component; any symlink (even one that would
/// stay inside) and any `..` is refused as absent.
fn walk(dir: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> Result<OwnedFd, BeneathError> {
    let names: Vec<&std::ffi::OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(Ok(n)),
            Component::CurDir => None,
            _ => Some(Err(BeneathError::NotFound)),
        })
        .collect::<Result<_, _>>()?;
    let Some((last, parents)) = names.split_last() else {
        return nix::fcntl::openat(
            dir,
            ".",
            flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )
        .map_err(classify);
    };
    let mut held: Option<OwnedFd> = None;
    for name in parents {
        let at = held.as_ref().map_or(dir, |f| f.as_fd());
        let next = nix::fcntl::openat(
            at,
            *name,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(classify)?;
        held = Some(next);
    }
    let at = held.as_ref().map_or(dir, |f| f.as_fd());
    nix::fcntl::openat(
        at,
        *last,
        flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    // Without O_PATH a final symlink fails with ELOOP (absent); with O_PATH | O_NOFOLLOW
    // it opens the link itself, refused here by its type.
    .map_err(classify)
    .and_then(|fd| {
        let st = fstat(fd.as_fd()).map_err(classify)?;
        if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFLNK {
            Err(BeneathError::NotFound)
        } else {
            Ok(fd)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A scratch tree, removed when dropped.
    struct Scratch(std::path::PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tree() -> (Scratch, OwnedFd) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = Scratch(std::env::temp_dir().join(format!("beneath-{}-{n}", std::process::id())));
        let r = t.0.as_path();
        std::fs::create_dir_all(r.join("box/sub")).unwrap();
        std::fs::write(r.join("box/sub/file"), "inside").unwrap();
        std::os::unix::fs::symlink("sub/file", r.join("box/rel-link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("box/abs-link")).unwrap();
        std::os::unix::fs::symlink("../../", r.join("box/sub/up")).unwrap();
        nix::unistd::mkfifo(&r.join("box/fifo"), Mode::from_bits_truncate(0o644)).unwrap();
        let fd = open_root(&r.join("box")).unwrap();
        (t, fd)
    }

    fn read(o: Opened) -> String {
        match o {
            Opened::File(mut f) => {
                let mut s = String::new();
                f.read_to_string(&mut s).unwrap();
                s
            }
            Opened::Dir(_) => "<dir>".into(),
        }
    }

    #[test]
    fn openat2_confines_and_refuses_what_is_not_a_file() {
        let (_t, root) = tree();
        let at = root.as_fd();
        assert_eq!(
            read(open_beneath(at, Path::new("sub/file")).unwrap()),
            "inside"
        );
        assert_eq!(
            read(open_beneath(at, Path::new("rel-link")).unwrap()),
            "inside"
        );
        assert_eq!(read(open_beneath(at, Path::new("sub")).unwrap()), "<dir>");
        assert_eq!(read(open_beneath(at, Path::new("")).unwrap()), "<dir>");
        for outside in [
            "abs-link",
            "sub/up/box/sub/file",
            "../box/sub/file",
            "missing",
            "/etc/passwd",
        ] {
            assert!(
                matches!(
                    open_beneath(at, Path::new(outside)),
                    Err(BeneathError::NotFound)
                ),
                "{outside}"
            );
        }
        assert!(matches!(
            open_beneath(at, Path::new("fifo")),
            Err(BeneathError::NotRegular)
        ));
    }

    #[test]
    fn the_fallback_walk_follows_no_symlink_and_no_dotdot() {
        let (_t, root) = tree();
        let at = root.as_fd();
        let open = |p: &str| walk(at, Path::new(p), OFlag::O_RDONLY | OFlag::O_NONBLOCK);
        let mut f = File::from(open("sub/file").unwrap());
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "inside");
        for refused in [
            "abs-link",
            "rel-link",
            "sub/up/box/sub/file",
            "../box/sub/file",
            "missing",
        ] {
            assert!(
                matches!(open(refused), Err(BeneathError::NotFound)),
                "{refused}"
            );
        }
        let path_only = walk(at, Path::new("abs-link"), OFlag::O_PATH);
        assert!(matches!(path_only, Err(BeneathError::NotFound)));
    }
}
