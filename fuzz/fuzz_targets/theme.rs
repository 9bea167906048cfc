//! Theme files (`src/tui/theme.rs`). Properties: nothing panics; an error
//! names the file; a theme that parses can be brought down to 16 colours.
#![no_main]

use agentdeck::tui::theme::Theme;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Theme::parse("fuzz.toml", text) {
        Ok(theme) => {
            let _ = theme.downgraded_to_16();
        }
        Err(e) => assert!(e.contains("fuzz.toml"), "error without the file: {e}"),
    }
});
