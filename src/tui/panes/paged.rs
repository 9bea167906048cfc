//! A list read from the hub a page at a time (the History and Audit
//! screens): what is loaded, the cursor of the next page, and which fetch
//! the rows belong to. Pages come newest first; scrolling near the end asks
//! for the next one. At most [`MAX_ROWS`] rows are kept: the hub holds the
//! rest, and a filter (sent to the hub) narrows what is loaded.

use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// Most rows kept loaded.
pub const MAX_ROWS: usize = 2_000;
/// How long a filter must stay unchanged before the hub is asked with it.
const TYPING_PAUSE: Duration = Duration::milliseconds(400);
/// Rows asked for per page.
pub const PAGE_ROWS: usize = 200;
/// How close to the last loaded row the selection comes before the next
/// page is asked for.
const AHEAD: usize = 20;

/// A row with an id unique in its list.
pub trait Keyed {
    /// Its id.
    fn key(&self) -> String;
}

/// The loaded rows of a paged list and where it stands.
#[derive(Debug)]
pub struct Paged<T> {
    items: Vec<T>,
    /// Row ids in order, shared with the selection.
    ids: Arc<Vec<String>>,
    index: HashMap<String, usize>,
    /// The cursor of the next (older) page; none at the end.
    next: Option<String>,
    /// Which fetch the rows are from: an answer to an older one is
    /// dropped.
    generation: u64,
    /// A fetch is out.
    pub loading: bool,
    /// Why the last fetch failed.
    pub error: Option<String>,
    /// The filter the rows were asked with; none before the first fetch.
    pub asked_with: Option<String>,
    /// A filter not yet asked with and when it was first seen as it is,
    /// to ask once typing pauses.
    typed: Option<(String, DateTime<Utc>)>,
}

impl<T> Default for Paged<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            ids: Arc::default(),
            index: HashMap::new(),
            next: None,
            generation: 0,
            loading: false,
            error: None,
            asked_with: None,
            typed: None,
        }
    }
}

impl<T: Keyed> Paged<T> {
    /// Forgets the rows for a fresh first page asked with `filter`; the
    /// generation its answer must carry.
    pub fn restart(&mut self, filter: &str) -> u64 {
        self.items.clear();
        self.index.clear();
        self.ids = Arc::default();
        self.next = None;
        self.error = None;
        self.loading = true;
        self.asked_with = Some(filter.to_string());
        self.generation += 1;
        self.generation
    }

    /// The cursor to ask the next page with, when the row at `at` is near
    /// the end of what is loaded, more is there, nothing is being fetched
    /// and the bound leaves room; its generation.
    pub fn more(&mut self, at: usize) -> Option<(u64, String)> {
        if self.loading || at + AHEAD < self.items.len() || self.items.len() >= MAX_ROWS {
            return None;
        }
        let cursor = self.next.clone()?;
        self.loading = true;
        Some((self.generation, cursor))
    }

