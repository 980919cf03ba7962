//! Entry IDs (`namespace:name`) and how references to them resolve.

use std::fmt;

/// The full ID of a registry entry: `namespace:name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId {
    namespace: String,
    name: String,
}

impl EntryId {
    /// An ID from its two parts. Neither is checked.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// Parses a full ID (`ns:name`). The namespace itself may contain dots but not `:`.
    /// `None` if a part is empty or there is not exactly one `:`.
    pub fn parse(full: &str) -> Option<Self> {
        let (ns, name) = full.split_once(':')?;
        if ns.is_empty() || name.is_empty() || name.contains(':') {
            return None;
        }
        Some(Self::new(ns, name))
    }

    /// Resolves a reference written inside `namespace`: a full ID stands for itself,
    /// a bare name means the same namespace. `None` if it is empty or a malformed full ID.
    pub fn resolve(reference: &str, namespace: &str) -> Option<Self> {
        let reference = reference.trim();
        if reference.is_empty() {
            return None;
        }
        if reference.contains(':') {
            Self::parse(reference)
        } else {
            Some(Self::new(namespace, reference))
        }
    }

    /// The namespace: the part before `:`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The entry's name in its namespace: the part after `:`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)
    }
}

/// A node name: 1 to 64 of ASCII letters, digits, `-` and `_`. It is a NATS subject token,
/// so no `.`, `*`, `>` or whitespace.
pub fn valid_node_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_resolve_in_the_declaring_namespace() {
        assert_eq!(
            EntryId::resolve("wasm_binaries", "myns")
                .unwrap()
                .to_string(),
            "myns:wasm_binaries"
        );
        assert_eq!(
            EntryId::resolve("other:x", "myns").unwrap().to_string(),
            "other:x"
        );
        assert!(EntryId::resolve("", "myns").is_none());
        assert!(EntryId::resolve("a:b:c", "myns").is_none());
        assert!(EntryId::parse(":x").is_none());
    }
}
