//! Image commands: images, pull, rmi, tag, import, save, load, history, and the reference
//! normalisation docker applies before it talks to the daemon.

use anyhow::{Context, bail};
use clap::Args;
use hyper::Method;
use serde_json::{Value, json};

use super::client::{Client, Query, RequestBody};
use super::container::{inspect_objects, save_body};
use super::format::{OutputFormat, ago, ellipsis, human_size, truncate_id};
use super::progress::{self, Output};
use super::tty;

/// An image reference as docker normalises it: `busybox` is `docker.io/library/busybox`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The full repository name (`docker.io/library/busybox`, `localhost:5000/x`).
    pub name: String,
    /// The tag, if one was given.
    pub tag: Option<String>,
    /// The digest (`sha256:…`), if one was given.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `[domain/]path[:tag][@digest]`.
    pub fn parse(text: &str) -> Self {
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.to_string())),
            None => (text, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag.to_string())),
            _ => (rest, None),
        };
        let name = match name.split_once('/') {
            Some((first, _))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                name.to_string()
            }
            Some(_) => format!("docker.io/{name}"),
            None => format!("docker.io/library/{name}"),
        };
        ImageRef { name, tag, digest }
    }

    /// The name without `docker.io/` and `library/` (`busybox`).
    pub fn familiar_name(&self) -> String {
        let name = self.name.strip_prefix("docker.io/").unwrap_or(&self.name);
        name.strip_prefix("library/").unwrap_or(name).to_string()
    }

    /// `busybox:latest` (or `busybox@sha256:…`), as docker's messages name an image.
    pub fn familiar(&self) -> String {
        match &self.digest {
            Some(digest) => format!("{}@{digest}", self.familiar_name()),
            None => format!(
                "{}:{}",
                self.familiar_name(),
                self.tag.as_deref().unwrap_or("latest")
            ),
        }
    }

    /// `docker.io/library/busybox:latest`.
    pub fn full(&self) -> String {
        match &self.digest {
            Some(digest) => format!("{}@{digest}", self.name),
            None => format!("{}:{}", self.name, self.tag.as_deref().unwrap_or("latest")),
        }
    }

    /// The query of `POST /images/create` for a pull.
    pub fn pull_query(&self) -> Query {
        let tag = self
            .digest
            .clone()
            .or_else(|| self.tag.clone())
            .unwrap_or_else(|| "latest".into());
        Query::new().add("fromImage", &self.name).add("tag", tag)
    }
}

/// Pulls an image, showing the progress stream on `output`.
pub async fn pull_image(
    client: &Client,
    reference: &ImageRef,
    output: Output,
    terminal: bool,
) -> anyhow::Result<()> {
    let response = client
        .request(
            Method::POST,
            "/images/create",
            &reference.pull_query(),
            RequestBody::Empty,
            &[("x-registry-auth", "e30=")],
        )
        .await?;
    progress::display(response, output, terminal).await?;
    Ok(())
}

/// `pull` flags.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// NAME[:TAG|@DIGEST]
    pub image: String,
}

/// `pull`.
pub async fn pull(client: &Client, args: PullArgs) -> anyhow::Result<i32> {
    let reference = ImageRef::parse(&args.image);
    let mut query = reference.pull_query();
    if let Some(platform) = &args.platform {
        query = query.add("platform", platform);
    }
    let response = client
        .request(
            Method::POST,
            "/images/create",
            &query,
            RequestBody::Empty,
            &[("x-registry-auth", "e30=")],
        )
        .await?;
    if args.quiet {
        let mut stream = super::client::JsonStream::new(response);
        while let Some(message) = stream.next().await? {
            if let Some(error) = progress::message_error(&message) {
                bail!(error);
            }
        }
    } else {
        progress::display(response, Output::Stdout, tty::stdout_is_terminal()).await?;
    }
    outln!("{}", reference.full());
    Ok(0)
}

/// `images` flags.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

