//! `/stats` and `/stats.csv`: a vendor's dashboard, or a customer's
//! activity (DESIGN.md, "Statistics"). Every figure is shown as a table (the
//! accessible version, and what the CSV holds, row for row) and, for the
//! series, as a chart drawn on the server. Admins get 403 here (their
//! statistics are a page of their own).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use time::OffsetDateTime;

use super::AppState;
use super::charts::{BarChart, Point};
use super::error::AppError;
use super::extract::{Shell, SignedIn};
use super::form::{ErrorSummary, FormField};
use super::payouts::{csv_download, neutralised};
use crate::domain::FieldErrors;
use crate::domain::account::Role;
use crate::domain::money::Money;
use crate::domain::offer::span;
use crate::domain::stats::{self, NOT_ENOUGH, PRESETS, Range, change_percent, change_words};
use crate::market::accounts::User;
use crate::market::stats::{
    CustomerDay, CustomerStats, Times, VendorDay, VendorStats, customer_stats, vendor_stats,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/stats", get(page))
        .route("/stats.csv", get(csv_file))
}

/// `?range=28d` or `?from=&to=`, and `by=day|week`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RangeQuery {
    range: String,
    from: String,
    to: String,
    by: String,
}

impl RangeQuery {
    /// A customer's page, asked for without a range: the last year, per
    /// month.
    fn for_role(mut self, role: Role) -> Self {
        let blank = [&self.range, &self.from, &self.to, &self.by]
            .iter()
            .all(|v| v.trim().is_empty());
        if role == Role::Customer && blank {
            self.range = "365d".into();
            self.by = "month".into();
        }
        self
    }

    pub(super) fn range(&self) -> Result<Range, FieldErrors> {
        Range::parse(
            &self.range,
            &self.from,
            &self.to,
            &self.by,
            OffsetDateTime::now_utc(),
        )
    }
}

/// A cell of a table: as shown, and as the CSV writes it (money without
/// "Rs" and the grouping commas, so a spreadsheet reads a number).
#[derive(Debug, Clone)]
pub struct Cell {
    pub text: String,
    pub csv: String,
    pub num: bool,
}

impl Cell {
    pub(super) fn text(text: impl Into<String>) -> Cell {
        let text = text.into();
        Cell {
            csv: text.clone(),
            text,
            num: false,
        }
    }

    /// Text someone typed (a laundry's name): the CSV keeps a spreadsheet
    /// from reading it as a formula.
    fn typed(text: &str) -> Cell {
        Cell {
            csv: neutralised(text),
            ..Cell::text(text)
        }
    }

    pub(super) fn count(value: i64) -> Cell {
        Cell {
            num: true,
            ..Cell::text(value.to_string())
        }
    }

    pub(super) fn money(paisa: i64) -> Cell {
        let money = Money::from_paisa(paisa);
        Cell {
            text: money.to_string(),
            csv: money.decimal(),
            num: true,
        }
    }
}

/// A table of the page, with the chart of its numbers when it is a series.
#[derive(Debug, Clone)]
pub struct Table {
    pub id: &'static str,
    pub caption: String,
    pub head: Vec<&'static str>,
    /// The first cell of a row is its heading.
    pub rows: Vec<Vec<Cell>>,
    pub chart: Option<BarChart>,
    /// What the figures mean, under the table.
    pub note: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "stats/page.html")]
pub(super) struct StatsPage {
    shell: Shell,
    title: &'static str,
    /// The page's path: `/stats`, or `/admin/stats`.
    path: &'static str,
    presets: Vec<(String, String, bool)>,
    fields: Vec<FormField>,
    /// The step chosen: `day`, `week` or `month`.
    step: &'static str,
    summary: ErrorSummary,
    /// "30 Oct 2026 – 26 Nov 2026 (28 days, per day)", when the range was
    /// read.
    heading: String,
    csv_href: String,
    /// Where the figures are fetched again every minute (admins' page:
    /// live numbers), `None` elsewhere.
    refresh: Option<String>,
    pub(super) tables: Vec<Table>,
}

