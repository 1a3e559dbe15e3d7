using System.Net;
using Npgsql;
using Orleans.Messaging;
using Orleans.Runtime;

namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>
/// The gateways of a cluster whose membership lives in PostgreSQL (<see cref="NpgsqlMembershipTable"/>),
/// for Orleans clients outside the silos: every Active silo with a gateway port, as
/// <c>gwy.tcp://address:proxyPort/generation</c>.
/// </summary>
public sealed class NpgsqlGatewayListProvider : IGatewayListProvider
{
    private const string GatewaysSql = """
        SELECT address, proxy_port, generation FROM membership_silo
        WHERE cluster_id = $1 AND status = $2 AND proxy_port > 0
        ORDER BY address, proxy_port, generation
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly SchemaOnce _schema;

    /// <summary>Creates the provider for one cluster over <paramref name="dataSource"/>, which the caller owns.</summary>
    /// <param name="dataSource">The database the silos' membership table is in.</param>
    /// <param name="clusterId">The cluster to connect to (<c>ClusterOptions.ClusterId</c>).</param>
    /// <param name="maxStaleness">How often the client re-reads the list (<c>GatewayOptions.GatewayListRefreshPeriod</c>).</param>
    public NpgsqlGatewayListProvider(NpgsqlDataSource dataSource, string clusterId, TimeSpan maxStaleness)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentException.ThrowIfNullOrEmpty(clusterId);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxStaleness, TimeSpan.Zero);
        _dataSource = dataSource;
        _schema = new SchemaOnce(dataSource, NpgsqlMembershipTable.Migrations);
        ClusterId = clusterId;
        MaxStaleness = maxStaleness;
    }

    /// <summary>The cluster whose gateways this provider lists.</summary>
    public string ClusterId { get; }

    /// <inheritdoc />
    public TimeSpan MaxStaleness { get; }

    /// <inheritdoc />
    [Obsolete("Orleans no longer reads this; every provider is considered updatable.")]
    public bool IsUpdatable => true;

    /// <summary>Applies the membership schema if missing, so a client may start before any silo has.</summary>
    public Task InitializeGatewayListProviderAsync(CancellationToken cancellationToken = default) => _schema.EnsureAsync(cancellationToken);

    /// <summary>The gateways of the cluster's Active silos, as <c>gwy.tcp://address:proxyPort/generation</c>.</summary>
    public async Task<IList<Uri>> GetGatewaysAsync(CancellationToken cancellationToken = default)
    {
        await _schema.EnsureAsync(cancellationToken);
        await using var command = _dataSource.CreateCommand(GatewaysSql);
        command.Parameters.AddWithValue(ClusterId);
        command.Parameters.AddWithValue((int)SiloStatus.Active);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var gateways = new List<Uri>();
        while (await reader.ReadAsync(cancellationToken))
            gateways.Add(SiloAddress.New(IPAddress.Parse(reader.GetString(0)), reader.GetInt32(1), reader.GetInt32(2)).ToGatewayUri());
        return gateways;
    }

    /// <inheritdoc />
    public Task InitializeGatewayListProvider() => InitializeGatewayListProviderAsync(CancellationToken.None);

    /// <inheritdoc />
    public Task<IList<Uri>> GetGateways() => GetGatewaysAsync(CancellationToken.None);
}
