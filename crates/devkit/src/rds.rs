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
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CliCluster {
    #[serde(rename = "DBClusterIdentifier")]
    identifier: String,
    #[serde(rename = "DBClusterArn")]
    arn: String,
    preferred_maintenance_window: Option<String>,
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

struct Inner {
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

/// The region of a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20261125/eu-west-1/rds/aws4_request`).
fn signed_region(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let credential = rest
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("Credential="))?;
    let mut scope = credential.split('/');
    let (_key, _date, region, service, terminal) = (
        scope.next()?,
        scope.next()?,
        scope.next()?,
        scope.next()?,
        scope.next()?,
    );
    (service == "rds" && terminal == "aws4_request").then(|| region.to_owned())
}

async fn query(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
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
    let region = signed_region(&headers);
    let response = answer(&g, region.as_deref(), &params, &request_id);
    g.requests.push(Request {
        region: region.unwrap_or_default(),
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
        return describe(g, action, region, &filters, start, take, request_id);
    }
    let resource_identifier = param("ResourceIdentifier");

    let matching: Vec<&Resource> = g
        .resources
        .iter()
        .filter(|r| arn_part(&r.resource_identifier, 3) == Some(region))
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
fn describe(
    g: &Inner,
    action: &str,
    region: &str,
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
