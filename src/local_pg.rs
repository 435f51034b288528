//! A private PostgreSQL cluster for `dhune serve --demo` on a machine where
//! no database server answers: made with the installed `initdb` in a data
//! directory of Dhune's own, started on a free local port, stopped on exit.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

/// Where the private cluster lives, relative to the working directory.
pub const DATA_DIR: &str = ".dhune/pg";

/// Whether something accepts TCP connections at `addr` within a second.
pub async fn answers(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// The directory of Postgres's own programs (`initdb`, `pg_ctl`): on the
/// `PATH`, or the newest under `/usr/lib/postgresql/*/bin` (Debian).
pub fn programs() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

/// For `serve --demo` without `DATABASE_URL`: `None` when a server answers
/// at `default_url`'s address (use it); otherwise a private cluster started
/// in `data`, or an error saying the one command that installs Postgres.
pub async fn when_nothing_answers(
    default_url: &str,
    data: &Path,
) -> anyhow::Result<Option<LocalPostgres>> {
    let options: sqlx::postgres::PgConnectOptions = default_url
        .parse()
        .with_context(|| format!("{default_url:?} is not a postgres:// URL"))?;
    let target = format!("{}:{}", options.get_host(), options.get_port());
    let addr = tokio::net::lookup_host(&target)
        .await
        .with_context(|| format!("looking up {target}"))?
        .next()
        .with_context(|| format!("{target} has no address"))?;
    if answers(addr).await {
        return Ok(None);
    }
    let Some(programs) = programs() else {
        bail!(
            "No PostgreSQL answers at {target}, and none is installed here. Install it with \
             `sudo apt-get install postgresql` (Debian and Ubuntu; it starts by itself), or set \
             DATABASE_URL to a server you have."
        );
    };
    let data = data.to_owned();
    let cluster = tokio::task::spawn_blocking(move || LocalPostgres::start(&programs, &data))
        .await
        .context("starting the private PostgreSQL")??;
    Ok(Some(cluster))
}

/// A running private cluster; [`LocalPostgres::stop`] (or dropping it)
/// stops it.
pub struct LocalPostgres {
    programs: PathBuf,
    data: PathBuf,
    run_as: Option<String>,
    pub port: u16,
    stopped: bool,
}

impl LocalPostgres {
    /// Makes the cluster in `data` if it is not there yet (trust
    /// authentication for the local user `postgres`, listening on
    /// 127.0.0.1 only) and starts it on a free port.
    pub fn start(programs: &Path, data: &Path) -> anyhow::Result<Self> {
        // Postgres refuses to run as root; then the `postgres` account runs it.
        let run_as = is_root().then(|| "postgres".to_owned());
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        let data = data
            .canonicalize()
            .with_context(|| format!("finding {}", data.display()))?;
        if let Some(user) = &run_as {
            run(Command::new("chown").args(["-R", user]).arg(&data))
                .context("handing the data directory to the postgres account")?;
        }
        let cluster = Self {
            programs: programs.to_owned(),
            data,
            run_as,
            port: free_port()?,
            stopped: false,
        };
        if !cluster.data.join("PG_VERSION").exists() {
            let mut initdb = cluster.command("initdb");
            initdb.arg("-D").arg(&cluster.data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
            ]);
            run(&mut initdb).context("initdb")?;
        }
        // A cluster left running by a Dhune that did not stop cleanly.
        let _ = cluster.pg_ctl(&["-m", "immediate", "stop"]);
        let options = format!(
            "-p {} -h 127.0.0.1 -k {}",
            cluster.port,
            cluster.data.display()
        );
        let log = cluster.data.join("server.log");
        cluster
            .pg_ctl(&[
                "-w",
                "-t",
                "30",
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "start",
            ])
            .with_context(|| format!("starting PostgreSQL (its log: {})", log.display()))?;
        Ok(cluster)
    }

    /// The URL of a database named `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stopped = true;
        self.pg_ctl(&["-w", "-m", "fast", "stop"])
    }

    fn command(&self, program: &str) -> Command {
        let path = self.programs.join(program);
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut pg_ctl = self.command("pg_ctl");
        pg_ctl.arg("-D").arg(&self.data).args(args);
        run(&mut pg_ctl)
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if !self.stopped
            && let Err(err) = self.pg_ctl(&["-w", "-m", "fast", "stop"])
        {
            eprintln!("stopping the private PostgreSQL: {err:#}");
        }
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free local port")?;
    Ok(listener.local_addr()?.port())
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
