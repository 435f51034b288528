//! The double-entry ledger's rules, pure: its accounts, and the postings of
//! each money movement (DESIGN.md, "Money"). `market::ledger` writes them.
//!
//! # Accounts
//!
//! Accounts are text in the database (`ledger_entries.account`), named so an
//! operator reads them at a glance:
//!
//! | account | holds |
//! |---|---|
//! | `provider:sandbox`, `provider:khalti`, `provider:esewa` | money a provider collected for us and will settle (its clearing account) |
//! | `vendor:<user id>:payable` | negative: what we owe the laundry; positive: what it owes us |
//! | `platform:commission` | the platform's commission (negative: earned) |
//! | `platform:adjustments` | what admins credited (positive) or debited laundries by hand |
//! | `cash:payouts` | money paid out to laundries |
//!
//! # Signs
//!
//! An entry's amount is positive for a debit (money held, or owed to the
//! platform) and negative for a credit (money the platform owes, or earned).
//! The entries of one movement sum to zero; [`Postings`] are built only by
//! the functions here, so they always do (and the database refuses, at
//! commit, a transaction that does not).
//!
//! # Postings
//!
//! With g the amount paid and c the commission at the order's snapshot rate:
//! - online capture: provider +g, vendor −(g−c), platform −c;
//! - cash on delivery, when the order completes: the laundry took the cash g
//!   itself, so its own account is the clearing account: +g and −(g−c) meet
//!   there, and what remains is vendor +c, platform −c (it owes us c). The
//!   platform never held that cash, so no cash account moves;
//! - refund: the reverse of the refunded part (below);
//! - payout of a statement's net n: vendor +n, `cash:payouts` −n;
//! - an admin's adjustment of a (positive: Dhune owes the laundry a more):
//!   vendor −a, `platform:adjustments` +a.
//!
//! # Commission on refunds
//!
//! The platform's commission on a payment is its order's snapshot rate
//! applied to what the customer finally paid, rounded half up to the paisa:
//! after refunds totalling R, it is C(R) = commission(g − R) (so C(0) = c,
//! the commission taken at capture, and C(g) = 0). A refund of r, made when
//! R had been refunded before, gives back C(R) − C(R + r) of commission and
//! the rest, r − (C(R) − C(R + r)), from the laundry's share.
//!
//! Because each share is a difference of C at the totals before and after,
//! any sequence of refunds telescopes: together they take back exactly
//! C(0) − C(R) of commission, and when they add up to g, exactly c from the
//! platform and g − c from the laundry, to the paisa. After them the platform
//! keeps C(R), the rate on what was paid, never an amount rounded twice or a
//! blended rate. Each share lies within 0..=r: C never grows as R grows, and
//! at a rate of at most 100% it falls by at most r when R grows by r.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::money::Money;

/// The online payment providers, each with its clearing account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provider {
    Sandbox,
    Khalti,
    Esewa,
}

impl Provider {
    /// The name stored in `payments.provider` and used in account names.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Sandbox => "sandbox",
            Provider::Khalti => "khalti",
            Provider::Esewa => "esewa",
        }
    }

    /// The name shown to customers ("Pay online with …").
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Sandbox => "Sandbox (test payments)",
            Provider::Khalti => "Khalti",
            Provider::Esewa => "eSewa",
        }
    }
}

/// A name that is not one of the [`Provider`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown payment provider {0:?} (expected sandbox, khalti or esewa)")]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "sandbox" => Ok(Provider::Sandbox),
            "khalti" => Ok(Provider::Khalti),
            "esewa" => Ok(Provider::Esewa),
            _ => Err(UnknownProvider(name.to_owned())),
        }
    }
}

/// An account of the ledger (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    Provider(Provider),
    /// A laundry's account, by its user id.
    VendorPayable(i64),
    PlatformCommission,
    PlatformAdjustments,
    CashPayouts,
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Provider(provider) => write!(f, "provider:{}", provider.as_str()),
            Account::VendorPayable(vendor_id) => write!(f, "vendor:{vendor_id}:payable"),
            Account::PlatformCommission => f.write_str("platform:commission"),
            Account::PlatformAdjustments => f.write_str("platform:adjustments"),
            Account::CashPayouts => f.write_str("cash:payouts"),
        }
    }
}

