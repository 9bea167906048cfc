//! The Runbook screen: the runbook linked to the incident selected on the
//! Incidents screen, its steps (done ones ticked) and its text; running or
//! ticking the focused step.

use std::collections::BTreeMap;
use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::model::incident::Incident;
use crate::model::runbook::Runbook as Book;

use super::super::action::Action;
use super::super::ctx::{Ctx, Do, ListState};
use super::super::dialogs::{Dialog, Op};
use super::super::sanitize::{clean, fit};
use super::super::screen::Screen;
use super::super::scroll::Scroll;
use super::super::theme::Theme;
use super::{Pane, movement, navigate};

/// The Runbook screen's state: the runbooks the hub serves and the
/// focused step.
#[derive(Debug, Default)]
pub struct Runbook {
    /// Filter and detail (the selection is the Incidents screen's).
    pub list: ListState,
    /// Runbooks the hub serves, by name.
    pub runbooks: BTreeMap<String, Book>,
    /// The focused step (0-based).
    pub step_focus: usize,
    /// Where the runbook's text is scrolled to.
    pub body: Scroll,
}

impl Runbook {
    /// The runbook linked to the selected incident, if the hub serves it:
    /// by name, else the first for the incident's category.
    pub fn selected_runbook(&self, ctx: &Ctx) -> Option<&Book> {
        let id = ctx.incident()?;
        let incident = ctx.data.incidents.get(&id)?;
        let name = incident.runbook.as_ref()?;
        self.runbooks.get(name).or_else(|| {
            let category = incident.category.as_str();
            self.runbooks
                .values()
                .find(|r| r.categories.iter().any(|c| c == category))
        })
    }

    /// The confirmation of the focused step, or why it cannot run.
    fn run_step(&self, ctx: &Ctx) -> Vec<Do> {
        let Some(incident) = ctx.incident().and_then(|id| ctx.data.incidents.get(&id)) else {
            return vec![Do::error("no incident selected (choose one on screen 2)")];
        };
        let Some(rb) = self.selected_runbook(ctx) else {
            return vec![Do::error(format!(
                "{} has no runbook on this hub",
                incident.id
            ))];
        };
        let Some(step) = rb.steps.get(self.step_focus) else {
            return vec![Do::error("this runbook has no steps")];
        };
        if let Some(done) = incident
            .steps
            .iter()
            .find(|s| s.runbook == rb.name && s.step == step.index)
        {
            return vec![Do::error(format!(
                "step {} was done by {} at {}",
                step.index,
                done.by,
                done.at.format("%H:%M:%S")
            ))];
        }
        let what = match &step.action {
            Some(a) => format!("runs: {}", serde_json::to_string(a).unwrap_or_default()),
            None => "no action: ticks the step as done by hand".to_string(),
        };
        vec![Do::Open(Dialog::Confirm {
            title: format!("Step {} of {} on {}?", step.index, rb.name, incident.id),
            lines: vec![fit(&step.text, 70), what],
            ops: vec![Op::RunStep(incident.id.clone(), step.index)],
        })]
    }
}

impl Pane for Runbook {
    list_pane!(Screen::Runbook);

    fn owns(&self) -> &'static [Action] {
        &[Action::RunStep]
    }

    /// Up and down move the step focus, not the incident; page keys, top
    /// and bottom scroll the runbook's text.
    fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Do> {
        if !matches!(action, Action::Up | Action::Down) && self.body.apply(action) {
            return Vec::new();
        }
        if let Some(delta) = movement(action) {
            let steps = self.selected_runbook(ctx).map_or(0, |r| r.steps.len());
            if steps > 0 {
                let next = (self.step_focus as isize + delta).clamp(0, steps as isize - 1);
                self.step_focus = next as usize;
            }
            return Vec::new();
        }
        if action == Action::RunStep {
            return self.run_step(ctx);
        }
        navigate(Screen::Runbook, &mut self.list, action, ctx);
        Vec::new()
    }

    /// Its rows are incidents after its own filter; the selection is the
    /// Incidents screen's.
    fn selection(&self, ctx: &Ctx) -> (Arc<Vec<String>>, Option<usize>) {
        ctx.select(
            Screen::Runbook,
            &self.list,
            ctx.incidents.selected.as_deref(),
        )
    }

    /// Copy copies the incident.
    fn copied(&self, ctx: &Ctx) -> Option<String> {
        ctx.incident()
    }

    fn selected_agent(&self, ctx: &Ctx) -> Option<(String, Option<String>)> {
        let id = ctx.incident()?;
        let i = ctx.data.incidents.get(&id)?;
        i.agent.clone().map(|a| (a, Some(id)))
    }

    fn viewing(&self, ctx: &Ctx) -> Option<String> {
        ctx.incident()
    }

    fn draw(&self, ctx: &Ctx, theme: &Theme, frame: &mut Frame, area: Rect) {
        let incident = ctx.incident().and_then(|id| ctx.data.incidents.get(&id));
        let Some(incident) = incident else {
            frame.render_widget(
                Paragraph::new(
                    "No incident selected: choose one on screen 2; its runbook shows here.",
                )
                .style(theme.muted())
                .block(theme.block(" Runbook ", true)),
                area,
            );
            return;
        };
        let Some(rb) = self.selected_runbook(ctx) else {
            return unknown(incident, theme, frame, area);
        };
        let (steps_area, body_area) = if area.width >= 140 {
            let p = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .split(area);
            (p[0], p[1])
        } else {
            let p = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                .split(area);
            (p[0], p[1])
        };
        let w = steps_area.width.saturating_sub(4) as usize;
        let (lines, at) = steps(ctx, theme, incident, rb, self.step_focus, w);
        let rows = steps_area.height.saturating_sub(2) as usize;
        frame.render_widget(
            Paragraph::new(in_view(lines, at, rows))
                .wrap(Wrap { trim: false })
                .block(theme.block(" Steps (x runs the focused one) ", true)),
            steps_area,
        );
        self.body.draw(
            frame,
            body_area,
            theme.block(
                format!(" {} — pgup/pgdn scroll ", fit(&rb.title, 50)),
                false,
            ),
            &super::super::markdown::lines(&rb.body, theme),
            theme,
        );
    }
}

