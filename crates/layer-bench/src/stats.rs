//! Medians of repeated measurements: one slow run (another build on the shared machine) must not
//! move the reported number the way it would move a mean.

use std::time::Duration;

/// Median of the samples; the mean of the two middle ones for an even count. `None` when empty.
pub fn median_duration(samples: &[Duration]) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

/// Median of counts, rounded down for an even count (counts are whole units).
pub fn median_count(samples: &[usize]) -> Option<usize> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn odd_count_takes_the_middle_value_regardless_of_order() {
        assert_eq!(
            median_duration(&secs(&[9, 1, 5])),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn even_count_averages_the_two_middle_values() {
        assert_eq!(
            median_duration(&secs(&[4, 1, 2, 100])),
            Some(Duration::from_secs(3))
        );
        assert_eq!(median_count(&[1, 4, 2, 7]), Some(3));
    }

    #[test]
    fn empty_has_no_median() {
        assert_eq!(median_duration(&[]), None);
        assert_eq!(median_count(&[]), None);
    }
}
