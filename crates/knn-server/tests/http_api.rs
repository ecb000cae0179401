//! The HTTP API through the real router, with a real SQLite database in a temporary directory.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use knn_core::testing::random_matrix;
use knn_core::{CpuBackend, Metric, reference};
use knn_server::serve::build_app;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

#[path = "support/gzip.rs"]
mod gzip;

const DEFAULT_LIMIT: usize = 64 * 1024 * 1024;

struct TestApp {
    router: Router,
    dir: TempDir,
}

async fn app() -> TestApp {
    app_with_limit(DEFAULT_LIMIT).await
}

async fn app_with_limit(limit: usize) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let router = router_over(&dir, limit).await;
    TestApp { router, dir }
}

async fn router_over(dir: &TempDir, limit: usize) -> Router {
    build_app(&dir.path().join("data"), Arc::new(CpuBackend::new()), limit)
        .await
        .unwrap()
        .0
}

impl TestApp {
    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "response is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, value)
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn delete(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Request::delete(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn post_raw(&self, uri: &str, body: impl Into<String>) -> (StatusCode, Value) {
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.into()))
            .unwrap();
        self.send(request).await
    }

    async fn post_encoded(
        &self,
        uri: &str,
        encoding: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_ENCODING, encoding)
            .body(body.into())
            .unwrap();
        self.send(request).await
    }

    async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        self.post_raw(uri, body.to_string()).await
    }

    async fn create(&self, name: &str, dimension: usize, metric: &str) {
        let (status, body) = self
            .post(
                "/collections",
                json!({"name": name, "dimension": dimension, "metric": metric}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    async fn upsert(&self, name: &str, vectors: Value) -> (StatusCode, Value) {
        self.post(
            &format!("/collections/{name}/upsert"),
            json!({ "vectors": vectors }),
        )
        .await
    }

    async fn count(&self, name: &str) -> u64 {
        let (status, body) = self.get(&format!("/collections/{name}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["count"].as_u64().unwrap()
    }
}

/// Asserts a 4xx JSON error naming `field`.
fn assert_error(response: (StatusCode, Value), status: StatusCode, field: &str) {
    let (actual, body) = response;
    assert_eq!(actual, status, "{body}");
    assert_eq!(body["field"], field, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
}

fn ids(hits: &Value) -> Vec<&str> {
    hits.as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn health_and_info() {
    let app = app().await;
    let (status, body) = app.get("/health").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = app.get("/info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["variant"], knn_server::backends::variant());
    assert_eq!(body["backend"], "cpu");
    assert!(body["device"].as_str().unwrap().contains("threads"));
    let details = &body["details"];
    let threads: usize = details["threads"].as_str().unwrap().parse().unwrap();
    assert!(threads >= 1, "{body}");
    let kernel = details["kernel"].as_str().unwrap();
    assert!(body["device"].as_str().unwrap().contains(kernel), "{body}");
}

#[tokio::test]
async fn collections_are_created_listed_described_and_deleted() {
    let app = app().await;
    app.create("b", 3, "l2").await;
    app.create("a", 2, "cosine").await;
    let (status, body) = app.get("/collections").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"collections": [
            {"name": "a", "dimension": 2, "metric": "cosine", "count": 0},
            {"name": "b", "dimension": 3, "metric": "l2", "count": 0},
        ]})
    );
    let (status, body) = app.get("/collections/b").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["dimension"], 3);
    let (status, _) = app.delete("/collections/b").await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        app.get("/collections/b").await,
        StatusCode::NOT_FOUND,
        "name",
    );
    let (_, body) = app.get("/collections").await;
    assert_eq!(body["collections"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn create_rejects_bad_fields_and_duplicates() {
    let app = app().await;
    for (body, field) in [
        (
            json!({"name": "c", "dimension": 0, "metric": "dot"}),
            "dimension",
        ),
        (
            json!({"name": "c", "dimension": 4097, "metric": "dot"}),
            "dimension",
        ),
        (
            json!({"name": "c", "dimension": -1, "metric": "dot"}),
            "dimension",
        ),
        (
            json!({"name": "c", "dimension": 2, "metric": "hamming"}),
            "metric",
        ),
        (json!({"name": "c", "dimension": 2}), "metric"),
        (json!({"name": "", "dimension": 2, "metric": "dot"}), "name"),
        (
            json!({"name": "a/b", "dimension": 2, "metric": "dot"}),
            "name",
        ),
        (
            json!({"name": ".", "dimension": 2, "metric": "dot"}),
            "name",
        ),
        (
            json!({"name": "..", "dimension": 2, "metric": "dot"}),
            "name",
        ),
        (
            json!({"name": "a\\b", "dimension": 2, "metric": "dot"}),
            "name",
        ),
        (
            json!({"name": "a\u{1}b", "dimension": 2, "metric": "dot"}),
            "name",
        ),
        (
            json!({"name": "a\nb", "dimension": 2, "metric": "dot"}),
            "name",
        ),
        (
            json!({"name": "a b", "dimension": 2, "metric": "dot"}),
            "name",
        ),
        (
            json!({"name": "c", "dimension": 2, "metric": "dot", "size": 1}),
            "size",
        ),
    ] {
        assert_error(
            app.post("/collections", body).await,
            StatusCode::BAD_REQUEST,
            field,
        );
    }
    app.create("c", 4096, "dot").await;
    // Dots inside a name are fine; only the path segments `.` and `..` are not.
    app.create("...", 2, "dot").await;
    app.create("v1.2", 2, "dot").await;
    let (status, body) = app
        .post(
            "/collections",
            json!({"name": "..", "dimension": 2, "metric": "dot"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "name \"..\" is a relative path segment, which URLs cannot address", "field": "name"})
        )
    );
    let (_, body) = app.get("/collections").await;
    let names: Vec<&str> = body["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["...", "c", "v1.2"]);
    assert_error(
        app.post(
            "/collections",
            json!({"name": "c", "dimension": 2, "metric": "dot"}),
        )
        .await,
        StatusCode::CONFLICT,
        "name",
    );
}

#[tokio::test]
async fn query_returns_ids_and_scores_of_the_reference_in_stable_order() {
    let app = app().await;
    let vectors = random_matrix(200, 8, 7);
    let queries = random_matrix(3, 8, 8);
    // Ids sort in row order, so the reference's rows map straight to ids.
    let id = |row: usize| format!("v{row:03}");
    for metric in Metric::ALL {
        app.create(metric.as_str(), 8, metric.as_str()).await;
        let batch: Vec<Value> = (0..vectors.rows())
            .rev()
            .map(|r| json!({"id": id(r), "values": vectors.row(r)}))
            .collect();
        let (status, body) = app.upsert(metric.as_str(), Value::Array(batch)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"upserted": 200, "count": 200}));

        let expected = reference::search(&vectors, &queries, metric, 15);
        let rows: Vec<&[f32]> = (0..3).map(|q| queries.row(q)).collect();
        let (status, body) = app
            .post(
                &format!("/collections/{metric}/query"),
                json!({"vectors": rows, "k": 15}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        for (q, result) in results.iter().enumerate() {
            let want: Vec<String> = expected[q].iter().map(|h| id(h.row as usize)).collect();
            assert_eq!(ids(&result["hits"]), want, "{metric} query {q}");
            for (hit, reference) in result["hits"].as_array().unwrap().iter().zip(&expected[q]) {
                let score = hit["score"].as_f64().unwrap() as f32;
                assert!(
                    (score - reference.score).abs() < 1e-4,
                    "{metric}: {score} vs {}",
                    reference.score
                );
            }
        }

        let (status, body) = app
            .post(
                &format!("/collections/{metric}/query"),
                json!({"vector": queries.row(0), "k": 3}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let want: Vec<String> = expected[0][..3]
            .iter()
            .map(|h| id(h.row as usize))
            .collect();
        assert_eq!(ids(&body["hits"]), want);
    }
}

#[tokio::test]
async fn equal_scores_are_ordered_by_id_and_k_defaults_to_10() {
    let app = app().await;
    app.create("ties", 2, "dot").await;
    let batch: Vec<Value> = ["d", "b", "a", "c", "e"]
        .iter()
        .map(|id| json!({"id": id, "values": [1.0, 0.0]}))
        .chain((0..20).map(|i| json!({"id": format!("z{i:02}"), "values": [0.0, 1.0]})))
        .collect();
    app.upsert("ties", Value::Array(batch)).await;
    let (status, body) = app
        .post(
            "/collections/ties/query",
            json!({"vector": [1.0, 0.0], "k": 4}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body["hits"]), ["a", "b", "c", "d"]);
    assert_eq!(body["hits"][0]["score"], 1.0);
    let (_, body) = app
        .post("/collections/ties/query", json!({"vector": [0.0, 1.0]}))
        .await;
    assert_eq!(body["hits"].as_array().unwrap().len(), 10);
    assert_eq!(ids(&body["hits"])[0], "z00");
}

#[tokio::test]
async fn empty_collection_answers_with_no_hits() {
    let app = app().await;
    app.create("empty", 2, "l2").await;
    let (status, body) = app
        .post(
            "/collections/empty/query",
            json!({"vectors": [[1.0, 0.0], [0.0, 1.0]]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"results": [{"hits": []}, {"hits": []}]}));
}

#[tokio::test]
async fn a_deleted_and_recreated_collection_starts_empty() {
    let app = app().await;
    app.create("c", 2, "dot").await;
    app.upsert("c", json!([{"id": "a", "values": [1.0, 2.0]}]))
        .await;
    app.delete("/collections/c").await;
    app.create("c", 3, "l2").await;
    assert_eq!(app.count("c").await, 0);
    let (status, body) = app
        .post("/collections/c/query", json!({"vector": [1.0, 2.0, 3.0]}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"hits": []})));
}

#[tokio::test]
async fn upsert_replaces_existing_ids_and_delete_removes_them() {
    let app = app().await;
    app.create("c", 2, "l2").await;
    app.upsert(
        "c",
        json!([{"id": "x", "values": [0.0, 0.0]}, {"id": "y", "values": [5.0, 5.0]}]),
    )
    .await;
    let (_, body) = app
        .upsert("c", json!([{"id": "x", "values": [9.0, 9.0]}]))
        .await;
    assert_eq!(body, json!({"upserted": 1, "count": 2}));
    let (_, body) = app
        .post(
            "/collections/c/query",
            json!({"vector": [0.0, 0.0], "k": 1}),
        )
        .await;
    assert_eq!(ids(&body["hits"]), ["y"]);
    assert_eq!(body["hits"][0]["score"], 50.0);

    let (status, body) = app
        .post("/collections/c/delete", json!({"ids": ["y", "missing"]}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"deleted": 1})));
    let (_, body) = app
        .post(
            "/collections/c/query",
            json!({"vector": [0.0, 0.0], "k": 5}),
        )
        .await;
    assert_eq!(ids(&body["hits"]), ["x"]);
    assert_error(
        app.post("/collections/c/delete", json!({"ids": []})).await,
        StatusCode::BAD_REQUEST,
        "ids",
    );
    assert_error(
        app.post("/collections/c/delete", json!({"ids": ["a", ""]}))
            .await,
        StatusCode::BAD_REQUEST,
        "ids[1]",
    );
}

#[tokio::test]
async fn bad_upserts_name_the_field_and_store_nothing() {
    let app = app().await;
    app.create("c", 3, "cosine").await;
    let ok = json!({"id": "ok", "values": [1.0, 2.0, 3.0]});
    let cases = [
        (
            json!([ok, {"id": "b", "values": [1.0, 2.0]}]),
            "vectors[1].values",
        ),
        (
            json!([ok, {"id": "b", "values": [1.0, 2.0, 3.0, 4.0]}]),
            "vectors[1].values",
        ),
        // 1e39 is valid JSON but beyond f32: it would become infinity.
        (
            json!([ok, {"id": "b", "values": [1.0, 1e39, 3.0]}]),
            "vectors[1].values[1]",
        ),
        (
            json!([ok, {"id": "b", "values": [1.0, -1e39, 3.0]}]),
            "vectors[1].values[1]",
        ),
        (
            json!([ok, {"id": "b", "values": [0.0, 0.0, 0.0]}]),
            "vectors[1].values",
        ),
        (
            json!([ok, {"id": "b", "values": [1.0, "2", 3.0]}]),
            "vectors[1].values[1]",
        ),
        (
            json!([ok, {"id": "b", "values": [1.0, null, 3.0]}]),
            "vectors[1].values[1]",
        ),
        (
            json!([ok, {"id": "", "values": [1.0, 2.0, 3.0]}]),
            "vectors[1].id",
        ),
        (json!([ok, {"values": [1.0, 2.0, 3.0]}]), "vectors[1].id"),
        (
            json!([ok, {"id": "b", "values": [1.0, 2.0, 3.0]}, {"id": "ok", "values": [1.0, 1.0, 1.0]}]),
            "vectors[2].id",
        ),
        (json!([]), "vectors"),
    ];
    for (vectors, field) in cases {
        assert_error(
            app.upsert("c", vectors).await,
            StatusCode::BAD_REQUEST,
            field,
        );
    }
    // A number beyond even f64 is rejected by the JSON parser; the field is still named.
    let overflow = r#"{"vectors":[{"id":"a","values":[1,1e400,3]}]}"#;
    assert_error(
        app.post_raw("/collections/c/upsert", overflow).await,
        StatusCode::BAD_REQUEST,
        "vectors[0].values[1]",
    );
    assert_error(
        app.post_raw(
            "/collections/c/upsert",
            r#"{"vectors":[{"id":"a","values":[NaN,1,1]}]}"#,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "vectors[0].values[0]",
    );
    assert_error(
        app.post_raw("/collections/c/upsert", "not json").await,
        StatusCode::BAD_REQUEST,
        "body",
    );
    // Truncated JSON is blamed on the innermost field it ended in.
    assert_error(
        app.post_raw("/collections/c/upsert", "{\"vectors\": [")
            .await,
        StatusCode::BAD_REQUEST,
        "vectors",
    );
    assert_eq!(app.count("c").await, 0, "a rejected batch stores nothing");
}

#[tokio::test]
async fn bad_queries_name_the_field() {
    let app = app().await;
    app.create("c", 2, "cosine").await;
    app.upsert("c", json!([{"id": "a", "values": [1.0, 0.0]}]))
        .await;
    let cases = [
        (json!({"vector": [1.0, 0.0], "k": 0}), "k"),
        (json!({"vector": [1.0, 0.0], "k": 1001}), "k"),
        (json!({"vector": [1.0, 0.0], "k": -3}), "k"),
        (json!({"vector": [1.0]}), "vector"),
        (json!({"vector": [1.0, 1e39]}), "vector[1]"),
        (json!({"vector": [0.0, 0.0]}), "vector"),
        (
            json!({"vectors": [[1.0, 0.0], [1.0, 2.0, 3.0]]}),
            "vectors[1]",
        ),
        (json!({"vectors": []}), "vectors"),
        (
            json!({"vector": [1.0, 0.0], "vectors": [[1.0, 0.0]]}),
            "vector",
        ),
        (json!({"k": 3}), "vector"),
        (json!({"vector": [1.0, 0.0], "top": 3}), "top"),
    ];
    for (body, field) in cases {
        assert_error(
            app.post("/collections/c/query", body).await,
            StatusCode::BAD_REQUEST,
            field,
        );
    }
    let (status, _) = app
        .post(
            "/collections/c/query",
            json!({"vector": [1.0, 0.0], "k": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_collection_is_404_everywhere() {
    let app = app().await;
    let body = json!({"vectors": [{"id": "a", "values": [1.0]}]});
    assert_error(
        app.get("/collections/nope").await,
        StatusCode::NOT_FOUND,
        "name",
    );
    assert_error(
        app.delete("/collections/nope").await,
        StatusCode::NOT_FOUND,
        "name",
    );
    assert_error(
        app.post("/collections/nope/upsert", body).await,
        StatusCode::NOT_FOUND,
        "name",
    );
    assert_error(
        app.post("/collections/nope/delete", json!({"ids": ["a"]}))
            .await,
        StatusCode::NOT_FOUND,
        "name",
    );
    assert_error(
        app.post("/collections/nope/query", json!({"vector": [1.0]}))
            .await,
        StatusCode::NOT_FOUND,
        "name",
    );
    let (status, body) = app.get("/no/such/route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    let (status, body) = app.delete("/collections").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn body_over_the_limit_is_413_with_or_without_content_length() {
    let app = app_with_limit(1024).await;
    app.create("c", 1, "dot").await;
    let big: Vec<Value> = (0..200)
        .map(|i| json!({"id": format!("{i}"), "values": [1.0]}))
        .collect();
    let body = json!({ "vectors": big }).to_string();
    assert!(body.len() > 1024);

    let with_length = Request::post("/collections/c/upsert")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body.clone()))
        .unwrap();
    assert_error(
        app.send(with_length).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body",
    );

    // Without a Content-Length header the limit applies while the body is read.
    let streamed = Request::post("/collections/c/upsert")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    assert_error(
        app.send(streamed).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body",
    );
    assert_eq!(app.count("c").await, 0);
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let app = app().await;
    let request = Request::post("/collections")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(r#"{"name":"c","dimension":1,"metric":"dot"}"#))
        .unwrap();
    assert_error(
        app.send(request).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "content-type",
    );
}

#[tokio::test]
async fn collections_and_vectors_are_loaded_again_on_start() {
    let app = app().await;
    app.create("c", 2, "dot").await;
    app.upsert(
        "c",
        json!([{"id": "a", "values": [1.0, 2.0]}, {"id": "b", "values": [3.0, 4.0]}]),
    )
    .await;
    let TestApp { router, dir } = app;
    drop(router);
    let reopened = TestApp {
        router: router_over(&dir, DEFAULT_LIMIT).await,
        dir,
    };
    let (status, body) = reopened
        .post(
            "/collections/c/query",
            json!({"vector": [1.0, 0.0], "k": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body["hits"]), ["b", "a"]);
}

#[tokio::test]
async fn vectors_whose_scores_could_overflow_are_rejected_with_the_field() {
    let app = app().await;
    app.create("dot", 2, "dot").await;
    app.create("l2", 2, "l2").await;
    app.create("cos", 2, "cosine").await;
    // The issue's example: finite, but 3e38 * 3e38 overflows f32 and inf - inf is NaN.
    for name in ["dot", "l2"] {
        let (status, body) = app
            .upsert(
                name,
                json!([
                    {"id": "ok", "values": [1.0, 2.0]},
                    {"id": "big", "values": [3e38, -3e38]},
                ]),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field"], "vectors[1].values", "{body}");
        assert_eq!(
            body["error"],
            format!(
                "vector length 4.243e38 exceeds 4.612e18 (2^62), the most a {name} vector may \
                 have so that its scores cannot overflow 32-bit floats"
            )
        );
        assert_eq!(app.count(name).await, 0, "nothing of the batch stored");
        // At the bound is accepted, and its scores are finite numbers.
        let at_bound = 4.6e18f32;
        let (status, body) = app
            .upsert(
                name,
                json!([
                    {"id": "a", "values": [at_bound, 0.0]},
                    {"id": "b", "values": [-at_bound, 0.0]},
                    {"id": "c", "values": [0.0, 1.0]},
                ]),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let uri = format!("/collections/{name}/query");
        assert_error(
            app.post(&uri, json!({"vector": [3e38, 3e38]})).await,
            StatusCode::BAD_REQUEST,
            "vector",
        );
        assert_error(
            app.post(&uri, json!({"vectors": [[1.0, 1.0], [1e19, 1.0]]}))
                .await,
            StatusCode::BAD_REQUEST,
            "vectors[1]",
        );
        let (status, body) = app
            .post(&uri, json!({"vector": [-at_bound, 0.0], "k": 3}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let hits = body["hits"].as_array().unwrap();
        assert_eq!(hits.len(), 3);
        for hit in hits {
            assert!(hit["score"].as_f64().is_some_and(f64::is_finite), "{body}");
        }
        // `b` equals the query: the largest dot product, the smallest distance.
        assert_eq!(hits[0]["id"], "b", "{body}");
        assert_eq!(
            ids(&body["hits"])[2],
            "a",
            "the farthest, with a finite score: {body}"
        );
    }
    // Cosine scales every vector to unit length first, so any finite vector is fine.
    let (status, body) = app
        .upsert("cos", json!([{"id": "big", "values": [3e38, -3e38]}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post("/collections/cos/query", json!({"vector": [3e38, 3e38]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let score = body["hits"][0]["score"].as_f64().unwrap();
    assert!(score.abs() < 1e-6, "orthogonal: {body}");
}

#[tokio::test]
async fn a_gzip_body_is_decompressed_and_other_encodings_are_415() {
    let app = app().await;
    app.create("c", 2, "dot").await;
    let body = json!({"vectors": [{"id": "a", "values": [1.0, 2.0]}]}).to_string();
    for encoding in ["gzip", "GZip", "x-gzip"] {
        let (status, answer) = app
            .post_encoded(
                "/collections/c/upsert",
                encoding,
                gzip::gzip_stored(body.as_bytes()),
            )
            .await;
        assert_eq!(
            (status, answer),
            (StatusCode::OK, json!({"upserted": 1, "count": 1})),
            "{encoding}"
        );
    }
    let (status, answer) = app
        .post_encoded("/collections/c/upsert", "identity", body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    for encoding in ["br", "deflate", "zstd", "gzip, gzip", "compress"] {
        let (status, answer) = app
            .post_encoded("/collections/c/upsert", encoding, body.clone())
            .await;
        assert_eq!(
            (status, answer),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({
                    "error": format!(
                        "content-encoding {encoding:?} is not supported; send the body as gzip, identity"
                    ),
                    "field": "content-encoding"
                })
            )
        );
    }
    // Bytes that are not gzip under a gzip label: the body cannot be read.
    let (status, answer) = app
        .post_encoded("/collections/c/upsert", "gzip", body.clone())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "body", "{answer}");
    assert_eq!(app.count("c").await, 1);
}

#[tokio::test]
async fn the_body_limit_applies_to_the_decompressed_size() {
    let app = app_with_limit(1024).await;
    app.create("c", 1, "dot").await;
    let vectors: Vec<Value> = (0..200)
        .map(|i| json!({"id": format!("{i}"), "values": [1.0]}))
        .collect();
    let body = json!({ "vectors": vectors }).to_string();
    assert!(body.len() > 1024);
    let compressed = gzip::gzip_stored(body.as_bytes());
    let (status, answer) = app
        .post_encoded("/collections/c/upsert", "gzip", compressed)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(app.count("c").await, 0);
}

#[tokio::test]
async fn a_top_level_array_body_is_400_naming_it() {
    let app = app().await;
    app.create("c", 1, "dot").await;
    let (status, body) = app
        .post_raw("/collections/c/upsert", r#"[[{"id":"a","values":[1]}]]"#)
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "the request body must be a JSON object, got an array", "field": "body"})
        )
    );
    let (status, body) = app.post_raw("/collections", r#"["c2", 1, "dot"]"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(app.count("c").await, 0);
    let (status, _) = app.get("/collections/c2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_lone_surrogate_escape_is_400_explaining_it() {
    let app = app().await;
    app.create("c", 1, "dot").await;
    let (status, body) = app
        .post_raw(
            "/collections/c/upsert",
            r#"{"vectors":[{"id":"a\ud800","values":[1]}]}"#,
        )
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({
                "error": "invalid string escape \\ud800 at line 1 column 27: a UTF-16 surrogate \
                          must come as a pair, \\uD800-\\uDBFF followed by \\uDC00-\\uDFFF; alone \
                          it is not a character",
                "field": "vectors[0].id"
            })
        )
    );
    // A proper pair is one character.
    let (status, body) = app
        .post_raw(
            "/collections/c/upsert",
            r#"{"vectors":[{"id":"\ud83d\ude00","values":[1]}]}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_body_that_would_take_more_memory_parsed_than_the_limit_is_413_and_stores_nothing() {
    let limit = 4096;
    let app = app_with_limit(limit).await;
    let upsert_of = |dimension: usize| {
        let zeros = vec!["0"; dimension].join(",");
        format!(r#"{{"vectors":[{{"id":"a","values":[{zeros}]}}]}}"#)
    };
    // 1000 values are 2 bytes of JSON each and 4 bytes parsed: the body is under the limit,
    // what it becomes is not.
    app.create("wide", 1000, "dot").await;
    let body = upsert_of(1000);
    assert!(body.len() < limit);
    let (status, answer) = app.post_raw("/collections/wide/upsert", body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["field"], "body", "{answer}");
    let message = answer["error"].as_str().unwrap();
    assert!(message.contains("4096 bytes of memory parsed"), "{message}");
    assert_eq!(app.count("wide").await, 0);
    // Half as many fit.
    app.create("narrow", 500, "dot").await;
    let (status, answer) = app
        .post_raw("/collections/narrow/upsert", upsert_of(500))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(app.count("narrow").await, 1);
}

#[tokio::test]
async fn a_string_longer_than_any_field_takes_is_400_naming_the_field() {
    let app = app().await;
    app.create("c", 1, "dot").await;
    let id = "x".repeat(knn_server::json_body::MAX_STRING_TOKEN + 1);
    let (status, answer) = app
        .post_raw(
            "/collections/c/upsert",
            format!(r#"{{"vectors":[{{"id":"{id}","values":[1]}}]}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "vectors[0].id", "{answer}");
    assert_eq!(app.count("c").await, 0);
}
