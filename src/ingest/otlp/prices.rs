//! Model prices: what one model call costs in USD, from the model id and
//! token counts a GenAI span carries.
//!
//! Spans report tokens, not money, so the hub prices them itself from a
//! table: the one built in (`prices.toml`, embedded at compile time), or an
//! operator's file in the same format (`serve --prices PATH`), because
//! providers change prices more often than the hub is released. Prices are
//! USD per million tokens.
//!
//! A model id finds its entry, trimmed and ASCII case-insensitively, by:
//! 1. the exact name;
//! 2. a glob in an entry's `patterns` (`*` is any run of characters); when
//!    several match, the one with the most literal characters wins, then the
//!    first in the file;
//! 3. the longest entry name the id starts with, followed by `-`, `@`, `:`
//!    or `.`, so dated snapshots (`gpt-4.1-mini-2025-04-14`, Vertex's
//!    `claude-sonnet-4@20250514`) find their model;
//! 4. steps 1–3 again on the id after its last `/` (`openai/gpt-4o`,
//!    `models/gemini-2.5-pro`, a Vertex resource path), then on the id after
//!    a Bedrock `[region.]vendor.` prefix
//!    (`us.anthropic.claude-sonnet-4-20250514-v1:0`): the text after the
//!    last known vendor name (`anthropic.`, `openai.`, `meta.`, ...) that
//!    starts the id or follows a `.`.
//!
//! An id that matches nothing has no price (`None`): an unknown cost is
//! better than a guessed one. Step 3 does guess a little: a newer model whose
//! id merely starts with a listed name (`o3-mini` after `o3`) would get that
//! name's price, so the built-in table lists the known siblings itself.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

/// The built-in table; `builtin()` parses it, and a test guards that it does.
const BUILTIN: &str = include_str!("prices.toml");

/// Longest model id looked up, and longest name or pattern a table may hold.
/// Ids come from span attributes, so this bounds the work one span can cause
/// (the glob and prefix steps are linear-ish in the id's length).
const MAX_MODEL_BYTES: usize = 256;

/// Bytes that may end a model name inside a longer id: snapshot dates and
/// suffixes (`-`), Vertex versions (`@`), Bedrock revisions (`:`), dotted
/// versions (`.`). All ASCII, so every split at one is a char boundary.
const NAME_ENDS: &[u8] = b"-@:.";

/// Vendor prefixes of Bedrock model ids (`[region.]vendor.model[-vN:M]`).
const BEDROCK_VENDORS: &[&str] = &[
    "anthropic.",
    "openai.",
    "google.",
    "meta.",
    "amazon.",
    "cohere.",
    "mistral.",
    "ai21.",
    "deepseek.",
];

/// One model's prices, USD per million tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cached_input: f64,
}

impl Price {
    /// Cost in USD of one call. `cached` tokens are part of `input` (the
    /// GenAI conventions count cache reads inside input_tokens); cached
    /// beyond input is clamped to input.
    pub fn cost(&self, input: u64, output: u64, cached: u64) -> f64 {
        let cached = cached.min(input);
        let fresh = input - cached;
        // Token counts far below 2^53 convert exactly; beyond that a cost is
        // an estimate anyway.
        (fresh as f64 * self.input
            + cached as f64 * self.cached_input
            + output as f64 * self.output)
            / 1_000_000.0
    }
}

/// Model prices by model id; see the module doc for how an id is matched.
#[derive(Debug, Clone)]
pub struct PriceTable {
    /// In file order; the indexes below point here.
    prices: Vec<Price>,
    /// Lowercased, trimmed name -> index into `prices`.
    by_name: HashMap<String, usize>,
    /// Lowercased patterns, most literal characters first, then file order,
    /// so the first match is the most specific.
    globs: Vec<Glob>,
    as_of: Option<String>,
    source: Option<String>,
}

#[derive(Debug, Clone)]
struct Glob {
    pattern: String,
    /// Non-`*` bytes: how specific the pattern is.
    literal: usize,
    entry: usize,
}

