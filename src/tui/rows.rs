//! The sorted rows of every list and the per-agent counts, kept between
//! frames so that drawing a list costs the rows in view, not the rows in
//! the list: built on first use after a change, patched in place by deltas.

use std::cell::RefCell;
use std::sync::Arc;

use crate::model::stream::Delta;

use super::data::FeedData;
use super::screen::{self, AgentLoads, Screen, Sort};

/// Change counters, one per kind of row the feed delivers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Generations {
    slos: u64,
    agents: u64,
    incidents: u64,
    approvals: u64,
    controls: u64,
}

impl Generations {
    /// The counter of the rows a screen lists.
    fn of(&self, s: Screen) -> u64 {
        match s {
            Screen::Overview => self.slos,
            Screen::Incidents | Screen::Runbook => self.incidents,
            Screen::Approvals => self.approvals,
            Screen::Controls => self.controls,
            Screen::Agents => self.agents,
            // Read from the hub a page at a time, not from the feed.
            Screen::Handoff | Screen::History | Screen::Audit => 0,
        }
    }

    /// What the per-agent counts depend on.
    fn loads(&self) -> [u64; 3] {
        [self.incidents, self.approvals, self.controls]
    }

    /// Notes what a delta is about to change.
    fn touch(&mut self, delta: &Delta) {
        let counter = match delta {
            Delta::Slo(_) => &mut self.slos,
            Delta::Agent(_) => &mut self.agents,
            Delta::Incident(_) => &mut self.incidents,
            Delta::Approval(_) => &mut self.approvals,
            Delta::Control(_) => &mut self.controls,
            // Neither is listed or sorted.
            Delta::Audit(_) | Delta::Presence(_) => return,
        };
        *counter += 1;
    }

    /// Notes that everything changed (a snapshot).
    fn touch_all(&mut self) {
        for counter in [
            &mut self.slos,
            &mut self.agents,
            &mut self.incidents,
            &mut self.approvals,
            &mut self.controls,
        ] {
            *counter += 1;
        }
    }
}

/// A screen's row ids in display order, and what they were built from.
#[derive(Debug)]
struct Sorted {
    generation: u64,
    filter: String,
    sort: Sort,
    ids: Arc<Vec<String>>,
}

/// Which cached lists and counts a delta's row was taken out of.
#[derive(Debug, Default)]
pub struct Patched {
    lists: Vec<Screen>,
    /// The kind of row taken out of the per-agent counts.
    loads: Option<Screen>,
}

/// What is kept between frames.
#[derive(Debug, Default)]
struct RowCache {
    /// By `Screen::index`.
    lists: [Option<Sorted>; Screen::ALL.len()],
    /// Per-agent counts and the generations they were counted at.
    loads: Option<([u64; 3], Arc<AgentLoads>)>,
}

/// The sorted lists and counts, and the change counters they are checked
/// against. Panes read them while drawing, which borrows the app
/// immutably, hence the cell.
#[derive(Debug, Default)]
pub struct Rows {
    /// Bumped when the feed changes a kind of row; the sorted lists
    /// remember the generation they were built from.
    generations: Generations,
    cache: RefCell<RowCache>,
}

impl Rows {
    /// Notes that a snapshot replaced everything.
    pub fn touch_all(&mut self) {
        self.generations.touch_all();
    }

    /// Notes what a delta is about to change.
    pub fn touch(&mut self, delta: &Delta) {
        self.generations.touch(delta);
    }

    /// Row ids of a screen, in `sort` order, after `filter`. Sorted once
    /// after the rows, the filter or the order change and shared until the
    /// next change, so frames and key presses in between cost no sort and
    /// no copy.
    pub fn rows(&self, data: &FeedData, s: Screen, filter: &str, sort: Sort) -> Arc<Vec<String>> {
        let generation = self.generations.of(s);
        // Drawing only reads, and nothing here calls back into the cache,
        // so the borrow cannot be taken twice; if it ever were, sorting
        // without caching is still right.
        let Ok(mut cache) = self.cache.try_borrow_mut() else {
            return Arc::new(screen::row_ids(data, s, filter, sort));
        };
        let slot = &mut cache.lists[s.index()];
        if let Some(sorted) = slot
            && sorted.generation == generation
            && sorted.filter == filter
            && sorted.sort == sort
        {
            return sorted.ids.clone();
        }
        let ids = Arc::new(screen::row_ids(data, s, filter, sort));
        *slot = Some(Sorted {
            generation,
            filter: filter.to_string(),
            sort,
            ids: ids.clone(),
        });
        ids
    }

