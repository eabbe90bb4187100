//! API tokens: `runnel token create` makes one (random, shown once), the store keeps its
//! SHA-256, and every API request but webhooks and `/healthz` must bear one
//! (`Authorization: Bearer TOKEN`). A read-only token may only read.

use sha2::{Digest, Sha256};

/// What every token starts with, so that it is recognisable (in a leak scan, say).
pub const TOKEN_PREFIX: &str = "rnl_";

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot get random bytes for a token: {0}")]
pub struct TokenError(String);

/// A new token: the prefix and 32 random bytes in hex.
pub fn new_token() -> Result<String, TokenError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError(e.to_string()))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        // SHA-256 of "abc".
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
