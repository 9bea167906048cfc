//! Fixed-size rings of time buckets: the only memory an aggregate needs,
//! whatever the traffic.

use std::ops::AddAssign;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A ring of `len` buckets, each `width_s` seconds wide, indexed by absolute
/// bucket number (`t_s / width_s`). A slot remembers which bucket it holds,
/// so stale data from a previous lap is never counted.
///
/// Window semantics, shared with the naive recomputation in the tests: a
/// window of `n` buckets at time `now` covers the buckets
/// `bucket(now) - n + 1 ..= bucket(now)`, the current partial one included.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    width_s: i64,
    slots: Box<[Slot<T>]>,
    /// Where [`Ring::at_mut`] found the last time it was given.
    hint: Option<Hint>,
}

/// A bucket, its first second and its slot. Events arrive nearly in time
/// order, so the next one almost always falls in the same bucket or the
/// next, found without the two 64-bit divisions of a fresh lookup.
#[derive(Debug, Clone, Copy)]
struct Hint {
    bucket: i64,
    /// `bucket × width_s`.
    start_s: i64,
    /// `bucket` modulo the ring's length.
    index: usize,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot<T> {
    bucket: i64,
    value: T,
}

impl<T: Copy + Default + AddAssign> Ring<T> {
    /// A ring of `len` buckets of `width_s` seconds.
    pub fn new(width_s: i64, len: usize) -> Self {
        let width_s = width_s.max(1);
        let len = len.max(1);
        Self {
            width_s,
            slots: vec![
                Slot {
                    bucket: i64::MIN,
                    value: T::default(),
                };
                len
            ]
            .into_boxed_slice(),
            hint: None,
        }
    }