/// `images`.
pub async fn images(client: &Client, args: ImagesArgs) -> anyhow::Result<i32> {
    let mut filters = args.filter.clone();
    if let Some(reference) = &args.reference {
        filters.push(format!("reference={reference}"));
    }
    let query = Query::new()
        .add_if(args.all, "all", 1)
        .add_opt("filters", super::create::filters_json(&filters)?);
    let list = client
        .json(Method::GET, "/images/json", &query, RequestBody::Empty)
        .await?;
    let mut images: Vec<&Value> = list.as_array().into_iter().flatten().collect();
    images.sort_by_key(|i| std::cmp::Reverse(i["Created"].as_i64().unwrap_or(0)));
    let rows: Vec<Value> = images
        .into_iter()
        .flat_map(|image| image_rows(image, !args.no_trunc))
        .collect();
    let format = match (&args.format, args.quiet) {
        (_, true) => "{{.ID}}".to_string(),
        (Some(format), false) if format != "table" => format.clone(),
        _ if args.digests => {
            "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
                .into()
        }
        _ => "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into(),
    };
    let headers = json!({
        "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
        "CreatedAt": "CREATED AT", "Size": "SIZE", "Digest": "DIGEST", "Containers": "CONTAINERS",
        "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "SIZE",
    });
    out!("{}", OutputFormat::parse(&format).render(&headers, &rows)?);
    Ok(0)
}

