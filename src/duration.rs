//! Durations as Wippy writes them: Go's `time.ParseDuration` format (`"500ms"`, `"5s"`,
//! `"1m30s"`, `"1.5h"`), used by the registry (`lifecycle` timeouts and backoff) and by
//! Lua (`time.sleep("2s")`).
//!
//! Decision: our own 40 lines rather than `humantime`, whose format differs from Go's
//! (no fractions, `m` means minutes only with spaces around units): Wippy projects are
//! written for Go's parser, so its grammar is the one that must be accepted.

use std::time::Duration;

/// Parses a Go duration: one or more `<decimal><unit>` pairs, units `ns`, `us` (or `µs`),
/// `ms`, `s`, `m`, `h`; `"0"` alone is zero. Negative durations are refused.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("invalid duration {text:?}: expected a number and a unit, like 500ms, 5s, 1m30s (units: ns, us, ms, s, m, h)")
    };
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(format!("invalid duration {text:?}: it is negative"));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return Err(bad());
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(number_end);
        let value: f64 = number.parse().map_err(|_| bad())?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        nanos += value * scale;
        rest = tail;
    }
    // Go's limit (about 292 years) is far past anything a timeout needs.
    if !nanos.is_finite() || nanos > i64::MAX as f64 {
        return Err(format!("invalid duration {text:?}: it is too long"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[test]
    fn reads_what_go_reads() {
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse("2h45m10.5s").unwrap(),
            Duration::from_millis(9_910_500)
        );
        assert_eq!(parse("10us").unwrap(), Duration::from_micros(10));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse(" 3ns ").unwrap(), Duration::from_nanos(3));
    }

    #[test]
    fn refuses_what_go_refuses_with_the_text_in_the_error() {
        for bad in ["", "5", "s", "5 s", "5sec", "1..5s", "abc", "5s3"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        assert!(parse("-5s").unwrap_err().contains("negative"));
        assert!(parse("99999999999h").unwrap_err().contains("too long"));
    }
}
