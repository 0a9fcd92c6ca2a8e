//! The parsed form of a Dockerfile: stages of typed instructions.
//!
//! Words are kept as written (quotes and `$VAR` references intact) wherever Docker expands
//! variables at build time; [`Kind::expand`](super::Kind::expand) applies the expansion rules of
//! each instruction once the build knows the values.

/// A whole Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`# escape=` directive; `\` by default).
    pub escape: char,
    /// The `# syntax=` directive, if any (recorded, not acted on).
    pub syntax: Option<String>,
    /// `ARG` instructions before the first `FROM` (only [`Kind::Arg`]).
    pub meta_args: Vec<Instruction>,
    /// The stages, in file order.
    pub stages: Vec<Stage>,
}

/// One `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The base image or stage as written (may hold `$ARG`s), e.g. `busybox`, `scratch`.
    pub base: String,
    /// `AS name`, lower-cased as Docker does.
    pub name: Option<String>,
    /// `--platform=` as written.
    pub platform: Option<String>,
    /// 1-based line of the `FROM`.
    pub line: usize,
    /// The `FROM` line as Docker prints it in `Step N/M : …` (continuations joined).
    pub original: String,
    /// The instructions after `FROM`, in order.
    pub instructions: Vec<Instruction>,
}

/// One instruction (never `FROM`: that starts a [`Stage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// The instruction as Docker prints it in `Step N/M : …`: the keyword as written and the
    /// rest of the logical line, continuations joined (heredoc bodies not included).
    pub original: String,
    /// What it does.
    pub kind: Kind,
}

/// A command in exec form (`["a","b"]`) or shell form (`a b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// JSON array form, run without a shell.
    Exec(Vec<String>),
    /// Shell form: the text after the keyword, run with the stage's `SHELL`.
    Shell(String),
}

/// A heredoc (`<<EOF` … `EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter (`EOF`); for COPY/ADD also the file name.
    pub name: String,
    /// The body, lines joined with `\n`, ending with `\n` (leading tabs removed for `<<-`).
    pub content: String,
    /// Whether variables in the body are expanded (the delimiter was not quoted).
    pub expand: bool,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command. For shell form with heredocs: if the command is a single heredoc and
    /// nothing else (`RUN <<EOF`), the heredoc's body; otherwise the command line followed by
    /// the heredocs exactly as a POSIX shell reads them (`cmd <<EOF\nbody\nEOF\n`).
    pub command: Command,
    /// The heredocs of the instruction, in order.
    pub heredocs: Vec<Heredoc>,
    /// Each `--mount=` value as written.
    pub mounts: Vec<String>,
    /// `--network=` (`default`, `none`, `host`).
    pub network: Option<String>,
    /// `--security=` (`sandbox`, `insecure`).
    pub security: Option<String>,
}

/// `COPY` and `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// The sources as written (not heredocs).
    pub sources: Vec<String>,
    /// Heredoc sources (`COPY <<EOF /dest`): files named after their delimiter.
    pub heredocs: Vec<Heredoc>,
    /// The destination as written.
    pub dest: String,
    /// `--from=` (a stage name or index, or an image).
    pub from: Option<String>,
    /// `--chown=` as written.
    pub chown: Option<String>,
    /// `--chmod=` as written.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// Each `--exclude=` pattern.
    pub exclude: Vec<String>,
    /// `ADD --checksum=`.
    pub checksum: Option<String>,
    /// `ADD --keep-git-dir`.
    pub keep_git_dir: bool,
    /// Whether sources and destination were given in JSON array form.
    pub json: bool,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`.
    None,
    /// `HEALTHCHECK [options] CMD …`.
    Cmd {
        /// The test: exec form becomes `["CMD", …]`, shell form `["CMD-SHELL", "…"]`.
        test: Vec<String>,
        /// `--interval` in nanoseconds (0 when not given).
        interval: i64,
        /// `--timeout` in nanoseconds.
        timeout: i64,
        /// `--start-period` in nanoseconds.
        start_period: i64,
        /// `--start-interval` in nanoseconds.
        start_interval: i64,
        /// `--retries` (0 when not given).
        retries: i64,
    },
}

/// `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// The default value as written (expanded at build time), if given.
    pub default: Option<String>,
}

/// What an instruction does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `RUN`.
    Run(Run),
    /// `COPY`.
    Copy(Copy),
    /// `ADD`.
    Add(Copy),
    /// `WORKDIR path`.
    Workdir(String),
    /// `ENV k=v …` (or the legacy `ENV k v`).
    Env(Vec<(String, String)>),
    /// `ARG …`.
    Arg(Vec<ArgDecl>),
    /// `LABEL k=v …`.
    Label(Vec<(String, String)>),
    /// `EXPOSE 80 443/udp …`, as written.
    Expose(Vec<String>),
    /// `USER name[:group]`.
    User(String),
    /// `VOLUME` paths (JSON or space-separated).
    Volume(Vec<String>),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `CMD`.
    Cmd(Command),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `SHELL ["…", …]` (JSON form only).
    Shell(Vec<String>),
    /// `STOPSIGNAL`.
    StopSignal(String),
    /// `ONBUILD <instruction>`: the trigger text as stored in the image's `OnBuild` (the
    /// instruction after `ONBUILD`, as written) and the trigger parsed.
    OnBuild(String, Box<Instruction>),
    /// `MAINTAINER` (deprecated; sets the image's author).
    Maintainer(String),
}