    /// Takes the answer of fetch `generation`: a page and the next cursor,
    /// or why not. An answer to an earlier fetch is dropped.
    pub fn answer(&mut self, generation: u64, got: Result<(Vec<T>, Option<String>), String>) {
        if generation != self.generation {
            return;
        }
        self.loading = false;
        match got {
            Ok((page, next)) => {
                self.error = None;
                self.next = next;
                let ids = Arc::make_mut(&mut self.ids);
                for item in page {
                    let key = item.key();
                    // A row already loaded (it closed again meanwhile)
                    // is not listed twice.
                    if self.index.contains_key(&key) || self.items.len() >= MAX_ROWS {
                        continue;
                    }
                    self.index.insert(key.clone(), self.items.len());
                    ids.push(key);
                    self.items.push(item);
                }
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Whether to ask for the first page again, on a tick at `now` while
    /// the screen is `shown`: `filter` is not what the rows were asked with
    /// and has not changed for a moment (typing has paused).
    pub fn filter_settled(&mut self, filter: &str, shown: bool, now: DateTime<Utc>) -> bool {
        if !shown || self.asked_with.as_deref() == Some(filter) {
            self.typed = None;
            return false;
        }
        match &self.typed {
            Some((seen, since)) if seen == filter => {
                if now - *since < TYPING_PAUSE {
                    return false;
                }
                self.typed = None;
                true
            }
            // New, or changed since the last tick: typing goes on.
            _ => {
                self.typed = Some((filter.to_string(), now));
                false
            }
        }
    }

    /// Where the row `selected` is, else the first row.
    pub fn at(&self, selected: Option<&str>) -> Option<usize> {
        let first = (!self.items.is_empty()).then_some(0);
        selected.and_then(|id| self.position(id)).or(first)
    }

    /// The row `delta` rows from `selected` (kept within the list), and
    /// the generation and cursor of the next page when that row is near
    /// the end of what is loaded.
    pub fn step(
        &mut self,
        selected: Option<&str>,
        delta: isize,
    ) -> Option<(String, Option<(u64, String)>)> {
        let last = self.items.len().checked_sub(1)?;
        let at = self.at(selected).unwrap_or(0);
        let next = (at as isize).saturating_add(delta).clamp(0, last as isize) as usize;
        let id = self.ids.get(next)?.clone();
        Some((id, self.more(next)))
    }

    /// The row ids, in order.
    pub fn ids(&self) -> Arc<Vec<String>> {
        self.ids.clone()
    }

    /// The row `id`.
    pub fn get(&self, id: &str) -> Option<&T> {
        self.index.get(id).and_then(|&i| self.items.get(i))
    }

    /// Where the row `id` is.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Rows loaded.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Nothing loaded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether older rows are there to fetch.
    pub fn has_more(&self) -> bool {
        self.next.is_some()
    }

    /// What the list's title says of what is loaded: `50 of more`,
    /// `loading…`, `2000 (the newest; filter to narrow)`.
    pub fn extent(&self) -> String {
        let n = self.items.len();
        match (self.loading, self.has_more()) {
            (true, _) if n == 0 => "loading…".into(),
            (true, _) => format!("{n}, loading more…"),
            (false, true) if n >= MAX_ROWS => format!("the newest {n}; filter to narrow"),
            (false, true) => format!("{n} loaded, more below"),
            (false, false) => format!("{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Row(u32);

    impl Keyed for Row {
        fn key(&self) -> String {
            format!("R-{}", self.0)
        }
    }

    fn page(from: u32, n: u32) -> Vec<Row> {
        (from..from + n).map(Row).collect()
    }

    #[test]
    fn pages_append_until_the_end_and_stale_answers_are_dropped() {
        let mut p: Paged<Row> = Paged::default();
        let first = p.restart("");
        assert_eq!(p.extent(), "loading…");
        p.answer(first, Ok((page(0, 50), Some("c1".into()))));
        assert_eq!(p.len(), 50);
        assert!(p.more(10).is_none(), "far from the end");
        let (g, cursor) = p.more(35).expect("near the end");
        assert_eq!((g, cursor.as_str()), (first, "c1"));
        assert!(p.more(49).is_none(), "one fetch at a time");
        // The filter changed meanwhile: the older answer is dropped.
        let second = p.restart("refund");
        p.answer(first, Ok((page(50, 50), None)));
        assert!(p.is_empty() && p.loading);
        p.answer(second, Ok((page(7, 3), None)));
        assert_eq!(*p.ids(), ["R-7", "R-8", "R-9"]);
        assert_eq!(p.get("R-8"), Some(&Row(8)));
        assert_eq!(p.position("R-9"), Some(2));
        assert!(!p.has_more() && p.more(2).is_none());
        assert_eq!(p.extent(), "3");
    }

    #[test]
    fn loaded_rows_stay_bounded_and_unique() {
        let mut p: Paged<Row> = Paged::default();
        let g = p.restart("");
        let mut next = 0;
        while p.len() < MAX_ROWS {
            p.answer(g, Ok((page(next, 300), Some("more".into()))));
            next += 300;
            if p.more(p.len()).is_none() {
                break;
            }
        }
        assert_eq!(p.len(), MAX_ROWS);
        assert!(p.more(MAX_ROWS - 1).is_none(), "no more past the bound");
        assert!(p.extent().contains("filter to narrow"));
        let g = p.restart("x");
        p.answer(g, Ok((vec![Row(1), Row(1), Row(2)], None)));
        assert_eq!(p.len(), 2, "a row twice is listed once");
    }

    #[test]
    fn a_failed_fetch_says_why_and_can_be_asked_again() {
        let mut p: Paged<Row> = Paged::default();
        let g = p.restart("");
        p.answer(g, Err("the hub answered 403".into()));
        assert_eq!(p.error.as_deref(), Some("the hub answered 403"));
        assert!(!p.loading);
        let again = p.restart("");
        assert!(again > g && p.error.is_none());
    }

    #[test]
    fn a_changed_filter_is_asked_once_typing_pauses() {
        let mut p: Paged<Row> = Paged::default();
        p.restart("");
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let later = |ms: i64| t0 + Duration::milliseconds(ms);
        assert!(!p.filter_settled("", true, t0), "the rows are for it");
        assert!(!p.filter_settled("ref", true, t0), "just typed");
        assert!(!p.filter_settled("ref", false, later(500)), "not shown");
        assert!(!p.filter_settled("refu", true, later(600)), "typing again");
        assert!(!p.filter_settled("refund", true, later(900)), "and again");
        assert!(
            !p.filter_settled("refund", true, later(1_200)),
            "a short pause"
        );
        assert!(
            p.filter_settled("refund", true, later(1_300)),
            "paused: ask"
        );
        p.restart("refund");
        assert!(!p.filter_settled("refund", true, later(5_000)));
    }

    #[test]
    fn a_step_stays_in_the_list_and_asks_for_more_near_its_end() {
        let mut p: Paged<Row> = Paged::default();
        assert!(p.step(None, 1).is_none(), "nothing to select");
        let g = p.restart("");
        p.answer(g, Ok((page(0, 30), Some("c".into()))));
        let (id, more) = p.step(None, 1).expect("a row");
        assert_eq!((id.as_str(), more), ("R-1", None));
        let (id, more) = p.step(Some("R-1"), 100).expect("a row");
        assert_eq!(id, "R-29", "kept within the list");
        assert_eq!(more, Some((g, "c".to_string())));
        assert_eq!(
            p.step(Some("R-3"), -10).map(|(id, _)| id).as_deref(),
            Some("R-0")
        );
    }
}