    /// Takes the row `id` out of the sorted lists of `screens` and out of
    /// the per-agent counts, where they are current; says which were.
    /// `view` gives each screen's filter and order.
    pub fn take_row<'f>(
        &mut self,
        data: &FeedData,
        screens: &[Screen],
        id: &str,
        view: impl Fn(Screen) -> (&'f str, Sort),
    ) -> Patched {
        let mut patched = Patched::default();
        // `&mut self`: no borrow of the cell can be live.
        let cache = self.cache.get_mut();
        for &s in screens {
            let (filter, sort) = view(s);
            if let Some(sorted) = &mut cache.lists[s.index()]
                && sorted.generation == self.generations.of(s)
                && sorted.filter == filter
                && sorted.sort == sort
            {
                // A row the filter hid is not in the list to look for.
                if screen::row_matches(data, s, id, filter)
                    && let Some(at) = screen::position(data, s, sort, &sorted.ids, id)
                {
                    Arc::make_mut(&mut sorted.ids).remove(at);
                }
                patched.lists.push(s);
            }
        }
        let kind = screens.first().copied();
        if let (Some(kind), Some((at, loads))) = (kind, &mut cache.loads)
            && *at == self.generations.loads()
            && matches!(
                kind,
                Screen::Incidents | Screen::Approvals | Screen::Controls
            )
        {
            Arc::make_mut(loads).count_row(data, kind, id, false);
            patched.loads = Some(kind);
        }
        patched
    }

    /// Puts the row `id` back, as now applied, into what `take_row` took
    /// it out of, and marks those current again.
    pub fn put_row(&mut self, data: &FeedData, patched: Patched, id: &str) {
        let cache = self.cache.get_mut();
        for s in patched.lists {
            if let Some(sorted) = &mut cache.lists[s.index()] {
                if screen::row_matches(data, s, id, &sorted.filter) {
                    let at = screen::insertion_point(data, s, sorted.sort, &sorted.ids, id);
                    Arc::make_mut(&mut sorted.ids).insert(at, id.to_string());
                }
                sorted.generation = self.generations.of(s);
            }
        }
        if let (Some(kind), Some((at, loads))) = (patched.loads, &mut cache.loads) {
            Arc::make_mut(loads).count_row(data, kind, id, true);
            *at = self.generations.loads();
        }
    }