impl StatsPage {
    pub(super) fn new(
        shell: Shell,
        role: Role,
        query: &RangeQuery,
        range: Result<Range, FieldErrors>,
    ) -> Self {
        let (title, path) = match role {
            Role::Customer => ("Your activity", "/stats"),
            Role::Vendor => ("Your statistics", "/stats"),
            Role::Admin => ("Statistics", "/admin/stats"),
        };
        let errors = range.as_ref().err().cloned().unwrap_or_default();
        let current = range.as_ref().ok();
        // What was typed, or else the dates of the range shown.
        let typed = |raw: &str, day: Option<time::Date>| match day {
            Some(day) if raw.trim().is_empty() => day.to_string(),
            _ => raw.to_owned(),
        };
        // A date input holds a date or nothing: what was typed that is not
        // a date is kept in a text input instead, so it can be corrected.
        let date_field = |name: &'static str, label: &'static str, value: String| {
            let parsed = time::Date::parse(
                &value,
                time::macros::format_description!("[year]-[month]-[day]"),
            );
            let kind = if value.is_empty() || parsed.is_ok() {
                "date"
            } else {
                "text"
            };
            FormField::new(name, label, kind, 10).with(&value, &errors)
        };
        let fields = vec![
            date_field("from", "From", typed(&query.from, current.map(|r| r.first))),
            date_field("to", "To", typed(&query.to, current.map(|r| r.last))),
        ];
        let summary = ErrorSummary::of(&fields)
            .and("range-presets", errors.get("range"))
            .and("by", errors.get("by"));
        let presets = PRESETS
            .iter()
            .map(|days| {
                (
                    format!("{path}?range={days}d"),
                    format!("{days} days"),
                    current.is_some_and(|r| r.preset == Some(*days)),
                )
            })
            .collect();
        StatsPage {
            shell,
            title,
            path,
            presets,
            fields,
            step: current.map_or("day", |r| r.step.as_str()),
            summary,
            heading: current.map(heading).unwrap_or_default(),
            csv_href: current.map_or_else(String::new, |r| format!("{path}.csv?{}", r.query())),
            refresh: current
                .filter(|_| role == Role::Admin)
                .map(|r| format!("{path}?{}", r.query())),
            tables: Vec::new(),
        }
    }
}

/// "30 Oct 2026 – 26 Nov 2026 (28 days, per day)".
fn heading(range: &Range) -> String {
    let day = time::macros::format_description!("[day padding:none] [month repr:short] [year]");
    format!(
        "{} – {} ({} days, per {})",
        range.first.format(day).unwrap_or_default(),
        range.last.format(day).unwrap_or_default(),
        range.days(),
        range.step.as_str()
    )
}

/// The tables of `user`'s page over `range`.
async fn tables(state: &AppState, user: &User, range: Range) -> Result<Vec<Table>, AppError> {
    match user.role {
        Role::Vendor => Ok(vendor_tables(
            &vendor_stats(&state.pool, user, range).await?,
        )),
        Role::Customer => Ok(customer_tables(
            &customer_stats(&state.pool, user, range).await?,
        )),
        Role::Admin => Err(AppError::WrongRole),
    }
}

async fn page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    shell: Shell,
    Query(query): Query<RangeQuery>,
) -> Result<Response, AppError> {
    if user.role == Role::Admin {
        return Err(AppError::WrongRole);
    }
    let query = query.for_role(user.role);
    let range = query.range();
    let mut page = StatsPage::new(shell, user.role, &query, range.clone());
    match range {
        Ok(range) => {
            page.tables = tables(&state, &user, range).await?;
            Ok(page.into_response())
        }
        Err(_) => Ok((StatusCode::BAD_REQUEST, page).into_response()),
    }
}

async fn csv_file(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Query(query): Query<RangeQuery>,
) -> Result<Response, AppError> {
    if user.role == Role::Admin {
        return Err(AppError::WrongRole);
    }
    let range = query
        .for_role(user.role)
        .range()
        .map_err(|errors| AppError::BadRequest(errors.to_string()))?;
    let body = tables_csv(&tables(&state, &user, range).await?)?;
    csv_download(
        &format!("dhune-stats-{}-{}.csv", range.first, range.last),
        body,
    )
}

