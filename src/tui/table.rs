//! Lists drawn as tables: columns that drop by priority on narrow screens,
//! only the rows in view built, and the cells and layouts the lists share.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use crate::model::incident::Severity;
use crate::model::slo::AlertLevel;

use super::sanitize::fit;
use super::theme::Theme;

/// Keeps columns by priority (0 first) until the width is used up.
pub fn keep_columns(widths: &[(u16, u8)], available: u16) -> Vec<usize> {
    let mut order: Vec<usize> = (0..widths.len()).collect();
    order.sort_by_key(|&i| widths[i].1);
    let mut used = 0u16;
    let mut keep = Vec::new();
    for i in order {
        let w = widths[i].0 + 1;
        if used + w <= available {
            used += w;
            keep.push(i);
        }
    }
    keep.sort_unstable();
    keep
}

/// One column of a list: its header, its width, its priority (on a narrow
/// screen columns go from the highest number down; 0 stays longest) and
/// how to draw it for one row.
pub struct Column<'a, T> {
    title: &'static str,
    width: u16,
    priority: u8,
    cell: Box<dyn Fn(&T) -> Cell<'static> + 'a>,
    /// For a column that must never cut its value (an id, a count): how
    /// wide a row's value is; the column widens to the widest in view.
    measure: Option<Measure<'a, T>>,
}

/// How wide a row's value is.
type Measure<'a, T> = Box<dyn Fn(&T) -> usize + 'a>;

/// Which rows of a list are urgent.
type Urgency<'a, T> = Box<dyn Fn(&T) -> bool + 'a>;

/// The columns of a list, in screen order. Adding a column is one `add`.
pub struct Columns<'a, T> {
    list: Vec<Column<'a, T>>,
    /// Rows whose urgency must show through the selection (a SEV1).
    urgent: Option<Urgency<'a, T>>,
    /// Columns put before the ones the caller numbers (the mark column):
    /// the flexible column's index is shifted by it.
    leading: usize,
}

impl<'a, T> Columns<'a, T> {
    /// No columns yet.
    pub fn new() -> Self {
        Self {
            list: Vec::new(),
            urgent: None,
            leading: 0,
        }
    }

    /// Puts a mark column first while any row is marked for a bulk
    /// action; it is never dropped for width.
    pub fn marks(
        mut self,
        marked: &'a std::collections::BTreeSet<String>,
        id: impl Fn(&T) -> &str + 'a,
        style: Style,
    ) -> Self {
        if marked.is_empty() {
            return self;
        }
        self.list.insert(
            0,
            Column {
                title: "✓",
                width: 1,
                priority: 0,
                cell: Box::new(move |row| {
                    let mark = if marked.contains(id(row)) { "✓" } else { " " };
                    Cell::from(mark).style(style)
                }),
                measure: None,
            },
        );
        self.leading += 1;
        self
    }

    /// Marks rows as urgent: selected, such a row is drawn in the urgent
    /// selection colour, so the cursor never hides a SEV1's red.
    pub fn urgent(mut self, is_urgent: impl Fn(&T) -> bool + 'a) -> Self {
        self.urgent = Some(Box::new(is_urgent));
        self
    }

    /// Adds a column: its header, width, priority and cell.
    pub fn add(
        mut self,
        title: &'static str,
        width: u16,
        priority: u8,
        cell: impl Fn(&T) -> Cell<'static> + 'a,
    ) -> Self {
        self.list.push(Column {
            title,
            width,
            priority,
            cell: Box::new(cell),
            measure: None,
        });
        self
    }

    /// Makes the last column added widen to its widest value in view
    /// (`measure` gives a row's), so an id or a count is never cut: a wider
    /// column drops a lower-priority one whole instead.
    pub fn fit(mut self, measure: impl Fn(&T) -> usize + 'a) -> Self {
        if let Some(last) = self.list.last_mut() {
            last.measure = Some(Box::new(measure));
        }
        self
    }
}

