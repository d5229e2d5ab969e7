//! Synthetic CloudTrail log files shaped like a real trail, for benchmarks and the reader's
//! differential tests (pure, deterministic: a seed gives the same file).
//!
//! About four calls in five are reads, as in a management-event trail; the rest are writes
//! (instances, security groups, routes, IAM, RDS, SSM's agent), a few refused calls, AWS
//! service events, root's and secret reads. Ids, keys, addresses and times vary as they do in
//! a real file, so the gzip ratio (about 10×) and the inflate speed are a real file's, not
//! those of a file that repeats itself.

use serde_json::{Value, json};

/// A small, fast, deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len() as u64) as usize]
    }

    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }

    fn upper(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[self.below(32) as usize]))
            .collect()
    }

    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-{}-{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(4),
            self.hex(4),
            self.hex(12)
        )
    }
}

/// A call: source, name, whether CloudTrail marks it read-only.
const READS: &[(&str, &str)] = &[
    ("ec2.amazonaws.com", "DescribeInstances"),
    ("ec2.amazonaws.com", "DescribeSecurityGroups"),
    ("ec2.amazonaws.com", "DescribeNetworkInterfaces"),
    ("s3.amazonaws.com", "ListBuckets"),
    ("s3.amazonaws.com", "GetBucketAcl"),
    ("rds.amazonaws.com", "DescribeDBClusters"),
    ("iam.amazonaws.com", "GetRole"),
    ("iam.amazonaws.com", "ListRoles"),
    ("cloudtrail.amazonaws.com", "LookupEvents"),
    ("kms.amazonaws.com", "Decrypt"),
    ("kms.amazonaws.com", "GenerateDataKey"),
    ("sts.amazonaws.com", "AssumeRole"),
    ("sts.amazonaws.com", "GetCallerIdentity"),
    ("logs.amazonaws.com", "DescribeLogGroups"),
    ("lambda.amazonaws.com", "GetFunction"),
    ("ssm.amazonaws.com", "GetParameter"),
    ("secretsmanager.amazonaws.com", "GetSecretValue"),
];

const WRITES: &[(&str, &str)] = &[
    ("ec2.amazonaws.com", "RunInstances"),
    ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"),
    ("ec2.amazonaws.com", "CreateRoute"),
    ("ec2.amazonaws.com", "CreateNetworkInterface"),
    ("ec2.amazonaws.com", "CreateTags"),
    ("iam.amazonaws.com", "PutRolePolicy"),
    ("rds.amazonaws.com", "ModifyDBCluster"),
    ("ssm.amazonaws.com", "UpdateInstanceInformation"),
    ("logs.amazonaws.com", "CreateLogStream"),
    ("s3.amazonaws.com", "PutBucketPolicy"),
    ("lambda.amazonaws.com", "UpdateFunctionConfiguration"),
];

const REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"];

const AGENTS: &[&str] = &[
    "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#arm64 api/ec2#1.170.0",
    "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.219 md/arch#x86_64 lang/python#3.12.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144",
    "aws-cli/2.17.13 md/awscrt#0.20.11 ua/2.0 os/macos#23.5.0 md/arch#arm64 lang/python#3.11.9 md/pyimpl#CPython exec-env/CloudShell cfg/retry-mode#standard",
    "console.amazonaws.com",
    "terraform-provider-aws/5.58.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.1",
    "aws-internal/3 aws-sdk-java/1.12.748 Linux/5.10.219 OpenJDK_64-Bit_Server_VM/25.412-b09 java/1.8.0_412",
];

/// Who a trail's calls come from: `principals` roles and users per account.
#[derive(Debug, Clone)]
pub struct Trail {
    pub accounts: Vec<String>,
    pub principals: u64,
    /// Seconds since the epoch of the first record.
    pub start: i64,
}

impl Trail {
    /// One account's trail.
    pub fn single(account: &str) -> Self {
        Self {
            accounts: vec![account.to_owned()],
            principals: 40,
            start: 1_795_597_200, // 2026-11-25T09:00:00Z
        }
    }

