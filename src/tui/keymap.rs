//! Key notation (as in helix: `a`, `A`, `C-r`, `A-x`, `S-tab`, `F5`,
//! `ret`, `esc`, `space`, sequences like `g g`) and keymaps that bind
//! actions to keys per context.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, Context};

/// The shipped default keymap.
pub const DEFAULT_KEYMAP: &str = include_str!("../../keymaps/default.toml");

/// Every shipped keymap: name and file text.
pub const BUILT_IN: [(&str, &str); 3] = [
    ("default", DEFAULT_KEYMAP),
    ("vim", include_str!("../../keymaps/vim.toml")),
    ("emacs", include_str!("../../keymaps/emacs.toml")),
];

/// One key press, normalised: a shifted letter is its capital, without
/// the shift flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The key.
    pub code: Code,
    /// Control held.
    pub ctrl: bool,
    /// Alt held.
    pub alt: bool,
    /// Shift held (for keys that are not characters).
    pub shift: bool,
}

/// A key, without modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// A character.
    Char(char),
    /// A function key.
    F(u8),
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Tab.
    Tab,
    /// Backspace.
    Backspace,
    /// Delete.
    Delete,
    /// Insert.
    Insert,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Arrow left.
    Left,
    /// Arrow right.
    Right,
    /// Home.
    Home,
    /// End.
    End,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
}

const NAMED: &[(&str, Code)] = &[
    ("ret", Code::Enter),
    ("enter", Code::Enter),
    ("esc", Code::Esc),
    ("tab", Code::Tab),
    ("backspace", Code::Backspace),
    ("del", Code::Delete),
    ("delete", Code::Delete),
    ("ins", Code::Insert),
    ("up", Code::Up),
    ("down", Code::Down),
    ("left", Code::Left),
    ("right", Code::Right),
    ("home", Code::Home),
    ("end", Code::End),
    ("pageup", Code::PageUp),
    ("pagedown", Code::PageDown),
    ("space", Code::Char(' ')),
    ("minus", Code::Char('-')),
];

impl Key {
    /// A plain key.
    pub fn plain(code: Code) -> Self {
        Self {
            code,
            ctrl: false,
            alt: false,
            shift: false,
        }
    }

