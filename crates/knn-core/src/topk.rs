use crate::metric::{Hit, Metric};

/// Exact bounded selection of the `k` best hits under a metric's order (score, then lower row).
///
/// A binary heap whose root is the worst hit kept, so a candidate is compared with one value and
/// rejected in O(1) once the heap is full; an accepted candidate costs O(log k). Backends that
/// compute scores elsewhere (a GPU) feed them here; partial results of parallel workers are
/// combined with [`TopK::merge`]. The result does not depend on the order of pushes.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    metric: Metric,
    heap: Vec<Hit>,
    /// The worst kept score once the heap is full, so that a strictly worse candidate is
    /// rejected with one comparison. NaN until then: every comparison with NaN is false, so
    /// nothing is rejected early.
    bound: f32,
}

impl TopK {
    pub fn new(k: usize, metric: Metric) -> Self {
        Self {
            k,
            metric,
            heap: Vec::with_capacity(k.min(4096)),
            bound: f32::NAN,
        }
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The worst hit kept, once `k` hits are held: a candidate must beat it to enter. Callers can
    /// use its score to skip candidates early.
    pub fn threshold(&self) -> Option<Hit> {
        if self.heap.len() == self.k {
            self.heap.first().copied()
        } else {
            None
        }
    }

    /// Offers a candidate; it is kept if fewer than `k` hits are held or it beats the worst.
    #[inline]
    pub fn push(&mut self, row: u32, score: f32) {
        let strictly_worse = if self.metric.higher_is_better() {
            score < self.bound
        } else {
            score > self.bound
        };
        if strictly_worse {
            return;
        }
        let hit = Hit { row, score };
        if self.heap.len() < self.k {
            self.heap.push(hit);
            self.sift_up(self.heap.len() - 1);
        } else if let Some(worst) = self.heap.first()
            && self.is_worse(worst, &hit)
        {
            self.heap[0] = hit;
            self.sift_down(0);
        }
        if self.heap.len() == self.k
            && let Some(worst) = self.heap.first()
        {
            self.bound = worst.score;
        }
    }

    /// Adds every hit of `other` (same `k` and metric expected; a mismatched `k` keeps this one's).
    pub fn merge(&mut self, other: TopK) {
        for hit in other.heap {
            self.push(hit.row, hit.score);
        }
    }

    /// The kept hits, best first.
    pub fn into_sorted_vec(self) -> Vec<Hit> {
        let mut hits = self.heap;
        self.metric.sort_hits(&mut hits);
        hits
    }

    /// `a` ranks after `b` in the result order.
    #[inline]
    fn is_worse(&self, a: &Hit, b: &Hit) -> bool {
        self.metric.compare_hits(a, b).is_gt()
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.is_worse(&self.heap[i], &self.heap[parent]) {
                self.heap.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let len = self.heap.len();
        loop {
            let left = 2 * i + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let worse_child = if right < len && self.is_worse(&self.heap[right], &self.heap[left]) {
                right
            } else {
                left
            };
            if self.is_worse(&self.heap[worse_child], &self.heap[i]) {
                self.heap.swap(i, worse_child);
                i = worse_child;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(hits: &[Hit]) -> Vec<u32> {
        hits.iter().map(|h| h.row).collect()
    }

    #[test]
    fn keeps_best_k_for_similarity() {
        let mut top = TopK::new(3, Metric::Dot);
        for (row, score) in [(0, 0.5), (1, 0.9), (2, 0.1), (3, 0.7), (4, 0.95)] {
            top.push(row, score);
        }
        assert_eq!(rows(&top.into_sorted_vec()), [4, 1, 3]);
    }

    #[test]
    fn keeps_best_k_for_distance() {
        let mut top = TopK::new(2, Metric::L2);
        for (row, score) in [(0, 5.0), (1, 0.5), (2, 3.0), (3, 0.25)] {
            top.push(row, score);
        }
        let hits = top.into_sorted_vec();
        assert_eq!(rows(&hits), [3, 1]);
        assert_eq!(hits[0].score, 0.25);
    }

    #[test]
    fn ties_at_the_boundary_keep_the_lower_rows_whatever_the_push_order() {
        for order in [[0u32, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
            let mut top = TopK::new(2, Metric::Cosine);
            for row in order {
                top.push(row, 1.0);
            }
            assert_eq!(rows(&top.into_sorted_vec()), [0, 1], "push order {order:?}");
        }
    }

    #[test]
    fn fewer_candidates_than_k_returns_all_sorted() {
        let mut top = TopK::new(10, Metric::L2);
        top.push(7, 2.0);
        top.push(3, 1.0);
        assert_eq!(top.threshold(), None);
        assert_eq!(rows(&top.into_sorted_vec()), [3, 7]);
    }

    #[test]
    fn k_zero_keeps_nothing() {
        let mut top = TopK::new(0, Metric::Dot);
        top.push(0, 1.0);
        assert!(top.is_empty());
    }

    #[test]
    fn threshold_is_the_worst_kept_hit() {
        let mut top = TopK::new(2, Metric::Dot);
        top.push(0, 1.0);
        top.push(1, 3.0);
        top.push(2, 2.0);
        assert_eq!(top.threshold(), Some(Hit { row: 2, score: 2.0 }));
    }

    #[test]
    fn merge_of_partitions_equals_one_pass() {
        let scores: Vec<f32> = (0..100).map(|i| ((i * 37) % 11) as f32).collect();
        let mut whole = TopK::new(7, Metric::Dot);
        let mut left = TopK::new(7, Metric::Dot);
        let mut right = TopK::new(7, Metric::Dot);
        for (row, &score) in scores.iter().enumerate() {
            whole.push(row as u32, score);
            if row % 3 == 0 {
                left.push(row as u32, score);
            } else {
                right.push(row as u32, score);
            }
        }
        left.merge(right);
        assert_eq!(left.into_sorted_vec(), whole.into_sorted_vec());
    }
}
