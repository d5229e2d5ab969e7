//! The documentation's promises, checked: a short front page that starts with the two
//! commands, a page per function showing at least one of its pictures, and every link and
//! picture pointing at a file of the repository.

use std::path::{Path, PathBuf};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The relative targets of a Markdown text's links and images (`](target)`), without anchors.
fn targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split('#').next().unwrap_or_default();
        if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
            out.push(target.to_owned());
        }
    }
    out
}

/// README.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let root = crate::root();
    let mut pages = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

#[test]
fn the_front_page_is_short_and_starts_with_the_two_commands() {
    let readme = read(&crate::root().join("README.md"));
    assert!(readme.len() < 15_000, "README.md is {} bytes", readme.len());
    let first: Vec<&str> = readme.lines().take(6).collect();
    assert_eq!(first[0], "# opswatch");
    assert!(first[3].starts_with("cargo xtask demo "), "{first:?}");
    assert!(first[4].starts_with("cargo xtask test "), "{first:?}");
    // A picture of a real alert, and a link to every function's page.
    assert!(
        targets(&readme)
            .iter()
            .any(|t| t.starts_with("docs/img/") && t.ends_with(".png"))
    );
    for f in crate::FUNCTIONS {
        let page = format!("docs/{}.md", f.name);
        assert!(
            targets(&readme).contains(&page),
            "README does not link {page}"
        );
    }
}

#[test]
fn every_function_has_a_page_with_its_own_picture() {
    let root = crate::root();
    for f in crate::FUNCTIONS {
        let page = root.join("docs").join(format!("{}.md", f.name));
        let text = read(&page);
        let pictures: Vec<String> = targets(&text)
            .into_iter()
            .filter(|t| t.starts_with(&format!("img/{}", f.name)) && t.ends_with(".png"))
            .collect();
        assert!(
            !pictures.is_empty(),
            "{} shows none of its pictures",
            page.display()
        );
        for section in ["## Behaviour", "## Configuration", "## Try it", "## Limits"] {
            assert!(
                text.contains(section),
                "{} has no {section:?}",
                page.display()
            );
        }
    }
}

#[test]
fn links_and_pictures_point_at_files_of_the_repository() {
    let root = crate::root();
    for page in pages() {
        let text = read(&page);
        let dir = page.parent().expect("a folder");
        for target in targets(&text) {
            let path = dir.join(&target);
            assert!(path.exists(), "{}: {target} does not exist", page.display());
            let resolved = path.canonicalize().expect("exists");
            assert!(
                resolved.starts_with(&root),
                "{}: {target} is outside the repository",
                page.display()
            );
        }
        // Spelt in two parts so that a search of the repository for it finds nothing.
        let outside = ["..", "shared"].join("/");
        assert!(
            !text.contains(&outside),
            "{} names {outside}, outside the repository",
            page.display()
        );
    }
}

/// The commands xtask's usage names, as words: `["invoke"]`, `["fake", "slack"]`, ….
fn commands() -> Vec<Vec<String>> {
    crate::USAGE
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| words(l.trim_start().split("  ").next().unwrap_or_default()))
        .collect()
}

/// The leading command words of a command line: lower-case words and hyphens, up to the
/// first that is anything else (an option, a placeholder, a path, `test/demo`).
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let word: String = token
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        let whole = word.len() == token.len();
        if !word.is_empty() && !word.starts_with('-') {
            out.push(word);
        }
        if !whole || out.is_empty() {
            break;
        }
    }
    out
}

/// Whether `used` (the words after `cargo xtask`) names a command of `known`: the longest
/// command it starts with, a two-word one wherever its first word has them and it gives two.
fn names_a_command(known: &[Vec<String>], used: &[String]) -> bool {
    let Some(first) = used.first() else {
        return false;
    };
    let family: Vec<&Vec<String>> = known.iter().filter(|c| &c[0] == first).collect();
    let two_words = family.iter().any(|c| c.len() == 2);
    match used.get(1) {
        Some(second) if two_words => family.iter().any(|c| c.get(1) == Some(second)),
        _ => family.iter().any(|c| c.len() == 1),
    }
}

