//! Problems and warnings found while loading a project. Every one names where it is:
//! the file, the entry and the field.

use std::fmt;
use std::path::{Path, PathBuf};

use super::id::EntryId;

/// Where in a project a problem sits. Each part is as precise as the problem allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// The `_index.yaml` concerned, or the project folder when no file could be found.
    pub file: Option<PathBuf>,
    /// The full ID of the entry concerned.
    pub entry: Option<EntryId>,
    /// The field, as a path in the YAML: `namespace`, `entries[2]`, `wasi.mounts[0].guest`.
    pub field: Option<String>,
}

impl Location {
    /// A location naming only a file (or folder).
    pub fn file(file: &Path) -> Self {
        Self {
            file: Some(file.to_path_buf()),
            ..Self::default()
        }
    }

    /// A location naming an entry of `file`.
    pub fn entry(file: &Path, entry: &EntryId) -> Self {
        Self {
            file: Some(file.to_path_buf()),
            entry: Some(entry.clone()),
            field: None,
        }
    }

    /// The same location, narrowed to `field`.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::with_capacity(3);
        if let Some(file) = &self.file {
            parts.push(file.display().to_string());
        }
        if let Some(entry) = &self.entry {
            parts.push(format!("entry {entry}"));
        }
        if let Some(field) = &self.field {
            parts.push(format!("field {field}"));
        }
        f.write_str(&parts.join(": "))
    }
}

/// One thing wrong with a project. `message` carries the contract text (SPEC §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where the problem is.
    pub location: Location,
    /// What is wrong, without the location.
    pub message: String,
}

impl Problem {
    /// A problem at `location`.
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Self {
            location,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location == Location::default() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.location, self.message)
        }
    }
}

/// Something worth telling the user that does not stop the project from loading.
pub type Warning = Problem;

/// Every problem found while loading a project. Loading is all-or-nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadErrors {
    /// Every problem, in the order found.
    pub problems: Vec<Problem>,
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "project failed to load: {n} problem{}",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// Collects problems and warnings during one load.
#[derive(Debug, Default)]
pub struct Diagnostics {
    /// Problems: any one of them makes the load fail.
    pub problems: Vec<Problem>,
    /// Warnings: reported, but the project still loads.
    pub warnings: Vec<Warning>,
}

impl Diagnostics {
    /// Records a problem at `location`.
    pub fn problem(&mut self, location: Location, message: impl Into<String>) {
        self.problems.push(Problem::new(location, message));
    }

    /// True if a problem was recorded against entry `id`: later stages skip it, so one
    /// mistake is reported once.
    pub fn has_problem(&self, id: &EntryId) -> bool {
        self.problems
            .iter()
            .any(|p| p.location.entry.as_ref() == Some(id))
    }

    /// Records a warning at `location`.
    pub fn warn(&mut self, location: Location, message: impl Into<String>) {
        self.warnings.push(Problem::new(location, message));
    }
}
