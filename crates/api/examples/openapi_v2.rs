//! Builds the `/openapi/v2` document of the built-in kinds and prints how big it is and how
//! long building it takes (the server builds it once per schema change and caches it).
//!
//! `cargo run --release -p api --example openapi_v2 [OUT.pb [OUT.json]]` also writes the
//! protobuf (and the JSON) for manual checks with kubectl against a fake server.

use std::time::Instant;

use api::resource;
use api::schema::{builtin, openapi_v2};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let t0 = Instant::now();
    let schemas = builtin::builtin();
    let t_schemas = t0.elapsed();
    let resources = resource::builtin();
    let mut json_times = Vec::new();
    let mut pb_times = Vec::new();
    let mut doc = serde_json::Value::Null;
    let mut pb = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        doc = openapi_v2::document_json(schemas, &resources);
        json_times.push(t.elapsed());
        let t = Instant::now();
        pb = openapi_v2::document_protobuf(&doc);
        pb_times.push(t.elapsed());
    }
    json_times.sort();
    pb_times.sort();
    let json_text = doc.to_string();
    println!(
        "definitions: {}, paths: {}",
        doc["definitions"].as_object().map_or(0, |d| d.len()),
        doc["paths"].as_object().map_or(0, |p| p.len())
    );
    println!("builtin schemas (first call, generated): {t_schemas:?}");
    println!(
        "document_json: median {:?} (min {:?}); JSON text {} bytes",
        json_times[2],
        json_times[0],
        json_text.len()
    );
    println!(
        "document_protobuf: median {:?} (min {:?}); {} bytes",
        pb_times[2],
        pb_times[0],
        pb.len()
    );
    if let Some(out) = args.first() {
        std::fs::write(out, &pb)?;
    }
    if let Some(out) = args.get(1) {
        std::fs::write(out, &json_text)?;
    }
    Ok(())
}
