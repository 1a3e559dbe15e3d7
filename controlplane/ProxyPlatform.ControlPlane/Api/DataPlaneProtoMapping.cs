using System.Globalization;
using ProxyPlatform.Resources;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>The gRPC shapes of what REST answers at <c>/v1/dataplanes</c> and <c>/v1/revisions/{revision}</c>, field for field.</summary>
public static class DataPlaneProtoMapping
{
    public static AdminPb.Dataplane ToProto(this DataPlaneStatus w)
    {
        var pb = new AdminPb.Dataplane
        {
            Id = w.Worker,
            Pool = w.Pool,
            Node = w.Node ?? "",
            Status = w.Connected ? "connected" : "disconnected",
            State = w.Progress?.State ?? "",
            Connected = w.Connected,
            ConnectedSince = Time(w.ConnectedSince),
            LastSeen = Time(w.LastSeen),
            AppliedRevision = w.AppliedRevision,
            LagRevisions = w.Progress?.LagRevisions ?? 0,
            LagSeconds = w.Progress?.LagSeconds ?? 0,
            LastNack = w.LastNack is { } nack ? new AdminPb.DataplaneNack { Revision = nack.Revision, Reason = nack.Reason, At = Time(nack.At) } : null,
            RejectedOmitted = w.RejectedOmitted,
        };
        if (w.Progress?.ConvergenceP50Ms is { } p50)
            pb.ConvergenceP50Ms = p50;
        if (w.Progress?.ConvergenceP99Ms is { } p99)
            pb.ConvergenceP99Ms = p99;
        pb.Rejected.AddRange(w.Rejected.Select(r => new AdminPb.DataplaneRejection
        {
            Resource = r.Resource.ToString(),
            Kind = ResourceKinds.IsKnown(r.Resource.Kind) ? ResourceKinds.Of(r.Resource.Kind).Name : "",
            Tenant = r.Resource.Tenant,
            Id = r.Resource.Id,
            Revision = r.Revision,
            Reason = r.Reason,
        }));
        return pb;
    }

    public static AdminPb.RevisionReply ToReply(this Rollout rollout)
    {
        var reply = new AdminPb.RevisionReply
        {
            Revision = rollout.Revision,
            Pool = rollout.Pool,
            CommittedAt = Time(rollout.CommittedAt),
            Complete = rollout.Complete,
        };
        reply.Pending.AddRange(rollout.Pending.Select(w => w.Worker));
        reply.Workers.AddRange(rollout.Workers.Select(w =>
        {
            var worker = new AdminPb.RolloutWorker
            {
                Id = w.Worker,
                Connected = w.Connected,
                AppliedRevision = w.AppliedRevision,
                Applied = w.HasApplied(rollout.Revision),
                State = w.Progress?.State ?? "",
            };
            if (rollout.AppliedAfterMs?.TryGetValue(w.Worker, out var ms) == true)
                worker.AppliedAfterMs = ms;
            return worker;
        }));
        return reply;
    }

    private static string Time(DateTimeOffset? at) => at?.ToString("O", CultureInfo.InvariantCulture) ?? "";
}
