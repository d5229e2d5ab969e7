//! A fake of the RDS Query API's `DescribePendingMaintenanceActions`, `DescribeDBClusters` and
//! `DescribeDBInstances` on loopback, answering as the API reference documents them:
//!
//! - `POST /` with a form-encoded body (`Action`, `Version=2014-10-31`, `Filters.Filter.N.Name`
//!   and `Filters.Filter.N.Values.Value.M`, `ResourceIdentifier`, `Marker`, `MaxRecords`);
//!   any other content type is refused, like any other action (`InvalidAction`).
//! - A SigV4 `Authorization` header is required (else 403 `MissingAuthenticationToken`); the
//!   region is read from its credential scope, so one fake serves every region, each with the
//!   resources whose ARN names that region.
//! - `MaxRecords` 20–100 (default 100) counts resources; the API may return fewer with a
//!   `Marker` (clients must follow it), which [`RdsFake::page_size`] makes happen; `Marker` is opaque; a marker the fake
//!   did not issue is `InvalidParameterValue`. Filters: `db-cluster-id` and `db-instance-id`
//!   (identifiers or ARNs; values OR-ed, filters AND-ed); another name is
//!   `InvalidParameterValue`.
//! - `DescribeDBClusters` (filter `db-cluster-id`) and `DescribeDBInstances` (filters
//!   `db-instance-id`, `db-cluster-id`) answer the resources [`RdsFake::describe`] holds —
//!   identifier, ARN, `PreferredMaintenanceWindow` — with the same `MaxRecords`/`Marker`
//!   pages; a filter value that names nothing matches nothing (no error, as the API does).
//!   [`RdsFake::fail_action`] makes one action fail everywhere.
//! - Answers are `<Action>Response` XML; errors are `ErrorResponse`
//!   XML (`Type`, `Code`, `Message`, `RequestId`) with the documented status codes. A region
//!   can be made to fail every request: throttled (400 `Throttling`) or denied (403
//!   `AccessDenied`).
//!
//! - Accounts: the SigV4 access key says who asks. Keys that [`RdsFake`]'s STS handed out
//!   (below) belong to the account whose role was assumed; any other key is the home account
//!   ([`RdsFake::home_account`], `111122223333` by default). Each account sees only the
//!   resources whose ARN names it.
//! - STS, on the same endpoint (`AWS_ENDPOINT_URL_STS`; the credential scope's service is
//!   `sts`), `Version=2011-06-15`: `GetCallerIdentity` and `AssumeRole` (`RoleArn`,
//!   `RoleSessionName`, `DurationSeconds` 900–43200, `ExternalId`). A role exists only where
//!   [`RdsFake::member_role`] put it; assuming a missing role, or with the wrong external id,
//!   is 403 `AccessDenied` as STS words it; a malformed request is 400 `ValidationError`.
//!   Each `AssumeRole` hands out a fresh access key (`ASIA…`) tied to that account.
//! - [`RdsFake::latency`] delays every answer (a real API's round trip, for load runs);
//!   [`RdsFake::misroute`] makes one account's key see another's resources (a fault: the
//!   function must not show them under the asking account's name).
//!
//! The fixture format is the AWS CLI's output of `aws rds describe-pending-maintenance-actions`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// One maintenance action, as the CLI prints it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Action {
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_applied_after_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced_apply_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_in_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_apply_date: Option<String>,
}

/// A resource and its pending actions, as the CLI prints it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    pub resource_identifier: String,
    pub pending_maintenance_action_details: Vec<Action>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CliOutput {
    pending_maintenance_actions: Vec<Resource>,
}

/// A DB cluster or instance as `describe-db-clusters` / `describe-db-instances` print it
/// (the fields the fake serves; the others are left out).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Described {
    /// `DBClusterIdentifier` or `DBInstanceIdentifier`.
    pub identifier: String,
    /// `DBClusterArn` or `DBInstanceArn`.
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_maintenance_window: Option<String>,
    /// An instance's cluster (`DBClusterIdentifier`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// `TagList`: (key, value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CliTag {
    key: String,
    #[serde(default)]
    value: String,
}

