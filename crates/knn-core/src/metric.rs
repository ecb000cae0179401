use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::matrix::{Matrix, MatrixError};

/// How a query is compared with a stored vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Cosine similarity, higher is better. Vectors and queries are normalised to unit length once
    /// (see [`Metric::prepare`]), after which a backend computes a plain dot product.
    Cosine,
    /// Dot product, higher is better.
    Dot,
    /// Squared Euclidean distance, lower is better. Squared because ranking is the same and the
    /// square root would only cost time and precision.
    L2,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::Cosine, Metric::Dot, Metric::L2];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
            Metric::L2 => "l2",
        }
    }

    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::L2)
    }

    /// Brings vectors into the form a backend expects for this metric: unit rows for cosine
    /// (a zero row is an error naming it), unchanged otherwise. Applied by the caller to both the
    /// collection before [`crate::Backend::upload`] and the queries before
    /// [`crate::Prepared::search`].
    pub fn prepare(self, mut vectors: Matrix) -> Result<Matrix, MatrixError> {
        if self == Metric::Cosine {
            vectors.normalize_rows()?;
        }
        Ok(vectors)
    }

    /// Orders two scores best first. `0.0` and `-0.0` are equal (a GPU may produce either). A NaN
    /// score, which inputs within [`Metric::max_norm`] cannot produce, ranks after every number
    /// under both directions, and NaNs are equal among themselves: the order stays total and a
    /// NaN is never the best hit.
    pub fn compare_scores(self, a: f32, b: f32) -> Ordering {
        match (a.is_nan(), b.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let ascending = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
                if self.higher_is_better() {
                    ascending.reverse()
                } else {
                    ascending
                }
            }
        }
    }

    /// Orders two hits best first: by score, then by the lower row.
    pub fn compare_hits(self, a: &Hit, b: &Hit) -> Ordering {
        self.compare_scores(a.score, b.score)
            .then(a.row.cmp(&b.row))
    }

    /// Sorts hits into the contract order, best first.
    pub fn sort_hits(self, hits: &mut [Hit]) {
        hits.sort_unstable_by(|a, b| self.compare_hits(a, b));
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Metric {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cosine" => Ok(Metric::Cosine),
            "dot" => Ok(Metric::Dot),
            "l2" => Ok(Metric::L2),
            other => Err(format!(
                "unknown metric {other:?}, expected one of cosine, dot, l2"
            )),
        }
    }
}

/// One result: the row of the collection and its score under the collection's metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub row: u32,
    pub score: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(row: u32, score: f32) -> Hit {
        Hit { row, score }
    }

    #[test]
    fn serde_names_are_lowercase() {
        assert_eq!(serde_json::to_string(&Metric::L2).unwrap(), "\"l2\"");
        assert_eq!(
            serde_json::from_str::<Metric>("\"cosine\"").unwrap(),
            Metric::Cosine
        );
        assert!(serde_json::from_str::<Metric>("\"Cosine\"").is_err());
        for metric in Metric::ALL {
            assert_eq!(metric.as_str().parse::<Metric>().unwrap(), metric);
        }
    }

    #[test]
    fn similarity_sorts_descending_and_distance_ascending_with_row_ties() {
        let hits = [hit(3, 1.0), hit(1, 2.0), hit(0, 1.0), hit(2, -1.0)];
        let mut sim = hits;
        Metric::Dot.sort_hits(&mut sim);
        let rows: Vec<u32> = sim.iter().map(|h| h.row).collect();
        assert_eq!(rows, [1, 0, 3, 2]);
        let mut dist = hits;
        Metric::L2.sort_hits(&mut dist);
        let rows: Vec<u32> = dist.iter().map(|h| h.row).collect();
        assert_eq!(rows, [2, 0, 3, 1]);
    }

    #[test]
    fn signed_zeros_tie_and_fall_back_to_row() {
        let mut hits = [hit(5, 0.0), hit(2, -0.0)];
        Metric::Dot.sort_hits(&mut hits);
        assert_eq!(hits[0].row, 2);
    }

    #[test]
    fn nan_ranks_last_under_both_directions() {
        for metric in Metric::ALL {
            let mut hits = [
                hit(0, f32::NAN),
                hit(1, f32::INFINITY),
                hit(2, f32::NEG_INFINITY),
            ];
            metric.sort_hits(&mut hits);
            assert_eq!(hits[2].row, 0, "{metric}");
            assert_eq!(metric.compare_scores(f32::NAN, -f32::NAN), Ordering::Equal);
        }
    }

    #[test]
    fn prepare_normalises_only_for_cosine() {
        let m = Matrix::new(2, vec![3.0, 4.0]).unwrap();
        assert_eq!(
            Metric::Cosine.prepare(m.clone()).unwrap().row(0),
            &[0.6, 0.8]
        );
        assert_eq!(Metric::Dot.prepare(m.clone()).unwrap(), m);
        assert_eq!(Metric::L2.prepare(m.clone()).unwrap(), m);
        let zero = Matrix::new(2, vec![0.0, 0.0]).unwrap();
        assert_eq!(
            Metric::Cosine.prepare(zero),
            Err(MatrixError::ZeroVector { row: 0 })
        );
    }
}
