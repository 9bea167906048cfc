//! Keymap files and key notation (`src/tui/keymap.rs`): a file parsed on
//! its own and merged over the default keymap, and the text as one key
//! sequence. Properties: nothing panics; an error names a line inside the
//! file; every binding of a keymap that loads is listed by `keys_for`,
//! which feeds the help overlay and the on-screen hints; a sequence that
//! parses prints (`show`) as text that parses to the same keys.
#![no_main]

use agentdeck::tui::action::Context;
use agentdeck::tui::keymap::{Keymap, KeymapError, parse_sequence, show};
use libfuzzer_sys::fuzz_target;

fn check(loaded: Result<Keymap, KeymapError>, lines: usize) {
    match loaded {
        Ok(map) => {
            for ctx in Context::ALL {
                for (seq, action) in map.bindings(ctx) {
                    let keys = map.keys_for(ctx, *action);
                    assert!(
                        keys.contains(&show(seq)),
                        "{ctx:?}: {} runs {action:?} but help lists {keys:?}",
                        show(seq)
                    );
                }
            }
        }
        Err(e) => assert!(e.line <= lines + 1, "line {} of {lines}: {e}", e.line),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count().max(1);
    check(Keymap::parse("fuzz.toml", text), lines);
    check(Keymap::default_keymap().merge("fuzz.toml", text), lines);
    if let Ok(seq) = parse_sequence(text) {
        let shown = show(&seq);
        let again = parse_sequence(&shown)
            .unwrap_or_else(|e| panic!("{text:?} shows as {shown:?}, which does not parse: {e}"));
        assert_eq!(
            seq, again,
            "{text:?} shows as {shown:?}, which parses differently"
        );
    }
});
