namespace ProxyPlatform.ControlPlane;

/// <summary>
/// Who is making a change, and as what action: set by the admin API (or the autoscaler) before it
/// calls a grain, carried by Orleans' <see cref="RequestContext"/> along every grain call that
/// follows, and read where the change is committed, so the audit record is written in the same
/// transaction as the change without every grain method taking an extra argument.
/// </summary>
/// <remarks>
/// <see cref="RequestContext"/> flows with the logical call (it is copied into each outgoing grain
/// message), so a commit queued in a pool's sequencer must capture <see cref="Current"/> in the
/// call that enqueues it, not when the batch is written.
/// </remarks>
public static class ChangeContext
{
    private const string ActorIdKey = "pp.actor.id";
    private const string ActorNameKey = "pp.actor.name";
    private const string RequestIdKey = "pp.request";
    private const string ActionKey = "pp.action";

    /// <summary>The actor of the changes made from here on in this logical call.</summary>
    public static void SetActor(string actorId, string actorName, string? requestId)
    {
        RequestContext.Set(ActorIdKey, actorId);
        RequestContext.Set(ActorNameKey, actorName);
        if (requestId is not null)
            RequestContext.Set(RequestIdKey, requestId);
    }

    /// <summary>
    /// Names the action when it is more than the write of one resource ("config.apply", "rollback",
    /// "scale"); unset, the action is read from the change itself (create, update, delete).
    /// </summary>
    public static string? Action
    {
        get => RequestContext.Get(ActionKey) as string;
        set
        {
            if (value is null)
                RequestContext.Remove(ActionKey);
            else
                RequestContext.Set(ActionKey, value);
        }
    }

    /// <summary>The author of the change being made in this logical call; null when no caller set one (a system change such as a health verdict).</summary>
    public static ChangeAuthor? Current =>
        RequestContext.Get(ActorIdKey) is string id
            ? new ChangeAuthor(id, RequestContext.Get(ActorNameKey) as string ?? id, RequestContext.Get(RequestIdKey) as string, Action)
            : null;
}

/// <summary>The author of one change: the key (its id and name; "bootstrap", "autoscaler"), the request, the action.</summary>
[GenerateSerializer, Immutable, Alias("pp.ChangeAuthor")]
public sealed record ChangeAuthor(
    [property: Id(0)] string ActorId,
    [property: Id(1)] string ActorName,
    [property: Id(2)] string? RequestId,
    [property: Id(3)] string? Action);
