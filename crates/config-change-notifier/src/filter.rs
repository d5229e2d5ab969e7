//! Which resource types to alert on: `INCLUDE_RESOURCE_TYPES` / `EXCLUDE_RESOURCE_TYPES`,
//! comma-separated, each an exact type (`AWS::EC2::SecurityGroup`) or a prefix ending in `*`
//! (`AWS::EC2::*`), compared case-insensitively. An empty include list includes everything;
//! exclusion wins over inclusion.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceFilter {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl ResourceFilter {
    pub fn new(include: &str, exclude: &str) -> Self {
        Self {
            include: patterns(include),
            exclude: patterns(exclude),
        }
    }

    pub fn allows(&self, resource_type: &str) -> bool {
        let t = resource_type.to_ascii_lowercase();
        let hit = |p: &String| match p.strip_suffix('*') {
            Some(prefix) => t.starts_with(prefix),
            None => t == *p,
        };
        (self.include.is_empty() || self.include.iter().any(hit)) && !self.exclude.iter().any(hit)
    }
}

fn patterns(list: &str) -> Vec<String> {
    list.split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(include: &str, exclude: &str, resource_type: &str, expected: bool) {
        let f = ResourceFilter::new(include, exclude);
        assert_eq!(
            f.allows(resource_type),
            expected,
            "{include:?} / {exclude:?} / {resource_type}"
        );
    }

    #[test]
    fn include_and_exclude() {
        check("", "", "AWS::EC2::SecurityGroup", true);
        check("AWS::EC2::*", "", "AWS::EC2::SecurityGroup", true);
        check("AWS::EC2::*", "", "AWS::S3::Bucket", false);
        check(
            "aws::ec2::securitygroup, AWS::S3::Bucket",
            "",
            "AWS::S3::Bucket",
            true,
        );
        check(
            "AWS::EC2::*",
            "AWS::EC2::NetworkInterface",
            "AWS::EC2::NetworkInterface",
            false,
        );
        check(
            "",
            "AWS::Config::ResourceCompliance",
            "AWS::Config::ResourceCompliance",
            false,
        );
        check(" , ", "", "AWS::S3::Bucket", true);
        check("*", "", "anything", true);
    }
}
