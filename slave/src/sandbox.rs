//! Creating an executor run's sandbox (Mesos `createSandboxDirectory`): the directory,
//! private to its user (mode 0750) and owned by the task's user under `--switch_user`,
//! and its `stdout`/`stderr`, which the fetcher logs into first and the executor's output
//! is appended to.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::user::RunAs;

/// Creates the sandbox `dir` (and its parents), mode 0750, owned by `user` if given.
pub fn create(dir: &Path, user: Option<&RunAs>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))?;
    if let Some(u) = user {
        chown(dir, u)?;
    }
    Ok(())
}

/// Opens (creating if missing) the sandbox file `name` for appending; a file it creates is
/// owned by `user`.
pub fn output_file(dir: &Path, name: &str, user: Option<&RunAs>) -> std::io::Result<File> {
    let path = dir.join(name);
    let existed = path.exists();
    let f = OpenOptions::new().create(true).append(true).open(&path)?;
    if let (false, Some(u)) = (existed, user) {
        chown(&path, u)?;
    }
    Ok(f)
}

fn chown(path: &Path, u: &RunAs) -> std::io::Result<()> {
    nix::unistd::chown(
        path,
        Some(nix::unistd::Uid::from_raw(u.uid)),
        Some(nix::unistd::Gid::from_raw(u.gid)),
    )
    .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sandbox_is_private_and_output_files_are_appended_to() {
        let dir = std::env::temp_dir().join(format!("sandbox-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let run = dir.join("a/b");
        create(&run, None).unwrap();
        let mode = std::fs::metadata(&run).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o750);
        output_file(&run, "stderr", None)
            .unwrap()
            .write_all(b"fetcher\n")
            .unwrap();
        output_file(&run, "stderr", None)
            .unwrap()
            .write_all(b"executor\n")
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(run.join("stderr")).unwrap(),
            "fetcher\nexecutor\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
