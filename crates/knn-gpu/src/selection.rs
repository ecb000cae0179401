//! The host half of the exact top-k: from the best key of each segment of a query's scores, a
//! threshold that every row of the query's top-k reaches. Keys are `sign * score`, larger is
//! better (kernel.rs).
//!
//! Why it is exact: segments are disjoint, so the best keys of k segments are the keys of k
//! distinct rows. Their k-th best, the threshold, is therefore reached by at least k rows, so the
//! k-th best row of the tile reaches it, and so does every row ranked above it, ties included.

/// Fewest rows per segment: below this a segment costs more to reduce than it saves.
pub const MIN_SEGMENT_ROWS: usize = 32;
/// Most rows per segment: more segments than k keep the threshold close to the k-th best key.
pub const MAX_SEGMENT_ROWS: usize = 1024;
/// Segments wanted per wanted hit: with 4k segments the threshold lets through about 1.15 k rows
/// of random data, so the candidate lists stay short.
const SEGMENTS_PER_HIT: usize = 4;

/// Candidate slots per query: room for the about 1.15 k rows a threshold lets through on random
/// data, with margin, and never more than `configured`.
pub fn candidate_capacity(k: usize, configured: usize) -> usize {
    (SEGMENTS_PER_HIT * k).max(256).min(configured).max(1)
}

/// Rows per segment for tiles of `tile_rows` rows and top-`k`.
pub fn segment_rows(tile_rows: usize, k: usize) -> usize {
    (tile_rows / (SEGMENTS_PER_HIT * k).max(1)).clamp(MIN_SEGMENT_ROWS, MAX_SEGMENT_ROWS)
}

/// Segments of a tile of `tile_rows` rows.
pub fn segment_count(tile_rows: usize, segment_rows: usize) -> usize {
    tile_rows.div_ceil(segment_rows.max(1))
}

/// One threshold per query from `best`, the query-major best keys of `segments` segments each.
/// With fewer segments than `k` no threshold is proven, and every row is a candidate. Each
/// query's keys are reordered in place: they are a per-tile scratch copy, and selecting in place
/// keeps allocations off the per-tile path.
pub fn thresholds(best: &mut [f32], segments: usize, k: usize) -> Vec<f32> {
    if segments == 0 {
        return Vec::new();
    }
    best.chunks_mut(segments)
        .map(|keys| {
            if k == 0 || keys.len() < k {
                return f32::NEG_INFINITY;
            }
            let (_, kth, _) = keys.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
            *kth
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_grow_with_the_tile_and_shrink_with_k_within_bounds() {
        assert_eq!(segment_rows(1_000_000, 10), MAX_SEGMENT_ROWS);
        assert_eq!(segment_rows(1_000_000, 1000), 250);
        assert_eq!(segment_rows(128, 10), MIN_SEGMENT_ROWS);
        assert_eq!(segment_rows(0, 0), MIN_SEGMENT_ROWS);
        assert_eq!(segment_count(1000, 250), 4);
        assert_eq!(segment_count(1001, 250), 5);
        assert_eq!(segment_count(0, 250), 0);
    }

    #[test]
    fn candidate_slots_follow_k_within_the_configured_bound() {
        assert_eq!(candidate_capacity(10, 4096), 256);
        assert_eq!(candidate_capacity(1000, 4096), 4000);
        assert_eq!(candidate_capacity(5000, 4096), 4096);
        assert_eq!(candidate_capacity(10, 3), 3);
        assert_eq!(candidate_capacity(10, 0), 1);
    }

    #[test]
    fn the_threshold_is_the_kth_best_segment_key_per_query() {
        // Two queries of four segments each.
        let best = [0.5, 3.0, -1.0, 2.0, 7.0, 7.0, 1.0, 0.0];
        assert_eq!(thresholds(&mut best.clone(), 4, 1), vec![3.0, 7.0]);
        assert_eq!(thresholds(&mut best.clone(), 4, 2), vec![2.0, 7.0]);
        assert_eq!(thresholds(&mut best.clone(), 4, 4), vec![-1.0, 0.0]);
        assert_eq!(
            thresholds(&mut best.clone(), 4, 5),
            vec![f32::NEG_INFINITY, f32::NEG_INFINITY]
        );
    }

    #[test]
    fn at_least_k_rows_reach_the_threshold_of_any_segmentation() {
        let keys: Vec<f32> = (0..997u32).map(|i| ((i * 7919) % 113) as f32).collect();
        for segment in [1, 5, 32, 100] {
            let best: Vec<f32> = keys
                .chunks(segment)
                .map(|s| s.iter().copied().fold(f32::NEG_INFINITY, f32::max))
                .collect();
            for k in [1, 3, 10, 50] {
                let threshold = thresholds(&mut best.clone(), best.len(), k)[0];
                let reaching = keys.iter().filter(|&&key| key >= threshold).count();
                assert!(reaching >= k.min(keys.len()), "segment {segment} k {k}");
                let mut sorted = keys.clone();
                sorted.sort_by(|a, b| b.total_cmp(a));
                assert!(sorted[k - 1] >= threshold, "segment {segment} k {k}");
            }
        }
    }
}
