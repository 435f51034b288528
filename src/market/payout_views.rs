//! What the pages read about payout statements: a laundry's statements with
//! the running balance of the week not yet on one, one statement with its
//! lines and totals, and the admin's list with its filters and totals. Read
//! only: issuing and paying statements live in `payouts.rs`.

use sqlx::PgPool;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use super::accounts::User;
use super::{MarketError, MarketResult, Paged, Paging, require_admin, status};
use crate::domain::account::Role;
use crate::domain::money::Money;
pub use crate::domain::payouts::{LineKind, StatementStatus};

/// A statement as the lists show it, with its totals by kind.
#[derive(Debug, Clone)]
pub struct StatementRow {
    pub id: i64,
    pub vendor_id: i64,
    pub business_name: String,
    pub email: String,
    pub period_start: Date,
    pub period_end: Date,
    /// Paid online: the laundry's share of each capture.
    pub gross: Money,
    /// Commission on cash orders (owed by the laundry, so negative).
    pub commission: Money,
    pub refunds: Money,
    /// Refunds of orders paid out on an earlier statement.
    pub clawbacks: Money,
    /// An admin's credits (positive) and debits (negative).
    pub adjustments: Money,
    /// The negative net of the statement before, carried into this one.
    pub carried: Money,
    /// What Dhune owes the laundry: the sum of every line.
    pub net: Money,
    pub status: StatementStatus,
    pub transfer_reference: Option<String>,
    pub paid_at: Option<OffsetDateTime>,
    pub issued_at: OffsetDateTime,
}

impl StatementRow {
    /// The week, "22 Nov – 28 Nov 2026" (the year once when both days share it).
    pub fn period(&self) -> String {
        let day = format_description!("[day padding:none] [month repr:short]");
        let year = format_description!("[year]");
        let format = |date: Date, description| date.format(description).unwrap_or_default();
        let (start, end) = (self.period_start, self.period_end);
        if start.year() == end.year() {
            format!(
                "{} – {} {}",
                format(start, day),
                format(end, day),
                format(end, year)
            )
        } else {
            format!(
                "{} {} – {} {}",
                format(start, day),
                format(start, year),
                format(end, day),
                format(end, year)
            )
        }
    }

    /// Its totals by kind, then the net, as the page and the CSV show them.
    pub fn totals(&self) -> [Total; 7] {
        let total = |key, label, amount| Total { key, label, amount };
        [
            total("gross", "Paid online (gross)", self.gross),
            total("commission", "Commission on cash orders", self.commission),
            total("refunds", "Refunds", self.refunds),
            total(
                "clawbacks",
                "Refunds after payout (clawbacks)",
                self.clawbacks,
            ),
            total("adjustments", "Adjustments", self.adjustments),
            total("carried", "Carried from earlier statements", self.carried),
            total("net", "Net", self.net),
        ]
    }

    /// An admin may mark it paid: issued, and nothing owed to Dhune.
    pub fn payable(&self) -> bool {
        self.status == StatementStatus::Issued && self.net.paisa() >= 0
    }
}

/// One of a statement's totals.
#[derive(Debug, Clone, Copy)]
pub struct Total {
    /// A name for scripts and tests (`data-total`).
    pub key: &'static str,
    pub label: &'static str,
    pub amount: Money,
}

/// One line of a statement.
#[derive(Debug, Clone)]
pub struct StatementLine {
    pub id: i64,
    pub kind: LineKind,
    pub order_id: Option<i64>,
    /// The statement whose negative net a `carried` line brings forward.
    pub carried_from: Option<i64>,
    /// When its ledger transaction was written (none for a carried net).
    pub at: Option<OffsetDateTime>,
    /// Why an admin adjusted the balance, for an `adjustment` line.
    pub reason: Option<String>,
    /// Positive when Dhune owes the laundry.
    pub amount: Money,
}

impl StatementLine {
    /// What happened, in words.
    pub fn label(&self) -> String {
        match (self.kind, self.carried_from, &self.reason) {
            (LineKind::Adjustment, _, Some(reason)) => format!("Adjustment: {reason}"),
            (LineKind::Carried, Some(from), _) => format!("Carried from statement #{from}"),
            (kind, ..) => kind.label().into(),
        }
    }
}

/// One statement with its lines, in the order they were written.
#[derive(Debug, Clone)]
pub struct StatementDetail {
    pub statement: StatementRow,
    pub lines: Vec<StatementLine>,
    /// The admin who marked it paid (name).
    pub paid_by: Option<String>,
}

/// What the laundry has earned since its last statement: the entries of
/// its account not yet on one (the payouts themselves aside).
#[derive(Debug, Clone, Copy)]
pub struct Running {
    /// Positive when Dhune owes the laundry.
    pub balance: Money,
    pub entries: i64,
}

