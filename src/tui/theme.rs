//! Colours by meaning: widgets ask the theme for `ok`, `warning`,
//! `critical` and so on, never for a colour.

use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, BorderType, Borders};
use serde::Deserialize;

/// The shipped default theme.
pub const DARK: &str = include_str!("../../themes/dark.toml");

/// Every shipped theme: name and file text.
pub const BUILT_IN: [(&str, &str); 4] = [
    ("dark", DARK),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("colorblind", include_str!("../../themes/colorblind.toml")),
];

/// A theme as written in a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    text: String,
    muted: String,
    accent: String,
    ok: String,
    warning: String,
    critical: String,
    selection_fg: String,
    selection_bg: String,
    border: String,
    border_focused: String,
    title: String,
}

/// Colours for every meaning the screens show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Ordinary text.
    pub text: Color,
    /// Secondary text.
    pub muted: Color,
    /// Highlights that are not states (keys, ids).
    pub accent: Color,
    /// Healthy.
    pub ok: Color,
    /// Needs attention.
    pub warning: Color,
    /// Broken, burning, urgent.
    pub critical: Color,
    /// Selected row text.
    pub selection_fg: Color,
    /// Selected row background.
    pub selection_bg: Color,
    /// Borders.
    pub border: Color,
    /// The focused pane's border.
    pub border_focused: Color,
    /// Titles.
    pub title: Color,
    /// No colours at all (`NO_COLOR`, `--no-color`): state is still shown
    /// by symbols and words.
    pub monochrome: bool,
}

fn color(file: &str, field: &str, value: &str) -> Result<Color, String> {
    Color::from_str(value).map_err(|_| {
        format!("{file}: {field} = {value:?} is not a colour (a name such as red, \"#rrggbb\", or 0–255)")
    })
}

impl Theme {
    /// Parses a theme file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, String> {
        let t: ThemeFile = toml::from_str(text).map_err(|e| format!("{file}: {e}"))?;
        Ok(Self {
            text: color(file, "text", &t.text)?,
            muted: color(file, "muted", &t.muted)?,
            accent: color(file, "accent", &t.accent)?,
            ok: color(file, "ok", &t.ok)?,
            warning: color(file, "warning", &t.warning)?,
            critical: color(file, "critical", &t.critical)?,
            selection_fg: color(file, "selection_fg", &t.selection_fg)?,
            selection_bg: color(file, "selection_bg", &t.selection_bg)?,
            border: color(file, "border", &t.border)?,
            border_focused: color(file, "border_focused", &t.border_focused)?,
            title: color(file, "title", &t.title)?,
            monochrome: false,
        })
    }

    /// The default dark theme.
    pub fn dark() -> Self {
        // Parsed by a unit test, so this cannot fail in a release.
        Self::parse("themes/dark.toml", DARK).unwrap_or_else(|_| Self::monochrome())
    }

    /// A theme by name: a user file `NAME.toml` in `user_dir` wins over a
    /// shipped theme of the same name.
    pub fn named(name: &str, user_dir: Option<&std::path::Path>) -> Result<Self, String> {
        if let Some(dir) = user_dir {
            let path = dir.join(format!("{name}.toml"));
            if let Some(text) = crate::config::read_optional(&path)? {
                return Self::parse(&path.display().to_string(), &text);
            }
        }
        match BUILT_IN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Self::parse(&format!("themes/{n}.toml"), text),
            None => Err(format!(
                "no theme {name:?}: the shipped ones are {}{}",
                BUILT_IN.map(|(n, _)| n).join(", "),
                user_dir
                    .map(|d| format!(", or add {}/{name}.toml", d.display()))
                    .unwrap_or_default()
            )),
        }
    }

    /// The same theme for a terminal with only the 16 ANSI colours: every
    /// RGB colour becomes the nearest of them.
    pub fn downgraded_to_16(mut self) -> Self {
        for c in [
            &mut self.text,
            &mut self.muted,
            &mut self.accent,
            &mut self.ok,
            &mut self.warning,
            &mut self.critical,
            &mut self.selection_fg,
            &mut self.selection_bg,
            &mut self.border,
            &mut self.border_focused,
            &mut self.title,
        ] {
            *c = nearest_16(*c);
        }
        self
    }

    /// No colours.
    pub fn monochrome() -> Self {
        Self {
            text: Color::Reset,
            muted: Color::Reset,
            accent: Color::Reset,
            ok: Color::Reset,
            warning: Color::Reset,
            critical: Color::Reset,
            selection_fg: Color::Reset,
            selection_bg: Color::Reset,
            border: Color::Reset,
            border_focused: Color::Reset,
            title: Color::Reset,
            monochrome: true,
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.monochrome {
            Style::default()
        } else {
            Style::default().fg(c)
        }
    }

    /// Ordinary text.
    pub fn text(&self) -> Style {
        self.fg(self.text)
    }
    /// Secondary text.
    pub fn muted(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::DIM)
        } else {
            self.fg(self.muted)
        }
    }
    /// Accents.
    pub fn accent(&self) -> Style {
        self.fg(self.accent)
    }
    /// Healthy.
    pub fn ok(&self) -> Style {
        self.fg(self.ok)
    }
    /// Attention.
    pub fn warning(&self) -> Style {
        self.fg(self.warning).add_modifier(Modifier::BOLD)
    }
    /// Urgent.
    pub fn critical(&self) -> Style {
        self.fg(self.critical).add_modifier(Modifier::BOLD)
    }
    /// The selected row when it is urgent (a SEV1): the critical colour
    /// behind it, so the cursor shows the urgency instead of hiding it.
    pub fn selection_urgent(&self) -> Style {
        if self.monochrome {
            Style::default()
                .add_modifier(Modifier::REVERSED | Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            Style::default()
                .fg(self.selection_fg)
                .bg(self.critical)
                .add_modifier(Modifier::BOLD)
        }
    }

    /// The selected row.
    pub fn selection(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
                .fg(self.selection_fg)
                .bg(self.selection_bg)
                .add_modifier(Modifier::BOLD)
        }
    }
    /// Titles.
    pub fn title(&self) -> Style {
        self.fg(self.title).add_modifier(Modifier::BOLD)
    }

    /// A bordered block, highlighted when focused.
    pub fn block<'a>(&self, title: impl Into<ratatui::text::Line<'a>>, focused: bool) -> Block<'a> {
        let border = if focused {
            self.fg(self.border_focused)
        } else {
            self.fg(self.border)
        };
        Block::default()
            .borders(Borders::ALL)
            .border_type(if focused {
                BorderType::Thick
            } else {
                BorderType::Plain
            })
            .border_style(border)
            .title(title)
            .title_style(self.title())
    }
}

