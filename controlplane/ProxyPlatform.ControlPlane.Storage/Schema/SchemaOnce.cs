using Npgsql;

namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>
/// Runs a provider's migrations against its data source at most once per instance (again only
/// after a failed attempt), so a provider can migrate its own schema on first use.
/// </summary>
internal sealed class SchemaOnce(NpgsqlDataSource dataSource, IReadOnlyList<SchemaMigration> migrations)
{
    private readonly Lock _gate = new();
    private Task? _migration;

    public Task EnsureAsync(CancellationToken cancellationToken = default)
    {
        var migration = _migration;
        if (migration is { IsCompletedSuccessfully: true })
            return Task.CompletedTask;
        lock (_gate)
        {
            if (_migration is null || _migration.IsFaulted || _migration.IsCanceled)
                _migration = PostgresSchema.MigrateAsync(dataSource, migrations, CancellationToken.None);
            return _migration.WaitAsync(cancellationToken);
        }
    }
}
