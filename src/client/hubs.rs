//! Several addresses of one hub (replicas on one PostgreSQL database, or
//! the same hub behind several addresses): `--hub URL1,URL2`. Everything a
//! process sends goes to the current one; whoever finds it unreachable
//! moves everyone on to the next, and the feed resumes there from the last
//! id it saw.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The hub's addresses and which one is in use.
#[derive(Debug)]
pub struct HubList {
    urls: Vec<String>,
    current: AtomicUsize,
}

impl HubList {
    /// Parses `--hub`: one URL or several separated by commas (spaces
    /// around them ignored, trailing slashes dropped).
    pub fn parse(value: &str) -> Result<Self, String> {
        let urls: Vec<String> = value
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .collect();
        if urls.iter().any(String::is_empty) {
            return Err(format!(
                "--hub {value:?}: an empty address; give URLs separated by commas"
            ));
        }
        Ok(Self::from_urls(urls))
    }

    /// One address.
    pub fn one(url: &str) -> Self {
        Self::from_urls(vec![url.trim_end_matches('/').to_string()])
    }

    fn from_urls(urls: Vec<String>) -> Self {
        Self {
            urls,
            current: AtomicUsize::new(0),
        }
    }

    /// Every address, in the order given.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// How many addresses there are.
    pub fn len(&self) -> usize {
        self.urls.len()
    }

    /// Always false: there is at least one address.
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// The address in use and its position, to hand back to
    /// [`HubList::failed`].
    pub fn current(&self) -> (usize, &str) {
        let at = self.current.load(Ordering::Acquire) % self.urls.len();
        (at, &self.urls[at])
    }

    /// `path` at the address in use, with that address's position for
    /// [`HubList::failed`].
    pub fn at(&self, path: &str) -> (usize, String) {
        let (at, base) = self.current();
        (at, format!("{base}{path}"))
    }

    /// The address at `at` did not answer: moves to the next, unless
    /// someone already has (several requests failing on the same dead hub
    /// move on once). Returns the address now in use.
    pub fn failed(&self, at: usize) -> &str {
        let next = (at + 1) % self.urls.len();
        let _ = self
            .current
            .compare_exchange(at, next, Ordering::AcqRel, Ordering::Acquire);
        self.current().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_moves_everyone_on_once_and_wraps_around() {
        let hubs = HubList::parse("http://a:7400/, http://b:7400,http://c:7400").unwrap();
        assert_eq!(
            hubs.urls(),
            ["http://a:7400", "http://b:7400", "http://c:7400"]
        );
        let (at, url) = hubs.current();
        assert_eq!((at, url), (0, "http://a:7400"));
        assert_eq!(hubs.failed(at), "http://b:7400");
        // A second request that saw a fail too moves nobody further.
        assert_eq!(hubs.failed(at), "http://b:7400");
        assert_eq!(hubs.failed(1), "http://c:7400");
        assert_eq!(hubs.failed(2), "http://a:7400");
        assert!(HubList::parse("http://a,,http://b").is_err());
        assert_eq!(HubList::one("http://a/").current().1, "http://a");
    }
}
