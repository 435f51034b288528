//! Weekly payout statements (DESIGN.md, "Money" → "Payouts"): issued by the
//! sweep once a Nepal week has ended, one per vendor and week, from the
//! entries of the vendor's ledger account that are not yet on a statement.
//!
//! Exactly once on any number of instances: each vendor is issued under a
//! transaction-level advisory lock (`pg_try_advisory_xact_lock`; a vendor
//! another instance is issuing is skipped this tick), and the database keeps
//! the rest: one statement per (vendor, week) and every ledger entry on at
//! most one line (unique constraints), so a race that slipped past the lock
//! fails instead of paying twice. Statements only insert rows and lock none,
//! so they take no place in the lock order (`market`'s documentation).

use std::collections::{BTreeMap, HashSet};

use sqlx::PgPool;
use time::{Date, Duration, OffsetDateTime};

use super::accounts::{Laundry, User, laundry_by_email};
use super::audit::{self, Entry};
use super::{MarketError, MarketResult, ledger, record, require_admin};
use crate::domain::audit::AuditAction;
use crate::domain::ledger::{Movement, adjustment, payout};
use crate::domain::money::Money;
use crate::domain::payouts::{LineKind, adjustment_paisa, week_begins, week_end, week_start};
use crate::domain::{FieldErrors, clean_text};
use crate::events::{EventKind, NewEvent};

/// The first key of the advisory lock a vendor's statements are issued under.
const ISSUING: i32 = 0x5354_4d54;

/// One line to be, before its statement exists.
struct Line {
    entry_id: i64,
    kind: LineKind,
    order_id: Option<i64>,
    amount_paisa: i64,
}

/// The vendor's latest statement, for the carry and the next week.
struct Previous {
    id: i64,
    period_start: Date,
    net_paisa: i64,
    carried: bool,
}

/// A ledger entry of a vendor's account not yet on a statement.
struct Unissued {
    vendor_id: i64,
    id: i64,
    amount_paisa: i64,
    kind: String,
    created_at: OffsetDateTime,
    order_id: Option<i64>,
    method: Option<String>,
    capture_entry_id: Option<i64>,
    capture_on_statement: bool,
}

/// A statement to be: its week, its lines and totals, and what it carries.
struct Planned {
    week: Date,
    lines: Vec<Line>,
    totals: [i64; 5],
    carried_paisa: i64,
    carry: Option<Carry>,
    net_paisa: i64,
}

/// Where a carried negative net comes from: a statement issued before, or
/// one planned earlier in the same run (by its place in the plan).
#[derive(Clone, Copy)]
enum Carry {
    Issued(i64),
    Planned(usize),
}

/// How many vendors' entries are read at once.
const VENDORS_PER_READ: usize = 100;

/// Issues the statements of every week that has ended at `now`, for every
/// vendor with ledger entries not yet on a statement: the number issued.
///
/// A vendor's entries go to the statement of the week their ledger
/// transaction was written in, or, when that week already has its statement
/// (a transaction that committed after its week was issued), to the first
/// week after the vendor's latest statement, once that week has ended too
/// (never to a statement of the week still running). A vendor whose previous
/// statement ended with a negative net gets it as a `carried` line on their
/// next statement, issued once they have new entries.
///
/// The entries of many vendors are read in one query; each vendor is then
/// issued in a transaction of its own, all its weeks at once, and skipped
/// (until the next run) when another instance issued any of them meanwhile.
pub async fn issue_statements(pool: &PgPool, now: OffsetDateTime) -> MarketResult<u64> {
    Ok(issue(pool, now).await?.0)
}

/// The sweep's issuer on one instance. Finding the unissued entries reads
/// the whole ledger (2 s at a million orders), so it does that on its first
/// tick and then once each week has ended, not on every tick: an entry
/// committed late, after its week was issued, goes on the next week's
/// statement anyway (see [`issue_statements`]), which the next week's run
/// finds. A run that skipped a laundry (another instance was issuing it)
/// is not complete, and runs again on the next tick.
#[derive(Debug, Default)]
pub struct Issuer {
    /// The week in which a run last issued every laundry's entries.
    done_in: Option<Date>,
}