/// One row per tag of an image (one `<none>` row for an untagged one).
pub fn image_rows(image: &Value, trunc: bool) -> Vec<Value> {
    let id = image["Id"].as_str().unwrap_or_default();
    let id = if trunc {
        truncate_id(id)
    } else {
        id.to_string()
    };
    let created = image["Created"].as_i64().unwrap_or(0);
    let size = human_size(image["Size"].as_f64().unwrap_or(0.0));
    let digests: Vec<&str> = image["RepoDigests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|d| *d != "<none>@<none>")
        .collect();
    let digest_of = |repo: &str| {
        digests
            .iter()
            .find_map(|d| {
                d.split_once('@')
                    .filter(|(r, _)| *r == repo)
                    .map(|(_, d)| d)
            })
            .unwrap_or("<none>")
            .to_string()
    };
    let mut tags: Vec<(String, String)> = image["RepoTags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|t| *t != "<none>:<none>")
        .map(|t| match t.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
            _ => (t.to_string(), "<none>".to_string()),
        })
        .collect();
    if tags.is_empty() {
        let repo = digests
            .first()
            .and_then(|d| d.split_once('@'))
            .map_or("<none>", |(r, _)| r);
        tags.push((repo.to_string(), "<none>".to_string()));
    }
    tags.into_iter()
        .map(|(repository, tag)| {
            json!({
                "Repository": repository,
                "Tag": tag,
                "ID": id,
                "Digest": digest_of(&repository),
                "CreatedSince": ago(created),
                "CreatedAt": chrono::DateTime::from_timestamp(created, 0)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
                    .unwrap_or_default(),
                "Size": size,
                "VirtualSize": size,
                "Containers": image["Containers"].as_i64().filter(|c| *c >= 0).map_or("N/A".to_string(), |c| c.to_string()),
                "SharedSize": image["SharedSize"].as_i64().filter(|s| *s >= 0).map_or("N/A".to_string(), |s| human_size(s as f64)),
                "UniqueSize": match (image["Size"].as_i64(), image["SharedSize"].as_i64()) {
                    (Some(size), Some(shared)) if shared >= 0 => human_size((size - shared) as f64),
                    _ => "N/A".to_string(),
                },
            })
        })
        .collect()
}

/// `rmi` flags.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// IMAGE...
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `rmi`: prints `Untagged:` and `Deleted:` lines.
pub async fn rmi(client: &Client, args: RmiArgs) -> anyhow::Result<i32> {
    let query = Query::new()
        .add_if(args.force, "force", 1)
        .add_if(args.no_prune, "noprune", 1);
    let mut code = 0;
    for image in &args.images {
        match client
            .json(
                Method::DELETE,
                &format!("/images/{image}"),
                &query,
                RequestBody::Empty,
            )
            .await
        {
            Ok(items) => print_deleted(&items),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

/// Prints a `DELETE /images` answer (`[{"Untagged"}, {"Deleted"}]`).
pub fn print_deleted(items: &Value) {
    for item in items.as_array().into_iter().flatten() {
        if let Some(tag) = item["Untagged"].as_str() {
            outln!("Untagged: {tag}");
        }
        if let Some(id) = item["Deleted"].as_str() {
            outln!("Deleted: {id}");
        }
    }
}

/// `tag` arguments.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

/// `tag`.
pub async fn tag(client: &Client, args: TagArgs) -> anyhow::Result<i32> {
    let target = ImageRef::parse(&args.target);
    if target.digest.is_some() {
        bail!("refusing to create a tag with a digest reference");
    }
    let query = Query::new()
        .add("repo", &target.name)
        .add("tag", target.tag.as_deref().unwrap_or("latest"));
    client
        .json(
            Method::POST,
            &format!("/images/{}/tag", args.source),
            &query,
            RequestBody::Empty,
        )
        .await?;
    Ok(0)
}

/// `import` flags.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long)]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// file|URL|- : a tar archive of a root filesystem
    pub source: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

/// `import`: sends the tar (a file or stdin) to `POST /images/create?fromSrc=-`.
pub async fn import(client: &Client, args: ImportArgs) -> anyhow::Result<i32> {
    let remote = args.source.starts_with("http://") || args.source.starts_with("https://");
    let body = if args.source == "-" {
        RequestBody::Reader(Box::new(tokio::io::stdin()), "application/x-tar")
    } else if remote {
        RequestBody::Empty
    } else {
        let file = tokio::fs::File::open(&args.source)
            .await
            .with_context(|| format!("open {}", args.source))?;
        RequestBody::Reader(Box::new(file), "application/x-tar")
    };
    let mut query = Query::new()
        .add("fromSrc", if remote { args.source.as_str() } else { "-" })
        .add("message", args.message.as_deref().unwrap_or_default())
        .add("repo", args.reference.as_deref().unwrap_or_default())
        .add("tag", "")
        .add_opt("platform", args.platform.as_deref());
    for change in &args.change {
        query = query.add("changes", change);
    }
    let response = client
        .request(Method::POST, "/images/create", &query, body, &[])
        .await?;
    progress::display(response, Output::Stdout, tty::stdout_is_terminal()).await?;
    Ok(0)
}

/// `save` flags.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// IMAGE...
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `save`: the images as a docker-archive tar.
pub async fn save(client: &Client, args: SaveArgs) -> anyhow::Result<i32> {
    if args.output.is_none() && tty::stdout_is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let mut query = Query::new();
    for image in &args.images {
        query = query.add("names", image);
    }
    let response = client
        .request(Method::GET, "/images/get", &query, RequestBody::Empty, &[])
        .await?;
    save_body(response, args.output.as_deref()).await?;
    Ok(0)
}

/// `load` flags.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `load`: prints "Loaded image: …".
pub async fn load(client: &Client, args: LoadArgs) -> anyhow::Result<i32> {
    let body: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match &args.input {
        Some(path) if path != "-" => Box::new(
            tokio::fs::File::open(path)
                .await
                .with_context(|| format!("open {path}"))?,
        ),
        _ => {
            if tty::stdin_is_terminal() {
                bail!("requested load from stdin, but stdin is empty; use -i to load from a file");
            }
            Box::new(tokio::io::stdin())
        }
    };
    let quiet = args.quiet || !tty::stdout_is_terminal();
    let response = client
        .request(
            Method::POST,
            "/images/load",
            // dockerd's default is quiet: ask for progress explicitly, as docker does.
            &Query::new().add("quiet", if quiet { 1 } else { 0 }),
            RequestBody::Reader(body, "application/x-tar"),
            &[],
        )
        .await?;
    let is_json = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        progress::display(response, Output::Stdout, tty::stdout_is_terminal()).await?;
    } else {
        save_body(response, None).await?;
    }
    Ok(0)
}

/// `history` flags.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    /// (docker's `-H` short form is taken by the global `-H/--host` here)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// IMAGE
    pub image: String,
}

/// `history`.
pub async fn history(client: &Client, args: HistoryArgs) -> anyhow::Result<i32> {
    let layers = client
        .json(
            Method::GET,
            &format!("/images/{}/history", args.image),
            &Query::new(),
            RequestBody::Empty,
        )
        .await?;
    let trunc = !args.no_trunc;
    let mut lines = vec!["IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT".to_string()];
    for layer in layers.as_array().into_iter().flatten() {
        let id = layer["Id"].as_str().unwrap_or("<missing>");
        let id = if id == "<missing>" || !trunc {
            id.to_string()
        } else {
            truncate_id(id)
        };
        if args.quiet {
            outln!("{id}");
            continue;
        }
        let created_at = layer["Created"].as_i64().unwrap_or(0);
        let created = if args.human {
            ago(created_at)
        } else {
            chrono::DateTime::from_timestamp(created_at, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        };
        let by = layer["CreatedBy"]
            .as_str()
            .unwrap_or_default()
            .replace('\t', " ");
        let by = if trunc { ellipsis(&by, 45) } else { by };
        let size = layer["Size"].as_f64().unwrap_or(0.0);
        let size = if args.human {
            human_size(size)
        } else {
            size.to_string()
        };
        let comment = layer["Comment"].as_str().unwrap_or_default();
        lines.push(format!("{id}\t{created}\t{by}\t{size}\t{comment}"));
    }
    if !args.quiet {
        out!("{}", super::format::tabulate(&lines));
    }
    Ok(0)
}

/// `image inspect` arguments.
#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// IMAGE...
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `image inspect`.
pub async fn inspect(client: &Client, args: ImageInspectArgs) -> anyhow::Result<i32> {
    inspect_objects(
        client,
        &args.images,
        &["image"],
        args.format.as_deref(),
        false,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_like_docker() {
        let r = ImageRef::parse("busybox");
        assert_eq!(r.name, "docker.io/library/busybox");
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(r.full(), "docker.io/library/busybox:latest");
        assert_eq!(
            r.pull_query().encode(),
            "?fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest"
        );
        let r = ImageRef::parse("alpine:3.20");
        assert_eq!(r.tag.as_deref(), Some("3.20"));
        assert_eq!(r.familiar(), "alpine:3.20");
        let r = ImageRef::parse("localhost:5000/team/app");
        assert_eq!(r.name, "localhost:5000/team/app");
        assert_eq!(r.tag, None);
        assert_eq!(r.familiar_name(), "localhost:5000/team/app");
        let r = ImageRef::parse("user/app:v1");
        assert_eq!(r.name, "docker.io/user/app");
        assert_eq!(r.familiar(), "user/app:v1");
        let r = ImageRef::parse("busybox@sha256:abc");
        assert_eq!(r.digest.as_deref(), Some("sha256:abc"));
        assert_eq!(
            r.pull_query().encode(),
            "?fromImage=docker.io%2Flibrary%2Fbusybox&tag=sha256%3Aabc"
        );
        assert_eq!(r.familiar(), "busybox@sha256:abc");
    }

    #[test]
    fn image_rows_split_tags() {
        let image = json!({
            "Id": "sha256:0123456789abcdef", "Created": 0, "Size": 4_262_400,
            "RepoTags": ["busybox:latest", "localhost:5000/bb:1"], "RepoDigests": [],
        });
        let rows = image_rows(&image, true);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["Repository"], "busybox");
        assert_eq!(rows[0]["Tag"], "latest");
        assert_eq!(rows[0]["ID"], "0123456789ab");
        assert_eq!(rows[0]["Size"], "4.26MB");
        assert_eq!(rows[1]["Repository"], "localhost:5000/bb");
        assert_eq!(rows[1]["Tag"], "1");
        let dangling = json!({"Id": "sha256:ff", "RepoTags": null, "Size": 0});
        let rows = image_rows(&dangling, false);
        assert_eq!(rows[0]["Repository"], "<none>");
        assert_eq!(rows[0]["Tag"], "<none>");
        assert_eq!(rows[0]["ID"], "sha256:ff");
    }
}
