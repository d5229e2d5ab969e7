//! A fake of the RDS Query API's `DescribePendingMaintenanceActions` on loopback, answering as
//! the API reference documents it:
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
//! - Answers are `DescribePendingMaintenanceActionsResponse` XML; errors are `ErrorResponse`
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
    failing: HashMap<String, RegionFailure>,
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

    /// On a chosen loopback port (0: any free one).
    pub async fn start_on(port: u16, resources: Vec<Resource>) -> std::io::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner {
            resources,
            failing: HashMap::new(),
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
    match param("Action") {
        Some("DescribePendingMaintenanceActions") => {}
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
    }
    if param("Version") != Some("2014-10-31") {
        return error(
            StatusCode::BAD_REQUEST,
            "Sender",
            "InvalidParameterValue",
            "Version must be 2014-10-31",
            request_id,
        );
    }
    match g.failing.get(region) {
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
                    "User: arn:aws:sts::111122223333:assumed-role/opswatch-rds/checker is not authorized to perform: rds:DescribePendingMaintenanceActions on resource: arn:aws:rds:{region}:111122223333:db:*"
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
        if name != "db-cluster-id" && name != "db-instance-id" {
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
    let take = g.page_size.map_or(max_records, |n| n.min(max_records));
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