    /// An organization's trail: `n` member accounts.
    pub fn organization(n: usize) -> Self {
        Self {
            accounts: (0..n)
                .map(|i| format!("{:012}", 111_122_220_000 + i))
                .collect(),
            principals: 40,
            start: 1_795_597_200,
        }
    }

    /// The `n`th record of `account`'s file, drawn from `rng`.
    pub fn record(&self, rng: &mut Rng, account: &str, n: u64) -> Value {
        let roll = rng.below(1000);
        let (service, write) = match roll {
            0..=9 => (true, false),
            10..=199 => (false, true),
            _ => (false, false),
        };
        let (source, name) = *if write {
            rng.pick(WRITES)
        } else {
            rng.pick(READS)
        };
        let region = *rng.pick(REGIONS);
        let who = rng.below(self.principals);
        let time = self.start + (n / 4) as i64;
        let time = format!(
            "2026-11-25T{:02}:{:02}:{:02}Z",
            (time / 3600) % 24,
            (time / 60) % 60,
            time % 60
        );
        let identity = match who {
            0 if rng.below(20) == 0 => json!({
                "type": "Root", "principalId": account, "arn": format!("arn:aws:iam::{account}:root"),
                "accountId": account, "accessKeyId": format!("ASIA{}", rng.upper(16)),
                "sessionContext": {"attributes": {"creationDate": time, "mfaAuthenticated": "true"}}
            }),
            1..=3 => json!({
                "type": "IAMUser", "principalId": format!("AIDA{}", rng.upper(17)),
                "arn": format!("arn:aws:iam::{account}:user/ci-{who}"), "accountId": account,
                "accessKeyId": format!("AKIA{}", rng.upper(16)), "userName": format!("ci-{who}")
            }),
            _ => {
                let role = format!("app-{who}");
                let session = format!("{}-{}", role, rng.hex(8));
                json!({
                    "type": "AssumedRole",
                    "principalId": format!("AROA{who:04}EXAMPLE{:08}:{session}", who * 7919),
                    "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
                    "accountId": account, "accessKeyId": format!("ASIA{}", rng.upper(16)),
                    "sessionContext": {
                        "sessionIssuer": {"type": "Role", "principalId": format!("AROA{who:04}EXAMPLE{:08}", who * 7919),
                            "arn": format!("arn:aws:iam::{account}:role/{role}"), "accountId": account, "userName": role},
                        "attributes": {"creationDate": time, "mfaAuthenticated": "false"}
                    }
                })
            }
        };
        let mut r = json!({
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": time,
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": format!("{}.{}.{}.{}", 3 + rng.below(200), rng.below(256), rng.below(256), rng.below(256)),
            "userAgent": rng.pick(AGENTS),
            "requestParameters": params(rng, name, region),
            "responseElements": if write { json!({"requestId": rng.uuid(), "_return": true}) } else { Value::Null },
            "requestID": rng.uuid(),
            "eventID": rng.uuid(),
            "readOnly": !write,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": account,
            "eventCategory": "Management",
            "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.trim_end_matches(".amazonaws.com"))}
        });
        if service {
            r["eventType"] = json!("AwsServiceEvent");
            r["userIdentity"] = json!({"accountId": account, "invokedBy": source});
            r["eventName"] = json!("RotateKey");
            r["eventSource"] = json!("kms.amazonaws.com");
            r["requestParameters"] = Value::Null;
            r["serviceEventDetails"] = json!({"keyId": rng.uuid()});
        } else if rng.below(50) == 0 {
            r["errorCode"] = json!(if write {
                "Client.UnauthorizedOperation"
            } else {
                "AccessDenied"
            });
            r["errorMessage"] = json!(format!(
                "User: arn:aws:sts::{account}:assumed-role/app-{who}/x is not authorized to perform: {}:{name}",
                source.trim_end_matches(".amazonaws.com")
            ));
        }
        r
    }

    /// A log file of `records` records of `account`, as CloudTrail writes it (one line,
    /// gzip).
    pub fn log_file(&self, rng: &mut Rng, account: &str, records: u64) -> Vec<u8> {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        self.write_log(rng, account, records, &mut w)
            .and_then(|()| w.finish())
            .unwrap_or_default()
    }

