//! For other plugins: add links to Autolink through the server
//! (`PluginHTTP`), as Go plugins do with the `autolinkclient` package.

use mattermost_plugin::PluginApiClient;

use crate::link::Autolink as Link;

/// Autolink's plugin id, which routes `/{id}/…` requests to it.
pub const PLUGIN_ID: &str = "mattermost-autolink";

/// Adds (or replaces) each link in Autolink's configuration, one request
/// each; stops at the first that is not answered 200.
pub async fn add(api: &PluginApiClient, links: &[Link]) -> Result<(), String> {
    for link in links {
        let body = serde_json::to_vec(link).map_err(|e| e.to_string())?;
        let request = http::Request::post(format!("/{PLUGIN_ID}/api/v1/link")).body(body).map_err(|e| e.to_string())?;
        let response = mattermost_plugin::http::send(api, request)
            .await
            .map_err(|e| format!("failed to make interplugin request: {e}"))?;
        if response.status() != http::StatusCode::OK {
            let body = String::from_utf8_lossy(response.body());
            return Err(format!("unable to install autolink. Error: {}, {body}", response.status().as_u16()));
        }
    }
    Ok(())
}