fn cli_tags(tags: Vec<CliTag>) -> Vec<(String, String)> {
    tags.into_iter().map(|t| (t.key, t.value)).collect()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CliCluster {
    #[serde(rename = "DBClusterIdentifier")]
    identifier: String,
    #[serde(rename = "DBClusterArn")]
    arn: String,
    preferred_maintenance_window: Option<String>,
    #[serde(default)]
    tag_list: Vec<CliTag>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CliInstance {
    #[serde(rename = "DBInstanceIdentifier")]
    identifier: String,
    #[serde(rename = "DBInstanceArn")]
    arn: String,
    preferred_maintenance_window: Option<String>,
    #[serde(rename = "DBClusterIdentifier")]
    cluster: Option<String>,
    #[serde(default)]
    tag_list: Vec<CliTag>,
}

#[derive(serde::Deserialize)]
struct CliDescribed {
    #[serde(rename = "DBClusters", default)]
    clusters: Vec<CliCluster>,
    #[serde(rename = "DBInstances", default)]
    instances: Vec<CliInstance>,
}

/// The clusters and instances the fake describes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fleet {
    pub clusters: Vec<Described>,
    pub instances: Vec<Described>,
}

impl Fleet {
    /// `{"DBClusters": […]}` and/or `{"DBInstances": […]}`, as the CLI prints them.
    pub fn parse_cli_output(bytes: &[u8]) -> std::io::Result<Self> {
        let o: CliDescribed = serde_json::from_slice(bytes).map_err(std::io::Error::other)?;
        Ok(Self {
            clusters: o
                .clusters
                .into_iter()
                .map(|c| Described {
                    identifier: c.identifier,
                    arn: c.arn,
                    preferred_maintenance_window: c.preferred_maintenance_window,
                    cluster: None,
                    tags: cli_tags(c.tag_list),
                })
                .collect(),
            instances: o
                .instances
                .into_iter()
                .map(|i| Described {
                    identifier: i.identifier,
                    arn: i.arn,
                    preferred_maintenance_window: i.preferred_maintenance_window,
                    cluster: i.cluster,
                    tags: cli_tags(i.tag_list),
                })
                .collect(),
        })
    }
}

/// How a region fails every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionFailure {
    /// 400 `Throttling`: "Rate exceeded".
    Throttling,
    /// 403 `AccessDenied`.
    AccessDenied,
}

/// A request the fake answered.
#[derive(Clone, Debug)]
pub struct Request {
    pub region: String,
    /// `rds` or `sts`.
    pub service: String,
    /// The account the request's key belongs to.
    pub account: String,
    pub params: Vec<(String, String)>,
    pub status: u16,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A member account's role, as [`RdsFake::member_role`] made it.
#[derive(Clone, Debug)]
struct Role {
    name: String,
    external_id: Option<String>,
}

/// The account a key not handed out by the fake's STS belongs to.
pub const HOME_ACCOUNT: &str = "111122223333";

struct Inner {
    home: String,
    /// Access key → account, for keys `AssumeRole` handed out.
    sessions: HashMap<String, String>,
    roles: HashMap<String, Role>,
    misroute: HashMap<String, String>,
    latency: Option<std::time::Duration>,
    resources: Vec<Resource>,
    fleet: Fleet,
    failing: HashMap<String, RegionFailure>,
    failing_actions: HashMap<String, RegionFailure>,
    requests: Vec<Request>,
    next_request: u64,
    page_size: Option<usize>,
}

pub struct RdsFake {
    server: crate::Served,
    inner: Arc<Mutex<Inner>>,
}

impl RdsFake {
    pub async fn start(resources: Vec<Resource>) -> std::io::Result<Self> {
        Self::start_on(0, resources).await
    }

    /// The samples' pending maintenance, clusters and instances
    /// (`events/rds/fixtures/`), on a chosen loopback port (0: any free one).
    pub async fn start_sample(root: &std::path::Path, port: u16) -> std::io::Result<Self> {
        let fake = Self::start_on(port, Self::fixture(root)?).await?;
        fake.describe(Self::fleet_fixture(root)?);
        Ok(fake)
    }