    /// Write a log file's JSON of `records` records to `out`.
    pub fn write_log(
        &self,
        rng: &mut Rng,
        account: &str,
        records: u64,
        out: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        out.write_all(b"{\"Records\":[")?;
        for n in 0..records {
            if n > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, &self.record(rng, account, n))?;
        }
        out.write_all(b"]}")
    }
}

/// The request parameters of a call, with ids that vary.
fn params(rng: &mut Rng, name: &str, region: &str) -> Value {
    match name {
        "DescribeInstances" => {
            json!({"instancesSet": {"items": [{"instanceId": format!("i-{}", rng.hex(17))}]}, "filterSet": {}, "maxResults": 1000})
        }
        "RunInstances" => json!({
            "instancesSet": {"items": [{"imageId": format!("ami-{}", rng.hex(17)), "minCount": 1, "maxCount": 1}]},
            "instanceType": "m7g.large", "subnetId": format!("subnet-{}", rng.hex(17)),
            "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [{"key": "Name", "value": format!("web-{}", rng.hex(4))}]}]}
        }),
        "AuthorizeSecurityGroupIngress" => json!({
            "groupId": format!("sg-{}", rng.hex(17)),
            "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                "ipRanges": {"items": [{"cidrIp": format!("10.{}.0.0/16", rng.below(256))}]}}]}
        }),
        "CreateRoute" => {
            json!({"routeTableId": format!("rtb-{}", rng.hex(17)), "destinationCidrBlock": "0.0.0.0/0",
            "natGatewayId": format!("nat-{}", rng.hex(17))})
        }
        "PutRolePolicy" => {
            json!({"roleName": format!("app-{}", rng.below(40)), "policyName": "inline",
            // IAM's policies arrive URL-encoded; one in a few carries escaped quotes.
            "policyDocument": if rng.below(4) == 0 { "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}".to_owned() }
                else { "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D".to_owned() }})
        }
        "Decrypt" | "GenerateDataKey" => json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:{region}:111122223333:function:f-{}", rng.hex(6))}}),
        "AssumeRole" => {
            json!({"roleArn": format!("arn:aws:iam::111122223333:role/app-{}", rng.below(40)),
            "roleSessionName": format!("s-{}", rng.hex(10)), "durationSeconds": 3600})
        }
        "GetParameter" => {
            json!({"name": format!("/app/{}/db-password", rng.hex(4)), "withDecryption": rng.below(2) == 0})
        }
        "GetSecretValue" => {
            json!({"secretId": format!("arn:aws:secretsmanager:{region}:111122223333:secret:app/{}", rng.hex(6))})
        }
        "UpdateInstanceInformation" => {
            json!({"instanceId": format!("i-{}", rng.hex(17)), "agentVersion": "3.3.484.0",
            "platformType": "Linux", "platformName": "Amazon Linux", "platformVersion": "2023", "ipAddress": format!("10.0.{}.{}", rng.below(256), rng.below(256))})
        }
        "CreateLogStream" => {
            json!({"logGroupName": format!("/aws/lambda/f-{}", rng.hex(6)), "logStreamName": format!("2026/11/25/[$LATEST]{}", rng.hex(32))})
        }
        "ModifyDBCluster" => {
            json!({"dBClusterIdentifier": format!("db-{}", rng.hex(4)), "applyImmediately": false, "backupRetentionPeriod": 7})
        }
        _ => {
            json!({"maxResults": 100 + rng.below(900), "nextToken": if rng.below(3) == 0 { Value::String(rng.hex(48)) } else { Value::Null }})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_file_and_a_realistic_ratio() {
        let trail = Trail::single("111122223333");
        let a = trail.log_file(&mut Rng::new(7), "111122223333", 2000);
        let b = trail.log_file(&mut Rng::new(7), "111122223333", 2000);
        assert_eq!(a, b);
        let mut json = Vec::new();
        trail
            .write_log(&mut Rng::new(7), "111122223333", 2000, &mut json)
            .unwrap();
        let ratio = json.len() as f64 / a.len() as f64;
        assert!((5.0..20.0).contains(&ratio), "gzip ratio {ratio:.1}");
    }
}
