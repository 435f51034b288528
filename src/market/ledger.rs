//! Writing the ledger, and checking it. The postings themselves (which
//! accounts, how much) are `domain::ledger`'s; this module records them once
//! per money movement and verifies the invariants of DESIGN.md ("Money").
//!
//! In the lock order (`market`'s documentation) the ledger comes last: its
//! rows are only inserted, never locked, so posting waits for nothing but a
//! concurrent posting of the same movement (below).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use anyhow::anyhow;
use sqlx::{PgConnection, PgPool};

use super::{MarketError, MarketResult};
use crate::domain::ledger::{Capture, Method, Movement, Postings, Provider};

/// What [`post`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// A new ledger transaction, with this id.
    New(i64),
    /// The movement was posted before, with the same entries, as this
    /// ledger transaction; nothing was written.
    Already(i64),
    /// The postings were empty (nothing moves), so nothing was written.
    Nothing,
}

/// Records `movement` with its `postings` in the caller's transaction: one
/// ledger transaction and its entries.
///
/// Posting the same movement again is not an error: it answers
/// [`Posted::Already`] and writes nothing, so the callers that may meet the
/// same movement twice (a provider's callback and the customer's return,
/// delivered at once) need no check of their own. Of two postings racing,
/// the second waits for the first's commit, then answers `Already` (or posts
/// itself if the first rolled back). The same movement posted again with
/// other entries is a bug, and an error.
pub async fn post(
    tx: &mut PgConnection,
    movement: Movement,
    postings: &Postings,
) -> MarketResult<Posted> {
    if postings.is_empty() {
        return Ok(Posted::Nothing);
    }
    let kind = movement.kind();
    let (source_type, source_id) = movement.source();
    let inserted = sqlx::query_scalar!(
        "INSERT INTO ledger_transactions (kind, source_type, source_id) VALUES ($1, $2, $3)
         ON CONFLICT ON CONSTRAINT ledger_transactions_one_per_movement DO NOTHING
         RETURNING id",
        kind,
        source_type,
        source_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (accounts, amounts): (Vec<String>, Vec<i64>) = postings
        .entries()
        .iter()
        .map(|entry| (entry.account.to_string(), entry.amount_paisa))
        .unzip();
    if let Some(id) = inserted {
        sqlx::query!(
            "INSERT INTO ledger_entries (transaction_id, account, amount_paisa)
             SELECT $1, account, amount FROM unnest($2::text[], $3::bigint[]) AS e (account, amount)",
            id,
            &accounts,
            &amounts,
        )
        .execute(&mut *tx)
        .await?;
        return Ok(Posted::New(id));
    }
    let id = sqlx::query_scalar!(
        "SELECT id FROM ledger_transactions WHERE kind = $1 AND source_type = $2 AND source_id = $3",
        kind,
        source_type,
        source_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut posted: Vec<(String, i64)> = sqlx::query!(
        "SELECT account, amount_paisa FROM ledger_entries WHERE transaction_id = $1",
        id
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| (row.account, row.amount_paisa))
    .collect();
    posted.sort();
    let mut wanted: Vec<(String, i64)> = accounts.into_iter().zip(amounts).collect();
    wanted.sort();
    if posted == wanted {
        Ok(Posted::Already(id))
    } else {
        Err(MarketError::Internal(anyhow!(
            "{kind} of {source_type} {source_id} was posted before as ledger transaction {id} \
             with {posted:?}, now with {wanted:?}"
        )))
    }
}

/// Something in the books that is not as the invariants say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// A ledger transaction with fewer than two entries, or whose entries do
    /// not sum to zero.
    Unbalanced {
        transaction_id: i64,
        entries: i64,
        sum_paisa: i64,
    },
    /// A ledger transaction whose source is missing, or not in a state that
    /// moved money (a capture of a payment that never succeeded, a refund
    /// that did not go through).
    Unbacked {
        transaction_id: i64,
        kind: String,
        source_type: String,
        source_id: i64,
    },
    /// A payment's `refunded_paisa` is not the sum of its succeeded refunds.
    Refunded {
        payment_id: i64,
        recorded_paisa: i64,
        succeeded_paisa: i64,
    },
    /// The postings of a payment and its refunds leave `account` at another
    /// amount than its capture less what was refunded.
    Postings {
        payment_id: i64,
        account: String,
        expected_paisa: i64,
        posted_paisa: i64,
    },
    /// A payment the ledger's rules cannot describe.
    Payment { payment_id: i64, problem: String },
    /// A payout statement whose net is not the sum of its lines.
    Statement {
        statement_id: i64,
        net_paisa: i64,
        lines_paisa: i64,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Unbalanced {
                transaction_id,
                entries,
                sum_paisa,
            } => write!(
                f,
                "ledger transaction {transaction_id} does not balance: \
                 {entries} entries summing to {sum_paisa} paisa"
            ),
            Difference::Unbacked {
                transaction_id,
                kind,
                source_type,
                source_id,
            } => write!(
                f,
                "ledger transaction {transaction_id} ({kind} of {source_type} {source_id}) \
                 has no {source_type} behind it that moved money"
            ),
            Difference::Refunded {
                payment_id,
                recorded_paisa,
                succeeded_paisa,
            } => write!(
                f,
                "payment {payment_id}: refunded_paisa is {recorded_paisa}, \
                 but its succeeded refunds sum to {succeeded_paisa}"
            ),
            Difference::Postings {
                payment_id,
                account,
                expected_paisa,
                posted_paisa,
            } => write!(
                f,
                "payment {payment_id}: {account} should hold {expected_paisa} paisa \
                 from it, its postings hold {posted_paisa}"
            ),
            Difference::Payment {
                payment_id,
                problem,
            } => write!(f, "payment {payment_id}: {problem}"),
            Difference::Statement {
                statement_id,
                net_paisa,
                lines_paisa,
            } => write!(
                f,
                "payout statement {statement_id}: its net is {net_paisa} paisa, \
                 its lines sum to {lines_paisa}"
            ),
        }
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub transactions: i64,
    pub entries: i64,
    pub differences: Vec<Difference>,
}

/// Verifies every invariant of the books that exists so far, on one
/// snapshot of the database (so money moving meanwhile shows no false
/// difference): every ledger transaction balances and has a source that
/// moved money; each payment's `refunded_paisa` is the sum of its succeeded
/// refunds; and the postings of each payment and its refunds leave on every
/// account what its capture less what was refunded leaves by the rules of
/// `domain::ledger` (so the provider's account holds captured − refunded,
/// and the commission is the rate on what was paid); and each payout
/// statement's net is the sum of its lines.
pub async fn check(pool: &PgPool) -> MarketResult<Report> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;

    let totals = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM ledger_transactions) AS "transactions!",
                  (SELECT count(*) FROM ledger_entries) AS "entries!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut differences = Vec::new();

    let unbalanced = sqlx::query!(
        r#"SELECT t.id, count(e.id) AS "entries!", coalesce(sum(e.amount_paisa), 0)::bigint AS "sum!"
           FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id
           GROUP BY t.id
           HAVING count(e.id) < 2 OR coalesce(sum(e.amount_paisa), 0) <> 0
           ORDER BY t.id"#
    )
    .fetch_all(&mut *tx)
    .await?;
    differences.extend(unbalanced.into_iter().map(|row| Difference::Unbalanced {
        transaction_id: row.id,
        entries: row.entries,
        sum_paisa: row.sum,
    }));

    let unbacked = sqlx::query!(
        r#"SELECT t.id, t.kind, t.source_type, t.source_id FROM ledger_transactions t
           WHERE NOT CASE t.kind
               WHEN 'capture' THEN EXISTS (
                   SELECT 1 FROM payments p WHERE p.id = t.source_id
                   AND p.status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED'))
               WHEN 'refund' THEN EXISTS (
                   SELECT 1 FROM refunds r WHERE r.id = t.source_id AND r.status = 'SUCCEEDED')
               ELSE false END
           ORDER BY t.id"#
    )
    .fetch_all(&mut *tx)
    .await?;
    differences.extend(unbacked.into_iter().map(|row| Difference::Unbacked {
        transaction_id: row.id,
        kind: row.kind,
        source_type: row.source_type,
        source_id: row.source_id,
    }));

    // What the ledger holds per payment and account, from the capture of
    // the payment and its refunds.
    let mut posted: HashMap<i64, BTreeMap<String, i64>> = HashMap::new();
    let rows = sqlx::query!(
        r#"WITH movements (payment_id, transaction_id) AS (
               SELECT t.source_id, t.id FROM ledger_transactions t WHERE t.kind = 'capture'
               UNION ALL
               SELECT r.payment_id, t.id FROM ledger_transactions t
               JOIN refunds r ON r.id = t.source_id WHERE t.kind = 'refund')
           SELECT m.payment_id AS "payment_id!", e.account, sum(e.amount_paisa)::bigint AS "amount!"
           FROM movements m JOIN ledger_entries e ON e.transaction_id = m.transaction_id
           GROUP BY m.payment_id, e.account"#
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in rows {
        posted
            .entry(row.payment_id)
            .or_default()
            .insert(row.account, row.amount);
    }

    let payments = sqlx::query!(
        r#"SELECT p.id, p.method, p.provider, p.status, p.amount_paisa, p.refunded_paisa,
                  o.vendor_id, o.commission_bps,
                  (SELECT coalesce(sum(r.amount_paisa), 0) FROM refunds r
                   WHERE r.payment_id = p.id AND r.status = 'SUCCEEDED')::bigint AS "succeeded!"
           FROM payments p JOIN orders o ON o.id = p.order_id
           ORDER BY p.id"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let statements = sqlx::query!(
        r#"SELECT s.id, s.net_paisa,
                  coalesce(sum(l.amount_paisa), 0)::bigint AS "lines!"
           FROM payout_statements s LEFT JOIN payout_statement_lines l ON l.statement_id = s.id
           GROUP BY s.id
           HAVING s.net_paisa <> coalesce(sum(l.amount_paisa), 0)
           ORDER BY s.id"#
    )
    .fetch_all(&mut *tx)
    .await?;
    differences.extend(statements.into_iter().map(|row| Difference::Statement {
        statement_id: row.id,
        net_paisa: row.net_paisa,
        lines_paisa: row.lines,
    }));
    tx.commit().await?;

    for payment in payments {
        if payment.refunded_paisa != payment.succeeded {
            differences.push(Difference::Refunded {
                payment_id: payment.id,
                recorded_paisa: payment.refunded_paisa,
                succeeded_paisa: payment.succeeded,
            });
        }
        let captured = matches!(
            payment.status.as_str(),
            "SUCCEEDED" | "PARTIALLY_REFUNDED" | "REFUNDED"
        );
        let expected = if captured {
            let method = match (payment.method.as_str(), payment.provider.as_deref()) {
                ("cod", None) => Ok(Method::CashOnDelivery),
                ("online", Some(name)) => name
                    .parse::<Provider>()
                    .map(Method::Online)
                    .map_err(|unknown| unknown.to_string()),
                (method, provider) => Err(format!(
                    "method {method:?} with provider {provider:?} is not a way to pay"
                )),
            };
            method.and_then(|method| {
                Capture {
                    method,
                    vendor_id: payment.vendor_id,
                    amount_paisa: payment.amount_paisa,
                    commission_bps: payment.commission_bps,
                }
                .settled(payment.refunded_paisa)
                .map_err(|err| err.to_string())
            })
        } else {
            Ok(Postings::default())
        };
        let expected = match expected {
            Ok(expected) => expected,
            Err(problem) => {
                differences.push(Difference::Payment {
                    payment_id: payment.id,
                    problem,
                });
                continue;
            }
        };
        let mut accounts: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for entry in expected.entries() {
            accounts.entry(entry.account.to_string()).or_default().0 = entry.amount_paisa;
        }
        for (account, amount) in posted.remove(&payment.id).unwrap_or_default() {
            accounts.entry(account).or_default().1 = amount;
        }
        differences.extend(
            accounts
                .into_iter()
                .filter(|(_, (expected, posted))| expected != posted)
                .map(
                    |(account, (expected_paisa, posted_paisa))| Difference::Postings {
                        payment_id: payment.id,
                        account,
                        expected_paisa,
                        posted_paisa,
                    },
                ),
        );
    }
    Ok(Report {
        transactions: totals.transactions,
        entries: totals.entries,
        differences,
    })
}
