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

use super::accounts::User;
use super::{MarketError, MarketResult, require_admin};
use crate::domain::ledger::{Account, Capture, Method, Movement, Postings, Provider};
use crate::domain::money::Money;

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
    /// that did not go through, a payout of a statement that is not paid).
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
    /// What a laundry's account says Dhune owes it (−its balance) is not
    /// what its statements and the entries on none say: the net of its
    /// issued statements still owed, plus its entries not yet on a
    /// statement (see [`check`] for why these must be equal).
    VendorBalance {
        vendor_id: i64,
        owed_paisa: i64,
        statements_paisa: i64,
        unlisted_paisa: i64,
    },
    /// A paid statement whose payout in the ledger is not its net: it
    /// should move +net to the laundry's account and −net from
    /// `cash:payouts` in one `payout` transaction (none at all when the net
    /// is zero); `account` holds `posted_paisa` from it instead.
    Payout {
        statement_id: i64,
        account: String,
        expected_paisa: i64,
        posted_paisa: i64,
    },
    /// The commission the platform holds (−`platform:commission`) is not
    /// the commission of every captured payment at its order's snapshot
    /// rate on what was finally paid.
    Commission {
        earned_paisa: i64,
        expected_paisa: i64,
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
            Difference::VendorBalance {
                vendor_id,
                owed_paisa,
                statements_paisa,
                unlisted_paisa,
            } => write!(
                f,
                "vendor:{vendor_id}:payable says Dhune owes the laundry {owed_paisa} paisa, \
                 but its unpaid statements ({statements_paisa}) and its entries on no \
                 statement ({unlisted_paisa}) come to {}",
                statements_paisa + unlisted_paisa
            ),
            Difference::Payout {
                statement_id,
                account,
                expected_paisa,
                posted_paisa,
            } => write!(
                f,
                "paid payout statement {statement_id}: its payout should move \
                 {expected_paisa} paisa on {account}, the ledger moves {posted_paisa}"
            ),
            Difference::Commission {
                earned_paisa,
                expected_paisa,
            } => write!(
                f,
                "platform:commission holds {earned_paisa} paisa earned, but the commission \
                 on what was finally paid for every captured payment comes to {expected_paisa}"
            ),
        }
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub transactions: i64,
    pub entries: i64,
    /// The platform's balances, read in the same snapshot as the check.
    pub balances: Balances,
    pub differences: Vec<Difference>,
}

/// The balances of the platform's accounts, as the ledger holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balances {
    /// What each provider collected for us and has yet to settle (its
    /// clearing account), every provider in order, nothing as zero.
    pub providers: Vec<(Provider, Money)>,
    /// What Dhune owes the laundries, net of what some owe it: −Σ of the
    /// vendor accounts.
    pub vendors_payable: Money,
    /// Of it, the net of the issued statements still owed (not paid, and
    /// not carried into a later statement).
    pub on_statements: Money,
    /// Of it, the vendor entries on no statement yet: the current week's,
    /// and any of an ended week the sweep has not issued yet.
    pub not_on_statements: Money,
    /// The platform's commission (−`platform:commission`).
    pub commission_earned: Money,
    /// What admins credited laundries, net of debits
    /// (`platform:adjustments`: Dhune bears it).
    pub adjustments: Money,
    /// Paid out to laundries (−`cash:payouts`).
    pub paid_out: Money,
}

impl Report {
    /// Whether the books balance: no difference at all.
    pub fn balanced(&self) -> bool {
        self.differences.is_empty()
    }
}

/// [`check`], for the admin's Books page; anyone else learns nothing.
pub async fn books(pool: &PgPool, admin: &User) -> MarketResult<Report> {
    require_admin(admin)?;
    check(pool).await
}