impl Issuer {
    /// Issues what [`issue_statements`] would at `now`, unless this week's
    /// run is done: the number issued.
    pub async fn tick(&mut self, pool: &PgPool, now: OffsetDateTime) -> MarketResult<u64> {
        let week = week_start(now);
        if self.done_in == Some(week) {
            return Ok(0);
        }
        let (issued, complete) = issue(pool, now).await?;
        if complete {
            self.done_in = Some(week);
        }
        Ok(issued)
    }
}

/// Issues as [`issue_statements`] says: the number issued, and whether no
/// laundry was skipped.
async fn issue(pool: &PgPool, now: OffsetDateTime) -> MarketResult<(u64, bool)> {
    let cutoff = week_begins(week_start(now));
    let vendors = sqlx::query_scalar!(
        r#"SELECT DISTINCT split_part(e.account, ':', 2)::bigint AS "vendor_id!"
           FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
           WHERE e.account LIKE 'vendor:%' AND t.created_at < $1 AND t.kind <> 'payout'
             AND NOT EXISTS (SELECT 1 FROM payout_statement_lines l WHERE l.ledger_entry_id = e.id)
           ORDER BY 1"#,
        cutoff,
    )
    .fetch_all(pool)
    .await?;
    let (mut issued, mut complete) = (0, true);
    for chunk in vendors.chunks(VENDORS_PER_READ) {
        let accounts: Vec<String> = chunk
            .iter()
            .map(|vendor| format!("vendor:{vendor}:payable"))
            .collect();
        let entries = sqlx::query_as!(
            Unissued,
            r#"SELECT split_part(e.account, ':', 2)::bigint AS "vendor_id!",
                      e.id, e.amount_paisa, t.kind, t.created_at,
                      coalesce(cp.order_id, rp.order_id) AS order_id, cp.method AS "method?",
                      ce.id AS "capture_entry_id?",
                      EXISTS (SELECT 1 FROM payout_statement_lines l WHERE l.ledger_entry_id = ce.id)
                          AS "capture_on_statement!"
               FROM ledger_entries e
               JOIN ledger_transactions t ON t.id = e.transaction_id
               LEFT JOIN payments cp ON t.kind = 'capture' AND cp.id = t.source_id
               LEFT JOIN refunds r ON t.kind = 'refund' AND r.id = t.source_id
               LEFT JOIN payments rp ON rp.id = r.payment_id
               LEFT JOIN ledger_transactions ct
                      ON ct.kind = 'capture' AND ct.source_type = 'payment' AND ct.source_id = r.payment_id
               LEFT JOIN ledger_entries ce ON ce.transaction_id = ct.id AND ce.account = e.account
               WHERE e.account = ANY($1) AND t.created_at < $2 AND t.kind <> 'payout'
                 AND NOT EXISTS (SELECT 1 FROM payout_statement_lines l WHERE l.ledger_entry_id = e.id)
               ORDER BY 1, t.created_at, e.id"#,
            &accounts,
            cutoff,
        )
        .fetch_all(pool)
        .await?;
        for vendor in entries.chunk_by(|a, b| a.vendor_id == b.vendor_id) {
            match issue_for_vendor(pool, vendor, week_start(now)).await? {
                Some(n) => issued += n,
                None => complete = false,
            }
        }
    }
    Ok((issued, complete))
}

