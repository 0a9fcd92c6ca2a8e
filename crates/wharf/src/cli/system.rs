//! `system df | prune | info`, `version`, `info`.

use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::Value;

use super::client::{API_VERSION, Client, Query, RequestBody};
use super::create::filters_json;
use super::format::{Template, bytes_size, human_size_4, tabulate};
use super::image::print_deleted;
use super::volume::{confirm, prune_volumes};

/// `system` subcommands.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show docker disk usage
    Df(DfArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Verify the daemon's stores offline: every blob against its digest, every image's
    /// blobs present, every container record readable
    Check(CheckArgs),
}

/// `system check` flags.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The daemon's --data-root
    #[arg(long = "data-root", default_value = "/var/lib/wharf")]
    pub data_root: std::path::PathBuf,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

/// `system check`: exit 0 when the stores are whole, 1 when data is missing or corrupt.
pub fn check(args: CheckArgs) -> anyhow::Result<i32> {
    let report = engine::check::run(&args.data_root)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} blobs verified, {} images, {} containers",
            report.blobs_verified, report.images, report.containers
        );
        for p in &report.problems {
            println!("problem: {p}");
        }
        for l in &report.leftovers {
            println!("leftover: {l}");
        }
    }
    Ok(if report.is_clean() { 0 } else { 1 })
}

/// `system df` flags.
#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// `system prune` flags.
#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long)]
    pub filter: Vec<String>,
}

/// `info` flags.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// `version` flags.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// Runs a `system` subcommand.
pub async fn main(client: &Client, command: SystemCommand) -> anyhow::Result<i32> {
    match command {
        SystemCommand::Df(args) => df(client, args).await,
        SystemCommand::Prune(args) => prune(client, args).await,
        SystemCommand::Info(args) => info(client, args).await,
        SystemCommand::Check(args) => check(args),
    }
}

/// A prune report's list of ids under its title, as docker prints it (nothing when empty).
pub(crate) fn print_ids(title: &str, ids: &Value) {
    let ids: Vec<&str> = ids
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !ids.is_empty() {
        outln!("{title}");
        ids.iter().for_each(|id| outln!("{id}"));
        outln!();
    }
}

fn reclaimable(reclaimable: i64, total: i64) -> String {
    let reclaimable = reclaimable.max(0);
    if total > 0 {
        format!(
            "{} ({}%)",
            human_size_4(reclaimable as f64),
            reclaimable * 100 / total
        )
    } else {
        human_size_4(reclaimable as f64)
    }
}

/// The `system df` summary rows, computed as docker's disk-usage formatter does.
pub fn df_lines(usage: &Value) -> Vec<String> {
    let list = |key: &str| usage[key].as_array().cloned().unwrap_or_default();
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let mut lines = vec!["TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_string()];

    let images = list("Images");
    let layers = int(&usage["LayersSize"]);
    let active = images.iter().filter(|i| int(&i["Containers"]) > 0).count();
    let used: i64 = images
        .iter()
        .filter(|i| int(&i["Containers"]) > 0)
        .filter(|i| int(&i["Size"]) >= 0 && int(&i["SharedSize"]) >= 0)
        .map(|i| int(&i["Size"]) - int(&i["SharedSize"]))
        .sum();
    lines.push(format!(
        "Images\t{}\t{active}\t{}\t{}",
        images.len(),
        human_size_4(layers as f64),
        reclaimable(layers - used, layers)
    ));

    let containers = list("Containers");
    let running = |c: &Value| {
        matches!(
            c["State"].as_str(),
            Some("running" | "paused" | "restarting")
        )
    };
    let size: i64 = containers.iter().map(|c| int(&c["SizeRw"]).max(0)).sum();
    let idle: i64 = containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| int(&c["SizeRw"]).max(0))
        .sum();
    lines.push(format!(
        "Containers\t{}\t{}\t{}\t{}",
        containers.len(),
        containers.iter().filter(|c| running(c)).count(),
        human_size_4(size as f64),
        reclaimable(idle, size)
    ));

    let volumes = list("Volumes");
    let volume_size = |v: &Value| int(&v["UsageData"]["Size"]).max(0);
    let in_use = |v: &Value| int(&v["UsageData"]["RefCount"]) > 0;
    let size: i64 = volumes.iter().map(volume_size).sum();
    let idle: i64 = volumes.iter().filter(|v| !in_use(v)).map(volume_size).sum();
    lines.push(format!(
        "Local Volumes\t{}\t{}\t{}\t{}",
        volumes.len(),
        volumes.iter().filter(|v| in_use(v)).count(),
        human_size_4(size as f64),
        reclaimable(idle, size)
    ));

    let cache = list("BuildCache");
    let size: i64 = cache
        .iter()
        .filter(|c| c["Shared"] != true)
        .map(|c| int(&c["Size"]))
        .sum();
    let idle: i64 = cache
        .iter()
        .filter(|c| c["InUse"] != true && c["Shared"] != true)
        .map(|c| int(&c["Size"]))
        .sum();
    lines.push(format!(
        "Build Cache\t{}\t{}\t{}\t{}",
        cache.len(),
        cache.iter().filter(|c| c["InUse"] == true).count(),
        human_size_4(size as f64),
        human_size_4(idle as f64)
    ));
    lines
}

