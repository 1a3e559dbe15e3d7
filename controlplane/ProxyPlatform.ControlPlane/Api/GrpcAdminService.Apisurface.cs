using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.ControlPlane.Api;

// The gRPC side of the REST lists and reads added for parity: clusters, dataplanes and revisions.
public sealed partial class GrpcAdminService
{
    public override Task<ListClustersReply> ListClusters(ListClustersRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var page = await ops.ListClusters(Who(context), request.Tenant, Paging(request.HasLimit, request.Limit, request.After));
            var reply = new ListClustersReply { Next = page.Next ?? "" };
            reply.Clusters.AddRange(page.Items.Select(c => c.ToReply()));
            return reply;
        });

    [Authorize(Policies.Operator)]
    public override Task<ListDataplanesReply> ListDataplanes(ListDataplanesRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var page = await workers.PageWithProgressAsync(Paging(request.HasLimit, request.Limit, request.After), context.CancellationToken);
            var reply = new ListDataplanesReply { Next = page.Next ?? "" };
            reply.Dataplanes.AddRange(page.Items.Select(w => w.ToProto()));
            return reply;
        });

    public override Task<RevisionReply> GetRevision(GetRevisionRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            if (request.Revision <= 0)
                throw AdminException.Invalid("revision", $"'{request.Revision}' is not a revision: expected a positive whole number.");
            // Checked before anything is read, as REST checks ?wait= first.
            TimeSpan? wait = request.Wait.Length == 0 ? null : Durations.Parse("wait", request.Wait, DataPlanes.Rollouts.MaxWait);
            var rollout = await rollouts.GetAsync(Who(context), request.Revision) ?? throw AdminException.NotFound($"Revision {request.Revision}");
            if (wait is { } timeout && !rollout.Complete)
                rollout = await rollouts.WaitAsync(request.Revision, timeout);
            return rollout.ToReply();
        });
}
