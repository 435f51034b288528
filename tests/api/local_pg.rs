//! `serve --demo` on a machine where no database server answers: a private
//! cluster made with the installed `initdb`, used, and stopped.

use std::net::SocketAddr;

use dhune::local_pg;

#[tokio::test]
async fn a_private_cluster_starts_where_nothing_answers_and_stops() {
    assert!(
        local_pg::programs().is_some(),
        "initdb and pg_ctl are needed (Debian: apt-get install postgresql)"
    );
    let nothing = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = std::env::temp_dir().join(format!("dhune-local-pg-{}", std::process::id()));
    let cluster = local_pg::when_nothing_answers(
        &format!("postgres://postgres@127.0.0.1:{nothing}/dhune"),
        &data,
    )
    .await
    .unwrap()
    .expect("a private cluster where nothing answers");

    // Dhune creates its database there and migrates it.
    let pool = dhune::db::connect(&cluster.url("dhune")).await.unwrap();
    dhune::db::migrate(&pool).await.unwrap();
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
    pool.close().await;

    let addr = SocketAddr::from(([127, 0, 0, 1], cluster.port));
    assert!(local_pg::answers(addr).await);
    cluster.stop().unwrap();
    assert!(!local_pg::answers(addr).await, "stopped on exit");

    // Where a server answers, it is used as it is.
    let running = test_server_url();
    assert!(
        local_pg::when_nothing_answers(&running, &data)
            .await
            .unwrap()
            .is_none()
    );
    std::fs::remove_dir_all(&data).unwrap();
}

/// The server the tests use (DATABASE_URL, or the `.env` file's).
fn test_server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env"))
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("DATABASE_URL=").map(str::to_owned))
            .unwrap()
    })
}