/// Issues one vendor's statements from `entries` (all theirs, oldest
/// first), under the vendor's advisory lock: the number issued, or `None`
/// when another instance is issuing them or has since.
async fn issue_for_vendor(
    pool: &PgPool,
    entries: &[Unissued],
    running: Date,
) -> MarketResult<Option<u64>> {
    let Some(vendor_id) = entries.first().map(|entry| entry.vendor_id) else {
        return Ok(Some(0));
    };
    let mut tx = pool.begin().await?;
    let key = i32::try_from(vendor_id.rem_euclid(1 << 31)).unwrap_or_default();
    let entry_ids: Vec<i64> = entries.iter().map(|entry| entry.id).collect();
    // Locked, and none of the entries read issued by another instance since.
    let free = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock($1, $2)
                  AND NOT EXISTS (SELECT 1 FROM payout_statement_lines
                                  WHERE ledger_entry_id = ANY($3)) AS "free!""#,
        ISSUING,
        key,
        &entry_ids,
    )
    .fetch_one(&mut *tx)
    .await?;
    if !free {
        return Ok(None);
    }
    let previous = sqlx::query_as!(
        Previous,
        r#"SELECT s.id, s.period_start, s.net_paisa,
                  EXISTS (SELECT 1 FROM payout_statement_lines l WHERE l.carried_from = s.id)
                      AS "carried!"
           FROM payout_statements s WHERE s.vendor_id = $1
           ORDER BY s.period_start DESC LIMIT 1"#,
        vendor_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let planned = plan(entries, previous.as_ref(), running);

    let weeks: Vec<Date> = planned.iter().map(|p| p.week).collect();
    let ends: Vec<Date> = weeks.iter().map(|&week| week_end(week)).collect();
    let total = |n: usize| -> Vec<i64> { planned.iter().map(|p| p.totals[n]).collect() };
    let carried: Vec<i64> = planned.iter().map(|p| p.carried_paisa).collect();
    let nets: Vec<i64> = planned.iter().map(|p| p.net_paisa).collect();
    // Each week once (one statement per week), so the week names its id.
    let by_week: BTreeMap<Date, i64> = sqlx::query!(
        r#"INSERT INTO payout_statements
               (vendor_id, period_start, period_end, gross_paisa, commission_paisa,
                refunds_paisa, clawbacks_paisa, adjustments_paisa, carried_paisa, net_paisa)
           SELECT $1, w, e, g, c, r, cl, a, ca, n
           FROM unnest($2::date[], $3::date[], $4::bigint[], $5::bigint[], $6::bigint[],
                       $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])
                WITH ORDINALITY AS s (w, e, g, c, r, cl, a, ca, n, ord)
           ORDER BY ord
           RETURNING id, period_start"#,
        vendor_id,
        &weeks,
        &ends,
        &total(0),
        &total(1),
        &total(2),
        &total(3),
        &total(4),
        &carried,
        &nets,
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| (row.period_start, row.id))
    .collect();
    let statement_of = |week: Date| -> MarketResult<i64> {
        by_week.get(&week).copied().ok_or_else(|| {
            MarketError::Internal(anyhow::anyhow!(
                "statement of {week} for vendor {vendor_id} not written"
            ))
        })
    };

    let (mut carry_to, mut carry_from, mut carry_amounts) = (Vec::new(), Vec::new(), Vec::new());
    let (mut line_statements, mut line_entries, mut line_kinds, mut line_orders, mut line_amounts) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::<Option<i64>>::new(),
        Vec::new(),
    );
    for p in &planned {
        let statement_id = statement_of(p.week)?;
        if let Some(carry) = p.carry {
            carry_to.push(statement_id);
            carry_from.push(match carry {
                Carry::Issued(id) => id,
                Carry::Planned(n) => statement_of(planned[n].week)?,
            });
            carry_amounts.push(p.carried_paisa);
        }
        for line in &p.lines {
            line_statements.push(statement_id);
            line_entries.push(line.entry_id);
            line_kinds.push(line.kind.as_str().to_owned());
            line_orders.push(line.order_id);
            line_amounts.push(line.amount_paisa);
        }
    }
    sqlx::query!(
        "INSERT INTO payout_statement_lines (statement_id, carried_from, kind, amount_paisa)
         SELECT s, f, 'carried', a FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])
              WITH ORDINALITY AS c (s, f, a, n)
         ORDER BY n",
        &carry_to,
        &carry_from,
        &carry_amounts,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO payout_statement_lines
             (statement_id, ledger_entry_id, kind, order_id, amount_paisa)
         SELECT s, entry, kind, order_id, amount
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[])
              WITH ORDINALITY AS l (s, entry, kind, order_id, amount, n)
         ORDER BY n",
        &line_statements,
        &line_entries,
        &line_kinds,
        &line_orders as &[Option<i64>],
        &line_amounts,
    )
    .execute(&mut *tx)
    .await?;
    for p in &planned {
        record(
            &mut tx,
            &NewEvent::by_dhune(EventKind::PayoutIssued)
                .statement(statement_of(p.week)?)
                .price(Money::from_paisa(p.net_paisa))
                .to(&[vendor_id]),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Some(u64::try_from(planned.len()).unwrap_or_default()))
}