    /// On a chosen loopback port (0: any free one).
    pub async fn start_on(port: u16, resources: Vec<Resource>) -> std::io::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner {
            home: HOME_ACCOUNT.to_owned(),
            sessions: HashMap::new(),
            roles: HashMap::new(),
            misroute: HashMap::new(),
            latency: None,
            resources,
            fleet: Fleet::default(),
            failing: HashMap::new(),
            failing_actions: HashMap::new(),
            requests: Vec::new(),
            next_request: 0,
            page_size: None,
        }));
        let app = Router::new()
            .route("/", post(query))
            .with_state(inner.clone());
        let server = crate::Served::start(port, app).await?;
        Ok(Self { server, inner })
    }

    /// The fixture the samples use (`events/rds/fixtures/pending-maintenance-actions.json`,
    /// the CLI's output format).
    pub fn fixture(root: &std::path::Path) -> std::io::Result<Vec<Resource>> {
        let bytes =
            std::fs::read(root.join("events/rds/fixtures/pending-maintenance-actions.json"))?;
        Self::parse_cli_output(&bytes)
    }

    /// The clusters and instances the samples describe
    /// (`events/rds/fixtures/db-clusters.json` and `db-instances.json`).
    pub fn fleet_fixture(root: &std::path::Path) -> std::io::Result<Fleet> {
        let dir = root.join("events/rds/fixtures");
        let clusters = Fleet::parse_cli_output(&std::fs::read(dir.join("db-clusters.json"))?)?;
        let instances = Fleet::parse_cli_output(&std::fs::read(dir.join("db-instances.json"))?)?;
        Ok(Fleet {
            clusters: clusters.clusters,
            instances: instances.instances,
        })
    }

    /// What `DescribeDBClusters` and `DescribeDBInstances` answer.
    pub fn describe(&self, fleet: Fleet) {
        self.lock().fleet = fleet;
    }

    /// Replace the pending actions.
    pub fn set_pending(&self, resources: Vec<Resource>) {
        self.lock().resources = resources;
    }

    /// Make every request for `action` (e.g. `DescribeDBInstances`) fail, in every region.
    pub fn fail_action(&self, action: &str, failure: RegionFailure) {
        self.lock()
            .failing_actions
            .insert(action.to_owned(), failure);
    }

    pub fn parse_cli_output(bytes: &[u8]) -> std::io::Result<Vec<Resource>> {
        serde_json::from_slice::<CliOutput>(bytes)
            .map(|o| o.pending_maintenance_actions)
            .map_err(std::io::Error::other)
    }

    /// `AWS_ENDPOINT_URL_RDS` for the function.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The account of keys the fake's STS did not hand out (the function's own).
    pub fn home_account(&self, account: &str) {
        self.lock().home = account.to_owned();
    }

    /// A role `name` in `account` that the home account may assume (with `external_id`,
    /// when given, as its trust policy's `sts:ExternalId` condition).
    pub fn member_role(&self, account: &str, name: &str, external_id: Option<&str>) {
        self.lock().roles.insert(
            account.to_owned(),
            Role {
                name: name.to_owned(),
                external_id: external_id.map(str::to_owned),
            },
        );
    }

    /// A fault: requests made as `from` are answered with `to`'s resources.
    pub fn misroute(&self, from: &str, to: &str) {
        self.lock().misroute.insert(from.to_owned(), to.to_owned());
    }

    /// Delay every answer by `d` (a real API's round trip).
    pub fn latency(&self, d: std::time::Duration) {
        self.lock().latency = Some(d);
    }

    /// Make every request for `region` fail.
    pub fn fail_region(&self, region: &str, failure: RegionFailure) {
        self.lock().failing.insert(region.to_owned(), failure);
    }

    /// Answer at most `n` resources per page, whatever `MaxRecords` asks.
    pub fn page_size(&self, n: usize) {
        self.lock().page_size = Some(n.max(1));
    }

    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