/// The incident whose linked runbook this hub does not serve.
fn unknown(incident: &Incident, theme: &Theme, frame: &mut Frame, area: Rect) {
    let lines = vec![
        Line::from(vec![
            Span::styled(format!("{} ", incident.id), theme.accent()),
            Span::styled(
                fit(&incident.title, area.width.saturating_sub(12) as usize),
                theme.title(),
            ),
        ]),
        Line::from(""),
        Line::from(format!(
            "linked runbook: {} — this hub serves no runbook of that name",
            incident.runbook.as_deref().unwrap_or("none")
        )),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(theme.block(" Runbook ", true)),
        area,
    );
}

/// The step lines from the first, or, when the focused step (line `at`)
/// would fall below `rows`, from far enough down to show it (the two heading lines
/// stay). Lines count one row each; the focused one may wrap onto a few
/// more, hence the margin.
fn in_view(lines: Vec<Line<'static>>, at: usize, rows: usize) -> Vec<Line<'static>> {
    const HEAD: usize = 2;
    const MARGIN: usize = 3;
    let skip = (at + MARGIN + 1)
        .saturating_sub(rows)
        .min(at.saturating_sub(HEAD));
    let mut out: Vec<Line<'static>> = lines.iter().take(HEAD).cloned().collect();
    out.extend(lines.into_iter().skip(HEAD + skip));
    out
}

/// The incident, the runbook, and its steps: done ones ticked with who
/// did them, the focused one highlighted, actions marked; and the line the
/// focused step is on.
fn steps(
    ctx: &Ctx,
    theme: &Theme,
    incident: &Incident,
    rb: &Book,
    focus: usize,
    w: usize,
) -> (Vec<Line<'static>>, usize) {
    let mut focus_line = 0;
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} ", incident.id), theme.accent()),
        Span::styled(fit(&incident.title, w.saturating_sub(8)), theme.title()),
    ])];
    lines.push(Line::from(Span::styled(
        format!("{} v{} · owner {}", rb.name, rb.version, rb.owner),
        theme.muted(),
    )));
    let off = ctx.unavailable(Action::RunStep);
    for (n, step) in rb.steps.iter().enumerate() {
        let done = incident
            .steps
            .iter()
            .find(|s| s.runbook == rb.name && s.step == step.index);
        let mark = if done.is_some() { "☑" } else { "☐" };
        let action = match &step.action {
            Some(a) => {
                let v = serde_json::to_value(a).unwrap_or_default();
                format!(" [{}]", v["kind"].as_str().unwrap_or("action"))
            }
            None => String::new(),
        };
        let style = if n == focus {
            theme.selection()
        } else if done.is_some() {
            theme.muted()
        } else {
            theme.text()
        };
        // The focused step is shown whole (wrapped); the others cut.
        if n == focus {
            focus_line = lines.len();
        }
        let text = if n == focus {
            clean(&step.text)
        } else {
            fit(&step.text, w.saturating_sub(8 + action.len()))
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} {}. ", step.index), style),
            Span::styled(text, style),
            Span::styled(
                action,
                if off.is_some() {
                    theme.muted()
                } else {
                    theme.warning()
                },
            ),
        ]));
        if let Some(d) = done {
            lines.push(Line::from(Span::styled(
                format!(
                    "    {} by {} at {}",
                    fit(&d.result, w.saturating_sub(30)),
                    d.by,
                    d.at.format("%H:%M:%S")
                ),
                theme.ok(),
            )));
        }
    }
    if let Some(why) = off {
        lines.push(Line::from(Span::styled(
            format!("steps: {why}"),
            theme.muted(),
        )));
    }
    (lines, focus_line)
}