#[test]
fn every_cargo_xtask_command_in_the_docs_is_a_real_one() {
    let known = commands();
    assert!(known.contains(&vec!["fake".to_owned(), "slack".to_owned()]));
    let root = crate::root();
    let mut checked = 0;
    for page in pages() {
        let text = read(&page);
        for (at, _) in text.match_indices("cargo xtask ") {
            let line = text[at + "cargo xtask ".len()..]
                .lines()
                .next()
                .unwrap_or_default();
            let line = line.split(['`', '#', '|', ')']).next().unwrap_or_default();
            let used = words(line);
            assert!(
                names_a_command(&known, &used),
                "{}: `cargo xtask {line}` names no command of xtask's usage",
                page.display()
            );
            // An invoke's function and event file (not a placeholder, stdin or a file made
            // by an earlier command under target/), and a rules file, exist.
            let args: Vec<&str> = line
                .split_whitespace()
                .skip(1)
                .take_while(|a| !a.starts_with('<'))
                .filter(|a| !a.starts_with("--") && !a.starts_with('['))
                .collect();
            if used[0] == "invoke"
                && let Some(name) = args.first()
            {
                assert!(
                    crate::function(name).is_ok(),
                    "{}: `cargo xtask {line}`: no function {name}",
                    page.display()
                );
            }
            if used[0] == "invoke" || used[0] == "rules" {
                let files = if used[0] == "invoke" { 1 } else { 0 };
                for file in args.iter().skip(files) {
                    if *file != "-" && !file.starts_with("target/") {
                        assert!(
                            root.join(file).is_file(),
                            "{}: `cargo xtask {line}`: no file {file}",
                            page.display()
                        );
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} commands found in the docs");
}

#[test]
fn command_words_are_read_as_a_reader_would() {
    let known = commands();
    let w = |s: &str| words(s);
    assert_eq!(w("invoke [--release] <function> <f>"), ["invoke"]);
    assert_eq!(w("test/demo"), ["test"]);
    assert_eq!(
        w("bench load slack-actions"),
        ["bench", "load", "slack-actions"]
    );
    assert!(names_a_command(&known, &w("bench")));
    assert!(names_a_command(&known, &w("bench load org-trail")));
    assert!(names_a_command(&known, &w("fake slack --port 9000")));
    assert!(!names_a_command(&known, &w("fake")));
    assert!(!names_a_command(&known, &w("fake smtp")));
    assert!(!names_a_command(&known, &w("bench speed")));
    assert!(!names_a_command(&known, &w("deploy")));
    assert!(!names_a_command(&known, &w("")));
}

#[test]
fn targets_are_read_from_links_and_images() {
    assert_eq!(
        targets("see [a](docs/a.md#x), ![p](img/p.png) and [web](https://x.example) [s](#top)"),
        ["docs/a.md", "img/p.png"]
    );
}

/// The template's parameters, in order (the keys of its `Parameters:` block).
fn template_parameters() -> Vec<String> {
    let template = read(&crate::root().join("template.yaml"));
    let block = template
        .split("\nParameters:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("a Parameters block");
    block
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.strip_suffix(':'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_template_parameter_is_in_the_deploy_table() {
    let deploy = read(&crate::root().join("docs/deploy.md"));
    // The table's rows: `| `Name` / `Other` | meaning |`.
    let rows: Vec<&str> = deploy.lines().filter(|l| l.starts_with("| `")).collect();
    let params = template_parameters();
    assert!(params.len() > 50, "{params:?}");
    let missing: Vec<&String> = params
        .iter()
        .filter(|p| {
            !rows.iter().any(|row| {
                let name_column = row.split(" | ").next().unwrap_or_default();
                name_column.contains(&format!("`{p}`"))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/deploy.md's parameter table lacks {missing:?}"
    );
}

#[test]
fn every_built_in_rule_is_documented_with_its_severity() {
    use opswatch_cloudtrail_event_handler::rules::BUILTINS;
    let page = read(&crate::root().join("docs/cloudtrail-event-handler.md"));
    let rows: Vec<Vec<&str>> = page
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.split(" | ").collect())
        .collect();
    for b in BUILTINS {
        let row = rows
            .iter()
            .find(|r| r[0] == format!("| `{}`", b.name))
            .unwrap_or_else(|| {
                panic!("docs/cloudtrail-event-handler.md has no row for {}", b.name)
            });
        assert!(
            row[1].starts_with(b.severity.as_str()),
            "{}: documented as {:?}, its most serious is {}",
            b.name,
            row[1],
            b.severity
        );
    }
    // And no row for a rule that is not there.
    let rule_rows = rows.iter().filter(|r| {
        matches!(
            r.get(1).map(|s| s.split(' ').next()),
            Some(Some("critical" | "warning" | "info"))
        )
    });
    for r in rule_rows {
        let name = r[0].trim_start_matches("| `").trim_end_matches('`');
        assert!(
            BUILTINS.iter().any(|b| b.name == name),
            "docs/cloudtrail-event-handler.md documents {name}, which is not a built-in rule"
        );
    }
}