    /// Parses one key in helix notation.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty key".into());
        }
        let mut key = Self::plain(Code::Char(' '));
        let mut rest = text;
        // Modifiers are single letters followed by '-', but "-" alone (or a
        // trailing "-" as in "C--") is the minus key.
        loop {
            let mut chars = rest.chars();
            match (chars.next(), chars.next(), rest.len()) {
                (Some(m @ ('C' | 'A' | 'S')), Some('-'), n) if n > 2 => {
                    match m {
                        'C' => key.ctrl = true,
                        'A' => key.alt = true,
                        _ => key.shift = true,
                    }
                    rest = &rest[2..];
                }
                _ => break,
            }
        }
        let lower = rest.to_ascii_lowercase();
        key.code = if let Some((_, code)) = NAMED.iter().find(|(n, _)| *n == lower) {
            *code
        } else if let Some(n) = lower.strip_prefix('f').and_then(|d| d.parse::<u8>().ok()) {
            if !(1..=24).contains(&n) {
                return Err(format!("{text:?}: function keys are F1 to F24"));
            }
            Code::F(n)
        } else {
            let mut chars = rest.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if !c.is_control() => Code::Char(c),
                _ => {
                    return Err(format!(
                        "{text:?} is not a key (a character, F1–F24, or one of {})",
                        NAMED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        };
        // S-a is written A; keep one spelling so bindings compare equal.
        if let Code::Char(c) = key.code
            && key.shift
            && c.is_alphabetic()
        {
            key.code = Code::Char(c.to_uppercase().next().unwrap_or(c));
            key.shift = false;
        }
        Ok(key)
    }

    /// The key of a terminal event.
    pub fn from_event(event: &KeyEvent) -> Option<Self> {
        let code = match event.code {
            KeyCode::Char(c) => Code::Char(c),
            KeyCode::F(n) => Code::F(n),
            KeyCode::Enter => Code::Enter,
            KeyCode::Esc => Code::Esc,
            KeyCode::Tab => Code::Tab,
            KeyCode::BackTab => {
                return Some(Self {
                    code: Code::Tab,
                    ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
                    alt: event.modifiers.contains(KeyModifiers::ALT),
                    shift: true,
                });
            }
            KeyCode::Backspace => Code::Backspace,
            KeyCode::Delete => Code::Delete,
            KeyCode::Insert => Code::Insert,
            KeyCode::Up => Code::Up,
            KeyCode::Down => Code::Down,
            KeyCode::Left => Code::Left,
            KeyCode::Right => Code::Right,
            KeyCode::Home => Code::Home,
            KeyCode::End => Code::End,
            KeyCode::PageUp => Code::PageUp,
            KeyCode::PageDown => Code::PageDown,
            _ => return None,
        };
        let mut key = Self {
            code,
            ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
            alt: event.modifiers.contains(KeyModifiers::ALT),
            shift: event.modifiers.contains(KeyModifiers::SHIFT),
        };
        if let Code::Char(c) = key.code {
            // Terminals report shifted characters already shifted.
            key.shift = false;
            if key.ctrl && c.is_ascii_uppercase() {
                key.code = Code::Char(c.to_ascii_lowercase());
            }
        }
        Some(key)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("C-")?;
        }
        if self.alt {
            f.write_str("A-")?;
        }
        if self.shift {
            f.write_str("S-")?;
        }
        match self.code {
            Code::Char(' ') => f.write_str("space"),
            Code::Char('-') => f.write_str("minus"),
            Code::Char(c) => write!(f, "{c}"),
            Code::F(n) => write!(f, "F{n}"),
            other => {
                let name = NAMED
                    .iter()
                    .find(|(_, c)| *c == other)
                    .map(|(n, _)| *n)
                    .unwrap_or("?");
                f.write_str(name)
            }
        }
    }
}

/// A sequence of key presses bound to one action.
pub type Sequence = Vec<Key>;

/// Parses a space-separated key sequence (`g g`, `C-x !`).
pub fn parse_sequence(text: &str) -> Result<Sequence, String> {
    let keys: Vec<Key> = text
        .split_whitespace()
        .map(Key::parse)
        .collect::<Result<_, _>>()?;
    if keys.is_empty() {
        return Err("empty key sequence".into());
    }
    if keys.len() > 4 {
        return Err(format!("{text:?}: sequences are at most 4 keys"));
    }
    Ok(keys)
}

/// Shows a sequence in the notation it is written in.
pub fn show(seq: &[Key]) -> String {
    seq.iter().map(Key::to_string).collect::<Vec<_>>().join(" ")
}

