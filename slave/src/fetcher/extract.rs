//! Unpacking fetched archives into the sandbox, as Mesos's fetcher does for the names it
//! recognizes: `.tar`, `.tar.gz`/`.tgz`, `.tar.bz2`/`.tbz2`, `.tar.xz`/`.txz`, `.zip`, and a
//! bare `.gz` (decompressed beside, without the suffix). Archives are untrusted: an entry
//! whose path is absolute or climbs out with `..`, or a link pointing out of the
//! sandbox, fails the extraction; set-id bits are dropped; at most `max_bytes` are written
//! (a compression bomb fails instead of filling the disk). Any input, however malformed,
//! is an error and never a panic.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The archive formats recognized by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `.tar`
    Tar,
    /// `.tar.gz`, `.tgz`
    TarGz,
    /// `.tar.bz2`, `.tbz2`
    TarBz2,
    /// `.tar.xz`, `.txz`
    TarXz,
    /// `.zip`
    Zip,
    /// A single gzip-compressed file (`.gz`).
    Gz,
}

/// The archive kind a file name says, if any.
pub fn kind_of(name: &str) -> Option<Kind> {
    let n = name.to_ascii_lowercase();
    let ends = |s: &str| n.ends_with(s);
    Some(if ends(".tar") {
        Kind::Tar
    } else if ends(".tar.gz") || ends(".tgz") {
        Kind::TarGz
    } else if ends(".tar.bz2") || ends(".tbz2") {
        Kind::TarBz2
    } else if ends(".tar.xz") || ends(".txz") {
        Kind::TarXz
    } else if ends(".zip") {
        Kind::Zip
    } else if ends(".gz") {
        Kind::Gz
    } else {
        return None;
    })
}

/// Whether `path` is relative and stays below where it is joined (no root, no `..`).
pub fn safe_relative(path: &Path) -> bool {
    let mut normal = false;
    for c in path.components() {
        match c {
            Component::Normal(_) => normal = true,
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    normal
}

/// Whether a symbolic link at `entry` (relative to the destination) pointing to `target`
/// resolves inside the destination.
pub fn link_stays_inside(entry: &Path, target: &Path) -> bool {
    let mut depth: i64 = entry.parent().map_or(0, |p| {
        p.components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .count() as i64
    });
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Unpacks `archive` (of `kind`) into `dest`; returns the number of bytes written.
pub fn extract(archive: &Path, kind: Kind, dest: &Path, max_bytes: u64) -> Result<u64, String> {
    let file =
        File::open(archive).map_err(|e| format!("cannot open {}: {e}", archive.display()))?;
    let input = BufReader::new(file);
    match kind {
        Kind::Tar => untar(input, dest, max_bytes),
        Kind::TarGz => untar(flate2::read::MultiGzDecoder::new(input), dest, max_bytes),
        Kind::TarBz2 => untar(bzip2::read::MultiBzDecoder::new(input), dest, max_bytes),
        Kind::TarXz => {
            // lzma-rs decompresses into a writer: go through a bounded temporary file.
            let tmp = dest.join(format!(
                ".{}.tar.partial",
                archive.file_name().and_then(|n| n.to_str()).unwrap_or("xz")
            ));
            let result = (|| {
                let mut out = Bounded::new(
                    File::create(&tmp)
                        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?,
                    max_bytes,
                );
                let mut input = input;
                lzma_rs::xz_decompress(&mut input, &mut out)
                    .map_err(|e| out.explain(format!("not a valid xz stream: {e}")))?;
                out.inner.flush().map_err(|e| e.to_string())?;
                let tar = File::open(&tmp).map_err(|e| e.to_string())?;
                untar(BufReader::new(tar), dest, max_bytes)
            })();
            let _ = std::fs::remove_file(&tmp);
            result
        }
        Kind::Zip => unzip(archive, dest, max_bytes),
        Kind::Gz => {
            let name = archive
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.get(..n.len().saturating_sub(3)))
                .filter(|n| !n.is_empty())
                .ok_or_else(|| format!("cannot name the file inside {}", archive.display()))?;
            let target = dest.join(name);
            let mut out = Bounded::new(
                File::create(&target)
                    .map_err(|e| format!("cannot create {}: {e}", target.display()))?,
                max_bytes,
            );
            let mut gz = flate2::read::MultiGzDecoder::new(input);
            io::copy(&mut gz, &mut out)
                .map_err(|e| out.explain(format!("not a valid gzip file: {e}")))?;
            Ok(out.written)
        }
    }
}

fn untar(input: impl Read, dest: &Path, max_bytes: u64) -> Result<u64, String> {
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(false);
    archive.set_preserve_ownerships(false);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(true);
    let mut total: u64 = 0;
    let entries = archive
        .entries()
        .map_err(|e| format!("not a valid tar archive: {e}"))?;
    let mut any = false;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("not a valid tar archive: {e}"))?;
        any = true;
        let path: PathBuf = entry
            .path()
            .map_err(|e| format!("bad entry name: {e}"))?
            .into_owned();
        if !safe_relative(&path) {
            if path.components().all(|c| c == Component::CurDir) {
                continue; // "./": the archive's root, i.e. the destination itself.
            }
            return Err(format!(
                "entry '{}' would be written outside the sandbox",
                path.display()
            ));
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| format!("bad link in entry '{}': {e}", path.display()))?
                .ok_or_else(|| format!("link entry '{}' has no target", path.display()))?
                .into_owned();
            let inside = if kind.is_symlink() {
                link_stays_inside(&path, &target)
            } else {
                safe_relative(&target)
            };
            if !inside {
                return Err(format!(
                    "link '{}' -> '{}' points outside the sandbox",
                    path.display(),
                    target.display()
                ));
            }
        }
        total = total.saturating_add(entry.size());
        if total > max_bytes {
            return Err(format!("archive unpacks to more than {max_bytes} bytes"));
        }
        let unpacked = entry
            .unpack_in(dest)
            .map_err(|e| format!("cannot unpack '{}': {e}", path.display()))?;
        if !unpacked {
            return Err(format!(
                "entry '{}' would be written outside the sandbox",
                path.display()
            ));
        }
    }
    if !any {
        return Err("not a valid tar archive: no entries".into());
    }
    Ok(total)
}

