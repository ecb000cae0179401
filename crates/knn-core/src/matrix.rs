use thiserror::Error;

/// The largest vector dimension accepted anywhere in the system.
pub const MAX_DIM: usize = 4096;

/// Why a [`Matrix`] could not be built. Row and column are zero-based.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MatrixError {
    #[error("dimension {dim} is out of range 1..={MAX_DIM}")]
    InvalidDimension { dim: usize },
    #[error("{len} values do not split into rows of dimension {dim}")]
    RaggedLength { len: usize, dim: usize },
    #[error("{rows} rows exceed the addressable maximum of {}", u32::MAX)]
    TooManyRows { rows: usize },
    #[error("value at row {row}, column {column} is not finite ({value})")]
    NonFinite {
        row: usize,
        column: usize,
        value: f32,
    },
    #[error("row {row} is a zero vector, which has no direction for cosine similarity")]
    ZeroVector { row: usize },
}

/// A dense row-major matrix of finite `f32`, one vector per row.
///
/// Invariants (checked by [`Matrix::new`]): `1 <= dim <= MAX_DIM`, the data length is a multiple
/// of `dim`, every value is finite and the row count fits a `u32` (hits address rows as `u32`).
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    dim: usize,
    data: Vec<f32>,
}

impl Matrix {
    pub fn new(dim: usize, data: Vec<f32>) -> Result<Self, MatrixError> {
        if dim == 0 || dim > MAX_DIM {
            return Err(MatrixError::InvalidDimension { dim });
        }
        if !data.len().is_multiple_of(dim) {
            return Err(MatrixError::RaggedLength {
                len: data.len(),
                dim,
            });
        }
        let rows = data.len() / dim;
        if rows > u32::MAX as usize {
            return Err(MatrixError::TooManyRows { rows });
        }
        if let Some(index) = data.iter().position(|v| !v.is_finite()) {
            return Err(MatrixError::NonFinite {
                row: index / dim,
                column: index % dim,
                value: data[index],
            });
        }
        Ok(Self { dim, data })
    }

    /// An empty matrix (zero rows) of the given dimension.
    pub fn empty(dim: usize) -> Result<Self, MatrixError> {
        Self::new(dim, Vec::new())
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn rows(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Row `i`. Panics if `i >= rows()`, like slice indexing.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Scales every row to unit Euclidean length, so that cosine similarity becomes a plain dot
    /// product. A zero row is rejected because it has no direction.
    ///
    /// The norm is accumulated in `f64`: a row of large finite `f32` values would overflow an
    /// `f32` sum of squares and collapse to zero.
    pub fn normalize_rows(&mut self) -> Result<(), MatrixError> {
        // Norms first, so that a zero row leaves the matrix untouched.
        let norms = self
            .data
            .chunks_exact(self.dim)
            .enumerate()
            .map(|(row, values)| {
                let norm = values
                    .iter()
                    .map(|&v| f64::from(v) * f64::from(v))
                    .sum::<f64>()
                    .sqrt();
                if norm == 0.0 {
                    Err(MatrixError::ZeroVector { row })
                } else {
                    Ok(norm)
                }
            })
            .collect::<Result<Vec<f64>, MatrixError>>()?;
        for (values, norm) in self.data.chunks_exact_mut(self.dim).zip(norms) {
            for v in values.iter_mut() {
                *v = (f64::from(*v) / norm) as f32;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_data_and_exposes_rows() {
        let m = Matrix::new(2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(m.dim(), 2);
        assert_eq!(m.rows(), 3);
        assert_eq!(m.row(1), &[3.0, 4.0]);
        assert_eq!(m.as_slice().len(), 6);
    }

    #[test]
    fn rejects_dimension_out_of_range() {
        assert_eq!(
            Matrix::new(0, vec![]),
            Err(MatrixError::InvalidDimension { dim: 0 })
        );
        assert_eq!(
            Matrix::new(MAX_DIM + 1, vec![]),
            Err(MatrixError::InvalidDimension { dim: MAX_DIM + 1 })
        );
        assert!(Matrix::new(MAX_DIM, vec![0.0; MAX_DIM]).is_ok());
    }

    #[test]
    fn rejects_ragged_length() {
        assert_eq!(
            Matrix::new(3, vec![0.0; 7]),
            Err(MatrixError::RaggedLength { len: 7, dim: 3 })
        );
    }

    #[test]
    fn non_finite_error_names_row_and_column() {
        let mut data = vec![0.0; 12];
        data[7] = f32::INFINITY;
        let err = Matrix::new(4, data).unwrap_err();
        assert_eq!(
            err,
            MatrixError::NonFinite {
                row: 1,
                column: 3,
                value: f32::INFINITY
            }
        );
        assert!(err.to_string().contains("row 1, column 3"));
        let mut data = vec![0.0; 4];
        data[0] = f32::NAN;
        assert!(matches!(
            Matrix::new(2, data),
            Err(MatrixError::NonFinite {
                row: 0,
                column: 0,
                ..
            })
        ));
    }

    #[test]
    fn normalize_rows_gives_unit_length() {
        let mut m = Matrix::new(2, vec![3.0, 4.0, 0.0, -2.0]).unwrap();
        m.normalize_rows().unwrap();
        assert_eq!(m.row(0), &[0.6, 0.8]);
        assert_eq!(m.row(1), &[0.0, -1.0]);
    }

    #[test]
    fn normalize_rows_survives_values_whose_squares_overflow_f32() {
        let mut m = Matrix::new(2, vec![3.0e38, 3.0e38]).unwrap();
        m.normalize_rows().unwrap();
        let expected = std::f32::consts::FRAC_1_SQRT_2;
        assert!((m.row(0)[0] - expected).abs() < 1e-6);
    }

    #[test]
    fn normalize_rows_rejects_zero_vector_by_row() {
        let mut m = Matrix::new(2, vec![1.0, 0.0, 0.0, 0.0]).unwrap();
        assert_eq!(m.normalize_rows(), Err(MatrixError::ZeroVector { row: 1 }));
        assert_eq!(m.row(0), &[1.0, 0.0], "a rejected matrix is left untouched");
    }
}
