//! The classification of the real contract agrees with the facts in
//! `runtime/src/host_rules.md`, "Services and shapes" (counted there from the
//! protos, independently of this generator).

use mmplugin_gen::{classify::classify, load::ProtoSources, model::HookKind};

fn contract() -> mmplugin_gen::model::Contract {
    classify(&ProtoSources::embedded().compile().unwrap()).unwrap()
}

#[test]
fn hooks_have_the_documented_shapes() {
    let c = contract();
    assert_eq!(c.hooks.len(), 42, "Implemented + 41 hooks");
    assert_eq!(c.plugin_hooks().count(), 41);
    assert_eq!(c.hooks.iter().filter(|h| h.plugin_context).count(), 23, "hooks with PluginContext");
    assert_eq!(c.hooks.iter().filter(|h| h.returns_error).count(), 13, "responses with AppError");
    let vetoes: Vec<&str> =
        c.hooks.iter().filter(|h| matches!(h.kind, HookKind::Veto { .. })).map(|h| h.name.as_str()).collect();
    assert_eq!(
        vetoes,
        [
            "MessageWillBePosted",
            "MessageWillBeUpdated",
            "FileWillBeUploaded",
            "NotificationWillBePushed",
            "EmailNotificationWillBeSent",
            "UserWillLogIn"
        ]
    );
    let streaming: Vec<&str> =
        c.hooks.iter().filter(|h| matches!(h.kind, HookKind::Streaming { .. })).map(|h| h.name.as_str()).collect();
    assert_eq!(streaming, ["ServeHTTP"]);
    // ServeHTTP's messages have the HTTP shape the SDK bridges.
    let http = c.hooks.iter().find_map(|h| match &h.kind {
        HookKind::Streaming { http } => http.clone(),
        _ => None,
    });
    let http = http.expect("ServeHTTP has the HTTP shape");
    assert_eq!((http.request.as_str(), http.response.as_str()), ("ServeHttpRequest", "ServeHttpResponse"));
    assert_eq!(http.header, "HttpHeader");
    assert_eq!(
        http.body_fields,
        [".mattermost.pluginapi.v1.ServeHTTPRequest.body_chunk", ".mattermost.pluginapi.v1.ServeHTTPResponse.body_chunk"]
    );
    let value = |name: &str| c.hooks.iter().any(|h| h.name == name && matches!(h.kind, HookKind::Value { .. }));
    assert!(value("RunDataRetention") && value("OnSharedChannelsPing") && value("ExecuteCommand"));
    // Fire-and-forget: no error, nothing returned. 20 of those are empty
    // responses; of the 29 without error, the rest answer something.
    let empty = c.plugin_hooks().filter(|h| h.kind == HookKind::Notification && !h.returns_error).count();
    assert_eq!(empty, 20);
}

#[test]
fn the_service_decides_not_the_name() {
    let c = contract();
    let api: Vec<&str> = c.api_methods().map(|m| m.name.as_str()).collect();
    assert_eq!(api.len(), 236);
    for look_alike in ["HasPermissionTo", "ExecuteSlashCommand", "GetServerVersion"] {
        assert!(api.contains(&look_alike), "{look_alike} is an API method");
        assert!(c.hooks.iter().all(|h| h.name != look_alike));
    }
    assert!(c.other_services.is_empty());
}

#[test]
fn the_catch_all_group_stays_small() {
    let c = contract();
    let other = c.api_groups.iter().find(|g| g.name == "other").map_or(0, |g| g.methods.len());
    assert!(other * 10 <= 236, "{other} methods fall in the catch-all group (at most 10%)");
    assert!(c.api_groups.len() >= 10, "methods are spread over domain groups");
}

#[test]
fn the_contract_decisions_are_in_the_model() {
    use mmplugin_gen::model::{ParamFrom, Presence};
    let c = contract();
    // Only MessageWillBePosted dismisses, with the reason the host rules give.
    let dismiss: Vec<(&str, &str)> = c
        .hooks
        .iter()
        .filter_map(|h| match &h.kind {
            HookKind::Veto { dismiss: Some(reason), .. } => Some((h.name.as_str(), reason.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(dismiss, [("MessageWillBePosted", "plugin.message_will_be_posted.dismiss_post")]);
    // Every hook but `Implemented` is a `Plugin` method (ServeHTTP has the HTTP shape).
    assert_eq!(c.hooks.iter().filter(|h| h.plugin_method.is_some()).count(), 41);
    // The arguments that may be unset: `limits` by the contract's rule, the
    // `actor`s because the protos say `optional`.
    let unset: Vec<String> = c
        .hooks
        .iter()
        .flat_map(|h| h.plugin_method.iter().flat_map(|m| &m.params).map(move |p| (h, p)))
        .filter(|(_, p)| matches!(p.from, ParamFrom::Arg { presence: Presence::Optional, .. }))
        .map(|(h, p)| format!("{}.{}: {}", h.name, p.name, p.ty))
        .collect();
    assert_eq!(
        unset,
        [
            "OnCloudLimitsUpdated.limits: Option<proto::ProductLimits>",
            "UserHasJoinedChannel.actor: Option<proto::User>",
            "UserHasLeftChannel.actor: Option<proto::User>",
            "UserHasJoinedTeam.actor: Option<proto::User>",
            "UserHasLeftTeam.actor: Option<proto::User>",
        ]
    );
    // Every hook argument has its field's name: none is named like a name
    // the generated code uses itself, which would get `_` appended.
    let renamed: Vec<String> = c
        .hooks
        .iter()
        .flat_map(|h| h.plugin_method.iter().flat_map(|m| &m.params).map(move |p| (h, p)))
        .filter(|(_, p)| p.renamed())
        .map(|(h, p)| format!("{}.{}", h.name, p.name))
        .collect();
    assert!(renamed.is_empty(), "{renamed:?}");
    // One API method is the PluginHTTP that `http::send` calls.
    let plugin_http: Vec<&str> = c.api_methods().filter(|m| m.plugin_http).map(|m| m.name.as_str()).collect();
    assert_eq!(plugin_http, ["PluginHTTP"]);
}