fn unzip(archive: &Path, dest: &Path, max_bytes: u64) -> Result<u64, String> {
    let file = File::open(archive).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| format!("not a valid zip archive: {e}"))?;
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| format!("not a valid zip archive: {e}"))?;
        let Some(path) = entry.enclosed_name().filter(|p| safe_relative(p)) else {
            return Err(format!(
                "entry '{}' would be written outside the sandbox",
                entry.name()
            ));
        };
        let target = dest.join(&path);
        if entry.is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        // A symbolic link already there (from an earlier entry) is replaced, not followed.
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            let _ = std::fs::remove_file(&target);
        }
        let mut out = Bounded::new(
            File::create(&target)
                .map_err(|e| format!("cannot create {}: {e}", target.display()))?,
            max_bytes - total,
        );
        io::copy(&mut entry, &mut out)
            .map_err(|e| out.explain(format!("cannot unpack '{}': {e}", path.display())))?;
        total += out.written;
        if let Some(mode) = entry.unix_mode() {
            let _ =
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o777));
        }
    }
    Ok(total)
}

/// A writer refusing to take more than `limit` bytes.
struct Bounded<W> {
    inner: W,
    limit: u64,
    written: u64,
    over: bool,
}

impl<W: Write> Bounded<W> {
    fn new(inner: W, limit: u64) -> Self {
        Bounded {
            inner,
            limit,
            written: 0,
            over: false,
        }
    }

    /// `error`, or the size limit if that is what stopped the writing.
    fn explain(&self, error: String) -> String {
        if self.over {
            format!("archive unpacks to more than {} bytes", self.limit)
        } else {
            error
        }
    }
}

impl<W: Write> Write for Bounded<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written.saturating_add(buf.len() as u64) > self.limit {
            self.over = true;
            return Err(io::Error::other("size limit reached"));
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("extract-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("out")).unwrap();
        d
    }