impl<T> Default for Columns<'_, T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The rows in view: what ratatui's `TableState` shows when it starts from
/// offset 0, as every frame here does: the first screenful, then the
/// selection on the bottom line. `body` is the number of lines for rows;
/// with none, the selected row alone, so the table still reserves the
/// selection mark's column.
pub fn window(len: usize, selected: Option<usize>, body: usize) -> std::ops::Range<usize> {
    let start = selected.map_or(0, |s| s.saturating_sub(body.saturating_sub(1)));
    let end = start.saturating_add(body.max(1)).min(len);
    start.min(end)..end
}

/// Each column's width: as declared, or for a column that must not cut
/// its value, as wide as its widest value among `in_view`.
fn fitted_widths<T>(columns: &[Column<'_, T>], in_view: &[&T]) -> Vec<u16> {
    columns
        .iter()
        .map(|c| match &c.measure {
            Some(measure) => in_view
                .iter()
                .map(|row| measure(row))
                .max()
                .map_or(c.width, |w| {
                    c.width.max(w.min(usize::from(u16::MAX)) as u16)
                }),
            None => c.width,
        })
        .collect()
}

/// Renders a list as a table whose columns drop by priority on narrow
/// screens; the `flex` column takes the width left over. `ids` are the
/// rows in display order and `get` finds one; cells are built only for the
/// rows in view and the columns that fit, so a frame costs the same with
/// 10,000 rows as with 50.
#[allow(clippy::too_many_arguments)]
pub fn table<'d, T: 'd>(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: String,
    focused: bool,
    columns: &Columns<'_, T>,
    flex: usize,
    ids: &[String],
    selected: Option<usize>,
    get: impl Fn(&str) -> Option<&'d T>,
) {
    let urgent = selected
        .and_then(|s| ids.get(s))
        .and_then(|id| get(id))
        .is_some_and(|row| columns.urgent.as_ref().is_some_and(|f| f(row)));
    let highlight = if urgent {
        theme.selection_urgent()
    } else {
        theme.selection()
    };
    let flex = flex + columns.leading;
    let columns = &columns.list;
    let inner_width = area.width.saturating_sub(2);
    // Inside the borders, below the header.
    let body_height = area.height.saturating_sub(3) as usize;
    let shown = window(ids.len(), selected, body_height);
    let first = shown.start;
    let in_view: Vec<&T> = ids[shown.clone()].iter().filter_map(|id| get(id)).collect();
    let fitted = fitted_widths(columns, &in_view);
    let spec: Vec<(u16, u8)> = columns
        .iter()
        .zip(&fitted)
        .map(|(c, w)| (*w, c.priority))
        .collect();
    let keep = keep_columns(&spec, inner_width);
    let header =
        Row::new(keep.iter().map(|&i| {
            Cell::from(columns[i].title).style(theme.muted().add_modifier(Modifier::BOLD))
        }));
    let flex = if keep.contains(&flex) {
        flex
    } else {
        keep.last().copied().unwrap_or(0)
    };
    let widths: Vec<Constraint> = keep
        .iter()
        .map(|&i| {
            if i == flex {
                Constraint::Min(fitted[i])
            } else {
                Constraint::Length(fitted[i])
            }
        })
        .collect();
    let body: Vec<Row> = ids[shown]
        .iter()
        .map(|id| match get(id) {
            Some(row) => Row::new(keep.iter().map(|&i| (columns[i].cell)(row))),
            // The ids come from the same data; an empty line keeps the
            // selection where it belongs if one ever did not.
            None => Row::default(),
        })
        .collect();
    let mut state = TableState::default().with_selected(selected.map(|s| s.saturating_sub(first)));
    let t = Table::new(body, widths)
        .header(header)
        .block(theme.block(title, focused))
        .row_highlight_style(highlight)
        .highlight_symbol("▶");
    frame.render_stateful_widget(t, area, &mut state);
    if ids.is_empty() {
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1.min(area.height.saturating_sub(3)),
        };
        frame.render_widget(Paragraph::new("nothing here").style(theme.muted()), inner);
    }
}

