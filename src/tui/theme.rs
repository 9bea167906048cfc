//! Colours by meaning: widgets ask the theme for `ok`, `warning`,
//! `critical` and so on, never for a colour.

use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, BorderType, Borders};
use serde::Deserialize;

/// The shipped default theme.
pub const DARK: &str = include_str!("../../themes/dark.toml");

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

#[cfg(test)]
mod tests {
    use super::*;

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
