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
public sealed partial class GrpcAdminService(AdminOperations ops, KeyOperations keys, ExplainOperations explain, DataPlanes.DataPlaneDirectory workers, DataPlanes.Rollouts rollouts) : Admin.AdminBase
{
    public override Task<ExplainReply> ExplainRequest(ExplainQuery request, ServerCallContext context) =>
        Call(async () => (await explain.Explain(Who(context), request.Tenant, request.ToModel(), request.Worker.Length == 0 ? null : request.Worker)).ToReply());

    public override Task<TenantReply> PutTenant(PutTenantRequest request, ServerCallContext context) =>
        Call(async () => Created(await ops.PutTenant(Who(context), request.Tenant, request.Spec.ToModel() ?? new(), IfMatch(request.IfMatch)), t => t.ToReply(), (r, c) => r.Created = c));

    public override Task<TenantReply> GetTenant(TenantRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetTenantView(Who(context), request.Tenant)).ToReply());

    public override Task<DeleteReply> DeleteTenant(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteTenant(Who(context), request.Tenant, IfMatch(request.IfMatch)) });

    public override Task<ListTenantsReply> ListTenants(ListTenantsRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var page = await ops.ListTenants(Who(context), Paging(request.HasLimit, request.Limit, request.After));
            var reply = new ListTenantsReply { Next = page.Next ?? "" };
            reply.Tenants.AddRange(page.Items.Select(t => t.ToReply()));
            return reply;
        });

    public override Task<ClusterReply> PutCluster(PutClusterRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var (result, warnings) = await ops.PutCluster(Who(context), request.Tenant, request.Cluster, request.Spec.ToModel() ?? new(), IfMatch(request.IfMatch));
            var reply = result.Resource.ToReply();
            reply.Created = result.Created;
            reply.Warnings.AddRange(warnings.Select(w => $"{w.Field}: {w.Message}"));
            return reply;
        });

    public override Task<ClusterReply> GetCluster(ClusterRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetCluster(Who(context), request.Tenant, request.Cluster)).ToReply());

    public override Task<DeleteReply> DeleteCluster(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteCluster(Who(context), request.Tenant, request.Cluster, IfMatch(request.IfMatch)) });

    public override Task<BackendReply> PutBackend(PutBackendRequest request, ServerCallContext context) =>
        Call(async () => Created(await ops.PutBackend(Who(context), request.Tenant, request.Cluster, request.Backend, request.Spec.ToModel(), IfMatch(request.IfMatch)), b => b.ToReply(), (r, c) => r.Created = c));

    public override Task<BackendReply> GetBackend(BackendRef request, ServerCallContext context) =>
        Call(async () =>
        {
            var (backend, health) = await ops.GetBackendWithHealth(Who(context), request.Tenant, request.Cluster, request.Backend);
            return backend.ToReply(health);
        });

    public override Task<BackendHealthHistoryReply> GetBackendHealthHistory(BackendHealthHistoryRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var page = await ops.HealthHistory(Who(context), request.Tenant, request.Cluster, request.Backend, Paging(request.HasLimit, request.Limit, request.After));
            var reply = new BackendHealthHistoryReply { Next = page.Next ?? "" };
            reply.Changes.AddRange(page.Items.Select(c => c.ToProto()));
            return reply;
        });

    public override Task<DeleteReply> DeleteBackend(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteBackend(Who(context), request.Tenant, request.Cluster, request.Backend, IfMatch(request.IfMatch)) });

    public override Task<ListBackendsReply> ListBackends(ListBackendsRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var page = await ops.ListBackendsWithHealth(Who(context), request.Tenant, request.Cluster, Paging(request.HasLimit, request.Limit, request.After));
            var reply = new ListBackendsReply { Next = page.Next ?? "" };
            reply.Backends.AddRange(page.Items.Select(b => b.Backend.ToReply(b.Health)));
            return reply;
        });

    public override Task<RouteReply> PutRoute(PutRouteRequest request, ServerCallContext context) =>
        Call(async () => Created(await ops.PutRoute(Who(context), request.Tenant, request.Route, request.Spec.ToModel(), IfMatch(request.IfMatch)), r => r.ToReply(), (r, c) => r.Created = c));

    public override Task<RouteReply> GetRoute(RouteRef request, ServerCallContext context) =>
        Call(async () =>
        {
            var reply = (await ops.GetRoute(Who(context), request.Tenant, request.Route)).ToReply();
            reply.Overlaps.AddRange((await ops.GetRouteOverlaps(Who(context), request.Tenant, request.Route)).Select(o => o.ToProto()));
            return reply;
        });

    public override Task<TenantMetricsReply> GetTenantMetrics(TenantRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetTenantMetrics(Who(context), request.Tenant)).ToReply());

    public override Task<TrafficHistoryReply> GetTenantTrafficHistory(TrafficHistoryRequest request, ServerCallContext context) =>
        Call(async () => (await ops.GetTenantTrafficHistory(Who(context), request.Tenant, request.WindowSeconds == 0 ? null : TimeSpan.FromSeconds(request.WindowSeconds))).ToReply());

    public override Task<CertificateReply> PutCertificate(PutCertificateRequest request, ServerCallContext context) =>
        Call(async () => Created(await ops.PutCertificate(Who(context), request.Tenant, request.Certificate, request.Spec.ToModel(), IfMatch(request.IfMatch)), c => c.ToReply(), (r, c) => r.Created = c));

    public override Task<CertificateReply> GetCertificate(CertificateRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetCertificate(Who(context), request.Tenant, request.Certificate)).ToReply());

    public override Task<DeleteReply> DeleteCertificate(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteCertificate(Who(context), request.Tenant, request.Certificate, IfMatch(request.IfMatch)) });

    public override Task<ListCertificatesReply> ListCertificates(ListCertificatesRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var page = await ops.ListCertificates(Who(context), request.Tenant, Paging(request.HasLimit, request.Limit, request.After));
            var reply = new ListCertificatesReply { Next = page.Next ?? "" };
            reply.Certificates.AddRange(page.Items.Select(c => c.ToReply()));
            return reply;
        });

    public override Task<DeleteReply> DeleteRoute(DeleteRequest request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeleteRoute(Who(context), request.Tenant, request.Route, IfMatch(request.IfMatch)) });

    public override Task<ListRoutesReply> ListRoutes(ListRoutesRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var page = await ops.ListRoutes(Who(context), request.Tenant, Paging(request.HasLimit, request.Limit, request.After));
            var reply = new ListRoutesReply { Next = page.Next ?? "" };
            reply.Routes.AddRange(page.Items.Select(r => r.ToReply()));
            return reply;
        });

    public override Task<CredentialReply> CreateKey(CreateKeyRequest request, ServerCallContext context) =>
        Call(async () => Reply(await keys.CreateKey(Who(context), new KeyRequest
        {
            Name = request.Name, Role = request.Role, Tenant = Blank(request.Tenant), ExpiresAt = Time(request.ExpiresAtUnixMs),
        })));

    public override Task<ListCredentialsReply> ListKeys(ListKeysRequest request, ServerCallContext context) =>
        Call(async () => Reply(await keys.ListKeys(Who(context), Blank(request.Tenant), Paging(request.HasLimit, request.Limit, request.After))));

    public override Task<CredentialReply> GetKey(CredentialRef request, ServerCallContext context) =>
        Call(async () => new CredentialReply { Credential = (await keys.GetKey(Who(context), request.Id)).ToProto() });

    public override Task<CredentialReply> RevokeKey(CredentialRef request, ServerCallContext context) =>
        Call(async () => new CredentialReply { Credential = (await keys.RevokeKey(Who(context), request.Id)).ToProto() });

    [Authorize(Policies.Operator)]
    public override Task<CredentialReply> CreatePoolToken(CreatePoolTokenRequest request, ServerCallContext context) =>
        Call(async () => Reply(await keys.CreatePoolToken(Who(context), request.Pool, new PoolTokenRequest { Name = request.Name, ExpiresAt = Time(request.ExpiresAtUnixMs) })));

    [Authorize(Policies.Operator)]
    public override Task<ListCredentialsReply> ListPoolTokens(ListPoolTokensRequest request, ServerCallContext context) =>
        Call(async () => Reply(await keys.ListPoolTokens(Who(context), request.Pool, Paging(request.HasLimit, request.Limit, request.After))));

    [Authorize(Policies.Operator)]
    public override Task<CredentialReply> RevokePoolToken(PoolTokenRef request, ServerCallContext context) =>
        Call(async () => new CredentialReply { Credential = (await keys.RevokePoolToken(Who(context), request.Pool, request.Id)).ToProto() });

    // --- audit ---
    public override Task<ListAuditReply> ListAudit(ListAuditRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var audit = context.GetHttpContext().RequestServices.GetRequiredService<Audit.AuditOperations>();
            var page = await audit.List(Who(context), request.TenantScoped ? request.Tenant : null, request.TenantScoped ? null : Blank(request.Tenant),
                Blank(request.Actor), Blank(request.Resource), Blank(request.Since), Limit(request.HasLimit, request.Limit), Blank(request.After), context.CancellationToken);
            var reply = new ListAuditReply { Next = page.Next ?? "" };
            reply.Items.AddRange(page.Items.Select(r => new AuditEntry
            {
                Id = r.Id,
                Time = r.Time.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                ActorId = r.ActorId,
                ActorName = r.ActorName,
                Action = r.Action,
                Tenant = r.Tenant ?? "",
                Resource = r.Resource,
                Revision = r.Revision ?? 0,
                RequestId = r.RequestId ?? "",
                BeforeJson = r.Before ?? "",
                AfterJson = r.After ?? "",
            }));
            return reply;
        });

    private static Caller Who(ServerCallContext context) => Audit.AuditActor.Set(Caller.From(context.GetHttpContext().User), context.GetHttpContext().TraceIdentifier);

    public override Task<PoolReply> PutPool(PutPoolRequest request, ServerCallContext context) =>
        Call(async () => Created(await ops.PutPool(Who(context), request.Pool, request.Spec.ToModel() ?? new(), IfMatch(request.IfMatch)), p => p.ToReply(), (r, c) => r.Created = c));

    public override Task<PoolReply> PatchPool(PatchPoolRequest request, ServerCallContext context) =>
        Call(async () => Created(await ops.PatchPool(Who(context), request.Pool, request.MergePatch, IfMatch(request.IfMatch)), p => p.ToReply(), (r, c) => r.Created = c));

    public override Task<PoolReply> GetPool(PoolRef request, ServerCallContext context) =>
        Call(async () => (await ops.GetPool(Who(context), request.Pool)).ToReply());

    public override Task<DeleteReply> DeletePool(PoolRef request, ServerCallContext context) =>
        Call(async () => new DeleteReply { Revision = await ops.DeletePool(Who(context), request.Pool, IfMatch(request.IfMatch)) });

    public override Task<ListPoolsReply> ListPools(ListPoolsRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var page = await ops.ListPools(Who(context), Paging(request.HasLimit, request.Limit, request.After));
            var reply = new ListPoolsReply { Next = page.Next ?? "" };
            reply.Pools.AddRange(page.Items.Select(p => p.ToReply()));
            return reply;
        });

    private static CredentialReply Reply(IssuedCredential issued) => new() { Credential = issued.Credential.ToProto(), Secret = issued.Secret };

    private static ListCredentialsReply Reply(Page<Access.Credential> page)
    {
        var reply = new ListCredentialsReply { Next = page.Next ?? "" };
        reply.Items.AddRange(page.Items.Select(c => c.ToProto()));
        return reply;
    }

    private static string? Blank(string value) => value.Length == 0 ? null : value;

    /// <summary>A list request's limit and after, checked as REST checks <c>?limit=</c> and <c>?after=</c>.</summary>
    private static string? Limit(bool has, int limit) => has ? limit.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;

    private static PageRequest Paging(bool hasLimit, int limit, string after) =>
        PageRequest.Parse(hasLimit ? limit.ToString(System.Globalization.CultureInfo.InvariantCulture) : null, Blank(after));

    /// <summary>A write's reply, saying whether it created the resource.</summary>
    private static TReply Created<T, TReply>(WriteResult<T> result, Func<T, TReply> reply, Action<TReply, bool> created)
    {
        var answer = reply(result.Resource);
        created(answer, result.Created);
        return answer;
    }

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