const NS: &str = "http://rds.amazonaws.com/doc/2014-10-31/";

/// XML text: the five characters XML reserves, escaped.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn error(status: StatusCode, kind: &str, code: &str, message: &str, request_id: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{NS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        xml_escape(message)
    );
    (status, [("content-type", "text/xml")], body).into_response()
}

/// (access key, region, service) of a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20261125/eu-west-1/rds/aws4_request`).
fn signed(headers: &HeaderMap) -> Option<(String, String, String)> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let credential = rest
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("Credential="))?;
    let mut scope = credential.split('/');
    let (key, _date, region, service, terminal) = (
        scope.next()?,
        scope.next()?,
        scope.next()?,
        scope.next()?,
        scope.next()?,
    );
    (matches!(service, "rds" | "sts") && terminal == "aws4_request")
        .then(|| (key.to_owned(), region.to_owned(), service.to_owned()))
}

async fn query(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let latency = inner.lock().unwrap_or_else(|p| p.into_inner()).latency;
    if let Some(d) = latency {
        tokio::time::sleep(d).await;
    }
    let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
    g.next_request += 1;
    let request_id = format!("00000000-0000-4000-8000-{:012}", g.next_request);
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let params: Vec<(String, String)> = if form {
        serde_urlencoded_pairs(&body)
    } else {
        Vec::new()
    };
    let signed = signed(&headers);
    let account = signed
        .as_ref()
        .and_then(|(key, ..)| g.sessions.get(key).cloned())
        .unwrap_or_else(|| g.home.clone());
    let (region, service) = match &signed {
        Some((_, r, s)) => (Some(r.as_str()), s.as_str()),
        None => (None, "rds"),
    };
    let response = if service == "sts" {
        sts(&mut g, &account, &params, &request_id)
    } else {
        // A misrouted account is answered with another's resources.
        let seen = g.misroute.get(&account).cloned().unwrap_or(account.clone());
        answer(&g, region, &seen, &params, &request_id)
    };
    g.requests.push(Request {
        region: region.unwrap_or_default().to_owned(),
        service: service.to_owned(),
        account,
        params,
        status: response.status().as_u16(),
    });
    response
}

/// `application/x-www-form-urlencoded` pairs, percent-decoded.
fn serde_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

