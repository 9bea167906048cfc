//! Checks applied to every identifier, name and text field at decode time.

use super::error::DecodeError;
use super::limits::{MAX_ID_BYTES, MAX_NAME_BYTES, MAX_TEXT_BYTES, MAX_TITLE_BYTES};

/// Checks an identifier: 1 to [`MAX_ID_BYTES`] bytes of ASCII letters,
/// digits and `. _ - : / @`. Identifiers are shown in every list and used as
/// keys, so they carry no spaces, controls or look-alike characters.
pub fn id(field: &str, value: &str) -> Result<(), DecodeError> {
    if value.is_empty() {
        return Err(DecodeError::invalid(field, "must not be empty"));
    }
    bounded(field, value, MAX_ID_BYTES)?;
    // The common case, checked on bytes without decoding characters.
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'/' | b'@'))
    {
        return Ok(());
    }
    match value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@')))
    {
        Some(c) => Err(DecodeError::invalid(
            field,
            format!(
                "character {c:?} is not allowed in an identifier (letters, digits and . _ - : / @)"
            ),
        )),
        None => Ok(()),
    }
}

/// Checks a short name (tool, policy, version, person): non-empty, at most
/// [`MAX_NAME_BYTES`], no control characters.
pub fn name(field: &str, value: &str) -> Result<(), DecodeError> {
    if value.trim().is_empty() {
        return Err(DecodeError::invalid(field, "must not be empty"));
    }
    bounded(field, value, MAX_NAME_BYTES)?;
    no_controls(field, value)
}

/// Checks a one-line title: non-empty, at most [`MAX_TITLE_BYTES`], no
/// control characters (no line breaks, no escape sequences).
pub fn title(field: &str, value: &str) -> Result<(), DecodeError> {
    if value.trim().is_empty() {
        return Err(DecodeError::invalid(field, "must not be empty"));
    }
    bounded(field, value, MAX_TITLE_BYTES)?;
    no_controls(field, value)
}

/// Checks free text: at most [`MAX_TEXT_BYTES`]. Control sequences are kept
/// (they may matter in a postmortem) and made inert where text is displayed.
pub fn text(field: &str, value: &str) -> Result<(), DecodeError> {
    bounded(field, value, MAX_TEXT_BYTES)
}

/// Checks a string's length in bytes against `limit`.
pub fn bounded(field: &str, value: &str, limit: usize) -> Result<(), DecodeError> {
    if value.len() > limit {
        return Err(DecodeError::TooLong {
            field: field.to_string(),
            len: value.len(),
            limit,
        });
    }
    Ok(())
}

/// Checks an array's length against `limit`.
pub fn count(field: &str, len: usize, limit: usize) -> Result<(), DecodeError> {
    if len > limit {
        return Err(DecodeError::TooMany {
            field: field.to_string(),
            len,
            limit,
        });
    }
    Ok(())
}

fn no_controls(field: &str, value: &str) -> Result<(), DecodeError> {
    // ASCII text is checked on bytes; anything else by character.
    let control = if value.is_ascii() {
        value.bytes().any(|b| b.is_ascii_control())
    } else {
        value.chars().any(char::is_control)
    };
    if control {
        return Err(DecodeError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Makes outside text one safe line: control characters (line breaks,
/// escape sequences) become spaces, and it is cut at `max` bytes on a
/// character boundary, with `…` when cut.
pub fn clean_line(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > max {
        let mut cut = max.saturating_sub('…'.len_utf8());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}