    /// A tar holding `entries` (name, contents) written with raw headers, so that unsafe
    /// names can be made too.
    fn raw_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = vec![];
        for (name, data) in entries {
            let mut h = tar::Header::new_old();
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn archive_kinds_are_recognized_by_name() {
        assert_eq!(kind_of("a.tar"), Some(Kind::Tar));
        assert_eq!(kind_of("a.tar.gz"), Some(Kind::TarGz));
        assert_eq!(kind_of("A.TGZ"), Some(Kind::TarGz));
        assert_eq!(kind_of("a.tar.bz2"), Some(Kind::TarBz2));
        assert_eq!(kind_of("a.txz"), Some(Kind::TarXz));
        assert_eq!(kind_of("a.zip"), Some(Kind::Zip));
        assert_eq!(kind_of("a.gz"), Some(Kind::Gz));
        assert_eq!(kind_of("a.sh"), None);
        assert_eq!(kind_of("tar"), None);
    }

    #[test]
    fn tar_gz_is_unpacked_with_its_modes() {
        let d = scratch("targz");
        let archive = d.join("app.tar.gz");
        std::fs::write(&archive, gz(&raw_tar(&[("bin/run.sh", b"echo hi\n")]))).unwrap();
        let n = extract(&archive, Kind::TarGz, &d.join("out"), 1 << 20).unwrap();
        assert_eq!(n, 8);
        let script = d.join("out/bin/run.sh");
        assert_eq!(std::fs::read(&script).unwrap(), b"echo hi\n");
        let mode = std::fs::metadata(&script).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn path_traversal_is_rejected() {
        let d = scratch("traversal");
        for bad in ["../escaped", "a/../../escaped", "/tmp/escaped-abs"] {
            let archive = d.join("bad.tar");
            std::fs::write(&archive, raw_tar(&[(bad, b"x")])).unwrap();
            let err = extract(&archive, Kind::Tar, &d.join("out"), 1 << 20).unwrap_err();
            assert!(err.contains("outside the sandbox"), "{bad}: {err}");
        }
        assert!(!d.join("escaped").exists());
        // A symbolic link out of the sandbox, and a file written through it.
        let mut b = tar::Builder::new(vec![]);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "link", "../..").unwrap();
        let archive = d.join("link.tar");
        std::fs::write(&archive, b.into_inner().unwrap()).unwrap();
        let err = extract(&archive, Kind::Tar, &d.join("out"), 1 << 20).unwrap_err();
        assert!(err.contains("points outside"), "{err}");
        assert!(link_stays_inside(Path::new("a/b/l"), Path::new("../c")));
        assert!(!link_stays_inside(Path::new("l"), Path::new("../c")));
        assert!(!link_stays_inside(Path::new("l"), Path::new("/etc/passwd")));
        // A zip entry climbing out.
        let mut w = zip::ZipWriter::new(io::Cursor::new(vec![]));
        w.start_file("../zipped", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"x").unwrap();
        let archive = d.join("bad.zip");
        std::fs::write(&archive, w.finish().unwrap().into_inner()).unwrap();
        let err = extract(&archive, Kind::Zip, &d.join("out"), 1 << 20).unwrap_err();
        assert!(err.contains("outside the sandbox"), "{err}");
        assert!(!d.join("zipped").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn zip_bz2_xz_and_gz_unpack() {
        let d = scratch("kinds");
        let tar = raw_tar(&[("f.txt", b"data")]);
        let mut bz = bzip2::write::BzEncoder::new(vec![], bzip2::Compression::fast());
        bz.write_all(&tar).unwrap();
        std::fs::write(d.join("a.tar.bz2"), bz.finish().unwrap()).unwrap();
        let mut xz = vec![];
        lzma_rs::xz_compress(&mut io::Cursor::new(&tar), &mut xz).unwrap();
        std::fs::write(d.join("a.tar.xz"), xz).unwrap();
        let mut w = zip::ZipWriter::new(io::Cursor::new(vec![]));
        w.start_file("z/f.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"zipped").unwrap();
        std::fs::write(d.join("a.zip"), w.finish().unwrap().into_inner()).unwrap();
        std::fs::write(d.join("single.txt.gz"), gz(b"plain")).unwrap();
        for (name, kind) in [("a.tar.bz2", Kind::TarBz2), ("a.tar.xz", Kind::TarXz)] {
            let out = d.join(format!("out-{name}"));
            std::fs::create_dir_all(&out).unwrap();
            extract(&d.join(name), kind, &out, 1 << 20).unwrap();
            assert_eq!(std::fs::read(out.join("f.txt")).unwrap(), b"data", "{name}");
            assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1, "no leftovers");
        }
        extract(&d.join("a.zip"), Kind::Zip, &d.join("out"), 1 << 20).unwrap();
        assert_eq!(std::fs::read(d.join("out/z/f.txt")).unwrap(), b"zipped");
        extract(&d.join("single.txt.gz"), Kind::Gz, &d.join("out"), 1 << 20).unwrap();
        assert_eq!(std::fs::read(d.join("out/single.txt")).unwrap(), b"plain");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_compression_bomb_stops_at_the_limit() {
        let d = scratch("bomb");
        std::fs::write(d.join("big.gz"), gz(&vec![0u8; 1 << 20])).unwrap();
        let err = extract(&d.join("big.gz"), Kind::Gz, &d.join("out"), 1000).unwrap_err();
        assert!(err.contains("more than 1000 bytes"), "{err}");
        let tar = raw_tar(&[("big", &vec![0u8; 4096])]);
        std::fs::write(d.join("big.tgz"), gz(&tar)).unwrap();
        let err = extract(&d.join("big.tgz"), Kind::TarGz, &d.join("out"), 1000).unwrap_err();
        assert!(err.contains("more than 1000 bytes"), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Arbitrary bytes, raw or behind a valid compression layer, are an error or a
        /// small extraction, never a panic, and nothing lands outside the destination.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048), wrap in 0u8..3) {
            let d = scratch(&format!("fuzz-{wrap}"));
            let bytes = match wrap { 0 => data.clone(), 1 => gz(&data), _ => {
                let mut t = raw_tar(&[("ok", b"1")]); t.truncate(512); t.extend_from_slice(&data); t
            } };
            for (name, kind) in [("x.tar", Kind::Tar), ("x.tgz", Kind::TarGz), ("x.tbz2", Kind::TarBz2),
                                 ("x.txz", Kind::TarXz), ("x.zip", Kind::Zip), ("x.gz", Kind::Gz)] {
                let archive = d.join(name);
                std::fs::write(&archive, &bytes).unwrap();
                let _ = extract(&archive, kind, &d.join("out"), 1 << 16);
            }
            let names: Vec<_> = std::fs::read_dir(&d).unwrap().flatten().map(|e| e.file_name()).collect();
            prop_assert!(names.len() <= 7, "{names:?}");
            let _ = std::fs::remove_dir_all(&d);
        }
    }
}