/// The file as written. Field spans let validation errors name a line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    as_of: Option<String>,
    source: Option<String>,
    #[serde(default)]
    model: Vec<RawModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: Spanned<String>,
    input: Spanned<f64>,
    output: Spanned<f64>,
    cached_input: Option<Spanned<f64>>,
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
}

impl PriceTable {
    /// The table embedded from prices.toml. Parses it on every call: call
    /// once at startup.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN).expect("the built-in prices.toml parses (a unit test guards it)")
    }

    /// Parses a table; the error names the line and column and what was
    /// wrong: TOML syntax, an unknown or missing key, a negative or
    /// non-finite price, an empty or duplicate name, an empty or duplicate
    /// pattern.
    pub fn parse(text: &str) -> Result<Self, String> {
        // toml's message already carries the line, column and a snippet.
        let raw: RawTable = toml::from_str(text)
            .map_err(|e: toml::de::Error| e.to_string().trim_end().to_owned())?;
        let mut builder = Builder {
            text,
            table: PriceTable {
                prices: Vec::with_capacity(raw.model.len()),
                by_name: HashMap::with_capacity(raw.model.len()),
                globs: Vec::new(),
                as_of: raw.as_of,
                source: raw.source,
            },
            name_offsets: Vec::with_capacity(raw.model.len()),
            pattern_owner: HashMap::new(),
        };
        for model in &raw.model {
            builder.add(model)?;
        }
        let mut table = builder.table;
        // Stable: equally specific patterns keep file order.
        table.globs.sort_by_key(|g| Reverse(g.literal));
        Ok(table)
    }

    /// Reads and parses a file; the error starts with the path.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The price of `model` (see the module doc for the matching rules);
    /// `None` when nothing matches or the id is longer than 256 bytes.
    pub fn lookup(&self, model: &str) -> Option<&Price> {
        if model.len() > MAX_MODEL_BYTES {
            return None;
        }
        let id = ascii_lowercase(model.trim());
        if id.is_empty() {
            return None;
        }
        // The whole id first, so the common case scans for no prefixes.
        if let Some(entry) = self.find(&id) {
            return Some(&self.prices[entry]);
        }
        let after_slash = id.rsplit_once('/').map(|(_, rest)| rest);
        let after_vendor = after_bedrock_vendor(after_slash.unwrap_or(&id));
        [after_slash, after_vendor]
            .into_iter()
            .flatten()
            .filter(|candidate| !candidate.is_empty())
            .find_map(|candidate| self.find(candidate))
            .map(|entry| &self.prices[entry])
    }

    /// How many models the table names (for a startup log line).
    pub fn len(&self) -> usize {
        self.prices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    /// The table's `as_of` date, if given.
    pub fn as_of(&self) -> Option<&str> {
        self.as_of.as_deref()
    }

    /// The table's `source` (where its prices come from), if given.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// Steps 1–3 of the matching rules on one lowercased candidate id.
    fn find(&self, id: &str) -> Option<usize> {
        if let Some(&entry) = self.by_name.get(id) {
            return Some(entry);
        }
        if let Some(glob) = self
            .globs
            .iter()
            .find(|g| glob_match(g.pattern.as_bytes(), id.as_bytes()))
        {
            return Some(glob.entry);
        }
        // From the last separator back, so the longest name wins whatever
        // the file order; each probe is one hash lookup, no allocation.
        id.bytes()
            .enumerate()
            .rev()
            .filter(|&(_, b)| NAME_ENDS.contains(&b))
            .find_map(|(end, _)| self.by_name.get(&id[..end]).copied())
    }
}

/// Validation state while a table is built, kept apart from `PriceTable` so
/// lookups carry none of it.
struct Builder<'t> {
    text: &'t str,
    table: PriceTable,
    /// Where each entry's name is written, for "listed twice" errors.
    name_offsets: Vec<usize>,
    /// Lowercased pattern -> entry that has it.
    pattern_owner: HashMap<String, usize>,
}

