//! Finds every `_index.yaml` below a project folder.

use std::path::{Path, PathBuf};

/// Where the registry of the project at `root` lives: Wippy's `wippy.lock` names it
/// (`directories: {src: ./src}`); without a lock file, the whole project folder. A lock
/// that cannot be read or names no folder is a problem, since Wippy would refuse it too.
pub fn source_folder(root: &Path) -> Result<PathBuf, String> {
    #[derive(serde::Deserialize)]
    struct Lock {
        directories: Option<Directories>,
    }
    #[derive(serde::Deserialize)]
    struct Directories {
        src: Option<String>,
    }
    let lock_path = root.join("wippy.lock");
    let text = match std::fs::read_to_string(&lock_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(root.to_path_buf()),
        Err(e) => return Err(format!("cannot read {}: {e}", lock_path.display())),
    };
    let lock: Lock = serde_yaml_ng::from_str(&text)
        .map_err(|e| format!("{}: invalid YAML: {e}", lock_path.display()))?;
    let Some(src) = lock.directories.and_then(|d| d.src) else {
        return Ok(root.to_path_buf());
    };
    let folder = root.join(&src);
    if !folder.is_dir() {
        return Err(format!(
            "{}: directories.src {src:?} is not a folder of the project",
            lock_path.display()
        ));
    }
    Ok(folder)
}

/// Folders that never hold registry files (build output, VCS data, JS dependencies).
const SKIPPED_DIRS: &[&str] = &["target", ".git", "node_modules"];

/// Every `_index.yaml` below `root`, in a stable (sorted) order. Symlinked folders are not
/// followed, so a link cannot pull files from outside the project or loop; nor are the
/// kernel's pseudo-filesystems mounted inside it (`/proc`, `/sys` when the project is `/`),
/// which hold no project and are huge or endless. A folder that cannot be read, or a
/// pseudo-filesystem, is skipped and named in `skipped`. A folder below `root` with a
/// `wippy.lock` of its own is another project (a Wippy project's root), so it is not
/// scanned either.
///
/// # Errors
///
/// When `root` is not a readable folder, or holds no `_index.yaml` at all.
pub fn index_files(
    root: &Path,
    skipped: &mut Vec<(PathBuf, String)>,
) -> Result<Vec<PathBuf>, String> {
    use std::os::unix::fs::MetadataExt;
    let root_device = std::fs::metadata(root)
        .ok()
        .filter(|m| m.is_dir())
        .ok_or_else(|| format!("project folder not found: {}", root.display()))?
        .dev();
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if dir == root => {
                return Err(format!("cannot read folder {}: {e}", dir.display()))
            }
            Err(e) => {
                skipped.push((dir, format!("cannot read this folder ({e}); skipped")));
                continue;
            }
        };
        for entry in entries.flatten() {
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            if file_type.is_dir() {
                if SKIPPED_DIRS.iter().any(|s| name == *s) {
                    continue;
                }
                let path = entry.path();
                if path.join("wippy.lock").is_file() {
                    continue;
                }
                match entry.metadata() {
                    Ok(m) if m.dev() != root_device && is_pseudo_filesystem(&path) => {
                        skipped.push((path, "a kernel pseudo-filesystem; not scanned".to_owned()))
                    }
                    _ => stack.push(path),
                }
            } else if name == "_index.yaml" && file_type.is_file() {
                // Regular files only: not a symlink, and not a FIFO (reading it would
                // wait forever for a writer).
                found.push(entry.path());
            }
        }
    }
    if found.is_empty() {
        return Err(format!("no _index.yaml found under {}", root.display()));
    }
    found.sort();
    Ok(found)
}

/// The kernel's own trees (`/proc`, `/sys`, `/dev`), mounted on their own filesystems:
/// never a project, and huge or endless to walk. Only reached when the project is `/`.
fn is_pseudo_filesystem(path: &Path) -> bool {
    ["/proc", "/sys", "/dev"]
        .iter()
        .any(|p| path == Path::new(p))
}
