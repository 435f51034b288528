//! `/admin/stats` and `/admin/stats.csv`: the platform's statistics
//! (DESIGN.md, "Statistics"), from the daily figures the sweep keeps
//! (`market::platform_stats`), drawn like the other statistics pages:
//! each series a chart with its table, every table in the CSV.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::charts::BarChart;
use super::error::AppError;
use super::extract::{Admin, Shell};
use super::payouts::csv_download;
use super::stats::{
    Cell, GLANCE_HEAD, RangeQuery, StatsPage, Table, bucket_labels, buckets_points, compact_money,
    glance_row, tables_csv,
};
use crate::domain::account::Role;
use crate::domain::money::Money;
use crate::domain::stats::{Range, Rate, change_percent, change_words};
use crate::market::platform_stats::{self, PlatformDay, PlatformStats};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/stats", get(page))
        .route("/admin/stats.csv", get(csv_file))
}

async fn page(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Query(query): Query<RangeQuery>,
) -> Result<Response, AppError> {
    let range = query.range();
    let mut page = StatsPage::new(shell, Role::Admin, &query, range.clone());
    match range {
        Ok(range) => {
            let figures = platform_stats::platform(&state.pool, &admin, range).await?;
            page.tables = tables(&figures);
            Ok(page.into_response())
        }
        Err(_) => Ok((StatusCode::BAD_REQUEST, page).into_response()),
    }
}

async fn csv_file(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(query): Query<RangeQuery>,
) -> Result<Response, AppError> {
    let range = query
        .range()
        .map_err(|errors| AppError::BadRequest(errors.to_string()))?;
    let figures = platform_stats::platform(&state.pool, &admin, range).await?;
    csv_download(
        &format!("dhune-platform-{}-{}.csv", range.first, range.last),
        tables_csv(&tables(&figures))?,
    )
}

type Figure = fn(&PlatformDay) -> i64;

fn cancelled(d: &PlatformDay) -> i64 {
    i64::from(d.cancelled_customer + d.cancelled_vendor + d.cancelled_admin + d.cancelled_system)
}

/// Cancelled of the orders that closed (completed or cancelled).
fn cancellation(figures: &PlatformStats, range: &Range, who: Figure) -> Rate {
    Rate {
        hits: figures.daily.total(range, who),
        n: figures
            .daily
            .total(range, |d| i64::from(d.orders_completed))
            + figures.daily.total(range, cancelled),
    }
}

/// Paid online of the orders created.
fn online_share(figures: &PlatformStats, range: &Range) -> Rate {
    Rate {
        hits: figures.daily.total(range, |d| i64::from(d.orders_online)),
        n: figures.daily.total(range, |d| i64::from(d.orders_created)),
    }
}

/// A row of "At a glance" for a rate, with its n.
fn rate_row(name: &str, now: Rate, before: Rate) -> Vec<Cell> {
    vec![
        Cell::text(name),
        Cell::text(now.words()),
        Cell::count(now.n),
        Cell::text(before.words()),
        Cell::text(match (now.percent(), before.percent()) {
            (Some(now), Some(before)) => format!("{:+} points", now - before),
            _ => "—".into(),
        }),
    ]
}

/// The mean of per-bucket values in tenths, rounded half up (0 when none).
fn mean_tenths(values: &[i64]) -> i64 {
    match i64::try_from(values.len()) {
        Ok(n) if n > 0 => (values.iter().sum::<i64>() * 20 + n) / (n * 2),
        _ => 0,
    }
}

/// Tenths as "2.5".
fn tenths(value: i64) -> String {
    format!("{}.{}", value / 10, value % 10)
}

