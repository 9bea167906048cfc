//! NDJSON bodies: one envelope per line, each line judged on its own.

use chrono::{DateTime, Duration, Utc};

use crate::model::envelope::Envelope;
use crate::model::error::DecodeError;

/// How far ahead of the hub's clock an event may be stamped.
pub const MAX_FUTURE_S: i64 = 300;
/// How far in the past an event may be stamped (the longest SLO window).
pub const MAX_AGE_DAYS: i64 = 90;

/// The non-blank lines of a body with their 1-based line numbers; a
/// trailing `\r` is dropped.
pub fn lines(body: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i as u64 + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
}

/// Checks an event's time against the receiver's clock.
pub fn check_time(env: &Envelope, now: DateTime<Utc>) -> Result<(), DecodeError> {
    if env.ts > now + Duration::seconds(MAX_FUTURE_S) {
        return Err(DecodeError::invalid(
            "ts",
            format!(
                "{} is {} s ahead of the hub's clock (at most {MAX_FUTURE_S} s allowed; check the sender's clock)",
                env.ts.to_rfc3339(),
                (env.ts - now).num_seconds()
            ),
        ));
    }
    if env.ts < now - Duration::days(MAX_AGE_DAYS) {
        return Err(DecodeError::invalid(
            "ts",
            format!(
                "{} is older than {MAX_AGE_DAYS} days, beyond every SLO window",
                env.ts.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

/// One decoded line: the envelope and the line as received.
pub type Decoded = (Envelope, String);

/// Decodes every line of a body, keeping good lines and the number and
/// reason of each bad one.
pub fn decode_body(body: &[u8], now: DateTime<Utc>) -> (Vec<Decoded>, Vec<(u64, String)>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in lines(body) {
        match Envelope::decode_bytes(line).and_then(|env| check_time(&env, now).map(|()| env)) {
            // decode_bytes accepted the line, so it is UTF-8.
            Ok(env) => good.push((env, String::from_utf8_lossy(line).into_owned())),
            Err(e) => bad.push((n, e.to_string())),
        }
    }
    (good, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        let body = b"a\r\n\n  \nb\n";
        let got: Vec<(u64, &[u8])> = lines(body).collect();
        assert_eq!(got, vec![(1, &b"a"[..]), (4, &b"b"[..])]);
    }

    #[test]
    fn one_bad_line_keeps_its_neighbours() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 3, 15, 0).unwrap();
        let body = concat!(
            r#"{"v":1,"type":"heartbeat","ts":"2026-11-21T03:12:00Z","agent":"a"}"#,
            "\n",
            r#"{"v":1,"type":"heartbeat","ts":"2026-11-21T03:12:00Z"}"#,
            "\n",
            r#"{"v":1,"type":"heartbeat","ts":"2026-11-21T04:12:00Z","agent":"a"}"#,
            "\n",
            r#"{"v":1,"type":"heartbeat","ts":"2026-01-01T00:00:00Z","agent":"a"}"#,
            "\n",
            r#"{"v":1,"type":"heartbeat","ts":"2026-11-21T03:12:01Z","agent":"b"}"#,
        );
        let (good, bad) = decode_body(body.as_bytes(), now);
        assert_eq!(good.len(), 2);
        assert_eq!(bad.len(), 3);
        assert_eq!(bad[0].0, 2);
        assert!(bad[0].1.contains("\"agent\""), "{}", bad[0].1);
        assert!(
            bad[1].1.contains("ahead of the hub's clock"),
            "{}",
            bad[1].1
        );
        assert!(bad[2].1.contains("older than 90 days"), "{}", bad[2].1);
    }
}