/// The filters of the admin's statements list.
#[derive(Debug, Clone, Default)]
pub struct StatementFilter {
    pub status: Option<StatementStatus>,
    /// The statement whose week contains this day.
    pub week: Option<Date>,
    /// Part of the laundry's business name or email.
    pub search: String,
}

/// The sums of every statement the filter matches (all pages).
#[derive(Debug, Clone)]
pub struct StatementTotals {
    pub count: i64,
    pub gross: Money,
    pub commission: Money,
    pub refunds: Money,
    pub clawbacks: Money,
    pub adjustments: Money,
    pub carried: Money,
    pub net: Money,
    /// The net of the issued statements that are owed to laundries.
    pub to_pay: Money,
}

/// The laundry's statements, newest first, and the running balance of the
/// entries not yet on one.
pub async fn vendor_statements(
    pool: &PgPool,
    vendor: &User,
    paging: Paging,
) -> MarketResult<(Paged<StatementRow>, Running)> {
    if vendor.role != Role::Vendor {
        return Err(MarketError::NotFound);
    }
    let (page, _) = statements(pool, Some(vendor.id), &StatementFilter::default(), paging).await?;
    let account = format!("vendor:{}:payable", vendor.id);
    let running = sqlx::query!(
        r#"SELECT coalesce(-sum(e.amount_paisa), 0)::bigint AS "balance!", count(*) AS "entries!"
           FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
           WHERE e.account = $1 AND t.kind <> 'payout'
             AND NOT EXISTS (SELECT 1 FROM payout_statement_lines l WHERE l.ledger_entry_id = e.id)"#,
        account,
    )
    .fetch_one(pool)
    .await?;
    Ok((
        page,
        Running {
            balance: Money::from_paisa(running.balance),
            entries: running.entries,
        },
    ))
}

/// Statements, newest first, filtered, with the totals of the filtered rows.
pub async fn list_statements(
    pool: &PgPool,
    admin: &User,
    filter: &StatementFilter,
    paging: Paging,
) -> MarketResult<(Paged<StatementRow>, StatementTotals)> {
    require_admin(admin)?;
    statements(pool, None, filter, paging).await
}

