//! DescribePendingMaintenanceActions in one region: every page, each filter set asked
//! separately (the API AND-s filters, and an action is on a cluster or an instance, never
//! both), the answers flattened into [`Pending`] actions.

use aws_sdk_rds::types::Filter;

use std::collections::HashMap;

use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use opswatch_delivery::Tags;

use crate::model::{Arn, Kind, Pending, Window};

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
        let pages = client
            .describe_pending_maintenance_actions()
            .set_filters(q.filter().map(|f| vec![f]))
            .into_paginator()
            .send();
        each_page(pages, |page| {
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
                        window: Window::NotAsked,
                        change: None,
                        account: None,
                        tags: Default::default(),
                    };
                    // Both filters may name the same resource; report it once.
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
        })
        .await?;
    }
    Ok(out)
}

/// Every page of one call, each handed to `page`; the first failure (after the SDK's own
/// retries) as one line: `Throttling: Rate exceeded`.
async fn each_page<O, E>(
    mut pages: PaginationStream<Result<O, E>>,
    mut page: impl FnMut(O),
) -> Result<(), String>
where
    E: ProvideErrorMetadata + std::error::Error,
{
    while let Some(next) = pages.next().await {
        page(next.map_err(|e| opswatch_support::sdk_error(&e))?);
    }
    Ok(())
}

/// (ARN, window, tags) of one described resource.
type Described = (Option<String>, Option<String>, Tags);

fn described(
    arn: Option<&str>,
    window: Option<&str>,
    tags: &[aws_sdk_rds::types::Tag],
) -> Described {
    (
        arn.map(str::to_owned),
        window.map(str::to_owned),
        tags.iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                ))
            })
            .collect(),
    )
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

/// What is known of a resource with pending actions: its maintenance window (as RDS spells
/// it) or why it could not be read, and its tags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub window: Option<Result<String, String>>,
    pub tags: Tags,
}

/// Each asked resource's window and tags from what the API described, or why there are
/// none.
fn settle(
    asked: &[String],
    found: Result<Vec<Described>, String>,
    api: &str,
    out: &mut HashMap<String, Found>,
) {
    let found = match found {
        Ok(found) => found,
        Err(why) => {
            for arn in asked {
                out.insert(
                    arn.clone(),
                    Found {
                        window: Some(Err(format!("{api}: {why}"))),
                        tags: Tags::new(),
                    },
                );
            }
            return;
        }
    };
    for arn in asked {
        let d = found
            .iter()
            .find(|(a, ..)| a.as_deref() == Some(arn.as_str()));
        let answer = match d {
            Some((_, Some(w), tags)) => Found {
                window: Some(Ok(w.clone())),
                tags: tags.clone(),
            },
            Some((_, None, tags)) => Found {
                window: Some(Err(format!("{api} gives no PreferredMaintenanceWindow"))),
                tags: tags.clone(),
            },
            None => Found {
                window: Some(Err(format!("{api} does not know it (deleted?)"))),
                tags: Tags::new(),
            },
        };
        out.insert(arn.clone(), answer);
    }
}

/// How many identifiers one `DescribeDBClusters`/`DescribeDBInstances` filter carries.
const FILTER_VALUES: usize = 50;

