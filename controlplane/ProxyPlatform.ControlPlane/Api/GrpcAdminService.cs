using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>
/// The gRPC admin API: mapping and a call into <see cref="AdminOperations"/> or <see cref="KeyOperations"/>,
/// nothing else. Every method needs an admin key (the <c>authorization</c> metadata); what a tenant's
/// key may touch is the operation's check, as over REST.
/// </summary>
[Authorize(Policies.Admin)]
public sealed class GrpcAdminService(AdminOperations ops, KeyOperations keys, ExplainOperations explain) : Admin.AdminBase
{
    public override Task<ExplainReply> ExplainRequest(ExplainQuery request, ServerCallContext context) =>
        Call(async () => (await explain.Explain(Who(context), request.Tenant, request.ToModel(), request.Worker.Length == 0 ? null : request.Worker)).ToReply());

    public override Task<TenantReply> PutTenant(PutTenantRequest request, ServerCallContext context) =>
        Call(async () => (await ops.PutTenant(Who(context), request.Tenant, request.Spec.ToModel() ?? new(), IfMatch(request.IfMatch))).Resource.ToReply());

    public override Task<TenantReply> GetTenant(TenantRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetTenantView(Who(context), request.Tenant)).ToReply());

    public override Task<DeleteReply> DeleteTenant(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteTenant(Who(context), request.Tenant, IfMatch(request.IfMatch)) });

    public override Task<ListTenantsReply> ListTenants(ListTenantsRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var reply = new ListTenantsReply();
            reply.Tenants.AddRange((await ops.ListTenants(Who(context))).Select(t => t.ToReply()));
            return reply;
        });

    public override Task<ClusterReply> PutCluster(PutClusterRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var (result, warnings) = await ops.PutCluster(Who(context), request.Tenant, request.Cluster, request.Spec.ToModel() ?? new(), IfMatch(request.IfMatch));
            var reply = result.Resource.ToReply();
            reply.Warnings.AddRange(warnings.Select(w => $"{w.Field}: {w.Message}"));
            return reply;
        });

    public override Task<ClusterReply> GetCluster(ClusterRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetCluster(Who(context), request.Tenant, request.Cluster)).ToReply());

    public override Task<DeleteReply> DeleteCluster(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteCluster(Who(context), request.Tenant, request.Cluster, IfMatch(request.IfMatch)) });

    public override Task<BackendReply> PutBackend(PutBackendRequest request, ServerCallContext context) =>
        Call(async () => (await ops.PutBackend(Who(context), request.Tenant, request.Cluster, request.Backend, request.Spec.ToModel(), IfMatch(request.IfMatch))).Resource.ToReply());

    public override Task<BackendReply> GetBackend(BackendRef request, ServerCallContext context) =>
        Call(async () =>
        {
            var (backend, health) = await ops.GetBackendWithHealth(Who(context), request.Tenant, request.Cluster, request.Backend);
            return backend.ToReply(health);
        });

    public override Task<BackendHealthHistoryReply> GetBackendHealthHistory(BackendHealthHistoryRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var limit = request.HasLimit ? request.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
            var reply = new BackendHealthHistoryReply();
            reply.Changes.AddRange((await ops.HealthHistory(Who(context), request.Tenant, request.Cluster, request.Backend, limit)).Select(c => c.ToProto()));
            return reply;
        });

    public override Task<DeleteReply> DeleteBackend(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteBackend(Who(context), request.Tenant, request.Cluster, request.Backend, IfMatch(request.IfMatch)) });

    public override Task<ListBackendsReply> ListBackends(ClusterRef request, ServerCallContext context) =>
        Call(async () =>
        {
            var reply = new ListBackendsReply();
            reply.Backends.AddRange((await ops.ListBackendsWithHealth(Who(context), request.Tenant, request.Cluster)).Select(b => b.Backend.ToReply(b.Health)));
            return reply;
        });

    public override Task<RouteReply> PutRoute(PutRouteRequest request, ServerCallContext context) =>
        Call(async () => (await ops.PutRoute(Who(context), request.Tenant, request.Route, request.Spec.ToModel(), IfMatch(request.IfMatch))).Resource.ToReply());

    public override Task<RouteReply> GetRoute(RouteRef request, ServerCallContext context) =>
        Call(async () =>
        {
            var reply = (await ops.GetRoute(Who(context), request.Tenant, request.Route)).ToReply();
            reply.Overlaps.AddRange((await ops.GetRouteOverlaps(Who(context), request.Tenant, request.Route)).Select(o => o.ToProto()));
            return reply;
        });

    public override Task<TenantMetricsReply> GetTenantMetrics(TenantRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetTenantMetrics(Who(context), request.Tenant)).ToReply());

    public override Task<CertificateReply> PutCertificate(PutCertificateRequest request, ServerCallContext context) =>
        Call(async () => (await ops.PutCertificate(Who(context), request.Tenant, request.Certificate, request.Spec.ToModel(), IfMatch(request.IfMatch))).Resource.ToReply());

    public override Task<CertificateReply> GetCertificate(CertificateRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetCertificate(Who(context), request.Tenant, request.Certificate)).ToReply());

    public override Task<DeleteReply> DeleteCertificate(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteCertificate(Who(context), request.Tenant, request.Certificate, IfMatch(request.IfMatch)) });

    public override Task<ListCertificatesReply> ListCertificates(TenantRef request, ServerCallContext context) =>
        Call(async () =>
        {
            var reply = new ListCertificatesReply();
            reply.Certificates.AddRange((await ops.ListCertificates(Who(context), request.Tenant)).Select(c => c.ToReply()));
            return reply;
        });

    public override Task<DeleteReply> DeleteRoute(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteRoute(Who(context), request.Tenant, request.Route, IfMatch(request.IfMatch)) });

    public override Task<ListRoutesReply> ListRoutes(TenantRef request, ServerCallContext context) =>
        Call(async () =>
        {
            var reply = new ListRoutesReply();
            reply.Routes.AddRange((await ops.ListRoutes(Who(context), request.Tenant)).Select(r => r.ToReply()));
            return reply;
        });

    public override Task<CredentialReply> CreateKey(CreateKeyRequest request, ServerCallContext context) =>
        Call(async () => Reply(await keys.CreateKey(Who(context), new KeyRequest
        {
            Name = request.Name, Role = request.Role, Tenant = Blank(request.Tenant), ExpiresAt = Time(request.ExpiresAtUnixMs),
        })));

    public override Task<ListCredentialsReply> ListKeys(ListKeysRequest request, ServerCallContext context) =>
        Call(async () => Reply(await keys.ListKeys(Who(context), Blank(request.Tenant), Limit(request.HasLimit, request.Limit), Blank(request.After))));

    public override Task<CredentialReply> GetKey(CredentialRef request, ServerCallContext context) =>
        Call(async () => new CredentialReply { Credential = (await keys.GetKey(Who(context), request.Id)).ToProto() });

    public override Task<CredentialReply> RevokeKey(CredentialRef request, ServerCallContext context) =>
        Call(async () => new CredentialReply { Credential = (await keys.RevokeKey(Who(context), request.Id)).ToProto() });

    [Authorize(Policies.Operator)]
    public override Task<CredentialReply> CreatePoolToken(CreatePoolTokenRequest request, ServerCallContext context) =>
        Call(async () => Reply(await keys.CreatePoolToken(Who(context), request.Pool, new PoolTokenRequest { Name = request.Name, ExpiresAt = Time(request.ExpiresAtUnixMs) })));

    [Authorize(Policies.Operator)]
    public override Task<ListCredentialsReply> ListPoolTokens(ListPoolTokensRequest request, ServerCallContext context) =>
        Call(async () => Reply(await keys.ListPoolTokens(Who(context), request.Pool, Limit(request.HasLimit, request.Limit), Blank(request.After))));

    [Authorize(Policies.Operator)]
    public override Task<CredentialReply> RevokePoolToken(PoolTokenRef request, ServerCallContext context) =>
        Call(async () => new CredentialReply { Credential = (await keys.RevokePoolToken(Who(context), request.Pool, request.Id)).ToProto() });

    private static Caller Who(ServerCallContext context) => Caller.From(context.GetHttpContext().User);

    public override Task<PoolReply> PutPool(PutPoolRequest request, ServerCallContext context) =>
        Call(async () => (await ops.PutPool(Who(context), request.Pool, request.Spec.ToModel() ?? new(), IfMatch(request.IfMatch))).Resource.ToReply());

    public override Task<PoolReply> PatchPool(PatchPoolRequest request, ServerCallContext context) =>
        Call(async () => (await ops.PatchPool(Who(context), request.Pool, request.MergePatch, IfMatch(request.IfMatch))).Resource.ToReply());

    public override Task<PoolReply> GetPool(PoolRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetPool(Who(context), request.Pool)).ToReply());

    public override Task<DeleteReply> DeletePool(PoolRef request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeletePool(Who(context), request.Pool, IfMatch(request.IfMatch)) });

    public override Task<ListPoolsReply> ListPools(ListPoolsRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var reply = new ListPoolsReply();
            reply.Pools.AddRange((await ops.ListPools(Who(context))).Select(p => p.ToReply()));
            return reply;
        });

    private static CredentialReply Reply(IssuedCredential issued) => new() { Credential = issued.Credential.ToProto(), Secret = issued.Secret };

    private static ListCredentialsReply Reply(CredentialPage page)
    {
        var reply = new ListCredentialsReply { Next = page.Next ?? "" };
        reply.Items.AddRange(page.Items.Select(c => c.ToProto()));
        return reply;
    }

    private static string? Blank(string value) => value.Length == 0 ? null : value;

    private static string? Limit(bool has, int limit) => has ? limit.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;

    private static DateTimeOffset? Time(long unixMs) => unixMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(unixMs);

    private static string? IfMatch(string value) => value.Length == 0 ? null : value;

    private static async Task<T> Call<T>(Func<Task<T>> operation)
    {
        try
        {
            return await operation();
        }
        catch (Exception ex) when (ex is not AdminException and not RpcException && TransientFailures.IsTransient(ex))
        {
            // As REST answers 503 unavailable: the cluster or the database failed in a way a retry can outlive.
            throw new RpcException(new Status(StatusCode.Unavailable,
                "The control plane could not complete the request right now (a node or the database is unavailable); nothing was acknowledged, retry it."));
        }
        catch (AdminException ex)
        {
            var code = ex.Kind switch
            {
                AdminErrorKind.Busy => StatusCode.ResourceExhausted,
                AdminErrorKind.Invalid => StatusCode.InvalidArgument,
                AdminErrorKind.NotFound => StatusCode.NotFound,
                AdminErrorKind.PreconditionFailed => StatusCode.Aborted,
                AdminErrorKind.Conflict => StatusCode.FailedPrecondition,
                AdminErrorKind.RouteShadowed => StatusCode.FailedPrecondition,
                AdminErrorKind.Forbidden => StatusCode.PermissionDenied,
                AdminErrorKind.TooLarge => StatusCode.ResourceExhausted,
                AdminErrorKind.QuotaExceeded => StatusCode.ResourceExhausted,
                AdminErrorKind.Timeout => StatusCode.DeadlineExceeded,
                _ => StatusCode.Internal,
            };
            var trailers = new Metadata();
            if (ex.Errors.Count > 0)
                trailers.Add("field", ex.Errors[0].Field);
            if (ex.Quota is { } quota)
            {
                trailers.Add("quota", quota.Quota);
                trailers.Add("limit", quota.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
                trailers.Add("use", quota.Use.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            throw new RpcException(new Status(code, ex.Message), trailers);
        }
    }
}
