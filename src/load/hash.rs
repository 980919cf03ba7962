//! The `sha256:<hex>` integrity check that every binary passes before anything reads it.

use sha2::{Digest, Sha256};

/// A parsed `hash:` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedHash(pub [u8; 32]);

impl ExpectedHash {
    /// Parses `sha256:<64 hex>`, with the SPEC §2 error texts.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((alg, hex)) = text.split_once(':') else {
            return Err(format!("invalid hash format: {text}"));
        };
        if !alg.eq_ignore_ascii_case("sha256") {
            return Err(format!("unsupported hash algorithm: {alg}"));
        }
        decode_hex(hex)
            .map(ExpectedHash)
            .ok_or_else(|| format!("invalid hash format: {text}"))
    }

    /// Checks `bytes` against this hash.
    pub fn verify(&self, bytes: &[u8]) -> Result<[u8; 32], String> {
        let actual = sha256(bytes);
        if actual == self.0 {
            Ok(actual)
        } else {
            Err(format!(
                "hash mismatch: expected sha256:{}, got sha256:{}",
                to_hex(&self.0),
                to_hex(&actual)
            ))
        }
    }
}

/// The sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_verifies_with_the_contract_texts() {
        let good = format!("sha256:{}", to_hex(&sha256(b"abc")));
        assert!(ExpectedHash::parse(&good).unwrap().verify(b"abc").is_ok());
        let err = ExpectedHash::parse(&good)
            .unwrap()
            .verify(b"abd")
            .unwrap_err();
        assert!(
            err.starts_with("hash mismatch: expected sha256:ba7816bf"),
            "{err}"
        );
        assert_eq!(
            ExpectedHash::parse("deadbeef").unwrap_err(),
            "invalid hash format: deadbeef"
        );
        assert_eq!(
            ExpectedHash::parse("md5:abc").unwrap_err(),
            "unsupported hash algorithm: md5"
        );
        assert_eq!(
            ExpectedHash::parse("sha256:zz").unwrap_err(),
            "invalid hash format: sha256:zz"
        );
    }
}
