//! What Mattermost's gRPC host keeps of the messages it converts, as the
//! kit's host keeps it: a plugin under test gets only what the real host
//! sends it, and a test only what the server reads of its answers, so a
//! plugin relying on a dropped field fails its tests as it fails in
//! production.
//!
//! This file is plain Rust, written by hand against Mattermost's plugin
//! contract and copied as it is into each SDK that gets the kit's state
//! (`state.rs`, beside it). A `pub(super) fn` taking `&mut proto::…Request`
//! of a hook is what the host sends of that hook's request: the generated
//! host driver ([`TestHost`](super::TestHost)'s method for the hook) runs
//! it on every request before the plugin gets it.
//!
//! Each conversion cites the function of mattermost/mattermost's
//! `server/public/plugin/hooks_grpc_client.go` it plays; the rules are in
//! the SDK's `runtime/src/host_rules.md`, "What the host converts and
//! loses".

use crate::proto;

/// `ExecuteCommand`: the arguments without `t`, `user_mention` and
/// `channel_mention` (`commandArgsToProto` copies the other eight).
pub(super) fn execute_command(request: &mut proto::ExecuteCommandRequest) {
    if let Some(args) = request.args.as_mut() {
        args.t.clear();
        args.user_mention.clear();
        args.channel_mention.clear();
    }
}

/// A post as the host sends it to a hook and reads it back from one:
/// without `props`, `metadata` and participants (`postToProto` and
/// `postFromProto` carry none of them).
pub(super) fn post(post: &mut proto::Post) {
    post.props = None;
    post.metadata = None;
    post.participants.clear();
}

/// `MessageWillBePosted`: the post as [`post`] sends it.
pub(super) fn message_will_be_posted(request: &mut proto::MessageWillBePostedRequest) {
    request.post.as_mut().map(post);
}

/// `MessageWillBeUpdated`: both posts as [`post`] sends them.
pub(super) fn message_will_be_updated(request: &mut proto::MessageWillBeUpdatedRequest) {
    request.new_post.as_mut().map(post);
    request.old_post.as_mut().map(post);
}

/// `MessageHasBeenPosted`: the post as [`post`] sends it.
pub(super) fn message_has_been_posted(request: &mut proto::MessageHasBeenPostedRequest) {
    request.post.as_mut().map(post);
}

/// `MessageHasBeenUpdated`: both posts as [`post`] sends them.
pub(super) fn message_has_been_updated(request: &mut proto::MessageHasBeenUpdatedRequest) {
    request.new_post.as_mut().map(post);
    request.old_post.as_mut().map(post);
}

/// `MessageHasBeenDeleted`: the post as [`post`] sends it.
pub(super) fn message_has_been_deleted(request: &mut proto::MessageHasBeenDeletedRequest) {
    request.post.as_mut().map(post);
}

/// `MessagesWillBeConsumed`: each post as [`post`] sends it.
pub(super) fn messages_will_be_consumed(request: &mut proto::MessagesWillBeConsumedRequest) {
    request.posts.iter_mut().for_each(post);
}

/// `ChannelHasBeenCreated`: the channel without its type (`channelToProto`
/// does not send it).
pub(super) fn channel_has_been_created(request: &mut proto::ChannelHasBeenCreatedRequest) {
    if let Some(channel) = request.channel.as_mut() {
        channel.r#type = 0;
    }
}

/// What the server reads of a command's answer: all but `type` and
/// `attachments` (`commandResponseFromProto`), so neither reaches the user.
pub(super) fn command_response(response: proto::CommandResponse) -> proto::CommandResponse {
    proto::CommandResponse { r#type: String::new(), attachments: Vec::new(), ..response }
}

/// `OnSharedChannelsSyncMsg`: the remote as [`remote_cluster`] sends it.
pub(super) fn on_shared_channels_sync_msg(request: &mut proto::OnSharedChannelsSyncMsgRequest) {
    remote_cluster(request.remote_cluster.as_mut());
}

/// `OnSharedChannelsPing`: the remote as [`remote_cluster`] sends it.
pub(super) fn on_shared_channels_ping(request: &mut proto::OnSharedChannelsPingRequest) {
    remote_cluster(request.remote_cluster.as_mut());
}

/// `OnSharedChannelsAttachmentSyncMsg`: the remote as [`remote_cluster`] sends it.
pub(super) fn on_shared_channels_attachment_sync_msg(request: &mut proto::OnSharedChannelsAttachmentSyncMsgRequest) {
    remote_cluster(request.remote_cluster.as_mut());
}

/// `OnSharedChannelsProfileImageSyncMsg`: the remote as [`remote_cluster`] sends it.
pub(super) fn on_shared_channels_profile_image_sync_msg(
    request: &mut proto::OnSharedChannelsProfileImageSyncMsgRequest,
) {
    remote_cluster(request.remote_cluster.as_mut());
}

/// A remote without its default team, deletion time, last global user
/// sync, plugin id and options (`remoteClusterToProto` copies the rest).
fn remote_cluster(remote: Option<&mut proto::RemoteCluster>) {
    if let Some(remote) = remote {
        remote.default_team_id.clear();
        remote.delete_at = 0;
        remote.last_global_user_sync_at = 0;
        remote.plugin_id.clear();
        remote.options = 0;
    }
}

/// `OnCloudLimitsUpdated`: each part of the limits the test gives, empty
/// (`productLimitsToProto` makes the parts and copies no value).
pub(super) fn on_cloud_limits_updated(request: &mut proto::OnCloudLimitsUpdatedRequest) {
    if let Some(limits) = request.limits.as_mut() {
        limits.files = limits.files.map(|_| proto::FilesLimits::default());
        limits.messages = limits.messages.map(|_| proto::MessagesLimits::default());
        limits.teams = limits.teams.map(|_| proto::TeamsLimits::default());
    }
}