/// The tables as CSV: for each, a row of its headings, then its rows, each
/// row led by the table's caption so the tables stay apart.
pub(super) fn tables_csv(tables: &[Table]) -> Result<Vec<u8>, AppError> {
    let mut out = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    let fail =
        |err: csv::Error| AppError::Internal(anyhow::Error::new(err).context("writing the CSV"));
    for table in tables {
        let head = std::iter::once(table.caption.as_str()).chain(table.head.iter().copied());
        out.write_record(head).map_err(fail)?;
        for row in &table.rows {
            let cells = std::iter::once(table.caption.as_str())
                .chain(row.iter().map(|cell| cell.csv.as_str()));
            out.write_record(cells).map_err(fail)?;
        }
    }
    out.into_inner()
        .map_err(|err| AppError::Internal(anyhow::anyhow!("finishing the CSV: {err}")))
}

/// A time, or what a too small sample says.
fn time_words(seconds: Option<i64>, n: i64) -> String {
    match seconds {
        Some(secs) if stats::enough(n) => span(time::Duration::seconds(secs)),
        _ => NOT_ENOUGH.into(),
    }
}

fn earnings(day: &VendorDay) -> i64 {
    day.online_paisa + day.cash_paisa
}

/// The row headings of the buckets: the bucket's label, "(so far)" on
/// the one still going on.
pub(super) fn bucket_labels(buckets: &[stats::Bucket]) -> Vec<String> {
    buckets
        .iter()
        .map(|b| {
            if b.partial {
                format!("{} (so far)", b.label())
            } else {
                b.label()
            }
        })
        .collect()
}

/// A row of "At a glance" for a count or an amount: this period, its n,
/// the previous period, the change.
pub(super) fn glance_row(
    name: &str,
    now: i64,
    before: i64,
    n: i64,
    cell: fn(i64) -> Cell,
) -> Vec<Cell> {
    vec![
        Cell::text(name),
        cell(now),
        Cell::count(n),
        cell(before),
        Cell::text(change_words(change_percent(now, before))),
    ]
}

pub(super) const GLANCE_HEAD: [&str; 5] = ["Figure", "This period", "n", "Previous", "Change"];