/// Verifies every invariant of the books, on one snapshot of the database
/// (so money moving meanwhile shows no false difference):
/// - every ledger transaction balances and has a source that moved money
///   (a payment that succeeded, a refund that went through, a statement
///   that was paid);
/// - each payment's `refunded_paisa` is the sum of its succeeded refunds,
///   and the postings of each payment and its refunds leave on every
///   account what its capture less what was refunded leaves by the rules
///   of `domain::ledger` (so the provider's account holds captured −
///   refunded);
/// - each payout statement's net is the sum of its lines;
/// - each paid statement with a net above zero has its payout (laundry
///   +net, `cash:payouts` −net) and one paid at zero has none;
/// - the platform's commission account holds, to the paisa, the commission
///   of every captured payment (online, and cash collected) at its order's
///   snapshot rate on what the customer finally paid
///   ([`Capture::commission_after`]), computed from the payments and not
///   from the postings;
/// - each laundry's account holds what it is owed by its statements and
///   its entries on none, as follows.
///
/// # A laundry's balance
///
/// Let B be the balance of `vendor:<id>:payable` (negative: Dhune owes).
/// Its entries are of three kinds: those on a statement line, those on no
/// line yet, and payouts (never on a line). Each statement S has net(S) =
/// Σ of its lines; an entry's line holds −(the entry), and a `carried` line
/// holds net(P) of the previous statement P it carries (only ever a
/// negative one). Summing over all the laundry's statements:
///
/// Σ net(S) = −Σ(entries on lines) + Σ net(P) over the carried P,
///
/// so −Σ(entries on lines) = Σ net(S) over the statements NOT carried: a
/// carried statement's net is counted again in the statement that carries
/// it, so it must not be counted twice. A paid statement's payout entry is
/// +net(S) (and none at net 0), cancelling that statement, and a paid
/// statement is never carried (paid means net ≥ 0; carried means net < 0).
/// Hence
///
/// −B = Σ net(S) over the statements still ISSUED and not carried
///      + Σ −(entry) over the non-payout entries on no line,
///
/// what Dhune owes the laundry on unpaid statements plus the current week.
/// The other checks do not imply it: a line whose amount is not its
/// entry's, a line of another laundry's entry, or a carried line that is
/// not the net it carries breaks only this one.
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
               WHEN 'payout' THEN EXISTS (
                   SELECT 1 FROM payout_statements s WHERE s.id = t.source_id AND s.status = 'PAID')
               WHEN 'adjustment' THEN EXISTS (
                   SELECT 1 FROM payout_adjustments a
                   JOIN ledger_entries e ON e.transaction_id = t.id
                    AND e.account = 'vendor:' || a.vendor_id || ':payable'
                    AND e.amount_paisa = -a.amount_paisa
                   WHERE a.id = t.source_id)
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

    // The payout of each paid statement against its net; a payout of a
    // statement not paid is unbacked (above), not counted again here.
    let payouts = sqlx::query!(
        r#"WITH expected (statement_id, account, amount) AS (
               SELECT s.id, 'vendor:' || s.vendor_id || ':payable', s.net_paisa
               FROM payout_statements s WHERE s.status = 'PAID' AND s.net_paisa <> 0
               UNION ALL
               SELECT s.id, 'cash:payouts', -s.net_paisa
               FROM payout_statements s WHERE s.status = 'PAID' AND s.net_paisa <> 0),
           posted (statement_id, account, amount) AS (
               SELECT t.source_id, e.account, sum(e.amount_paisa)
               FROM ledger_transactions t
               JOIN payout_statements s ON s.id = t.source_id AND s.status = 'PAID'
               JOIN ledger_entries e ON e.transaction_id = t.id
               WHERE t.kind = 'payout'
               GROUP BY t.source_id, e.account)
           SELECT statement_id AS "statement_id!", account AS "account!",
                  coalesce(x.amount, 0)::bigint AS "expected!",
                  coalesce(p.amount, 0)::bigint AS "posted!"
           FROM expected x FULL JOIN posted p USING (statement_id, account)
           WHERE coalesce(x.amount, 0) <> coalesce(p.amount, 0)
           ORDER BY statement_id, account"#
    )
    .fetch_all(&mut *tx)
    .await?;
    differences.extend(payouts.into_iter().map(|row| Difference::Payout {
        statement_id: row.statement_id,
        account: row.account,
        expected_paisa: row.expected,
        posted_paisa: row.posted,
    }));

    // Each laundry: what its account says is owed, against its statements
    // still owed and its entries on none (see above).
    let vendors = sqlx::query!(
        r#"WITH balances (vendor_id, owed) AS (
               SELECT split_part(account, ':', 2)::bigint, -sum(amount_paisa)
               FROM ledger_entries WHERE account LIKE 'vendor:%' GROUP BY 1),
           statements (vendor_id, owed) AS (
               SELECT s.vendor_id, sum(s.net_paisa) FROM payout_statements s
               WHERE s.status = 'ISSUED'
                 AND NOT EXISTS (SELECT 1 FROM payout_statement_lines l WHERE l.carried_from = s.id)
               GROUP BY 1),
           unlisted (vendor_id, owed) AS (
               SELECT split_part(e.account, ':', 2)::bigint, -sum(e.amount_paisa)
               FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
               WHERE e.account LIKE 'vendor:%' AND t.kind <> 'payout'
                 AND NOT EXISTS (SELECT 1 FROM payout_statement_lines l WHERE l.ledger_entry_id = e.id)
               GROUP BY 1)
           SELECT vendor_id AS "vendor_id!", coalesce(b.owed, 0)::bigint AS "owed!",
                  coalesce(s.owed, 0)::bigint AS "statements!",
                  coalesce(u.owed, 0)::bigint AS "unlisted!"
           FROM balances b FULL JOIN statements s USING (vendor_id) FULL JOIN unlisted u USING (vendor_id)
           ORDER BY vendor_id"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let (mut vendors_payable, mut on_statements, mut not_on_statements) = (0, 0, 0);
    for vendor in vendors {
        vendors_payable += vendor.owed;
        on_statements += vendor.statements;
        not_on_statements += vendor.unlisted;
        if vendor.owed != vendor.statements + vendor.unlisted {
            differences.push(Difference::VendorBalance {
                vendor_id: vendor.vendor_id,
                owed_paisa: vendor.owed,
                statements_paisa: vendor.statements,
                unlisted_paisa: vendor.unlisted,
            });
        }
    }

    // The platform's own accounts.
    let accounts: HashMap<String, i64> = sqlx::query!(
        r#"SELECT account, sum(amount_paisa)::bigint AS "balance!" FROM ledger_entries
           WHERE account NOT LIKE 'vendor:%' GROUP BY account"#
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| (row.account, row.balance))
    .collect();
    tx.commit().await?;
    let balance = |account: Account| accounts.get(&account.to_string()).copied().unwrap_or(0);
    let earned = -balance(Account::PlatformCommission);
    let mut commission = 0;

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
                let capture = Capture {
                    method,
                    vendor_id: payment.vendor_id,
                    amount_paisa: payment.amount_paisa,
                    commission_bps: payment.commission_bps,
                };
                commission += capture.commission_after(payment.refunded_paisa);
                capture
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
    if earned != commission {
        differences.push(Difference::Commission {
            earned_paisa: earned,
            expected_paisa: commission,
        });
    }
    let providers = [Provider::Sandbox, Provider::Khalti, Provider::Esewa]
        .into_iter()
        .map(|provider| {
            (
                provider,
                Money::from_paisa(balance(Account::Provider(provider))),
            )
        })
        .collect();
    Ok(Report {
        transactions: totals.transactions,
        entries: totals.entries,
        balances: Balances {
            providers,
            vendors_payable: Money::from_paisa(vendors_payable),
            on_statements: Money::from_paisa(on_statements),
            not_on_statements: Money::from_paisa(not_on_statements),
            commission_earned: Money::from_paisa(earned),
            adjustments: Money::from_paisa(balance(Account::PlatformAdjustments)),
            paid_out: Money::from_paisa(-balance(Account::CashPayouts)),
        },
        differences,
    })
}
