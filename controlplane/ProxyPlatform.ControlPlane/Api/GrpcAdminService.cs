using Grpc.Core;
using ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>The gRPC admin API: mapping and a call into <see cref="AdminOperations"/>, nothing else.</summary>
public sealed class GrpcAdminService(AdminOperations ops) : Admin.AdminBase
{
    public override Task<TenantReply> PutTenant(PutTenantRequest request, ServerCallContext context) =>
        Call(async () => (await ops.PutTenant(request.Tenant, request.Spec.ToModel() ?? new(), IfMatch(request.IfMatch))).Resource.ToReply());

    public override Task<TenantReply> GetTenant(TenantRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetTenant(request.Tenant)).ToReply());

    public override Task<DeleteReply> DeleteTenant(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteTenant(request.Tenant, IfMatch(request.IfMatch)) });

    public override Task<ListTenantsReply> ListTenants(ListTenantsRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var reply = new ListTenantsReply();
            reply.Tenants.AddRange((await ops.ListTenants()).Select(t => t.ToReply()));
            return reply;
        });

    public override Task<ClusterReply> PutCluster(PutClusterRequest request, ServerCallContext context) =>
        Call(async () => (await ops.PutCluster(request.Tenant, request.Cluster, request.Spec.ToModel() ?? new(), IfMatch(request.IfMatch))).Resource.ToReply());

    public override Task<ClusterReply> GetCluster(ClusterRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetCluster(request.Tenant, request.Cluster)).ToReply());

    public override Task<DeleteReply> DeleteCluster(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteCluster(request.Tenant, request.Cluster, IfMatch(request.IfMatch)) });

    public override Task<BackendReply> PutBackend(PutBackendRequest request, ServerCallContext context) =>
        Call(async () => (await ops.PutBackend(request.Tenant, request.Cluster, request.Backend, request.Spec.ToModel(), IfMatch(request.IfMatch))).Resource.ToReply());

    public override Task<BackendReply> GetBackend(BackendRef request, ServerCallContext context) =>
        Call(async () =>
        {
            var (backend, health) = await ops.GetBackendWithHealth(request.Tenant, request.Cluster, request.Backend);
            return backend.ToReply(health);
        });

    public override Task<BackendHealthHistoryReply> GetBackendHealthHistory(BackendHealthHistoryRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var limit = request.HasLimit ? request.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
            var reply = new BackendHealthHistoryReply();
            reply.Changes.AddRange((await ops.HealthHistory(request.Tenant, request.Cluster, request.Backend, limit)).Select(c => c.ToProto()));
            return reply;
        });

    public override Task<DeleteReply> DeleteBackend(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteBackend(request.Tenant, request.Cluster, request.Backend, IfMatch(request.IfMatch)) });

    public override Task<ListBackendsReply> ListBackends(ClusterRef request, ServerCallContext context) =>
        Call(async () =>
        {
            var reply = new ListBackendsReply();
            reply.Backends.AddRange((await ops.ListBackendsWithHealth(request.Tenant, request.Cluster)).Select(b => b.Backend.ToReply(b.Health)));
            return reply;
        });

    public override Task<RouteReply> PutRoute(PutRouteRequest request, ServerCallContext context) =>
        Call(async () => (await ops.PutRoute(request.Tenant, request.Route, request.Spec.ToModel(), IfMatch(request.IfMatch))).Resource.ToReply());

    public override Task<RouteReply> GetRoute(RouteRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetRoute(request.Tenant, request.Route)).ToReply());

    public override Task<TenantMetricsReply> GetTenantMetrics(TenantRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetTenantMetrics(request.Tenant)).ToReply());

    public override Task<DeleteReply> DeleteRoute(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteRoute(request.Tenant, request.Route, IfMatch(request.IfMatch)) });

    public override Task<ListRoutesReply> ListRoutes(TenantRef request, ServerCallContext context) =>
        Call(async () =>
        {
            var reply = new ListRoutesReply();
            reply.Routes.AddRange((await ops.ListRoutes(request.Tenant)).Select(r => r.ToReply()));
            return reply;
        });

    private static string? IfMatch(string value) => value.Length == 0 ? null : value;

    private static async Task<T> Call<T>(Func<Task<T>> operation)
    {
        try
        {
            return await operation();
        }
        catch (AdminException ex)
        {
            var code = ex.Kind switch
            {
                AdminErrorKind.Invalid => StatusCode.InvalidArgument,
                AdminErrorKind.NotFound => StatusCode.NotFound,
                AdminErrorKind.PreconditionFailed => StatusCode.Aborted,
                AdminErrorKind.Conflict => StatusCode.FailedPrecondition,
                _ => StatusCode.Internal,
            };
            var trailers = new Metadata();
            if (ex.Errors.Count > 0)
                trailers.Add("field", ex.Errors[0].Field);
            throw new RpcException(new Status(code, ex.Message), trailers);
        }
    }
}
