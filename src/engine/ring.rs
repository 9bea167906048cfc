//! Fixed-size rings of time buckets: the only memory an aggregate needs,
//! whatever the traffic.

use std::ops::AddAssign;

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
        let bucket = self.bucket_of(t_s);
        let index = self.index(bucket);
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
        let last = self.bucket_of(now_s);
        let n = n.min(self.slots.len()) as i64;
        let mut acc = T::default();
        for bucket in last.saturating_sub(n - 1)..=last {
            acc += self.get(bucket);
        }
        acc
    }

    /// The last `n` buckets up to and including the one holding `now_s`,
    /// oldest first.
    pub fn last(&self, now_s: i64, n: usize) -> impl Iterator<Item = T> + '_ {
        let last = self.bucket_of(now_s);
        let n = n.min(self.slots.len()) as i64;
        (last.saturating_sub(n - 1)..=last).map(move |b| self.get(b))
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
    fn negative_times_bucket_downwards() {
        let ring: Ring<u64> = Ring::new(60, 4);
        assert_eq!(ring.bucket_of(-1), -1);
        assert_eq!(ring.bucket_of(-60), -1);
        assert_eq!(ring.bucket_of(-61), -2);
    }
}
