//! The `dhune` command: serve | migrate | create-admin | seed-demo | generate | ledger check.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use dhune::{Config, db, demo, jobs, local_pg};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "dhune",
    version,
    about = "Dhune, a marketplace for laundry services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations and serve the app on DHUNE_ADDR.
    Serve {
        /// Seed demo accounts and data first when the database is empty.
        #[arg(long)]
        demo: bool,
    },
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Create an admin account (or reset the password of an existing admin).
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
    },
    /// Fill an empty database with demo accounts and data.
    SeedDemo,
    /// Fill a database without orders with generated history (accounts,
    /// requests, offers, orders, disputes, payments, refunds and the ledger),
    /// spread over the last weeks; every account's password is
    /// `dhune-generated`.
    Generate {
        #[arg(long, default_value_t = 1_000)]
        customers: i64,
        #[arg(long, default_value_t = 50)]
        vendors: i64,
        #[arg(long, default_value_t = 10_000)]
        orders: i64,
        /// How many weeks back the history reaches.
        #[arg(long, default_value_t = 104)]
        weeks: i64,
        /// The same seed on an empty database gives the same data.
        #[arg(long, default_value_t = 1)]
        seed: i64,
        /// Orders written per transaction.
        #[arg(long, default_value_t = 50_000)]
        batch: i64,
    },
    /// The books: payments and refunds, in double entry.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Verify every invariant of the ledger; print each difference and exit
    /// non-zero when there is any.
    Check,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The generator's bulk statements are slow on purpose; sqlx would warn
    // of each one.
    let filter = match cli.command {
        Command::Generate { .. } => "info,sqlx=error",
        _ => "info,sqlx=warn,tower_sessions=warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter)),
        )
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::from_env()?;
    // The demo runs on a fresh machine too: with no DATABASE_URL and no
    // server at the default address, on a private cluster of its own.
    let demo = matches!(cli.command, Command::Serve { demo: true });
    let local = if demo && std::env::var_os("DATABASE_URL").is_none() {
        local_pg::when_nothing_answers(&config.database_url, Path::new(local_pg::DATA_DIR)).await?
    } else {
        None
    };
    if let Some(cluster) = &local {
        config.database_url = cluster.url("dhune");
        println!(
            "No PostgreSQL answered at the default address, so Dhune started its own in {} \
             (port {}); it stops when Dhune does.",
            local_pg::DATA_DIR,
            cluster.port
        );
    }
    let result = run_on(cli, config).await;
    if let Some(cluster) = local {
        cluster.stop().context("stopping the private PostgreSQL")?;
    }
    result
}

async fn run_on(cli: Cli, config: Config) -> anyhow::Result<()> {
    let pool = db::connect(&config.database_url).await?;
    db::migrate(&pool).await?;
    match cli.command {
        Command::Migrate => {
            println!("The database is up to date.");
            Ok(())
        }
        Command::CreateAdmin { email, password } => {
            let admin = dhune::market::accounts::create_admin(&pool, &email, &password)
                .await
                .context("creating the admin")?;
            println!("Admin {} is ready; log in at /login.", admin.email);
            Ok(())
        }
        Command::SeedDemo => {
            seed(&pool, config.commission_bps).await?;
            Ok(())
        }
        Command::Generate {
            customers,
            vendors,
            orders,
            weeks,
            seed,
            batch,
        } => {
            let plan = dhune::market::generate::Plan {
                customers,
                vendors,
                orders,
                weeks,
                seed,
                commission_bps: config.commission_bps,
                auto_complete_hours: config.auto_complete_after.whole_hours(),
                unpaid_cancel_hours: config.unpaid_cancel_after.whole_hours(),
                batch,
            };
            generate(&pool, &plan).await
        }
        Command::Ledger {
            command: LedgerCommand::Check,
        } => check_ledger(&pool).await,
        Command::Serve { demo } => {
            if demo {
                seed(&pool, config.commission_bps).await?;
            }
            serve(pool, config, demo).await
        }
    }
}

async fn generate(pool: &sqlx::PgPool, plan: &dhune::market::generate::Plan) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let generated = dhune::market::generate::generate(pool, plan, |done| {
        println!(
            "{done} of {} orders written ({:.0} s)",
            plan.orders,
            started.elapsed().as_secs_f64()
        );
    })
    .await
    .context("generating data")?;
    println!(
        "Generated {} customers, {} laundries, {} orders and {} requests without an order in {:.0} s.",
        generated.customers,
        generated.vendors,
        generated.orders,
        generated.other_requests,
        started.elapsed().as_secs_f64()
    );
    println!(
        "Log in as customer1@generated.example, vendor1@generated.example or {} \
         (password: {}).",
        dhune::market::generate::GENERATED_ADMIN,
        dhune::market::generate::GENERATED_PASSWORD
    );
    Ok(())
}

async fn check_ledger(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let report = dhune::market::ledger::check(pool)
        .await
        .context("checking the ledger")?;
    for difference in &report.differences {
        println!("{difference}");
    }
    let counts = format!(
        "{} transactions, {} entries",
        report.transactions, report.entries
    );
    if report.differences.is_empty() {
        println!("ledger: {counts}, books balance");
        Ok(())
    } else {
        anyhow::bail!(
            "ledger: {counts}, {} differences (above)",
            report.differences.len()
        )
    }
}

async fn seed(pool: &sqlx::PgPool, commission_bps: i32) -> anyhow::Result<()> {
    if demo::seed_if_empty(pool, commission_bps)
        .await
        .context("seeding the demo data")?
    {
        println!(
            "Demo data seeded. Log in with any of these (password: {}):",
            demo::DEMO_PASSWORD
        );
    } else {
        println!(
            "The database already has accounts, so no demo data was added. The demo logins, \
             if this database was seeded before (password: {}):",
            demo::DEMO_PASSWORD
        );
    }
    for (role, email) in demo::DEMO_LOGINS {
        println!("  {role:<9} {email}");
    }
    Ok(())
}

async fn serve(pool: sqlx::PgPool, mut config: Config, demo: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| {
            format!(
                "listening on {} (set DHUNE_ADDR to use another address)",
                config.addr
            )
        })?;
    let addr = listener.local_addr()?;
    if config.addr.port() == 0 && config.public_url == format!("http://{}", config.addr) {
        config.public_url = format!("http://{addr}");
    }
    let gateway = dhune::gateways::payments::build(&config)?;
    let sweeps = jobs::spawn_sweeps(pool.clone(), gateway.clone(), &config);
    tracing::info!(%addr, "Dhune is listening");
    let header_read_timeout = config.header_read_timeout;
    let (public_url, commission_bps) = (config.public_url.clone(), config.commission_bps);
    let app = dhune::build_app(pool.clone(), config).await?;
    let server = tokio::spawn(dhune::web::serve(
        listener,
        app,
        header_read_timeout,
        shutdown_signal(),
    ));
    if demo {
        // The demo's online payments go through the sandbox, which this
        // server serves, so they are made once it listens.
        match demo::seed_payments(&pool, &*gateway, &public_url, commission_bps).await {
            Ok(true) => println!(
                "Demo payments added: orders paid online with the sandbox, refunds, cash orders."
            ),
            Ok(false) => {}
            Err(err) => eprintln!("The demo's payments could not be added: {err:#}"),
        }
    }
    println!("Dhune is running at http://{addr}/");
    server
        .await
        .context("the server task")?
        .context("serving HTTP")?;
    sweeps.abort();
    pool.close().await;
    tracing::info!("Dhune stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; in-flight requests then finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