/// One line of a posting: an account and a signed amount (never zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub account: Account,
    pub amount_paisa: i64,
}

/// The entries of one money movement: they sum to zero, name each account
/// at most once and none is zero. Empty when nothing moves (cash on delivery
/// at a commission of zero).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Postings(Vec<Entry>);

impl Postings {
    /// Adds up the amounts per account and drops those that come to zero.
    fn from_legs(legs: impl IntoIterator<Item = (Account, i64)>) -> Postings {
        let mut per_account: BTreeMap<Account, i64> = BTreeMap::new();
        for (account, amount) in legs {
            *per_account.entry(account).or_default() += amount;
        }
        let entries: Vec<Entry> = per_account
            .into_iter()
            .filter(|&(_, amount)| amount != 0)
            .map(|(account, amount_paisa)| Entry {
                account,
                amount_paisa,
            })
            .collect();
        debug_assert_eq!(entries.iter().map(|e| e.amount_paisa).sum::<i64>(), 0);
        Postings(entries)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These postings and `other` together, as one set of balances.
    fn and(&self, other: &Postings) -> Postings {
        Postings::from_legs(
            self.0
                .iter()
                .chain(&other.0)
                .map(|entry| (entry.account, entry.amount_paisa)),
        )
    }
}

/// How the customer paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Online(Provider),
    CashOnDelivery,
}

/// Why a posting cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("an amount must be more than zero, not {0} paisa")]
    NotPositive(i64),
    #[error(
        "refunding {amount} paisa after {before} paisa would give back more than the \
         {captured} paisa paid"
    )]
    BeyondCapture {
        captured: i64,
        before: i64,
        amount: i64,
    },
}

/// A captured payment as the ledger sees it: how much, how it was paid, the
/// laundry it is for and its order's commission rate (basis points).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capture {
    pub method: Method,
    pub vendor_id: i64,
    pub amount_paisa: i64,
    pub commission_bps: i32,
}

impl Capture {
    /// Where the customer's money waits: the provider's clearing account, or
    /// for cash the laundry itself, which holds it.
    fn clearing(&self) -> Account {
        match self.method {
            Method::Online(provider) => Account::Provider(provider),
            Method::CashOnDelivery => Account::VendorPayable(self.vendor_id),
        }
    }

    /// C(R): the platform's commission once `refunded` paisa went back, the
    /// rate applied to what the customer finally paid.
    pub fn commission_after(&self, refunded: i64) -> i64 {
        Money::from_paisa(self.amount_paisa - refunded)
            .commission(self.commission_bps)
            .paisa()
    }

    /// The capture: clearing +g, vendor −(g−c), platform −c.
    pub fn postings(&self) -> Result<Postings, LedgerError> {
        let gross = self.amount_paisa;
        if gross <= 0 {
            return Err(LedgerError::NotPositive(gross));
        }
        let commission = self.commission_after(0);
        Ok(Postings::from_legs([
            (self.clearing(), gross),
            (
                Account::VendorPayable(self.vendor_id),
                -(gross - commission),
            ),
            (Account::PlatformCommission, -commission),
        ]))
    }

    /// A refund of `amount` after `before` paisa were refunded: the reverse
    /// of the capture for that part, the commission's share being
    /// C(before) − C(before + amount).
    pub fn refund(&self, before: i64, amount: i64) -> Result<Postings, LedgerError> {
        if amount <= 0 {
            return Err(LedgerError::NotPositive(amount));
        }
        let after = before.checked_add(amount);
        if before < 0 || after.is_none_or(|after| after > self.amount_paisa) {
            return Err(LedgerError::BeyondCapture {
                captured: self.amount_paisa,
                before,
                amount,
            });
        }
        let commission = self.commission_after(before) - self.commission_after(before + amount);
        Ok(Postings::from_legs([
            (self.clearing(), -amount),
            (Account::VendorPayable(self.vendor_id), amount - commission),
            (Account::PlatformCommission, commission),
        ]))
    }

    /// What the capture and refunds totalling `refunded` leave on each
    /// account, whatever their number and sizes.
    pub fn settled(&self, refunded: i64) -> Result<Postings, LedgerError> {
        let captured = self.postings()?;
        if refunded == 0 {
            return Ok(captured);
        }
        Ok(captured.and(&self.refund(0, refunded)?))
    }
}