/// A keymap file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct KeymapError {
    /// The file.
    pub file: String,
    /// Line of the problem (1-based; 0 when unknown).
    pub line: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Bindings per context: which action each key sequence runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keymap {
    bindings: BTreeMap<Context, Vec<(Sequence, Action)>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Keymap {
    /// The shipped default keymap.
    pub fn default_keymap() -> Self {
        // Parsed by a unit test, so this cannot fail in a release.
        Self::parse("keymaps/default.toml", DEFAULT_KEYMAP).unwrap_or_default()
    }

    /// Parses a keymap file. Unknown contexts and actions, malformed keys,
    /// and two actions on one key in one context are errors naming the
    /// file, line, key and action.
    pub fn parse(file: &str, text: &str) -> Result<Self, KeymapError> {
        let err = |line: usize, message: String| KeymapError {
            file: file.to_string(),
            line,
            message,
        };
        type Table = BTreeMap<
            toml::Spanned<String>,
            BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>>,
        >;
        let table: Table = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            err(line, e.message().to_string())
        })?;
        let mut keymap = Self::default();
        // In file order, so a clash is reported at the later line.
        let mut contexts: Vec<_> = table.into_iter().collect();
        contexts.sort_by_key(|(name, _)| name.span().start);
        for (ctx_name, actions) in contexts {
            let ctx_line = line_of(text, ctx_name.span().start);
            let ctx = Context::parse(ctx_name.get_ref()).ok_or_else(|| {
                err(
                    ctx_line,
                    format!(
                        "unknown context [{}] (expected one of {})",
                        ctx_name.get_ref(),
                        Context::ALL.map(Context::name).join(", ")
                    ),
                )
            })?;
            let mut actions: Vec<_> = actions.into_iter().collect();
            actions.sort_by_key(|(name, _)| name.span().start);
            for (action_name, keys) in actions {
                let line = line_of(text, action_name.span().start);
                let action = Action::parse(action_name.get_ref()).ok_or_else(|| {
                    err(
                        line,
                        format!(
                            "unknown action {:?} in [{}] (see `agentdeck keys` for the actions)",
                            action_name.get_ref(),
                            ctx.name()
                        ),
                    )
                })?;
                if !action.contexts().contains(&ctx) {
                    return Err(err(
                        line,
                        format!(
                            "action {:?} cannot be bound in [{}] (only in {})",
                            action.name(),
                            ctx.name(),
                            action
                                .contexts()
                                .iter()
                                .map(|c| format!("[{}]", c.name()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                let line = line_of(text, keys.span().start);
                let not_keys = || {
                    err(
                        line,
                        format!(
                            "keys for {:?} must be a string or a list of strings, e.g. \"q\" or [\"k\", \"up\"]",
                            action.name()
                        ),
                    )
                };
                let list: Vec<&str> = match keys.get_ref() {
                    toml::Value::String(k) => vec![k.as_str()],
                    toml::Value::Array(ks) => ks
                        .iter()
                        .map(|k| k.as_str().ok_or_else(not_keys))
                        .collect::<Result<_, _>>()?,
                    _ => return Err(not_keys()),
                };
                for key in list {
                    let seq = parse_sequence(key)
                        .map_err(|e| err(line, format!("bad key for {:?}: {e}", action.name())))?;
                    keymap.bind(ctx, seq, action).map_err(|e| err(line, e))?;
                }
            }
        }
        Ok(keymap)
    }

    /// A keymap by name: a user file `NAME.toml` in `user_dir` wins over a
    /// shipped keymap of the same name.
    pub fn named(name: &str, user_dir: Option<&std::path::Path>) -> Result<Self, KeymapError> {
        if let Some(dir) = user_dir {
            let path = dir.join(format!("{name}.toml"));
            let file = path.display().to_string();
            match crate::config::read_optional(&path) {
                Ok(Some(text)) => return Self::parse(&file, &text),
                Ok(None) => {}
                Err(message) => {
                    return Err(KeymapError {
                        file,
                        line: 0,
                        message,
                    });
                }
            }
        }
        match BUILT_IN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Self::parse(&format!("keymaps/{n}.toml"), text),
            None => Err(KeymapError {
                file: format!("{name}.toml"),
                line: 0,
                message: format!(
                    "no keymap {name:?}: the shipped ones are {}",
                    BUILT_IN.map(|(n, _)| n).join(", ")
                ),
            }),
        }
    }

    /// Merges a user's overrides over this keymap, per context and per
    /// action: an action the user binds keeps only the user's keys there.
    /// `inherit = false` at the top of the file starts from nothing
    /// instead. A clash with a kept binding names the file and line.
    pub fn merge(mut self, file: &str, text: &str) -> Result<Self, KeymapError> {
        let (inherit, body) = split_inherit(text);
        let user = Self::parse(file, &body)?;
        if !inherit {
            return Ok(user);
        }
        for (ctx, list) in &user.bindings {
            let ours = self.bindings.entry(*ctx).or_default();
            ours.retain(|(_, a)| !list.iter().any(|(_, ua)| ua == a));
        }
        for (ctx, list) in user.bindings {
            for (seq, action) in list {
                self.bind(ctx, seq, action).map_err(|e| KeymapError {
                    file: file.to_string(),
                    line: line_of_action(text, action),
                    message: format!(
                        "{e}; rebind that action in this file too, or set inherit = false"
                    ),
                })?;
            }
        }
        Ok(self)
    }

    /// Binds a sequence, refusing a clash with another action in the
    /// same context (the same sequence, or one a prefix of the other).
    pub fn bind(&mut self, ctx: Context, seq: Sequence, action: Action) -> Result<(), String> {
        let list = self.bindings.entry(ctx).or_default();
        for (other, other_action) in list.iter() {
            let n = other.len().min(seq.len());
            // The same key twice for one action is harmless; a prefix of a
            // longer sequence would make the longer one unreachable.
            if other[..n] == seq[..n] && (*other_action != action || other.len() != seq.len()) {
                return Err(format!(
                    "key {:?} for {:?} clashes with {:?} bound to {:?} in [{}]",
                    show(&seq),
                    action.name(),
                    show(other),
                    other_action.name(),
                    ctx.name()
                ));
            }
        }
        if !list.iter().any(|(s, a)| *s == seq && *a == action) {
            list.push((seq, action));
        }
        Ok(())
    }

    /// The keys bound to an action in a context (or globally), for help
    /// and hints.
    pub fn keys_for(&self, ctx: Context, action: Action) -> Vec<String> {
        let mut out = Vec::new();
        for c in [ctx, Context::Global] {
            if let Some(list) = self.bindings.get(&c) {
                out.extend(
                    list.iter()
                        .filter(|(_, a)| *a == action)
                        .map(|(s, _)| show(s)),
                );
            }
            // Dialogs do not fall back to global keys: there, typed keys go
            // to the dialog.
            if ctx == Context::Global || ctx == Context::Dialog {
                break;
            }
        }
        out
    }

    /// The bindings of one context, for the help screen.
    pub fn bindings(&self, ctx: Context) -> &[(Sequence, Action)] {
        self.bindings.get(&ctx).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Resolves pressed keys in a context: the action when `pressed` is a
    /// whole binding, `Pending` when it starts one, `None` otherwise. The
    /// context's own bindings win over global ones.
    pub fn resolve(&self, contexts: &[Context], pressed: &[Key]) -> Resolution {
        let mut pending = false;
        for ctx in contexts {
            for (seq, action) in self.bindings(*ctx) {
                if seq.as_slice() == pressed {
                    return Resolution::Action(*action);
                }
                if seq.len() > pressed.len() && seq[..pressed.len()] == *pressed {
                    pending = true;
                }
            }
        }
        if pending {
            Resolution::Pending
        } else {
            Resolution::None
        }
    }
}

/// Takes a top-level `inherit = false|true` line out of a keymap file,
/// keeping line numbers.
fn split_inherit(text: &str) -> (bool, String) {
    let mut inherit = true;
    let mut in_table = false;
    let body: Vec<String> = text
        .lines()
        .map(|line| {
            let t = line.trim();
            if t.starts_with('[') {
                in_table = true;
            }
            if !in_table && t.starts_with("inherit") && t.contains('=') {
                inherit = !t
                    .split('=')
                    .nth(1)
                    .is_some_and(|v| v.trim().starts_with("false"));
                String::new()
            } else {
                line.to_string()
            }
        })
        .collect();
    (inherit, body.join("\n"))
}

fn line_of_action(text: &str, action: Action) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(action.name()) && l.contains('='))
        .map_or(0, |i| i + 1)
}

/// What pressed keys mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// A whole binding.
    Action(Action),
    /// The start of a longer binding: wait for more keys.
    Pending,
    /// Nothing.
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::parse(s).unwrap()
    }

    #[test]
    fn notation_parses() {
        assert_eq!(key("a"), Key::plain(Code::Char('a')));
        assert_eq!(key("A"), Key::plain(Code::Char('A')));
        assert_eq!(key("S-a"), key("A"));
        let c_r = key("C-r");
        assert!(c_r.ctrl && c_r.code == Code::Char('r'));
        let s_tab = key("S-tab");
        assert!(s_tab.shift && s_tab.code == Code::Tab);
        assert_eq!(key("F5").code, Code::F(5));
        assert_eq!(key("ret").code, Code::Enter);
        assert_eq!(key("space").code, Code::Char(' '));
        assert_eq!(key("-").code, Code::Char('-'));
        assert_eq!(key("C--").code, Code::Char('-'));
        assert!(key("C-A-x").alt);
        assert_eq!(parse_sequence("g g").unwrap().len(), 2);
        for k in [
            "a", "C-r", "A-x", "S-tab", "F5", "ret", "esc", "space", "G", "?",
        ] {
            assert_eq!(key(k).to_string(), k, "round trip");
        }
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        for bad in ["", "ctrl+a", "F0", "F99", "abc", "C-", "\u{7}", "C-xy"] {
            assert!(Key::parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse_sequence("   ").is_err());
        assert!(parse_sequence("a b c d e").is_err());
    }

    #[test]
    fn the_default_keymap_loads_with_the_documented_keys() {
        let k = Keymap::parse("keymaps/default.toml", DEFAULT_KEYMAP).unwrap();
        let r =
            |ctx: Context, s: &str| k.resolve(&[ctx, Context::Global], &parse_sequence(s).unwrap());
        assert_eq!(
            r(Context::Approvals, "a"),
            Resolution::Action(Action::Approve)
        );
        assert_eq!(
            r(Context::Approvals, "r"),
            Resolution::Action(Action::Reject)
        );
        assert_eq!(
            r(Context::Incidents, "a"),
            Resolution::Action(Action::Acknowledge)
        );
        assert_eq!(r(Context::Incidents, "t"), Resolution::Action(Action::Take));
        assert_eq!(
            r(Context::Incidents, "e"),
            Resolution::Action(Action::Escalate)
        );
        assert_eq!(r(Context::Incidents, "n"), Resolution::Action(Action::Note));
        assert_eq!(
            r(Context::Incidents, "R"),
            Resolution::Action(Action::Resolve)
        );
        assert_eq!(r(Context::Overview, "q"), Resolution::Action(Action::Quit));
        assert_eq!(
            r(Context::Overview, "1"),
            Resolution::Action(Action::ShowOverview)
        );
        assert_eq!(
            r(Context::Overview, "7"),
            Resolution::Action(Action::ShowHandoff)
        );
        assert_eq!(r(Context::Overview, "j"), Resolution::Action(Action::Down));
        assert_eq!(
            r(Context::Overview, "down"),
            Resolution::Action(Action::Down)
        );
        assert_eq!(
            r(Context::Overview, "ret"),
            Resolution::Action(Action::Open)
        );
        assert_eq!(
            r(Context::Overview, "esc"),
            Resolution::Action(Action::Close)
        );
        assert_eq!(r(Context::Overview, "?"), Resolution::Action(Action::Help));
        assert_eq!(
            r(Context::Overview, ":"),
            Resolution::Action(Action::CommandLine)
        );
        assert_eq!(
            r(Context::Overview, "/"),
            Resolution::Action(Action::Filter)
        );
        assert_eq!(r(Context::Overview, "y"), Resolution::Action(Action::Copy));
        assert_eq!(
            r(Context::Overview, "c"),
            Resolution::Action(Action::Contain)
        );
        assert_eq!(r(Context::Overview, "g"), Resolution::Pending);
        assert_eq!(r(Context::Overview, "g g"), Resolution::Action(Action::Top));
        assert_eq!(
            r(Context::Dialog, "ret"),
            Resolution::Action(Action::Confirm)
        );
        assert_eq!(
            r(Context::Dialog, "esc"),
            Resolution::Action(Action::Cancel)
        );
        assert_eq!(r(Context::Overview, "x"), Resolution::None);
        assert_eq!(
            k.resolve(&[Context::Overview, Context::Global], &[key("C-x")]),
            Resolution::Pending,
            "the emergency stop is a sequence"
        );
    }

    #[test]
    fn every_shipped_keymap_loads() {
        for (name, text) in BUILT_IN {
            let k = Keymap::parse(name, text).unwrap_or_else(|e| panic!("{e}"));
            for ctx in [
                Context::Global,
                Context::Approvals,
                Context::Incidents,
                Context::Dialog,
            ] {
                assert!(!k.bindings(ctx).is_empty(), "{name} [{}]", ctx.name());
            }
            // Every screen-specific action the issue names is reachable.
            for (ctx, action) in [
                (Context::Approvals, Action::Approve),
                (Context::Approvals, Action::Reject),
                (Context::Incidents, Action::Resolve),
                (Context::Controls, Action::Lift),
                (Context::Global, Action::Quit),
                (Context::Dialog, Action::Confirm),
            ] {
                assert!(!k.keys_for(ctx, action).is_empty(), "{name}: {:?}", action);
            }
        }
        let vim = Keymap::named("vim", None).unwrap();
        assert_eq!(
            vim.resolve(&[Context::Global], &parse_sequence("C-d").unwrap()),
            Resolution::Action(Action::PageDown)
        );
        assert!(
            Keymap::named("dvorak", None)
                .unwrap_err()
                .to_string()
                .contains("default, vim, emacs")
        );
    }

    #[test]
    fn user_overrides_merge_per_context_and_action() {
        let base = Keymap::default_keymap();
        let merged = base
            .clone()
            .merge("keymap.toml", "[approvals]\napprove = \"A\"\n")
            .unwrap();
        let r = |k: &Keymap, ctx: Context, s: &str| {
            k.resolve(&[ctx, Context::Global], &parse_sequence(s).unwrap())
        };
        assert_eq!(
            r(&merged, Context::Approvals, "A"),
            Resolution::Action(Action::Approve)
        );
        assert_eq!(
            r(&merged, Context::Approvals, "a"),
            Resolution::None,
            "the old key is gone"
        );
        assert_eq!(
            r(&merged, Context::Approvals, "r"),
            Resolution::Action(Action::Reject),
            "the rest is kept"
        );
        // A user key that clashes with a kept default names the file and line.
        let e = base
            .clone()
            .merge("keymap.toml", "\n[global]\nhelp = \"q\"\n")
            .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.to_string()
                .contains("clashes with \"q\" bound to \"quit\""),
            "{e}"
        );
        // inherit = false starts from nothing.
        let only = base
            .merge("keymap.toml", "inherit = false\n[global]\nquit = \"Q\"\n")
            .unwrap();
        assert_eq!(r(&only, Context::Global, "q"), Resolution::None);
        assert_eq!(
            r(&only, Context::Global, "Q"),
            Resolution::Action(Action::Quit)
        );
    }

    #[test]
    fn bad_files_name_file_line_key_and_action() {
        let e = Keymap::parse("my.toml", "[global]\nquit = \"q\"\nhelp = \"q\"\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.to_string().starts_with(
                "my.toml:3: key \"q\" for \"help\" clashes with \"q\" bound to \"quit\""
            ),
            "{e}"
        );
        let e = Keymap::parse("my.toml", "[global]\nfly = \"f\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "my.toml:2: unknown action \"fly\" in [global] (see `agentdeck keys` for the actions)"
        );
        let e = Keymap::parse("my.toml", "[global]\n\nquit = \"ctrl+q\"\n").unwrap_err();
        assert!(
            e.to_string().starts_with("my.toml:3: bad key for \"quit\""),
            "{e}"
        );
        let e = Keymap::parse("my.toml", "[kitchen]\nquit = \"q\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown context [kitchen]"), "{e}");
        let e = Keymap::parse("my.toml", "[global]\napprove = \"a\"\n").unwrap_err();
        assert!(e.to_string().contains("cannot be bound in [global]"), "{e}");
        let e = Keymap::parse("my.toml", "[global\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = Keymap::parse("my.toml", "[global]\ntop = [\"g g\", \"g\"]\n").unwrap_err();
        assert!(e.to_string().contains("clashes"), "{e}");
    }
}
