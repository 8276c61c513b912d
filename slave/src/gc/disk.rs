//! The file system side of garbage collection: how full the disk is (`statvfs`), taking a
//! directory out of sight at once (a rename into `<work_dir>/gc-trash`, one system call)
//! and deleting it later off the agent's thread, and finding, after a restart, the
//! directories on disk that no live executor uses.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Where directories wait to be deleted: `<work_dir>/gc-trash` (outside the sandboxes
/// `/files` serves, on the same file system as them).
pub fn trash_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("gc-trash")
}

/// The fraction (0 to 1) of the file system holding `path` that is in use, as Mesos's
/// `fs::usage` computes it: `(blocks - free blocks) / blocks`.
pub fn statvfs_usage(path: &Path) -> Result<f64, String> {
    let st = nix::sys::statvfs::statvfs(path)
        .map_err(|e| format!("statvfs '{}': {e}", path.display()))?;
    let blocks = st.blocks() as f64;
    if blocks <= 0.0 {
        return Ok(0.0);
    }
    let free = st.blocks_free() as f64;
    Ok(((blocks - free) / blocks).clamp(0.0, 1.0))
}

/// Moves `path` into `trash` as `<seq>-<name>` so that nothing finds it there any more.
/// `Ok(None)`: it was gone already.
pub fn move_aside(path: &Path, trash: &Path, seq: u64) -> io::Result<Option<PathBuf>> {
    if path.symlink_metadata().is_err() {
        return Ok(None);
    }
    std::fs::create_dir_all(trash)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let to = trash.join(format!("{seq}-{name}"));
    match std::fs::rename(path, &to) {
        Ok(()) => Ok(Some(to)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Deletes `path` (a directory with everything in it, or a file); gone already is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    let result = match path.symlink_metadata() {
        Ok(md) if md.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Deletes everything in `trash` (left by an agent that stopped mid-deletion).
pub fn empty_trash(trash: &Path) {
    let Ok(entries) = std::fs::read_dir(trash) else {
        return;
    };
    for entry in entries.flatten() {
        if let Err(e) = remove(&entry.path()) {
            tracing::warn!(path = %entry.path().display(), error = %e, "cannot delete garbage");
        }
    }
}

/// Sets the modification time of each path to now, so that a restarted agent sees when
/// it finished (as Mesos's `os::utime` before scheduling). Missing paths are skipped.
pub fn touch(paths: &[PathBuf]) {
    let now = SystemTime::now();
    for p in paths {
        if let Ok(f) = std::fs::File::open(p) {
            let _ = f.set_modified(now);
        }
    }
}

/// How long ago `path` was last modified (zero if that is unknown or in the future).
pub fn age(path: &Path) -> Duration {
    path.symlink_metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or(Duration::ZERO)
}

/// The directories below `root`, following the layout `levels` (e.g. `frameworks`,
/// `executors`, `runs`: `root/frameworks/<F>/executors/<E>/runs/<C>`), that hold nothing
/// in `live`: the highest such directory on each branch, with how long ago it was
/// modified. Symbolic links (`latest`) are skipped.
pub fn unused_below(root: &Path, levels: &[&str], live: &[PathBuf]) -> Vec<(PathBuf, Duration)> {
    let mut out = vec![];
    let Some((level, rest)) = levels.split_first() else {
        return out;
    };
    let Ok(entries) = std::fs::read_dir(root.join(level)) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match path.symlink_metadata() {
            Ok(md) if md.is_dir() => {}
            _ => continue,
        }
        if !live.iter().any(|l| l.starts_with(&path)) {
            let age = age(&path);
            out.push((path, age));
        } else if !rest.is_empty() {
            out.extend(unused_below(&path, rest, live));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gc-disk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn usage_of_a_real_file_system_is_a_fraction() {
        let u = statvfs_usage(&std::env::temp_dir()).unwrap();
        assert!((0.0..=1.0).contains(&u), "{u}");
        assert!(statvfs_usage(Path::new("/nonexistent/x")).is_err());
    }

    #[test]
    fn a_moved_aside_directory_vanishes_at_once_and_is_deleted_later() {
        let d = scratch("move");
        let sandbox = d.join("slaves/S/runs/C");
        std::fs::create_dir_all(sandbox.join("sub")).unwrap();
        std::fs::write(sandbox.join("sub/stdout"), "x").unwrap();
        let trash = trash_dir(&d);
        let moved = move_aside(&sandbox, &trash, 7).unwrap().unwrap();
        assert!(!sandbox.exists());
        assert_eq!(moved, trash.join("7-C"));
        assert_eq!(
            move_aside(&sandbox, &trash, 8).unwrap(),
            None,
            "gone already"
        );
        remove(&moved).unwrap();
        assert!(!moved.exists());
        remove(&moved).unwrap();
        std::fs::write(trash.join("left"), "x").unwrap();
        empty_trash(&trash);
        assert_eq!(std::fs::read_dir(&trash).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn unused_directories_are_found_at_the_highest_level_without_a_live_run() {
        let d = scratch("unused");
        let agent = d.join("slaves/S");
        let live = agent.join("frameworks/F/executors/E/runs/C1");
        let dead = agent.join("frameworks/F/executors/E/runs/C0");
        let other_ex = agent.join("frameworks/F/executors/X/runs/C2");
        let other_fw = agent.join("frameworks/G/executors/Y/runs/C3");
        for p in [&live, &dead, &other_ex, &other_fw] {
            std::fs::create_dir_all(p).unwrap();
        }
        std::os::unix::fs::symlink("C1", agent.join("frameworks/F/executors/E/runs/latest"))
            .unwrap();
        let mut found: Vec<PathBuf> = unused_below(
            &agent,
            &["frameworks", "executors", "runs"],
            std::slice::from_ref(&live),
        )
        .into_iter()
        .map(|(p, _)| p)
        .collect();
        found.sort();
        assert_eq!(
            found,
            vec![
                dead,
                agent.join("frameworks/F/executors/X"),
                agent.join("frameworks/G"),
            ]
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