/// The statements a vendor's unissued `entries` make, oldest week first,
/// after their `previous` statement, for weeks before the `running` one.
fn plan(entries: &[Unissued], previous: Option<&Previous>, running: Date) -> Vec<Planned> {
    // The week each entry goes to, never one already issued; one that would
    // go to the week still `running` waits for it to end.
    let first_open = previous.and_then(|p| p.period_start.checked_add(Duration::days(7)));
    let mut weeks: BTreeMap<Date, Vec<&Unissued>> = BTreeMap::new();
    for entry in entries {
        let week = week_start(entry.created_at).max(first_open.unwrap_or(Date::MIN));
        if week < running {
            weeks.entry(week).or_default().push(entry);
        }
    }

    let mut on_earlier: HashSet<i64> = HashSet::new();
    // The carry the next statement takes: a negative net not carried yet.
    let mut carry = previous
        .filter(|p| p.net_paisa < 0 && !p.carried)
        .map(|p| (Carry::Issued(p.id), p.net_paisa));
    let mut planned = Vec::with_capacity(weeks.len());
    for (week, entries) in weeks {
        let lines: Vec<Line> = entries
            .iter()
            .map(|entry| {
                let kind = match (entry.kind.as_str(), entry.method.as_deref()) {
                    ("capture", Some("cod")) => LineKind::CashCommission,
                    ("capture", _) => LineKind::Capture,
                    ("adjustment", _) => LineKind::Adjustment,
                    _ if entry.capture_on_statement
                        || entry
                            .capture_entry_id
                            .is_some_and(|id| on_earlier.contains(&id)) =>
                    {
                        LineKind::Clawback
                    }
                    _ => LineKind::Refund,
                };
                Line {
                    entry_id: entry.id,
                    kind,
                    order_id: entry.order_id,
                    amount_paisa: -entry.amount_paisa,
                }
            })
            .collect();
        let sum = |kind: LineKind| -> i64 {
            lines
                .iter()
                .filter(|line| line.kind == kind)
                .map(|line| line.amount_paisa)
                .sum()
        };
        let totals = [
            sum(LineKind::Capture),
            sum(LineKind::CashCommission),
            sum(LineKind::Refund),
            sum(LineKind::Clawback),
            sum(LineKind::Adjustment),
        ];
        let carried_paisa = carry.map_or(0, |(_, net)| net);
        let net_paisa = totals.iter().sum::<i64>() + carried_paisa;
        on_earlier.extend(lines.iter().map(|line| line.entry_id));
        planned.push(Planned {
            week,
            lines,
            totals,
            carried_paisa,
            carry: carry.map(|(from, _)| from),
            net_paisa,
        });
        carry = (net_paisa < 0).then(|| (Carry::Planned(planned.len() - 1), net_paisa));
    }
    planned
}