    /// Incidents, approvals and controls per agent, counted once after any
    /// of them changes.
    pub fn agent_loads(&self, data: &FeedData) -> Arc<AgentLoads> {
        let generation = self.generations.loads();
        let Ok(mut cache) = self.cache.try_borrow_mut() else {
            return Arc::new(AgentLoads::count(data));
        };
        if let Some((at, loads)) = &cache.loads
            && *at == generation
        {
            return loads.clone();
        }
        let loads = Arc::new(AgentLoads::count(data));
        cache.loads = Some((generation, loads.clone()));
        loads
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;

    use super::super::action::Action;
    use super::super::app::{App, Effect};
    use super::super::data::FeedData;
    use super::super::keymap::Keymap;
    use super::super::screen::{self, AgentLoads, Screen, Sort};
    use crate::client::feed::FeedMsg;
    use crate::model::approval::Approval;
    use crate::model::control::Control;
    use crate::model::incident::Incident;
    use crate::model::incident::Severity;
    use crate::model::stream::Delta;
    use crate::model::stream::Snapshot;
    use chrono::TimeZone;

    /// The TUI tests' fixture, grown to `n` incidents, approvals and
    /// controls with many equal sort keys (severity and opening time,
    /// deadline, fleet-wide and set time), so the tie-breaks matter.
    fn big_snapshot(n: usize) -> Snapshot {
        let mut s: Snapshot =
            serde_json::from_str(include_str!("../../tests/fixtures/tui_state.json"))
                .expect("the TUI fixture decodes");
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 21, 3, 0, 0)
            .single()
            .expect("a time");
        let sevs = [
            Severity::Sev1,
            Severity::Sev2,
            Severity::Sev3,
            Severity::Sev4,
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let base_i: Incident = s.incidents[0].clone();
        let base_a: Approval = s.approvals[0].clone();
        let base_c: Control = s.controls[0].clone();
        for k in 0..n {
            let mut i = base_i.clone();
            i.id = format!("INC-{}", 1000 + next(100_000));
            i.severity = sevs[next(4) as usize];
            i.opened_at = t0 + chrono::Duration::seconds(next(20) as i64);
            i.agent = Some(format!("agent-{}", next(7)));
            s.incidents.push(i);
            let mut a = base_a.clone();
            a.id = format!("APR-{k}");
            a.deadline = t0 + chrono::Duration::seconds(next(30) as i64);
            a.agent = format!("agent-{}", next(7));
            s.approvals.push(a);
            let mut c = base_c.clone();
            c.id = format!("CTL-{}", 100 + k);
            c.agent = if next(5) == 0 {
                "*".into()
            } else {
                format!("agent-{}", next(7))
            };
            c.set_at = t0 + chrono::Duration::seconds(next(10) as i64);
            s.controls.push(c);
        }
        s
    }

    fn app_with(s: Snapshot) -> App {
        let mut app = App::new(Keymap::default_keymap(), None, false);
        app.apply_feed(FeedMsg::Snapshot(Box::new(s)));
        app
    }

    /// The ids as the lists were ordered before they were cached: a stable
    /// sort of the id-ordered maps on the screen's own keys.
    fn stable_ids(data: &FeedData, s: Screen, filter: &str) -> Vec<String> {
        let f = filter.to_lowercase();
        let hit =
            |fields: &[&str]| f.is_empty() || fields.iter().any(|x| x.to_lowercase().contains(&f));
        match s {
            Screen::Incidents | Screen::Runbook => {
                let mut rows: Vec<&Incident> = data
                    .incidents
                    .values()
                    .filter(|i| {
                        hit(&[
                            &i.id,
                            &i.title,
                            i.agent.as_deref().unwrap_or(""),
                            i.owner.as_deref().unwrap_or(""),
                            i.severity.as_str(),
                            i.state.as_str(),
                        ])
                    })
                    .collect();
                rows.sort_by(|a, b| {
                    a.severity
                        .cmp(&b.severity)
                        .then(a.opened_at.cmp(&b.opened_at))
                });
                rows.iter().map(|x| x.id.clone()).collect()
            }
            Screen::Approvals => {
                let mut rows: Vec<&Approval> = data
                    .approvals
                    .values()
                    .filter(|a| hit(&[&a.id, &a.agent, &a.action, a.tool.as_deref().unwrap_or("")]))
                    .collect();
                rows.sort_by(|a, b| a.deadline.cmp(&b.deadline).then(a.id.cmp(&b.id)));
                rows.iter().map(|x| x.id.clone()).collect()
            }
            Screen::Controls => {
                let mut rows: Vec<&Control> = data
                    .controls
                    .values()
                    .filter(|c| hit(&[&c.id, &c.agent, c.kind.as_str(), &c.set_by, &c.reason]))
                    .collect();
                rows.sort_by(|a, b| {
                    (b.agent == "*")
                        .cmp(&(a.agent == "*"))
                        .then(b.set_at.cmp(&a.set_at))
                });
                rows.iter().map(|x| x.id.clone()).collect()
            }
            _ => unreachable!("not compared here"),
        }
    }

    #[test]
    fn cached_rows_keep_the_order_and_filter_of_the_stable_sort() {
        let mut app = app_with(big_snapshot(600));
        for s in [Screen::Incidents, Screen::Approvals, Screen::Controls] {
            for filter in ["", "agent-3", "SEV1", "ReFuNd", "İ", "é", "zzz"] {
                app.list_mut(s).filter = filter.to_string();
                let want = stable_ids(&app.data, s, filter);
                assert_eq!(*app.rows(s), *want, "{s:?} filtered by {filter:?}");
                // Every listed row is found where it is, by binary search.
                for (at, id) in want.iter().enumerate() {
                    assert_eq!(
                        screen::position(&app.data, s, app.list(s).sort, &app.rows(s), id),
                        Some(at),
                        "{s:?} {id}"
                    );
                }
            }
            app.list_mut(s).filter.clear();
        }
    }

    #[test]
    fn rows_are_sorted_again_after_a_delta_and_the_selection_follows_its_id() {
        let mut app = app_with(big_snapshot(300));
        app.screen = Screen::Approvals;
        app.act(Action::PageDown);
        app.act(Action::PageDown);
        app.act(Action::Down);
        let (ids, at) = app.selection(Screen::Approvals);
        assert_eq!(at, Some(21));
        let chosen = ids[21].clone();
        // The chosen approval's deadline moves to the front: the list is
        // sorted again and the selection goes with it.
        let mut moved = app.data.approvals[&chosen].clone();
        moved.deadline = Utc
            .with_ymd_and_hms(2026, 11, 21, 2, 0, 0)
            .single()
            .expect("a time");
        app.apply_feed(FeedMsg::Delta(
            app.data.seq + 1,
            Delta::Approval(Box::new(moved)),
        ));
        assert_eq!(app.selection(Screen::Approvals).1, Some(0));
        assert_eq!(app.selected(Screen::Approvals), Some(chosen.clone()));
        assert_eq!(
            *app.rows(Screen::Approvals),
            *stable_ids(&app.data, Screen::Approvals, "")
        );
        // A filter that hides it: the first row is selected, the remembered
        // one comes back with the filter cleared.
        app.list_mut(Screen::Approvals).filter = "no such row".into();
        assert_eq!(app.selected(Screen::Approvals), None);
        app.list_mut(Screen::Approvals).filter.clear();
        assert_eq!(app.selected(Screen::Approvals), Some(chosen));
        // Bottom and top.
        app.act(Action::Bottom);
        assert_eq!(
            app.selection(Screen::Approvals).1,
            Some(app.data.approvals.len() - 1)
        );
        app.act(Action::PageUp);
        assert_eq!(
            app.selection(Screen::Approvals).1,
            Some(app.data.approvals.len() - 11)
        );
        app.act(Action::Top);
        assert_eq!(app.selection(Screen::Approvals).1, Some(0));
    }

    #[test]
    fn a_delta_of_another_kind_keeps_the_sorted_rows() {
        let mut app = app_with(big_snapshot(50));
        let before = app.rows(Screen::Incidents);
        let slo = app.data.slos.values().next().cloned().expect("an SLO");
        app.apply_feed(FeedMsg::Delta(app.data.seq + 1, Delta::Slo(Box::new(slo))));
        assert!(
            Arc::ptr_eq(&before, &app.rows(Screen::Incidents)),
            "not sorted again"
        );
    }

    /// Deltas patch the cached lists and counts in place; after each, they
    /// are what sorting and counting from scratch gives, filters and all.
    #[test]
    fn patched_rows_and_counts_equal_a_fresh_sort_and_count() {
        let mut app = app_with(big_snapshot(400));
        app.list_mut(Screen::Controls).filter = "agent-2".into();
        app.list_mut(Screen::Runbook).filter = "SEV2".into();
        apply_random_deltas(&mut app, 600, |app, s, step| {
            let filter = app.list(s).filter.clone();
            assert_eq!(
                *app.rows(s),
                stable_ids(&app.data, s, &filter),
                "{s:?} after step {step}"
            );
        });
    }

    /// In every other order too, patched lists are what a fresh sort
    /// gives (each order is total, so binary search finds each row).
    #[test]
    fn patched_rows_in_every_order_equal_a_fresh_sort() {
        for sort in [Sort::Severity, Sort::Age, Sort::Agent] {
            let mut app = app_with(big_snapshot(300));
            for s in LISTS {
                app.list_mut(s).sort = sort;
            }
            app.list_mut(Screen::Approvals).filter = "agent-1".into();
            apply_random_deltas(&mut app, 300, |app, s, step| {
                let list = app.list(s);
                let fresh = screen::row_ids(&app.data, s, &list.filter, list.sort);
                assert_eq!(*app.rows(s), fresh, "{s:?} by {sort:?} after step {step}");
                for (at, id) in fresh.iter().enumerate().step_by(17) {
                    assert_eq!(screen::position(&app.data, s, sort, &fresh, id), Some(at));
                }
            });
        }
    }

    /// The lists deltas patch.
    const LISTS: [Screen; 4] = [
        Screen::Incidents,
        Screen::Runbook,
        Screen::Approvals,
        Screen::Controls,
    ];

    /// Applies `steps` pseudo-random incident, approval and control deltas
    /// (new rows, closed rows, changed sort keys) with every cache current
    /// before each, and calls `check` for each list after each; the
    /// per-agent counts are checked against a fresh count.
    fn apply_random_deltas(app: &mut App, steps: u64, check: impl Fn(&App, Screen, u64)) {
        let lists = LISTS;
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 21, 3, 0, 0)
            .single()
            .expect("a time");
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for step in 0..steps {
            // Current caches, so the delta patches them.
            for s in lists {
                app.rows(s);
            }
            app.agent_loads();
            let delta = match step % 3 {
                0 => {
                    let ids: Vec<&String> = app.data.incidents.keys().collect();
                    let mut i = app.data.incidents[ids[next(ids.len() as u64) as usize]].clone();
                    match next(4) {
                        0 => i.id = format!("INC-N{step}"),
                        1 => i.state = crate::model::incident::IncidentState::Resolved,
                        _ => {}
                    }
                    i.severity = [Severity::Sev2, Severity::Sev3][next(2) as usize];
                    i.opened_at = t0 + chrono::Duration::seconds(next(20) as i64);
                    i.agent = Some(format!("agent-{}", next(7)));
                    Delta::Incident(Box::new(i))
                }
                1 => {
                    let ids: Vec<&String> = app.data.approvals.keys().collect();
                    let mut a = app.data.approvals[ids[next(ids.len() as u64) as usize]].clone();
                    match next(4) {
                        0 => a.id = format!("APR-N{step}"),
                        1 => a.state = crate::model::approval::ApprovalState::Approved,
                        _ => {}
                    }
                    a.deadline = t0 + chrono::Duration::seconds(next(30) as i64);
                    a.agent = format!("agent-{}", next(7));
                    Delta::Approval(Box::new(a))
                }
                _ => {
                    let ids: Vec<&String> = app.data.controls.keys().collect();
                    let mut c = app.data.controls[ids[next(ids.len() as u64) as usize]].clone();
                    match next(4) {
                        0 => c.id = format!("CTL-N{step}"),
                        1 => c.state = crate::model::control::ControlState::Lifted,
                        _ => {}
                    }
                    c.agent = if next(4) == 0 {
                        "*".into()
                    } else {
                        format!("agent-{}", next(7))
                    };
                    c.set_at = t0 + chrono::Duration::seconds(next(10) as i64);
                    Delta::Control(Box::new(c))
                }
            };
            app.apply_feed(FeedMsg::Delta(app.data.seq + 1, delta));
            for s in lists {
                check(app, s, step);
            }
            assert_eq!(
                *app.agent_loads(),
                AgentLoads::count(&app.data),
                "counts after step {step}"
            );
        }
    }

