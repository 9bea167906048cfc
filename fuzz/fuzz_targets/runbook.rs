//! Runbooks (`src/runbook/mod.rs`): a Markdown file with front matter and
//! checklist steps, and one step action line. Properties: nothing panics;
//! every error names the file and a line inside it; an action that parses
//! is written back (`action_text`) as a line that parses to the same action.
#![no_main]

use agentdeck::runbook::{action_text, parse, parse_action};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count().max(1);
    if let Err(errors) = parse("runbooks/fuzz.md", "fuzz", text) {
        assert!(!errors.is_empty(), "refused without a reason");
        for e in &errors {
            let shown = e.to_string();
            assert!(
                shown.contains("runbooks/fuzz.md"),
                "error without the file: {shown}"
            );
            assert!(
                e.line as usize <= lines + 1,
                "line {} of {lines}: {shown}",
                e.line
            );
        }
    }
    if let Ok(action) = parse_action(text) {
        let written = action_text(&action);
        let again = parse_action(&written).unwrap_or_else(|e| {
            panic!("{text:?} is written as {written:?}, which does not parse: {e}")
        });
        assert_eq!(
            action, again,
            "{text:?} is written as {written:?}, which parses differently"
        );
    }
});
