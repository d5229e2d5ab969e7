//! AWS Organizations, asked only where a setting turns it on (`ACCOUNT_NAMES=organizations`):
//! every account of the organization with its name and status (`ListAccounts`, every page),
//! and an account's tags for tag routes (`ListTagsForResource`, every page, each account
//! asked once per execution environment).
//!
//! Throttling (`TooManyRequestsException`) is retried by the SDK's standard retry
//! (`AWS_MAX_ATTEMPTS`, 3 by default); what still fails comes back as one line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::Tags;

/// One account of the organization, as `ListAccounts` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SUSPENDED` or `PENDING_CLOSURE`.
    pub status: String,
}

impl Account {
    /// Whether it can be read (`ACTIVE`); suspended and closing accounts cannot.
    pub fn active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// An Organizations client, and the account tags already read.
#[derive(Clone, Debug)]
pub struct Org {
    client: aws_sdk_organizations::Client,
    tags: Arc<Mutex<HashMap<String, Arc<Tags>>>>,
}

impl Org {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_organizations::Client::new(config),
            tags: Arc::default(),
        }
    }

    /// Every account of the organization (every page), in the API's order.
    pub async fn accounts(&self) -> Result<Vec<Account>, String> {
        let mut pages = self.client.list_accounts().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                format!(
                    "Organizations ListAccounts: {}",
                    opswatch_support::sdk_error(&e)
                )
            })?;
            for a in page.accounts() {
                // `State` is the current field; older answers carry only `Status`.
                #[allow(deprecated)]
                let status = a
                    .state()
                    .map(|s| s.as_str())
                    .or_else(|| a.status().map(|s| s.as_str()));
                let (Some(id), Some(status)) = (a.id(), status) else {
                    continue;
                };
                out.push(Account {
                    id: id.to_owned(),
                    name: a.name().unwrap_or_default().to_owned(),
                    status: status.to_owned(),
                });
            }
        }
        Ok(out)
    }

    /// The account's tags (every page), read once per execution environment.
    pub async fn tags(&self, account: &str) -> Result<Arc<Tags>, String> {
        if let Some(t) = self.cached(account) {
            return Ok(t);
        }
        let mut pages = self
            .client
            .list_tags_for_resource()
            .resource_id(account)
            .into_paginator()
            .send();
        let mut tags = Tags::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                format!(
                    "Organizations ListTagsForResource {account}: {}",
                    opswatch_support::sdk_error(&e)
                )
            })?;
            for t in page.tags() {
                tags.insert(t.key().to_owned(), t.value().to_owned());
            }
        }
        let tags = Arc::new(tags);
        self.tags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account.to_owned(), tags.clone());
        Ok(tags)
    }

    fn cached(&self, account: &str) -> Option<Arc<Tags>> {
        self.tags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(account)
            .cloned()
    }
}
