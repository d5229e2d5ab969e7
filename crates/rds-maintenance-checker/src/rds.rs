//! DescribePendingMaintenanceActions in one region: every page, each filter set asked
//! separately (the API AND-s filters, and an action is on a cluster or an instance, never
//! both), the answers flattened into [`Pending`] actions.

use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::Filter;

use crate::model::Pending;

/// One way of asking: no filter (everything), or the API's `db-cluster-id` /
/// `db-instance-id` filter with identifiers or ARNs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    All,
    Clusters(Vec<String>),
    Instances(Vec<String>),
}

impl Query {
    /// The queries for the configured identifiers (`RDS_CLUSTER_IDS`, `RDS_INSTANCE_IDS`).
    pub fn plan(clusters: Vec<String>, instances: Vec<String>) -> Vec<Query> {
        let mut v = Vec::new();
        if !clusters.is_empty() {
            v.push(Query::Clusters(clusters));
        }
        if !instances.is_empty() {
            v.push(Query::Instances(instances));
        }
        if v.is_empty() {
            v.push(Query::All);
        }
        v
    }

    fn filter(&self) -> Option<Filter> {
        let (name, values) = match self {
            Query::All => return None,
            Query::Clusters(ids) => ("db-cluster-id", ids),
            Query::Instances(ids) => ("db-instance-id", ids),
        };
        Some(
            Filter::builder()
                .name(name)
                .set_values(Some(values.clone()))
                .build(),
        )
    }
}

/// Every pending action the region reports for `queries`, in the API's order; the first
/// failure (after the SDK's own retries) as one line: `Throttling: Rate exceeded`.
pub async fn pending(
    client: &aws_sdk_rds::Client,
    region: &str,
    queries: &[Query],
) -> Result<Vec<Pending>, String> {
    let mut out: Vec<Pending> = Vec::new();
    for q in queries {
        let mut pages = client
            .describe_pending_maintenance_actions()
            .set_filters(q.filter().map(|f| vec![f]))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| describe(&e))?;
            for r in page.pending_maintenance_actions() {
                let arn = r.resource_identifier().unwrap_or_default();
                for a in r.pending_maintenance_action_details() {
                    let p = Pending {
                        region: region.to_owned(),
                        arn: arn.to_owned(),
                        action: a.action().unwrap_or_default().to_owned(),
                        description: a.description().unwrap_or_default().to_owned(),
                        opt_in_status: a.opt_in_status().map(str::to_owned),
                        auto_applied_after: a.auto_applied_after_date().map(|d| d.secs()),
                        forced_apply: a.forced_apply_date().map(|d| d.secs()),
                        current_apply: a.current_apply_date().map(|d| d.secs()),
                    };
                    // Both filters may name the same resource; report it once.
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// An SDK error as one line: the service's code and message when it answered, else the
/// chain of causes (connection refused, timeouts, …).
fn describe<E, R>(e: &aws_sdk_rds::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => opswatch_support::error_chain(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        assert_eq!(Query::plan(vec![], vec![]), [Query::All]);
        assert_eq!(
            Query::plan(vec!["a".into()], vec!["b".into()]),
            [
                Query::Clusters(vec!["a".into()]),
                Query::Instances(vec!["b".into()])
            ]
        );
    }
}