    #[test]
    fn agent_loads_count_what_a_scan_per_agent_counted() {
        let app = app_with(big_snapshot(200));
        let loads = app.agent_loads();
        for agent in (0..8)
            .map(|n| format!("agent-{n}"))
            .chain(["refund-bot".to_string()])
        {
            let d = &app.data;
            let load = loads.of(&agent);
            assert_eq!(
                load.incidents,
                d.incidents
                    .values()
                    .filter(|i| i.agent.as_deref() == Some(&agent))
                    .count()
            );
            assert_eq!(
                load.approvals,
                d.approvals.values().filter(|a| a.agent == agent).count()
            );
            assert_eq!(
                load.controls,
                d.controls
                    .values()
                    .filter(|c| c.agent == agent || c.agent == "*")
                    .count()
            );
        }
    }

    #[test]
    fn a_new_or_escalated_sev1_rings_once() {
        let mut app = app_with(big_snapshot(0));
        let mut i = app
            .data
            .incidents
            .values()
            .find(|i| i.severity != Severity::Sev1)
            .cloned()
            .expect("a non-SEV1 incident");
        // Updated but not SEV1: nothing.
        assert!(
            app.apply_feed(FeedMsg::Delta(1, Delta::Incident(Box::new(i.clone()))))
                .is_empty()
        );
        i.severity = Severity::Sev1;
        assert_eq!(
            app.apply_feed(FeedMsg::Delta(2, Delta::Incident(Box::new(i.clone())))),
            vec![Effect::Bell]
        );
        // Updated again as SEV1: rung already.
        assert!(
            app.apply_feed(FeedMsg::Delta(3, Delta::Incident(Box::new(i.clone()))))
                .is_empty()
        );
        // A new SEV1 that arrives resolved never rings.
        let mut gone = i.clone();
        gone.id = "INC-9999".into();
        gone.state = crate::model::incident::IncidentState::Resolved;
        assert!(
            app.apply_feed(FeedMsg::Delta(4, Delta::Incident(Box::new(gone))))
                .is_empty()
        );
    }
}
