using ProxyPlatform.Http;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Npgsql;
using Orleans.Configuration;
using Orleans.Serialization;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.ControlPlane.Api;
using ProxyPlatform.ControlPlane.DataPlanes;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.ControlPlane.Health;
using ProxyPlatform.ControlPlane.Metrics;
using ProxyPlatform.ControlPlane.Ops;
using ProxyPlatform.ControlPlane.Scaling;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Hosting;

/// <summary>Wires the control plane: one extension per area, so Program.cs reads as a table of contents.</summary>
public static class ControlPlaneHost
{
    /// <summary>The grain storage of tenants' traffic metrics (<see cref="TenantMetricsGrain"/>), on a pool of its own (<see cref="PostgresPools.Metrics"/>).</summary>
    public const string MetricsStorage = "metrics";

    public static WebApplicationBuilder AddControlPlane(this WebApplicationBuilder builder)
    {
        var options = ControlPlaneOptions.From(builder.Configuration);
        var listeners = new ControlPlaneListeners(new ListenerAddress(options.AdminUrl), new ListenerAddress(options.GrpcUrl), new ListenerAddress(options.OpsUrl));
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(listeners);
        builder.Services.AddSingleton<WebConsole.ConsoleAssets>();
        builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(PostgresPools.Commands(options.PostgresConnectionString)));
        builder.Services.AddKeyedSingleton(MetricsStorage, (_, _) => NpgsqlDataSource.Create(PostgresPools.Metrics(options.PostgresConnectionString)));
        builder.Services.AddSingleton(typeof(GrainReferences<>));
        builder.Services.AddSingleton<ConfigStore>();
        builder.Services.AddSingleton<ConfigCommits>();
        builder.Services.AddSingleton<AdminOperations>();
        builder.Services.AddSingleton<ConfigHistory>();
        builder.Services.AddSingleton(Documents.HistoryOptions.From(builder.Configuration));
        builder.Services.AddSingleton<ConfigOperations>();
        builder.Services.AddHostedService<Documents.HistoryRetention>();
        builder.Services.AddSingleton<KeyOperations>();
        builder.Services.AddSingleton(Audit.AuditOptions.From(builder.Configuration));
        builder.Services.AddSingleton<AuditStore>();
        builder.Services.AddSingleton<Audit.AuditOperations>();
        builder.Services.AddHostedService<Audit.AuditRetention>();
        builder.Services.AddSingleton(ProxyPlatform.Secrets.SecretKeyRing.From(builder.Configuration));
        builder.Services.AddSingleton<Certificates.CertificateSecrets>();
        builder.Services.AddSingleton(Certificates.Acme.AcmeOptions.From(builder.Configuration));
        builder.Services.AddSingleton<Certificates.Acme.AcmeHttp>();
        builder.Services.AddHostedService<Certificates.Acme.AcmeScheduler>();
        builder.AddAccessControl(options);
        builder.Services.AddSingleton<ConfigTombstones>();
        builder.Services.AddSingleton<PoolFeeds>();
        builder.Services.AddSingleton<WorkerStreams>();
        builder.Services.AddSingleton<Api.ExplainOperations>();
        builder.Services.AddSingleton<DataPlaneDirectory>();
        builder.Services.AddSingleton<ConvergenceMetrics>();
        builder.Services.AddHostedService<DataPlaneExpiry>();
        builder.Services.AddSingleton<Rollouts>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddHealthVerdicts();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PoolFeeds>());
        builder.Services.AddHostedService<Tenants.HostConflictReport>();
        builder.AddTrafficMetrics();
        builder.AddScaling();
        builder.Services.AddGrpc()
            .AddServiceOptions<GrpcAdminService>(o => o.MaxReceiveMessageSize = (int)Documents.ConfigDocument.MaxBytes)
            // A worker's metrics report lists every route and backend with traffic: bounded, but not small.
            .AddServiceOptions<ConfigStreamService>(o => o.MaxReceiveMessageSize = 16 * 1024 * 1024);
        builder.Services.AddGrpcReflection();
        builder.Services.AddAdminOpenApi();

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            listeners.Admin.Listen(kestrel, HttpProtocols.Http1);
            listeners.Grpc.Listen(kestrel, HttpProtocols.Http2);
            listeners.Ops.Listen(kestrel, HttpProtocols.Http1);
        });

        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = options.ClusterId;
                o.ServiceId = options.ServiceId;
            });
            silo.UseNpgsqlClustering(sp => sp.GetRequiredService<NpgsqlDataSource>());
            // Silo and gateway listen on the advertised address alone (loopback by default), not on every interface.
            if (options.AdvertisedIP == "hostname")
                silo.ConfigureEndpoints(Dns.GetHostName(), options.SiloPort, options.GatewayPort);
            else
                silo.ConfigureEndpoints(IPAddress.Parse(options.AdvertisedIP), options.SiloPort, options.GatewayPort);
            // A killed silo should hand its grains and workers over within seconds, not the default
            // 10-20 s, yet a silo stalled for a couple of seconds must not be voted dead: probe every 2 s,
            // give up after three misses (both settings: Orleans:ProbeTimeoutSeconds, Orleans:MissedProbesLimit;
            // docs/decisions.md), refresh the table often.
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = options.ProbeTimeout;
                o.NumMissedProbesLimit = options.MissedProbesLimit;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
                o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);
            });
            silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = ControlPlaneOptions.ResponseTimeout);
            silo.AddIncomingGrainCallFilter<StorageFailureFilter>();
            silo.AddNpgsqlGrainStorageAsDefault(sp => sp.GetRequiredService<NpgsqlDataSource>());
            silo.AddNpgsqlGrainStorage(MetricsStorage, sp => sp.GetRequiredKeyedService<NpgsqlDataSource>(MetricsStorage));
            silo.Services.AddSerializer(serializer => serializer.AddJsonSerializer(
                isSupported: type => type.Namespace == typeof(Configuration.RouteSpec).Namespace));
        });
        return builder;
    }

    public static WebApplication MapControlPlane(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<ControlPlaneOptions>();
        var listeners = app.Services.GetRequiredService<ControlPlaneListeners>();
        app.UseRequestIds();
        app.UseExceptionHandler(failed => failed.Run(context => Problems.Unhandled(context).ExecuteAsync(context)));
        // Three listeners in one process: the port a connection arrived on, never a Host header a client
        // controls, decides which endpoints it reaches. The ops listener asks for no credentials, the
        // gRPC one serves gRPC only, the admin one the REST API only.
        app.UseRouting();
        listeners.Keep(app);
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapControlPlaneOps().WithMetadata(new ServedOn(Listener.Ops));
        var grpc = app.MapGroup("").WithMetadata(new ServedOn(Listener.Grpc));
        grpc.MapGrpcService<GrpcAdminService>();
        grpc.MapGrpcService<ConfigStreamService>();
        grpc.MapGrpcReflectionService().RequireAuthorization(Policies.Admin);
        app.MapRestAdminApi().WithMetadata(new ServedOn(Listener.Admin)).WithAdminOpenApi();
        app.MapAdminOpenApi();
        WebConsole.ConsoleEndpoints.MapConsole(app).WithMetadata(new ServedOn(Listener.Admin));
        // A path no endpoint serves is a 404 problem like any other, for any admin key.
        app.MapFallback(context => Problems.Create(context, 404, "not-found", "Not found",
                $"No admin endpoint answers {context.Request.Method} {context.Request.Path}.").ExecuteAsync(context))
            .RequireAuthorization(Policies.Admin).WithMetadata(new ServedOn(Listener.Admin));
        // The URLs as bound: with port 0 in Admin:Url or Grpc:Url this line is where an operator (or
        // a test) learns the ports the operating system chose.
        app.Lifetime.ApplicationStarted.Register(() =>
            app.Logger.LogInformation("Control plane ready: admin {Admin}, gRPC {Grpc}, ops {Ops}, silo port {Silo}",
                listeners.Admin.Url, listeners.Grpc.Url, listeners.Ops.Url, options.SiloPort));
        return app;
    }

    /// <summary>Creates or migrates the schema this project owns, before the silo starts using it.</summary>
    public static async Task MigrateStorageAsync(this WebApplication app)
    {
        var db = app.Services.GetRequiredService<NpgsqlDataSource>();
        await PostgresSchema.MigrateAsync(db, [.. NpgsqlGrainStorage.Migrations, .. NpgsqlMembershipTable.Migrations, .. ConfigStore.Migrations, .. HealthStore.Migrations, .. CredentialStore.Migrations, .. AuditStore.Migrations], CancellationToken.None);
    }
}
