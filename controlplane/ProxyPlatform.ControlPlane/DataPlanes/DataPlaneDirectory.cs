using Npgsql;

namespace ProxyPlatform.ControlPlane.DataPlanes;

/// <summary>Every worker the control plane has ever registered, with its live status from its grain.</summary>
public sealed class DataPlaneDirectory(NpgsqlDataSource db, IGrainFactory grains)
{
    public async Task<IReadOnlyList<DataPlaneStatus>> ListAsync(CancellationToken ct = default)
    {
        // Worker grains persist through the project's grain storage, so its table is the directory.
        await using var command = db.CreateCommand("SELECT grain_key FROM grain_state WHERE grain_type = 'dataplane' ORDER BY grain_key");
        var ids = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
                ids.Add(reader.GetString(0));
        }
        var statuses = await Task.WhenAll(ids.Select(id => grains.GetGrain<IDataPlaneGrain>(id).Get()));
        return statuses.OfType<DataPlaneStatus>().ToList();
    }
}