/// The tables of the page, in its order.
fn tables(figures: &PlatformStats) -> Vec<Table> {
    let range = &figures.daily.range;
    let previous = range.previous();
    let buckets = range.buckets();
    let labels = bucket_labels(&buckets);
    let per = range.step.as_str();
    let glance = |name: &str, figure: Figure, cell: fn(i64) -> Cell| {
        let now = figures.daily.total(range, figure);
        glance_row(name, now, figures.daily.total(&previous, figure), now, cell)
    };
    let money = |name: &str, figure: Figure, n: Figure| {
        glance_row(
            name,
            figures.daily.total(range, figure),
            figures.daily.total(&previous, figure),
            figures.daily.total(range, n),
            Cell::money,
        )
    };
    let mut rows = vec![
        glance(
            "Requests created",
            |d| i64::from(d.requests_created),
            Cell::count,
        ),
        glance("Offers made", |d| i64::from(d.offers_made), Cell::count),
        glance(
            "Orders created",
            |d| i64::from(d.orders_created),
            Cell::count,
        ),
        glance(
            "Orders completed",
            |d| i64::from(d.orders_completed),
            Cell::count,
        ),
        money(
            "Gross order value",
            |d| d.gross_paisa,
            |d| i64::from(d.orders_created),
        ),
        money(
            "Platform revenue",
            |d| d.commission_paisa,
            |d| i64::from(d.orders_completed),
        ),
        money(
            "Refunds",
            |d| d.refunds_paisa,
            |d| i64::from(d.refunds_made),
        ),
        glance(
            "Disputes opened",
            |d| i64::from(d.disputes_opened),
            Cell::count,
        ),
    ];
    let (open_now, open_before) = (figures.open_at_end(range), figures.open_at_end(&previous));
    rows.push(vec![
        Cell::text("Disputes open at the end"),
        Cell::count(open_now),
        Cell::count(open_now),
        Cell::count(open_before),
        Cell::text(change_words(change_percent(open_now, open_before))),
    ]);
    rows.push(rate_row(
        "Cancellation rate",
        cancellation(figures, range, cancelled),
        cancellation(figures, &previous, cancelled),
    ));
    for (name, who) in [
        (
            "… cancelled by the customer",
            (|d| i64::from(d.cancelled_customer)) as Figure,
        ),
        ("… by the laundry", |d| i64::from(d.cancelled_vendor)),
        ("… by an admin", |d| i64::from(d.cancelled_admin)),
        ("… by Dhune (unpaid in time)", |d| {
            i64::from(d.cancelled_system)
        }),
    ] {
        rows.push(rate_row(
            name,
            cancellation(figures, range, who),
            cancellation(figures, &previous, who),
        ));
    }
    rows.push(rate_row(
        "Orders paid online",
        online_share(figures, range),
        online_share(figures, &previous),
    ));
    if let (Some(now), Some(before)) = (figures.active(range), figures.active(&previous)) {
        let customers = |v: &[(i64, i64)]| mean_tenths(&v.iter().map(|a| a.0).collect::<Vec<_>>());
        let vendors = |v: &[(i64, i64)]| mean_tenths(&v.iter().map(|a| a.1).collect::<Vec<_>>());
        for (name, now, before) in [
            (
                format!("Active customers, a {per} on average"),
                customers(&now),
                customers(&before),
            ),
            (
                format!("Active laundries, a {per} on average"),
                vendors(&now),
                vendors(&before),
            ),
        ] {
            rows.push(vec![
                Cell::text(name),
                Cell::text(tenths(now)),
                Cell::count(i64::try_from(labels.len()).unwrap_or_default()),
                Cell::text(tenths(before)),
                Cell::text(change_words(change_percent(now, before))),
            ]);
        }
    }
    let summary = Table {
        id: "summary",
        caption: "At a glance".into(),
        head: GLANCE_HEAD.to_vec(),
        rows,
        chart: None,
        note: "Each figure counts what happened in the period, on Nepal days: requests, \
               offers and orders by when they were made; completions and cancellations by \
               when they happened; money by when it moved. Revenue is the commission earned \
               net of its share of refunds. The cancellation rate is cancelled of the orders \
               that closed (completed or cancelled), n those closed; the online share is of \
               the orders created. Active: customers who posted a request, laundries that \
               made an offer; n is the number of periods averaged. Rates on fewer than 5 \
               say “not enough orders yet”.",
    };

    let series = |figure: Figure| figures.daily.series(figure);
    let (requests, offers, orders, completed) = (
        series(|d| i64::from(d.requests_created)),
        series(|d| i64::from(d.offers_made)),
        series(|d| i64::from(d.orders_created)),
        series(|d| i64::from(d.orders_completed)),
    );
    let activity = Table {
        id: "activity",
        caption: format!("Requests, offers and orders per {per}"),
        head: vec!["Period", "Requests", "Offers", "Orders", "Completed"],
        rows: (0..labels.len())
            .map(|i| {
                vec![
                    Cell::text(labels[i].clone()),
                    Cell::count(requests[i]),
                    Cell::count(offers[i]),
                    Cell::count(orders[i]),
                    Cell::count(completed[i]),
                ]
            })
            .collect(),
        chart: Some(BarChart::new(
            &format!("Orders per {per}"),
            format!(
                "{} orders created in {} days.",
                orders.iter().sum::<i64>(),
                range.days()
            ),
            &buckets_points(&buckets, &orders),
            |v| v.to_string(),
        )),
        note: "",
    };

    let (gross, revenue, refunds) = (
        series(|d| d.gross_paisa),
        series(|d| d.commission_paisa),
        series(|d| d.refunds_paisa),
    );
    let money_table = Table {
        id: "money",
        caption: format!("Money per {per}"),
        head: vec!["Period", "Gross order value", "Revenue", "Refunds"],
        rows: (0..labels.len())
            .map(|i| {
                vec![
                    Cell::text(labels[i].clone()),
                    Cell::money(gross[i]),
                    Cell::money(revenue[i]),
                    Cell::money(refunds[i]),
                ]
            })
            .collect(),
        chart: Some(BarChart::new(
            &format!("Platform revenue per {per}"),
            format!(
                "{} revenue in {} days.",
                Money::from_paisa(revenue.iter().sum()),
                range.days()
            ),
            &buckets_points(&buckets, &revenue),
            compact_money,
        )),
        note: "Gross order value: the price of the orders created. Revenue: the commission \
               earned net of refunds, on the day the money moved.",
    };

    let (by_customer, by_vendor, by_admin, by_dhune, online, closed_orders) = (
        series(|d| i64::from(d.cancelled_customer)),
        series(|d| i64::from(d.cancelled_vendor)),
        series(|d| i64::from(d.cancelled_admin)),
        series(|d| i64::from(d.cancelled_system)),
        series(|d| i64::from(d.orders_online)),
        series(|d| i64::from(d.orders_completed) + cancelled(d)),
    );
    let cancellations = Table {
        id: "cancellations",
        caption: format!("Cancellations per {per}, by who cancelled"),
        head: vec!["Period", "Customer", "Laundry", "Admin", "Dhune", "Rate"],
        rows: (0..labels.len())
            .map(|i| {
                let all = by_customer[i] + by_vendor[i] + by_admin[i] + by_dhune[i];
                vec![
                    Cell::text(labels[i].clone()),
                    Cell::count(by_customer[i]),
                    Cell::count(by_vendor[i]),
                    Cell::count(by_admin[i]),
                    Cell::count(by_dhune[i]),
                    Cell::text(
                        Rate {
                            hits: all,
                            n: closed_orders[i],
                        }
                        .words(),
                    ),
                ]
            })
            .collect(),
        chart: None,
        note: "Rate: cancelled of the orders that closed in the period.",
    };

    let methods = Table {
        id: "methods",
        caption: format!("How orders are paid, per {per}"),
        head: vec!["Period", "Online", "Cash", "Online share"],
        rows: (0..labels.len())
            .map(|i| {
                vec![
                    Cell::text(labels[i].clone()),
                    Cell::count(online[i]),
                    Cell::count(orders[i] - online[i]),
                    Cell::text(
                        Rate {
                            hits: online[i],
                            n: orders[i],
                        }
                        .words(),
                    ),
                ]
            })
            .collect(),
        chart: None,
        note: "Of the orders created: the method chosen (a customer may switch while unpaid).",
    };

    let opened = series(|d| i64::from(d.disputes_opened));
    let open = figures.open_disputes();
    let disputes = Table {
        id: "disputes",
        caption: format!("Disputes per {per}"),
        head: vec!["Period", "Opened", "Open at the end"],
        rows: (0..labels.len())
            .map(|i| {
                vec![
                    Cell::text(labels[i].clone()),
                    Cell::count(opened[i]),
                    Cell::count(open[i]),
                ]
            })
            .collect(),
        chart: None,
        note: "",
    };

    let mut tables = vec![
        summary,
        activity,
        money_table,
        cancellations,
        methods,
        disputes,
    ];
    if let Some(active) = figures.active(range) {
        let customers: Vec<i64> = active.iter().map(|a| a.0).collect();
        tables.push(Table {
            id: "active",
            caption: format!("Active people per {per}"),
            head: vec!["Period", "Customers", "Laundries"],
            rows: (0..labels.len())
                .map(|i| {
                    vec![
                        Cell::text(labels[i].clone()),
                        Cell::count(active.get(i).map_or(0, |a| a.0)),
                        Cell::count(active.get(i).map_or(0, |a| a.1)),
                    ]
                })
                .collect(),
            chart: Some(BarChart::new(
                &format!("Active customers per {per}"),
                format!("On average {} a {per}.", tenths(mean_tenths(&customers))),
                &buckets_points(&buckets, &customers),
                |v| v.to_string(),
            )),
            note: "Customers who posted a request and laundries that made an offer; each \
                   counted once in a period however often. Per month is not kept.",
        });
    }
    tables
}