fn answer(
    g: &Inner,
    region: Option<&str>,
    account: &str,
    params: &[(String, String)],
    request_id: &str,
) -> Response {
    let Some(region) = region else {
        return error(
            StatusCode::FORBIDDEN,
            "Sender",
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
            request_id,
        );
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let bad = |message: &str| {
        error(
            StatusCode::BAD_REQUEST,
            "Sender",
            "InvalidParameterValue",
            message,
            request_id,
        )
    };
    let action = match param("Action") {
        Some(
            a
            @ ("DescribePendingMaintenanceActions" | "DescribeDBClusters" | "DescribeDBInstances"),
        ) => a,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                "Sender",
                "InvalidAction",
                &format!(
                    "The action {} is not valid for this web service.",
                    other.unwrap_or("(none)")
                ),
                request_id,
            );
        }
    };
    if param("Version") != Some("2014-10-31") {
        return error(
            StatusCode::BAD_REQUEST,
            "Sender",
            "InvalidParameterValue",
            "Version must be 2014-10-31",
            request_id,
        );
    }
    match g
        .failing
        .get(region)
        .or_else(|| g.failing_actions.get(action))
    {
        Some(RegionFailure::Throttling) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Sender",
                "Throttling",
                "Rate exceeded",
                request_id,
            );
        }
        Some(RegionFailure::AccessDenied) => {
            return error(
                StatusCode::FORBIDDEN,
                "Sender",
                "AccessDenied",
                &format!(
                    "User: arn:aws:sts::111122223333:assumed-role/opswatch-rds/checker is not authorized to perform: rds:{action} on resource: arn:aws:rds:{region}:111122223333:db:*"
                ),
                request_id,
            );
        }
        None => {}
    }
    let max_records = match param("MaxRecords").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (20..=100).contains(&n) => n,
        Some(_) => {
            return bad("Invalid value for MaxRecords. Must be between 20 and 100");
        }
    };
    let start = match param("Marker") {
        None => 0,
        Some(m) => match m
            .strip_prefix("fake-marker-")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => n,
            None => return bad(&format!("Invalid marker: {m}")),
        },
    };
    // Filters.Filter.N.Name / Filters.Filter.N.Values.Value.M
    let mut filters: Vec<(String, Vec<String>)> = Vec::new();
    for n in 1.. {
        let Some(name) = param(&format!("Filters.Filter.{n}.Name")) else {
            break;
        };
        let known: &[&str] = match action {
            "DescribeDBClusters" => &["db-cluster-id"],
            "DescribeDBInstances" => &["db-instance-id", "db-cluster-id"],
            _ => &["db-cluster-id", "db-instance-id"],
        };
        if !known.contains(&name) {
            return bad(&format!("Unrecognized filter name: {name}"));
        }
        let values: Vec<String> = (1..)
            .map_while(|m| param(&format!("Filters.Filter.{n}.Values.Value.{m}")))
            .map(str::to_owned)
            .collect();
        if values.is_empty() {
            return bad(&format!("Filter {name} must have at least one value"));
        }
        filters.push((name.to_owned(), values));
    }
    let take = g.page_size.map_or(max_records, |n| n.min(max_records));
    if action != "DescribePendingMaintenanceActions" {
        return describe(
            g, action, region, account, &filters, start, take, request_id,
        );
    }
    let resource_identifier = param("ResourceIdentifier");

    let matching: Vec<&Resource> = g
        .resources
        .iter()
        .filter(|r| arn_part(&r.resource_identifier, 3) == Some(region))
        .filter(|r| arn_part(&r.resource_identifier, 4) == Some(account))
        .filter(|r| resource_identifier.is_none_or(|id| r.resource_identifier == id))
        .filter(|r| {
            filters
                .iter()
                .all(|(name, values)| matches(r, name, values))
        })
        .collect();
    let page: Vec<&Resource> = matching.iter().skip(start).take(take).copied().collect();
    let marker = (start + page.len() < matching.len())
        .then(|| format!("fake-marker-{}", start + page.len()));

    let mut xml = format!(
        "<DescribePendingMaintenanceActionsResponse xmlns=\"{NS}\">\n  <DescribePendingMaintenanceActionsResult>\n    <PendingMaintenanceActions>\n"
    );
    for r in page {
        xml.push_str("      <ResourcePendingMaintenanceActions>\n");
        xml.push_str(&format!(
            "        <ResourceIdentifier>{}</ResourceIdentifier>\n        <PendingMaintenanceActionDetails>\n",
            xml_escape(&r.resource_identifier)
        ));
        for a in &r.pending_maintenance_action_details {
            xml.push_str("          <PendingMaintenanceAction>\n");
            let mut element = |tag: &str, v: &Option<String>| {
                if let Some(v) = v {
                    xml.push_str(&format!("            <{tag}>{}</{tag}>\n", xml_escape(v)));
                }
            };
            element("Action", &Some(a.action.clone()));
            element("Description", &a.description);
            element("AutoAppliedAfterDate", &a.auto_applied_after_date);
            element("ForcedApplyDate", &a.forced_apply_date);
            element("OptInStatus", &a.opt_in_status);
            element("CurrentApplyDate", &a.current_apply_date);
            xml.push_str("          </PendingMaintenanceAction>\n");
        }
        xml.push_str("        </PendingMaintenanceActionDetails>\n      </ResourcePendingMaintenanceActions>\n");
    }
    xml.push_str("    </PendingMaintenanceActions>\n");
    if let Some(m) = marker {
        xml.push_str(&format!("    <Marker>{m}</Marker>\n"));
    }
    xml.push_str(&format!(
        "  </DescribePendingMaintenanceActionsResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</DescribePendingMaintenanceActionsResponse>\n"
    ));
    (StatusCode::OK, [("content-type", "text/xml")], xml).into_response()
}

