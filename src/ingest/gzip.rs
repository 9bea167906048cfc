//! Gzip request bodies (`Content-Encoding: gzip`), inflated within a bound.
//!
//! A few kilobytes of gzip can inflate to gigabytes, so the output is
//! capped, not the input: reading stops one byte past the limit, and memory
//! never holds more than that, whatever the body claims.

use std::io::Read;

/// Why a body could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// The inflated body would be larger than the limit.
    #[error("the gzip body inflates past the limit of {limit} bytes; send smaller batches")]
    TooLarge {
        /// The limit, in inflated bytes.
        limit: usize,
    },
    /// Not a gzip stream, or a damaged one.
    #[error("the body is not valid gzip: {0}")]
    Corrupt(String),
}

/// Inflates a gzip body (one member or several concatenated, as the format
/// allows) to at most `limit` bytes.
pub fn inflate(body: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let decoder = flate2::read::MultiGzDecoder::new(body);
    // Exporters compress about 5 to 10 times; start there, within the limit.
    let mut out = Vec::with_capacity(body.len().saturating_mul(8).min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    decoder
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| InflateError::Corrupt(e.to_string()))?;
    if out.len() > limit {
        return Err(InflateError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflates_within_the_limit() {
        let body = gzip(b"hello hub");
        assert_eq!(inflate(&body, 9).unwrap(), b"hello hub");
        // Two members, as `cat a.gz b.gz` makes.
        let mut two = gzip(b"ab");
        two.extend(gzip(b"cd"));
        assert_eq!(inflate(&two, 100).unwrap(), b"abcd");
    }

    #[test]
    fn a_bomb_stops_one_byte_past_the_limit() {
        let body = gzip(&vec![0u8; 10 * 1024 * 1024]);
        assert!(body.len() < 20 * 1024, "{} bytes", body.len());
        assert_eq!(
            inflate(&body, 1024 * 1024),
            Err(InflateError::TooLarge { limit: 1024 * 1024 })
        );
    }

    #[test]
    fn garbage_and_truncation_are_corrupt() {
        assert!(matches!(
            inflate(b"{\"resourceSpans\":[]}", 100),
            Err(InflateError::Corrupt(_))
        ));
        let body = gzip(b"some text that is long enough to cut");
        assert!(matches!(
            inflate(&body[..body.len() - 6], 1000),
            Err(InflateError::Corrupt(_))
        ));
    }
}
