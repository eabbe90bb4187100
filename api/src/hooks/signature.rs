//! Constant-time checks of what a forge signs a webhook with: an HMAC-SHA256 of the body
//! (GitHub, Gitea) or the secret itself as a token (GitLab).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::SignatureError;

/// Checks `hex`, 64 hex digits in either case, against HMAC-SHA256(`secret`, `body`).
pub(super) fn verify_hmac_sha256(
    secret: &[u8],
    body: &[u8],
    hex: &str,
) -> Result<(), SignatureError> {
    if hex.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let tag = hex::decode(hex).map_err(|_| SignatureError::Malformed)?;
    // HMAC takes keys of any length, so this cannot fail; refuse rather than panic.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| SignatureError::Mismatch)
}

/// Checks GitLab's token against the secret. Only the lengths are compared with an early
/// exit; the contents are compared in time that does not depend on where they differ.
pub(super) fn verify_token(secret: &[u8], token: &[u8]) -> Result<(), SignatureError> {
    if token.len() != secret.len() {
        return Err(SignatureError::Mismatch);
    }
    let difference = secret
        .iter()
        .zip(token)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    // Keeps the optimizer from turning the fold into a comparison that stops early.
    if std::hint::black_box(difference) == 0 {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples::{self, headers};
    use super::super::{Forge, verify};
    use super::*;

    /// GitHub's published test vector
    /// (docs.github.com, "Validating webhook deliveries").
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn github(signature: &str, secret: &[u8], body: &[u8]) -> Result<(), SignatureError> {
        let headers = headers(&[("X-Hub-Signature-256", signature)]);
        verify(Forge::GitHub, secret, &headers, body)
    }

    fn gitea(
        header: &str,
        signature: &str,
        secret: &[u8],
        body: &[u8],
    ) -> Result<(), SignatureError> {
        verify(Forge::Gitea, secret, &headers(&[(header, signature)]), body)
    }

    #[test]
    fn github_published_vector() {
        let signature = format!("sha256={SIGNATURE}");
        assert_eq!(github(&signature, SECRET, BODY), Ok(()));
        assert_eq!(
            github(&signature, SECRET, b"Hello, World?"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            github(&signature, b"It's a Secret to Everybodz", BODY),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn github_uppercase_hex_is_the_same_signature() {
        let upper = format!("sha256={}", SIGNATURE.to_uppercase());
        assert_eq!(github(&upper, SECRET, BODY), Ok(()));
        assert_eq!(
            github(&upper, SECRET, b"Hello, World"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn github_malformed_signatures() {
        let cases = [
            SIGNATURE.to_owned(),                    // no prefix
            format!("sha1={SIGNATURE}"),             // another algorithm
            format!("SHA256={SIGNATURE}"),           // the prefix is lower case
            format!("sha256={}", &SIGNATURE[..62]),  // too short
            format!("sha256={SIGNATURE}00"),         // too long
            format!("sha256={}g", &SIGNATURE[..63]), // not hex
            "sha256=".to_owned(),
        ];
        for signature in cases {
            assert_eq!(
                github(&signature, SECRET, BODY),
                Err(SignatureError::Malformed),
                "{signature}"
            );
        }
        assert_eq!(
            verify(Forge::GitHub, SECRET, &headers(&[]), BODY),
            Err(SignatureError::Missing("X-Hub-Signature-256"))
        );
    }

    #[test]
    fn github_signs_a_real_payload_byte_for_byte() {
        let body = samples::bytes("github/push_with-new-branch.payload.json");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(&body);
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(github(&signature, b"s3cret", &body), Ok(()));

        let mut changed = body.clone();
        changed.push(b'\n');
        assert_eq!(
            github(&signature, b"s3cret", &changed),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn gitea_and_forgejo_send_bare_hex() {
        for header in ["X-Gitea-Signature", "X-Forgejo-Signature"] {
            assert_eq!(gitea(header, SIGNATURE, SECRET, BODY), Ok(()), "{header}");
            assert_eq!(
                gitea(header, &SIGNATURE.to_uppercase(), SECRET, BODY),
                Ok(()),
                "{header}"
            );
            assert_eq!(
                gitea(header, SIGNATURE, SECRET, b"Hello, World."),
                Err(SignatureError::Mismatch),
                "{header}"
            );
            assert_eq!(
                gitea(header, &format!("sha256={SIGNATURE}"), SECRET, BODY),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
        assert_eq!(
            verify(Forge::Gitea, SECRET, &headers(&[]), BODY),
            Err(SignatureError::Missing("X-Gitea-Signature"))
        );
    }

    #[test]
    fn gitlab_token_is_the_secret() {
        let check = |token: &str| {
            verify(
                Forge::GitLab,
                b"s3cret-token",
                &headers(&[("X-Gitlab-Token", token)]),
                b"{}",
            )
        };
        assert_eq!(check("s3cret-token"), Ok(()));
        assert_eq!(check("s3cret-tokeN"), Err(SignatureError::Mismatch));
        assert_eq!(check("t3cret-token"), Err(SignatureError::Mismatch));
        assert_eq!(check("s3cret-token "), Err(SignatureError::Mismatch));
        assert_eq!(check("s3cret"), Err(SignatureError::Mismatch));
        assert_eq!(check(""), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(Forge::GitLab, b"s3cret-token", &headers(&[]), b"{}"),
            Err(SignatureError::Missing("X-Gitlab-Token"))
        );
    }

    #[test]
    fn token_comparison() {
        assert_eq!(verify_token(b"abc", b"abc"), Ok(()));
        assert_eq!(verify_token(b"abc", b"abd"), Err(SignatureError::Mismatch));
        assert_eq!(verify_token(b"abc", b"ab"), Err(SignatureError::Mismatch));
    }
}
