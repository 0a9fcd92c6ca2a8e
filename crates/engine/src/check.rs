//! `wharf system check`: verifies a data root offline: every blob hashes to its name, every
//! image's manifest, config and layers are present, every container's record parses.

use std::path::Path;

use serde::Serialize;

/// What the check found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub blobs_verified: usize,
    pub images: usize,
    pub containers: usize,
    /// Problems that mean data is missing or corrupt.
    pub problems: Vec<String>,
    /// Harmless leftovers of an interrupted write (removed when the daemon starts).
    pub leftovers: Vec<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the stores under `data_root` without changing anything.
pub fn run(data_root: &Path) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let content = image::ContentStore::open(&data_root.join("content"))?;
    let check = content.check()?;
    report.blobs_verified = check.ok;
    for (name, actual) in &check.corrupt {
        report.problems.push(format!(
            "blob {name} is corrupt: its content hashes to {actual}"
        ));
    }
    for p in &check.stray {
        report
            .problems
            .push(format!("stray file in the blob store: {}", p.display()));
    }
    for p in &check.leftover_ingest {
        report
            .leftovers
            .push(format!("interrupted write: {}", p.display()));
    }
    let images = image::ImageStore::open(&data_root.join("image"), content.clone())?;
    for rec in images.list() {
        report.images += 1;
        let mut need = vec![
            ("manifest", rec.manifest.clone()),
            ("config", rec.id.clone()),
        ];
        need.extend(rec.layers.iter().map(|l| ("layer", l.digest.clone())));
        for (what, digest) in need {
            if !content.contains(&digest) {
                report
                    .problems
                    .push(format!("image {}: {what} blob {digest} is missing", rec.id));
            }
        }
    }
    let containers = data_root.join("containers");
    if let Ok(entries) = std::fs::read_dir(&containers) {
        for entry in entries.flatten() {
            let path = entry.path().join("config.v2.json");
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    serde_json::from_slice::<crate::container::Record>(&b)
                        .map_err(|e| e.to_string())
                }) {
                Ok(_) => report.containers += 1,
                Err(e) if path.exists() => report
                    .problems
                    .push(format!("container record {}: {e}", path.display())),
                Err(_) => report.leftovers.push(format!(
                    "container directory without a record: {}",
                    entry.path().display()
                )),
            }
        }
    }
    Ok(report)
}
