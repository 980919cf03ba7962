//! Reading a file through an `fs.directory` entry without escaping its root.
//!
//! The file is opened beneath a handle on the root directory with `cap-std`, which
//! resolves every component (symlinks included) inside that directory and refuses any
//! step out of it. Checking a canonicalized path with `starts_with` and then opening it by
//! name, as we did before, leaves a window in which a symlink can be swapped in.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

/// `path` as written in an entry (e.g. `/worker.wasm`), relative to its root: a leading
/// `/` means the root, and `..` is refused outright.
fn relative(path: &str) -> Result<PathBuf, String> {
    let mut relative = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => relative.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(format!(
                    "failed to open file: {path}: the path leaves its filesystem root"
                ))
            }
        }
    }
    Ok(relative)
}

/// Why [`read_beneath`] read nothing.
pub(crate) enum Refused {
    /// No such file.
    NotFound,
    /// The way to it leaves the root through a symlink (an absolute one counts).
    Escapes,
    /// Not a regular file (a folder, a FIFO, a device).
    NotRegular,
    /// Larger than the caller's cap, with its size.
    TooLarge(u64),
    /// The root itself could not be opened.
    Root(std::io::Error),
    /// Any other I/O error.
    Io(std::io::Error),
}

/// Reads `relative` beneath `root`: opened through a handle on the root (cap-std), so no
/// path or symlink leads out, not even one swapped in while we look; non-blocking, so a
/// FIFO is refused instead of waited on; at most `max` bytes, checked before reading.
pub(crate) fn read_beneath(root: &Path, relative: &Path, max: u64) -> Result<Vec<u8>, Refused> {
    let dir = Dir::open_ambient_dir(root, ambient_authority()).map_err(Refused::Root)?;
    let mut options = OpenOptions::new();
    options.read(true).custom_flags(libc::O_NONBLOCK);
    let mut file = dir.open_with(relative, &options).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Refused::NotFound
        } else if escaped(&e) {
            Refused::Escapes
        } else {
            Refused::Io(e)
        }
    })?;
    let meta = file.metadata().map_err(Refused::Io)?;
    if !meta.is_file() {
        return Err(Refused::NotRegular);
    }
    if meta.len() > max {
        return Err(Refused::TooLarge(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes).map_err(Refused::Io)?;
    Ok(bytes)
}

/// Reads the binary at `path` inside `root` (see [`read_beneath`]), of at most
/// [`MAX_BINARY_BYTES`]: the whole file is read before its hash is checked, so a size no
/// real binary has is refused first (a sparse 30 GB file costs nothing on disk).
pub fn read(root: &Path, path: &str) -> Result<Vec<u8>, String> {
    let fail = |why: &dyn std::fmt::Display| format!("failed to open file: {path}: {why}");
    read_beneath(root, &relative(path)?, MAX_BINARY_BYTES).map_err(|refused| match refused {
        Refused::NotFound => format!("failed to open file: {path}"),
        Refused::Escapes => fail(&ESCAPES),
        Refused::NotRegular => fail(&"not a regular file"),
        Refused::TooLarge(size) => format!(
            "file too large: {path} is {size} bytes, the most a binary may be is {MAX_BINARY_BYTES}"
        ),
        Refused::Root(e) => fail(&format_args!(
            "filesystem directory {}: {e}",
            root.display()
        )),
        Refused::Io(e) => fail(&e),
    })
}

/// cap-std's refusal of a step out of the directory: its own error (no OS code), or
/// `openat2`'s `EXDEV`. `..` is refused before, so the way out was a symlink; an absolute
/// one is refused too (it is resolved beneath the root, where `/` is not).
fn escaped(e: &std::io::Error) -> bool {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => e.raw_os_error().is_none(),
        std::io::ErrorKind::CrossesDevices => true,
        _ => false,
    }
}

/// How a symlink out is reported.
const ESCAPES: &str =
    "the path leaves its filesystem root through a symlink (an absolute symlink counts as leaving)";

/// 1 GiB: far above any real module (a CPython build is ~30 MB).
pub const MAX_BINARY_BYTES: u64 = 1 << 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_dotdot_and_symlinks_out_of_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(dir.path().join("secret.wasm"), b"x").unwrap();
        std::fs::write(root.join("ok.wasm"), b"ok").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.wasm"), root.join("link.wasm")).unwrap();

        assert_eq!(read(&root, "/ok.wasm").unwrap(), b"ok");
        assert_eq!(read(&root, "ok.wasm").unwrap(), b"ok");
        let dotdot = read(&root, "/../secret.wasm").unwrap_err();
        assert!(dotdot.contains("leaves its filesystem root"), "{dotdot}");
        let link = read(&root, "/link.wasm").unwrap_err();
        assert!(link.contains("through a symlink"), "{link}");
        assert_eq!(
            read(&root, "/missing.wasm").unwrap_err(),
            "failed to open file: /missing.wasm"
        );
    }
}
