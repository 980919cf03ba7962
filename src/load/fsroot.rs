//! Reading a file through an `fs.directory` entry without escaping its root.

use std::path::{Component, Path, PathBuf};

/// Resolves `path` (as written in an entry, e.g. `/worker.wasm`) inside `root`.
///
/// The path is taken relative to the root whether or not it starts with `/`. `..`
/// components are refused outright, and after symlinks are resolved the file must still
/// sit under the (canonical) root, so neither spelling nor links can reach outside.
pub fn resolve(root: &Path, path: &str) -> Result<PathBuf, String> {
    let fail = |why: &str| format!("failed to open file: {path}: {why}");
    let mut relative = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => relative.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(fail("the path leaves its filesystem root"))
            }
        }
    }
    let root = root
        .canonicalize()
        .map_err(|e| fail(&format!("filesystem directory {}: {e}", root.display())))?;
    let full = root.join(&relative);
    let canonical = full.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("failed to open file: {path}"),
        _ => fail(&e.to_string()),
    })?;
    if !canonical.starts_with(&root) {
        return Err(fail(
            "the path leaves its filesystem root through a symlink",
        ));
    }
    if !canonical.is_file() {
        return Err(fail("not a regular file"));
    }
    Ok(canonical)
}

/// Reads the file at `path` inside `root` (see [`resolve`]).
pub fn read(root: &Path, path: &str) -> Result<Vec<u8>, String> {
    let full = resolve(root, path)?;
    let failed = |e: std::io::Error| format!("failed to open file: {path}: {e}");
    // The whole file is read before its hash is checked: refuse a size no real binary has
    // before reading (a sparse 30 GB file costs nothing on disk).
    let size = std::fs::metadata(&full).map_err(failed)?.len();
    if size > MAX_BINARY_BYTES {
        return Err(format!(
            "file too large: {path} is {size} bytes, the most a binary may be is {MAX_BINARY_BYTES}"
        ));
    }
    std::fs::read(&full).map_err(failed)
}

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
