//! Telling a core module from a component by its header.

/// What a `.wasm` file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryKind {
    /// A core wasm module.
    CoreModule,
    /// A component (component model).
    Component,
}

impl BinaryKind {
    /// Reads the 8-byte preamble: `\0asm`, then version 1 (core) or the component layer.
    pub fn detect(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            return Err("not a WebAssembly binary (missing the \\0asm header)".to_owned());
        }
        match bytes[4..8] {
            [1, 0, 0, 0] => Ok(BinaryKind::CoreModule),
            [_, _, 1, 0] => Ok(BinaryKind::Component),
            _ => Err(format!(
                "unsupported WebAssembly binary version {:02x?}",
                &bytes[4..8]
            )),
        }
    }

    /// "core module" or "component".
    pub fn name(self) -> &'static str {
        match self {
            BinaryKind::CoreModule => "core module",
            BinaryKind::Component => "component",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_header() {
        assert_eq!(
            BinaryKind::detect(b"\0asm\x01\0\0\0").unwrap(),
            BinaryKind::CoreModule
        );
        assert_eq!(
            BinaryKind::detect(b"\0asm\x0d\0\x01\0").unwrap(),
            BinaryKind::Component
        );
        assert!(BinaryKind::detect(b"\x7fELF\x02\x01\x01\0").is_err());
        assert!(BinaryKind::detect(b"\0as").is_err());
    }
}