/// The page and the totals of the statements of `vendor` (or everyone's)
/// that `filter` matches, in one statement (a totals row always comes
/// back, with no statement beyond the end).
async fn statements(
    pool: &PgPool,
    vendor: Option<i64>,
    filter: &StatementFilter,
    paging: Paging,
) -> MarketResult<(Paged<StatementRow>, StatementTotals)> {
    let status_word = filter.status.map(StatementStatus::as_str);
    let search = like_escaped(&filter.search);
    let rows = sqlx::query!(
        r#"WITH matching AS (
               SELECT s.id, s.vendor_id, v.business_name, u.email, s.period_start, s.period_end,
                      s.gross_paisa, s.commission_paisa, s.refunds_paisa, s.clawbacks_paisa,
                      s.adjustments_paisa, s.carried_paisa, s.net_paisa, s.status,
                      s.transfer_reference, s.paid_at, s.issued_at
               FROM payout_statements s JOIN vendors v ON v.user_id = s.vendor_id
                    JOIN users u ON u.id = s.vendor_id
               WHERE ($1::bigint IS NULL OR s.vendor_id = $1)
                 AND ($2::text IS NULL OR s.status = $2)
                 AND ($3::date IS NULL OR $3 BETWEEN s.period_start AND s.period_end)
                 AND ($4 = '' OR v.business_name ILIKE '%' || $4 || '%' ESCAPE '\'
                      OR u.email ILIKE '%' || $4 || '%' ESCAPE '\')),
           totals AS (
               SELECT count(*) AS count, coalesce(sum(gross_paisa), 0)::bigint AS gross,
                      coalesce(sum(commission_paisa), 0)::bigint AS commission,
                      coalesce(sum(refunds_paisa), 0)::bigint AS refunds,
                      coalesce(sum(clawbacks_paisa), 0)::bigint AS clawbacks,
                      coalesce(sum(adjustments_paisa), 0)::bigint AS adjustments,
                      coalesce(sum(carried_paisa), 0)::bigint AS carried,
                      coalesce(sum(net_paisa), 0)::bigint AS net,
                      coalesce(sum(net_paisa) FILTER (WHERE status = 'ISSUED' AND net_paisa > 0), 0)
                          ::bigint AS to_pay
               FROM matching)
           SELECT t.count AS "count!", t.gross AS "t_gross!", t.commission AS "t_commission!",
                  t.refunds AS "t_refunds!", t.clawbacks AS "t_clawbacks!",
                  t.adjustments AS "t_adjustments!",
                  t.carried AS "t_carried!", t.net AS "t_net!", t.to_pay AS "to_pay!",
                  m.id AS "id?", m.vendor_id AS "vendor_id?", m.business_name AS "business_name?",
                  m.email AS "email?", m.period_start AS "period_start?",
                  m.period_end AS "period_end?", m.gross_paisa AS "gross_paisa?",
                  m.commission_paisa AS "commission_paisa?", m.refunds_paisa AS "refunds_paisa?",
                  m.clawbacks_paisa AS "clawbacks_paisa?",
                  m.adjustments_paisa AS "adjustments_paisa?", m.carried_paisa AS "carried_paisa?",
                  m.net_paisa AS "net_paisa?", m.status AS "status?", m.transfer_reference,
                  m.paid_at, m.issued_at AS "issued_at?"
           FROM totals t LEFT JOIN LATERAL (
               SELECT * FROM matching ORDER BY period_start DESC, id DESC LIMIT $5 OFFSET $6
           ) m ON true
           ORDER BY m.period_start DESC, m.id DESC"#,
        vendor,
        status_word,
        filter.week,
        search,
        paging.limit(),
        paging.offset(),
    )
    .fetch_all(pool)
    .await?;
    let [
        count,
        gross,
        commission,
        refunds,
        clawbacks,
        adjustments,
        carried,
        net,
        to_pay,
    ] = rows.first().map_or([0; 9], |t| {
        [
            t.count,
            t.t_gross,
            t.t_commission,
            t.t_refunds,
            t.t_clawbacks,
            t.t_adjustments,
            t.t_carried,
            t.t_net,
            t.to_pay,
        ]
    });
    let totals = StatementTotals {
        count,
        gross: Money::from_paisa(gross),
        commission: Money::from_paisa(commission),
        refunds: Money::from_paisa(refunds),
        clawbacks: Money::from_paisa(clawbacks),
        adjustments: Money::from_paisa(adjustments),
        carried: Money::from_paisa(carried),
        net: Money::from_paisa(net),
        to_pay: Money::from_paisa(to_pay),
    };
    let items = rows
        .into_iter()
        .filter(|r| r.id.is_some())
        .map(|r| {
            Ok(StatementRow {
                id: present(r.id)?,
                vendor_id: present(r.vendor_id)?,
                business_name: present(r.business_name)?,
                email: present(r.email)?,
                period_start: present(r.period_start)?,
                period_end: present(r.period_end)?,
                gross: Money::from_paisa(present(r.gross_paisa)?),
                commission: Money::from_paisa(present(r.commission_paisa)?),
                refunds: Money::from_paisa(present(r.refunds_paisa)?),
                clawbacks: Money::from_paisa(present(r.clawbacks_paisa)?),
                adjustments: Money::from_paisa(present(r.adjustments_paisa)?),
                carried: Money::from_paisa(present(r.carried_paisa)?),
                net: Money::from_paisa(present(r.net_paisa)?),
                status: status(&present(r.status)?)?,
                transfer_reference: r.transfer_reference,
                paid_at: r.paid_at,
                issued_at: present(r.issued_at)?,
            })
        })
        .collect::<MarketResult<_>>()?;
    Ok((paging.finish(items), totals))
}

/// A column of a statement on the page, which the left join leaves empty
/// only when the page has no statement (those rows are skipped).
fn present<T>(value: Option<T>) -> MarketResult<T> {
    value.ok_or_else(|| MarketError::Internal(anyhow::anyhow!("a listed statement lacks a column")))
}

/// `text` for `ILIKE '%' || text || '%' ESCAPE '\'`: its wildcards and the
/// escape character match only themselves.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Statement `id` with its lines: its laundry sees their own, an admin
/// sees every one; anyone else learns nothing of it (not found).
pub async fn statement(pool: &PgPool, viewer: &User, id: i64) -> MarketResult<StatementDetail> {
    let everyone = match viewer.role {
        Role::Admin => true,
        Role::Vendor => false,
        Role::Customer => return Err(MarketError::NotFound),
    };
    let row = sqlx::query!(
        r#"SELECT s.id, s.vendor_id, v.business_name, u.email, s.period_start, s.period_end,
                  s.gross_paisa, s.commission_paisa, s.refunds_paisa, s.clawbacks_paisa,
                  s.adjustments_paisa, s.carried_paisa, s.net_paisa, s.status,
                  s.transfer_reference, s.paid_at, s.issued_at, p.name AS "paid_by?"
           FROM payout_statements s JOIN vendors v ON v.user_id = s.vendor_id
                JOIN users u ON u.id = s.vendor_id LEFT JOIN users p ON p.id = s.paid_by
           WHERE s.id = $1 AND ($2 OR s.vendor_id = $3)"#,
        id,
        everyone,
        viewer.id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(MarketError::NotFound)?;
    let lines = sqlx::query!(
        r#"SELECT l.id, l.kind, l.order_id, l.carried_from, l.amount_paisa,
                  t.created_at AS "at?", a.reason AS "reason?"
           FROM payout_statement_lines l
                LEFT JOIN ledger_entries e ON e.id = l.ledger_entry_id
                LEFT JOIN ledger_transactions t ON t.id = e.transaction_id
                LEFT JOIN payout_adjustments a ON t.kind = 'adjustment' AND a.id = t.source_id
           WHERE l.statement_id = $1 ORDER BY l.id"#,
        id,
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|l| {
        Ok(StatementLine {
            id: l.id,
            kind: status(&l.kind)?,
            order_id: l.order_id,
            carried_from: l.carried_from,
            at: l.at,
            reason: l.reason,
            amount: Money::from_paisa(l.amount_paisa),
        })
    })
    .collect::<MarketResult<_>>()?;
    Ok(StatementDetail {
        statement: StatementRow {
            id: row.id,
            vendor_id: row.vendor_id,
            business_name: row.business_name,
            email: row.email,
            period_start: row.period_start,
            period_end: row.period_end,
            gross: Money::from_paisa(row.gross_paisa),
            commission: Money::from_paisa(row.commission_paisa),
            refunds: Money::from_paisa(row.refunds_paisa),
            clawbacks: Money::from_paisa(row.clawbacks_paisa),
            adjustments: Money::from_paisa(row.adjustments_paisa),
            carried: Money::from_paisa(row.carried_paisa),
            net: Money::from_paisa(row.net_paisa),
            status: status(&row.status)?,
            transfer_reference: row.transfer_reference,
            paid_at: row.paid_at,
            issued_at: row.issued_at,
        },
        lines,
        paid_by: row.paid_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn row(start: Date, end: Date, status: StatementStatus, net: i64) -> StatementRow {
        StatementRow {
            id: 1,
            vendor_id: 2,
            business_name: "Sparkle".into(),
            email: "v@example.com".into(),
            period_start: start,
            period_end: end,
            gross: Money::from_paisa(net),
            commission: Money::from_paisa(0),
            refunds: Money::from_paisa(0),
            clawbacks: Money::from_paisa(0),
            adjustments: Money::from_paisa(0),
            carried: Money::from_paisa(0),
            net: Money::from_paisa(net),
            status,
            transfer_reference: None,
            paid_at: None,
            issued_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn payout_views_statuses_and_kinds_read_back_their_words() {
        for state in StatementStatus::ALL {
            assert_eq!(state.as_str().parse::<StatementStatus>(), Ok(state));
        }
        for kind in LineKind::ALL {
            assert_eq!(kind.as_str().parse::<LineKind>(), Ok(kind));
        }
    }

    #[test]
    fn payout_views_a_period_reads_as_its_days() {
        let week = row(
            date!(2026 - 11 - 22),
            date!(2026 - 11 - 28),
            StatementStatus::Issued,
            0,
        );
        assert_eq!(week.period(), "22 Nov – 28 Nov 2026");
        let new_year = row(
            date!(2026 - 12 - 27),
            date!(2027 - 01 - 02),
            StatementStatus::Issued,
            0,
        );
        assert_eq!(new_year.period(), "27 Dec 2026 – 2 Jan 2027");
    }

    #[test]
    fn payout_views_only_an_issued_statement_owing_nothing_to_dhune_is_payable() {
        let week = (date!(2026 - 11 - 22), date!(2026 - 11 - 28));
        assert!(row(week.0, week.1, StatementStatus::Issued, 100).payable());
        assert!(row(week.0, week.1, StatementStatus::Issued, 0).payable());
        assert!(!row(week.0, week.1, StatementStatus::Issued, -1).payable());
        assert!(!row(week.0, week.1, StatementStatus::Paid, 100).payable());
    }

    #[test]
    fn payout_views_lines_say_what_happened() {
        let line = |kind, carried_from| StatementLine {
            id: 1,
            kind,
            order_id: None,
            carried_from,
            at: None,
            reason: None,
            amount: Money::from_paisa(0),
        };
        assert_eq!(line(LineKind::Capture, None).label(), "Paid online");
        assert_eq!(
            line(LineKind::CashCommission, None).label(),
            "Commission on a cash order"
        );
        assert_eq!(
            line(LineKind::Clawback, None).label(),
            "Refund after payout (clawback)"
        );
        assert_eq!(
            line(LineKind::Carried, Some(7)).label(),
            "Carried from statement #7"
        );
        let mut adjustment = line(LineKind::Adjustment, None);
        assert_eq!(adjustment.label(), "Adjustment");
        adjustment.reason = Some("Courier fee".into());
        assert_eq!(adjustment.label(), "Adjustment: Courier fee");
    }

    #[test]
    fn payout_views_search_wildcards_match_only_themselves() {
        assert_eq!(like_escaped("sparkle"), "sparkle");
        assert_eq!(like_escaped("50%_off\\"), "50\\%\\_off\\\\");
    }
}
