using System.Text.Json.Nodes;
using Grpc.Core;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>The gRPC side of <see cref="ConfigOperations"/>: a document travels as its JSON text, the answer as the REST answer's JSON.</summary>
public sealed partial class GrpcAdminService
{
    public override Task<ConfigDocumentReply> GetConfig(GetConfigRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            var revision = request.HasRevision ? request.Revision.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
            var (document, etag) = await Config(context).Get(Who(context), request.Tenant, revision);
            return new ConfigDocumentReply { Document = document.ToJsonString(ConfigJson.Options), Etag = etag, Revision = document["revision"]!.GetValue<long>() };
        });

    public override Task<ConfigApplyReply> ApplyConfig(ApplyConfigRequest request, ServerCallContext context) =>
        Call(async () =>
        {
            JsonNode? document;
            try
            {
                document = JsonNode.Parse(request.Document);
            }
            catch (System.Text.Json.JsonException)
            {
                throw AdminException.Invalid("document", "is not valid JSON.");
            }
            return Reply(await Config(context).Apply(Who(context), request.Tenant, document, IfMatch(request.IfMatch), request.DryRun));
        });

    public override Task<ConfigApplyReply> Rollback(RollbackRequest request, ServerCallContext context) =>
        Call(async () => Reply(await Config(context).Rollback(Who(context), request.Tenant, request.Revision, request.DryRun)));

    private static ConfigOperations Config(ServerCallContext context) => context.GetHttpContext().RequestServices.GetRequiredService<ConfigOperations>();

    private static ConfigApplyReply Reply((JsonObject Answer, string? ETag) result)
    {
        var reply = new ConfigApplyReply
        {
            Answer = result.Answer.ToJsonString(ConfigJson.Options),
            Unchanged = result.Answer["unchanged"]!.GetValue<bool>(),
            DryRun = result.Answer["dryRun"]!.GetValue<bool>(),
            Etag = result.ETag ?? "",
        };
        if (result.Answer["revision"]?.GetValue<long>() is { } revision)
            reply.Revision = revision;
        return reply;
    }
}
