using System.Text.Json;
using Google.Protobuf;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>
/// The last configuration this worker applied, kept in <c>&lt;DataDir&gt;/last-known-good.json</c> so
/// that a restart serves it at once even when the control plane is unreachable. The file holds the
/// revision and the resources in the stream's shape:
/// <code>{ "revision": 7, "resources": [ { "kind": "route", "tenant": "acme", "id": "api", "revision": 7, "spec": { … } } ] }</code>
/// with <c>kind</c> one of <c>tenant</c>, <c>cluster</c>, <c>route</c>, <c>backend-health</c> and <c>spec</c> in the admin API's model.
/// Changes since that file are appended to <c>last-known-good.journal</c> (each a length-prefixed
/// delta as the stream sent it, flushed to disk), so saving a change costs what the change costs;
/// the journal is folded into a new file once it has grown, and read after the file on restore.
/// </summary>
public sealed class LastKnownGood(DataPlaneOptions options)
{
    public const string FileName = "last-known-good.json";

    private static readonly JsonSerializerOptions FileJson = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        // A file missing a field is not a configuration: fail rather than serve a default.
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    public const string JournalName = "last-known-good.journal";
    /// <summary>Past this many deltas or bytes the journal is folded into a new file.</summary>
    private const int MaxJournalEntries = 1000;
    private const long MaxJournalBytes = 4 * 1024 * 1024;

    public string FilePath { get; } = Path.Combine(options.DataDir, FileName);
    public string JournalPath { get; } = Path.Combine(options.DataDir, JournalName);

    private int _journalEntries;
    private long _journalBytes;

    /// <summary>True when the journal has grown enough that the next save should write the whole configuration.</summary>
    public bool JournalIsFull => _journalEntries >= MaxJournalEntries || _journalBytes >= MaxJournalBytes;

    /// <summary>Appends a delta to the journal and flushes it to disk. The caller saves deltas in order, each from the revision saved before it.</summary>
    public async Task AppendAsync(ConfigUpdate delta, CancellationToken cancellationToken)
    {
        var bytes = delta.ToByteArray();
        var record = new byte[4 + bytes.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(record, bytes.Length);
        bytes.CopyTo(record, 4);
        await using var stream = new FileStream(JournalPath, FileMode.Append, FileAccess.Write, FileShare.Read, 4096, useAsync: true);
        await stream.WriteAsync(record, cancellationToken);
        stream.Flush(flushToDisk: true);
        _journalEntries++;
        _journalBytes += record.Length;
    }

    /// <summary>Replaces the file with <paramref name="snapshot"/> atomically: a reader sees the old file or the new one, never a torn one.</summary>
    public async Task SaveAsync(ConfigSnapshot snapshot, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(options.DataDir);
        var temporary = Path.Combine(options.DataDir, $".{FileName}.{Guid.NewGuid():N}.tmp");
        try
        {
            await using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, useAsync: true))
            {
                await JsonSerializer.SerializeAsync(stream, ToFile(snapshot), FileJson, cancellationToken);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, FilePath, overwrite: true);
            // Deltas up to this revision are in the file now; on restore, any left over are skipped by revision.
            File.Delete(JournalPath);
            (_journalEntries, _journalBytes) = (0, 0);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>The saved configuration as a full snapshot update, or null when there is no file.</summary>
    /// <exception cref="JsonException">The file is not a last-known-good configuration.</exception>
    public async Task<ConfigUpdate?> LoadAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(FilePath))
            return null;
        await using var stream = File.OpenRead(FilePath);
        var file = await JsonSerializer.DeserializeAsync<StoredConfig>(stream, FileJson, cancellationToken)
            ?? throw new JsonException("The file holds null.");
        var update = new ConfigUpdate { Revision = file.Revision, BaseRevision = 0 };
        foreach (var resource in file.Resources)
        {
            update.Upserts.Add(new Resource
            {
                Key = new ResourceKey { Kind = KindOf(resource.Kind), Tenant = resource.Tenant, Id = resource.Id },
                Revision = resource.Revision,
                SpecJson = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(resource.Spec)),
            });
        }
        var chain = new List<ConfigUpdate> { update };
        foreach (var delta in await ReadJournalAsync(cancellationToken))
        {
            if (delta.Revision <= chain[^1].Revision)
                continue;
            // A gap means the rest was never saved in order: serve what is complete.
            if (delta.BaseRevision != chain[^1].Revision)
                break;
            chain.Add(delta);
        }
        return UpdateBatch.Merge(chain);
    }

    /// <summary>The journal's deltas, up to the first incomplete record (a save cut short by a crash).</summary>
    private async Task<List<ConfigUpdate>> ReadJournalAsync(CancellationToken cancellationToken)
    {
        var deltas = new List<ConfigUpdate>();
        if (!File.Exists(JournalPath))
            return deltas;
        var bytes = await File.ReadAllBytesAsync(JournalPath, cancellationToken);
        var offset = 0;
        while (offset + 4 <= bytes.Length)
        {
            var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset));
            if (length < 0 || offset + 4 + length > bytes.Length)
                break;
            try
            {
                deltas.Add(ConfigUpdate.Parser.ParseFrom(bytes, offset + 4, length));
            }
            catch (InvalidProtocolBufferException)
            {
                break;
            }
            offset += 4 + length;
        }
        (_journalEntries, _journalBytes) = (deltas.Count, offset);
        return deltas;
    }

    private static StoredConfig ToFile(ConfigSnapshot snapshot)
    {
        var resources = new List<StoredResource>(snapshot.Tenants.Count + snapshot.Clusters.Count + snapshot.Routes.Count);
        resources.AddRange(snapshot.Tenants.OrderBy(t => t.Key, StringComparer.Ordinal)
            .Select(t => Stored("tenant", new ResourceId(t.Key, t.Key), t.Value)));
        resources.AddRange(snapshot.Clusters.OrderBy(c => c.Key.ToString(), StringComparer.Ordinal)
            .Select(c => Stored("cluster", c.Key, c.Value)));
        resources.AddRange(snapshot.Routes.OrderBy(r => r.Key.ToString(), StringComparer.Ordinal)
            .Select(r => Stored("route", r.Key, r.Value)));
        resources.AddRange(snapshot.Health.OrderBy(h => h.Key.ToString(), StringComparer.Ordinal)
            .Select(h => Stored("backend-health", h.Key, h.Value)));
        return new StoredConfig(snapshot.Revision, resources);
    }

    private static StoredResource Stored<T>(string kind, ResourceId id, Revisioned<T> resource) =>
        new(kind, id.Tenant, id.Id, resource.Revision, JsonSerializer.SerializeToElement(resource.Spec, ConfigJson.Options));

    private static ResourceKind KindOf(string kind) => kind switch
    {
        "tenant" => ResourceKind.Tenant,
        "cluster" => ResourceKind.Cluster,
        "route" => ResourceKind.Route,
        "backend-health" => ResourceKind.BackendHealth,
        _ => throw new JsonException($"'{kind}' is not a resource kind (tenant, cluster, route or backend-health)."),
    };

    private sealed record StoredConfig(long Revision, IReadOnlyList<StoredResource> Resources);

    private sealed record StoredResource(string Kind, string Tenant, string Id, long Revision, JsonElement Spec);
}
