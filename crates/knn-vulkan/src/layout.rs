//! The device-side layouts the shader reads, built on the host.
//!
//! Chunks are stored dimension-major (`value[d * padded_rows + r]`), rows padded with zeros to
//! whole row tiles: one invocation reads a `vec4` of four rows per dimension, and neighbouring
//! invocations read neighbouring addresses, which a GPU coalesces. Queries are packed
//! in tiles of [`QUERY_TILE`] interleaved per dimension (`value[(t * dim + d) * QUERY_TILE + j]`)
//! so one invocation fetches a tile's values for dimension `d` as two `vec4`s.

use knn_core::Matrix;

use crate::plan::padded_rows;
use crate::shader::QUERY_TILE;

/// Rows `start..start + rows` of `matrix`, dimension-major and padded.
pub fn dimension_major(matrix: &Matrix, start: usize, rows: usize) -> Vec<f32> {
    let dim = matrix.dim();
    let stride = padded_rows(rows);
    let mut out = vec![0.0; stride * dim];
    for r in 0..rows {
        for (d, &value) in matrix.row(start + r).iter().enumerate() {
            out[d * stride + r] = value;
        }
    }
    out
}

/// Queries `start..start + count` of `queries` in interleaved tiles; the last tile is padded
/// with zeros, whose scores the shader never writes.
pub fn query_tiles(queries: &Matrix, start: usize, count: usize) -> Vec<f32> {
    let dim = queries.dim();
    let tile = QUERY_TILE as usize;
    let mut out = vec![0.0; count.div_ceil(tile) * tile * dim];
    for q in 0..count {
        let (t, j) = (q / tile, q % tile);
        for (d, &value) in queries.row(start + q).iter().enumerate() {
            out[(t * dim + d) * tile + j] = value;
        }
    }
    out
}

/// Bytes of [`query_tiles`] for `count` queries of dimension `dim`.
pub fn query_tiles_bytes(count: usize, dim: usize) -> u64 {
    (count.div_ceil(QUERY_TILE as usize) * QUERY_TILE as usize * dim * 4) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_transposed_from_their_first_row_and_padded() {
        // 3 rows of dim 2, padded to a row tile of 4 per dimension.
        let m = Matrix::new(2, vec![0.0, 1.0, 10.0, 11.0, 20.0, 21.0]).unwrap();
        assert_eq!(
            dimension_major(&m, 1, 2),
            [10.0, 20.0, 0.0, 0.0, 11.0, 21.0, 0.0, 0.0]
        );
        assert_eq!(
            dimension_major(&m, 0, 3),
            [0.0, 10.0, 20.0, 0.0, 1.0, 11.0, 21.0, 0.0]
        );
    }

    #[test]
    fn query_tiles_interleave_per_dimension_and_pad_the_last_tile() {
        let tile = QUERY_TILE as usize;
        let count = tile + 2;
        let data: Vec<f32> = (0..(count + 1) * 3).map(|v| v as f32).collect();
        let queries = Matrix::new(3, data).unwrap();
        // Skip query 0 to check the start offset.
        let packed = query_tiles(&queries, 1, count);
        assert_eq!(packed.len(), 2 * tile * 3);
        assert_eq!(packed.len() as u64 * 4, query_tiles_bytes(count, 3));
        for q in 0..count {
            for d in 0..3 {
                let at = ((q / tile) * 3 + d) * tile + q % tile;
                assert_eq!(packed[at], queries.row(1 + q)[d], "query {q} dim {d}");
            }
        }
        // The padding of the second tile stays zero.
        let second_tile_dim0 = &packed[3 * tile..3 * tile + tile];
        assert!(second_tile_dim0[2..].iter().all(|&v| v == 0.0));
    }
}
