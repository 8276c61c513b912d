//! The user a task runs as (Mesos `--switch_user`): the command's `user`, else the
//! framework's, looked up in the agent's user database once per launch. The executor
//! process takes on that user's uid, gid and supplementary groups just before `exec`
//! ([`RunAs::switch`]), and its sandbox and fetched files are owned by it ([`chown_tree`]).
//! With `--switch_user=false`, or no user named, everything runs as the agent's user.

use std::path::Path;

use nix::unistd::{Gid, Uid, User};

/// A resolved user: what the child process switches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The user name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
    /// Its supplementary groups (the primary group included), as `initgroups` would set.
    pub groups: Vec<u32>,
}

/// Which user a command runs as: `command_user`, else `framework_user`, when
/// `switch_user` is on; `None` (the agent's own user) otherwise or when neither names one.
pub fn task_user(
    switch_user: bool,
    command_user: Option<&str>,
    framework_user: &str,
) -> Option<String> {
    if !switch_user {
        return None;
    }
    command_user
        .filter(|u| !u.is_empty())
        .or(Some(framework_user).filter(|u| !u.is_empty()))
        .map(str::to_string)
}

impl RunAs {
    /// Looks `name` up; an unknown user is an error naming it.
    pub fn lookup(name: &str) -> Result<RunAs, String> {
        let user = match User::from_name(name) {
            Ok(Some(u)) => u,
            Ok(None) => return Err(format!("user '{name}' does not exist on this agent")),
            Err(e) => return Err(format!("cannot look up user '{name}': {e}")),
        };
        let groups = groups_of(&user);
        Ok(RunAs {
            name: name.to_string(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            groups,
        })
    }

    /// Whether this is the user the agent runs as (nothing to switch).
    pub fn is_current(&self) -> bool {
        Uid::effective().as_raw() == self.uid && Gid::effective().as_raw() == self.gid
    }

    /// In a forked child before `exec`: drops to this user (supplementary groups, then
    /// gid, then uid, so the uid change comes last). Async-signal-safe: only system calls,
    /// no allocation.
    pub fn switch(uid: u32, gid: u32, groups: &[Gid]) -> std::io::Result<()> {
        if Uid::effective().as_raw() != uid || Gid::effective().as_raw() != gid {
            nix::unistd::setgroups(groups)?;
            nix::unistd::setgid(Gid::from_raw(gid))?;
            nix::unistd::setuid(Uid::from_raw(uid))?;
        }
        Ok(())
    }
}

impl RunAs {
    /// Whether this user may read the file `path` by its mode bits: search permission on
    /// every directory above it and read permission on it (ACLs are not consulted).
    pub fn may_read(&self, path: &Path) -> bool {
        self.may_reach(path) && std::fs::metadata(path).is_ok_and(|m| self.may_read_meta(&m))
    }

    /// Whether this user may search every directory above `path`.
    pub fn may_reach(&self, path: &Path) -> bool {
        path.ancestors()
            .skip(1)
            .all(|d| std::fs::metadata(d).is_ok_and(|m| self.allows(&m, 0o1)))
    }

    /// Whether this user may read a file with these metadata (of an opened file, say).
    pub fn may_read_meta(&self, meta: &std::fs::Metadata) -> bool {
        self.allows(meta, 0o4)
    }

    fn allows(&self, meta: &std::fs::Metadata, bit: u32) -> bool {
        use std::os::unix::fs::MetadataExt;
        if self.uid == 0 {
            return true;
        }
        let mode = meta.mode();
        if meta.uid() == self.uid {
            mode & (bit << 6) != 0
        } else if meta.gid() == self.gid || self.groups.contains(&meta.gid()) {
            mode & (bit << 3) != 0
        } else {
            mode & bit != 0
        }
    }
}

/// Whether this process may switch to other users (it runs as root).
pub fn can_switch() -> bool {
    Uid::effective().is_root()
}

fn groups_of(user: &User) -> Vec<u32> {
    let Ok(name) = std::ffi::CString::new(user.name.clone()) else {
        return vec![user.gid.as_raw()];
    };
    match nix::unistd::getgrouplist(&name, user.gid) {
        Ok(groups) => groups.into_iter().map(|g| g.as_raw()).collect(),
        Err(_) => vec![user.gid.as_raw()],
    }
}

/// Gives `path` and everything below it to `user` (symbolic links themselves, not their
/// targets).
pub fn chown_tree(path: &Path, user: &RunAs) -> std::io::Result<()> {
    let (uid, gid) = (Some(Uid::from_raw(user.uid)), Some(Gid::from_raw(user.gid)));
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &p,
            uid,
            gid,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&p)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_user_wins_and_switch_user_off_means_the_agents_user() {
        assert_eq!(task_user(true, Some("alice"), "bob"), Some("alice".into()));
        assert_eq!(task_user(true, None, "bob"), Some("bob".into()));
        assert_eq!(task_user(true, Some(""), "bob"), Some("bob".into()));
        assert_eq!(task_user(true, None, ""), None);
        assert_eq!(task_user(false, Some("alice"), "bob"), None);
    }

    #[test]
    fn users_are_looked_up() {
        let root = RunAs::lookup("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0));
        assert!(root.may_read(Path::new("/etc/hostname")) || !Path::new("/etc/hostname").exists());
        let nobody = RunAs {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
        };
        let dir = std::env::temp_dir().join(format!("user-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("secret");
        std::fs::write(&f, "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(!nobody.may_read(&f), "others may not read a 0600 file");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(
            !nobody.may_read(&f),
            "nor reach it through a 0700 directory"
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(nobody.may_read(&f));
        let _ = std::fs::remove_dir_all(&dir);
        let err = RunAs::lookup("no-such-user-mesos-test").unwrap_err();
        assert!(
            err.contains("'no-such-user-mesos-test' does not exist"),
            "{err}"
        );
    }
}
