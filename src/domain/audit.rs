//! What the audit log records: the admin actions, each with its word in the
//! database and a label for people.

use super::status::status_enum;

status_enum! {
    /// An action an admin took, as written to `audit_log.action`.
    AuditAction, "audit action", 12 {
        ForceCancel => "order.force_cancel", "Force-cancelled an order";
        MoveOrder => "order.status", "Moved an order";
        ResolveDispute => "dispute.resolve", "Resolved a dispute";
        Suspend => "user.suspend", "Suspended a user";
        Reinstate => "user.reinstate", "Reinstated a user";
        RefundPayment => "payment.refund", "Refunded a payment";
        RetryRefund => "refund.retry", "Retried a refund";
        CompleteRefund => "refund.done", "Recorded a refund made by hand";
        PlatformCommission => "commission.platform", "Changed the platform's commission";
        VendorCommission => "commission.vendor", "Changed a laundry's commission";
        PayStatement => "payout.paid", "Paid a payout statement";
        AdjustBalance => "payout.adjust", "Adjusted a laundry's balance";
    }
}
