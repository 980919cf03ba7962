//! Finds every `_index.yaml` below a project folder.

use std::path::{Path, PathBuf};

/// Folders that never hold registry files (build output, VCS data, JS dependencies).
const SKIPPED_DIRS: &[&str] = &["target", ".git", "node_modules"];

/// Every `_index.yaml` below `root`, in a stable (sorted) order. Symlinked folders are not
/// followed, so a link cannot pull files from outside the project or loop.
///
/// # Errors
///
/// A message if `root` is not a folder, a folder below it cannot be read, or no
/// `_index.yaml` is found.
pub fn index_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    if !root.is_dir() {
        return Err(format!("project folder not found: {}", root.display()));
    }
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read folder {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read folder {}: {e}", dir.display()))?;
            let file_type = entry
                .file_type()
                .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
            let name = entry.file_name();
            if file_type.is_dir() {
                if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                    stack.push(entry.path());
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