/// The tables of the vendor's page, in its order.
fn vendor_tables(figures: &VendorStats) -> Vec<Table> {
    let range = &figures.daily.range;
    let previous = range.previous();
    let buckets = range.buckets();
    let labels = bucket_labels(&buckets);
    let per = range.step.as_str();

    let rate_row = |name: &str, rate: stats::Rate, previous: stats::Rate| {
        vec![
            Cell::text(name),
            Cell::text(rate.words()),
            Cell::count(rate.n),
            Cell::text(previous.words()),
            Cell::text(match (rate.percent(), previous.percent()) {
                (Some(now), Some(before)) => format!("{:+} points", now - before),
                _ => "—".into(),
            }),
        ]
    };
    let time_row = |name: &str, now: &Times, before: &Times, pick: fn(&Times) -> Option<i64>| {
        vec![
            Cell::text(name),
            Cell::text(time_words(pick(now), now.n)),
            Cell::count(now.n),
            Cell::text(time_words(pick(before), before.n)),
            Cell::text("—"),
        ]
    };
    let orders = figures.daily.total(range, |d| d.orders);
    let orders_before = figures.daily.total(&previous, |d| d.orders);
    let earned = figures.daily.total(range, earnings);
    let earned_before = figures.daily.total(&previous, earnings);
    let summary = Table {
        id: "summary",
        caption: "At a glance".into(),
        head: GLANCE_HEAD.to_vec(),
        rows: vec![
            glance_row("Orders", orders, orders_before, orders, Cell::count),
            glance_row(
                "Earnings",
                earned,
                earned_before,
                figures.daily.total(range, |d| d.movements),
                Cell::money,
            ),
            rate_row(
                "Acceptance rate",
                figures.acceptance(range),
                figures.acceptance(&previous),
            ),
            rate_row(
                "Completion rate",
                figures.completion(range),
                figures.completion(&previous),
            ),
            time_row(
                "Median completion time",
                &figures.times,
                &figures.previous_times,
                |t| t.median_secs,
            ),
            time_row(
                "90th percentile completion time",
                &figures.times,
                &figures.previous_times,
                |t| t.p90_secs,
            ),
        ],
        chart: None,
        note: "n is what a figure counts: orders created, payments and refunds (earnings), \
               offers that reached a final state (acceptance), orders closed — completed or \
               cancelled (completion rate), orders completed (times). Rates and times on fewer \
               than 5 say “not enough orders yet”.",
    };

    let (count_orders, completed, cancelled) = (
        figures.daily.series(|d| d.orders),
        figures.daily.series(|d| d.completed),
        figures.daily.series(|d| d.cancelled),
    );
    let orders_table = Table {
        id: "orders",
        caption: format!("Orders per {per}"),
        head: vec!["Period", "Orders", "Completed", "Cancelled"],
        rows: (0..labels.len())
            .map(|i| {
                vec![
                    Cell::text(labels[i].clone()),
                    Cell::count(count_orders[i]),
                    Cell::count(completed[i]),
                    Cell::count(cancelled[i]),
                ]
            })
            .collect(),
        chart: Some(BarChart::new(
            &format!("Orders per {per}"),
            format!("{orders} orders in {} days.", range.days()),
            &buckets_points(&buckets, &count_orders),
            |v| v.to_string(),
        )),
        note: "Orders counted on the day their offer was accepted; completed and cancelled \
               are what those orders are now.",
    };

    let (online, cash, total) = (
        figures.daily.series(|d| d.online_paisa),
        figures.daily.series(|d| d.cash_paisa),
        figures.daily.series(earnings),
    );
    let earnings_table = Table {
        id: "earnings",
        caption: format!("Earnings per {per}"),
        head: vec!["Period", "Online", "Cash", "Total"],
        rows: (0..labels.len())
            .map(|i| {
                vec![
                    Cell::text(labels[i].clone()),
                    Cell::money(online[i]),
                    Cell::money(cash[i]),
                    Cell::money(total[i]),
                ]
            })
            .collect(),
        chart: Some(BarChart::new(
            &format!("Earnings per {per}"),
            format!(
                "{} earned in {} days.",
                Money::from_paisa(earned),
                range.days()
            ),
            &buckets_points(&buckets, &total),
            compact_money,
        )),
        note: "What you earned, net of Dhune's commission and of refunds, on the day the \
               money moved: online, what Dhune owes you for payments taken (the ledger's \
               entries on your account); cash, the cash you collected on delivery, less the \
               commission on it you owe Dhune and any cash given back.",
    };

    let who_label = |who: &str| match who {
        "customer" => "The customer",
        "vendor" => "You",
        "admin" => "An admin",
        _ => "Dhune (unpaid in time)",
    };
    let cancellations = Table {
        id: "cancellations",
        caption: "Cancellations by who cancelled".into(),
        head: vec!["Who", "This period", "Previous", "Change"],
        rows: figures
            .cancellers
            .iter()
            .map(|c| {
                vec![
                    Cell::text(who_label(&c.who)),
                    Cell::count(c.current),
                    Cell::count(c.previous),
                    Cell::text(change_words(change_percent(c.current, c.previous))),
                ]
            })
            .collect(),
        chart: None,
        note: "Of the orders created in each period, those now cancelled.",
    };
    vec![summary, orders_table, earnings_table, cancellations]
}

