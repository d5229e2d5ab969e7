//! Which resource types to alert on: `INCLUDE_RESOURCE_TYPES` / `EXCLUDE_RESOURCE_TYPES`,
//! comma-separated, each an exact type (`AWS::EC2::SecurityGroup`) or a prefix ending in `*`
//! (`AWS::EC2::*`), compared case-insensitively. An empty include list includes everything;
//! exclusion wins over inclusion.

use opswatch_support::Patterns;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceFilter {
    include: Patterns,
    exclude: Patterns,
}

impl ResourceFilter {
    pub fn new(include: &str, exclude: &str) -> Self {
        Self {
            include: Patterns::parse(include),
            exclude: Patterns::parse(exclude),
        }
    }

    pub fn allows(&self, resource_type: &str) -> bool {
        (self.include.is_empty() || self.include.matches(resource_type))
            && !self.exclude.matches(resource_type)
    }
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