impl Builder<'_> {
    fn add(&mut self, model: &RawModel) -> Result<(), String> {
        let name = self.name(&model.name)?;
        let input = self.price(&name, "input", &model.input)?;
        let output = self.price(&name, "output", &model.output)?;
        let cached_input = match &model.cached_input {
            Some(cached) => self.price(&name, "cached_input", cached)?,
            // No cache discount known: cache hits cost what input costs.
            None => input,
        };
        let entry = self.table.prices.len();
        for pattern in &model.patterns {
            self.pattern(&name, entry, pattern)?;
        }
        self.table.prices.push(Price {
            input,
            output,
            cached_input,
        });
        self.name_offsets.push(model.name.span().start);
        self.table.by_name.insert(name, entry);
        Ok(())
    }

    /// The entry's lookup key: trimmed, lowercased, unique, and a name
    /// rather than a pattern.
    fn name(&self, name: &Spanned<String>) -> Result<String, String> {
        let at = self.at(name.span().start);
        let key = name.get_ref().trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(format!("{at}: model name is empty"));
        }
        if key.len() > MAX_MODEL_BYTES {
            return Err(format!(
                "{at}: model name is longer than {MAX_MODEL_BYTES} bytes"
            ));
        }
        if key.contains('*') {
            return Err(format!(
                "{at}: model name {key:?} contains `*`; put globs in `patterns`"
            ));
        }
        if let Some(&first) = self.table.by_name.get(&key) {
            let first_at = self.at(self.name_offsets[first]);
            return Err(format!(
                "{at}: model {key:?} is listed twice (first at {first_at}; names are case-insensitive)"
            ));
        }
        Ok(key)
    }

    fn price(&self, model: &str, key: &str, value: &Spanned<f64>) -> Result<f64, String> {
        let price = *value.get_ref();
        if price.is_finite() && price >= 0.0 {
            Ok(price)
        } else {
            let at = self.at(value.span().start);
            Err(format!(
                "{at}: model {model:?}: `{key}` must be a finite number >= 0, not {price}"
            ))
        }
    }

    fn pattern(
        &mut self,
        model: &str,
        entry: usize,
        pattern: &Spanned<String>,
    ) -> Result<(), String> {
        let at = self.at(pattern.span().start);
        let glob = pattern.get_ref().trim().to_ascii_lowercase();
        let literal = glob.bytes().filter(|&b| b != b'*').count();
        if glob.is_empty() {
            return Err(format!("{at}: model {model:?}: empty pattern"));
        }
        // A bare `*` would match every id before the prefix step could find
        // the right entry: almost surely a mistake, and never needed.
        if literal == 0 {
            return Err(format!(
                "{at}: model {model:?}: pattern {glob:?} matches every model"
            ));
        }
        if glob.len() > MAX_MODEL_BYTES {
            return Err(format!(
                "{at}: model {model:?}: pattern is longer than {MAX_MODEL_BYTES} bytes"
            ));
        }
        if let Some(&owner) = self.pattern_owner.get(&glob) {
            // `owner` may be this entry, which is not in by_name yet.
            let owner_name = self
                .table
                .by_name
                .iter()
                .find(|&(_, &e)| e == owner)
                .map_or(model, |(n, _)| n.as_str());
            return Err(format!(
                "{at}: model {model:?}: pattern {glob:?} is already a pattern of {owner_name:?}"
            ));
        }
        self.pattern_owner.insert(glob.clone(), entry);
        self.table.globs.push(Glob {
            pattern: glob,
            literal,
            entry,
        });
        Ok(())
    }

    /// "line L, column C" of a byte offset into the text (toml's convention:
    /// both 1-based, columns in characters).
    fn at(&self, offset: usize) -> String {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}")
    }
}

