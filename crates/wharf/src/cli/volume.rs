//! `volume create | ls | inspect | rm | prune`.

use std::io::BufRead;

use anyhow::bail;
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{Map, Value, json};

use super::client::{Client, Query, RequestBody};
use super::container::inspect_objects;
use super::create::filters_json;
use super::format::{OutputFormat, human_size};

/// `volume` subcommands.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

/// `volume create` flags.
#[derive(Debug, Args)]
pub struct VolumeCreateArgs {
    /// Specify volume name
    #[arg(long = "name")]
    pub name_flag: Option<String>,
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// [VOLUME]
    pub name: Option<String>,
}

/// `volume ls` flags.
#[derive(Debug, Args)]
pub struct VolumeLsArgs {
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

/// `volume inspect` flags.
#[derive(Debug, Args)]
pub struct VolumeInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// VOLUME...
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `volume rm` flags.
#[derive(Debug, Args)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    /// VOLUME...
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `volume prune` / `system prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long)]
    pub filter: Vec<String>,
}

/// Runs a `volume` subcommand.
pub async fn main(client: &Client, command: VolumeCommand) -> anyhow::Result<i32> {
    match command {
        VolumeCommand::Create(args) => create(client, args).await,
        VolumeCommand::Ls(args) => ls(client, args).await,
        VolumeCommand::Inspect(args) => {
            inspect_objects(
                client,
                &args.volumes,
                &["volume"],
                args.format.as_deref(),
                false,
            )
            .await
        }
        VolumeCommand::Rm(args) => rm(client, args).await,
        VolumeCommand::Prune(args) => prune(client, args).await,
    }
}

fn key_values(pairs: &[String], what: &str) -> anyhow::Result<Map<String, Value>> {
    let mut map = Map::new();
    for pair in pairs {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key.is_empty() {
            bail!("invalid {what} '{pair}': empty key");
        }
        map.insert(key.to_string(), json!(value));
    }
    Ok(map)
}

async fn create(client: &Client, args: VolumeCreateArgs) -> anyhow::Result<i32> {
    if let (Some(flag), Some(name)) = (&args.name_flag, &args.name) {
        if flag != name {
            bail!(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg"
            );
        }
    }
    let name = args.name.or(args.name_flag).unwrap_or_default();
    let body = json!({
        "Name": name,
        "Driver": args.driver,
        "DriverOpts": key_values(&args.opt, "option")?,
        "Labels": key_values(&args.label, "label")?,
    });
    let volume = client
        .json(
            Method::POST,
            "/volumes/create",
            &Query::new(),
            RequestBody::Json(body),
        )
        .await?;
    outln!("{}", volume["Name"].as_str().unwrap_or_default());
    Ok(0)
}

async fn ls(client: &Client, args: VolumeLsArgs) -> anyhow::Result<i32> {
    let query = Query::new().add_opt("filters", filters_json(&args.filter)?);
    let answer = client
        .json(Method::GET, "/volumes", &query, RequestBody::Empty)
        .await?;
    for warning in answer["Warnings"].as_array().into_iter().flatten() {
        if let Some(text) = warning.as_str() {
            eprintln!("WARNING: {text}");
        }
    }
    let mut volumes: Vec<&Value> = answer["Volumes"].as_array().into_iter().flatten().collect();
    volumes.sort_by_key(|v| v["Name"].as_str().unwrap_or_default().to_string());
    let rows: Vec<Value> = volumes
        .into_iter()
        .map(|v| {
            let mut labels: Vec<String> = v["Labels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            labels.sort();
            json!({
                "Name": v["Name"], "Driver": v["Driver"], "Scope": v["Scope"],
                "Mountpoint": v["Mountpoint"], "Labels": labels.join(","),
                "Size": v["UsageData"]["Size"].as_i64().filter(|s| *s >= 0)
                    .map_or("N/A".to_string(), |s| human_size(s as f64)),
                "Links": v["UsageData"]["RefCount"].as_i64().filter(|s| *s >= 0)
                    .map_or("N/A".to_string(), |s| s.to_string()),
            })
        })
        .collect();
    let format = match (&args.format, args.quiet) {
        (_, true) => "{{.Name}}".to_string(),
        (Some(format), false) if format != "table" => format.clone(),
        _ => "table {{.Driver}}\t{{.Name}}".to_string(),
    };
    let headers = json!({
        "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
        "Labels": "LABELS", "Size": "SIZE", "Links": "LINKS",
    });
    out!("{}", OutputFormat::parse(&format).render(&headers, &rows)?);
    Ok(0)
}

async fn rm(client: &Client, args: VolumeRmArgs) -> anyhow::Result<i32> {
    let query = Query::new().add_if(args.force, "force", 1);
    let mut code = 0;
    for volume in &args.volumes {
        match client
            .json(
                Method::DELETE,
                &format!("/volumes/{volume}"),
                &query,
                RequestBody::Empty,
            )
            .await
        {
            Ok(_) => outln!("{volume}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

/// Asks "Are you sure you want to continue? [y/N]" on stdin.
pub fn confirm(warning: &str) -> bool {
    eprint!("{warning}\nAre you sure you want to continue? [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `POST /volumes/prune`; returns the reclaimed bytes after printing the deleted names.
pub async fn prune_volumes(client: &Client, all: bool, filters: &[String]) -> anyhow::Result<u64> {
    let mut filters = filters.to_vec();
    if all && client.at_least("1.42") {
        filters.push("all=true".into());
    }
    let query = Query::new().add_opt("filters", filters_json(&filters)?);
    let report = client
        .json(Method::POST, "/volumes/prune", &query, RequestBody::Empty)
        .await?;
    super::system::print_ids("Deleted Volumes:", &report["VolumesDeleted"]);
    Ok(report["SpaceReclaimed"].as_u64().unwrap_or(0))
}

async fn prune(client: &Client, args: PruneArgs) -> anyhow::Result<i32> {
    let warning = if args.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !args.force && !confirm(warning) {
        return Ok(0);
    }
    let reclaimed = prune_volumes(client, args.all, &args.filter).await?;
    outln!(
        "Total reclaimed space: {}",
        super::format::human_size_4(reclaimed as f64)
    );
    Ok(0)
}