/// A payout of `net` paisa to a laundry: vendor +net, `cash:payouts` −net.
pub fn payout(vendor_id: i64, net: i64) -> Result<Postings, LedgerError> {
    if net <= 0 {
        return Err(LedgerError::NotPositive(net));
    }
    Ok(Postings::from_legs([
        (Account::VendorPayable(vendor_id), net),
        (Account::CashPayouts, -net),
    ]))
}

/// An admin's adjustment of a laundry's balance by `amount` paisa (positive:
/// Dhune owes it more; negative: it owes Dhune): vendor −amount,
/// `platform:adjustments` +amount.
pub fn adjustment(vendor_id: i64, amount: i64) -> Result<Postings, LedgerError> {
    if amount == 0 {
        return Err(LedgerError::NotPositive(amount));
    }
    Ok(Postings::from_legs([
        (Account::VendorPayable(vendor_id), -amount),
        (Account::PlatformAdjustments, amount),
    ]))
}

/// A money movement: what a ledger transaction records, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// A payment was captured (online, or cash collected on completion).
    Capture { payment_id: i64 },
    /// A refund went back to the customer.
    Refund { refund_id: i64 },
    /// A payout statement's net was transferred to its laundry.
    Payout { statement_id: i64 },
    /// An admin adjusted a laundry's balance.
    Adjustment { adjustment_id: i64 },
}