async fn df(client: &Client, args: DfArgs) -> anyhow::Result<i32> {
    let usage = client
        .json(Method::GET, "/system/df", &Query::new(), RequestBody::Empty)
        .await?;
    out!("{}", tabulate(&df_lines(&usage)));
    if args.verbose {
        outln!();
        outln!("Images space usage:");
        outln!();
        let mut lines = vec![
            "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"
                .to_string(),
        ];
        for image in usage["Images"].as_array().into_iter().flatten() {
            for row in super::image::image_rows(image, true) {
                let text = |k: &str| row[k].as_str().unwrap_or_default().to_string();
                lines.push(format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    text("Repository"),
                    text("Tag"),
                    text("ID"),
                    text("CreatedSince"),
                    text("Size"),
                    text("SharedSize"),
                    text("UniqueSize"),
                    text("Containers")
                ));
            }
        }
        out!("{}", tabulate(&lines));
    }
    Ok(0)
}

/// Prunes through an endpoint the daemon may lack (networks, build cache): a 404 means there
/// is nothing of that kind to prune.
async fn optional_prune(
    client: &Client,
    path: &str,
    query: &Query,
) -> anyhow::Result<Option<Value>> {
    match client
        .json(Method::POST, path, query, RequestBody::Empty)
        .await
    {
        Ok(report) => Ok(Some(report)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn prune(client: &Client, args: SystemPruneArgs) -> anyhow::Result<i32> {
    if !args.force {
        let mut warning = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if args.volumes {
            warning.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        warning.push_str(if args.all {
            "  - all images without at least one container associated to them\n"
        } else {
            "  - all dangling images\n"
        });
        warning.push_str("  - unused build cache\n");
        if !confirm(&warning) {
            return Ok(0);
        }
    }
    let query = Query::new().add_opt("filters", filters_json(&args.filter)?);
    let mut reclaimed = 0u64;

    let report = client
        .json(
            Method::POST,
            "/containers/prune",
            &query,
            RequestBody::Empty,
        )
        .await?;
    print_ids("Deleted Containers:", &report["ContainersDeleted"]);
    reclaimed += report["SpaceReclaimed"].as_u64().unwrap_or(0);

    if let Some(report) = optional_prune(client, "/networks/prune", &query).await? {
        print_ids("Deleted Networks:", &report["NetworksDeleted"]);
    }

    if args.volumes {
        reclaimed += prune_volumes(client, false, &args.filter).await?;
    }

    let mut image_filters = args.filter.clone();
    image_filters.push(format!("dangling={}", !args.all));
    let image_query = Query::new().add_opt("filters", filters_json(&image_filters)?);
    let report = client
        .json(
            Method::POST,
            "/images/prune",
            &image_query,
            RequestBody::Empty,
        )
        .await?;
    if report["ImagesDeleted"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
    {
        outln!("Deleted Images:");
        print_deleted(&report["ImagesDeleted"]);
        outln!();
    }
    reclaimed += report["SpaceReclaimed"].as_u64().unwrap_or(0);

    if let Some(report) = optional_prune(client, "/build/prune", &Query::new()).await? {
        print_ids("Deleted build cache objects:", &report["CachesDeleted"]);
        reclaimed += report["SpaceReclaimed"].as_u64().unwrap_or(0);
    }
    outln!("Total reclaimed space: {}", human_size_4(reclaimed as f64));
    Ok(0)
}

/// One `Label:   value` line of `version`/`info`, values aligned at column 20 like docker's.
fn field(indent: usize, label: &str, value: impl std::fmt::Display) -> String {
    let left = format!("{}{label}:", " ".repeat(indent));
    format!("{left:<20}{value}")
}

/// `version`.
pub async fn version(client: Option<&Client>, args: VersionArgs) -> anyhow::Result<i32> {
    let server = match client {
        Some(client) => Some(
            client
                .json(Method::GET, "/version", &Query::new(), RequestBody::Empty)
                .await?,
        ),
        None => None,
    };
    if let Some(format) = &args.format {
        let data = serde_json::json!({
            "Client": {"Version": env!("CARGO_PKG_VERSION"), "ApiVersion": client.map_or(API_VERSION, Client::version), "Os": std::env::consts::OS, "Arch": std::env::consts::ARCH},
            "Server": server.clone().unwrap_or(Value::Null),
        });
        outln!(
            "{}",
            Template::parse(&super::format::OutputFormat::parse(format).template)?.render(&data)?
        );
        return Ok(0);
    }
    let api = match client {
        Some(c) if c.version() != API_VERSION => {
            format!("{} (downgraded from {API_VERSION})", c.version())
        }
        _ => API_VERSION.to_string(),
    };
    outln!("Client:");
    outln!("{}", field(1, "Version", env!("CARGO_PKG_VERSION")));
    outln!("{}", field(1, "API version", api));
    outln!(
        "{}",
        field(
            1,
            "OS/Arch",
            format!("{}/{}", std::env::consts::OS, goarch())
        )
    );
    outln!("{}", field(1, "Context", "default"));
    let Some(server) = server else { return Ok(0) };
    outln!();
    let platform = server["Platform"]["Name"].as_str().unwrap_or_default();
    outln!("Server: {platform}");
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    outln!(" Engine:");
    outln!("{}", field(2, "Version", text(&server["Version"])));
    outln!(
        "{}",
        field(
            2,
            "API version",
            format!(
                "{} (minimum version {})",
                text(&server["ApiVersion"]),
                text(&server["MinAPIVersion"])
            )
        )
    );
    if !text(&server["GoVersion"]).is_empty() {
        outln!("{}", field(2, "Go version", text(&server["GoVersion"])));
    }
    outln!("{}", field(2, "Git commit", text(&server["GitCommit"])));
    outln!("{}", field(2, "Built", text(&server["BuildTime"])));
    outln!(
        "{}",
        field(
            2,
            "OS/Arch",
            format!("{}/{}", text(&server["Os"]), text(&server["Arch"]))
        )
    );
    outln!(
        "{}",
        field(
            2,
            "Experimental",
            server["Experimental"].as_bool().unwrap_or(false)
        )
    );
    for component in server["Components"].as_array().into_iter().flatten() {
        let name = text(&component["Name"]);
        if name == "Engine" {
            continue;
        }
        outln!(" {name}:");
        outln!("{}", field(2, "Version", text(&component["Version"])));
        for (key, value) in component["Details"].as_object().into_iter().flatten() {
            outln!("{}", field(2, key, text(value)));
        }
    }
    Ok(0)
}

fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `info`.
pub async fn info(client: &Client, args: InfoArgs) -> anyhow::Result<i32> {
    let info = client
        .json(Method::GET, "/info", &Query::new(), RequestBody::Empty)
        .await?;
    if let Some(format) = &args.format {
        let template = Template::parse(&super::format::OutputFormat::parse(format).template)?;
        outln!("{}", template.render(&info)?);
        return Ok(0);
    }
    let text = |key: &str| match &info[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    outln!("Client:");
    outln!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    outln!(" Context:    default");
    outln!();
    outln!("Server:");
    outln!(" Containers: {}", text("Containers"));
    outln!("  Running: {}", text("ContainersRunning"));
    outln!("  Paused: {}", text("ContainersPaused"));
    outln!("  Stopped: {}", text("ContainersStopped"));
    outln!(" Images: {}", text("Images"));
    outln!(" Server Version: {}", text("ServerVersion"));
    outln!(" Storage Driver: {}", text("Driver"));
    for pair in info["DriverStatus"].as_array().into_iter().flatten() {
        if let [key, value] = pair.as_array().map(Vec::as_slice).unwrap_or_default() {
            outln!(
                "  {}: {}",
                key.as_str().unwrap_or_default(),
                value.as_str().unwrap_or_default()
            );
        }
    }
    outln!(" Logging Driver: {}", text("LoggingDriver"));
    outln!(" Cgroup Driver: {}", text("CgroupDriver"));
    outln!(" Cgroup Version: {}", text("CgroupVersion"));
    outln!(" Kernel Version: {}", text("KernelVersion"));
    outln!(" Operating System: {}", text("OperatingSystem"));
    outln!(" OSType: {}", text("OSType"));
    outln!(" Architecture: {}", text("Architecture"));
    outln!(" CPUs: {}", text("NCPU"));
    outln!(
        " Total Memory: {}",
        bytes_size(info["MemTotal"].as_f64().unwrap_or(0.0))
    );
    outln!(" Name: {}", text("Name"));
    outln!(" ID: {}", text("ID"));
    outln!(" Docker Root Dir: {}", text("DockerRootDir"));
    outln!(" Debug Mode: {}", info["Debug"].as_bool().unwrap_or(false));
    outln!(
        " Experimental: {}",
        info["ExperimentalBuild"].as_bool().unwrap_or(false)
    );
    outln!(
        " Live Restore Enabled: {}",
        info["LiveRestoreEnabled"].as_bool().unwrap_or(false)
    );
    for warning in info["Warnings"].as_array().into_iter().flatten() {
        eprintln!("{}", warning.as_str().unwrap_or_default());
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn df_summarises_like_docker() {
        let usage = json!({
            "LayersSize": 4_000_000,
            "Images": [{"Containers": 1, "Size": 4_000_000, "SharedSize": 0}, {"Containers": 0, "Size": 10, "SharedSize": 0}],
            "Containers": [{"State": "running", "SizeRw": 100}, {"State": "exited", "SizeRw": 300}],
            "Volumes": [{"UsageData": {"Size": 2000, "RefCount": 0}}, {"UsageData": {"Size": -1, "RefCount": 1}}],
            "BuildCache": [],
        });
        let out = tabulate(&df_lines(&usage));
        let expected = "\
TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE
Images          2         1         4MB       0B (0%)
Containers      2         1         400B      300B (75%)
Local Volumes   2         1         2kB       2kB (100%)
Build Cache     0         0         0B        0B
";
        assert_eq!(out, expected);
    }

    #[test]
    fn fields_align_at_column_twenty() {
        assert_eq!(field(1, "Version", "28.2.2"), " Version:           28.2.2");
        assert_eq!(field(2, "API version", "1.41"), "  API version:      1.41");
    }
}