/// An admin records that statement `id` was paid by the bank transfer
/// `reference`: audited, the payout posted to the ledger (vendor +net,
/// `cash:payouts` −net; nothing when the net is zero), and the laundry told
/// (`payout_paid`). Refused when the statement is already paid, or when its
/// net is negative (that carries into the laundry's next statement). Two
/// admins at once: the statement's row lock lets one pay, the other is told
/// it was paid.
pub async fn mark_paid(pool: &PgPool, admin: &User, id: i64, reference: &str) -> MarketResult<()> {
    require_admin(admin)?;
    let reference = clean_text(reference, 1, 100, false)
        .map_err(|message| MarketError::Invalid(FieldErrors::single("reference", message)))?;
    let mut tx = pool.begin().await?;
    let statement = sqlx::query!(
        "SELECT vendor_id, net_paisa, status, transfer_reference FROM payout_statements
         WHERE id = $1 FOR NO KEY UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(MarketError::NotFound)?;
    if statement.status == "PAID" {
        return Err(MarketError::Conflict(format!(
            "Statement #{id} was already paid (transfer {}).",
            statement.transfer_reference.unwrap_or_default()
        )));
    }
    if statement.net_paisa < 0 {
        return Err(MarketError::Conflict(format!(
            "Statement #{id} ends {} in Dhune's favour: there is nothing to pay, and it \
             carries into the laundry's next statement.",
            Money::from_paisa(-statement.net_paisa)
        )));
    }
    sqlx::query!(
        "UPDATE payout_statements
         SET status = 'PAID', paid_at = now(), paid_by = $2, transfer_reference = $3
         WHERE id = $1",
        id,
        admin.id,
        reference,
    )
    .execute(&mut *tx)
    .await?;
    if statement.net_paisa > 0 {
        let postings = payout(statement.vendor_id, statement.net_paisa)
            .map_err(|err| MarketError::Internal(anyhow::anyhow!(err)))?;
        ledger::post(&mut tx, Movement::Payout { statement_id: id }, &postings).await?;
    }
    let net = Money::from_paisa(statement.net_paisa).to_string();
    audit::write(
        &mut tx,
        admin,
        &Entry {
            action: AuditAction::PayStatement,
            target_type: "payout_statement",
            target_id: id,
            reason: &reference,
            before: Some("ISSUED"),
            after: Some(&format!("PAID {net}")),
        },
    )
    .await?;
    record(
        &mut tx,
        &NewEvent::new(EventKind::PayoutPaid, admin.id, crate::events::DHUNE)
            .statement(id)
            .price(Money::from_paisa(statement.net_paisa))
            .to(&[statement.vendor_id]),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// An admin adjusts a laundry's balance: `direction` `credit` (Dhune owes
/// it `amount` rupees more) or `debit` (it owes Dhune), with a reason.
/// Audited, posted to the ledger against `platform:adjustments`, and on the
/// laundry's next statement as an `adjustment` line. Inserts only, so it
/// takes no place in the lock order. Returns the laundry and the signed
/// paisa.
pub async fn adjust(
    pool: &PgPool,
    admin: &User,
    vendor_email: &str,
    direction: &str,
    amount: &str,
    reason: &str,
) -> MarketResult<(Laundry, i64)> {
    require_admin(admin)?;
    let mut errors = FieldErrors::new();
    let laundry = laundry_by_email(pool, &mut errors, "email", vendor_email).await?;
    let paisa = adjustment_paisa(direction, amount, &mut errors);
    let reason = errors.check("reason", clean_text(reason, 1, 2000, true));
    let (laundry, paisa, reason) = errors
        .finish(|| Some((laundry?, paisa?, reason?)))
        .map_err(MarketError::Invalid)?;
    let postings = adjustment(laundry.user_id, paisa)
        .map_err(|err| MarketError::Internal(anyhow::anyhow!(err)))?;
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO payout_adjustments (vendor_id, amount_paisa, reason, created_by)
         VALUES ($1, $2, $3, $4) RETURNING id",
        laundry.user_id,
        paisa,
        reason,
        admin.id,
    )
    .fetch_one(&mut *tx)
    .await?;
    ledger::post(
        &mut tx,
        Movement::Adjustment { adjustment_id: id },
        &postings,
    )
    .await?;
    let shown = if paisa > 0 {
        format!("Dhune owes {} more", Money::from_paisa(paisa))
    } else {
        format!("the laundry owes {}", Money::from_paisa(-paisa))
    };
    audit::write(
        &mut tx,
        admin,
        &Entry {
            action: AuditAction::AdjustBalance,
            target_type: "user",
            target_id: laundry.user_id,
            reason: &reason,
            before: None,
            after: Some(&shown),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((laundry, paisa))
}
