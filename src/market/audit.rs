//! The audit log: every admin action, with who, what, why and when, written
//! in the same transaction as the action.

use sqlx::PgConnection;

use super::MarketResult;
use super::accounts::User;
use crate::domain::audit::AuditAction;

/// One admin action to record.
pub(super) struct Entry<'a> {
    pub action: AuditAction,
    pub target_type: &'static str,
    pub target_id: i64,
    pub reason: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
}

pub(super) async fn write(
    tx: &mut PgConnection,
    admin: &User,
    entry: &Entry<'_>,
) -> MarketResult<()> {
    sqlx::query!(
        r#"INSERT INTO audit_log (actor_id, action, target_type, target_id, reason, before_status, after_status)
           VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
        admin.id,
        entry.action.as_str(),
        entry.target_type,
        entry.target_id,
        entry.reason,
        entry.before,
        entry.after,
    )
    .execute(tx)
    .await?;
    Ok(())
}
