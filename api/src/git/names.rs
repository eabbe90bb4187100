//! The strings runnel hands to git and to the file system: commit ids, refs, paths and URLs
//! checked so that none can pass for an option, URLs with their credentials redacted, and the
//! mirror directory name derived from a URL.

use std::fmt;

use sha2::{Digest, Sha256};

use super::GitError;

/// The longest readable part of a mirror's directory name.
const SLUG_MAX: usize = 60;
/// How many hex digits of the URL's SHA-256 end a mirror's directory name (64 bits).
const HASH_DIGITS: usize = 16;

/// A full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sha(String);

impl Sha {
    /// Accepts 40 or 64 hex digits in either case; anything else (a short id, a ref name, an
    /// option) is refused.
    pub(super) fn parse(text: &str) -> Result<Self, GitError> {
        let hex = text.bytes().all(|b| b.is_ascii_hexdigit());
        if hex && matches!(text.len(), 40 | 64) {
            Ok(Sha(text.to_ascii_lowercase()))
        } else {
            Err(GitError::InvalidSha(text.chars().take(80).collect()))
        }
    }

    /// Whether this is a SHA-256 id, so the repository uses that object format.
    pub(super) fn is_sha256(&self) -> bool {
        self.0.len() == 64
    }

    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn invalid(what: &'static str, value: &str, reason: &'static str) -> GitError {
    GitError::InvalidArgument {
        what,
        value: redact(value).chars().take(200).collect(),
        reason,
    }
}

/// Refuses a URL git could read as an option, or one with blanks or control characters.
pub(super) fn check_url(url: &str) -> Result<(), GitError> {
    if url.is_empty() {
        Err(invalid("URL", url, "it is empty"))
    } else if url.starts_with('-') {
        Err(invalid("URL", url, "it starts with `-`"))
    } else if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(invalid("URL", url, "it holds blanks or control characters"))
    } else {
        Ok(())
    }
}

/// Refuses a ref name `git check-ref-format --allow-onelevel` would refuse, and one starting
/// with `-` (an option), `+` (a forced refspec) or holding `:` (a refspec with a destination).
pub(super) fn check_ref(name: &str) -> Result<(), GitError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.starts_with('-') {
        Some("it starts with `-`")
    } else if name.starts_with('+') {
        Some("it starts with `+`")
    } else if name
        .chars()
        .any(|c| c.is_control() || " ~^:?*[\\".contains(c))
    {
        Some("it holds a character git refuses in ref names")
    } else if name.contains("..") || name.contains("@{") || name.contains("//") || name == "@" {
        Some("it holds `..`, `@{` or `//`, or is `@`")
    } else if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        Some("it starts or ends with `/`, or ends with `.`")
    } else if name
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        Some("a component starts with `.` or ends with `.lock`")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(invalid("ref", name, reason)),
        None => Ok(()),
    }
}

/// Checks a path inside a repository (`.tekton`, `.tekton/`, `ci/pipeline.yaml`) and returns it
/// without a trailing `/`: relative, no empty, `.` or `..` component, not starting with `-`.
pub(super) fn check_path(path: &str) -> Result<&str, GitError> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() {
        Err(invalid("path", path, "it is empty"))
    } else if trimmed.starts_with('-') {
        Err(invalid("path", path, "it starts with `-`"))
    } else if trimmed.starts_with('/') {
        Err(invalid("path", path, "it is absolute"))
    } else if trimmed
        .split('/')
        .any(|part| matches!(part, "" | "." | ".."))
    {
        Err(invalid(
            "path",
            path,
            "it has an empty, `.` or `..` component",
        ))
    } else if trimmed.contains('\0') {
        Err(invalid("path", path, "it holds a NUL byte"))
    } else {
        Ok(trimmed)
    }
}

/// Where the authority (`user:password@host:port`) after `scheme://` ends.
fn authority_end(rest: &str) -> usize {
    rest.find(|c: char| {
        matches!(
            c,
            '/' | '?' | '#' | '\'' | '"' | '`' | '<' | '>' | '(' | ')'
        ) || c.is_whitespace()
    })
    .unwrap_or(rest.len())
}

/// The URL without its user information: `https://user:token@host/r` becomes `https://host/r`.
/// Names the mirror, so a rotated token keeps using the same one.
pub(super) fn strip_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = authority_end(rest);
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The secrets in a URL's user information, to blank out wherever git prints them (it does,
/// in `unable to look up user:password@host` for a `git://` URL): `user:password` and
/// `password`; without a password, the user when it looks like a token (8 characters or more,
/// not an SSH URL, whose `git@` is no secret).
pub(super) fn credentials(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let end = authority_end(rest);
    let Some(at) = rest[..end].rfind('@') else {
        return Vec::new();
    };
    let userinfo = &rest[..at];
    match userinfo.split_once(':') {
        Some((_, "")) | None if scheme.contains("ssh") || userinfo.len() < 8 => Vec::new(),
        Some((_, "")) | None => vec![userinfo.to_owned()],
        Some((_, password)) => vec![userinfo.to_owned(), password.to_owned()],
    }
}