/// An SLO's alert level as a coloured cell.
pub fn alert_cell(theme: &Theme, a: AlertLevel) -> Cell<'static> {
    match a {
        AlertLevel::Page => Cell::from("PAGE").style(theme.critical()),
        AlertLevel::Ticket => Cell::from("TICKET").style(theme.warning()),
        AlertLevel::None => Cell::from("ok").style(theme.ok()),
    }
}

/// A ratio as a percentage, a dash when unknown.
pub fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// Milliseconds, in seconds from one second up, a dash when unknown.
pub fn ms(x: Option<f64>) -> String {
    match x {
        Some(v) if v >= 10_000.0 => format!("{:.0}s", v / 1000.0),
        Some(v) if v >= 1000.0 => format!("{:.1}s", v / 1000.0),
        Some(v) => format!("{v:.0}ms"),
        None => "—".into(),
    }
}

/// A list's title, with its filter when one is typed.
pub fn filtered_title(title: &str, filter: &str) -> String {
    if filter.is_empty() {
        format!(" {title} ")
    } else {
        format!(" {title} — filter: {} ", fit(filter, 30))
    }
}

/// How an incident severity is coloured.
pub fn severity_style(theme: &Theme, s: Severity) -> Style {
    match s {
        Severity::Sev1 => theme.critical(),
        Severity::Sev2 => theme.warning(),
        Severity::Sev3 | Severity::Sev4 => theme.text(),
    }
}

/// A list and its detail side by side on wide screens, stacked on
/// narrow ones.
pub fn split_list_detail(area: Rect) -> (Rect, Rect) {
    let parts = if area.width >= 140 {
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).split(area)
    } else {
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).split(area)
    };
    (parts[0], parts[1])
}

/// Where a list with a detail goes: the list's area (none while the
/// detail is open on its own) and the detail's.
pub fn list_and_detail(area: Rect, detail_open: bool) -> (Option<Rect>, Rect) {
    if detail_open {
        return (None, area);
    }
    let (list, detail) = split_list_detail(area);
    (Some(list), detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window drawn is what ratatui showed when it was given every row
    /// and a fresh `TableState` (offset 0) each frame, as the lists were
    /// drawn before: same lines, same selection, at every position.
    #[test]
    fn the_window_is_what_a_full_table_from_offset_zero_shows() {
        use ratatui::Terminal;
        use ratatui::backend::TestBackend;

        let draw = |rows: &[String], selected: Option<usize>, height: u16| {
            let mut terminal = Terminal::new(TestBackend::new(30, height)).expect("terminal");
            terminal
                .draw(|f| {
                    let body = rows.iter().map(|r| Row::new([Cell::from(r.clone())]));
                    let t = Table::new(body, [Constraint::Min(5)])
                        .header(Row::new(["head"]))
                        .block(ratatui::widgets::Block::bordered())
                        .highlight_symbol("▶");
                    let mut state = TableState::default().with_selected(selected);
                    f.render_stateful_widget(t, f.area(), &mut state);
                })
                .expect("draw");
            terminal.backend().buffer().clone()
        };
        for len in [0usize, 1, 2, 5, 17, 60] {
            let rows: Vec<String> = (0..len).map(|i| format!("row {i}")).collect();
            for height in [1u16, 2, 3, 4, 5, 10, 24] {
                let body = height.saturating_sub(3) as usize;
                let selections: Vec<Option<usize>> = if len == 0 {
                    vec![None]
                } else {
                    (0..len).map(Some).collect()
                };
                for selected in selections {
                    let full = draw(&rows, selected, height);
                    let shown = window(len, selected, body);
                    let first = shown.start;
                    let windowed = draw(&rows[shown], selected.map(|s| s - first), height);
                    assert_eq!(
                        full, windowed,
                        "{len} rows, height {height}, selected {selected:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn columns_drop_by_priority() {
        let cols = [(10, 0), (10, 2), (10, 1)];
        assert_eq!(keep_columns(&cols, 100), vec![0, 1, 2]);
        assert_eq!(keep_columns(&cols, 23), vec![0, 2]);
        assert_eq!(keep_columns(&cols, 5), Vec::<usize>::new());
    }
}