/// True when the terminal says it shows more than 16 colours.
pub fn terminal_has_many_colours() -> bool {
    let colorterm = std::env::var("COLORTERM").unwrap_or_default();
    let term = std::env::var("TERM").unwrap_or_default();
    colorterm.contains("truecolor")
        || colorterm.contains("24bit")
        || term.contains("256")
        || term.contains("direct")
}

fn nearest_16(c: Color) -> Color {
    const ANSI: [(Color, (u8, u8, u8)); 16] = [
        (Color::Black, (0, 0, 0)),
        (Color::Red, (205, 0, 0)),
        (Color::Green, (0, 205, 0)),
        (Color::Yellow, (205, 205, 0)),
        (Color::Blue, (0, 0, 238)),
        (Color::Magenta, (205, 0, 205)),
        (Color::Cyan, (0, 205, 205)),
        (Color::Gray, (229, 229, 229)),
        (Color::DarkGray, (127, 127, 127)),
        (Color::LightRed, (255, 0, 0)),
        (Color::LightGreen, (0, 255, 0)),
        (Color::LightYellow, (255, 255, 0)),
        (Color::LightBlue, (92, 92, 255)),
        (Color::LightMagenta, (255, 0, 255)),
        (Color::LightCyan, (0, 255, 255)),
        (Color::White, (255, 255, 255)),
    ];
    let Color::Rgb(r, g, b) = c else {
        return c;
    };
    let d = |(x, y, z): (u8, u8, u8)| {
        let dr = i32::from(r) - i32::from(x);
        let dg = i32::from(g) - i32::from(y);
        let db = i32::from(b) - i32::from(z);
        dr * dr + dg * dg + db * db
    };
    ANSI.iter()
        .min_by_key(|(_, rgb)| d(*rgb))
        .map(|(c, _)| *c)
        .unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_theme_loads_and_keeps_ok_and_critical_apart() {
        for (name, text) in BUILT_IN {
            let t = Theme::parse(name, text).unwrap();
            assert_ne!(t.ok, t.critical, "{name}");
            let t16 = t.downgraded_to_16();
            assert!(!matches!(t16.ok, Color::Rgb(..)), "{name}");
        }
        assert!(Theme::named("light", None).is_ok());
        let e = Theme::named("neon", None).unwrap_err();
        assert!(e.contains("dark, light, high-contrast, colorblind"), "{e}");
    }

    #[test]
    fn the_colorblind_theme_has_no_red_green_pair() {
        let t = Theme::named("colorblind", None).unwrap();
        let hue = |c: Color| match c {
            Color::Rgb(r, g, b) => (r, g, b),
            _ => (0, 0, 0),
        };
        let (_, og, ob) = hue(t.ok);
        let (cr, _, _) = hue(t.critical);
        // ok is blue, critical is vermillion: told apart by blue/orange,
        // which the common colour-vision deficiencies keep distinct.
        assert!(ob > og, "ok is blue");
        assert!(cr > 200, "critical is orange-red");
    }

    #[test]
    fn a_user_theme_wins_over_a_shipped_one() {
        let dir = std::env::temp_dir().join(format!("agentdeck-theme-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("dark.toml"), DARK.replace("#5fd75f", "#00ff00")).unwrap();
        let t = Theme::named("dark", Some(&dir)).unwrap();
        assert_eq!(t.ok, Color::Rgb(0, 255, 0));
        std::fs::write(dir.join("broken.toml"), "text = 1").unwrap();
        let e = Theme::named("broken", Some(&dir)).unwrap_err();
        assert!(e.contains("broken.toml"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_dark_theme_parses() {
        let t = Theme::parse("themes/dark.toml", DARK).unwrap();
        assert_ne!(t.ok, t.critical);
        assert!(!t.monochrome);
    }

    #[test]
    fn bad_colours_name_the_field() {
        let bad = DARK.replace("ok = \"#5fd75f\"", "ok = \"grassy\"");
        let e = Theme::parse("t.toml", &bad).unwrap_err();
        assert!(e.contains("ok = \"grassy\" is not a colour"), "{e}");
        let e = Theme::parse("t.toml", &format!("{DARK}\nsparkle = \"red\"\n")).unwrap_err();
        assert!(e.contains("sparkle"), "{e}");
    }
}