/// The maintenance window and tags of each resource of one region that has pending
/// actions: its `PreferredMaintenanceWindow` as RDS spells it, or why it could not be read,
/// and its `TagList`. Clusters come from `DescribeDBClusters`, instances from
/// `DescribeDBInstances`, each filtered to those resources (by ARN), every page; other
/// kinds of resource have no window here.
pub async fn windows(client: &aws_sdk_rds::Client, arns: &[&str]) -> HashMap<String, Found> {
    let mut out = HashMap::new();
    let (mut clusters, mut instances) = (Vec::new(), Vec::new());
    for arn in arns {
        match Arn::parse(arn).map(|a| a.kind) {
            Some(Kind::Cluster) => clusters.push(arn.to_string()),
            Some(Kind::Instance) => instances.push(arn.to_string()),
            _ => {
                out.insert(
                    arn.to_string(),
                    Found {
                        window: Some(Err(
                            "not a DB cluster or instance: no maintenance window to read".into(),
                        )),
                        tags: Tags::new(),
                    },
                );
            }
        }
    }
    for chunk in clusters.chunks(FILTER_VALUES) {
        let pages = client
            .describe_db_clusters()
            .filters(filter("db-cluster-id", chunk))
            .into_paginator()
            .send();
        let mut found = Vec::new();
        let read = each_page(pages, |page| {
            found.extend(page.db_clusters().iter().map(|c| {
                described(
                    c.db_cluster_arn(),
                    c.preferred_maintenance_window(),
                    c.tag_list(),
                )
            }))
        })
        .await;
        settle(chunk, read.map(|()| found), "DescribeDBClusters", &mut out);
    }
    for chunk in instances.chunks(FILTER_VALUES) {
        let pages = client
            .describe_db_instances()
            .filters(filter("db-instance-id", chunk))
            .into_paginator()
            .send();
        let mut found = Vec::new();
        let read = each_page(pages, |page| {
            found.extend(page.db_instances().iter().map(|i| {
                described(
                    i.db_instance_arn(),
                    i.preferred_maintenance_window(),
                    i.tag_list(),
                )
            }))
        })
        .await;
        settle(chunk, read.map(|()| found), "DescribeDBInstances", &mut out);
    }
    out
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

/// What the SDK makes of any answer the RDS Query API could give — mutated pages, mutated
/// error responses, arbitrary bytes — through its real XML deserializer: an error or actions,
/// never a panic, and whatever comes out renders within Slack's limits.
#[cfg(test)]
mod response_properties {
    use std::sync::{Arc, Mutex, OnceLock};

    use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    use proptest::prelude::*;

    use super::{Query, pending, windows};
    use opswatch_support::testing::mutate;

    /// A page as the API documents it (a cluster and an instance, every date field).
    const PAGE: &str = r#"<DescribePendingMaintenanceActionsResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <DescribePendingMaintenanceActionsResult>
    <PendingMaintenanceActions>
      <ResourcePendingMaintenanceActions>
        <ResourceIdentifier>arn:aws:rds:us-east-1:111122223333:cluster:aurora-prod</ResourceIdentifier>
        <PendingMaintenanceActionDetails>
          <PendingMaintenanceAction>
            <Action>system-update</Action>
            <AutoAppliedAfterDate>2026-11-27T00:00:00Z</AutoAppliedAfterDate>
            <ForcedApplyDate>2026-12-04T00:00:00Z</ForcedApplyDate>
            <OptInStatus>next-maintenance</OptInStatus>
            <CurrentApplyDate>2026-11-26T03:00:00Z</CurrentApplyDate>
            <Description>Upgrade to Aurora PostgreSQL 15.10 &amp; patches</Description>
          </PendingMaintenanceAction>
        </PendingMaintenanceActionDetails>
      </ResourcePendingMaintenanceActions>
      <ResourcePendingMaintenanceActions>
        <ResourceIdentifier>arn:aws:rds:us-east-1:111122223333:db:legacy-pg</ResourceIdentifier>
        <PendingMaintenanceActionDetails>
          <PendingMaintenanceAction>
            <Action>ca-certificate-rotation</Action>
            <AutoAppliedAfterDate>2026-12-20T00:00:00Z</AutoAppliedAfterDate>
            <Description>Certificate rotation</Description>
          </PendingMaintenanceAction>
        </PendingMaintenanceActionDetails>
      </ResourcePendingMaintenanceActions>
    </PendingMaintenanceActions>
  </DescribePendingMaintenanceActionsResult>
  <ResponseMetadata>
    <RequestId>5e6d5b3c-2f35-4e7c-9d3b-7c1f1b0a9e11</RequestId>
  </ResponseMetadata>
</DescribePendingMaintenanceActionsResponse>"#;

    /// The API's error response.
    const ERROR: &str = r#"<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <Error>
    <Type>Sender</Type>
    <Code>AccessDenied</Code>
    <Message>User is not authorized to perform: rds:DescribePendingMaintenanceActions</Message>
  </Error>
  <RequestId>0c8b1c0e-6a4b-4a57-8f0b-1d2e3f4a5b6c</RequestId>
</ErrorResponse>"#;

    /// A `DescribeDBInstances` page as the API documents it (the fields the checker reads).
    const INSTANCES: &str = r#"<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <DescribeDBInstancesResult>
    <DBInstances>
      <DBInstance>
        <DBInstanceIdentifier>legacy-pg</DBInstanceIdentifier>
        <DBInstanceArn>arn:aws:rds:us-east-1:111122223333:db:legacy-pg</DBInstanceArn>
        <Engine>postgres</Engine>
        <PreferredMaintenanceWindow>thu:03:00-thu:03:30</PreferredMaintenanceWindow>
        <TagList>
          <Tag>
            <Key>team</Key>
            <Value>payments &amp; billing</Value>
          </Tag>
          <Tag>
            <Key>env</Key>
            <Value></Value>
          </Tag>
        </TagList>
      </DBInstance>
    </DBInstances>
  </DescribeDBInstancesResult>
  <ResponseMetadata>
    <RequestId>9a1b2c3d-0000-4000-8000-000000000001</RequestId>
  </ResponseMetadata>
</DescribeDBInstancesResponse>"#;

    const LEGACY: &str = "arn:aws:rds:us-east-1:111122223333:db:legacy-pg";

    /// The window of `LEGACY` (and an instance the answer does not name) from one answer.
    fn describe(
        status: u16,
        body: Vec<u8>,
    ) -> std::collections::HashMap<String, Result<String, String>> {
        found(status, body)
            .into_iter()
            .filter_map(|(arn, f)| Some((arn, f.window?)))
            .collect()
    }

    fn found(status: u16, body: Vec<u8>) -> std::collections::HashMap<String, super::Found> {
        let s = served();
        *s.answer.lock().expect("answer") = (status, body);
        let other = "arn:aws:rds:us-east-1:111122223333:db:other";
        s.runtime.block_on(windows(&s.client, &[LEGACY, other]))
    }

    #[test]
    fn the_documented_describe_answers() {
        let w = describe(200, INSTANCES.as_bytes().to_vec());
        assert_eq!(w[LEGACY], Ok("thu:03:00-thu:03:30".to_owned()));
        assert_eq!(
            w["arn:aws:rds:us-east-1:111122223333:db:other"],
            Err("DescribeDBInstances does not know it (deleted?)".to_owned())
        );
        // Its tags come with it (an empty value is a value).
        let tags = &found(200, INSTANCES.as_bytes().to_vec())[LEGACY].tags;
        assert_eq!(
            tags.get("team").map(String::as_str),
            Some("payments & billing")
        );
        assert_eq!(tags.get("env").map(String::as_str), Some(""));
        let denied = describe(403, ERROR.as_bytes().to_vec());
        assert!(
            denied[LEGACY]
                .as_ref()
                .is_err_and(|e| e.starts_with("DescribeDBInstances: AccessDenied: ")),
            "{denied:?}"
        );
    }

    /// One loopback server answering every request with the current (status, body), and an
    /// SDK client pointed at it, for all cases.
    struct Served {
        runtime: tokio::runtime::Runtime,
        answer: Arc<Mutex<(u16, Vec<u8>)>>,
        client: aws_sdk_rds::Client,
    }

    fn served() -> &'static Served {
        static SERVED: OnceLock<Served> = OnceLock::new();
        SERVED.get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let answer = Arc::new(Mutex::new((200, Vec::new())));
            let shared = answer.clone();
            let app = axum::Router::new().fallback(move || {
                let shared = shared.clone();
                async move {
                    let (status, body) = shared.lock().expect("answer").clone();
                    (
                        axum::http::StatusCode::from_u16(status).expect("status"),
                        [("content-type", "text/xml")],
                        body,
                    )
                }
            });
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            runtime.spawn(async move { axum::serve(listener, app).await });
            let config = aws_sdk_rds::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                .endpoint_url(format!("http://{addr}"))
                .retry_config(RetryConfig::disabled())
                .build();
            Served {
                runtime,
                answer,
                client: aws_sdk_rds::Client::from_conf(config),
            }
        })
    }

    fn ask(status: u16, body: Vec<u8>) -> Result<Vec<crate::model::Pending>, String> {
        let s = served();
        *s.answer.lock().expect("answer") = (status, body);
        s.runtime
            .block_on(pending(&s.client, "us-east-1", &[Query::All]))
    }

    fn renders(mut list: Vec<crate::model::Pending>) -> Result<(), TestCaseError> {
        crate::model::sort(&mut list, 1_795_597_200);
        let regions = vec!["us-east-1".to_owned()];
        let digest = crate::render::Digest {
            now: 1_795_597_200,
            warn_days: 7,
            regions: &regions,
            failed: &[],
            pending: &list,
            names: &opswatch_support::AccountNames::default(),
            org: None,
        };
        for m in digest
            .alert(true)
            .map(|a| a.into_messages())
            .unwrap_or_default()
        {
            prop_assert_eq!(m.limit_violation(), None);
        }
        Ok(())
    }

    #[test]
    fn the_documented_answers() {
        let list = ask(200, PAGE.as_bytes().to_vec()).expect("the page");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].action, "system-update");
        assert_eq!(
            list[0].description,
            "Upgrade to Aurora PostgreSQL 15.10 & patches"
        );
        assert_eq!(list[0].current_apply, Some(1_795_662_000));
        assert_eq!(list[1].forced_apply, None);
        let denied = ask(403, ERROR.as_bytes().to_vec()).expect_err("denied");
        assert!(
            denied.starts_with("AccessDenied: User is not authorized"),
            "{denied}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn mutated_pages_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)
        ) {
            if let Ok(list) = ask(200, mutate(PAGE.as_bytes(), &edits)) {
                renders(list)?;
            }
        }

        #[test]
        fn mutated_errors_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
            status in prop::sample::select(vec![400u16, 403, 500, 503]),
        ) {
            let answer = ask(status, mutate(ERROR.as_bytes(), &edits));
            prop_assert!(answer.is_err(), "an HTTP {} answer gave {:?}", status, answer);
        }

        /// Whatever a describe call answers, each asked resource gets a window or a reason,
        /// and a window that is not one is refused by the parser, never a panic.
        #[test]
        fn mutated_describe_answers_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)
        ) {
            let w = describe(200, mutate(INSTANCES.as_bytes(), &edits));
            prop_assert_eq!(w.len(), 2);
            if let Some(Ok(spec)) = w.get(LEGACY) {
                let _ = crate::window::MaintenanceWindow::parse(spec);
            }
        }

        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(list) = ask(200, body) {
                renders(list)?;
            }
        }
    }
}