/// `s` with ASCII letters lowercased, borrowed when it already is (the
/// common case: ids in spans are usually lowercase).
fn ascii_lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// The model part of a Bedrock id: what follows the last vendor prefix that
/// starts `id` or follows a `.` (`us.anthropic.claude-…` -> `claude-…`).
fn after_bedrock_vendor(id: &str) -> Option<&str> {
    BEDROCK_VENDORS
        .iter()
        .filter_map(|vendor| {
            id.match_indices(vendor)
                .filter(|&(at, _)| at == 0 || id.as_bytes()[at - 1] == b'.')
                .last()
                .map(|(at, _)| at + vendor.len())
        })
        .max()
        .map(|start| &id[start..])
}

/// Whether `text` matches `pattern`, where `*` matches any run of bytes
/// (possibly empty) and every other byte itself. Greedy with one backtrack
/// point, so O(pattern × text) at worst, and both are bounded.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // After the last `*` seen: where the pattern resumes, and the text
    // position that `*` has swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, t));
                p += 1;
            }
            Some(&b) if b == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((resume, swallowed)) => {
                    star = Some((resume, swallowed + 1));
                    p = resume;
                    t = swallowed + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The models the built-in table promises, with (input, output, cached).
    const LISTED: &[(&str, f64, f64, f64)] = &[
        ("gpt-4o", 2.50, 10.00, 1.25),
        ("gpt-4o-mini", 0.15, 0.60, 0.075),
        ("gpt-4.1", 2.00, 8.00, 0.50),
        ("gpt-4.1-mini", 0.40, 1.60, 0.10),
        ("gpt-4.1-nano", 0.10, 0.40, 0.025),
        ("o3", 2.00, 8.00, 0.50),
        ("o4-mini", 1.10, 4.40, 0.275),
        ("gpt-5", 1.25, 10.00, 0.125),
        ("gpt-5-mini", 0.25, 2.00, 0.025),
        ("gpt-5-nano", 0.05, 0.40, 0.005),
        ("claude-opus-4-1", 15.00, 75.00, 1.50),
        ("claude-opus-4", 15.00, 75.00, 1.50),
        ("claude-sonnet-4-5", 3.00, 15.00, 0.30),
        ("claude-sonnet-4", 3.00, 15.00, 0.30),
        ("claude-3-7-sonnet", 3.00, 15.00, 0.30),
        ("claude-haiku-4-5", 1.00, 5.00, 0.10),
        ("claude-3-5-haiku", 0.80, 4.00, 0.08),
        ("gemini-2.5-pro", 1.25, 10.00, 0.125),
        ("gemini-2.5-flash", 0.30, 2.50, 0.03),
        ("gemini-2.5-flash-lite", 0.10, 0.40, 0.01),
        ("gemini-2.0-flash", 0.10, 0.40, 0.025),
    ];

    fn builtin() -> PriceTable {
        PriceTable::builtin()
    }

    /// The built-in entry `name` itself, for comparing what a lookup found.
    fn entry(table: &PriceTable, name: &str) -> Price {
        table.prices[table.by_name[name]].clone()
    }

    fn assert_finds(table: &PriceTable, id: &str, name: &str) {
        assert_eq!(
            table.lookup(id),
            Some(&entry(table, name)),
            "{id} -> {name}"
        );
    }

    fn parse_err(text: &str) -> String {
        PriceTable::parse(text).expect_err("should not parse")
    }

    #[test]
    fn builtin_parses_and_has_every_listed_model() {
        let table = builtin();
        for &(name, input, output, cached_input) in LISTED {
            let want = Price {
                input,
                output,
                cached_input,
            };
            assert_eq!(table.lookup(name), Some(&want), "{name}");
        }
        assert!(table.len() >= LISTED.len());
        assert!(!table.is_empty());
        let as_of = table.as_of().expect("as_of");
        assert_eq!(as_of.len(), 10, "{as_of} is YYYY-MM-DD");
        let source = table.source().expect("source");
        for site in ["openai.com", "anthropic.com", "ai.google.dev"] {
            assert!(source.contains(site), "{source} names {site}");
        }
    }

    #[test]
    fn builtin_siblings_are_not_priced_as_their_prefix() {
        let table = builtin();
        assert_finds(&table, "o3-mini-2025-01-31", "o3-mini");
        assert_finds(&table, "o3-2025-04-16", "o3");
        assert_finds(&table, "claude-opus-4-5-20251101", "claude-opus-4-5");
        assert_finds(&table, "claude-opus-4-20250514", "claude-opus-4");
        assert_finds(&table, "gpt-4o-2024-05-13", "gpt-4o-2024-05-13");
        assert_finds(&table, "gpt-4o-2024-08-06", "gpt-4o");
        assert_finds(&table, "gemini-2.0-flash-lite-001", "gemini-2.0-flash-lite");
    }

    #[test]
    fn exact_lookup_is_trimmed_and_case_insensitive() {
        let table = builtin();
        assert_finds(&table, "gpt-4o", "gpt-4o");
        assert_finds(&table, "  GPT-4o\t", "gpt-4o");
        assert_finds(&table, "Claude-Sonnet-4-5", "claude-sonnet-4-5");
    }

    #[test]
    fn dated_snapshots_find_their_model() {
        let table = builtin();
        assert_finds(&table, "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini");
        assert_finds(&table, "gpt-4.1-2025-04-14", "gpt-4.1");
        assert_finds(&table, "gpt-5-nano-2025-08-07", "gpt-5-nano");
        assert_finds(&table, "claude-sonnet-4-5-20250929", "claude-sonnet-4-5");
        assert_finds(&table, "claude-3-5-haiku-latest", "claude-3-5-haiku");
        assert_finds(&table, "claude-sonnet-4@20250514", "claude-sonnet-4");
        assert_finds(
            &table,
            "gemini-2.5-flash-preview-09-2025",
            "gemini-2.5-flash",
        );
        assert_finds(
            &table,
            "gemini-2.5-flash-lite-preview-06-17",
            "gemini-2.5-flash-lite",
        );
    }

    #[test]
    fn longest_prefix_wins_whatever_the_file_order() {
        for text in [
            "[[model]]\nname = \"a\"\ninput = 1\noutput = 1\n\
             [[model]]\nname = \"a-b\"\ninput = 2\noutput = 2\n",
            "[[model]]\nname = \"a-b\"\ninput = 2\noutput = 2\n\
             [[model]]\nname = \"a\"\ninput = 1\noutput = 1\n",
        ] {
            let table = PriceTable::parse(text).expect("parses");
            assert_eq!(table.lookup("a-b-2025").map(|p| p.input), Some(2.0));
            assert_eq!(table.lookup("a-c").map(|p| p.input), Some(1.0));
            assert_eq!(table.lookup("a.b").map(|p| p.input), Some(1.0));
        }
    }

    #[test]
    fn globs_match_and_the_most_specific_wins() {
        let table = builtin();
        assert_finds(&table, "claude-sonnet-4.5", "claude-sonnet-4-5");
        assert_finds(&table, "claude-3.7-sonnet:thinking", "claude-3-7-sonnet");
        assert_finds(&table, "anthropic/claude-haiku-4.5", "claude-haiku-4-5");

        let text = "[[model]]\nname = \"wide\"\ninput = 1\noutput = 1\npatterns = [\"acme-*\"]\n\
                    [[model]]\nname = \"narrow\"\ninput = 2\noutput = 2\npatterns = [\"ACME-*-pro\"]\n";
        let table = PriceTable::parse(text).expect("parses");
        assert_eq!(table.lookup("acme-x-pro").map(|p| p.input), Some(2.0));
        assert_eq!(table.lookup("ACME-x").map(|p| p.input), Some(1.0));
        assert_eq!(table.lookup("acme").map(|p| p.input), None);
    }

    #[test]
    fn provider_prefixes_are_dropped() {
        let table = builtin();
        assert_finds(&table, "openai/gpt-4o", "gpt-4o");
        assert_finds(&table, "models/gemini-2.5-pro", "gemini-2.5-pro");
        assert_finds(
            &table,
            "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash-001",
            "gemini-2.5-flash",
        );
        assert_finds(&table, "azure/gpt-4.1-mini-2025-04-14", "gpt-4.1-mini");
    }

    #[test]
    fn bedrock_ids_find_their_model() {
        let table = builtin();
        assert_finds(
            &table,
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "claude-3-5-haiku",
        );
        assert_finds(
            &table,
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "claude-sonnet-4",
        );
        assert_finds(
            &table,
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-sonnet-4-5",
        );
        assert_finds(
            &table,
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0",
            "claude-opus-4-1",
        );
        // A vendor name inside a word is not a Bedrock prefix.
        assert_eq!(after_bedrock_vendor("xanthropic.claude-opus-4"), None);
    }

    #[test]
    fn unknown_models_have_no_price() {
        let table = builtin();
        for id in [
            "llama-3-70b",
            "gpt-4",
            "gpt-4omni",
            "claude",
            "",
            "   ",
            "/",
            "anthropic.",
        ] {
            assert_eq!(table.lookup(id), None, "{id:?}");
        }
        // Non-ASCII neither panics nor blocks a match.
        assert_eq!(table.lookup("ünknown-モデル"), None);
        assert_finds(&table, "gpt-4o-ü", "gpt-4o");
    }

    #[test]
    fn overlong_ids_have_no_price() {
        let table = builtin();
        let id = format!("gpt-4o-{}", "x".repeat(MAX_MODEL_BYTES));
        assert_eq!(table.lookup(&id), None);
        let id = format!("gpt-4o-{}", "x".repeat(MAX_MODEL_BYTES - 7));
        assert_finds(&table, &id, "gpt-4o");
    }

    #[test]
    fn cost_counts_cached_tokens_inside_input() {
        let price = entry(&builtin(), "gpt-4.1-mini");
        let cost = price.cost(1_000_000, 100_000, 400_000);
        let want = 0.6 * 0.40 + 0.4 * 0.10 + 0.1 * 1.60;
        assert!((cost - want).abs() < 1e-12, "{cost} != {want}");
        assert_eq!(price.cost(0, 0, 0), 0.0);
    }

    #[test]
    fn cached_beyond_input_is_clamped() {
        let price = Price {
            input: 3.0,
            output: 15.0,
            cached_input: 0.3,
        };
        assert_eq!(price.cost(100, 0, 500), price.cost(100, 0, 100));
        assert!((price.cost(1_000_000, 0, 5_000_000) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn cached_input_defaults_to_input_and_integers_are_prices() {
        let table = PriceTable::parse("[[model]]\nname = \"m\"\ninput = 15\noutput = 75\n")
            .expect("parses");
        let want = Price {
            input: 15.0,
            output: 75.0,
            cached_input: 15.0,
        };
        assert_eq!(table.lookup("m"), Some(&want));
        assert_eq!(table.as_of(), None);
        assert_eq!(table.source(), None);
        assert!(PriceTable::parse("").expect("empty parses").is_empty());
    }

    #[test]
    fn negative_and_non_finite_prices_are_rejected() {
        let err = parse_err("[[model]]\nname = \"m\"\ninput = 1\noutput = -2\n");
        assert!(err.contains("line 4, column 10"), "{err}");
        assert!(err.contains("`output`") && err.contains("\"m\""), "{err}");
        let err = parse_err("[[model]]\nname = \"m\"\ninput = nan\noutput = 1\n");
        assert!(err.contains("line 3") && err.contains("`input`"), "{err}");
        let err = parse_err("[[model]]\nname = \"m\"\ninput = 1\noutput = 1\ncached_input = inf\n");
        assert!(
            err.contains("line 5") && err.contains("`cached_input`"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_and_empty_names_are_rejected() {
        let err = parse_err(
            "[[model]]\nname = \"gpt-4o\"\ninput = 1\noutput = 1\n\
             [[model]]\nname = \"GPT-4o\"\ninput = 1\noutput = 1\n",
        );
        assert!(
            err.contains("line 6") && err.contains("first at line 2"),
            "{err}"
        );
        assert!(err.contains("listed twice"), "{err}");
        let err = parse_err("[[model]]\nname = \" \"\ninput = 1\noutput = 1\n");
        assert!(err.contains("line 2") && err.contains("empty"), "{err}");
        let err = parse_err("[[model]]\ninput = 1\noutput = 1\n");
        assert!(
            err.contains("line 1") && err.contains("missing field `name`"),
            "{err}"
        );
        let err = parse_err("[[model]]\nname = \"gpt-*\"\ninput = 1\noutput = 1\n");
        assert!(err.contains("patterns"), "{err}");
    }

    #[test]
    fn bad_patterns_are_rejected() {
        let model = "[[model]]\nname = \"m\"\ninput = 1\noutput = 1\n";
        let err = parse_err(&format!("{model}patterns = [\"m-*\", \" \"]\n"));
        assert!(
            err.contains("line 5") && err.contains("empty pattern"),
            "{err}"
        );
        let err = parse_err(&format!("{model}patterns = [\"**\"]\n"));
        assert!(err.contains("matches every model"), "{err}");
        let err = parse_err(&format!(
            "{model}patterns = [\"m-*\"]\n[[model]]\nname = \"n\"\ninput = 1\noutput = 1\npatterns = [\"M-*\"]\n"
        ));
        assert!(
            err.contains("line 10") && err.contains("already a pattern of \"m\""),
            "{err}"
        );
        let err = parse_err(&format!("{model}patterns = [\"m-*\", \"m-*\"]\n"));
        assert!(err.contains("already a pattern of \"m\""), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = parse_err("[[model]]\nname = \"m\"\ninput = 1\nouput = 1\n");
        assert!(
            err.contains("line 4") && err.contains("unknown field `ouput`"),
            "{err}"
        );
        let err = parse_err("asof = \"2025-01-01\"\n");
        assert!(
            err.contains("line 1") && err.contains("unknown field `asof`"),
            "{err}"
        );
    }

    #[test]
    fn bad_toml_names_the_line() {
        let err = parse_err("as_of = \"x\"\n[[model]\nname = \"m\"\n");
        assert!(err.contains("line 2"), "{err}");
        let err = parse_err("[[model]]\nname = \"m\"\ninput = \"cheap\"\noutput = 1\n");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = std::env::temp_dir().join(format!("agentdeck-prices-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let good = dir.join("good.toml");
        std::fs::write(
            &good,
            "as_of = \"2025-01-01\"\n[[model]]\nname = \"m\"\ninput = 1\noutput = 2\n",
        )
        .expect("write");
        let table = PriceTable::load(&good).expect("loads");
        assert_eq!((table.len(), table.as_of()), (1, Some("2025-01-01")));
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "[[model]]\nname = \"m\"\ninput = -1\noutput = 2\n").expect("write");
        let err = PriceTable::load(&bad).expect_err("negative price");
        assert!(err.starts_with(&bad.display().to_string()), "{err}");
        let missing = dir.join("missing.toml");
        let err = PriceTable::load(&missing).expect_err("no file");
        assert!(err.starts_with(&missing.display().to_string()), "{err}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn glob_matching() {
        let cases = [
            ("*", "", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "abcbc", true),
            ("a*bc", "abcbc", true),
            ("a*b", "abc", false),
            ("abc", "ab", false),
            ("a*b*c", "acb", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(
                glob_match(pattern.as_bytes(), text.as_bytes()),
                want,
                "{pattern} ~ {text}"
            );
        }
    }
}