impl Movement {
    /// `ledger_transactions.kind`.
    pub fn kind(self) -> &'static str {
        match self {
            Movement::Capture { .. } => "capture",
            Movement::Refund { .. } => "refund",
            Movement::Payout { .. } => "payout",
            Movement::Adjustment { .. } => "adjustment",
        }
    }

    /// `ledger_transactions.source_type` and `source_id`.
    pub fn source(self) -> (&'static str, i64) {
        match self {
            Movement::Capture { payment_id } => ("payment", payment_id),
            Movement::Refund { refund_id } => ("refund", refund_id),
            Movement::Payout { statement_id } => ("statement", statement_id),
            Movement::Adjustment { adjustment_id } => ("adjustment", adjustment_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    const VENDOR: i64 = 7;

    fn online(amount_paisa: i64, commission_bps: i32) -> Capture {
        Capture {
            method: Method::Online(Provider::Khalti),
            vendor_id: VENDOR,
            amount_paisa,
            commission_bps,
        }
    }

    /// The amount on `account`, zero when it has no entry.
    fn on(postings: &Postings, account: Account) -> i64 {
        postings
            .entries()
            .iter()
            .filter(|e| e.account == account)
            .map(|e| e.amount_paisa)
            .sum()
    }

    fn assert_balanced(postings: &Postings) {
        let entries = postings.entries();
        assert_eq!(entries.iter().map(|e| e.amount_paisa).sum::<i64>(), 0);
        assert!(entries.iter().all(|e| e.amount_paisa != 0), "{entries:?}");
        assert!(
            entries.windows(2).all(|w| w[0].account < w[1].account),
            "{entries:?}"
        );
    }

    const PROVIDER: Account = Account::Provider(Provider::Khalti);
    const VENDOR_ACCOUNT: Account = Account::VendorPayable(VENDOR);
    const PLATFORM: Account = Account::PlatformCommission;

    #[test]
    fn accounts_are_named_by_the_scheme() {
        let names: Vec<String> = [
            Account::Provider(Provider::Sandbox),
            Account::Provider(Provider::Khalti),
            Account::Provider(Provider::Esewa),
            Account::VendorPayable(42),
            Account::PlatformCommission,
            Account::PlatformAdjustments,
            Account::CashPayouts,
        ]
        .iter()
        .map(Account::to_string)
        .collect();
        assert_eq!(
            names,
            [
                "provider:sandbox",
                "provider:khalti",
                "provider:esewa",
                "vendor:42:payable",
                "platform:commission",
                "platform:adjustments",
                "cash:payouts"
            ]
        );
        for provider in [Provider::Sandbox, Provider::Khalti, Provider::Esewa] {
            assert_eq!(provider.as_str().parse(), Ok(provider));
        }
        assert!("paypal".parse::<Provider>().is_err());
    }

    #[test]
    fn an_online_capture_splits_the_amount_between_laundry_and_platform() {
        // Rs 123.45 at 10%: the commission 12.345 rounds half up to 12.35.
        let postings = online(12_345, 1_000).postings().unwrap();
        assert_balanced(&postings);
        assert_eq!(
            postings.entries(),
            [
                Entry {
                    account: PROVIDER,
                    amount_paisa: 12_345
                },
                Entry {
                    account: VENDOR_ACCOUNT,
                    amount_paisa: -11_110
                },
                Entry {
                    account: PLATFORM,
                    amount_paisa: -1_235
                },
            ]
        );
        // No commission, or all of it: the zero line is left out.
        let free = online(500, 0).postings().unwrap();
        assert_eq!(free.entries().len(), 2);
        assert_eq!(on(&free, VENDOR_ACCOUNT), -500);
        let all = online(500, 10_000).postings().unwrap();
        assert_eq!(all.entries().len(), 2);
        assert_eq!(on(&all, PLATFORM), -500);
    }

    #[test]
    fn cash_on_delivery_leaves_the_laundry_owing_the_commission() {
        let cash = Capture {
            method: Method::CashOnDelivery,
            ..online(12_345, 1_000)
        };
        let postings = cash.postings().unwrap();
        assert_eq!(
            postings.entries(),
            [
                Entry {
                    account: VENDOR_ACCOUNT,
                    amount_paisa: 1_235
                },
                Entry {
                    account: PLATFORM,
                    amount_paisa: -1_235
                },
            ]
        );
        // Nothing is owed at a commission of zero: nothing to post.
        let free = Capture {
            commission_bps: 0,
            ..cash
        };
        assert!(free.postings().unwrap().is_empty());
        // A cash refund gives the laundry back the commission on that part.
        let refund = cash.refund(0, 12_345).unwrap();
        assert_eq!(on(&refund, VENDOR_ACCOUNT), -1_235);
        assert_eq!(on(&refund, PLATFORM), 1_235);
    }

    #[test]
    fn a_refund_reverses_its_part_with_the_commission_on_what_was_paid() {
        let capture = online(12_345, 1_000);
        // Refund Rs 23.45: paid becomes 100.00, commission 10.00, so 2.35 of
        // the 12.35 comes back from the platform and 21.10 from the laundry.
        let refund = capture.refund(0, 2_345).unwrap();
        assert_balanced(&refund);
        assert_eq!(on(&refund, PROVIDER), -2_345);
        assert_eq!(on(&refund, PLATFORM), 235);
        assert_eq!(on(&refund, VENDOR_ACCOUNT), 2_110);
        assert_eq!(capture.commission_after(2_345), 1_000);
        // The whole payment back leaves nothing anywhere.
        assert!(capture.settled(12_345).unwrap().is_empty());
        let kept = capture.settled(2_345).unwrap();
        assert_eq!(on(&kept, PROVIDER), 10_000);
        assert_eq!(on(&kept, PLATFORM), -1_000);
        assert_eq!(on(&kept, VENDOR_ACCOUNT), -9_000);
    }

    #[test]
    fn refunds_beyond_the_capture_or_of_nothing_are_refused() {
        let capture = online(1_000, 1_000);
        assert_eq!(capture.refund(0, 0), Err(LedgerError::NotPositive(0)));
        assert_eq!(capture.refund(0, -5), Err(LedgerError::NotPositive(-5)));
        assert!(matches!(
            capture.refund(600, 401),
            Err(LedgerError::BeyondCapture { .. })
        ));
        assert!(matches!(
            capture.refund(-1, 1),
            Err(LedgerError::BeyondCapture { .. })
        ));
        assert!(matches!(
            capture.refund(i64::MAX, 1),
            Err(LedgerError::BeyondCapture { .. })
        ));
        assert!(capture.refund(600, 400).is_ok());
        assert_eq!(
            online(0, 1_000).postings(),
            Err(LedgerError::NotPositive(0))
        );
        assert_eq!(payout(VENDOR, 0), Err(LedgerError::NotPositive(0)));
    }

    #[test]
    fn one_paisa_refunds_add_up_to_the_whole_commission() {
        // 12345 refunds of one paisa each: the commission comes back in
        // steps of 0 or 1 paisa and totals exactly 1235.
        let capture = online(12_345, 1_000);
        let (mut platform, mut vendor) = (0, 0);
        for before in 0..12_345 {
            let refund = capture.refund(before, 1).unwrap();
            let share = on(&refund, PLATFORM);
            assert!((0..=1).contains(&share), "{before}: {share}");
            platform += share;
            vendor += on(&refund, VENDOR_ACCOUNT);
        }
        assert_eq!((platform, vendor), (1_235, 12_345 - 1_235));
    }

    /// Splits `total` into `parts` positive amounts at random.
    fn split(rng: &mut StdRng, total: i64, parts: usize) -> Vec<i64> {
        let parts = parts.min(total as usize).max(1);
        let mut cuts: Vec<i64> = (0..parts - 1).map(|_| rng.gen_range(1..total)).collect();
        cuts.push(0);
        cuts.push(total);
        cuts.sort_unstable();
        cuts.dedup();
        cuts.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn any_partial_refunds_summing_to_the_payment_return_exactly_c_and_g_minus_c() {
        let mut rng = StdRng::seed_from_u64(11);
        let rates = [0, 1, 250, 333, 999, 1_000, 1_250, 5_000, 9_999, 10_000];
        for round in 0..3_000 {
            let amount = if round % 3 == 0 {
                rng.gen_range(1..50)
            } else {
                rng.gen_range(1..5_000_000)
            };
            let capture = online(amount, rates[round % rates.len()]);
            let captured = capture.postings().unwrap();
            assert_balanced(&captured);
            let commission = -on(&captured, PLATFORM);
            assert_eq!(commission, capture.commission_after(0));
            let count = rng.gen_range(1..12);
            let parts = split(&mut rng, amount, count);
            let (mut refunded, mut platform, mut vendor) = (0, 0, 0);
            for part in parts {
                let refund = capture.refund(refunded, part).unwrap();
                assert_balanced(&refund);
                assert_eq!(on(&refund, PROVIDER), -part);
                let share = on(&refund, PLATFORM);
                assert!((0..=part).contains(&share), "{capture:?} {part}: {share}");
                platform += share;
                vendor += on(&refund, VENDOR_ACCOUNT);
                refunded += part;
                // What the platform keeps is always the rate on what was paid.
                assert_eq!(commission - platform, capture.commission_after(refunded));
                // Refund by refund, the accounts hold what `settled` says.
                let so_far = capture.settled(refunded).unwrap();
                assert_eq!(on(&so_far, PLATFORM), -(commission - platform));
                assert_eq!(on(&so_far, PROVIDER), amount - refunded);
            }
            assert_eq!(refunded, amount);
            assert_eq!((platform, vendor), (commission, amount - commission));
        }
    }

    #[test]
    fn an_adjustment_moves_between_the_laundry_and_the_adjustments_account() {
        let credit = adjustment(VENDOR, 2_500).unwrap();
        assert_balanced(&credit);
        assert_eq!(on(&credit, VENDOR_ACCOUNT), -2_500);
        assert_eq!(on(&credit, Account::PlatformAdjustments), 2_500);
        let debit = adjustment(VENDOR, -700).unwrap();
        assert_balanced(&debit);
        assert_eq!(on(&debit, VENDOR_ACCOUNT), 700);
        assert_eq!(adjustment(VENDOR, 0), Err(LedgerError::NotPositive(0)));
    }

    #[test]
    fn a_payout_moves_the_net_from_cash_to_the_laundry() {
        let postings = payout(VENDOR, 4_050).unwrap();
        assert_balanced(&postings);
        assert_eq!(on(&postings, VENDOR_ACCOUNT), 4_050);
        assert_eq!(on(&postings, Account::CashPayouts), -4_050);
    }

    #[test]
    fn movements_name_their_kind_and_source() {
        let capture = Movement::Capture { payment_id: 3 };
        assert_eq!(
            (capture.kind(), capture.source()),
            ("capture", ("payment", 3))
        );
        let refund = Movement::Refund { refund_id: 4 };
        assert_eq!((refund.kind(), refund.source()), ("refund", ("refund", 4)));
        let payout = Movement::Payout { statement_id: 5 };
        assert_eq!(
            (payout.kind(), payout.source()),
            ("payout", ("statement", 5))
        );
    }
}