/// The text with the user information of every `scheme://user:password@host` in it replaced by
/// `***`, for commands, git's messages and URLs shown in errors.
pub(super) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = authority_end(tail);
        match tail[..end].rfind('@') {
            Some(user_end) => {
                out.push_str("***");
                rest = &tail[user_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// The mirror's directory name for `url`: a readable slug of host and path (at most 60
/// characters of `[A-Za-z0-9._-]`, not starting with `.`) then 16 hex digits of the SHA-256 of
/// the URL without credentials. No `/` and no `..`, so it stays inside the cache's root.
pub(super) fn mirror_name(url: &str) -> String {
    let clean = strip_credentials(url);
    let hash = hex::encode(Sha256::digest(clean.as_bytes()));
    let without_scheme = clean
        .split_once("://")
        .map_or(clean.as_str(), |(_, rest)| rest);
    let mut slug = String::new();
    for c in without_scheme.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '-'
        };
        if !(c == '-' && slug.ends_with('-')) {
            slug.push(c);
        }
    }
    let slug = slug.trim_matches(['-', '.']);
    let slug = slug[..slug.len().min(SLUG_MAX)].trim_end_matches(['-', '.']);
    let hash = &hash[..HASH_DIGITS];
    if slug.is_empty() {
        hash.to_owned()
    } else {
        format!("{slug}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_secrets_of_a_url() {
        let check = |url: &str, expected: &[&str]| assert_eq!(credentials(url), expected, "{url}");
        check("https://host/r", &[]);
        check("https://u:p@ss@host/r", &["u:p@ss", "p@ss"]);
        check("https://ghp_0123456789@host/r", &["ghp_0123456789"]);
        check("https://x-access-token:@host/r", &["x-access-token:"]);
        check("https://git@host/r", &[]);
        check("ssh://gitlab-runner@host/r", &[]);
        check("git@host:r", &[]);
    }

    #[test]
    fn redacts_user_information_in_urls() {
        let check = |text: &str, expected: &str| assert_eq!(redact(text), expected, "{text}");
        check("https://host/r", "https://host/r");
        check("https://tok@host/r", "https://***@host/r");
        check(
            "https://u:p@ss@host:8443/r?q=a@b",
            "https://***@host:8443/r?q=a@b",
        );
        check(
            "fatal: unable to access 'https://u:p@host/r/': 403\nhttp://x:y@h",
            "fatal: unable to access 'https://***@host/r/': 403\nhttp://***@h",
        );
        check(
            "ssh://git@host/r and git@host:r",
            "ssh://***@host/r and git@host:r",
        );
        check("no url :// here @ all", "no url :// here @ all");
    }

    #[test]
    fn mirror_names_are_readable_distinct_and_stay_inside_the_root() {
        let check = |url: &str, slug: &str| {
            let name = mirror_name(url);
            let (head, hash) = name.rsplit_once('-').expect("a hash");
            assert_eq!(head, slug, "{url}");
            assert!(
                hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}"
            );
        };
        check(
            "https://github.com/tektoncd/pipeline.git",
            "github.com-tektoncd-pipeline.git",
        );
        check(
            "https://x:tok@github.com/tektoncd/pipeline.git",
            "github.com-tektoncd-pipeline.git",
        );
        check("git@github.com:org/repo.git", "git-github.com-org-repo.git");
        check("file:///../../etc/passwd", "etc-passwd");
        check("https://h/Ünïcode repo", "h-n-code-repo");
        check(
            &format!("https://h/{}", "a/".repeat(100)),
            &format!("h-{}a", "a-".repeat(28)),
        );
        let name = mirror_name("file://../..");
        assert!(!name.contains('/') && !name.starts_with('.'), "{name}");
        assert_ne!(mirror_name("https://h/a/b"), mirror_name("https://h/a-b"));
        assert_eq!(
            mirror_name("https://u:1@h/a"),
            mirror_name("https://u:2@h/a")
        );
    }

    #[test]
    fn refuses_what_git_could_take_for_an_option() {
        let upper = "ABCDEF0123".repeat(4);
        assert_eq!(
            Sha::parse(&upper).expect("40 hex").as_str(),
            upper.to_lowercase()
        );
        assert!(Sha::parse(&"a".repeat(64)).expect("64 hex").is_sha256());
        for bad in [
            "",
            "abc",
            "--upload-pack=x",
            &"a".repeat(41),
            &"g".repeat(40),
            "HEAD",
        ] {
            assert!(
                matches!(Sha::parse(bad), Err(GitError::InvalidSha(_))),
                "{bad}"
            );
        }
        for good in [
            "main",
            "refs/heads/main",
            "refs/pull/7/head",
            "v1.0",
            "feature/x-y",
        ] {
            check_ref(good).expect(good);
        }
        for bad in [
            "",
            "-f",
            "--upload-pack=x",
            "+main",
            "a:b",
            "a..b",
            "a b",
            "a/",
            ".x",
            "x.lock",
            "@",
        ] {
            assert!(
                matches!(check_ref(bad), Err(GitError::InvalidArgument { .. })),
                "{bad}"
            );
        }
        assert_eq!(check_path(".tekton/").expect("path"), ".tekton");
        for bad in ["", "/", "-x", "/etc", "../x", "a/../b", "a//b", "./a"] {
            assert!(
                matches!(check_path(bad), Err(GitError::InvalidArgument { .. })),
                "{bad}"
            );
        }
        for bad in [
            "",
            "-oProxyCommand=x",
            "--upload-pack=touch /tmp/x",
            "https://h/a b",
            "a\nb",
        ] {
            assert!(
                matches!(check_url(bad), Err(GitError::InvalidArgument { .. })),
                "{bad:?}"
            );
        }
    }
}
