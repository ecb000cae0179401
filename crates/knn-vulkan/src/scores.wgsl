// Scores of a batch of queries against a tile of collection rows.
//
// The host prepends `WORKGROUP_SIZE` and `QUERY_TILE` (see src/shader.rs), so the dispatch sizes
// it computes and the shader's cannot drift apart.
//
// One invocation owns one collection row and QUERY_TILE queries: each row value is read once and
// used QUERY_TILE times, and all invocations of a workgroup read the same query value at the same
// time, which the device's cache serves once.

struct Params {
    dim: u32,
    // First row of the tile inside the bound chunk buffer.
    row_offset: u32,
    // Rows in the tile; also the stride of one query's scores in `scores`.
    rows: u32,
    // Queries in the batch.
    queries: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> vectors: array<f32>;
@group(0) @binding(2) var<storage, read> queries: array<f32>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn dot_scores(@builtin(global_invocation_id) id: vec3<u32>) {
    let row = id.x;
    if row >= params.rows {
        return;
    }
    let first_query = id.y * QUERY_TILE;
    let base = (params.row_offset + row) * params.dim;
    var acc: array<f32, QUERY_TILE>;
    for (var d = 0u; d < params.dim; d++) {
        let x = vectors[base + d];
        for (var t = 0u; t < QUERY_TILE; t++) {
            // Past the last query the tile re-reads it; those sums are never written.
            let q = min(first_query + t, params.queries - 1u);
            acc[t] = fma(x, queries[q * params.dim + d], acc[t]);
        }
    }
    write_scores(row, first_query, acc);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn l2_scores(@builtin(global_invocation_id) id: vec3<u32>) {
    let row = id.x;
    if row >= params.rows {
        return;
    }
    let first_query = id.y * QUERY_TILE;
    let base = (params.row_offset + row) * params.dim;
    var acc: array<f32, QUERY_TILE>;
    for (var d = 0u; d < params.dim; d++) {
        let x = vectors[base + d];
        for (var t = 0u; t < QUERY_TILE; t++) {
            let q = min(first_query + t, params.queries - 1u);
            let diff = x - queries[q * params.dim + d];
            acc[t] = fma(diff, diff, acc[t]);
        }
    }
    write_scores(row, first_query, acc);
}

fn write_scores(row: u32, first_query: u32, acc: array<f32, QUERY_TILE>) {
    for (var t = 0u; t < QUERY_TILE; t++) {
        let q = first_query + t;
        if q < params.queries {
            scores[q * params.rows + row] = acc[t];
        }
    }
}