/// `DescribeDBClusters` / `DescribeDBInstances`: the region's resources that match every
/// filter, one page.
#[allow(clippy::too_many_arguments)]
fn describe(
    g: &Inner,
    action: &str,
    region: &str,
    account: &str,
    filters: &[(String, Vec<String>)],
    start: usize,
    take: usize,
    request_id: &str,
) -> Response {
    let clusters = action == "DescribeDBClusters";
    let (list, plural, one, id_tag, arn_tag) = if clusters {
        (
            &g.fleet.clusters,
            "DBClusters",
            "DBCluster",
            "DBClusterIdentifier",
            "DBClusterArn",
        )
    } else {
        (
            &g.fleet.instances,
            "DBInstances",
            "DBInstance",
            "DBInstanceIdentifier",
            "DBInstanceArn",
        )
    };
    let named =
        |d: &Described, values: &[String]| values.iter().any(|v| *v == d.arn || *v == d.identifier);
    let matching: Vec<&Described> =
        list.iter()
            .filter(|d| arn_part(&d.arn, 3) == Some(region))
            .filter(|d| arn_part(&d.arn, 4) == Some(account))
            .filter(|d| {
                filters.iter().all(|(name, values)| match name.as_str() {
                    "db-cluster-id" if !clusters => d.cluster.as_ref().is_some_and(|c| {
                        values.iter().any(|v| v == c || arn_part(v, 6) == Some(c))
                    }),
                    _ => named(d, values),
                })
            })
            .collect();
    let page: Vec<&Described> = matching.iter().skip(start).take(take).copied().collect();
    let marker = (start + page.len() < matching.len())
        .then(|| format!("fake-marker-{}", start + page.len()));
    let mut xml =
        format!("<{action}Response xmlns=\"{NS}\">\n  <{action}Result>\n    <{plural}>\n");
    for d in page {
        xml.push_str(&format!("      <{one}>\n"));
        xml.push_str(&format!(
            "        <{id_tag}>{}</{id_tag}>\n",
            xml_escape(&d.identifier)
        ));
        xml.push_str(&format!(
            "        <{arn_tag}>{}</{arn_tag}>\n",
            xml_escape(&d.arn)
        ));
        if let Some(w) = &d.preferred_maintenance_window {
            xml.push_str(&format!(
                "        <PreferredMaintenanceWindow>{}</PreferredMaintenanceWindow>\n",
                xml_escape(w)
            ));
        }
        if !d.tags.is_empty() {
            xml.push_str("        <TagList>\n");
            for (k, v) in &d.tags {
                xml.push_str(&format!(
                    "          <Tag>\n            <Key>{}</Key>\n            <Value>{}</Value>\n          </Tag>\n",
                    xml_escape(k),
                    xml_escape(v)
                ));
            }
            xml.push_str("        </TagList>\n");
        }
        if let (false, Some(c)) = (clusters, &d.cluster) {
            xml.push_str(&format!(
                "        <DBClusterIdentifier>{}</DBClusterIdentifier>\n",
                xml_escape(c)
            ));
        }
        xml.push_str(&format!("      </{one}>\n"));
    }
    xml.push_str(&format!("    </{plural}>\n"));
    if let Some(m) = marker {
        xml.push_str(&format!("    <Marker>{m}</Marker>\n"));
    }
    xml.push_str(&format!(
        "  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"
    ));
    (StatusCode::OK, [("content-type", "text/xml")], xml).into_response()
}

const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

fn sts_error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{STS_NS}\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        xml_escape(message)
    );
    (status, [("content-type", "text/xml")], body).into_response()
}

/// The caller's ARN as STS shows it.
fn caller_arn(g: &Inner, account: &str) -> String {
    match g.roles.get(account).filter(|_| account != g.home) {
        Some(role) => format!("arn:aws:sts::{account}:assumed-role/{}/opswatch", role.name),
        None => format!(
            "arn:aws:sts::{account}:assumed-role/opswatch-rds-maintenance-checker/rds-maintenance-checker"
        ),
    }
}