    /// Width of one bucket, seconds.
    pub fn width_s(&self) -> i64 {
        self.width_s
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Always false: a ring has at least one bucket.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bucket number holding time `t_s`.
    pub fn bucket_of(&self, t_s: i64) -> i64 {
        t_s.div_euclid(self.width_s)
    }

    fn index(&self, bucket: i64) -> usize {
        // rem_euclid of a positive length is in 0..len, so the cast is exact.
        bucket.rem_euclid(self.slots.len() as i64) as usize
    }

    /// Gives mutable access to the bucket holding `t_s`, clearing it first if
    /// it held an older lap. Returns `None` when the slot already holds a
    /// newer lap: the time is older than the ring remembers.
    pub fn at_mut(&mut self, t_s: i64) -> Option<&mut T> {
        let (bucket, index) = self.locate(t_s);
        let slot = &mut self.slots[index];
        if slot.bucket != bucket {
            if slot.bucket > bucket {
                return None;
            }
            *slot = Slot {
                bucket,
                value: T::default(),
            };
        }
        Some(&mut slot.value)
    }

    /// The buckets that hold data, oldest lap first within each slot order.
    fn used(&self) -> impl Iterator<Item = (i64, &T)> {
        self.slots
            .iter()
            .filter(|s| s.bucket != i64::MIN)
            .map(|s| (s.bucket, &s.value))
    }

    /// The bucket holding `t_s` and its slot, from the hint when `t_s` is in
    /// the hinted bucket or the next one; the hint then moves there.
    fn locate(&mut self, t_s: i64) -> (i64, usize) {
        let width_s = self.width_s;
        if let Some(hint) = self.hint {
            match t_s.checked_sub(hint.start_s) {
                Some(offset) if (0..width_s).contains(&offset) => {
                    return (hint.bucket, hint.index);
                }
                Some(offset) if offset >= width_s && offset - width_s < width_s => {
                    if let (Some(bucket), Some(start_s)) = (
                        hint.bucket.checked_add(1),
                        hint.start_s.checked_add(width_s),
                    ) {
                        let index = if hint.index + 1 == self.slots.len() {
                            0
                        } else {
                            hint.index + 1
                        };
                        self.hint = Some(Hint {
                            bucket,
                            start_s,
                            index,
                        });
                        return (bucket, index);
                    }
                }
                _ => {}
            }
        }
        let bucket = self.bucket_of(t_s);
        let index = self.index(bucket);
        // A bucket whose first second is not an i64 is never hinted.
        self.hint = bucket.checked_mul(width_s).map(|start_s| Hint {
            bucket,
            start_s,
            index,
        });
        (bucket, index)
    }

    /// The value of one bucket, or the default if the ring does not hold it.
    pub fn get(&self, bucket: i64) -> T {
        let slot = &self.slots[self.index(bucket)];
        if slot.bucket == bucket {
            slot.value
        } else {
            T::default()
        }
    }

    /// Sum of the last `n` buckets up to and including the one holding
    /// `now_s` (at most the ring's length).
    pub fn sum_last(&self, now_s: i64, n: usize) -> T {
        let [sum] = self.sums_last(now_s, [n]);
        sum
    }

    /// Sums of the last `ns[0]`, `ns[1]`, … buckets up to and including the
    /// one holding `now_s` (each at most the ring's length), in one pass
    /// backwards from the newest bucket: `ns` must be ascending. Each sum
    /// is accumulated in `A`, which may be wider than a bucket so that a
    /// long window of full buckets does not saturate.
    pub fn sums_last<A, const K: usize>(&self, now_s: i64, ns: [usize; K]) -> [A; K]
    where
        A: Copy + Default + AddAssign<T>,
    {
        debug_assert!(ns.is_sorted(), "window lengths must be ascending");
        let newest = self.bucket_of(now_s);
        // There are no buckets below i64::MIN to count.
        let exist =
            usize::try_from(newest.abs_diff(i64::MIN)).map_or(usize::MAX, |d| d.saturating_add(1));
        let limit = self.slots.len().min(exist);
        // Newest first: the slots from the newest one down to the start of
        // the ring, then from its end down.
        let (down, wrapped) = self.slots.split_at(self.index(newest) + 1);
        let mut sums = [A::default(); K];
        let mut acc = A::default();
        let mut bucket = newest;
        let mut done = 0;
        for (sum, &n) in sums.iter_mut().zip(ns.iter()) {
            let n = n.min(limit);
            while done < n {
                let stretch = if done < down.len() {
                    &down[..down.len() - done]
                } else {
                    &wrapped[..wrapped.len() - (done - down.len())]
                };
                let take = (n - done).min(stretch.len());
                for slot in stretch[stretch.len() - take..].iter().rev() {
                    if slot.bucket == bucket {
                        acc += slot.value;
                    }
                    // Within `exist`, so this wraps only after the last slot.
                    bucket = bucket.wrapping_sub(1);
                }
                done += take;
            }
            *sum = acc;
        }
        sums
    }

    /// The last `n` buckets up to and including the one holding `now_s`,
    /// oldest first.
    pub fn last(&self, now_s: i64, n: usize) -> impl Iterator<Item = T> + '_ {
        let last = self.bucket_of(now_s);
        let n = n.min(self.slots.len()) as i64;
        let first = last.saturating_sub(n - 1);
        // Step through the slots instead of dividing for each bucket.
        let mut index = self.index(first);
        (first..=last).map(move |bucket| {
            let slot = &self.slots[index];
            index += 1;
            if index == self.slots.len() {
                index = 0;
            }
            if slot.bucket == bucket {
                slot.value
            } else {
                T::default()
            }
        })
    }
}

/// The longest ring a snapshot may ask for: a year of minutes.
const MAX_SNAPSHOT_LEN: usize = 366 * 24 * 60;

/// A ring as a snapshot stores it: its shape and only the buckets that hold
/// data (most of a long ring is empty), without the lookup hint.
#[derive(Serialize, Deserialize)]
struct Stored<U> {
    width_s: i64,
    len: usize,
    used: U,
}

struct Used<'a, T>(&'a Ring<T>);

