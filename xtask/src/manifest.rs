//! `cargo xtask slack-manifest [--url <SlackActionsUrl>]`: the Slack app's manifest, to
//! paste at api.slack.com/apps → *Create New App → From a manifest* (or an existing app's
//! *App Manifest* page). It names the bot scopes every feature needs and, with the stack's
//! `SlackActionsUrl` output, the interactivity request URL and the `/opswatch` command.

use serde_json::{Value, json};

/// The bot scopes, each with what it is for.
pub const SCOPES: &[(&str, &str)] = &[
    (
        "chat:write",
        "post and edit alerts, announce mutes, answer users (ephemeral)",
    ),
    (
        "channels:history",
        "look for a message before posting it again (public channels)",
    ),
    ("groups:history", "the same in private channels"),
    (
        "channels:read",
        "learn a public channel's id when it is configured by name",
    ),
    ("groups:read", "the same for private channels"),
    ("commands", "the /opswatch command"),
    (
        "usergroups:read",
        "ACTIONS_ALLOWED_USERGROUPS: who is in a user group",
    ),
];

/// The manifest; `url` is the function URL (`SlackActionsUrl`), or a placeholder.
pub fn manifest(url: Option<&str>) -> Value {
    let url = url.unwrap_or("https://<SlackActionsUrl output of the stack>/");
    json!({
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": "opswatch",
            "description": "AWS operational alerts: acknowledge and mute them here.",
            "background_color": "#232f3e",
        },
        "features": {
            "bot_user": {"display_name": "opswatch", "always_online": true},
            "slash_commands": [{
                "command": "/opswatch",
                "url": url,
                "description": "List or lift opswatch mutes",
                "usage_hint": "mutes | unmute <id>",
                "should_escape": false,
            }],
        },
        "oauth_config": {
            "scopes": {"bot": SCOPES.iter().map(|(s, _)| *s).collect::<Vec<_>>()},
        },
        "settings": {
            "interactivity": {"is_enabled": true, "request_url": url},
            "org_deploy_enabled": false,
            "socket_mode_enabled": false,
            "token_rotation_enabled": false,
        },
    })
}

pub fn main(args: &[String]) -> Result<(), String> {
    let url = match args {
        [] => None,
        [flag, url] if flag == "--url" => {
            if !url.starts_with("https://") {
                return Err(format!(
                    "--url {url:?}: Slack sends requests only to an https:// URL (the stack's SlackActionsUrl output)"
                ));
            }
            Some(url.as_str())
        }
        _ => return Err("usage: cargo xtask slack-manifest [--url <SlackActionsUrl>]".into()),
    };
    let text = serde_json::to_string_pretty(&manifest(url)).map_err(|e| e.to_string())?;
    println!("{text}");
    eprintln!("scopes:");
    for (scope, why) in SCOPES {
        eprintln!("  {scope:<18} {why}");
    }
    if url.is_none() {
        eprintln!(
            "(no --url: the interactivity and command URLs are placeholders; after deploying, run again with --url set to the stack's SlackActionsUrl output)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_points_both_urls_at_the_function() {
        let m = manifest(Some("https://abc.lambda-url.eu-west-1.on.aws/"));
        insta::assert_json_snapshot!(m);
        assert_eq!(
            m["settings"]["interactivity"]["request_url"],
            m["features"]["slash_commands"][0]["url"]
        );
        assert!(main(&["--url".into(), "http://x".into()]).is_err());
    }
}
