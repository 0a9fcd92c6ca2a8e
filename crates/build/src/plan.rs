//! Which stages a build runs, and in what order: the stage graph.
//!
//! A stage depends on another when its `FROM` names it, or a `COPY --from`/`ADD --from` or
//! `RUN --mount=…,from=` names it (by name or index). Only the stages the target needs are
//! built; stages that do not depend on each other run at the same time.

use std::collections::BTreeSet;

use crate::dockerfile::{Dockerfile, Kind, expand_word};
use crate::error::BuildError;

/// What a stage's `FROM` starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: no layers, an empty config.
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image, by reference (expanded).
    Image(String),
}

/// One stage of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageNode {
    /// Index in the Dockerfile.
    pub index: usize,
    /// The name used in progress output: `AS` name, else the index as `stage-N`.
    pub label: String,
    /// What it starts from.
    pub base: Base,
    /// Stages it needs (its base and every `--from` that names a stage).
    pub deps: BTreeSet<usize>,
}

/// The stages a build runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// Every stage of the Dockerfile, in order.
    pub stages: Vec<StageNode>,
    /// The target stage (the last, or `--target`).
    pub target: usize,
    /// The stages the target needs, itself included, in file order.
    pub needed: Vec<usize>,
}

/// Finds a stage by name (case-insensitive) or index among the first `before` stages.
pub fn find_stage(df: &Dockerfile, name: &str, before: usize) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    if let Some(i) = df.stages[..before]
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return Some(i);
    }
    match name.parse::<usize>() {
        Ok(i) if i < before => Some(i),
        _ => None,
    }
}

/// A stage name or index that names a stage later in the file (or itself): Docker refuses it.
fn names_later_stage(df: &Dockerfile, name: &str, from: usize) -> bool {
    let lower = name.to_ascii_lowercase();
    df.stages[from..]
        .iter()
        .any(|s| s.name.as_deref() == Some(lower.as_str()))
}

impl Graph {
    /// Builds the graph. `lookup` gives the values of the meta `ARG`s (and build args) for
    /// expanding `FROM` lines and `--from` values.
    pub fn new(
        df: &Dockerfile,
        target: Option<&str>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Graph, BuildError> {
        if df.stages.is_empty() {
            return Err(BuildError::invalid(
                "dockerfile parse error: no build stage in current context",
            ));
        }
        let mut stages = Vec::with_capacity(df.stages.len());
        for (i, s) in df.stages.iter().enumerate() {
            let expanded = expand_word(&s.base, df.escape, lookup).map_err(|e| {
                BuildError::invalid(format!(
                    "dockerfile parse error on line {}: {}",
                    s.line, e.message
                ))
            })?;
            if expanded.is_empty() {
                return Err(BuildError::invalid(format!(
                    "dockerfile parse error on line {}: base name ({}) should not be blank",
                    s.line, s.base
                )));
            }
            let mut deps = BTreeSet::new();
            let base = if expanded.eq_ignore_ascii_case("scratch") {
                Base::Scratch
            } else if let Some(j) = find_stage(df, &expanded, i) {
                // An index is not a valid FROM: only names refer to stages there.
                if df.stages[j].name.as_deref() == Some(expanded.to_ascii_lowercase().as_str()) {
                    deps.insert(j);
                    Base::Stage(j)
                } else {
                    Base::Image(expanded)
                }
            } else {
                Base::Image(expanded)
            };
            for ins in &s.instructions {
                let from = match &ins.kind {
                    Kind::Copy(c) | Kind::Add(c) => c.from.clone(),
                    Kind::Run(r) => r.mounts.iter().find_map(|m| mount_from(m)),
                    _ => None,
                };
                let Some(from) = from else { continue };
                let from = expand_word(&from, df.escape, lookup).map_err(|e| {
                    BuildError::invalid(format!(
                        "dockerfile parse error on line {}: {}",
                        ins.line, e.message
                    ))
                })?;
                if let Some(j) = find_stage(df, &from, i) {
                    deps.insert(j);
                } else if names_later_stage(df, &from, i) {
                    return Err(BuildError::invalid(format!(
                        "dockerfile parse error on line {}: circular dependency detected on stage: {}",
                        ins.line,
                        df.stages[i].name.clone().unwrap_or_else(|| i.to_string())
                    )));
                }
            }
            stages.push(StageNode {
                index: i,
                label: s.name.clone().unwrap_or_else(|| format!("stage-{i}")),
                base,
                deps,
            });
        }
        let target = match target {
            None | Some("") => df.stages.len() - 1,
            Some(t) => {
                let lower = t.to_ascii_lowercase();
                df.stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(lower.as_str()))
                    .ok_or_else(|| {
                        BuildError::invalid(format!(
                            "failed to reach build target {t} in Dockerfile"
                        ))
                    })?
            }
        };
        // Dependencies always point to earlier stages, so the graph has no cycle.
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if needed.insert(i) {
                todo.extend(stages[i].deps.iter().copied());
            }
        }
        Ok(Graph {
            stages,
            target,
            needed: needed.into_iter().collect(),
        })
    }
}

/// The `from=` of a `RUN --mount` value.
pub fn mount_from(mount: &str) -> Option<String> {
    mount.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == "from").then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    fn graph(text: &str, target: Option<&str>) -> Result<Graph, BuildError> {
        let df = parse(text).map_err(|e| BuildError::invalid(e.to_string()))?;
        Graph::new(&df, target, &|k| {
            (k == "BASE").then(|| "busybox".to_string())
        })
    }

    #[test]
    fn only_the_stages_the_target_needs() {
        let g = graph(
            "FROM busybox AS a\nRUN true\nFROM busybox AS b\nRUN true\nFROM a AS c\nCOPY --from=1 /x /x\nFROM busybox AS unused\n",
            Some("c"),
        )
        .expect("graph");
        assert_eq!(g.target, 2);
        assert_eq!(g.needed, vec![0, 1, 2]);
        assert_eq!(g.stages[2].base, Base::Stage(0));
        assert_eq!(g.stages[3].base, Base::Image("busybox".into()));
        let g = graph("FROM busybox AS a\nFROM scratch\n", None).expect("graph");
        assert_eq!(g.needed, vec![1]);
        assert_eq!(g.stages[1].base, Base::Scratch);
        assert_eq!(g.stages[1].label, "stage-1");
    }

    #[test]
    fn meta_args_in_from_and_errors() {
        let g = graph("ARG BASE\nFROM $BASE\n", None).expect("graph");
        assert_eq!(g.stages[0].base, Base::Image("busybox".into()));
        let e = graph("FROM busybox AS a\nFROM busybox\n", Some("nope")).expect_err("target");
        assert_eq!(
            e.to_string(),
            "failed to reach build target nope in Dockerfile"
        );
        let e = graph(
            "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /x /x\n",
            None,
        )
        .expect_err("cycle");
        assert!(e.to_string().contains("circular dependency"), "{e}");
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn run_mount_from_is_a_dependency() {
        let g = graph(
            "FROM busybox AS tools\nFROM busybox\nRUN --mount=type=bind,from=tools,target=/t true\n",
            None,
        )
        .expect("graph");
        assert_eq!(g.needed, vec![0, 1]);
    }
}