/// STS: `GetCallerIdentity` and `AssumeRole`, as the API reference documents them.
fn sts(g: &mut Inner, caller: &str, params: &[(String, String)], request_id: &str) -> Response {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if param("Version").as_deref() != Some("2011-06-15") {
        return sts_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValue",
            "Version must be 2011-06-15",
            request_id,
        );
    }
    let ok = |action: &str, result: String| {
        let body = format!(
            "<{action}Response xmlns=\"{STS_NS}\">\n  <{action}Result>\n{result}  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"
        );
        (StatusCode::OK, [("content-type", "text/xml")], body).into_response()
    };
    match param("Action").as_deref() {
        Some("GetCallerIdentity") => ok(
            "GetCallerIdentity",
            format!(
                "    <Arn>{}</Arn>\n    <UserId>AROAFAKE:opswatch</UserId>\n    <Account>{caller}</Account>\n",
                caller_arn(g, caller)
            ),
        ),
        Some("AssumeRole") => {
            let invalid =
                |m: &str| sts_error(StatusCode::BAD_REQUEST, "ValidationError", m, request_id);
            let Some(role_arn) = param("RoleArn") else {
                return invalid(
                    "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
                );
            };
            let Some(session) = param("RoleSessionName").filter(|s| (2..=64).contains(&s.len()))
            else {
                return invalid(
                    "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64",
                );
            };
            if let Some(d) = param("DurationSeconds")
                && !d.parse::<u32>().is_ok_and(|d| (900..=43_200).contains(&d))
            {
                return invalid(
                    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                );
            }
            let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
            let (account, name) = match parts[..] {
                ["arn", _, "iam", "", account, resource] if account.len() == 12 => {
                    match resource.strip_prefix("role/") {
                        Some(name) => (account.to_owned(), name.to_owned()),
                        None => return invalid(&format!("{role_arn} is invalid")),
                    }
                }
                _ => return invalid(&format!("{role_arn} is invalid")),
            };
            // The trust policy: the role exists, and its external id condition holds.
            let allowed = g.roles.get(&account).is_some_and(|r| {
                r.name == name
                    && (r.external_id.is_none()
                        || param("ExternalId").as_deref() == r.external_id.as_deref())
            });
            if !allowed {
                return sts_error(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    &format!(
                        "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                        caller_arn(g, caller)
                    ),
                    request_id,
                );
            }
            let key = format!("ASIA{account}{:06}", g.next_request);
            g.sessions.insert(key.clone(), account.clone());
            let expires = std::time::SystemTime::now() + std::time::Duration::from_secs(900);
            let expires = expires
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let expiration = rfc3339(expires);
            ok(
                "AssumeRole",
                format!(
                    "    <AssumedRoleUser>\n      <Arn>arn:aws:sts::{account}:assumed-role/{name}/{session}</Arn>\n      <AssumedRoleId>AROAFAKE{account}:{session}</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{key}</AccessKeyId>\n      <SecretAccessKey>fake-secret-{key}</SecretAccessKey>\n      <SessionToken>fake-token-{key}</SessionToken>\n      <Expiration>{expiration}</Expiration>\n    </Credentials>\n    <PackedPolicySize>0</PackedPolicySize>\n"
                ),
            )
        }
        other => sts_error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!(
                "Could not find operation {} for version 2011-06-15",
                other.unwrap_or("(none)")
            ),
            request_id,
        ),
    }
}

/// `2026-12-05T04:00:00Z` for Unix seconds (the civil calendar from days, proleptic
/// Gregorian).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Part `i` of an ARN (`arn:partition:service:region:account:type:name`).
fn arn_part(arn: &str, i: usize) -> Option<&str> {
    arn.splitn(7, ':').nth(i)
}

fn matches(r: &Resource, filter: &str, values: &[String]) -> bool {
    let kind = if filter == "db-cluster-id" {
        "cluster"
    } else {
        "db"
    };
    let arn = &r.resource_identifier;
    arn_part(arn, 5) == Some(kind)
        && values
            .iter()
            .any(|v| v == arn || arn_part(arn, 6) == Some(v.as_str()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_796_443_200), "2026-12-05T04:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
