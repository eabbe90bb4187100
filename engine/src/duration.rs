//! Durations as Tekton writes them: Go's `time.ParseDuration` format (`1h30m`, `90s`, `1.5h`,
//! `500ms`, `0`), as used by every `timeout` and `timeouts` field.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("negative durations are not allowed")]
    Negative,
    #[error("missing unit in `{0}` (use h, m, s, ms, us or ns)")]
    MissingUnit(String),
    #[error("unknown unit `{unit}` in `{text}` (use h, m, s, ms, us or ns)")]
    UnknownUnit { unit: String, text: String },
    #[error("`{0}` is not a duration (examples: 1h, 30m, 1h30m, 90s)")]
    Invalid(String),
    #[error("`{0}` is too large")]
    Overflow(String),
}

/// Parses a Go duration string.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.contains(char::is_whitespace) {
        return Err(DurationError::Invalid(text.to_owned()));
    }
    let (negative, mut rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DurationError::Invalid(text.to_owned()));
    }
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(DurationError::Invalid(text.to_owned()));
        }
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "" => return Err(DurationError::MissingUnit(text.to_owned())),
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.to_owned(),
                    text: text.to_owned(),
                });
            }
        };
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse()
                .map_err(|_| DurationError::Overflow(text.to_owned()))?
        };
        let mut nanos = int
            .checked_mul(unit_nanos)
            .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
        let mut scale = unit_nanos;
        for digit in frac.bytes().take(18) {
            scale /= 10;
            nanos += u128::from(digit - b'0') * scale;
        }
        total_nanos = total_nanos
            .checked_add(nanos)
            .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
    }
    if negative && total_nanos > 0 {
        return Err(DurationError::Negative);
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000)
        .map_err(|_| DurationError::Overflow(text.to_owned()))?;
    Ok(Duration::new(secs, (total_nanos % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let ok = [
            ("0", 0.0),
            ("1h", 3600.0),
            ("1h30m", 5400.0),
            ("1h0m0s", 3600.0),
            ("90s", 90.0),
            ("1.5h", 5400.0),
            ("500ms", 0.5),
            ("2m30.5s", 150.5),
            ("10us", 0.00001),
        ];
        for (text, secs) in ok {
            assert_eq!(parse(text).map(|d| d.as_secs_f64()), Ok(secs), "{text}");
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert_eq!(parse("10"), Err(DurationError::MissingUnit("10".into())));
        assert_eq!(
            parse("1 hour"),
            Err(DurationError::Invalid("1 hour".into()))
        );
        assert!(matches!(
            parse("5d"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert_eq!(parse("-1s"), Err(DurationError::Negative));
        assert_eq!(parse("h"), Err(DurationError::Invalid("h".into())));
        assert_eq!(parse("1..5s"), Err(DurationError::Invalid("1..5s".into())));
    }
}
