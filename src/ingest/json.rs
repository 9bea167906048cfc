//! JSON bodies from untrusted senders, decoded with an error that says
//! where the problem is.
//!
//! serde_json's own errors give a line and column, which is little help in
//! a one-line body of several kilobytes. On failure (and only then, so the
//! common case pays nothing) the body is read a second time tracking the
//! path of the value at fault, e.g. `ttl_s` or
//! `resourceSpans[0].scopeSpans[0].spans[3].endTimeUnixNano`.

use serde::de::DeserializeOwned;

/// Longest path quoted in an error: past it the path is cut with `…`
/// (nesting far past the depth limit would otherwise quote every level).
pub const MAX_PATH_CHARS: usize = 96;

/// Decodes `body` as a `T`, or says why not: invalid UTF-8 by the offset of
/// the first bad byte; any other problem by serde_json's message, after the
/// path of the field at fault when there is one.
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let error = match serde_json::from_slice(body) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    if let Err(e) = std::str::from_utf8(body) {
        return Err(format!(
            "the body is not valid UTF-8 (first bad byte at offset {})",
            e.valid_up_to()
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let path = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => e.path().to_string(),
        Ok(_) => String::new(),
    };
    if path.is_empty() || path == "." {
        Err(error.to_string())
    } else {
        Err(format!("field \"{}\": {error}", clip(&path)))
    }
}

fn clip(path: &str) -> String {
    match path.char_indices().nth(MAX_PATH_CHARS) {
        Some((at, _)) => format!("{}…", &path[..at]),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Control {
        reason: String,
        ttl_s: Option<u64>,
        args: Option<serde_json::Value>,
    }

    #[test]
    fn errors_name_the_field_at_fault() {
        let e = from_slice::<Control>(br#"{"reason":"r","ttl_s":-1}"#).unwrap_err();
        assert!(e.starts_with("field \"ttl_s\": invalid value"), "{e}");
        let e = from_slice::<Control>(br#"{"reason":"r","ttl_s":1e400}"#).unwrap_err();
        assert!(e.contains("ttl_s") && e.contains("out of range"), "{e}");
        let e = from_slice::<Control>(br#"{"reason":[]}"#).unwrap_err();
        assert!(e.contains("\"reason\""), "{e}");
        let e = from_slice::<Control>(b"{\"reason\":\"\xff\"}").unwrap_err();
        assert_eq!(
            e,
            "the body is not valid UTF-8 (first bad byte at offset 11)"
        );
        let e = from_slice::<Control>(b"{").unwrap_err();
        assert!(e.contains("EOF"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused_with_a_short_path() {
        let deep = format!(
            r#"{{"reason":"r","args":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let e = from_slice::<Control>(deep.as_bytes()).unwrap_err();
        assert!(e.contains("recursion limit exceeded"), "{e}");
        assert!(e.contains("field \"args["), "{e}");
        assert!(e.len() < 300, "{e}");
    }
}