/// The tables of the customer's page, in its order.
fn customer_tables(figures: &CustomerStats) -> Vec<Table> {
    let range = &figures.daily.range;
    let previous = range.previous();
    let buckets = range.buckets();
    let labels = bucket_labels(&buckets);
    let per = range.step.as_str();
    let net = |d: &CustomerDay| d.paid_paisa - d.refunded_paisa;
    type Figure = fn(&CustomerDay) -> i64;
    let glance = |name: &str, figure: Figure, n: Figure, cell: fn(i64) -> Cell| {
        let now = figures.daily.total(range, figure);
        glance_row(
            name,
            now,
            figures.daily.total(&previous, figure),
            figures.daily.total(range, n),
            cell,
        )
    };
    let summary = Table {
        id: "summary",
        caption: "At a glance".into(),
        head: GLANCE_HEAD.to_vec(),
        rows: vec![
            glance("Requests", |d| d.requests, |d| d.requests, Cell::count),
            glance("Orders", |d| d.orders, |d| d.orders, Cell::count),
            glance("Paid", |d| d.paid_paisa, |d| d.payments, Cell::money),
            glance("Refunded", |d| d.refunded_paisa, |d| d.refunds, Cell::money),
        ],
        chart: None,
        note: "n is how many: requests, orders, payments, refunds. Requests you posted and \
               orders you made (an offer accepted) in the period; what you paid (online, or in cash when a cash order was completed) and what \
               came back to you, on the day the money moved.",
    };
    let (requests, orders) = (
        figures.daily.series(|d| d.requests),
        figures.daily.series(|d| d.orders),
    );
    let activity = Table {
        id: "activity",
        caption: format!("Requests and orders per {per}"),
        head: vec!["Period", "Requests", "Orders"],
        rows: (0..labels.len())
            .map(|i| {
                vec![
                    Cell::text(labels[i].clone()),
                    Cell::count(requests[i]),
                    Cell::count(orders[i]),
                ]
            })
            .collect(),
        chart: Some(BarChart::new(
            &format!("Orders per {per}"),
            format!(
                "{} orders from {} requests in {} days.",
                figures.daily.total(range, |d| d.orders),
                figures.daily.total(range, |d| d.requests),
                range.days()
            ),
            &buckets_points(&buckets, &orders),
            |v| v.to_string(),
        )),
        note: "",
    };
    let (paid, refunded, spent) = (
        figures.daily.series(|d| d.paid_paisa),
        figures.daily.series(|d| d.refunded_paisa),
        figures.daily.series(net),
    );
    let spending = Table {
        id: "spending",
        caption: format!("Spending per {per}"),
        head: vec!["Period", "Paid", "Refunded", "Spent"],
        rows: (0..labels.len())
            .map(|i| {
                vec![
                    Cell::text(labels[i].clone()),
                    Cell::money(paid[i]),
                    Cell::money(refunded[i]),
                    Cell::money(spent[i]),
                ]
            })
            .collect(),
        chart: Some(BarChart::new(
            &format!("Spending per {per}"),
            format!(
                "{} spent in {} days.",
                Money::from_paisa(figures.daily.total(range, net)),
                range.days()
            ),
            &buckets_points(&buckets, &spent),
            compact_money,
        )),
        note: "Spent is what you paid less what came back.",
    };
    let laundries = Table {
        id: "laundries",
        caption: "The laundries you used most".into(),
        head: vec!["Laundry", "Orders", "Order value"],
        rows: figures
            .laundries
            .iter()
            .map(|l| {
                vec![
                    Cell::typed(&l.name),
                    Cell::count(l.orders),
                    Cell::money(l.value_paisa),
                ]
            })
            .collect(),
        chart: None,
        note: "By orders made in the period (at most five), then by their value.",
    };
    vec![summary, activity, spending, laundries]
}

pub(super) fn buckets_points(buckets: &[stats::Bucket], values: &[i64]) -> Vec<Point> {
    buckets
        .iter()
        .zip(values)
        .map(|(bucket, &value)| Point {
            label: bucket.label(),
            value,
            partial: bucket.partial,
        })
        .collect()
}

/// Rupees for an axis: "Rs 500", "Rs 1.5k", "Rs 2M" (ticks are round).
pub(super) fn compact_money(paisa: i64) -> String {
    let rupees = paisa / 100;
    let sign = if rupees < 0 { "−" } else { "" };
    let abs = rupees.unsigned_abs();
    let short = match abs {
        0..1_000 => abs.to_string(),
        1_000..1_000_000 => thousands(abs, 1_000, "k"),
        _ => thousands(abs, 1_000_000, "M"),
    };
    format!("{sign}Rs {short}")
}

fn thousands(value: u64, unit: u64, suffix: &str) -> String {
    let whole = value / unit;
    let tenth = value % unit * 10 / unit;
    if tenth == 0 {
        format!("{whole}{suffix}")
    } else {
        format!("{whole}.{tenth}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_axis_money_is_short() {
        assert_eq!(compact_money(0), "Rs 0");
        assert_eq!(compact_money(50_000), "Rs 500");
        assert_eq!(compact_money(150_000), "Rs 1.5k");
        assert_eq!(compact_money(200_000_000), "Rs 2M");
        assert_eq!(compact_money(-100_000), "−Rs 1k");
    }

    #[test]
    fn stats_csv_holds_each_table_under_its_caption() {
        let table = Table {
            id: "t",
            caption: "Orders per day".into(),
            head: vec!["Period", "Orders"],
            rows: vec![vec![Cell::text("26 Nov"), Cell::money(12_345)]],
            chart: None,
            note: "",
        };
        let csv = String::from_utf8(tables_csv(&[table]).unwrap()).unwrap();
        assert_eq!(
            csv,
            "Orders per day,Period,Orders\nOrders per day,26 Nov,123.45\n"
        );
    }
}