impl<T: Serialize + Copy + Default + AddAssign> Serialize for Used<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        // Counted first: compact formats write the length before the items.
        let mut seq = serializer.serialize_seq(Some(self.0.used().count()))?;
        for item in self.0.used() {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

impl<T: Serialize + Copy + Default + AddAssign> Serialize for Ring<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Stored {
            width_s: self.width_s,
            len: self.slots.len(),
            used: Used(self),
        }
        .serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de> + Copy + Default + AddAssign> Deserialize<'de> for Ring<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let stored = Stored::<Vec<(i64, T)>>::deserialize(deserializer)?;
        if stored.width_s < 1 || !(1..=MAX_SNAPSHOT_LEN).contains(&stored.len) {
            return Err(D::Error::custom(format!(
                "a ring of {} buckets of {} s",
                stored.len, stored.width_s
            )));
        }
        let mut ring = Self::new(stored.width_s, stored.len);
        for (bucket, value) in stored.used {
            let index = ring.index(bucket);
            let slot = &mut ring.slots[index];
            if bucket == i64::MIN || slot.bucket != i64::MIN {
                return Err(D::Error::custom(format!("bucket {bucket} twice in a ring")));
            }
            *slot = Slot { bucket, value };
        }
        Ok(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_only_the_requested_window() {
        let mut ring: Ring<u64> = Ring::new(60, 10);
        for t in [0, 59, 60, 125, 599] {
            *ring.at_mut(t).unwrap() += 1;
        }
        // Buckets: 0 → 2, 1 → 1, 2 → 1, 9 → 1.
        assert_eq!(ring.sum_last(599, 1), 1);
        assert_eq!(ring.sum_last(599, 8), 2); // buckets 2..=9
        assert_eq!(ring.sum_last(599, 10), 5);
        assert_eq!(ring.sum_last(125, 2), 2); // buckets 1, 2
    }

    #[test]
    fn a_new_lap_clears_the_slot_and_old_times_are_refused() {
        let mut ring: Ring<u64> = Ring::new(60, 4);
        *ring.at_mut(0).unwrap() += 5;
        *ring.at_mut(4 * 60).unwrap() += 1; // same slot, next lap
        assert_eq!(ring.get(0), 0);
        assert_eq!(ring.get(4), 1);
        assert!(ring.at_mut(30).is_none(), "older than the ring remembers");
        assert_eq!(ring.sum_last(4 * 60, 4), 1);
    }

    #[test]
    fn one_backward_pass_gives_every_window_sum() {
        let mut ring: Ring<u64> = Ring::new(60, 7);
        // Two laps, so some slots hold stale buckets; and negative times.
        for t in (-600..900).step_by(37) {
            if let Some(b) = ring.at_mut(t) {
                *b += 1 + t.rem_euclid(5) as u64;
            }
        }
        for now in [-700, -61, 0, 59, 300, 420, 899, 2_000] {
            let sums: [u64; 5] = ring.sums_last(now, [0, 1, 3, 7, 20]);
            for (got, n) in sums.iter().zip([0, 1, 3, 7, 20]) {
                let want: u64 = ring.last(now, n).sum();
                assert_eq!(*got, want, "now {now}, n {n}");
                assert_eq!(*got, ring.sum_last(now, n), "now {now}, n {n}");
            }
        }
        // Window semantics by hand: buckets last - n + 1 ..= last.
        let by_hand = |now: i64, n: i64| -> u64 {
            let last = now.div_euclid(60);
            (last - n.min(7) + 1..=last).map(|b| ring.get(b)).sum()
        };
        for now in [0, 420, 899] {
            let [a, b]: [u64; 2] = ring.sums_last(now, [4, 9]);
            assert_eq!((a, b), (by_hand(now, 4), by_hand(now, 9)));
        }
        // At the bottom of time there are fewer buckets than asked for.
        let mut ring: Ring<u64> = Ring::new(1, 8);
        for t in [i64::MIN, i64::MIN + 1, i64::MIN + 2] {
            *ring.at_mut(t).unwrap() += 1;
        }
        let sums: [u64; 3] = ring.sums_last(i64::MIN + 2, [2, 3, 6]);
        assert_eq!(sums, [2, 3, 3]);
        assert_eq!(ring.last(i64::MIN + 2, 6).count(), 3);
    }

    #[test]
    fn the_hint_finds_the_same_slots_as_a_fresh_lookup() {
        // Times in order, backwards, jumping laps, negative and extreme.
        let mut times: Vec<i64> = (-200..400).step_by(7).collect();
        times.extend((-200..400).rev().step_by(13));
        times.extend([
            i64::MIN,
            i64::MIN + 1,
            -1,
            0,
            59,
            60,
            119,
            120,
            10_000,
            i64::MAX - 1,
        ]);
        times.extend([i64::MAX, 5, 65, 125, 6_000_000, 6_000_059, 6_000_060]);
        for width in [1, 7, 60] {
            let mut hinted: Ring<u64> = Ring::new(width, 5);
            for &t in &times {
                let bucket = hinted.bucket_of(t);
                assert_eq!(hinted.locate(t), (bucket, hinted.index(bucket)), "t {t}");
            }
        }
    }

    #[test]
    fn negative_times_bucket_downwards() {
        let ring: Ring<u64> = Ring::new(60, 4);
        assert_eq!(ring.bucket_of(-1), -1);
        assert_eq!(ring.bucket_of(-60), -1);
        assert_eq!(ring.bucket_of(-61), -2);
    }
}
