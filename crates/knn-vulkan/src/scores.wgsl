// Scores of a batch of queries against a tile of collection rows.
//
// The host prepends `WORKGROUP_SIZE`, `ROW_TILE` (4) and `QUERY_TILE` (8) (see src/shader.rs), so
// the dispatch sizes it computes and the shader's cannot drift apart; the tiles are the vec4
// width and the eight accumulators below.
//
// One invocation scores ROW_TILE neighbouring rows against QUERY_TILE queries: per dimension it
// loads one vec4 of row values and two vec4s of query values for 32 multiply-adds. The chunk is
// dimension-major with its rows padded to a multiple of ROW_TILE, and the queries are
// interleaved per dimension (see src/layout.rs), so neighbouring invocations read neighbouring
// row values and all of them read the same query values.

struct Params {
    dim: u32,
    // Padded rows of the bound chunk: the distance between two dimensions of one row.
    stride: u32,
    // First row of the tile inside the chunk, a multiple of ROW_TILE.
    row_offset: u32,
    // Rows in the tile; also the stride of one query's scores in `scores`.
    rows: u32,
    // Queries in the batch.
    queries: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> vectors: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> queries: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn dot_scores(@builtin(global_invocation_id) id: vec3<u32>) {
    let first_row = id.x * ROW_TILE;
    if first_row >= params.rows {
        return;
    }
    let column = (params.row_offset + first_row) / ROW_TILE;
    let stride = params.stride / ROW_TILE;
    var q = id.y * params.dim * 2u;
    // acc_j holds query j's scores of the four rows.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    for (var d = 0u; d < params.dim; d++) {
        let x = vectors[d * stride + column];
        let qa = queries[q];
        let qb = queries[q + 1u];
        acc0 = fma(x, vec4<f32>(qa.x), acc0);
        acc1 = fma(x, vec4<f32>(qa.y), acc1);
        acc2 = fma(x, vec4<f32>(qa.z), acc2);
        acc3 = fma(x, vec4<f32>(qa.w), acc3);
        acc4 = fma(x, vec4<f32>(qb.x), acc4);
        acc5 = fma(x, vec4<f32>(qb.y), acc5);
        acc6 = fma(x, vec4<f32>(qb.z), acc6);
        acc7 = fma(x, vec4<f32>(qb.w), acc7);
        q += 2u;
    }
    let first_query = id.y * QUERY_TILE;
    store(first_row, first_query, acc0);
    store(first_row, first_query + 1u, acc1);
    store(first_row, first_query + 2u, acc2);
    store(first_row, first_query + 3u, acc3);
    store(first_row, first_query + 4u, acc4);
    store(first_row, first_query + 5u, acc5);
    store(first_row, first_query + 6u, acc6);
    store(first_row, first_query + 7u, acc7);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn l2_scores(@builtin(global_invocation_id) id: vec3<u32>) {
    let first_row = id.x * ROW_TILE;
    if first_row >= params.rows {
        return;
    }
    let column = (params.row_offset + first_row) / ROW_TILE;
    let stride = params.stride / ROW_TILE;
    var q = id.y * params.dim * 2u;
    // acc_j holds query j's scores of the four rows.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    for (var d = 0u; d < params.dim; d++) {
        let x = vectors[d * stride + column];
        let qa = queries[q];
        let qb = queries[q + 1u];
        let diff0 = x - vec4<f32>(qa.x);
        acc0 = fma(diff0, diff0, acc0);
        let diff1 = x - vec4<f32>(qa.y);
        acc1 = fma(diff1, diff1, acc1);
        let diff2 = x - vec4<f32>(qa.z);
        acc2 = fma(diff2, diff2, acc2);
        let diff3 = x - vec4<f32>(qa.w);
        acc3 = fma(diff3, diff3, acc3);
        let diff4 = x - vec4<f32>(qb.x);
        acc4 = fma(diff4, diff4, acc4);
        let diff5 = x - vec4<f32>(qb.y);
        acc5 = fma(diff5, diff5, acc5);
        let diff6 = x - vec4<f32>(qb.z);
        acc6 = fma(diff6, diff6, acc6);
        let diff7 = x - vec4<f32>(qb.w);
        acc7 = fma(diff7, diff7, acc7);
        q += 2u;
    }
    let first_query = id.y * QUERY_TILE;
    store(first_row, first_query, acc0);
    store(first_row, first_query + 1u, acc1);
    store(first_row, first_query + 2u, acc2);
    store(first_row, first_query + 3u, acc3);
    store(first_row, first_query + 4u, acc4);
    store(first_row, first_query + 5u, acc5);
    store(first_row, first_query + 6u, acc6);
    store(first_row, first_query + 7u, acc7);
}

// Writes one query's scores of the rows first_row..first_row + 4, dropping padded queries past
// the batch and padded rows past the tile.
fn store(first_row: u32, query: u32, values: vec4<f32>) {
    if query >= params.queries {
        return;
    }
    let base = query * params.rows;
    scores[base + first_row] = values.x;
    if first_row + 1u < params.rows {
        scores[base + first_row + 1u] = values.y;
    }
    if first_row + 2u < params.rows {
        scores[base + first_row + 2u] = values.z;
    }
    if first_row + 3u < params.rows {
        scores[base + first_row + 3u] = values.w;
    }
}
